"""Binary HTTP messages (RFC 9292), as the OpenPCC reference encodes them.

* :class:`Request` and :class:`Response` are immutable; byte attributes accept any bytes-like
  object (``bytes``, ``bytearray``, ``memoryview``) or ``str`` (UTF-8) and read back as ``bytes``;
  header and trailer fields are lists of ``(name, value)`` pairs in wire order.
* :func:`encode` writes known-length (default) or indeterminate-length messages, optionally
  zero-padded to a multiple of ``pad_to_multiple_of`` (OpenPCC uses 532 for OHTTP and 514 for
  compute messages) with content chunks of at most ``max_encoded_chunk_len`` bytes.
* :func:`decode` reads either form, accepts zero padding and the truncations RFC 9292 allows, and
  raises a subclass of :class:`openpcc.exceptions.BHTTPError` otherwise.
* :class:`StreamDecoder` decodes incrementally: ``feed(data)`` returns events
  (:class:`InformationalResponse`, :class:`Head`, :class:`BodyChunk`, :class:`Trailers`,
  :class:`End`) as soon as the bytes complete them; ``finish()`` ends the input.
* :func:`normalize_request` / :func:`normalize_response` apply what the Go reference does before
  encoding: lower-case names, drop Host (requests), Content-Length, Transfer-Encoding and Trailer,
  add ``content-length`` or a ``trailer`` field, sort by name (stably; the reference's sort is not
  stable, so repeated fields of one name may come out in another order there).

Every function that takes encoded bytes (:func:`decode` and its variants, ``StreamDecoder.feed``)
accepts any bytes-like object: ``bytes`` is read in place, other buffers (which may change while the
GIL is released) are copied once. Large inputs are encoded and decoded without holding the GIL.
"""

from __future__ import annotations

from openpcc._openpcc.bhttp import (
    DEFAULT_MAX_ENCODED_CHUNK_LEN,
    DEFAULT_MAX_HEADER_BYTES,
    BodyChunk,
    End,
    Framed,
    Head,
    InformationalResponse,
    Request,
    Response,
    StreamDecoder,
    Trailers,
    decode,
    decode_framed,
    decode_request,
    decode_response,
    encode,
    normalize_request,
    normalize_response,
)
from openpcc.exceptions import (
    BHTTPDecodeError,
    BHTTPEncodeError,
    BHTTPError,
    BHTTPLimitError,
    BHTTPPaddingError,
    BHTTPStateError,
    BHTTPTruncatedError,
)

Message = Request | Response
Event = InformationalResponse | Head | BodyChunk | Trailers | End

__all__ = [
    "DEFAULT_MAX_ENCODED_CHUNK_LEN",
    "DEFAULT_MAX_HEADER_BYTES",
    "BHTTPDecodeError",
    "BHTTPEncodeError",
    "BHTTPError",
    "BHTTPLimitError",
    "BHTTPPaddingError",
    "BHTTPStateError",
    "BHTTPTruncatedError",
    "BodyChunk",
    "End",
    "Event",
    "Framed",
    "Head",
    "InformationalResponse",
    "Message",
    "Request",
    "Response",
    "StreamDecoder",
    "Trailers",
    "decode",
    "decode_framed",
    "decode_request",
    "decode_response",
    "encode",
    "normalize_request",
    "normalize_response",
]
