//! `openpcc._openpcc.hpke`: bindings over `openpcc-hpke` (RFC 9180 plus circl's `X25519Kyber768Draft00`).
//!
//! KEM work always runs with the GIL released; AEAD work only above `DETACH_THRESHOLD` bytes, where the
//! cost of releasing and re-taking the GIL is small next to the work. Byte arguments are bytes-like
//! ([`BytesIn`] for public ones, [`SecretIn`] for keys, seeds and PSKs; see `buffers.rs`).

use std::sync::{Mutex, MutexGuard};

use openpcc_hpke as core;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zeroize::Zeroizing;

use crate::buffers::{BytesIn, SecretIn};

pyo3::import_exception!(openpcc.exceptions, HPKEError);
pyo3::import_exception!(openpcc.exceptions, OpenError);
pyo3::import_exception!(openpcc.exceptions, InvalidKeyError);
pyo3::import_exception!(openpcc.exceptions, MessageLimitError);
pyo3::import_exception!(openpcc.exceptions, InvalidInputError);
pyo3::import_exception!(openpcc.exceptions, UnsupportedSuiteError);

/// Below this many bytes an AEAD call keeps the GIL (releasing it costs about as much as the work).
const DETACH_THRESHOLD: usize = 16 * 1024;

/// Maps the crate's error onto the `openpcc.exceptions` classes. Messages carry no key or input bytes.
pub(crate) fn to_py_err(err: core::Error) -> PyErr {
    let message = err.to_string();
    match err {
        core::Error::OpenFailed => OpenError::new_err(message),
        core::Error::InvalidKey => InvalidKeyError::new_err(message),
        core::Error::MessageLimit => MessageLimitError::new_err(message),
        core::Error::InvalidInput(_) | core::Error::ExternalDh => {
            InvalidInputError::new_err(message)
        }
        core::Error::UnsupportedSuite(_) | core::Error::Unsupported(_) => {
            UnsupportedSuiteError::new_err(message)
        }
        _ => HPKEError::new_err(message),
    }
}

/// An algorithm id from a Python int (or `IntEnum`); out-of-range values are unsupported ids, not overflows.
fn algorithm_id(value: &Bound<'_, PyAny>) -> PyResult<u16> {
    let id: i64 = value
        .extract()
        .map_err(|_| PyTypeError::new_err("algorithm ids are ints"))?;
    u16::try_from(id)
        .map_err(|_| UnsupportedSuiteError::new_err("unsupported algorithm id (out of range)"))
}

fn enum_member<'py>(py: Python<'py>, enum_name: &str, id: u16) -> PyResult<Bound<'py, PyAny>> {
    py.import("openpcc.hpke")?.getattr(enum_name)?.call1((id,))
}

/// A secret key argument: a `SecretKey` object or its serialization (any bytes-like object, copied
/// once into zeroizing memory).
enum SecretKeyArg<'py> {
    Key(Bound<'py, SecretKey>),
    Bytes(Zeroizing<Vec<u8>>),
}

impl<'py> SecretKeyArg<'py> {
    fn extract(value: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(key) = value.cast::<SecretKey>() {
            return Ok(Self::Key(key.clone()));
        }
        value
            .extract::<SecretIn>()
            .map(|secret| Self::Bytes(secret.into_inner()))
            .map_err(|_| PyTypeError::new_err("a secret key is a SecretKey or a bytes-like object"))
    }

    /// The part to resolve into a core key without holding the GIL (parsing bytes costs a scalar
    /// multiplication); serialized bytes move into it, so they are never copied again.
    fn view(&mut self) -> SecretKeyView<'_> {
        match self {
            Self::Key(key) => SecretKeyView::Key(&key.get().inner),
            Self::Bytes(bytes) => SecretKeyView::Bytes(std::mem::take(bytes)),
        }
    }
}

/// The `Send` part of a [`SecretKeyArg`], usable inside `py.detach`.
enum SecretKeyView<'a> {
    Key(&'a core::SecretKey),
    Bytes(Zeroizing<Vec<u8>>),
}

