//! `openpcc._openpcc.attestation`: the reference's `SignedEvidenceList` and `TPMQuoteAttestation`
//! protobufs (spec §6.1), encoded and decoded with the prost types generated from
//! `proto/csprotos/evidence.proto` by `openpcc-compute`.
//!
//! Pieces are handed to Python as `(type, data, signature)` tuples; the type stays a plain integer
//! so types this build does not know survive a decode/encode round trip.

use std::collections::BTreeSet;

use openpcc_compute::proto::{
    pcr_values::ValuesEntry, PcrValues, SignedEvidenceList, SignedEvidencePiece,
    TpmQuoteAttestation,
};
use prost::Message;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

pyo3::import_exception!(openpcc.exceptions, EvidenceFormatError);

/// More pieces than any real node sends (the reference sends at most about 15); bounds memory.
const MAX_PIECES: usize = 4096;

type Piece<'py> = (i32, Bound<'py, PyBytes>, Bound<'py, PyBytes>);
type Quote<'py> = (Bound<'py, PyBytes>, Vec<(u32, Bound<'py, PyBytes>)>);

/// Decodes a `SignedEvidenceList` into `(type, data, signature)` tuples, in wire order.
#[pyfunction]
fn decode_evidence_list<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Vec<Piece<'py>>> {
    let list = py
        .detach(|| SignedEvidenceList::decode(data))
        .map_err(|_| {
            EvidenceFormatError::new_err("evidence list: not a SignedEvidenceList protobuf")
        })?;
    if list.items.len() > MAX_PIECES {
        return Err(EvidenceFormatError::new_err(
            "evidence list: too many pieces",
        ));
    }
    Ok(list
        .items
        .iter()
        .map(|p| {
            (
                p.r#type.unwrap_or(0),
                PyBytes::new(py, p.data.as_deref().unwrap_or_default()),
                PyBytes::new(py, p.signature.as_deref().unwrap_or_default()),
            )
        })
        .collect())
}

/// Encodes `(type, data, signature)` tuples as a `SignedEvidenceList`. Every field of every piece
/// is written, zero values included (explicit presence, as the reference's Edition 2023 file has).
#[pyfunction]
fn encode_evidence_list(
    py: Python<'_>,
    pieces: Vec<(i32, Vec<u8>, Vec<u8>)>,
) -> Bound<'_, PyBytes> {
    let list = SignedEvidenceList {
        items: pieces
            .into_iter()
            .map(|(kind, data, signature)| SignedEvidencePiece {
                r#type: Some(kind),
                data: Some(data),
                signature: Some(signature),
            })
            .collect(),
    };
    PyBytes::new(py, &list.encode_to_vec())
}

/// Decodes a `TPMQuoteAttestation` into `(TPMS_ATTEST, [(index, value), ...])`. A repeated PCR
/// index is an error: the quote's digest covers each index once, so a second value is ambiguous.
#[pyfunction]
fn decode_tpm_quote<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Quote<'py>> {
    let quote = TpmQuoteAttestation::decode(data).map_err(|_| {
        EvidenceFormatError::new_err("tpm quote: not a TPMQuoteAttestation protobuf")
    })?;
    let entries = quote.pcr_values.map(|v| v.values).unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut pcrs = Vec::with_capacity(entries.len());
    for entry in entries {
        let index = entry.key.unwrap_or(0);
        if !seen.insert(index) {
            return Err(EvidenceFormatError::new_err(
                "tpm quote: a PCR index appears twice",
            ));
        }
        pcrs.push((
            index,
            PyBytes::new(py, entry.value.as_deref().unwrap_or_default()),
        ));
    }
    let attest = PyBytes::new(py, quote.tpmst_attest_quote.as_deref().unwrap_or_default());
    Ok((attest, pcrs))
}

/// Encodes a `TPMQuoteAttestation`; PCR entries are written in ascending index order.
#[pyfunction]
fn encode_tpm_quote(
    py: Python<'_>,
    attest: Vec<u8>,
    pcrs: Vec<(u32, Vec<u8>)>,
) -> Bound<'_, PyBytes> {
    let mut sorted = pcrs;
    sorted.sort_by_key(|(index, _)| *index);
    let quote = TpmQuoteAttestation {
        tpmst_attest_quote: Some(attest),
        pcr_values: Some(PcrValues {
            values: sorted
                .into_iter()
                .map(|(key, value)| ValuesEntry {
                    key: Some(key),
                    value: Some(value),
                })
                .collect(),
        }),
    };
    PyBytes::new(py, &quote.encode_to_vec())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_evidence_list, m)?)?;
    m.add_function(wrap_pyfunction!(encode_evidence_list, m)?)?;
    m.add_function(wrap_pyfunction!(decode_tpm_quote, m)?)?;
    m.add_function(wrap_pyfunction!(encode_tpm_quote, m)?)?;
    Ok(())
}
