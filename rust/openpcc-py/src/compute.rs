//! `openpcc._openpcc.compute`: the compute layer (multi-recipient requests, responses, token streams).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use openpcc_compute::{self as core, Framing, Padding};
use openpcc_hpke::SecretKey;
use prost::Message;
use pyo3::import_exception;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zeroize::Zeroizing;

use crate::buffers::{BytesIn, SecretIn};

import_exception!(openpcc.exceptions, ComputeError);
import_exception!(openpcc.exceptions, ComputeDecryptError);
import_exception!(openpcc.exceptions, ComputeUnwrapError);
import_exception!(openpcc.exceptions, ComputeMalformedError);
import_exception!(openpcc.exceptions, ComputeTruncatedError);
import_exception!(openpcc.exceptions, ComputeTrailingDataError);
import_exception!(openpcc.exceptions, ComputeChunkTooLargeError);
import_exception!(openpcc.exceptions, ComputeLimitError);
import_exception!(openpcc.exceptions, UnsupportedMediaTypeError);
import_exception!(openpcc.exceptions, UnknownNodeError);
import_exception!(openpcc.exceptions, ComputeStateError);
import_exception!(openpcc.exceptions, ComputeArgumentError);

/// Bodies above this many bytes are processed without holding the GIL.
const DETACH_THRESHOLD: usize = 4096;

