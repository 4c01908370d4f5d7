//! `openpcc._openpcc.ohttp`: Oblivious HTTP (RFC 9458) and chunked OHTTP over `openpcc-ohttp`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openpcc_ohttp::chunked::{self, SealerOptions};
use openpcc_ohttp::stream;
use openpcc_ohttp::{Aead, Ephemeral, Error, Form, Kdf, Kem, SymmetricSuite};
use pyo3::import_exception;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::buffers::{BytesIn, SecretIn};

import_exception!(openpcc.exceptions, OHTTPError);
import_exception!(openpcc.exceptions, KeyConfigError);
import_exception!(openpcc.exceptions, MalformedMessageError);
import_exception!(openpcc.exceptions, OHTTPUnsupportedError);
import_exception!(openpcc.exceptions, KeyIdMismatchError);
import_exception!(openpcc.exceptions, SuiteMismatchError);
import_exception!(openpcc.exceptions, OHTTPDecryptError);
import_exception!(openpcc.exceptions, TruncatedStreamError);
import_exception!(openpcc.exceptions, ChunkTooLargeError);
import_exception!(openpcc.exceptions, ChunkLimitError);
import_exception!(openpcc.exceptions, OHTTPUsageError);
import_exception!(openpcc.exceptions, OHTTPMediaTypeError);

// Signature defaults are written as literals, as in the stub; they must equal the crate constants.
const _: () = assert!(openpcc_ohttp::DEFAULT_SEAL_CHUNK_LEN == 4096);
const _: () = assert!(openpcc_ohttp::DEFAULT_MAX_REQUEST_CHUNK == 16384);
const _: () = assert!(openpcc_ohttp::DEFAULT_MAX_RESPONSE_CHUNK == 16384);

/// Chunk work on fewer bytes than this runs with the GIL held (releasing it costs more).
const DETACH_THRESHOLD: usize = 16 * 1024;

fn to_py_err(err: Error) -> PyErr {
    let msg = err.to_string();
    match err {
        Error::KeyConfig(_) | Error::InvalidKey(_) => KeyConfigError::new_err(msg),
        Error::Malformed(_) => MalformedMessageError::new_err(msg),
        Error::Unsupported(..) | Error::UnsupportedOperation(_) => {
            OHTTPUnsupportedError::new_err(msg)
        }
        Error::KeyIdMismatch(_) => KeyIdMismatchError::new_err(msg),
        Error::SuiteMismatch => SuiteMismatchError::new_err(msg),
        Error::Decrypt => OHTTPDecryptError::new_err(msg),
        Error::Truncated => TruncatedStreamError::new_err(msg),
        Error::ChunkTooLarge => ChunkTooLargeError::new_err(msg),
        Error::SequenceOverflow => ChunkLimitError::new_err(msg),
        Error::Usage(_) => OHTTPUsageError::new_err(msg),
        Error::MediaType(_) => OHTTPMediaTypeError::new_err(msg),
        _ => OHTTPError::new_err(msg),
    }
}

fn kem_from(id: u16) -> PyResult<Kem> {
    Kem::try_from(id).map_err(|_| to_py_err(Error::Unsupported("kem", id)))
}

fn symmetric_from(pairs: Vec<(u16, u16)>) -> PyResult<Vec<SymmetricSuite>> {
    pairs
        .into_iter()
        .map(|(kdf, aead)| {
            Ok(SymmetricSuite {
                kdf: Kdf::try_from(kdf).map_err(|_| to_py_err(Error::Unsupported("kdf", kdf)))?,
                aead: Aead::try_from(aead)
                    .map_err(|_| to_py_err(Error::Unsupported("aead", aead)))?,
            })
        })
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> PyResult<MutexGuard<'_, T>> {
    mutex
        .lock()
        .map_err(|_| OHTTPUsageError::new_err("stream unusable after a panic"))
}

fn bytes_list<'py>(py: Python<'py>, pieces: &[Vec<u8>]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, pieces.iter().map(|p| PyBytes::new(py, p)))
}

fn sealer_options(fixed_chunk_len: Option<usize>, max_chunk_len: usize) -> SealerOptions {
    SealerOptions {
        max_chunk_len,
        fixed_chunk_len,
    }
}

