//! `openpcc._openpcc.tdx`: Intel TDX (and SGX) DCAP quote parsing and verification with
//! collateral. Verdicts cross the boundary as JSON.

use openpcc_attest::tdx::{self, TdxRoot, TdxVerifier as CoreVerifier};
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

/// Checks an Azure TDX HCL report (runtime-data binding, TDREPORT hashes) and, when given, that
/// its TDREPORT matches the quote. The quote itself is verified by `verify_quote`.
#[pyfunction]
#[pyo3(signature = (hcl_report, *, quote = None))]
fn verify_azure_hcl(hcl_report: &[u8], quote: Option<&[u8]>) -> String {
    tdx::verify_azure_hcl(hcl_report, quote).to_json()
}

/// Parses a quote and returns the verdict JSON (the parse check plus claims).
#[pyfunction]
fn parse_quote(quote: &[u8]) -> String {
    tdx::parse_quote(quote).to_json()
}

/// A verifier that caches the PCK chain and collateral checks (by their bytes).
#[pyclass(frozen, module = "openpcc._openpcc.tdx")]
struct TdxVerifier {
    inner: CoreVerifier,
}

#[pymethods]
impl TdxVerifier {
    /// `root`: another trust anchor than the Intel SGX Root CA (DER or PEM).
    #[new]
    #[pyo3(signature = (root = None))]
    fn new(root: Option<&[u8]>) -> PyResult<Self> {
        let root = match root {
            Some(bytes) => TdxRoot::from_der_or_pem(bytes)
                .map_err(|e| EvidenceFormatError::new_err(format!("root: {e}")))?,
            None => builtin_root().clone(),
        };
        Ok(Self {
            inner: CoreVerifier::new(root),
        })
    }

    /// Same as the module's `verify_quote`, reusing cached chain and collateral checks.
    #[pyo3(signature = (quote, *, collateral = None, at))]
    fn verify(&self, py: Python<'_>, quote: &[u8], collateral: Option<&[u8]>, at: u64) -> String {
        py.detach(|| self.inner.verify(quote, collateral, at).to_json())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TdxVerifier>()?;
    m.add_function(wrap_pyfunction!(verify_quote, m)?)?;
    m.add_function(wrap_pyfunction!(verify_azure_hcl, m)?)?;
    m.add_function(wrap_pyfunction!(parse_quote, m)?)?;
    Ok(())
}
