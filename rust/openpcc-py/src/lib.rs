//! The `openpcc._openpcc` extension module: thin `PyO3` bindings over the pure-Rust crates.
//!
//! Each submodule mirrors one file here and one `python/openpcc/_openpcc/<name>.pyi` stub.

mod attestation;
mod bhttp;
mod blindrsa;
mod buffers;
mod compute;
mod credits;
mod edge;
mod errors;
mod eventlog;
mod hpke;
mod nvidia;
mod ohttp;
mod sevsnp;
mod tdx;
mod tpm;
mod verdict;

use pyo3::prelude::*;
use pyo3::types::PyDict;

type Register = fn(&Bound<'_, PyModule>) -> PyResult<()>;

#[pymodule(gil_used = false)]
fn _openpcc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let submodules: [(&str, Register); 14] = [
        ("attestation", attestation::register),
        ("bhttp", bhttp::register),
        ("blindrsa", blindrsa::register),
        ("compute", compute::register),
        ("credits", credits::register),
        ("edge", edge::register),
        ("eventlog", eventlog::register),
        ("hpke", hpke::register),
        ("nvidia", nvidia::register),
        ("ohttp", ohttp::register),
        ("sevsnp", sevsnp::register),
        ("tdx", tdx::register),
        ("tpm", tpm::register),
        ("verdict", verdict::register),
    ];
    for (name, register) in submodules {
        add_submodule(m, name, register)?;
    }
    Ok(())
}

/// Adds `openpcc._openpcc.<name>` and makes it importable by its dotted name.
fn add_submodule(parent: &Bound<'_, PyModule>, name: &str, register: Register) -> PyResult<()> {
    let py = parent.py();
    let child = PyModule::new(py, name)?;
    register(&child)?;
    parent.add_submodule(&child)?;
    let modules = py
        .import("sys")?
        .getattr("modules")?
        .cast_into::<PyDict>()?;
    modules.set_item(format!("openpcc._openpcc.{name}"), child)?;
    Ok(())
}