/// Runs `work` without the GIL when `len` bytes make it worth it.
fn maybe_detach<T: Send>(py: Python<'_>, len: usize, work: impl FnOnce() -> T + Send) -> T {
    if len > DETACH_THRESHOLD {
        py.detach(work)
    } else {
        work()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ComputeRequest>()?;
    m.add_class::<NodeRequest>()?;
    m.add_class::<ResponseOpener>()?;
    m.add_class::<TokenStreamSealer>()?;
    m.add_class::<TokenStreamOpener>()?;
    m.add_function(wrap_pyfunction!(seal_request, m)?)?;
    m.add_function(wrap_pyfunction!(_seal_request_with, m)?)?;
    m.add_function(wrap_pyfunction!(_seal_response_with, m)?)?;
    m.add_function(wrap_pyfunction!(_token_stream_sealer_with, m)?)?;
    m.add_function(wrap_pyfunction!(encode_compute_request_info, m)?)?;
    m.add_function(wrap_pyfunction!(decode_compute_request_info, m)?)?;
    m.add_function(wrap_pyfunction!(message_names, m)?)?;
    m.add_function(wrap_pyfunction!(_encode_message_json, m)?)?;
    m.add_function(wrap_pyfunction!(_decode_message_json, m)?)?;
    m.add_function(wrap_pyfunction!(_take_padding_request, m)?)?;
    m.add_function(wrap_pyfunction!(refund_amount_trailer, m)?)?;
    m.add_function(wrap_pyfunction!(parse_refund_amount_trailer, m)?)?;
    m.add("PADDING_HEADER", core::PADDING_HEADER)?;
    m.add("PADDING_FIXED", core::padding_request::PADDING_FIXED)?;
    m.add("REFUND_AMOUNT_TRAILER", core::REFUND_AMOUNT_TRAILER)?;
    m.add(
        "CURRENCY_SIGNIFICANT_BITS",
        core::refund::CURRENCY_SIGNIFICANT_BITS,
    )?;
    m.add("REQUEST", core::media::REQUEST)?;
    m.add("CHUNKED_REQUEST", core::media::CHUNKED_REQUEST)?;
    m.add("RESPONSE", core::media::RESPONSE)?;
    m.add("CHUNKED_RESPONSE", core::media::CHUNKED_RESPONSE)?;
    m.add("MAX_CHUNK_PLAINTEXT", core::media::MAX_CHUNK_PLAINTEXT)?;
    m.add("ENCAPSULATED_KEY_LEN", core::request::ENCAPSULATED_KEY_LEN)?;
    m.add("DEFAULT_FRAME", core::stream::DEFAULT_FRAME)?;
    m.add(
        "DEFAULT_MAX_DELAY_MS",
        core::stream::DEFAULT_MAX_DELAY.as_secs_f64() * 1000.0,
    )?;
    Ok(())
}

fn err(e: core::Error) -> PyErr {
    use core::Error as E;
    let msg = e.to_string();
    match e {
        E::Decrypt => ComputeDecryptError::new_err(msg),
        E::UnwrapFailed => ComputeUnwrapError::new_err(msg),
        E::HeaderMismatch | E::Malformed(_) => ComputeMalformedError::new_err(msg),
        E::Truncated => ComputeTruncatedError::new_err(msg),
        E::TrailingData => ComputeTrailingDataError::new_err(msg),
        E::ChunkTooLarge => ComputeChunkTooLargeError::new_err(msg),
        E::Limit(_) => ComputeLimitError::new_err(msg),
        E::UnsupportedMediaType => UnsupportedMediaTypeError::new_err(msg),
        E::UnknownNode => UnknownNodeError::new_err(msg),
        E::Finished => ComputeStateError::new_err(msg),
        E::InvalidArgument(_)
        | E::Hpke(openpcc_hpke::Error::InvalidKey | openpcc_hpke::Error::InvalidInput(_)) => {
            ComputeArgumentError::new_err(msg)
        }
        _ => ComputeError::new_err(msg),
    }
}

fn framing_of(chunked: bool) -> Framing {
    if chunked {
        Framing::Chunked
    } else {
        Framing::Unchunked
    }
}

fn fixed<const N: usize>(b: &[u8], what: &'static str) -> PyResult<[u8; N]> {
    b.try_into()
        .map_err(|_| err(core::Error::InvalidArgument(what)))
}

/// The default clock: nanoseconds since the first use, monotonic.
fn now(now_ns: Option<u64>) -> Duration {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    match now_ns {
        Some(ns) => Duration::from_nanos(ns),
        None => EPOCH.get_or_init(Instant::now).elapsed(),
    }
}

type Fields = Vec<(Vec<u8>, Vec<u8>)>;
/// Header or trailer fields as passed in: `(name, value)` pairs of bytes-like objects.
type FieldsIn = Vec<(BytesIn, BytesIn)>;

fn owned_fields(fields: FieldsIn) -> Fields {
    fields
        .into_iter()
        .map(|(n, v)| (n.into_vec(), v.into_vec()))
        .collect()
}

/// Candidates as passed in: `(node_id, public_key)` pairs.
type CandidatesIn = Vec<(String, BytesIn)>;

fn candidate_refs(candidates: &[(String, BytesIn)]) -> impl Iterator<Item = (&str, &[u8])> {
    candidates.iter().map(|(i, k)| (i.as_str(), &**k))
}

fn fields_to_py<'py>(
    py: Python<'py>,
    fields: &[(Vec<u8>, Vec<u8>)],
) -> Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    fields
        .iter()
        .map(|(n, v)| (PyBytes::new(py, n), PyBytes::new(py, v)))
        .collect()
}

