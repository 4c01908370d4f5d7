//! `openpcc._openpcc.blindrsa`: bindings over `openpcc-blindrsa` (RFC 9474 blind RSA and partially
//! blind RSA with public metadata). Every RSA operation runs with the GIL released.

use openpcc_blindrsa as core;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

pyo3::import_exception!(openpcc.exceptions, BlindRSAError);
pyo3::import_exception!(openpcc.exceptions, BlindRSAInputError);
pyo3::import_exception!(openpcc.exceptions, BlindRSAKeyError);
pyo3::import_exception!(openpcc.exceptions, UnsafePrimesError);
pyo3::import_exception!(openpcc.exceptions, InvalidSignatureError);
pyo3::import_exception!(openpcc.exceptions, BlindRSASigningError);

/// Maps the crate's error onto the `openpcc.exceptions` classes. Messages carry no key or input bytes.
pub(crate) fn to_py_err(err: core::Error) -> PyErr {
    let message = err.to_string();
    match err {
        core::Error::InvalidLength { .. }
        | core::Error::OutOfRange(_)
        | core::Error::NotInvertible(_)
        | core::Error::Encoding(_)
        | core::Error::UnknownVariant(_) => BlindRSAInputError::new_err(message),
        core::Error::InvalidKey(_) => BlindRSAKeyError::new_err(message),
        core::Error::UnsafePrimes => UnsafePrimesError::new_err(message),
        core::Error::VerificationFailed => InvalidSignatureError::new_err(message),
        core::Error::SigningFailed => BlindRSASigningError::new_err(message),
        _ => BlindRSAError::new_err(message),
    }
}

fn variant(name: &str) -> PyResult<core::Variant> {
    core::Variant::from_name(name).map_err(to_py_err)
}

fn salt(zero_salt: bool) -> core::Salt {
    if zero_salt {
        core::Salt::Zeros
    } else {
        core::Salt::Random
    }
}

/// Runs RSA work `f` without the GIL and maps its error.
fn detached<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, core::Error> + Send,
) -> PyResult<T> {
    py.detach(f).map_err(to_py_err)
}

/// `detached` for work that returns bytes (signatures).
fn detached_bytes(
    py: Python<'_>,
    f: impl FnOnce() -> Result<Vec<u8>, core::Error> + Send,
) -> PyResult<Bound<'_, PyBytes>> {
    Ok(PyBytes::new(py, &detached(py, f)?))
}

/// `detached` for blinding: the blinded message and the inverse to finalize with.
fn detached_blinded(
    py: Python<'_>,
    f: impl FnOnce() -> Result<core::Blinded, core::Error> + Send,
) -> PyResult<(Bound<'_, PyBytes>, Bound<'_, PyBytes>)> {
    let b = detached(py, f)?;
    Ok((PyBytes::new(py, &b.blinded_msg), PyBytes::new(py, &b.inv)))
}

/// An RSA public key (a signer's key, or one derived for public metadata).
#[pyclass(frozen, eq, module = "openpcc.blindrsa")]
#[derive(PartialEq)]
pub(crate) struct PublicKey {
    inner: core::PublicKey,
}

#[pymethods]
impl PublicKey {
    #[new]
    fn new(n: PyBackedBytes, e: PyBackedBytes) -> PyResult<Self> {
        let inner = core::PublicKey::from_components(&n, &e).map_err(to_py_err)?;
        Ok(Self { inner })
    }

    #[staticmethod]
    fn from_der(der: PyBackedBytes) -> PyResult<Self> {
        let inner = core::PublicKey::from_der(&der).map_err(to_py_err)?;
        Ok(Self { inner })
    }

    #[staticmethod]
    fn from_pem(pem: &str) -> PyResult<Self> {
        let inner = core::PublicKey::from_pem(pem).map_err(to_py_err)?;
        Ok(Self { inner })
    }

    fn to_der<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.to_der().map_err(to_py_err)?))
    }

    fn to_pem(&self) -> PyResult<String> {
        self.inner.to_pem().map_err(to_py_err)
    }

    #[getter]
    fn n<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.n())
    }

    #[getter]
    fn e<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.e())
    }

    #[getter]
    fn modulus_len(&self) -> usize {
        self.inner.modulus_len()
    }

    #[getter]
    fn bits(&self) -> usize {
        self.inner.bits()
    }

    fn derive(&self, py: Python<'_>, info: PyBackedBytes) -> PyResult<Self> {
        detached(py, || self.inner.derive(&info)).map(|inner| Self { inner })
    }

    fn __repr__(&self) -> String {
        format!("PublicKey(bits={})", self.inner.bits())
    }
}