/// Runs `f` on the locked state, without the GIL when `big`. The lock is taken and released inside, so a
/// thread waiting for it while holding the GIL cannot deadlock with one that released the GIL.
fn with_lock<T: Send, R: Send>(
    py: Python<'_>,
    big: bool,
    mutex: &Mutex<T>,
    f: impl FnOnce(&mut T) -> Result<R, Error> + Send,
) -> PyResult<R> {
    maybe_detach(py, big, || f(&mut *lock(mutex)?).map_err(to_py_err))
}

/// Runs `f` without the GIL when `big`, else directly.
fn maybe_detach<T: Send>(py: Python<'_>, big: bool, f: impl FnOnce() -> T + Send) -> T {
    if big {
        py.detach(f)
    } else {
        f()
    }
}

/// A gateway's public key configuration (RFC 9458 §3).
#[pyclass(frozen, module = "openpcc.ohttp", name = "KeyConfig", eq)]
#[derive(Clone, PartialEq)]
struct PyKeyConfig(openpcc_ohttp::KeyConfig);

#[pymethods]
impl PyKeyConfig {
    #[new]
    fn new(
        key_id: u8,
        kem: u16,
        public_key: BytesIn,
        symmetric_algorithms: Vec<(u16, u16)>,
    ) -> PyResult<Self> {
        let config = openpcc_ohttp::KeyConfig::new(
            key_id,
            kem_from(kem)?,
            public_key.into_vec(),
            symmetric_from(symmetric_algorithms)?,
        )
        .map_err(to_py_err)?;
        Ok(Self(config))
    }

    #[getter]
    fn key_id(&self) -> u8 {
        self.0.key_id()
    }

    #[getter]
    fn kem(&self) -> u16 {
        self.0.kem().id()
    }

    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.public_key())
    }

    #[getter]
    fn symmetric_algorithms(&self) -> Vec<(u16, u16)> {
        self.0
            .symmetric()
            .iter()
            .map(|s| (s.kdf.id(), s.aead.id()))
            .collect()
    }

    fn encode<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.to_bytes())
    }

    #[staticmethod]
    fn decode(data: BytesIn) -> PyResult<Self> {
        openpcc_ohttp::KeyConfig::decode(&data)
            .map(Self)
            .map_err(to_py_err)
    }

    fn __repr__(&self) -> String {
        format!(
            "KeyConfig(key_id={}, kem=0x{:04x}, public_key=<{} bytes>, symmetric_algorithms={:?})",
            self.0.key_id(),
            self.0.kem().id(),
            self.0.public_key().len(),
            self.symmetric_algorithms()
        )
    }
}

#[pyfunction]
fn encode_key_configs<'py>(
    py: Python<'py>,
    configs: Vec<PyRef<'py, PyKeyConfig>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let configs: Vec<openpcc_ohttp::KeyConfig> = configs.iter().map(|c| c.0.clone()).collect();
    let bytes = openpcc_ohttp::encode_key_configs(&configs).map_err(to_py_err)?;
    Ok(PyBytes::new(py, &bytes))
}

#[pyfunction]
fn decode_key_configs(data: BytesIn) -> PyResult<Vec<PyKeyConfig>> {
    let configs = openpcc_ohttp::decode_key_configs(&data).map_err(to_py_err)?;
    Ok(configs.into_iter().map(PyKeyConfig).collect())
}

/// The gateway's key pair.
#[pyclass(frozen, module = "openpcc.ohttp", name = "GatewayKey")]
struct PyGatewayKey(openpcc_ohttp::GatewayKey);

#[pymethods]
impl PyGatewayKey {
    #[staticmethod]
    fn from_secret_key(
        py: Python<'_>,
        key_id: u8,
        kem: u16,
        secret_key: SecretIn,
        symmetric_algorithms: Vec<(u16, u16)>,
    ) -> PyResult<Self> {
        let (kem, symmetric) = (kem_from(kem)?, symmetric_from(symmetric_algorithms)?);
        py.detach(|| {
            openpcc_ohttp::GatewayKey::from_secret_key(key_id, kem, &secret_key, symmetric)
        })
        .map(Self)
        .map_err(to_py_err)
    }

