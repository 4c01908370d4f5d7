//! `openpcc._openpcc.verdict`: `Check` and `Verdict`, the outcome of every verifier.
//!
//! They are Rust classes so a verifier hands its result to Python without building a Python object
//! per claim: the claims stay a Rust JSON map until `Verdict.claims` is first read (a caller that
//! only asks `valid` never pays for them). Verdicts built in Python (`Verdict(checks, claims)`)
//! keep the dict they were given.

use openpcc_attest::{Check as CoreCheck, Verdict as CoreVerdict};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};
use serde::Deserialize;
use serde_json::{Map, Value};

/// One named check (for example `sevsnp.signature`) and its outcome.
#[pyclass(frozen, eq, hash, module = "openpcc.attestation.verdict")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Check {
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    ok: bool,
    #[pyo3(get)]
    detail: String,
}

#[pymethods]
impl Check {
    #[new]
    fn new(name: String, ok: bool, detail: String) -> Self {
        Self { name, ok, detail }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Check(name={}, ok={}, detail={})",
            PyString::new(py, &self.name).repr()?,
            if self.ok { "True" } else { "False" },
            PyString::new(py, &self.detail).repr()?
        ))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let c = slf.get();
        let args = (c.name.as_str(), c.ok, c.detail.as_str()).into_pyobject(slf.py())?;
        (slf.get_type(), args).into_pyobject(slf.py())
    }
}

/// Every check a verifier ran and the claims it parsed; valid only when at least one check ran
/// and none failed.
#[pyclass(frozen, module = "openpcc.attestation.verdict")]
pub(crate) struct Verdict {
    checks: Py<PyTuple>,
    valid: bool,
    pending_claims: Option<Map<String, Value>>,
    claims: PyOnceLock<Py<PyDict>>,
}

#[pymethods]
impl Verdict {
    #[new]
    #[pyo3(signature = (checks, claims = None))]
    fn new(
        py: Python<'_>,
        checks: &Bound<'_, PyAny>,
        claims: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let checks = PyTuple::new(py, checks.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
        let mut all_ok = true;
        for item in &checks {
            all_ok &= item.cast::<Check>()?.get().ok;
        }
        let cell = PyOnceLock::new();
        let dict = claims.unwrap_or_else(|| PyDict::new(py));
        let _ = cell.set(py, dict.unbind());
        Ok(Self {
            valid: all_ok && !checks.is_empty(),
            checks: checks.unbind(),
            pending_claims: None,
            claims: cell,
        })
    }

    /// Builds a verdict from the JSON the verifiers emit (`valid`, `checks`, `claims`).
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        let parsed: JsonVerdict = py
            .detach(|| serde_json::from_str(text))
            .map_err(|e| PyValueError::new_err(format!("verdict json: {e}")))?;
        to_py(
            py,
            CoreVerdict {
                checks: parsed.checks,
                claims: parsed.claims,
            },
        )
    }

    #[getter]
    fn checks(&self, py: Python<'_>) -> Py<PyTuple> {
        self.checks.clone_ref(py)
    }

    #[getter]
    fn valid(&self) -> bool {
        self.valid
    }

    /// The failed checks, in the order they ran.
    #[getter]
    fn failures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let failed = self
            .checks
            .bind(py)
            .iter()
            .filter(|c| c.cast::<Check>().is_ok_and(|c| !c.get().ok))
            .collect::<Vec<_>>();
        PyTuple::new(py, failed)
    }

    /// The parsed claims (measurements, TCB, replayed PCRs ...), built on first access.
    #[getter]
    fn claims(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        if let Some(dict) = self.claims.get(py) {
            return Ok(dict.clone_ref(py));
        }
        let dict = claims_to_py(py, self.pending_claims.as_ref())?;
        Ok(self.claims.get_or_init(py, || dict).clone_ref(py))
    }

    fn __bool__(&self) -> bool {
        self.valid
    }

    /// `{"valid", "checks": [{"name", "ok", "detail"}], "claims"}`: the CLI's JSON shape.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let checks = PyList::empty(py);
        for item in self.checks.bind(py) {
            let check = item.cast::<Check>()?.get();
            let entry = PyDict::new(py);
            entry.set_item("name", &check.name)?;
            entry.set_item("ok", check.ok)?;
            entry.set_item("detail", &check.detail)?;
            checks.append(entry)?;
        }
        let out = PyDict::new(py);
        out.set_item("valid", self.valid)?;
        out.set_item("checks", checks)?;
        out.set_item("claims", self.claims(py)?)?;
        Ok(out)
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(other) = other.cast::<Self>() else {
            return Ok(false);
        };
        let other = other.get();
        Ok(self.checks.bind(py).eq(other.checks.bind(py))?
            && self.claims(py)?.bind(py).eq(other.claims(py)?)?)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let failures = self.failures(py)?;
        Ok(format!(
            "Verdict(valid={}, checks={}, failures={})",
            if self.valid { "True" } else { "False" },
            self.checks.bind(py).len(),
            failures.repr()?
        ))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let v = slf.get();
        let args = (v.checks.clone_ref(py), v.claims(py)?).into_pyobject(py)?;
        (slf.get_type(), args).into_pyobject(py)
    }
}

#[derive(Deserialize)]
struct JsonVerdict {
    checks: Vec<CoreCheck>,
    #[serde(default)]
    claims: Map<String, Value>,
}

/// Hands a core verdict to Python: one object per check; claims stay in Rust until read.
pub(crate) fn to_py(py: Python<'_>, verdict: CoreVerdict) -> PyResult<Verdict> {
    let valid = verdict.valid();
    let objects = verdict
        .checks
        .into_iter()
        .map(|c| {
            let check = Check {
                name: c.name,
                ok: c.ok,
                detail: c.detail,
            };
            Bound::new(py, check)
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Verdict {
        checks: PyTuple::new(py, objects)?.unbind(),
        valid,
        pending_claims: Some(verdict.claims),
        claims: PyOnceLock::new(),
    })
}

fn claims_to_py(py: Python<'_>, claims: Option<&Map<String, Value>>) -> PyResult<Py<PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in claims.into_iter().flatten() {
        dict.set_item(key, json_to_py(py, value)?)?;
    }
    Ok(dict.unbind())
}

/// A JSON value as the Python object `json.loads` would give.
pub(crate) fn json_to_py(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_pyobject(py)?.into_any().unbind(),
            (None, Some(i)) => i.into_pyobject(py)?.into_any().unbind(),
            _ => n
                .as_f64()
                .unwrap_or_default()
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        },
        Value::String(s) => PyString::new(py, s).into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Check>()?;
    m.add_class::<Verdict>()?;
    Ok(())
}