/// An RSA private key; signing is constant-time and blinded (rsa >= 0.10).
#[pyclass(frozen, module = "openpcc.blindrsa")]
pub(crate) struct SecretKey {
    inner: core::SecretKey,
}

#[pymethods]
impl SecretKey {
    #[staticmethod]
    fn from_der(py: Python<'_>, der: PyBackedBytes) -> PyResult<Self> {
        detached(py, || core::SecretKey::from_der(&der)).map(|inner| Self { inner })
    }

    #[staticmethod]
    fn from_pem(py: Python<'_>, pem: String) -> PyResult<Self> {
        detached(py, || core::SecretKey::from_pem(&pem)).map(|inner| Self { inner })
    }

    #[staticmethod]
    fn from_primes(
        py: Python<'_>,
        p: PyBackedBytes,
        q: PyBackedBytes,
        e: PyBackedBytes,
    ) -> PyResult<Self> {
        detached(py, || core::SecretKey::from_primes(&p, &q, &e)).map(|inner| Self { inner })
    }

    #[staticmethod]
    fn generate(py: Python<'_>, bits: usize) -> PyResult<Self> {
        detached(py, || core::SecretKey::generate(bits)).map(|inner| Self { inner })
    }

    fn to_der<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.to_der().map_err(to_py_err)?))
    }

    fn to_pem(&self) -> PyResult<String> {
        Ok(self.inner.to_pem().map_err(to_py_err)?.to_string())
    }

    fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.public_key(),
        }
    }

    fn has_safe_primes(&self, py: Python<'_>) -> bool {
        py.detach(|| self.inner.has_safe_primes())
    }

    fn derive(&self, py: Python<'_>, info: PyBackedBytes) -> PyResult<Self> {
        detached(py, || self.inner.derive(&info)).map(|inner| Self { inner })
    }

    fn __repr__(&self) -> String {
        format!("SecretKey(bits={})", self.inner.public_key().bits())
    }
}

#[pyfunction]
#[pyo3(signature = (msg, variant = "RSABSSA-SHA384-PSS-Randomized"))]
fn prepare<'py>(
    py: Python<'py>,
    msg: PyBackedBytes,
    variant: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let out = core::prepare(self::variant(variant)?, &msg).map_err(to_py_err)?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
#[pyo3(signature = (pk, msg, variant = "RSABSSA-SHA384-PSS-Randomized", *, zero_salt = false))]
fn blind<'py>(
    py: Python<'py>,
    pk: &PublicKey,
    msg: PyBackedBytes,
    variant: &str,
    zero_salt: bool,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let v = self::variant(variant)?;
    detached_blinded(py, || core::blind(&pk.inner, v, salt(zero_salt), &msg))
}

#[pyfunction]
fn blind_sign<'py>(
    py: Python<'py>,
    sk: &SecretKey,
    blinded_msg: PyBackedBytes,
) -> PyResult<Bound<'py, PyBytes>> {
    detached_bytes(py, || core::blind_sign(&sk.inner, &blinded_msg))
}

#[pyfunction]
#[pyo3(signature = (pk, msg, blind_sig, inv, variant = "RSABSSA-SHA384-PSS-Randomized"))]
fn finalize<'py>(
    py: Python<'py>,
    pk: &PublicKey,
    msg: PyBackedBytes,
    blind_sig: PyBackedBytes,
    inv: PyBackedBytes,
    variant: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let v = self::variant(variant)?;
    detached_bytes(py, || core::finalize(&pk.inner, v, &msg, &blind_sig, &inv))
}

#[pyfunction]
#[pyo3(signature = (pk, msg, sig, variant = "RSABSSA-SHA384-PSS-Randomized"))]
fn verify(
    py: Python<'_>,
    pk: &PublicKey,
    msg: PyBackedBytes,
    sig: PyBackedBytes,
    variant: &str,
) -> PyResult<()> {
    let v = self::variant(variant)?;
    detached(py, || core::verify(&pk.inner, v, &msg, &sig))
}