    #[staticmethod]
    fn from_seed(
        py: Python<'_>,
        key_id: u8,
        kem: u16,
        seed: SecretIn,
        symmetric_algorithms: Vec<(u16, u16)>,
    ) -> PyResult<Self> {
        let (kem, symmetric) = (kem_from(kem)?, symmetric_from(symmetric_algorithms)?);
        py.detach(|| openpcc_ohttp::GatewayKey::from_seed(key_id, kem, &seed, symmetric))
            .map(Self)
            .map_err(to_py_err)
    }

    #[staticmethod]
    fn generate(
        py: Python<'_>,
        key_id: u8,
        kem: u16,
        symmetric_algorithms: Vec<(u16, u16)>,
    ) -> PyResult<Self> {
        let (kem, symmetric) = (kem_from(kem)?, symmetric_from(symmetric_algorithms)?);
        py.detach(|| openpcc_ohttp::GatewayKey::generate(key_id, kem, symmetric))
            .map(Self)
            .map_err(to_py_err)
    }

    #[getter]
    fn key_config(&self) -> PyKeyConfig {
        PyKeyConfig(self.0.key_config().clone())
    }

    fn decapsulate_request<'py>(
        &self,
        py: Python<'py>,
        data: BytesIn,
    ) -> PyResult<(Bound<'py, PyBytes>, PyResponseContext)> {
        let (msg, ctx) = py
            .detach(|| self.0.decapsulate_request(&data))
            .map_err(to_py_err)?;
        Ok((
            PyBytes::new(py, &msg),
            PyResponseContext::new(ctx, &Answered::default()),
        ))
    }

    fn __repr__(&self) -> String {
        let config = self.0.key_config();
        format!(
            "GatewayKey(key_id={}, kem=0x{:04x}, secret_key=<hidden>)",
            config.key_id(),
            config.kem().id()
        )
    }
}

/// Whether a request was answered, shared by every `ResponseContext` handed out for it (an opener's
/// `response_context` getter returns a new handle on each call).
#[derive(Clone, Default)]
struct Answered(Arc<AtomicBool>);

/// The gateway's handle for answering one request, at most once: a second response would be keyed by the
/// same request secret, so a second plain response, response sealer or test-hook response raises
/// `OHTTPUsageError` (a first attempt refused for its arguments does not count).
#[pyclass(frozen, module = "openpcc.ohttp", name = "ResponseContext")]
struct PyResponseContext {
    ctx: openpcc_ohttp::ResponseContext,
    answered: Answered,
}

impl PyResponseContext {
    fn new(ctx: openpcc_ohttp::ResponseContext, answered: &Answered) -> Self {
        Self {
            ctx,
            answered: answered.clone(),
        }
    }

    /// Runs `seal` as this request's one answer.
    fn answer<R>(
        &self,
        seal: impl FnOnce(&openpcc_ohttp::ResponseContext) -> Result<R, Error>,
    ) -> PyResult<R> {
        if self.answered.0.swap(true, Ordering::AcqRel) {
            return Err(OHTTPUsageError::new_err(
                "this request was already answered: a response context answers at most once",
            ));
        }
        seal(&self.ctx).map_err(|e| {
            self.answered.0.store(false, Ordering::Release);
            to_py_err(e)
        })
    }

    fn encapsulate<'py>(
        &self,
        py: Python<'py>,
        message: &[u8],
        response_nonce: Option<&[u8]>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let sealed = maybe_detach(py, message.len() >= DETACH_THRESHOLD, || {
            self.answer(|ctx| match response_nonce {
                Some(nonce) => ctx.encapsulate_response_with_nonce(message, nonce),
                None => ctx.encapsulate_response(message),
            })
        })?;
        Ok(PyBytes::new(py, &sealed))
    }
}

#[pymethods]
impl PyResponseContext {
    fn encapsulate_response<'py>(
        &self,
        py: Python<'py>,
        message: BytesIn,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.encapsulate(py, &message, None)
    }

    /// Whether the request was chunked (the response may take either form).
    #[getter]
    fn request_chunked(&self) -> bool {
        self.ctx.request_form() == Form::Chunked
    }

    /// Whether a response was made from this context (or another handle on the same request).
    #[getter]
    fn answered(&self) -> bool {
        self.answered.0.load(Ordering::Acquire)
    }

    #[allow(clippy::unused_self)] // Python calls it on the instance
    fn __repr__(&self) -> &'static str {
        "ResponseContext(<secret>)"
    }
}

/// The client's handle for decapsulating the response.
#[pyclass(frozen, module = "openpcc.ohttp", name = "ClientContext")]
struct PyClientContext(openpcc_ohttp::ClientContext);