impl SecretKeyView<'_> {
    fn with<T>(
        self,
        kem: core::Kem,
        f: impl FnOnce(&core::SecretKey) -> Result<T, core::Error>,
    ) -> Result<T, core::Error> {
        match self {
            Self::Key(key) => f(key),
            Self::Bytes(bytes) => f(&core::SecretKey::from_zeroizing(kem, bytes)?),
        }
    }
}

fn psk_pair<'a>(
    psk: Option<&'a SecretIn>,
    psk_id: Option<&'a BytesIn>,
) -> PyResult<Option<(&'a [u8], &'a [u8])>> {
    match (psk, psk_id) {
        (None, None) => Ok(None),
        (Some(psk), Some(id)) => Ok(Some((psk, id))),
        _ => Err(InvalidInputError::new_err(
            "invalid input: psk and psk_id must be given together",
        )),
    }
}

/// An HPKE ciphersuite: `Suite(kem, kdf, aead)` with IANA ids (`KEM`, `KDF`, `AEAD` members or ints).
#[pyclass(frozen, module = "openpcc.hpke")]
pub(crate) struct Suite {
    inner: core::Suite,
}

#[pymethods]
impl Suite {
    #[new]
    fn new(
        kem: &Bound<'_, PyAny>,
        kdf: &Bound<'_, PyAny>,
        aead: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let inner =
            core::Suite::from_ids(algorithm_id(kem)?, algorithm_id(kdf)?, algorithm_id(aead)?)
                .map_err(to_py_err)?;
        Ok(Self { inner })
    }