#[pyfunction]
fn metadata_message(
    py: Python<'_>,
    info: PyBackedBytes,
    msg: PyBackedBytes,
) -> PyResult<Bound<'_, PyBytes>> {
    let out = core::metadata_message(&info, &msg).map_err(to_py_err)?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
#[pyo3(signature = (pk, msg, info, variant = "RSAPBSSA-SHA384-PSS-Deterministic", *, zero_salt = false))]
fn pb_blind<'py>(
    py: Python<'py>,
    pk: &PublicKey,
    msg: PyBackedBytes,
    info: PyBackedBytes,
    variant: &str,
    zero_salt: bool,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let v = self::variant(variant)?;
    detached_blinded(py, || {
        core::pb_blind(&pk.inner, v, salt(zero_salt), &msg, &info)
    })
}

#[pyfunction]
fn pb_blind_sign<'py>(
    py: Python<'py>,
    sk: &SecretKey,
    blinded_msg: PyBackedBytes,
    info: PyBackedBytes,
) -> PyResult<Bound<'py, PyBytes>> {
    detached_bytes(py, || core::pb_blind_sign(&sk.inner, &blinded_msg, &info))
}

#[pyfunction]
#[pyo3(signature = (pk, msg, info, blind_sig, inv, variant = "RSAPBSSA-SHA384-PSS-Deterministic"))]
fn pb_finalize<'py>(
    py: Python<'py>,
    pk: &PublicKey,
    msg: PyBackedBytes,
    info: PyBackedBytes,
    blind_sig: PyBackedBytes,
    inv: PyBackedBytes,
    variant: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let v = self::variant(variant)?;
    detached_bytes(py, || {
        core::pb_finalize(&pk.inner, v, &msg, &info, &blind_sig, &inv)
    })
}

#[pyfunction]
#[pyo3(signature = (pk, msg, info, sig, variant = "RSAPBSSA-SHA384-PSS-Deterministic"))]
fn pb_verify(
    py: Python<'_>,
    pk: &PublicKey,
    msg: PyBackedBytes,
    info: PyBackedBytes,
    sig: PyBackedBytes,
    variant: &str,
) -> PyResult<()> {
    let v = self::variant(variant)?;
    detached(py, || core::pb_verify(&pk.inner, v, &msg, &info, &sig))
}

/// Test hook: blind with a chosen salt and blinding factor `r` (known-answer tests only).
#[pyfunction]
fn _blind_with_factor<'py>(
    py: Python<'py>,
    pk: &PublicKey,
    msg: PyBackedBytes,
    salt: PyBackedBytes,
    r: PyBackedBytes,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    detached_blinded(py, || {
        core::hooks::blind_with_factor(&pk.inner, &msg, &salt, &r)
    })
}

/// Test hook: the partially blind version of `_blind_with_factor`.
#[pyfunction]
fn _pb_blind_with_factor<'py>(
    py: Python<'py>,
    pk: &PublicKey,
    msg: PyBackedBytes,
    info: PyBackedBytes,
    salt: PyBackedBytes,
    r: PyBackedBytes,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    detached_blinded(py, || {
        core::hooks::pb_blind_with_factor(&pk.inner, &msg, &info, &salt, &r)
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PublicKey>()?;
    m.add_class::<SecretKey>()?;
    m.add_function(wrap_pyfunction!(prepare, m)?)?;
    m.add_function(wrap_pyfunction!(blind, m)?)?;
    m.add_function(wrap_pyfunction!(blind_sign, m)?)?;
    m.add_function(wrap_pyfunction!(finalize, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(metadata_message, m)?)?;
    m.add_function(wrap_pyfunction!(pb_blind, m)?)?;
    m.add_function(wrap_pyfunction!(pb_blind_sign, m)?)?;
    m.add_function(wrap_pyfunction!(pb_finalize, m)?)?;
    m.add_function(wrap_pyfunction!(pb_verify, m)?)?;
    m.add_function(wrap_pyfunction!(_blind_with_factor, m)?)?;
    m.add_function(wrap_pyfunction!(_pb_blind_with_factor, m)?)?;
    for v in core::Variant::ALL {
        let constant = v
            .suffix()
            .replace("SHA384-", "")
            .replace('-', "_")
            .to_uppercase();
        m.add(constant.as_str(), format!("RSABSSA-{}", v.suffix()))?;
    }
    m.add("PREFIX_LEN", core::PREFIX_LEN)?;
    Ok(())
}