#[pymethods]
impl PyClientContext {
    fn decapsulate_response<'py>(
        &self,
        py: Python<'py>,
        data: BytesIn,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let msg = maybe_detach(py, data.len() >= DETACH_THRESHOLD, || {
            self.0.decapsulate_response(&data)
        })
        .map_err(to_py_err)?;
        Ok(PyBytes::new(py, &msg))
    }

    /// Whether the request was chunked (the response may take either form).
    #[getter]
    fn request_chunked(&self) -> bool {
        self.0.request_form() == Form::Chunked
    }

    #[allow(clippy::unused_self)] // Python calls it on the instance
    fn __repr__(&self) -> &'static str {
        "ClientContext(<secret>)"
    }
}

#[pyfunction]
fn encapsulate_request<'py>(
    py: Python<'py>,
    key_config: &PyKeyConfig,
    message: BytesIn,
) -> PyResult<(Bound<'py, PyBytes>, PyClientContext)> {
    encapsulate_request_from(py, key_config, &message, Ephemeral::Random)
}

fn encapsulate_request_from<'py>(
    py: Python<'py>,
    key_config: &PyKeyConfig,
    message: &[u8],
    ephemeral: Ephemeral<'_>,
) -> PyResult<(Bound<'py, PyBytes>, PyClientContext)> {
    let (data, ctx) = py
        .detach(|| openpcc_ohttp::encapsulate_request_with(&key_config.0, message, ephemeral))
        .map_err(to_py_err)?;
    Ok((PyBytes::new(py, &data), PyClientContext(ctx)))
}

/// A stream's `push`: takes one piece of input and appends the pieces it completes to `out`.
type Push<S> = fn(&mut S, &[u8], &mut Vec<Vec<u8>>) -> Result<(), Error>;

/// The body of every stream class's `feed`/`feed_many`: pushes each of `pieces` through the locked stream
/// (without the GIL when `big`) and returns every piece that came out.
fn feed_stream<'py, S: Send>(
    py: Python<'py>,
    big: bool,
    state: &Mutex<S>,
    pieces: &[&[u8]],
    push: Push<S>,
) -> PyResult<Bound<'py, PyList>> {
    let out = with_lock(py, big, state, |s| {
        let mut out = Vec::with_capacity(pieces.len() + 1);
        for piece in pieces {
            push(s, piece, &mut out)?;
        }
        Ok(out)
    })?;
    bytes_list(py, &out)
}

/// A sealer's `feed_many`: every chunk in one locked call, without the GIL when they add up to enough.
fn feed_many_stream<'py, S: Send>(
    py: Python<'py>,
    state: &Mutex<S>,
    chunks: &[BytesIn],
    push: Push<S>,
) -> PyResult<Bound<'py, PyList>> {
    let slices: Vec<&[u8]> = chunks.iter().map(|c| &**c).collect();
    let big = slices.iter().map(|c| c.len()).sum::<usize>() >= DETACH_THRESHOLD;
    feed_stream(py, big, state, &slices, push)
}

/// A sealer's `finish`: the last wire pieces.
fn finish_sealer<'py, S: Send>(
    py: Python<'py>,
    big: bool,
    state: &Mutex<S>,
    finish: fn(&mut S, &mut Vec<Vec<u8>>) -> Result<(), Error>,
) -> PyResult<Bound<'py, PyList>> {
    let out = with_lock(py, big, state, |s| {
        let mut out = Vec::new();
        finish(s, &mut out).map(|()| out)
    })?;
    bytes_list(py, &out)
}

/// An opener's `finish`: the last plaintext.
fn finish_opener<'py, S: Send>(
    py: Python<'py>,
    big: bool,
    state: &Mutex<S>,
    finish: fn(&mut S) -> Result<Vec<u8>, Error>,
) -> PyResult<Bound<'py, PyBytes>> {
    let last = with_lock(py, big, state, finish)?;
    Ok(PyBytes::new(py, &last))
}

impl PyChunkedRequestSealer {
    fn create(
        py: Python<'_>,
        key_config: &PyKeyConfig,
        options: SealerOptions,
        ephemeral: Ephemeral<'_>,
    ) -> PyResult<Self> {
        let (inner, client) = py
            .detach(|| chunked::ChunkedRequestSealer::new(&key_config.0, options, ephemeral))
            .map_err(to_py_err)?;
        Ok(Self {
            inner: Mutex::new(inner),
            client,
        })
    }
}

