//! `openpcc._openpcc.tpm`: TPM 2.0 quote, certify-creation and REK verification.
//!
//! Verifiers return a `Verdict` built directly rather than through JSON (the JSON round trip cost
//! as much as the RSA check); they never raise on bad evidence. The parse helpers raise `MalformedTPMStructureError` or
//! `UnsupportedTPMAlgorithmError`.

use std::collections::BTreeMap;

use openpcc_attest::tpm::{
    self, AkSource, CreationInput, Freshness, HashAlg, IdentityInput, PcrValues, QuoteInput,
    TpmError, TpmsAttest, TpmtPublic, TpmtSignature,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use crate::verdict;
use pyo3::types::PyBytes;

pyo3::import_exception!(openpcc.exceptions, MalformedTPMStructureError);
pyo3::import_exception!(openpcc.exceptions, UnsupportedTPMAlgorithmError);

fn to_py_err(e: &TpmError) -> PyErr {
    match e {
        TpmError::UnsupportedAlgorithm(_) | TpmError::UnsupportedAttestType(_) => {
            UnsupportedTPMAlgorithmError::new_err(e.to_string())
        }
        _ => MalformedTPMStructureError::new_err(e.to_string()),
    }
}

fn bank(name: &str) -> PyResult<HashAlg> {
    HashAlg::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown PCR bank {name:?}")))
}

// `Vec<u8>` arguments would be extracted byte by byte from `bytes`; `PyBackedBytes` is one copy.
fn pcr_values(
    pcrs: Option<BTreeMap<u32, PyBackedBytes>>,
    bank_name: &str,
) -> PyResult<Option<PcrValues>> {
    let bank = bank(bank_name)?;
    Ok(pcrs.map(|values| PcrValues {
        bank,
        values: owned_values(values),
    }))
}

fn owned_values(values: BTreeMap<u32, PyBackedBytes>) -> BTreeMap<u32, Vec<u8>> {
    values.into_iter().map(|(i, v)| (i, v.to_vec())).collect()
}

fn owned_list(items: Vec<PyBackedBytes>) -> Vec<Vec<u8>> {
    items.into_iter().map(|v| v.to_vec()).collect()
}

/// Runs `verify` with the attestation key `ak`, its `intermediates`, the instant `at_unix` and
/// whether weak AKs (RSA under 2048 bits, SHA-1 signatures) are allowed.
fn with_ak<R>(
    ak: &[u8],
    intermediates: Vec<PyBackedBytes>,
    at_unix: u64,
    allow_weak: bool,
    verify: impl FnOnce(AkSource<'_>) -> R,
) -> R {
    let intermediates = owned_list(intermediates);
    verify(AkSource {
        ak,
        intermediates: &intermediates,
        at_unix,
        allow_weak,
    })
}

fn freshness(nonce: Option<&[u8]>, nonce_required: bool) -> Freshness<'_> {
    match (nonce, nonce_required) {
        (Some(n), _) => Freshness::Nonce(n),
        (None, false) => Freshness::NotRequired,
        (None, true) => Freshness::Unspecified,
    }
}

/// Verifies a quote; returns the verdict.
#[pyfunction]
#[pyo3(signature = (attest, signature, ak, *, nonce, nonce_required, pcrs, bank, intermediates, at_unix, allow_weak_ak = false))]
#[allow(clippy::too_many_arguments)] // mirrors the keyword-only Python signature
fn verify_quote(
    py: Python<'_>,
    attest: &[u8],
    signature: &[u8],
    ak: &[u8],
    nonce: Option<&[u8]>,
    nonce_required: bool,
    pcrs: Option<BTreeMap<u32, PyBackedBytes>>,
    bank: &str,
    intermediates: Vec<PyBackedBytes>,
    at_unix: u64,
    allow_weak_ak: bool,
) -> PyResult<verdict::Verdict> {
    let pcrs = pcr_values(pcrs, bank)?;
    let verdict = py.detach(|| {
        with_ak(ak, intermediates, at_unix, allow_weak_ak, |ak| {
            tpm::verify_quote(&QuoteInput {
                attest,
                signature,
                ak,
                nonce: freshness(nonce, nonce_required),
                pcrs: pcrs.as_ref(),
            })
        })
    });
    verdict::to_py(py, verdict)
}

/// Verifies a `TPM2_CertifyCreation`; returns the verdict.
#[pyfunction]
#[pyo3(signature = (attest, signature, ak, *, object_public, intermediates, at_unix, allow_weak_ak = false))]
#[allow(clippy::too_many_arguments)] // mirrors the keyword-only Python signature
fn verify_certify_creation(
    py: Python<'_>,
    attest: &[u8],
    signature: &[u8],
    ak: &[u8],
    object_public: Option<&[u8]>,
    intermediates: Vec<PyBackedBytes>,
    at_unix: u64,
    allow_weak_ak: bool,
) -> PyResult<verdict::Verdict> {
    let verdict = py.detach(|| {
        with_ak(ak, intermediates, at_unix, allow_weak_ak, |ak| {
            tpm::verify_certify_creation(&CreationInput {
                attest,
                signature,
                ak,
                object_public,
            })
        })
    });
    verdict::to_py(py, verdict)
}

/// Checks a request-encryption key's public area; returns the verdict.
#[pyfunction]
#[pyo3(signature = (rek_public, *, pcrs, bank, policy_pcrs))]
fn check_rek(
    py: Python<'_>,
    rek_public: &[u8],
    pcrs: Option<BTreeMap<u32, PyBackedBytes>>,
    bank: &str,
    policy_pcrs: Vec<u32>,
) -> PyResult<verdict::Verdict> {
    let pcrs = pcr_values(pcrs, bank)?;
    verdict::to_py(py, tpm::check_rek(rek_public, pcrs.as_ref(), &policy_pcrs))
}

/// Verifies a node's TPM identity (quote, certify-creation of the REK, REK); returns the verdict.
#[pyfunction]
#[pyo3(signature = (*, quote, quote_signature, pcrs, bank, creation, creation_signature, rek_public, ak,
                    nonce, nonce_required, policy_pcrs, intermediates, at_unix, allow_weak_ak = false))]
