//! `openpcc._openpcc.credits`: the currency messages (spec §8.4, `currency.proto`, `anonpay.proto`)
//! through the generated prost types of `openpcc-proto`. Field checks beyond presence (value and nonce
//! lengths, the signature) are in `openpcc.credits`.

use openpcc_proto::prost::Message as _;
use openpcc_proto::{BlindSignRequest, Credit, Currency, Nonce};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

pyo3::import_exception!(openpcc.exceptions, MalformedCreditError);

/// `(value, timestamp, nonce, signature)` of a decoded credit.
type CreditFields<'py> = (
    Bound<'py, PyBytes>,
    i64,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
);

fn malformed(what: &str) -> PyErr {
    MalformedCreditError::new_err(format!("malformed credit message: {what}"))
}

fn nonce_message(timestamp: i64, nonce: &[u8]) -> Nonce {
    Nonce {
        timestamp: Some(openpcc_proto::prost_types::Timestamp {
            seconds: timestamp,
            nanos: 0,
        }),
        nonce: Some(nonce.to_vec()),
    }
}

fn nonce_fields(nonce: Option<Nonce>) -> PyResult<(i64, Vec<u8>)> {
    let nonce = nonce.ok_or_else(|| malformed("missing nonce"))?;
    let timestamp = nonce
        .timestamp
        .ok_or_else(|| malformed("missing nonce timestamp"))?;
    if timestamp.nanos != 0 {
        return Err(malformed("nonce timestamp has sub-second part"));
    }
    let bytes = nonce
        .nonce
        .ok_or_else(|| malformed("missing nonce bytes"))?;
    Ok((timestamp.seconds, bytes))
}

fn currency_bytes(value: Option<Currency>) -> PyResult<Vec<u8>> {
    value
        .and_then(|c| c.currency)
        .ok_or_else(|| malformed("missing currency value"))
}

/// `Credit{value: Currency{currency}, nonce: Nonce{timestamp, nonce}, signature}` serialized.
#[pyfunction]
fn encode_credit(
    py: Python<'_>,
    value: PyBackedBytes,
    timestamp: i64,
    nonce: PyBackedBytes,
    signature: PyBackedBytes,
) -> Bound<'_, PyBytes> {
    let credit = Credit {
        value: Some(Currency {
            currency: Some(value.to_vec()),
        }),
        nonce: Some(nonce_message(timestamp, &nonce)),
        signature: Some(signature.to_vec()),
    };
    PyBytes::new(py, &credit.encode_to_vec())
}

/// The fields of a serialized `Credit`: `(value, timestamp, nonce, signature)`; every field must be present.
#[pyfunction]
fn decode_credit(py: Python<'_>, data: PyBackedBytes) -> PyResult<CreditFields<'_>> {
    let credit = Credit::decode(&*data).map_err(|_| malformed("not a Credit protobuf"))?;
    let value = currency_bytes(credit.value)?;
    let (timestamp, nonce) = nonce_fields(credit.nonce)?;
    let signature = credit
        .signature
        .ok_or_else(|| malformed("missing signature"))?;
    Ok((
        PyBytes::new(py, &value),
        timestamp,
        PyBytes::new(py, &nonce),
        PyBytes::new(py, &signature),
    ))
}

/// `Nonce{timestamp{seconds}, nonce}` serialized (the credithole's lock body carries it).
#[pyfunction]
fn encode_nonce(py: Python<'_>, timestamp: i64, nonce: PyBackedBytes) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &nonce_message(timestamp, &nonce).encode_to_vec())
}

/// `(timestamp, nonce)` of a serialized `Nonce`.
#[pyfunction]
fn decode_nonce(py: Python<'_>, data: PyBackedBytes) -> PyResult<(i64, Bound<'_, PyBytes>)> {
    let nonce = Nonce::decode(&*data).map_err(|_| malformed("not a Nonce protobuf"))?;
    let (timestamp, bytes) = nonce_fields(Some(nonce))?;
    Ok((timestamp, PyBytes::new(py, &bytes)))
}

/// `Currency{currency}` serialized (the text form of a value is its base64).
#[pyfunction]
fn encode_currency(py: Python<'_>, value: PyBackedBytes) -> Bound<'_, PyBytes> {
    let msg = Currency {
        currency: Some(value.to_vec()),
    };
    PyBytes::new(py, &msg.encode_to_vec())
}

/// The blind bytes inside a serialized `Currency`.
#[pyfunction]
fn decode_currency(py: Python<'_>, data: PyBackedBytes) -> PyResult<Bound<'_, PyBytes>> {
    let msg = Currency::decode(&*data).map_err(|_| malformed("not a Currency protobuf"))?;
    Ok(PyBytes::new(py, &currency_bytes(Some(msg))?))
}

/// `BlindSignRequest{value, blinded_message}` serialized.
#[pyfunction]
fn encode_blind_sign_request(
    py: Python<'_>,
    value: PyBackedBytes,
    blinded_message: PyBackedBytes,
) -> Bound<'_, PyBytes> {
    let msg = BlindSignRequest {
        value: Some(Currency {
            currency: Some(value.to_vec()),
        }),
        blinded_message: Some(blinded_message.to_vec()),
    };
    PyBytes::new(py, &msg.encode_to_vec())
}

/// `(value, blinded_message)` of a serialized `BlindSignRequest`.
#[pyfunction]
fn decode_blind_sign_request(
    py: Python<'_>,
    data: PyBackedBytes,
) -> PyResult<(Bound<'_, PyBytes>, Bound<'_, PyBytes>)> {
    let msg = BlindSignRequest::decode(&*data)
        .map_err(|_| malformed("not a BlindSignRequest protobuf"))?;
    let value = currency_bytes(msg.value)?;
    let blinded = msg
        .blinded_message
        .ok_or_else(|| malformed("missing blinded message"))?;
    Ok((PyBytes::new(py, &value), PyBytes::new(py, &blinded)))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_credit, m)?)?;
    m.add_function(wrap_pyfunction!(decode_credit, m)?)?;
    m.add_function(wrap_pyfunction!(encode_nonce, m)?)?;
    m.add_function(wrap_pyfunction!(decode_nonce, m)?)?;
    m.add_function(wrap_pyfunction!(encode_currency, m)?)?;
    m.add_function(wrap_pyfunction!(decode_currency, m)?)?;
    m.add_function(wrap_pyfunction!(encode_blind_sign_request, m)?)?;
    m.add_function(wrap_pyfunction!(decode_blind_sign_request, m)?)?;
    Ok(())
}