/// Client: seals a chunked request incrementally.
#[pyclass(frozen, module = "openpcc.ohttp", name = "ChunkedRequestSealer")]
struct PyChunkedRequestSealer {
    inner: Mutex<chunked::ChunkedRequestSealer>,
    client: openpcc_ohttp::ClientContext,
}

#[pymethods]
impl PyChunkedRequestSealer {
    #[new]
    #[pyo3(signature = (key_config, *, fixed_chunk_len=None, max_chunk_len=4096))]
    fn new(
        py: Python<'_>,
        key_config: &PyKeyConfig,
        fixed_chunk_len: Option<usize>,
        max_chunk_len: usize,
    ) -> PyResult<Self> {
        Self::create(
            py,
            key_config,
            sealer_options(fixed_chunk_len, max_chunk_len),
            Ephemeral::Random,
        )
    }

    #[getter]
    fn client_context(&self) -> PyClientContext {
        PyClientContext(self.client.clone())
    }

    fn feed<'py>(&self, py: Python<'py>, data: BytesIn) -> PyResult<Bound<'py, PyList>> {
        feed_stream(
            py,
            data.len() >= DETACH_THRESHOLD,
            &self.inner,
            &[&data],
            chunked::ChunkedRequestSealer::push,
        )
    }

    fn feed_many<'py>(
        &self,
        py: Python<'py>,
        chunks: Vec<BytesIn>,
    ) -> PyResult<Bound<'py, PyList>> {
        feed_many_stream(
            py,
            &self.inner,
            &chunks,
            chunked::ChunkedRequestSealer::push,
        )
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        finish_sealer(
            py,
            false,
            &self.inner,
            chunked::ChunkedRequestSealer::finish,
        )
    }
}

/// Gateway: opens a chunked request incrementally.
#[pyclass(frozen, module = "openpcc.ohttp", name = "ChunkedRequestOpener")]
struct PyChunkedRequestOpener(Mutex<chunked::ChunkedRequestOpener>, Answered);

#[pymethods]
impl PyChunkedRequestOpener {
    #[new]
    #[pyo3(signature = (gateway_key, *, max_chunk_len=16384))]
    fn new(gateway_key: &PyGatewayKey, max_chunk_len: usize) -> Self {
        Self(
            Mutex::new(chunked::ChunkedRequestOpener::new(
                gateway_key.0.clone(),
                max_chunk_len,
            )),
            Answered::default(),
        )
    }

    #[getter]
    fn response_context(&self) -> PyResult<Option<PyResponseContext>> {
        Ok(lock(&self.0)?
            .response_context()
            .cloned()
            .map(|ctx| PyResponseContext::new(ctx, &self.1)))
    }

    fn feed<'py>(&self, py: Python<'py>, data: BytesIn) -> PyResult<Bound<'py, PyList>> {
        // The first bytes carry the HPKE setup; later ones only symmetric work.
        let heavy = lock(&self.0)?.response_context().is_none() || data.len() >= DETACH_THRESHOLD;
        feed_stream(
            py,
            heavy,
            &self.0,
            &[&data],
            chunked::ChunkedRequestOpener::push,
        )
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        finish_opener(py, false, &self.0, chunked::ChunkedRequestOpener::finish)
    }
}

impl PyChunkedResponseSealer {
    fn create(
        response_context: &PyResponseContext,
        options: SealerOptions,
        response_nonce: Option<&[u8]>,
    ) -> PyResult<Self> {
        let inner = response_context
            .answer(|ctx| chunked::ChunkedResponseSealer::new(ctx, options, response_nonce))?;
        Ok(Self(Mutex::new(inner)))
    }
}

/// Gateway: seals a chunked response incrementally.
#[pyclass(frozen, module = "openpcc.ohttp", name = "ChunkedResponseSealer")]
struct PyChunkedResponseSealer(Mutex<chunked::ChunkedResponseSealer>);