fn chunks_to_py(py: Python<'_>, chunks: Vec<Vec<u8>>) -> Vec<Bound<'_, PyBytes>> {
    chunks.iter().map(|c| PyBytes::new(py, c)).collect()
}

// ---------------------------------------------------------------- client

/// A request sealed once for several candidate nodes; opens the response of whichever node served it.
#[pyclass(frozen, module = "openpcc._openpcc.compute")]
struct ComputeRequest(core::ComputeRequest);

#[pymethods]
impl ComputeRequest {
    /// `application/confsec-req` or `application/confsec-chunked-req`.
    #[getter]
    fn media_type(&self) -> &'static str {
        self.0.media_type()
    }

    /// The sealed body (the same for every candidate).
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.body())
    }

    /// `[(node_id, encapsulated_key)]`, in candidate order.
    #[getter]
    fn encapsulated_keys<'py>(&self, py: Python<'py>) -> Vec<(String, Bound<'py, PyBytes>)> {
        self.0
            .encapsulated_keys()
            .map(|(id, k)| (id.to_owned(), PyBytes::new(py, k)))
            .collect()
    }

    /// The serialized `ComputeRequestInfo` for `X-Routing-Info` (base64 it for the header).
    #[getter]
    fn routing_info<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.routing_info())
    }

    /// An incremental opener for the response of `node_id` (the router's `X-Node-ID`).
    fn response_opener(&self, node_id: &str, media_type: &str) -> PyResult<ResponseOpener> {
        Ok(ResponseOpener(Some(
            self.0.response_opener(node_id, media_type).map_err(err)?,
        )))
    }

    /// Opens a whole response body of `node_id`.
    fn open_response<'py>(
        &self,
        py: Python<'py>,
        node_id: &str,
        media_type: &str,
        body: BytesIn,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let body = &*body;
        let opener = self.0.response_opener(node_id, media_type).map_err(err)?;
        let Some(len) = opener.plaintext_len(body) else {
            // Malformed: the incremental path names the fault.
            let pt = maybe_detach(py, body.len(), || opener.open_all(body)).map_err(err)?;
            return Ok(PyBytes::new(py, &pt));
        };
        // Decrypt straight into the result: a second large buffer and copy cost more than the AEAD.
        PyBytes::new_with(py, len, |out| {
            maybe_detach(py, body.len(), || opener.open_all_into(body, out)).map_err(err)
        })
    }

    /// A token-stream opener for the (chunked) response of `node_id`.
    fn token_stream_opener(&self, node_id: &str) -> PyResult<TokenStreamOpener> {
        let opener = self
            .0
            .response_opener(node_id, core::media::CHUNKED_RESPONSE)
            .map_err(err)?;
        Ok(TokenStreamOpener(Some(
            core::TokenStreamOpener::new(opener).map_err(err)?,
        )))
    }

    fn __repr__(&self) -> String {
        format!(
            "ComputeRequest(media_type={:?}, candidates={})",
            self.0.media_type(),
            self.0.encapsulated_keys().count()
        )
    }
}

/// Seals `plaintext` (a BHTTP request, padded to 514) for `candidates` = `[(node_id, public_key)]`.
#[pyfunction]
#[pyo3(signature = (plaintext, candidates, *, chunked = false))]
fn seal_request(
    py: Python<'_>,
    plaintext: BytesIn,
    candidates: CandidatesIn,
    chunked: bool,
) -> PyResult<ComputeRequest> {
    let run =
        || core::ComputeRequest::seal(framing_of(chunked), &plaintext, candidate_refs(&candidates));
    // Each candidate costs two P-256 scalar multiplications: always worth releasing the GIL.
    Ok(ComputeRequest(py.detach(run).map_err(err)?))
}

/// Test seam: deterministic DEK, body nonce and one ephemeral seed per candidate (never in production).
#[pyfunction]
#[pyo3(signature = (pieces, candidates, media_type, dek, body_nonce, ikm_e))]
fn _seal_request_with(
    pieces: Vec<BytesIn>,
    candidates: CandidatesIn,
    media_type: &str,
    dek: SecretIn,
    body_nonce: BytesIn,
    ikm_e: Vec<SecretIn>,
) -> PyResult<ComputeRequest> {
    let framing = Framing::of_request(media_type).map_err(err)?;
    if ikm_e.len() != candidates.len() {
        return Err(err(core::Error::InvalidArgument("one ikm_e per candidate")));
    }
    if dek.len() != 32 {
        return Err(err(core::Error::InvalidArgument("dek must be 32 bytes")));
    }
    let mut dek_array = Zeroizing::new([0u8; 32]);
    dek_array.copy_from_slice(&dek);
    let refs: Vec<&[u8]> = pieces.iter().map(|p| &**p).collect();
    let sealed = core::SealedRequest::seal_with(
        framing,
        &refs,
        &dek_array,
        fixed::<12>(&body_nonce, "body nonce must be 12 bytes")?,
    )
    .map_err(err)?;
    let mut ikms = ikm_e.iter();
    let req = core::ComputeRequest::for_candidates(sealed, candidate_refs(&candidates), |s, pk| {
        s.encapsulate_key_with(pk, ikms.next().map(|k| &**k).unwrap_or_default())
    })
    .map_err(err)?;
    Ok(ComputeRequest(req))
}

/// Incrementally opens one response body.
#[pyclass(module = "openpcc._openpcc.compute")]
struct ResponseOpener(Option<core::ResponseOpener>);

