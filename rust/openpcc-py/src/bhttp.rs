//! `openpcc._openpcc.bhttp`: Binary HTTP (RFC 9292) messages over `openpcc-bhttp`.

use openpcc_bhttp as core;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::import_exception;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::buffers::BytesIn;

import_exception!(openpcc.exceptions, BHTTPDecodeError);
import_exception!(openpcc.exceptions, BHTTPTruncatedError);
import_exception!(openpcc.exceptions, BHTTPPaddingError);
import_exception!(openpcc.exceptions, BHTTPLimitError);
import_exception!(openpcc.exceptions, BHTTPEncodeError);
import_exception!(openpcc.exceptions, BHTTPStateError);

// The Python signatures spell the defaults as literals (so `inspect` and stubtest can read them).
const _: () = assert!(core::DEFAULT_MAX_SECTION_LEN == 16384);
const _: () = assert!(core::DEFAULT_MAX_ENCODED_CHUNK_LEN == 4096);

/// Inputs above this many bytes are encoded or decoded without holding the GIL.
const DETACH_THRESHOLD: usize = 4096;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Request>()?;
    m.add_class::<Response>()?;
    m.add_class::<InformationalResponse>()?;
    m.add_class::<Framed>()?;
    m.add_class::<StreamDecoder>()?;
    m.add_class::<Head>()?;
    m.add_class::<BodyChunk>()?;
    m.add_class::<Trailers>()?;
    m.add_class::<End>()?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(decode_request, m)?)?;
    m.add_function(wrap_pyfunction!(decode_response, m)?)?;
    m.add_function(wrap_pyfunction!(decode_framed, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_request, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_response, m)?)?;
    m.add("DEFAULT_MAX_HEADER_BYTES", core::DEFAULT_MAX_SECTION_LEN)?;
    m.add(
        "DEFAULT_MAX_ENCODED_CHUNK_LEN",
        core::DEFAULT_MAX_ENCODED_CHUNK_LEN,
    )?;
    Ok(())
}

fn decode_error(e: &core::DecodeError) -> PyErr {
    use core::DecodeError as E;
    let msg = e.to_string();
    match e {
        E::Truncated(_) => BHTTPTruncatedError::new_err(msg),
        E::NonZeroPadding { .. } => BHTTPPaddingError::new_err(msg),
        E::SectionTooLarge { .. } | E::ControlDataTooLong { .. } | E::LengthOverflow(_) => {
            BHTTPLimitError::new_err(msg)
        }
        E::Finished => BHTTPStateError::new_err(msg),
        _ => BHTTPDecodeError::new_err(msg),
    }
}

fn encode_error(e: &core::EncodeError) -> PyErr {
    BHTTPEncodeError::new_err(e.to_string())
}

// ---------------------------------------------------------------- conversions from Python

/// A bytes-like object (`bytes`, `bytearray`, `memoryview`) or `str` (UTF-8) to owned bytes: the
/// message classes own their fields, so this is the one copy.
fn bytes_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    obj.extract::<BytesIn>()
        .map(BytesIn::into_vec)
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must be a bytes-like object (bytes, bytearray, memoryview) or str"
            ))
        })
}

/// `bytes_arg` for an optional argument: `default` when it was not given.
fn bytes_or(obj: Option<&Bound<'_, PyAny>>, default: &[u8], what: &str) -> PyResult<Vec<u8>> {
    obj.map_or_else(|| Ok(default.to_vec()), |o| bytes_arg(o, what))
}

/// An iterable of `(name, value)` pairs, or a mapping, to fields.
fn fields_arg(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Vec<core::Field>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let items = if obj.hasattr("items")? {
        obj.call_method0("items")?
    } else {
        obj.clone()
    };
    let mut fields = Vec::new();
    for pair in items.try_iter()? {
        let pair = pair?;
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("{what} must hold (name, value) pairs")))?;
        fields.push(core::Field {
            name: bytes_arg(&name, "field name")?,
            value: bytes_arg(&value, "field value")?,
        });
    }
    Ok(fields)
}

fn fields_to_py<'py>(py: Python<'py>, fields: &[core::Field]) -> PyResult<Bound<'py, PyList>> {
    let pairs = fields
        .iter()
        .map(|f| PyTuple::new(py, [PyBytes::new(py, &f.name), PyBytes::new(py, &f.value)]));
    PyList::new(py, pairs.collect::<PyResult<Vec<_>>>()?)
}