#[pymethods]
impl PyChunkedResponseSealer {
    #[new]
    #[pyo3(signature = (response_context, *, fixed_chunk_len=None, max_chunk_len=4096))]
    fn new(
        response_context: &PyResponseContext,
        fixed_chunk_len: Option<usize>,
        max_chunk_len: usize,
    ) -> PyResult<Self> {
        Self::create(
            response_context,
            sealer_options(fixed_chunk_len, max_chunk_len),
            None,
        )
    }

    fn feed<'py>(&self, py: Python<'py>, data: BytesIn) -> PyResult<Bound<'py, PyList>> {
        feed_stream(
            py,
            data.len() >= DETACH_THRESHOLD,
            &self.0,
            &[&data],
            chunked::ChunkedResponseSealer::push,
        )
    }

    fn feed_many<'py>(
        &self,
        py: Python<'py>,
        chunks: Vec<BytesIn>,
    ) -> PyResult<Bound<'py, PyList>> {
        feed_many_stream(py, &self.0, &chunks, chunked::ChunkedResponseSealer::push)
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        finish_sealer(py, false, &self.0, chunked::ChunkedResponseSealer::finish)
    }
}

/// Client: opens a chunked response incrementally.
#[pyclass(frozen, module = "openpcc.ohttp", name = "ChunkedResponseOpener")]
struct PyChunkedResponseOpener(Mutex<chunked::ChunkedResponseOpener>);

#[pymethods]
impl PyChunkedResponseOpener {
    #[new]
    #[pyo3(signature = (client_context, *, max_chunk_len=16384))]
    fn new(client_context: &PyClientContext, max_chunk_len: usize) -> Self {
        Self(Mutex::new(chunked::ChunkedResponseOpener::new(
            client_context.0.clone(),
            max_chunk_len,
        )))
    }

    fn feed<'py>(&self, py: Python<'py>, data: BytesIn) -> PyResult<Bound<'py, PyList>> {
        feed_stream(
            py,
            data.len() >= DETACH_THRESHOLD,
            &self.0,
            &[&data],
            chunked::ChunkedResponseOpener::push,
        )
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        finish_opener(py, false, &self.0, chunked::ChunkedResponseOpener::finish)
    }
}

/// Gateway: opens a request of the form its `Content-Type` names.
#[pyclass(frozen, module = "openpcc.ohttp", name = "RequestOpener")]
struct PyRequestOpener(Mutex<stream::RequestOpener>, Answered);

#[pymethods]
impl PyRequestOpener {
    #[new]
    #[pyo3(signature = (gateway_key, media_type, *, max_chunk_len=16384))]
    fn new(gateway_key: &PyGatewayKey, media_type: &str, max_chunk_len: usize) -> PyResult<Self> {
        let opener =
            stream::RequestOpener::for_media_type(gateway_key.0.clone(), media_type, max_chunk_len)
                .map_err(to_py_err)?;
        Ok(Self(Mutex::new(opener), Answered::default()))
    }

    #[getter]
    fn chunked(&self) -> PyResult<bool> {
        Ok(lock(&self.0)?.form() == Form::Chunked)
    }

    #[getter]
    fn response_context(&self) -> PyResult<Option<PyResponseContext>> {
        Ok(lock(&self.0)?
            .response_context()
            .cloned()
            .map(|ctx| PyResponseContext::new(ctx, &self.1)))
    }

    fn feed<'py>(&self, py: Python<'py>, data: BytesIn) -> PyResult<Bound<'py, PyList>> {
        let heavy = {
            let opener = lock(&self.0)?;
            opener.form() == Form::Chunked && opener.response_context().is_none()
        } || data.len() >= DETACH_THRESHOLD;
        feed_stream(py, heavy, &self.0, &[&data], stream::RequestOpener::push)
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        // A plain request is decapsulated here (HPKE setup included).
        let heavy = lock(&self.0)?.form() == Form::Plain;
        finish_opener(py, heavy, &self.0, stream::RequestOpener::finish)
    }
}

impl PyResponseSealer {
    fn create(
        response_context: &PyResponseContext,
        chunked: bool,
        options: SealerOptions,
        response_nonce: Option<&[u8]>,
    ) -> PyResult<Self> {
        let form = if chunked { Form::Chunked } else { Form::Plain };
        let inner = response_context
            .answer(|ctx| stream::ResponseSealer::new(ctx, form, options, response_nonce))?;
        Ok(Self(Mutex::new(inner)))
    }
}