#[pymethods]
impl ResponseOpener {
    /// Feeds body bytes; returns the plaintext of each chunk they complete.
    fn feed<'py>(&mut self, py: Python<'py>, data: BytesIn) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let opener = self.0.as_mut().ok_or_else(|| err(core::Error::Finished))?;
        Ok(chunks_to_py(py, opener.push(&data).map_err(err)?))
    }

    /// End of body: the unchunked plaintext or the final chunk's plaintext.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let opener = self.0.take().ok_or_else(|| err(core::Error::Finished))?;
        Ok(PyBytes::new(py, &opener.finish().map_err(err)?))
    }
}

// ---------------------------------------------------------------- node

/// A request whose data key this node unwrapped; opens the body and keys the response, at most once: a
/// second response (`seal_response`, `token_stream_sealer` or a test hook) raises `ComputeStateError`.
#[pyclass(frozen, module = "openpcc._openpcc.compute")]
struct NodeRequest {
    inner: core::NodeRequest,
    answered: AtomicBool,
}

impl NodeRequest {
    fn new(inner: core::NodeRequest) -> Self {
        Self {
            inner,
            answered: AtomicBool::new(false),
        }
    }

    /// Runs `seal` as this request's one response (a first attempt refused for its arguments does not count).
    fn answer<R>(
        &self,
        seal: impl FnOnce(&core::NodeRequest) -> Result<R, core::Error>,
    ) -> PyResult<R> {
        if self.answered.swap(true, Ordering::AcqRel) {
            return Err(ComputeStateError::new_err(
                "this request was already answered: a node request answers at most once",
            ));
        }
        seal(&self.inner).map_err(|e| {
            self.answered.store(false, Ordering::Release);
            err(e)
        })
    }
}

#[pymethods]
impl NodeRequest {
    /// Unwraps the data key with the node's P-256 request-encryption secret key (32 bytes).
    #[staticmethod]
    fn unwrap(
        py: Python<'_>,
        media_type: &str,
        encapsulated_key: BytesIn,
        secret_key: SecretIn,
    ) -> PyResult<Self> {
        let sk = SecretKey::from_bytes(core::SUITE.kem, &secret_key).map_err(|e| err(e.into()))?;
        let req = py
            .detach(|| core::NodeRequest::unwrap(media_type, &encapsulated_key, &sk))
            .map_err(err)?;
        Ok(Self::new(req))
    }

    /// Unwraps the data key when the ECDH runs elsewhere (a TPM): `dh(enc: bytes) -> bytes` returns the
    /// 32-byte x-coordinate of `sk_R * enc`; `public_key` is the node's 65-byte public key.
    #[staticmethod]
    fn unwrap_external(
        media_type: &str,
        encapsulated_key: BytesIn,
        public_key: BytesIn,
        dh: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let mut py_error: Option<PyErr> = None;
        let result =
            core::NodeRequest::unwrap_external(media_type, &encapsulated_key, &public_key, |enc| {
                let out = dh
                    .call1((PyBytes::new(dh.py(), enc),))
                    // The shared secret is copied once; its allocation then passes to the core.
                    .and_then(|r| {
                        r.extract::<SecretIn>()
                            .map(|s| std::mem::take(&mut *s.into_inner()))
                    });
                out.map_err(|e| {
                    py_error = Some(e);
                    openpcc_hpke::Error::ExternalDh
                })
            });
        match (result, py_error) {
            (Ok(req), _) => Ok(Self::new(req)),
            (Err(_), Some(e)) => Err(e), // the callback's own exception, unchanged
            (Err(e), None) => Err(err(e)),
        }
    }

