"""The compute layer (multi-recipient requests, responses, token streams); see ``openpcc.compute``."""

from collections.abc import Callable, Sequence
from typing import TypeAlias, final

REQUEST: str
CHUNKED_REQUEST: str
RESPONSE: str
CHUNKED_RESPONSE: str
MAX_CHUNK_PLAINTEXT: int
ENCAPSULATED_KEY_LEN: int
DEFAULT_FRAME: int
DEFAULT_MAX_DELAY_MS: float
PADDING_HEADER: str
PADDING_FIXED: str
REFUND_AMOUNT_TRAILER: str
CURRENCY_SIGNIFICANT_BITS: int

# Any bytes-like object. Public inputs given as ``bytes`` are read in place; other buffers are copied
# once (they could change while the GIL is released). Secret inputs (the node's secret key, a DEK or
# ephemeral seed given to a test hook) are always copied once into memory that is zeroized after use.
_Buffer: TypeAlias = bytes | bytearray | memoryview
_Fields: TypeAlias = Sequence[tuple[_Buffer, _Buffer]]
_Candidates: TypeAlias = Sequence[tuple[str, _Buffer]]

__all__ = [
    "CHUNKED_REQUEST",
    "CHUNKED_RESPONSE",
    "CURRENCY_SIGNIFICANT_BITS",
    "DEFAULT_FRAME",
    "DEFAULT_MAX_DELAY_MS",
    "ENCAPSULATED_KEY_LEN",
    "MAX_CHUNK_PLAINTEXT",
    "PADDING_FIXED",
    "PADDING_HEADER",
    "REFUND_AMOUNT_TRAILER",
    "REQUEST",
    "RESPONSE",
    "ComputeRequest",
    "NodeRequest",
    "ResponseOpener",
    "TokenStreamOpener",
    "TokenStreamSealer",
    "_decode_message_json",
    "_encode_message_json",
    "_seal_request_with",
    "_seal_response_with",
    "_take_padding_request",
    "_token_stream_sealer_with",
    "decode_compute_request_info",
    "encode_compute_request_info",
    "message_names",
    "parse_refund_amount_trailer",
    "refund_amount_trailer",
    "seal_request",
]

@final
class ComputeRequest:
    @property
    def media_type(self) -> str: ...
    @property
    def body(self) -> bytes: ...
    @property
    def encapsulated_keys(self) -> list[tuple[str, bytes]]: ...
    @property
    def routing_info(self) -> bytes: ...
    def response_opener(self, node_id: str, media_type: str) -> ResponseOpener: ...
    def open_response(self, node_id: str, media_type: str, body: _Buffer) -> bytes: ...
    def token_stream_opener(self, node_id: str) -> TokenStreamOpener: ...

@final
class ResponseOpener:
    def feed(self, data: _Buffer) -> list[bytes]: ...
    def finish(self) -> bytes: ...

@final
class NodeRequest:
    """A request whose data key this node unwrapped. It answers at most once: a second
    ``seal_response`` or ``token_stream_sealer`` raises ``ComputeStateError`` (an attempt refused for
    its arguments does not count)."""

    @staticmethod
    def unwrap(media_type: str, encapsulated_key: _Buffer, secret_key: _Buffer) -> NodeRequest: ...
    @staticmethod
    def unwrap_external(
        media_type: str,
        encapsulated_key: _Buffer,
        public_key: _Buffer,
        dh: Callable[[bytes], _Buffer],
    ) -> NodeRequest: ...
    @property
    def media_type(self) -> str: ...
    def open_body(self, body: _Buffer) -> bytes: ...
    def seal_response(self, plaintext: _Buffer, *, chunked: bool = True) -> bytes: ...
    def token_stream_sealer(
        self,
        status: int = 200,
        headers: _Fields = ...,
        *,
        padding: str = "fixed",
        frame: int = ...,
        max_delay_ms: float = 20.0,
        now_ns: int | None = None,
    ) -> TokenStreamSealer: ...

@final
class TokenStreamSealer:
    @property
    def response_nonce(self) -> bytes: ...
    @property
    def next_deadline_ns(self) -> int | None: ...
    def start(self) -> list[bytes]: ...
    def feed(self, piece: _Buffer, now_ns: int | None = None) -> list[bytes]: ...
    def poll(self, now_ns: int | None = None) -> list[bytes]: ...
    def finish(self, trailers: _Fields = ...) -> list[bytes]: ...

@final
class TokenStreamOpener:
    @property
    def status(self) -> int | None: ...
    @property
    def headers(self) -> list[tuple[bytes, bytes]]: ...
    def feed(self, data: _Buffer) -> bytes: ...
    def finish(self) -> tuple[bytes, list[tuple[bytes, bytes]]]: ...

def seal_request(
    plaintext: _Buffer, candidates: _Candidates, *, chunked: bool = False
) -> ComputeRequest: ...
def _seal_request_with(
    pieces: Sequence[_Buffer],
    candidates: _Candidates,
    media_type: str,
    dek: _Buffer,
    body_nonce: _Buffer,
    ikm_e: Sequence[_Buffer],
) -> ComputeRequest: ...
def encode_compute_request_info(candidates: _Candidates) -> bytes: ...
def decode_compute_request_info(data: _Buffer) -> list[tuple[str, bytes]]: ...
def message_names() -> list[str]: ...
def _encode_message_json(name: str, json: str) -> bytes: ...
def _decode_message_json(name: str, data: _Buffer) -> str: ...
def _take_padding_request(headers: _Fields) -> tuple[list[tuple[bytes, bytes]], str]: ...
def refund_amount_trailer(amount: int, *, significant_bits: int = 5) -> tuple[int, str]: ...
def parse_refund_amount_trailer(value: str) -> int: ...

# Test hooks for known-answer vectors only (a chosen response nonce); never in production.

def _seal_response_with(
    node: NodeRequest, pieces: Sequence[_Buffer], media_type: str, response_nonce: _Buffer
) -> bytes: ...
def _token_stream_sealer_with(
    node: NodeRequest,
    response_nonce: _Buffer,
    status: int = 200,
    headers: _Fields = ...,
    *,
    padding: str = "fixed",
    frame: int = ...,
    max_delay_ms: float = 20.0,
    now_ns: int | None = None,
) -> TokenStreamSealer: ...