    #[getter]
    fn kem<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        enum_member(py, "KEM", self.inner.kem.id())
    }

    #[getter]
    fn kdf<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        enum_member(py, "KDF", self.inner.kdf.id())
    }

    #[getter]
    fn aead<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        enum_member(py, "AEAD", self.inner.aead.id())
    }

    fn derive_key_pair<'py>(
        &self,
        py: Python<'py>,
        ikm: SecretIn,
    ) -> PyResult<(SecretKey, Bound<'py, PyBytes>)> {
        let (sk, pk) = py
            .detach(|| self.inner.derive_key_pair(&ikm))
            .map_err(to_py_err)?;
        Ok((SecretKey { inner: sk }, PyBytes::new(py, &pk)))
    }

    fn generate_key_pair<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(SecretKey, Bound<'py, PyBytes>)> {
        let (sk, pk) = py
            .detach(|| self.inner.generate_key_pair())
            .map_err(to_py_err)?;
        Ok((SecretKey { inner: sk }, PyBytes::new(py, &pk)))
    }

    fn public_key<'py>(
        &self,
        py: Python<'py>,
        sk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut sk = SecretKeyArg::extract(sk)?;
        let view = sk.view();
        let pk = py
            .detach(|| view.with(self.inner.kem, |sk| self.inner.public_key(sk)))
            .map_err(to_py_err)?;
        Ok(PyBytes::new(py, &pk))
    }

    #[pyo3(signature = (pk_r, info=None, *, psk=None, psk_id=None, sk_s=None),
        text_signature = "($self, pk_r, info=b'', *, psk=None, psk_id=None, sk_s=None)")]
    fn setup_sender<'py>(
        &self,
        py: Python<'py>,
        pk_r: BytesIn,
        info: Option<BytesIn>,
        psk: Option<SecretIn>,
        psk_id: Option<BytesIn>,
        sk_s: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyBytes>, SenderContext)> {
        let sender = Sender {
            pk_r,
            info,
            psk,
            psk_id,
        };
        sender.setup(py, self, sk_s, None)
    }

    #[pyo3(signature = (enc, sk_r, info=None, *, psk=None, psk_id=None, pk_s=None),
        text_signature = "($self, enc, sk_r, info=b'', *, psk=None, psk_id=None, pk_s=None)")]
    #[allow(clippy::too_many_arguments)]
    fn setup_recipient(
        &self,
        py: Python<'_>,
        enc: BytesIn,
        sk_r: &Bound<'_, PyAny>,
        info: Option<BytesIn>,
        psk: Option<SecretIn>,
        psk_id: Option<BytesIn>,
        pk_s: Option<BytesIn>,
    ) -> PyResult<RecipientContext> {
        let psk = psk_pair(psk.as_ref(), psk_id.as_ref())?;
        let mut sk_r = SecretKeyArg::extract(sk_r)?;
        let view = sk_r.view();
        let opts = core::RecipientOptions {
            psk,
            pk_s: pk_s.as_deref(),
        };
        let info = info.as_deref().unwrap_or_default();
        let ctx = py
            .detach(|| {
                view.with(self.inner.kem, |sk| {
                    self.inner.setup_recipient(&enc, sk, info, &opts)
                })
            })
            .map_err(to_py_err)?;
        Ok(RecipientContext::new(ctx))
    }

    /// Base-mode recipient whose `DH(skR, pkE)` is done elsewhere. `dh` is the shared secret as bytes, or a
    /// callable taking the ephemeral public key (`enc`) and returning it; its exceptions propagate.
    #[pyo3(signature = (enc, pk_r, dh, info=None), text_signature = "($self, enc, pk_r, dh, info=b'')")]
    fn setup_recipient_external(
        &self,
        py: Python<'_>,
        enc: BytesIn,
        pk_r: BytesIn,
        dh: &Bound<'_, PyAny>,
        info: Option<BytesIn>,
    ) -> PyResult<RecipientContext> {
        let info = info.as_deref().unwrap_or_default();
        let mut raised: Option<PyErr> = None;
        let provider = |pk_e: &[u8]| -> Result<Vec<u8>, core::Error> {
            let result = if dh.is_callable() {
                dh.call1((PyBytes::new(py, pk_e),))
            } else {
                Ok(dh.clone())
            };
            match result.and_then(|value| {
                value
                    .extract::<SecretIn>()
                    .map_err(|_| PyTypeError::new_err("dh must give a bytes-like object"))
            }) {
                // Moved, not copied: the core wraps it in zeroizing memory again.
                Ok(shared) => Ok(std::mem::take(&mut *shared.into_inner())),
                Err(err) => {
                    raised = Some(err);
                    Err(core::Error::ExternalDh)
                }
            }
        };
        // Not detached: the provider may call back into Python; the rest is two HKDF calls.
        let result = self
            .inner
            .setup_base_recipient_external(&enc, &pk_r, info, provider);
        match (result, raised) {
            (_, Some(err)) => Err(err),
            (Ok(ctx), None) => Ok(RecipientContext::new(ctx)),
            (Err(err), None) => Err(to_py_err(err)),
        }
    }

    /// One-shot base-mode seal: `(enc, ct)`.
    #[pyo3(signature = (pk_r, pt, info=None, aad=None), text_signature = "($self, pk_r, pt, info=b'', aad=b'')")]
    fn seal<'py>(
        &self,
        py: Python<'py>,
        pk_r: BytesIn,
        pt: BytesIn,
        info: Option<BytesIn>,
        aad: Option<BytesIn>,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let info = info.as_deref().unwrap_or_default();
        let aad = aad.as_deref().unwrap_or_default();
        let (enc, mut ctx) = py
            .detach(|| self.inner.setup_base_sender(&pk_r, info))
            .map_err(to_py_err)?;
        let ct = sealed_bytes(py, &pt, |out| ctx.seal_into(aad, &pt, out))?;
        Ok((PyBytes::new(py, &enc), ct))
    }

    /// One-shot base-mode open.
    #[pyo3(signature = (enc, sk_r, ct, info=None, aad=None), text_signature = "($self, enc, sk_r, ct, info=b'', aad=b'')")]
    fn open<'py>(
        &self,
        py: Python<'py>,
        enc: BytesIn,
        sk_r: &Bound<'py, PyAny>,
        ct: BytesIn,
        info: Option<BytesIn>,
        aad: Option<BytesIn>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let info = info.as_deref().unwrap_or_default();
        let aad = aad.as_deref().unwrap_or_default();
        let mut sk_r = SecretKeyArg::extract(sk_r)?;
        let view = sk_r.view();
        let mut ctx = py
            .detach(|| {
                view.with(self.inner.kem, |sk| {
                    self.inner.setup_base_recipient(&enc, sk, info)
                })
            })
            .map_err(to_py_err)?;
        opened_bytes(py, &ct, |out| ctx.open_into(aad, &ct, out))
    }

    fn __repr__(&self) -> String {
        let s = self.inner;
        format!(
            "Suite(kem=0x{:04x}, kdf=0x{:04x}, aead=0x{:04x})",
            s.kem.id(),
            s.kdf.id(),
            s.aead.id()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Suite>()
            .is_ok_and(|other| other.get().inner == self.inner)
    }

    fn __hash__(&self) -> u64 {
        let s = self.inner;
        (u64::from(s.kem.id()) << 32) | (u64::from(s.kdf.id()) << 16) | u64::from(s.aead.id())
    }
}

