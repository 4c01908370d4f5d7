//! Bytes-like arguments: `bytes`, `bytearray`, `memoryview` or any other object exporting a byte
//! buffer (format `B`), read in C order. `str` is not bytes-like and is refused with `TypeError`.
//!
//! * [`BytesIn`], for public inputs: an immutable `bytes` object is read in place, with no copy, also
//!   while the GIL is released. Any other buffer (`bytearray`, `memoryview`, ...) may be changed by
//!   another thread as soon as the GIL is released, so its contents are copied once, under the GIL,
//!   before the work starts. Copying only when the GIL is actually released would save that copy for
//!   small AEAD calls, but needs unsafe reads of memory Python owns; the copy costs less than the
//!   AEAD it feeds, so every non-`bytes` buffer is copied.
//! * [`SecretIn`], for secret inputs (secret keys, seeds, PSKs): copied once into memory that is
//!   zeroized when the argument is dropped, whatever the object (the caller's own object is theirs
//!   to wipe).

use std::ops::Deref;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;
use zeroize::Zeroizing;

const NOT_BYTES_LIKE: &str = "expected a bytes-like object (bytes, bytearray or memoryview)";

/// A public bytes-like argument (see the module documentation).
pub(crate) enum BytesIn {
    /// An immutable `bytes` object, read in place.
    Shared(PyBackedBytes),
    /// A copy of a buffer that may change.
    Copied(Vec<u8>),
}

impl BytesIn {
    /// Owned bytes: the copy itself for a copied buffer, a copy of a `bytes` object.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            Self::Shared(bytes) => bytes.to_vec(),
            Self::Copied(bytes) => bytes,
        }
    }
}

impl Deref for BytesIn {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Shared(bytes) => bytes,
            Self::Copied(bytes) => bytes,
        }
    }
}

impl FromPyObject<'_, '_> for BytesIn {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(Self::Shared(PyBackedBytes::from(bytes.to_owned())));
        }
        let buffer = byte_buffer(&obj)?;
        Ok(Self::Copied(buffer.to_vec(obj.py())?))
    }
}

/// A secret bytes-like argument, copied once into zeroizing memory (see the module documentation).
pub(crate) struct SecretIn(Zeroizing<Vec<u8>>);

impl SecretIn {
    /// The zeroizing copy itself, for APIs that take ownership of a secret.
    pub(crate) fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl Deref for SecretIn {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl FromPyObject<'_, '_> for SecretIn {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let buffer = byte_buffer(&obj)?;
        let mut copy = Zeroizing::new(vec![0u8; buffer.len_bytes()]);
        buffer.copy_to_slice(obj.py(), &mut copy)?;
        Ok(Self(copy))
    }
}

fn byte_buffer(obj: &Bound<'_, PyAny>) -> PyResult<PyBuffer<u8>> {
    PyBuffer::<u8>::get(obj).map_err(|_| PyTypeError::new_err(NOT_BYTES_LIKE))
}
