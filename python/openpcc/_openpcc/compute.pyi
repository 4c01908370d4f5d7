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

_Fields: TypeAlias = Sequence[tuple[bytes, bytes]]

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
    "_take_padding_request",
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
    def open_response(self, node_id: str, media_type: str, body: bytes) -> bytes: ...
    def token_stream_opener(self, node_id: str) -> TokenStreamOpener: ...

@final
class ResponseOpener:
    def push(self, data: bytes) -> list[bytes]: ...
    def finish(self) -> bytes: ...

@final
class NodeRequest:
    @staticmethod
    def unwrap(media_type: str, encapsulated_key: bytes, secret_key: bytes) -> NodeRequest: ...
    @staticmethod
    def unwrap_external(
        media_type: str, encapsulated_key: bytes, public_key: bytes, dh: Callable[[bytes], bytes]
    ) -> NodeRequest: ...
    @property
    def media_type(self) -> str: ...
    def open_body(self, body: bytes) -> bytes: ...
    def seal_response(self, plaintext: bytes, *, chunked: bool = True) -> bytes: ...
    def _seal_response_with(
        self, pieces: Sequence[bytes], media_type: str, response_nonce: bytes
    ) -> bytes: ...
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
    def _token_stream_sealer_with(
        self,
        response_nonce: bytes,
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
    def push(self, piece: bytes, now_ns: int | None = None) -> list[bytes]: ...
    def poll(self, now_ns: int | None = None) -> list[bytes]: ...
    def finish(self, trailers: _Fields = ...) -> list[bytes]: ...

@final
class TokenStreamOpener:
    @property
    def status(self) -> int | None: ...
    @property
    def headers(self) -> list[tuple[bytes, bytes]]: ...
    def push(self, data: bytes) -> bytes: ...
    def finish(self) -> tuple[bytes, list[tuple[bytes, bytes]]]: ...

def seal_request(
    plaintext: bytes, candidates: Sequence[tuple[str, bytes]], *, chunked: bool = False
) -> ComputeRequest: ...
def _seal_request_with(
    pieces: Sequence[bytes],
    candidates: Sequence[tuple[str, bytes]],
    media_type: str,
    dek: bytes,
    body_nonce: bytes,
    ikm_e: Sequence[bytes],
) -> ComputeRequest: ...
def encode_compute_request_info(candidates: Sequence[tuple[str, bytes]]) -> bytes: ...
def decode_compute_request_info(data: bytes) -> list[tuple[str, bytes]]: ...
def message_names() -> list[str]: ...
def _encode_message_json(name: str, json: str) -> bytes: ...
def _decode_message_json(name: str, data: bytes) -> str: ...
def _take_padding_request(headers: _Fields) -> tuple[list[tuple[bytes, bytes]], str]: ...
def refund_amount_trailer(amount: int, *, significant_bits: int = 5) -> tuple[int, str]: ...
def parse_refund_amount_trailer(value: str) -> int: ...
