//! `openpcc._openpcc.tdx`: Intel TDX (and SGX) DCAP quote parsing and verification with
//! collateral. Verdicts cross the boundary as JSON.

use openpcc_attest::tdx::{self, TdxRoot};
use pyo3::prelude::*;

use crate::errors::EvidenceFormatError;

fn builtin_root() -> &'static TdxRoot {
    static ROOT: std::sync::OnceLock<TdxRoot> = std::sync::OnceLock::new();
    ROOT.get_or_init(TdxRoot::builtin)
}

/// Verifies a quote with its collateral (JSON, see the Rust `tdx::collateral` docs) at `at`
/// (seconds since the Unix epoch). `root`: another trust anchor than the Intel SGX Root CA.
#[pyfunction]
#[pyo3(signature = (quote, *, collateral = None, at, root = None))]
fn verify_quote(
    py: Python<'_>,
    quote: &[u8],
    collateral: Option<&[u8]>,
    at: u64,
    root: Option<&[u8]>,
) -> PyResult<String> {
    let custom = root
        .map(TdxRoot::from_der_or_pem)
        .transpose()
        .map_err(|e| EvidenceFormatError::new_err(format!("root: {e}")))?;
    let root = custom.as_ref().unwrap_or_else(|| builtin_root());
    Ok(py.detach(|| tdx::verify_quote(quote, collateral, at, root).to_json()))
}

/// Parses a quote and returns the verdict JSON (the parse check plus claims).
#[pyfunction]
fn parse_quote(quote: &[u8]) -> String {
    tdx::parse_quote(quote).to_json()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_quote, m)?)?;
    m.add_function(wrap_pyfunction!(parse_quote, m)?)?;
    Ok(())
}