/// Gateway: seals a response in the form the caller picks.
#[pyclass(frozen, module = "openpcc.ohttp", name = "ResponseSealer")]
struct PyResponseSealer(Mutex<stream::ResponseSealer>);

#[pymethods]
impl PyResponseSealer {
    #[new]
    #[pyo3(signature = (response_context, *, chunked, fixed_chunk_len=None, max_chunk_len=4096))]
    fn new(
        response_context: &PyResponseContext,
        chunked: bool,
        fixed_chunk_len: Option<usize>,
        max_chunk_len: usize,
    ) -> PyResult<Self> {
        Self::create(
            response_context,
            chunked,
            sealer_options(fixed_chunk_len, max_chunk_len),
            None,
        )
    }

    #[getter]
    fn media_type(&self) -> PyResult<&'static str> {
        Ok(lock(&self.0)?.media_type())
    }

    #[getter]
    fn chunked(&self) -> PyResult<bool> {
        Ok(lock(&self.0)?.form() == Form::Chunked)
    }

    fn feed<'py>(&self, py: Python<'py>, data: BytesIn) -> PyResult<Bound<'py, PyList>> {
        feed_stream(
            py,
            data.len() >= DETACH_THRESHOLD,
            &self.0,
            &[&data],
            stream::ResponseSealer::push,
        )
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        finish_sealer(py, true, &self.0, stream::ResponseSealer::finish)
    }
}

/// Client: opens a response of the form its `Content-Type` names.
#[pyclass(frozen, module = "openpcc.ohttp", name = "ResponseOpener")]
struct PyResponseOpener(Mutex<stream::ResponseOpener>);

#[pymethods]
impl PyResponseOpener {
    #[new]
    #[pyo3(signature = (client_context, media_type, *, max_chunk_len=16384))]
    fn new(
        client_context: &PyClientContext,
        media_type: &str,
        max_chunk_len: usize,
    ) -> PyResult<Self> {
        let opener = stream::ResponseOpener::for_media_type(
            client_context.0.clone(),
            media_type,
            max_chunk_len,
        )
        .map_err(to_py_err)?;
        Ok(Self(Mutex::new(opener)))
    }

    #[getter]
    fn chunked(&self) -> PyResult<bool> {
        Ok(lock(&self.0)?.form() == Form::Chunked)
    }

    fn feed<'py>(&self, py: Python<'py>, data: BytesIn) -> PyResult<Bound<'py, PyList>> {
        feed_stream(
            py,
            data.len() >= DETACH_THRESHOLD,
            &self.0,
            &[&data],
            stream::ResponseOpener::push,
        )
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        finish_opener(py, true, &self.0, stream::ResponseOpener::finish)
    }
}

// ---------------------------------------------------------------- test hooks (known-answer vectors only)

/// Test hook: `encapsulate_request` with a chosen ephemeral secret key.
#[pyfunction]
fn _encapsulate_request_with_ephemeral<'py>(
    py: Python<'py>,
    key_config: &PyKeyConfig,
    message: BytesIn,
    ephemeral_secret_key: SecretIn,
) -> PyResult<(Bound<'py, PyBytes>, PyClientContext)> {
    encapsulate_request_from(
        py,
        key_config,
        &message,
        Ephemeral::SecretKey(&ephemeral_secret_key),
    )
}

/// Test hook: a `ChunkedRequestSealer` with a chosen ephemeral secret key.
#[pyfunction]
#[pyo3(signature = (key_config, ephemeral_secret_key, *, fixed_chunk_len=None, max_chunk_len=4096))]
fn _chunked_request_sealer_with_ephemeral(
    py: Python<'_>,
    key_config: &PyKeyConfig,
    ephemeral_secret_key: SecretIn,
    fixed_chunk_len: Option<usize>,
    max_chunk_len: usize,
) -> PyResult<PyChunkedRequestSealer> {
    let options = sealer_options(fixed_chunk_len, max_chunk_len);
    PyChunkedRequestSealer::create(
        py,
        key_config,
        options,
        Ephemeral::SecretKey(&ephemeral_secret_key),
    )
}

/// Test hook: `ResponseContext.encapsulate_response` with a chosen response nonce (it still answers once).
#[pyfunction]
fn _encapsulate_response_with_nonce<'py>(
    py: Python<'py>,
    response_context: &PyResponseContext,
    message: BytesIn,
    response_nonce: BytesIn,
) -> PyResult<Bound<'py, PyBytes>> {
    response_context.encapsulate(py, &message, Some(&response_nonce))
}