fn status_arg(status: u32) -> PyResult<u16> {
    u16::try_from(status).map_err(|_| PyValueError::new_err("status must be below 65536"))
}

// ---------------------------------------------------------------- message classes

/// A binary HTTP request. Byte fields accept `bytes`, `bytearray` or `str` (UTF-8); fields are
/// `(name, value)` pairs in wire order (a mapping is accepted too).
#[pyclass(frozen, eq, hash, module = "openpcc.bhttp")]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct Request {
    inner: core::Request,
}

#[pymethods]
impl Request {
    #[new]
    #[allow(clippy::too_many_arguments)] // one keyword argument per attribute
    #[pyo3(signature = (method = None, scheme = None, authority = None, path = None, headers = None, content = None, trailers = None))]
    fn new(
        method: Option<&Bound<'_, PyAny>>,
        scheme: Option<&Bound<'_, PyAny>>,
        authority: Option<&Bound<'_, PyAny>>,
        path: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        trailers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self {
            inner: core::Request {
                method: bytes_or(method, b"GET", "method")?,
                scheme: bytes_or(scheme, b"https", "scheme")?,
                authority: bytes_or(authority, b"", "authority")?,
                path: bytes_or(path, b"/", "path")?,
                headers: fields_arg(headers, "headers")?,
                content: bytes_or(content, b"", "content")?,
                trailers: fields_arg(trailers, "trailers")?,
            },
        })
    }

    /// A copy with the given attributes replaced.
    #[allow(clippy::too_many_arguments)] // one keyword argument per attribute
    #[pyo3(signature = (*, method = None, scheme = None, authority = None, path = None, headers = None, content = None, trailers = None))]
    fn replace(
        &self,
        method: Option<&Bound<'_, PyAny>>,
        scheme: Option<&Bound<'_, PyAny>>,
        authority: Option<&Bound<'_, PyAny>>,
        path: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        trailers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut inner = self.inner.clone();
        for (slot, obj, what) in [
            (&mut inner.method, method, "method"),
            (&mut inner.scheme, scheme, "scheme"),
            (&mut inner.authority, authority, "authority"),
            (&mut inner.path, path, "path"),
            (&mut inner.content, content, "content"),
        ] {
            if let Some(o) = obj {
                *slot = bytes_arg(o, what)?;
            }
        }
        if headers.is_some() {
            inner.headers = fields_arg(headers, "headers")?;
        }
        if trailers.is_some() {
            inner.trailers = fields_arg(trailers, "trailers")?;
        }
        Ok(Self { inner })
    }

    #[getter]
    fn method<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.method)
    }
    #[getter]
    fn scheme<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.scheme)
    }
    #[getter]
    fn authority<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.authority)
    }
    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.path)
    }
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        fields_to_py(py, &self.inner.headers)
    }
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.content)
    }
    #[getter]
    fn trailers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        fields_to_py(py, &self.inner.trailers)
    }

    // Sizes only: paths, values and content may be private.
    fn __repr__(&self) -> String {
        let r = &self.inner;
        format!(
            "Request(method=<{} bytes>, path=<{} bytes>, headers=<{} fields>, content=<{} bytes>, trailers=<{} fields>)",
            r.method.len(),
            r.path.len(),
            r.headers.len(),
            r.content.len(),
            r.trailers.len()
        )
    }
}

/// An informational (1xx) response carried before a final response.
#[pyclass(frozen, eq, hash, module = "openpcc.bhttp")]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct InformationalResponse {
    inner: core::InformationalResponse,
}

#[pymethods]
impl InformationalResponse {
    #[new]
    #[pyo3(signature = (status, fields = None))]
    fn new(status: u32, fields: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        Ok(Self {
            inner: core::InformationalResponse {
                status: status_arg(status)?,
                fields: fields_arg(fields, "fields")?,
            },
        })
    }
    #[getter]
    fn status(&self) -> u16 {
        self.inner.status
    }
    #[getter]
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        fields_to_py(py, &self.inner.fields)
    }
    fn __repr__(&self) -> String {
        format!(
            "InformationalResponse(status={}, fields=<{} fields>)",
            self.inner.status,
            self.inner.fields.len()
        )
    }
}

/// A binary HTTP response: informational responses, then a final status, fields and content.
#[pyclass(frozen, eq, hash, module = "openpcc.bhttp")]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct Response {
    inner: core::Response,
}

