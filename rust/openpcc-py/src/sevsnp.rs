//! `openpcc._openpcc.sevsnp`: AMD SEV-SNP report parsing and verification, returning a `Verdict`.

use openpcc_attest::sevsnp::{self, Evidence, Roots, SevSnpVerifier as CoreVerifier};
use pyo3::prelude::*;

use crate::errors::EvidenceFormatError;
use crate::verdict::{self, Verdict};

/// Verifies a report (bare or Azure HCL) with its VCEK/VLEK, optional chain and CRL, at `at`
/// (seconds since the Unix epoch) against the built-in AMD roots.
#[pyfunction]
#[pyo3(signature = (report, *, vcek = None, chain = None, crl = None, at))]
fn verify_report(
    py: Python<'_>,
    report: &[u8],
    vcek: Option<&[u8]>,
    chain: Option<&[u8]>,
    crl: Option<&[u8]>,
    at: u64,
) -> PyResult<Verdict> {
    let core = py.detach(|| {
        let roots = builtin_roots();
        sevsnp::verify_report(
            &Evidence {
                report,
                vcek,
                chain,
                crl,
                at,
            },
            roots,
        )
    });
    verdict::to_py(py, core)
}

/// Parses a report: one parse check per layer, plus claims.
#[pyfunction]
fn parse_report(py: Python<'_>, report: &[u8]) -> PyResult<Verdict> {
    verdict::to_py(py, sevsnp::parse_report(report))
}

fn builtin_roots() -> &'static Roots {
    static ROOTS: std::sync::OnceLock<Roots> = std::sync::OnceLock::new();
    ROOTS.get_or_init(Roots::builtin)
}

/// A verifier that caches verified VCEK chains (by SHA-256 of VCEK, chain and CRL).
#[pyclass(frozen, module = "openpcc._openpcc.sevsnp")]
struct SevSnpVerifier {
    inner: CoreVerifier,
}

#[pymethods]
impl SevSnpVerifier {
    /// `roots`: PEM bundle (or one DER) of the ARKs to trust instead of the built-in ones.
    #[new]
    #[pyo3(signature = (roots = None))]
    fn new(roots: Option<&[u8]>) -> PyResult<Self> {
        let roots = match roots {
            Some(bytes) => {
                Roots::from_arks(bytes).map_err(|e| EvidenceFormatError::new_err(e.to_string()))?
            }
            None => builtin_roots().clone(),
        };
        Ok(Self {
            inner: CoreVerifier::new(roots),
        })
    }

    /// Same as the module's `verify_report`, reusing cached chain verification.
    #[pyo3(signature = (report, *, vcek = None, chain = None, crl = None, at))]
    fn verify(
        &self,
        py: Python<'_>,
        report: &[u8],
        vcek: Option<&[u8]>,
        chain: Option<&[u8]>,
        crl: Option<&[u8]>,
        at: u64,
    ) -> PyResult<Verdict> {
        let core = py.detach(|| {
            self.inner.verify(&Evidence {
                report,
                vcek,
                chain,
                crl,
                at,
            })
        });
        verdict::to_py(py, core)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_report, m)?)?;
    m.add_function(wrap_pyfunction!(parse_report, m)?)?;
    m.add_class::<SevSnpVerifier>()?;
    Ok(())
}