/// The public and PSK arguments of `SetupS`, shared by `Suite.setup_sender` and its test hook.
struct Sender {
    pk_r: BytesIn,
    info: Option<BytesIn>,
    psk: Option<SecretIn>,
    psk_id: Option<BytesIn>,
}

impl Sender {
    fn setup<'py>(
        &self,
        py: Python<'py>,
        suite: &Suite,
        sk_s: Option<&Bound<'py, PyAny>>,
        ikm_e: Option<&[u8]>,
    ) -> PyResult<(Bound<'py, PyBytes>, SenderContext)> {
        let psk = psk_pair(self.psk.as_ref(), self.psk_id.as_ref())?;
        let mut sk_s = sk_s.map(SecretKeyArg::extract).transpose()?;
        let sk_s_view = sk_s.as_mut().map(SecretKeyArg::view);
        let info = self.info.as_deref().unwrap_or_default();
        let suite = suite.inner;
        let (enc, ctx) = py
            .detach(|| {
                let setup = |sk_s: Option<&core::SecretKey>| {
                    let opts = core::SenderOptions { psk, sk_s, ikm_e };
                    suite.setup_sender(&self.pk_r, info, &opts)
                };
                match sk_s_view {
                    Some(view) => view.with(suite.kem, |sk| setup(Some(sk))),
                    None => setup(None),
                }
            })
            .map_err(to_py_err)?;
        Ok((PyBytes::new(py, &enc), SenderContext::new(ctx)))
    }
}

/// Test hook, not part of the public API: `Suite.setup_sender` with a deterministic ephemeral key
/// derived from `ikm_e` (`DeriveKeyPair(ikm_e)`; for 0x0030 circl's 64-byte encapsulation seed), for
/// known-answer tests. Reusing `ikm_e` destroys the security of HPKE.
#[pyfunction]
#[pyo3(signature = (suite, pk_r, info=None, *, ikm_e, psk=None, psk_id=None, sk_s=None))]
#[allow(clippy::too_many_arguments)] // the public arguments of setup_sender plus the seed
fn _setup_sender_with_ikm_e<'py>(
    py: Python<'py>,
    suite: &Suite,
    pk_r: BytesIn,
    info: Option<BytesIn>,
    ikm_e: SecretIn,
    psk: Option<SecretIn>,
    psk_id: Option<BytesIn>,
    sk_s: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyBytes>, SenderContext)> {
    let sender = Sender {
        pk_r,
        info,
        psk,
        psk_id,
    };
    sender.setup(py, suite, sk_s, Some(&ikm_e))
}

/// Seals `pt` with `seal` straight into a new `bytes` of ciphertext || tag (without the GIL when large);
/// the body of every `seal` method.
fn sealed_bytes<'py>(
    py: Python<'py>,
    pt: &[u8],
    seal: impl FnOnce(&mut [u8]) -> Result<(), core::Error> + Send,
) -> PyResult<Bound<'py, PyBytes>> {
    let len = pt
        .len()
        .checked_add(core::TAG_LEN)
        .ok_or_else(|| InvalidInputError::new_err("invalid input: message too long"))?;
    PyBytes::new_with(py, len, |out| {
        maybe_detach(py, pt.len(), || seal(out)).map_err(to_py_err)
    })
}