fn informational_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<core::InformationalResponse>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in obj.try_iter()? {
        let item = item?;
        if let Ok(info) = item.cast::<InformationalResponse>() {
            out.push(info.get().inner.clone());
        } else {
            let (status, fields): (u32, Bound<'_, PyAny>) = item.extract().map_err(|_| {
                PyTypeError::new_err(
                    "informational must hold InformationalResponse or (status, fields) items",
                )
            })?;
            out.push(core::InformationalResponse {
                status: status_arg(status)?,
                fields: fields_arg(Some(&fields), "fields")?,
            });
        }
    }
    Ok(out)
}

#[pymethods]
impl Response {
    #[new]
    #[pyo3(signature = (status = 200, headers = None, content = None, trailers = None, informational = None))]
    fn new(
        status: u32,
        headers: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        trailers: Option<&Bound<'_, PyAny>>,
        informational: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(Self {
            inner: core::Response {
                informational: informational_arg(informational)?,
                status: status_arg(status)?,
                headers: fields_arg(headers, "headers")?,
                content: bytes_or(content, b"", "content")?,
                trailers: fields_arg(trailers, "trailers")?,
            },
        })
    }

    /// A copy with the given attributes replaced.
    #[pyo3(signature = (*, status = None, headers = None, content = None, trailers = None, informational = None))]
    fn replace(
        &self,
        status: Option<u32>,
        headers: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        trailers: Option<&Bound<'_, PyAny>>,
        informational: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut inner = self.inner.clone();
        if let Some(s) = status {
            inner.status = status_arg(s)?;
        }
        if headers.is_some() {
            inner.headers = fields_arg(headers, "headers")?;
        }
        if let Some(c) = content {
            inner.content = bytes_arg(c, "content")?;
        }
        if trailers.is_some() {
            inner.trailers = fields_arg(trailers, "trailers")?;
        }
        if informational.is_some() {
            inner.informational = informational_arg(informational)?;
        }
        Ok(Self { inner })
    }

    #[getter]
    fn status(&self) -> u16 {
        self.inner.status
    }
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        fields_to_py(py, &self.inner.headers)
    }
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.content)
    }
    #[getter]
    fn trailers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        fields_to_py(py, &self.inner.trailers)
    }
    #[getter]
    fn informational(&self, py: Python<'_>) -> PyResult<Vec<Py<InformationalResponse>>> {
        self.inner
            .informational
            .iter()
            .map(|i| Py::new(py, InformationalResponse { inner: i.clone() }))
            .collect()
    }

    fn __repr__(&self) -> String {
        let r = &self.inner;
        format!(
            "Response(status={}, headers=<{} fields>, content=<{} bytes>, trailers=<{} fields>, informational=<{} responses>)",
            r.status,
            r.headers.len(),
            r.content.len(),
            r.trailers.len(),
            r.informational.len()
        )
    }
}

/// A new Python object of class `T`, as `object`.
fn new_object<T: pyo3::PyClass>(py: Python<'_>, value: T) -> PyResult<Py<PyAny>>
where
    PyClassInitializer<T>: From<T>,
{
    Ok(Py::new(py, value)?.into_any())
}

fn message_to_py(py: Python<'_>, message: core::Message) -> PyResult<Py<PyAny>> {
    match message {
        core::Message::Request(inner) => new_object(py, Request { inner }),
        core::Message::Response(inner) => new_object(py, Response { inner }),
    }
}

// ---------------------------------------------------------------- functions

/// Encodes a `Request` or `Response`.
#[pyfunction]
#[pyo3(signature = (message, *, indeterminate = false, pad_to_multiple_of = None, max_encoded_chunk_len = 4096))]
fn encode<'py>(
    py: Python<'py>,
    message: &Bound<'py, PyAny>,
    indeterminate: bool,
    pad_to_multiple_of: Option<usize>,
    max_encoded_chunk_len: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let options = core::EncodeOptions {
        indeterminate,
        pad_to_multiple_of,
        max_encoded_chunk_len,
    };
    let encoded = if let Ok(r) = message.cast::<Request>() {
        let request = &r.get().inner;
        detach_if(py, request.content.len(), || {
            core::encode_request(request, &options)
        })
    } else if let Ok(r) = message.cast::<Response>() {
        let response = &r.get().inner;
        detach_if(py, response.content.len(), || {
            core::encode_response(response, &options)
        })
    } else {
        return Err(PyTypeError::new_err(
            "message must be a Request or a Response",
        ));
    };
    Ok(PyBytes::new(py, &encoded.map_err(|e| encode_error(&e))?))
}