    /// `application/confsec-req` or `application/confsec-chunked-req`.
    #[getter]
    fn media_type(&self) -> &'static str {
        self.inner.framing().request_media_type()
    }

    /// Opens the whole body; nothing is returned unless all of it authenticates.
    fn open_body<'py>(&self, py: Python<'py>, body: BytesIn) -> PyResult<Bound<'py, PyBytes>> {
        let body = &*body;
        let Some(len) = self.inner.body_plaintext_len(body) else {
            // Malformed: the incremental path names the fault.
            let pt = maybe_detach(py, body.len(), || self.inner.open_body(body)).map_err(err)?;
            return Ok(PyBytes::new(py, &pt));
        };
        // Decrypt straight into the result: a second large buffer and copy cost more than the AEAD.
        PyBytes::new_with(py, len, |out| {
            maybe_detach(py, body.len(), || self.inner.open_body_into(body, out)).map_err(err)
        })
    }

    /// Seals a whole response (chunked: cut into 514-byte chunks, then the empty final chunk).
    #[pyo3(signature = (plaintext, *, chunked = true))]
    fn seal_response<'py>(
        &self,
        py: Python<'py>,
        plaintext: BytesIn,
        chunked: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let plaintext = &*plaintext;
        let run = || {
            self.answer(|node| {
                let sealer = node.response_sealer(framing_of(chunked))?;
                if chunked {
                    sealer.seal_chunked([plaintext])
                } else {
                    sealer.seal_unchunked(plaintext)
                }
            })
        };
        let body = maybe_detach(py, plaintext.len(), run)?;
        Ok(PyBytes::new(py, &body))
    }

    /// A token-stream sealer for a chunked response. `padding` is `"fixed"` (default: every chunk carries
    /// `frame` bytes, flushed within `max_delay_ms`) or `"per-piece"` (the reference's chunking); a node
    /// takes it from the request with `take_padding_request`. Trailers must be announced in `headers`.
    #[pyo3(signature = (status = 200, headers = Vec::new(), *, padding = "fixed", frame = core::stream::DEFAULT_FRAME, max_delay_ms = 20.0, now_ns = None))]
    fn token_stream_sealer(
        &self,
        status: u16,
        headers: FieldsIn,
        padding: &str,
        frame: usize,
        max_delay_ms: f64,
        now_ns: Option<u64>,
    ) -> PyResult<TokenStreamSealer> {
        let padding = parse_padding(padding, frame, max_delay_ms)?;
        let headers = owned_fields(headers);
        self.answer(|inner| {
            token_stream(
                inner.response_sealer(Framing::Chunked)?,
                status,
                &headers,
                padding,
                now_ns,
            )
        })
    }
}

/// Test hook: `NodeRequest.seal_response` with a chosen nonce, one chunk per piece (never in production).
#[pyfunction]
fn _seal_response_with<'py>(
    py: Python<'py>,
    node: &NodeRequest,
    pieces: Vec<BytesIn>,
    media_type: &str,
    response_nonce: BytesIn,
) -> PyResult<Bound<'py, PyBytes>> {
    let framing = Framing::of_response(media_type).map_err(err)?;
    let nonce = fixed::<16>(&response_nonce, "response nonce must be 16 bytes")?;
    let body = node.answer(|inner| {
        let sealer = inner.response_sealer_with(framing, nonce)?;
        match framing {
            Framing::Unchunked => sealer.seal_unchunked(
                &pieces
                    .iter()
                    .flat_map(|p| p.iter().copied())
                    .collect::<Vec<u8>>(),
            ),
            Framing::Chunked => sealer.seal_chunked(pieces.iter().map(|p| &**p)),
        }
    })?;
    Ok(PyBytes::new(py, &body))
}

/// Test hook: `NodeRequest.token_stream_sealer` with a chosen response nonce (never in production).
#[pyfunction]
#[pyo3(signature = (node, response_nonce, status = 200, headers = Vec::new(), *, padding = "fixed", frame = core::stream::DEFAULT_FRAME, max_delay_ms = 20.0, now_ns = None))]
#[allow(clippy::too_many_arguments)]
fn _token_stream_sealer_with(
    node: &NodeRequest,
    response_nonce: BytesIn,
    status: u16,
    headers: FieldsIn,
    padding: &str,
    frame: usize,
    max_delay_ms: f64,
    now_ns: Option<u64>,
) -> PyResult<TokenStreamSealer> {
    let nonce = fixed::<16>(&response_nonce, "response nonce must be 16 bytes")?;
    let padding = parse_padding(padding, frame, max_delay_ms)?;
    let headers = owned_fields(headers);
    node.answer(|inner| {
        token_stream(
            inner.response_sealer_with(Framing::Chunked, nonce)?,
            status,
            &headers,
            padding,
            now_ns,
        )
    })
}