/// Opens `ct` with `open` straight into a new `bytes` of plaintext (without the GIL when large); the body
/// of every `open` method.
fn opened_bytes<'py>(
    py: Python<'py>,
    ct: &[u8],
    open: impl FnOnce(&mut [u8]) -> Result<(), core::Error> + Send,
) -> PyResult<Bound<'py, PyBytes>> {
    let len = ct.len().saturating_sub(core::TAG_LEN);
    PyBytes::new_with(py, len, |out| {
        maybe_detach(py, ct.len(), || open(out)).map_err(to_py_err)
    })
}

fn maybe_detach<T: Send>(py: Python<'_>, len: usize, work: impl FnOnce() -> T + Send) -> T {
    if len >= DETACH_THRESHOLD {
        py.detach(work)
    } else {
        work()
    }
}

/// An HPKE secret key. Never printed; `to_bytes()` gives its RFC 9180 serialization.
#[pyclass(frozen, module = "openpcc.hpke")]
pub(crate) struct SecretKey {
    inner: core::SecretKey,
}

#[pymethods]
impl SecretKey {
    /// Parses a serialized secret key of `kem`.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, kem: &Bound<'_, PyAny>, data: SecretIn) -> PyResult<Self> {
        let kem = core::Kem::try_from(algorithm_id(kem)?).map_err(to_py_err)?;
        let inner = py
            .detach(|| core::SecretKey::from_zeroizing(kem, data.into_inner()))
            .map_err(to_py_err)?;
        Ok(Self { inner })
    }

    #[getter]
    fn kem<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        enum_member(py, "KEM", self.inner.kem().id())
    }

    /// The serialized public key.
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.public_key())
    }

    /// The serialized secret key. Handle with care.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.as_bytes())
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.to_bytes(py)
    }

    /// Constant-time comparison with another `SecretKey` or a serialization (any bytes-like object).
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        if let Ok(other) = other.cast::<SecretKey>() {
            return other.get().inner == self.inner;
        }
        other
            .extract::<SecretIn>()
            .is_ok_and(|bytes| self.inner.ct_eq_bytes(&bytes))
    }

    #[allow(clippy::unused_self)] // a secret key must not be a dict key (its hash would leak bits)
    fn __hash__(&self) -> PyResult<isize> {
        Err(PyTypeError::new_err("SecretKey is not hashable"))
    }

    fn __repr__(&self) -> String {
        format!("SecretKey(kem=0x{:04x}, <secret>)", self.inner.kem().id())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic cannot leave a context half-updated (seq moves only after success), so poison is harmless.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn export_bytes(
    py: Python<'_>,
    length: i64,
    export: impl FnOnce(usize) -> Result<Vec<u8>, core::Error>,
) -> PyResult<Bound<'_, PyBytes>> {
    let length = usize::try_from(length)
        .map_err(|_| InvalidInputError::new_err("invalid input: negative export length"))?;
    let value = export(length).map_err(to_py_err)?;
    Ok(PyBytes::new(py, &value))
}

/// One HPKE context class: the core context behind a mutex, its direction's own methods, and the
/// `export`/`seq`/`suite`/`_set_seq`/`__repr__` methods both directions share.
macro_rules! context_class {
    ($(#[$doc:meta])* $name:ident($core:ty) { $($methods:tt)* }) => {
        $(#[$doc])*
        #[pyclass(frozen, module = "openpcc.hpke")]
        pub(crate) struct $name {
            inner: Mutex<$core>,
            suite: core::Suite,
        }

        impl $name {
            fn new(ctx: $core) -> Self {
                Self {
                    suite: ctx.suite(),
                    inner: Mutex::new(ctx),
                }
            }
        }

        #[pymethods]
        impl $name {
            $($methods)*

            /// `Export(exporter_context, length)`.
            fn export<'py>(
                &self,
                py: Python<'py>,
                exporter_context: BytesIn,
                length: i64,
            ) -> PyResult<Bound<'py, PyBytes>> {
                export_bytes(py, length, |len| {
                    lock(&self.inner).export(&exporter_context, len)
                })
            }

            #[getter]
            fn seq(&self) -> u64 {
                lock(&self.inner).seq()
            }

            #[getter]
            fn suite(&self) -> Suite {
                Suite { inner: self.suite }
            }

            /// Test seam: jump to sequence number `seq` (to reach the message limit).
            fn _set_seq(&self, seq: u64) {
                lock(&self.inner).set_seq_for_tests(seq);
            }

            fn __repr__(&self) -> String {
                format!(
                    concat!(stringify!($name), "(suite={}, seq={})"),
                    Suite { inner: self.suite }.__repr__(),
                    self.seq()
                )
            }
        }
    };
}