/// Runs `f` without the GIL when `size` is large enough for that to pay off.
fn detach_if<T: Send>(py: Python<'_>, size: usize, f: impl FnOnce() -> T + Send) -> T {
    if size > DETACH_THRESHOLD {
        py.detach(f)
    } else {
        f()
    }
}

fn config(max_header_bytes: usize, expect: Option<core::Kind>) -> core::DecoderConfig {
    core::DecoderConfig {
        max_section_len: max_header_bytes,
        expect,
        ..core::DecoderConfig::default()
    }
}

fn decode_core(
    py: Python<'_>,
    data: &BytesIn,
    config: &core::DecoderConfig,
) -> PyResult<core::Decoded> {
    let bytes: &[u8] = data;
    detach_if(py, bytes.len(), || core::decode_with(bytes, config)).map_err(|e| decode_error(&e))
}

/// Decodes a message, of the kind `expect` when given, into its Python class.
fn decode_message(
    py: Python<'_>,
    data: &BytesIn,
    max_header_bytes: usize,
    expect: Option<core::Kind>,
) -> PyResult<Py<PyAny>> {
    message_to_py(
        py,
        decode_core(py, data, &config(max_header_bytes, expect))?.message,
    )
}

/// Decodes a message (request or response), accepting zero padding and the truncations RFC 9292
/// allows.
#[pyfunction]
#[pyo3(signature = (data, *, max_header_bytes = 16384))]
fn decode(py: Python<'_>, data: BytesIn, max_header_bytes: usize) -> PyResult<Py<PyAny>> {
    decode_message(py, &data, max_header_bytes, None)
}

/// Decodes a request; a response is a `BHTTPDecodeError`.
#[pyfunction]
#[pyo3(signature = (data, *, max_header_bytes = 16384))]
fn decode_request(py: Python<'_>, data: BytesIn, max_header_bytes: usize) -> PyResult<Py<PyAny>> {
    decode_message(py, &data, max_header_bytes, Some(core::Kind::Request))
}

/// Decodes a response; a request is a `BHTTPDecodeError`.
#[pyfunction]
#[pyo3(signature = (data, *, max_header_bytes = 16384))]
fn decode_response(py: Python<'_>, data: BytesIn, max_header_bytes: usize) -> PyResult<Py<PyAny>> {
    decode_message(py, &data, max_header_bytes, Some(core::Kind::Response))
}

/// A decoded message with its framing and padding.
#[pyclass(frozen, module = "openpcc.bhttp")]
pub(crate) struct Framed {
    #[pyo3(get)]
    message: Py<PyAny>,
    #[pyo3(get)]
    indeterminate: bool,
    #[pyo3(get)]
    padding_len: u64,
}

#[pymethods]
impl Framed {
    fn __repr__(&self) -> String {
        format!(
            "Framed(indeterminate={}, padding_len={})",
            if self.indeterminate { "True" } else { "False" },
            self.padding_len
        )
    }
}

/// Decodes a message and reports its framing and the number of padding bytes.
#[pyfunction]
#[pyo3(signature = (data, *, max_header_bytes = 16384))]
fn decode_framed(py: Python<'_>, data: BytesIn, max_header_bytes: usize) -> PyResult<Framed> {
    let decoded = decode_core(py, &data, &config(max_header_bytes, None))?;
    Ok(Framed {
        message: message_to_py(py, decoded.message)?,
        indeterminate: decoded.framing == core::Framing::Indeterminate,
        padding_len: decoded.padding_len,
    })
}

/// Applies the reference's request normalisations (see `openpcc.bhttp`).
#[pyfunction]
#[pyo3(signature = (request, *, indeterminate = false))]
fn normalize_request(request: &Bound<'_, Request>, indeterminate: bool) -> PyResult<Request> {
    core::normalize::normalize_request(&request.get().inner, indeterminate)
        .map(|inner| Request { inner })
        .map_err(|e| encode_error(&e))
}

/// Applies the reference's response normalisations (see `openpcc.bhttp`).
#[pyfunction]
#[pyo3(signature = (response, *, indeterminate = false))]
fn normalize_response(response: &Bound<'_, Response>, indeterminate: bool) -> PyResult<Response> {
    core::normalize::normalize_response(&response.get().inner, indeterminate)
        .map(|inner| Response { inner })
        .map_err(|e| encode_error(&e))
}

// ---------------------------------------------------------------- streaming