#[allow(clippy::too_many_arguments)] // mirrors the keyword-only Python signature
fn verify_identity(
    py: Python<'_>,
    quote: &[u8],
    quote_signature: &[u8],
    pcrs: BTreeMap<u32, PyBackedBytes>,
    bank: &str,
    creation: &[u8],
    creation_signature: &[u8],
    rek_public: &[u8],
    ak: &[u8],
    nonce: Option<&[u8]>,
    nonce_required: bool,
    policy_pcrs: Vec<u32>,
    intermediates: Vec<PyBackedBytes>,
    at_unix: u64,
    allow_weak_ak: bool,
) -> PyResult<verdict::Verdict> {
    let pcrs = PcrValues {
        bank: self::bank(bank)?,
        values: owned_values(pcrs),
    };
    let verdict = py.detach(|| {
        with_ak(ak, intermediates, at_unix, allow_weak_ak, |ak| {
            tpm::verify_identity(&IdentityInput {
                quote,
                quote_signature,
                pcrs: &pcrs,
                creation,
                creation_signature,
                rek_public,
                ak,
                nonce: freshness(nonce, nonce_required),
                policy_pcrs: &policy_pcrs,
            })
        })
    });
    verdict::to_py(py, verdict)
}

/// Checks an attestation key alone (certificate chain at `at_unix`, or public-area attributes).
#[pyfunction]
#[pyo3(signature = (ak, *, intermediates, at_unix))]
fn verify_ak(
    py: Python<'_>,
    ak: &[u8],
    intermediates: Vec<PyBackedBytes>,
    at_unix: u64,
) -> PyResult<verdict::Verdict> {
    let verdict =
        py.detach(|| with_ak(ak, intermediates, at_unix, false, |ak| tpm::verify_ak(&ak)));
    verdict::to_py(py, verdict)
}

/// Parses a `TPMS_ATTEST` or `TPM2B_ATTEST`; returns its fields as a dict.
#[pyfunction]
fn parse_attest(py: Python<'_>, data: &[u8]) -> PyResult<Py<PyAny>> {
    let wrapped = data.get(2..6) == Some(&tpm::TPM_GENERATED.to_be_bytes()[..]);
    let attest = if wrapped {
        TpmsAttest::decode_2b(data).map(|(a, _)| a)
    } else {
        TpmsAttest::decode(data)
    };
    verdict::json_to_py(py, &attest.map_err(|e| to_py_err(&e))?.to_json())
}

/// Parses a `TPMT_PUBLIC` or `TPM2B_PUBLIC`; returns its fields (with the name) as a dict.
#[pyfunction]
fn parse_public(py: Python<'_>, data: &[u8]) -> PyResult<Py<PyAny>> {
    let public =
        TpmtPublic::decode(data).or_else(|first| TpmtPublic::decode_2b(data).map_err(|_| first));
    verdict::json_to_py(py, &public.map_err(|e| to_py_err(&e))?.to_json())
}

/// The name (`nameAlg || H(TPMT_PUBLIC)`) of a `TPMT_PUBLIC`.
#[pyfunction]
fn public_name<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let name = TpmtPublic::decode(data)
        .and_then(|p| p.name())
        .map_err(|e| to_py_err(&e))?;
    Ok(PyBytes::new(py, &name))
}

/// Parses a `TPMT_SIGNATURE`; returns `(scheme, hash)` names.
#[pyfunction]
fn parse_signature(data: &[u8]) -> PyResult<(&'static str, &'static str)> {
    let sig = TpmtSignature::decode(data).map_err(|e| to_py_err(&e))?;
    Ok((sig.scheme_name(), sig.hash().name()))
}

/// The `PolicyPCR` digest over `values` (ascending `pcrs` order) of one bank.
#[pyfunction]
fn policy_pcr_digest<'py>(
    py: Python<'py>,
    bank: &str,
    pcrs: Vec<u32>,
    values: Vec<PyBackedBytes>,
) -> PyResult<Bound<'py, PyBytes>> {
    let refs: Vec<&[u8]> = values.iter().map(|v| &**v).collect();
    Ok(PyBytes::new(
        py,
        &tpm::policy_pcr_digest(self::bank(bank)?, &pcrs, &refs),
    ))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_quote, m)?)?;
    m.add_function(wrap_pyfunction!(verify_certify_creation, m)?)?;
    m.add_function(wrap_pyfunction!(check_rek, m)?)?;
    m.add_function(wrap_pyfunction!(verify_identity, m)?)?;
    m.add_function(wrap_pyfunction!(verify_ak, m)?)?;
    m.add_function(wrap_pyfunction!(parse_attest, m)?)?;
    m.add_function(wrap_pyfunction!(parse_public, m)?)?;
    m.add_function(wrap_pyfunction!(public_name, m)?)?;
    m.add_function(wrap_pyfunction!(parse_signature, m)?)?;
    m.add_function(wrap_pyfunction!(policy_pcr_digest, m)?)?;
    m.add("REFERENCE_PCRS", tpm::REFERENCE_PCRS.to_vec())?;
    m.add("ROOT_LABELS", tpm::root_labels())?;
    Ok(())
}
