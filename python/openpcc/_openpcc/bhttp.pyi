"""Binary HTTP (RFC 9292) codec; see ``openpcc.bhttp``."""

from collections.abc import Iterable, Mapping
from typing import TypeAlias, final

_Bytes: TypeAlias = bytes | bytearray | memoryview | str
_Fields: TypeAlias = (
    Iterable[tuple[_Bytes, _Bytes]] | Mapping[str, _Bytes] | Mapping[bytes, _Bytes] | None
)
# Any bytes-like object: ``bytes`` is read in place, other buffers are copied once.
_Buffer: TypeAlias = bytes | bytearray | memoryview

__all__ = [
    "DEFAULT_MAX_ENCODED_CHUNK_LEN",
    "DEFAULT_MAX_HEADER_BYTES",
    "BodyChunk",
    "End",
    "Framed",
    "Head",
    "InformationalResponse",
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

DEFAULT_MAX_HEADER_BYTES: int
DEFAULT_MAX_ENCODED_CHUNK_LEN: int

@final
class Request:
    """A binary HTTP request (immutable). Defaults: GET https, empty authority, path "/"."""

    def __new__(
        cls,
        method: _Bytes | None = None,
        scheme: _Bytes | None = None,
        authority: _Bytes | None = None,
        path: _Bytes | None = None,
        headers: _Fields = None,
        content: _Bytes | None = None,
        trailers: _Fields = None,
    ) -> Request: ...
    def replace(
        self,
        *,
        method: _Bytes | None = None,
        scheme: _Bytes | None = None,
        authority: _Bytes | None = None,
        path: _Bytes | None = None,
        headers: _Fields = None,
        content: _Bytes | None = None,
        trailers: _Fields = None,
    ) -> Request:
        """A copy with the given attributes replaced."""
    @property
    def method(self) -> bytes: ...
    @property
    def scheme(self) -> bytes: ...
    @property
    def authority(self) -> bytes: ...
    @property
    def path(self) -> bytes: ...
    @property
    def headers(self) -> list[tuple[bytes, bytes]]: ...
    @property
    def content(self) -> bytes: ...
    @property
    def trailers(self) -> list[tuple[bytes, bytes]]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class InformationalResponse:
    """An informational (1xx) response; also a `StreamDecoder` event."""

    def __new__(cls, status: int, fields: _Fields = None) -> InformationalResponse: ...
    @property
    def status(self) -> int: ...
    @property
    def fields(self) -> list[tuple[bytes, bytes]]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Response:
    """A binary HTTP response (immutable): informational responses, then the final one."""

    def __new__(
        cls,
        status: int = 200,
        headers: _Fields = None,
        content: _Bytes | None = None,
        trailers: _Fields = None,
        informational: Iterable[InformationalResponse | tuple[int, _Fields]] | None = None,
    ) -> Response: ...
    def replace(
        self,
        *,
        status: int | None = None,
        headers: _Fields = None,
        content: _Bytes | None = None,
        trailers: _Fields = None,
        informational: Iterable[InformationalResponse | tuple[int, _Fields]] | None = None,
    ) -> Response:
        """A copy with the given attributes replaced."""
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> list[tuple[bytes, bytes]]: ...
    @property
    def content(self) -> bytes: ...
    @property
    def trailers(self) -> list[tuple[bytes, bytes]]: ...
    @property
    def informational(self) -> list[InformationalResponse]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Framed:
    """A decoded message with its framing and padding length."""

    @property
    def message(self) -> Request | Response: ...
    @property
    def indeterminate(self) -> bool: ...
    @property
    def padding_len(self) -> int: ...

def encode(
    message: Request | Response,
    *,
    indeterminate: bool = False,
    pad_to_multiple_of: int | None = None,
    max_encoded_chunk_len: int = 4096,
) -> bytes:
    """Encode; raises BHTTPEncodeError for invalid fields, statuses or options."""

def decode(data: _Buffer, *, max_header_bytes: int = 16384) -> Request | Response:
    """Decode either kind; raises a BHTTPDecodeError subclass on bad input."""

def decode_request(data: _Buffer, *, max_header_bytes: int = 16384) -> Request:
    """Decode a request; a response raises BHTTPDecodeError."""

def decode_response(data: _Buffer, *, max_header_bytes: int = 16384) -> Response:
    """Decode a response; a request raises BHTTPDecodeError."""

def decode_framed(data: _Buffer, *, max_header_bytes: int = 16384) -> Framed:
    """Decode and report the framing and padding length."""

def normalize_request(request: Request, *, indeterminate: bool = False) -> Request:
    """The reference's request normalisations (lower-case, strip, content-length, sort)."""

def normalize_response(response: Response, *, indeterminate: bool = False) -> Response:
    """The reference's response normalisations (lower-case, strip, content-length, sort)."""

@final
class Head:
    """Event: control data and headers; `message` has empty content and trailers (and no
    informational responses: those arrive as their own events)."""

    @property
    def message(self) -> Request | Response: ...

@final
class BodyChunk:
    """Event: content bytes, as they arrived."""

    @property
    def data(self) -> bytes: ...

@final
class Trailers:
    """Event: the trailer fields."""

    @property
    def fields(self) -> list[tuple[bytes, bytes]]: ...

@final
class End:
    """Event: the message is complete."""

@final
class StreamDecoder:
    """Incremental decoder; feed bytes as they arrive, then finish()."""

    def __new__(
        cls, *, max_header_bytes: int = 16384, expect: str | None = None
    ) -> StreamDecoder: ...
    def feed(
        self, data: _Buffer
    ) -> list[InformationalResponse | Head | BodyChunk | Trailers | End]:
        """Take bytes; return the events they complete."""
    def finish(self) -> list[InformationalResponse | Head | BodyChunk | Trailers | End]:
        """End the input; raise BHTTPTruncatedError if the message is incomplete."""
    @property
    def is_complete(self) -> bool: ...
    @property
    def padding_len(self) -> int: ...
    @property
    def indeterminate(self) -> bool | None: ...
