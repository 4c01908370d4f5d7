//! `openpcc._openpcc.eventlog`: TCG event log parsing, replay and verification.

use std::collections::HashMap;

use openpcc_attest::eventlog::{self, EventLogError, ExpectedPcrs, HashAlg, Pcrs};
use pyo3::import_exception;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::verdict;

import_exception!(openpcc.exceptions, EvidenceFormatError);
import_exception!(openpcc.exceptions, UnsupportedError);

fn to_py_err(e: EventLogError) -> PyErr {
    EvidenceFormatError::new_err(e.to_string())
}

/// Parses, replays and checks a log; compares with `expected_pcrs` ({bank: {index: value}}) when
/// given.
#[pyfunction]
#[pyo3(signature = (log, expected_pcrs=None))]
fn verify_event_log(
    py: Python<'_>,
    log: &[u8],
    expected_pcrs: Option<HashMap<String, HashMap<u32, Vec<u8>>>>,
) -> PyResult<verdict::Verdict> {
    let expected = expected_pcrs.map(expected_from_names).transpose()?;
    let core = py.detach(|| eventlog::verify(log, expected.as_ref()));
    verdict::to_py(py, core)
}

fn expected_from_names(by_name: HashMap<String, HashMap<u32, Vec<u8>>>) -> PyResult<ExpectedPcrs> {
    let mut out = ExpectedPcrs::new();
    for (name, regs) in by_name {
        // Only the exact bank names (any case): the TPM spelling `sha-256` is not a claim name here.
        let bank = HashAlg::from_name(&name)
            .filter(|bank| bank.name().eq_ignore_ascii_case(&name))
            .ok_or_else(|| UnsupportedError::new_err(format!("unknown pcr bank {name:?}")))?;
        out.insert(bank, regs.into_iter().collect());
    }
    Ok(out)
}

/// Every record as JSON: a list of objects (`index`, `pcr`, `type`, `type_name`, `digests`, `data`,
/// `data_check`, `decoded`).
#[pyfunction]
fn parse_event_log(py: Python<'_>, log: &[u8]) -> PyResult<String> {
    py.detach(|| eventlog::events_json(log)).map_err(to_py_err)
}

/// Replays every bank: {bank name: {pcr index: value}}.
#[pyfunction]
fn replay<'py>(py: Python<'py>, log: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    let pcrs: Pcrs = py.detach(|| eventlog::replay(log)).map_err(to_py_err)?;
    let out = PyDict::new(py);
    for (bank, regs) in pcrs {
        let inner = PyDict::new(py);
        for (index, value) in regs {
            inner.set_item(index, PyBytes::new(py, &value))?;
        }
        out.set_item(bank.name(), inner)?;
    }
    Ok(out)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_event_log, m)?)?;
    m.add_function(wrap_pyfunction!(parse_event_log, m)?)?;
    m.add_function(wrap_pyfunction!(replay, m)?)?;
    Ok(())
}