/// Event: control data and header fields. `message` is a `Request` or `Response` whose content
/// and trailers are empty.
#[pyclass(frozen, module = "openpcc.bhttp")]
pub(crate) struct Head {
    #[pyo3(get)]
    message: Py<PyAny>,
}

#[pymethods]
impl Head {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Head({})", self.message.bind(py).repr()?))
    }
}

/// Event: content bytes as they arrived (not the wire's chunking).
#[pyclass(frozen, module = "openpcc.bhttp")]
pub(crate) struct BodyChunk {
    #[pyo3(get)]
    data: Py<PyBytes>,
}

#[pymethods]
impl BodyChunk {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("BodyChunk(<{} bytes>)", self.data.bind(py).as_bytes().len())
    }
}

/// Event: the trailer fields (possibly none).
#[pyclass(frozen, module = "openpcc.bhttp")]
pub(crate) struct Trailers {
    #[pyo3(get)]
    fields: Py<PyList>,
}

#[pymethods]
impl Trailers {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("Trailers(<{} fields>)", self.fields.bind(py).len())
    }
}

/// Event: the message is complete; only zero padding may follow.
#[pyclass(frozen, module = "openpcc.bhttp")]
pub(crate) struct End;

#[pymethods]
impl End {
    #[allow(clippy::unused_self)] // Python methods take self
    fn __repr__(&self) -> &'static str {
        "End()"
    }
}

fn event_to_py(py: Python<'_>, event: core::Event) -> PyResult<Py<PyAny>> {
    match event {
        core::Event::Informational(inner) => new_object(py, InformationalResponse { inner }),
        core::Event::Head(head) => {
            let message = match head {
                core::Head::Request(inner) => core::Message::Request(inner),
                core::Head::Response(inner) => core::Message::Response(inner),
            };
            let message = message_to_py(py, message)?;
            new_object(py, Head { message })
        }
        core::Event::BodyChunk(data) => {
            let data = PyBytes::new(py, &data).unbind();
            new_object(py, BodyChunk { data })
        }
        core::Event::Trailers(fields) => {
            let fields = fields_to_py(py, &fields)?.unbind();
            new_object(py, Trailers { fields })
        }
        core::Event::End => new_object(py, End),
    }
}

/// Incremental decoder: `feed(data)` returns the events the bytes complete
/// (`InformationalResponse`, `Head`, `BodyChunk`, `Trailers`, `End`); `finish()` ends the input.
#[pyclass(module = "openpcc.bhttp")]
pub(crate) struct StreamDecoder {
    inner: core::StreamDecoder,
}

#[pymethods]
impl StreamDecoder {
    #[new]
    #[pyo3(signature = (*, max_header_bytes = 16384, expect = None))]
    fn new(max_header_bytes: usize, expect: Option<&str>) -> PyResult<Self> {
        let expect = match expect {
            None => None,
            Some("request") => Some(core::Kind::Request),
            Some("response") => Some(core::Kind::Response),
            Some(_) => {
                return Err(PyValueError::new_err(
                    "expect must be None, 'request' or 'response'",
                ))
            }
        };
        Ok(Self {
            inner: core::StreamDecoder::new(config(max_header_bytes, expect)),
        })
    }

    /// Takes the next bytes; returns the events they complete.
    fn feed(&mut self, py: Python<'_>, data: BytesIn) -> PyResult<Vec<Py<PyAny>>> {
        let bytes: &[u8] = &data;
        let inner = &mut self.inner;
        let events =
            detach_if(py, bytes.len(), || inner.feed(bytes)).map_err(|e| decode_error(&e))?;
        events.into_iter().map(|e| event_to_py(py, e)).collect()
    }

    /// Ends the input; returns the last events, or raises if the message is incomplete.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let events = self.inner.finish().map_err(|e| decode_error(&e))?;
        events.into_iter().map(|e| event_to_py(py, e)).collect()
    }

    /// True once `End` has been produced.
    #[getter]
    fn is_complete(&self) -> bool {
        self.inner.is_complete()
    }

    /// Zero padding bytes seen after the message so far.
    #[getter]
    fn padding_len(&self) -> u64 {
        self.inner.padding_len()
    }

    /// The framing once known: True for indeterminate-length, False for known-length, else None.
    #[getter]
    fn indeterminate(&self) -> Option<bool> {
        self.inner
            .framing()
            .map(|f| f == core::Framing::Indeterminate)
    }

    fn __repr__(&self) -> String {
        format!(
            "StreamDecoder(complete={})",
            if self.inner.is_complete() {
                "True"
            } else {
                "False"
            }
        )
    }
}
