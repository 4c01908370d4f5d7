//! `openpcc._openpcc.tdx`: Intel TDX (and SGX) DCAP quote parsing and verification with
//! collateral, returning a `Verdict`.

use openpcc_attest::tdx::{self, AcceptedTcb, TdxRoot, TdxVerifier as CoreVerifier};
use pyo3::prelude::*;

use crate::errors::EvidenceFormatError;
use crate::verdict::{self, Verdict};

fn builtin_root() -> &'static TdxRoot {
    static ROOT: std::sync::OnceLock<TdxRoot> = std::sync::OnceLock::new();
    ROOT.get_or_init(TdxRoot::builtin)
}

fn accepted(statuses: Option<Vec<String>>) -> AcceptedTcb {
    statuses.map_or_else(AcceptedTcb::default, AcceptedTcb::new)
}

/// Verifies a quote with its collateral (JSON, see the Rust `tdx::collateral` docs) at `at`
/// (seconds since the Unix epoch). `root`: another trust anchor than the Intel SGX Root CA.
/// `accept_tcb_status`: TCB statuses accepted besides `UpToDate`.
#[pyfunction]
#[pyo3(signature = (quote, *, collateral = None, at, root = None, accept_tcb_status = None))]
fn verify_quote(
    py: Python<'_>,
    quote: &[u8],
    collateral: Option<&[u8]>,
    at: u64,
    root: Option<&[u8]>,
    accept_tcb_status: Option<Vec<String>>,
) -> PyResult<Verdict> {
    let accepted = accepted(accept_tcb_status);
    let custom = root
        .map(TdxRoot::from_der_or_pem)
        .transpose()
        .map_err(|e| EvidenceFormatError::new_err(format!("root: {e}")))?;
    let root = custom.as_ref().unwrap_or_else(|| builtin_root());
    let core = py.detach(|| tdx::verify_quote_accepting(quote, collateral, at, root, &accepted));
    verdict::to_py(py, core)
}

/// Checks an Azure TDX HCL report (runtime-data binding, TDREPORT hashes) and, when given, that
/// its TDREPORT matches the quote. The quote itself is verified by `verify_quote`.
#[pyfunction]
#[pyo3(signature = (hcl_report, *, quote = None))]
fn verify_azure_hcl(py: Python<'_>, hcl_report: &[u8], quote: Option<&[u8]>) -> PyResult<Verdict> {
    verdict::to_py(py, tdx::verify_azure_hcl(hcl_report, quote))
}

/// Parses a quote: the parse check plus claims.
#[pyfunction]
fn parse_quote(py: Python<'_>, quote: &[u8]) -> PyResult<Verdict> {
    verdict::to_py(py, tdx::parse_quote(quote))
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
    #[pyo3(signature = (quote, *, collateral = None, at, accept_tcb_status = None))]
    fn verify(
        &self,
        py: Python<'_>,
        quote: &[u8],
        collateral: Option<&[u8]>,
        at: u64,
        accept_tcb_status: Option<Vec<String>>,
    ) -> PyResult<Verdict> {
        let accepted = accepted(accept_tcb_status);
        let core = py.detach(|| {
            self.inner
                .verify_accepting(quote, collateral, at, &accepted)
        });
        verdict::to_py(py, core)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TdxVerifier>()?;
    m.add_function(wrap_pyfunction!(verify_quote, m)?)?;
    m.add_function(wrap_pyfunction!(verify_azure_hcl, m)?)?;
    m.add_function(wrap_pyfunction!(parse_quote, m)?)?;
    Ok(())
}