/// Test hook: a `ChunkedResponseSealer` with a chosen response nonce.
#[pyfunction]
#[pyo3(signature = (response_context, response_nonce, *, fixed_chunk_len=None, max_chunk_len=4096))]
fn _chunked_response_sealer_with_nonce(
    response_context: &PyResponseContext,
    response_nonce: BytesIn,
    fixed_chunk_len: Option<usize>,
    max_chunk_len: usize,
) -> PyResult<PyChunkedResponseSealer> {
    PyChunkedResponseSealer::create(
        response_context,
        sealer_options(fixed_chunk_len, max_chunk_len),
        Some(&response_nonce),
    )
}

/// Test hook: a `ResponseSealer` with a chosen response nonce.
#[pyfunction]
#[pyo3(signature = (response_context, response_nonce, *, chunked, fixed_chunk_len=None, max_chunk_len=4096))]
fn _response_sealer_with_nonce(
    response_context: &PyResponseContext,
    response_nonce: BytesIn,
    chunked: bool,
    fixed_chunk_len: Option<usize>,
    max_chunk_len: usize,
) -> PyResult<PyResponseSealer> {
    PyResponseSealer::create(
        response_context,
        chunked,
        sealer_options(fixed_chunk_len, max_chunk_len),
        Some(&response_nonce),
    )
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyKeyConfig>()?;
    m.add_class::<PyGatewayKey>()?;
    m.add_class::<PyResponseContext>()?;
    m.add_class::<PyClientContext>()?;
    m.add_class::<PyChunkedRequestSealer>()?;
    m.add_class::<PyChunkedRequestOpener>()?;
    m.add_class::<PyChunkedResponseSealer>()?;
    m.add_class::<PyChunkedResponseOpener>()?;
    m.add_class::<PyRequestOpener>()?;
    m.add_class::<PyResponseSealer>()?;
    m.add_class::<PyResponseOpener>()?;
    m.add_function(wrap_pyfunction!(encode_key_configs, m)?)?;
    m.add_function(wrap_pyfunction!(decode_key_configs, m)?)?;
    m.add_function(wrap_pyfunction!(encapsulate_request, m)?)?;
    m.add_function(wrap_pyfunction!(_encapsulate_request_with_ephemeral, m)?)?;
    m.add_function(wrap_pyfunction!(_chunked_request_sealer_with_ephemeral, m)?)?;
    m.add_function(wrap_pyfunction!(_encapsulate_response_with_nonce, m)?)?;
    m.add_function(wrap_pyfunction!(_chunked_response_sealer_with_nonce, m)?)?;
    m.add_function(wrap_pyfunction!(_response_sealer_with_nonce, m)?)?;
    m.add(
        "DEFAULT_MAX_REQUEST_CHUNK",
        openpcc_ohttp::DEFAULT_MAX_REQUEST_CHUNK,
    )?;
    m.add(
        "DEFAULT_MAX_RESPONSE_CHUNK",
        openpcc_ohttp::DEFAULT_MAX_RESPONSE_CHUNK,
    )?;
    m.add(
        "REFERENCE_MAX_REQUEST_CHUNK",
        openpcc_ohttp::REFERENCE_MAX_REQUEST_CHUNK,
    )?;
    m.add(
        "DEFAULT_SEAL_CHUNK_LEN",
        openpcc_ohttp::DEFAULT_SEAL_CHUNK_LEN,
    )?;
    m.add("REQUEST_MEDIA_TYPE", openpcc_ohttp::REQUEST_MEDIA_TYPE)?;
    m.add("RESPONSE_MEDIA_TYPE", openpcc_ohttp::RESPONSE_MEDIA_TYPE)?;
    m.add(
        "CHUNKED_REQUEST_MEDIA_TYPE",
        openpcc_ohttp::CHUNKED_REQUEST_MEDIA_TYPE,
    )?;
    m.add(
        "CHUNKED_RESPONSE_MEDIA_TYPE",
        openpcc_ohttp::CHUNKED_RESPONSE_MEDIA_TYPE,
    )?;
    m.add("REFERENCE_CHUNK_LEN", openpcc_ohttp::REFERENCE_CHUNK_LEN)?;
    Ok(())
}
