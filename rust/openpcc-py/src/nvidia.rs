//! `openpcc._openpcc.nvidia`: offline verification of NVIDIA GPU and `NVSwitch` SPDM evidence.

use openpcc_attest::nvidia::{self, VerifyOptions};
use pyo3::prelude::*;

use crate::verdict::{self, Verdict};

/// Verifies the evidence in `data` at `at_unix`.
#[pyfunction]
#[pyo3(signature = (data, at_unix, nonce=None, roots=None, chain=None))]
fn verify_evidence(
    py: Python<'_>,
    data: &[u8],
    at_unix: u64,
    nonce: Option<Vec<u8>>,
    roots: Option<Vec<u8>>,
    chain: Option<Vec<u8>>,
) -> PyResult<Verdict> {
    let opts = VerifyOptions {
        nonce,
        at_unix,
        roots_pem: roots,
        chain_pem: chain,
    };
    let core = py.detach(|| nvidia::verify_evidence(data, &opts));
    verdict::to_py(py, core)
}

/// Forgets the certificate signatures already verified (benchmarks of the cold path).
#[pyfunction]
fn _clear_signature_cache() {
    nvidia::clear_signature_cache();
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_evidence, m)?)?;
    m.add_function(wrap_pyfunction!(_clear_signature_cache, m)?)?;
    m.add("DEVICE_ROOT_PEM", nvidia::DEVICE_ROOT_PEM)?;
    Ok(())
}