fn parse_padding(padding: &str, frame: usize, max_delay_ms: f64) -> PyResult<Padding> {
    match padding {
        "fixed" => {
            if !(0.0..=60_000.0).contains(&max_delay_ms) {
                return Err(err(core::Error::InvalidArgument(
                    "max_delay_ms must be 0..=60000",
                )));
            }
            Ok(Padding::Fixed {
                frame,
                max_delay: Duration::from_secs_f64(max_delay_ms / 1000.0),
            })
        }
        "per-piece" => Ok(Padding::PerPiece),
        _ => Err(err(core::Error::InvalidArgument(
            "padding must be 'fixed' or 'per-piece'",
        ))),
    }
}

fn token_stream(
    sealer: core::ResponseSealer,
    status: u16,
    headers: &[(Vec<u8>, Vec<u8>)],
    padding: Padding,
    now_ns: Option<u64>,
) -> Result<TokenStreamSealer, core::Error> {
    core::TokenStreamSealer::new(sealer, status, headers, padding, now(now_ns))
        .map(TokenStreamSealer)
}

/// Node side of a token stream: pieces in, wire chunks out.
#[pyclass(module = "openpcc._openpcc.compute")]
struct TokenStreamSealer(core::TokenStreamSealer);

#[pymethods]
impl TokenStreamSealer {
    /// The 16-byte response nonce that starts the body.
    #[getter]
    fn response_nonce<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.response_nonce())
    }

    /// Chunks to send right away (the head under "per-piece"; nothing under "fixed").
    fn start<'py>(&mut self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        Ok(chunks_to_py(py, self.0.start().map_err(err)?))
    }

    /// Adds a token piece; returns the wire chunks ready now.
    #[pyo3(signature = (piece, now_ns = None))]
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        piece: BytesIn,
        now_ns: Option<u64>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        Ok(chunks_to_py(
            py,
            self.0.push(&piece, now(now_ns)).map_err(err)?,
        ))
    }

    /// Flushes (padded) if the deadline passed; returns the wire chunks.
    #[pyo3(signature = (now_ns = None))]
    fn poll<'py>(
        &mut self,
        py: Python<'py>,
        now_ns: Option<u64>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        Ok(chunks_to_py(py, self.0.poll(now(now_ns)).map_err(err)?))
    }

    /// The clock reading (ns) at which `poll` must next be called, or None when nothing is pending.
    #[getter]
    fn next_deadline_ns(&self) -> Option<u64> {
        self.0
            .next_deadline()
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Ends the body with `trailers` (each announced by a `trailer` header field at the start); returns the
    /// last chunks including the final one.
    #[pyo3(signature = (trailers = Vec::new()))]
    fn finish<'py>(
        &mut self,
        py: Python<'py>,
        trailers: FieldsIn,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let trailers = owned_fields(trailers);
        Ok(chunks_to_py(py, self.0.finish(&trailers).map_err(err)?))
    }
}

/// Client side of a token stream: wire bytes in, body bytes out as soon as each chunk authenticates.
#[pyclass(module = "openpcc._openpcc.compute")]
struct TokenStreamOpener(Option<core::TokenStreamOpener>);

#[pymethods]
impl TokenStreamOpener {
    /// Feeds wire bytes; returns the body bytes they complete (filler removed).
    fn feed<'py>(&mut self, py: Python<'py>, data: BytesIn) -> PyResult<Bound<'py, PyBytes>> {
        let opener = self.0.as_mut().ok_or_else(|| err(core::Error::Finished))?;
        Ok(PyBytes::new(py, &opener.push(&data).map_err(err)?))
    }

    /// The response status once the head arrived.
    #[getter]
    fn status(&self) -> Option<u16> {
        self.0.as_ref().and_then(core::TokenStreamOpener::status)
    }

    /// The header fields received so far.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        self.0
            .as_ref()
            .map(|o| fields_to_py(py, o.headers()))
            .unwrap_or_default()
    }

    /// End of stream: `(last body bytes, trailers)`.
    #[allow(clippy::type_complexity)]
    fn finish<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<(
        Bound<'py, PyBytes>,
        Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>,
    )> {
        let opener = self.0.take().ok_or_else(|| err(core::Error::Finished))?;
        let end = opener.finish().map_err(err)?;
        Ok((PyBytes::new(py, &end.body), fields_to_py(py, &end.trailers)))
    }
}

