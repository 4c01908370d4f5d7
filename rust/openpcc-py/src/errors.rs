//! The Python exception classes, defined once in `openpcc/exceptions.py` and imported here.
//!
//! Each binding file maps its crate's error enum onto these classes with a `to_py_err` function.
#![allow(dead_code)] // classes are used by the binding files as they grow

use pyo3::import_exception;

import_exception!(openpcc.exceptions, OpenPCCError);
import_exception!(openpcc.exceptions, EvidenceFormatError);
