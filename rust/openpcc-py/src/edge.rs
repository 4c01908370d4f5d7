//! `openpcc._openpcc.edge`: start, inspect and stop a relay or gateway server (`openpcc-edge`).
//!
//! The server owns its Tokio runtime; requests never enter Python. Start and stop release the GIL.

use std::sync::Mutex;
use std::time::Duration;

use openpcc_edge::{EdgeConfig, Error, Server};
use pyo3::import_exception;
use pyo3::prelude::*;
use pyo3::types::PyDict;

import_exception!(openpcc.exceptions, EdgeError);
import_exception!(openpcc.exceptions, EdgeConfigError);
import_exception!(openpcc.exceptions, EdgeBindError);

fn to_py_err(err: Error) -> PyErr {
    let msg = err.to_string();
    match err {
        Error::Config(_) | Error::ConfigJson(_) | Error::KeyFile(_) => {
            EdgeConfigError::new_err(msg)
        }
        Error::Bind(_) => EdgeBindError::new_err(msg),
        _ => EdgeError::new_err(msg),
    }
}

/// A running relay or gateway.
#[pyclass(frozen, module = "openpcc.services", name = "EdgeServer")]
struct PyEdgeServer {
    server: Mutex<Server>,
    address: (String, u16),
}

#[pymethods]
impl PyEdgeServer {
    /// Starts a server from its JSON configuration; returns once the listener is bound.
    #[staticmethod]
    fn start(py: Python<'_>, config_json: &str) -> PyResult<Self> {
        let config = EdgeConfig::from_json(config_json).map_err(to_py_err)?;
        let server = py.detach(|| Server::start(&config)).map_err(to_py_err)?;
        let addr = server.local_addr();
        Ok(Self {
            server: Mutex::new(server),
            address: (addr.ip().to_string(), addr.port()),
        })
    }

    /// `(host, port)` actually bound.
    #[getter]
    fn address(&self) -> (String, u16) {
        self.address.clone()
    }

    /// Counters: `role`, `running`, `active_streams`, `open_connections`, `requests_total`, `active_keys`.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let status = self
            .server
            .lock()
            .map_err(|_| EdgeError::new_err("server state poisoned"))?
            .status();
        let dict = PyDict::new(py);
        dict.set_item("role", status.role)?;
        dict.set_item("running", status.running)?;
        dict.set_item("active_streams", status.active_streams)?;
        dict.set_item("open_connections", status.open_connections)?;
        dict.set_item("requests_total", status.requests_total)?;
        dict.set_item("active_keys", status.active_keys)?;
        Ok(dict)
    }

    /// Stops accepting and waits up to `deadline` seconds for open connections to finish their
    /// streams; returns how many were still open (0 means a clean stop). Idempotent.
    #[pyo3(signature = (deadline = 10.0))]
    fn stop(&self, py: Python<'_>, deadline: f64) -> PyResult<u64> {
        if !(deadline.is_finite() && deadline >= 0.0) {
            return Err(EdgeConfigError::new_err(
                "deadline must be a non-negative number of seconds",
            ));
        }
        py.detach(|| {
            let mut server = self
                .server
                .lock()
                .map_err(|_| EdgeError::new_err("server state poisoned"))?;
            Ok(server.stop(Duration::from_secs_f64(deadline)))
        })
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEdgeServer>()?;
    Ok(())
}