context_class! {
    /// The sender side of an HPKE context: `seal` messages in order, `export` secrets.
    SenderContext(core::SenderContext) {
        /// `Seal(aad, pt)`: ciphertext || tag; each call uses the next sequence number.
        #[pyo3(signature = (pt, aad=None), text_signature = "($self, pt, aad=b'')")]
        fn seal<'py>(
            &self,
            py: Python<'py>,
            pt: BytesIn,
            aad: Option<BytesIn>,
        ) -> PyResult<Bound<'py, PyBytes>> {
            let aad = aad.as_deref().unwrap_or_default();
            sealed_bytes(py, &pt, |out| lock(&self.inner).seal_into(aad, &pt, out))
        }
    }
}

context_class! {
    /// The recipient side of an HPKE context: `open` messages in order, `export` secrets.
    RecipientContext(core::RecipientContext) {
        /// `Open(aad, ct)`: the plaintext; a failure raises `OpenError` and leaves the sequence number alone.
        #[pyo3(signature = (ct, aad=None), text_signature = "($self, ct, aad=b'')")]
        fn open<'py>(
            &self,
            py: Python<'py>,
            ct: BytesIn,
            aad: Option<BytesIn>,
        ) -> PyResult<Bound<'py, PyBytes>> {
            let aad = aad.as_deref().unwrap_or_default();
            opened_bytes(py, &ct, |out| lock(&self.inner).open_into(aad, &ct, out))
        }
    }
}

/// A raw AEAD key (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305) with caller-chosen 12-byte nonces.
#[pyclass(frozen, module = "openpcc.hpke", name = "AEADKey")]
pub(crate) struct AeadKey {
    inner: core::AeadKey,
}

#[pymethods]
impl AeadKey {
    #[new]
    fn new(aead: &Bound<'_, PyAny>, key: SecretIn) -> PyResult<Self> {
        let aead = core::Aead::try_from(algorithm_id(aead)?).map_err(to_py_err)?;
        Ok(Self {
            inner: core::AeadKey::new(aead, &key).map_err(to_py_err)?,
        })
    }

    #[pyo3(signature = (nonce, pt, aad=None), text_signature = "($self, nonce, pt, aad=b'')")]
    fn seal<'py>(
        &self,
        py: Python<'py>,
        nonce: BytesIn,
        pt: BytesIn,
        aad: Option<BytesIn>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let aad = aad.as_deref().unwrap_or_default();
        sealed_bytes(py, &pt, |out| self.inner.seal_into(&nonce, aad, &pt, out))
    }

    #[pyo3(signature = (nonce, ct, aad=None), text_signature = "($self, nonce, ct, aad=b'')")]
    fn open<'py>(
        &self,
        py: Python<'py>,
        nonce: BytesIn,
        ct: BytesIn,
        aad: Option<BytesIn>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let aad = aad.as_deref().unwrap_or_default();
        opened_bytes(py, &ct, |out| self.inner.open_into(&nonce, aad, &ct, out))
    }

    fn __repr__(&self) -> String {
        format!("AEADKey(aead=0x{:04x}, <secret>)", self.inner.aead().id())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Suite>()?;
    m.add_class::<SecretKey>()?;
    m.add_class::<SenderContext>()?;
    m.add_class::<RecipientContext>()?;
    m.add_class::<AeadKey>()?;
    // Set, not added: `add_function` would list the test hook in the module's `__all__`.
    m.setattr(
        "_setup_sender_with_ikm_e",
        wrap_pyfunction!(_setup_sender_with_ikm_e, m)?,
    )?;
    Ok(())
}