// ---------------------------------------------------------------- padding request and refund

/// Node side: `(headers without X-Openpcc-Padding, padding)`, padding `"fixed"` when the client asked for
/// filler and `"per-piece"` (the reference's chunking) when it did not (used by
/// `openpcc.compute.take_padding_request`).
#[pyfunction]
fn _take_padding_request(headers: FieldsIn) -> PyResult<(Fields, &'static str)> {
    let mut headers = owned_fields(headers);
    let padding = core::take_padding_request(&mut headers).map_err(err)?;
    let name = match padding {
        Padding::Fixed { .. } => "fixed",
        Padding::PerPiece => "per-piece",
    };
    Ok((headers, name))
}

/// Node side: `(rounded amount, value)` of the outer `X-Refund-Amount` trailer for a refund of `amount`,
/// rounded down to `significant_bits` leading bits (5: the currency's own steps; fewer: coarser). The value
/// is empty (no refund) when the amount rounds to 0.
#[pyfunction]
#[pyo3(signature = (amount, *, significant_bits = core::refund::CURRENCY_SIGNIFICANT_BITS))]
fn refund_amount_trailer(amount: u64, significant_bits: u32) -> PyResult<(u64, String)> {
    core::refund_amount_trailer(amount, significant_bits).map_err(err)
}

/// Router side: the amount an `X-Refund-Amount` trailer value carries (0 when empty).
#[pyfunction]
fn parse_refund_amount_trailer(value: &str) -> PyResult<u64> {
    core::refund::parse_refund_amount_trailer(value).map_err(err)
}

// ---------------------------------------------------------------- protobuf

/// Serializes `ComputeRequestInfo{candidates: [ComputeCandidate{id, encapsulated_key}]}`.
#[pyfunction]
fn encode_compute_request_info(py: Python<'_>, candidates: CandidatesIn) -> Bound<'_, PyBytes> {
    let info = core::proto::ComputeRequestInfo {
        candidates: candidates
            .into_iter()
            .map(|(id, key)| core::proto::ComputeCandidate {
                id: Some(id),
                encapsulated_key: Some(key.into_vec()),
                ..Default::default()
            })
            .collect(),
    };
    PyBytes::new(py, &info.encode_to_vec())
}

/// Parses a `ComputeRequestInfo` into `[(id, encapsulated_key)]` (absent fields read as empty).
#[pyfunction]
fn decode_compute_request_info(
    py: Python<'_>,
    data: BytesIn,
) -> PyResult<Vec<(String, Bound<'_, PyBytes>)>> {
    let info = core::proto::ComputeRequestInfo::decode(&*data)
        .map_err(|_| err(core::Error::Malformed("ComputeRequestInfo protobuf")))?;
    Ok(info
        .candidates
        .into_iter()
        .map(|c| {
            (
                c.id.unwrap_or_default(),
                PyBytes::new(py, &c.encapsulated_key.unwrap_or_default()),
            )
        })
        .collect())
}

/// Every message of the schema (`proto/csprotos/*.proto`), by full name.
#[pyfunction]
fn message_names() -> PyResult<Vec<String>> {
    core::proto::message_names().map_err(err)
}

/// Serializes message `name` from its protobuf-JSON text (used by `openpcc.compute.encode_message`).
#[pyfunction]
fn _encode_message_json<'py>(
    py: Python<'py>,
    name: &str,
    json: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &core::proto::encode_json(name, json).map_err(err)?,
    ))
}

/// Parses message `name` into its protobuf-JSON text (used by `openpcc.compute.decode_message`).
#[pyfunction]
fn _decode_message_json(name: &str, data: BytesIn) -> PyResult<String> {
    core::proto::decode_json(name, &data).map_err(err)
}
