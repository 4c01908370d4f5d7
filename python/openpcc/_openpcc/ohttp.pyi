"""Oblivious HTTP (RFC 9458) and chunked OHTTP; see ``openpcc.ohttp``."""

from collections.abc import Sequence
from typing import TypeAlias, final

__all__ = [
    "CHUNKED_REQUEST_MEDIA_TYPE",
    "CHUNKED_RESPONSE_MEDIA_TYPE",
    "DEFAULT_MAX_REQUEST_CHUNK",
    "DEFAULT_MAX_RESPONSE_CHUNK",
    "DEFAULT_SEAL_CHUNK_LEN",
    "REFERENCE_CHUNK_LEN",
    "REFERENCE_MAX_REQUEST_CHUNK",
    "REQUEST_MEDIA_TYPE",
    "RESPONSE_MEDIA_TYPE",
    "ChunkedRequestOpener",
    "ChunkedRequestSealer",
    "ChunkedResponseOpener",
    "ChunkedResponseSealer",
    "ClientContext",
    "GatewayKey",
    "KeyConfig",
    "RequestOpener",
    "ResponseContext",
    "ResponseOpener",
    "ResponseSealer",
    "_chunked_request_sealer_with_ephemeral",
    "_chunked_response_sealer_with_nonce",
    "_encapsulate_request_with_ephemeral",
    "_encapsulate_response_with_nonce",
    "_response_sealer_with_nonce",
    "decode_key_configs",
    "encapsulate_request",
    "encode_key_configs",
]

# Any bytes-like object. Public inputs given as ``bytes`` are read in place; other buffers are copied
# once (they could change while the GIL is released). Secret inputs (secret keys, seeds, ephemeral keys)
# are always copied once into memory that is zeroized after use.
_Buffer: TypeAlias = bytes | bytearray | memoryview

#: Largest request chunk plaintext a gateway opener accepts by default: 16384, which
#: draft-ietf-ohai-chunked-ohttp requires every implementation to accept.
DEFAULT_MAX_REQUEST_CHUNK: int
#: The reference gateway's request chunk limit (4096), a deviation from the draft; pass it as
#: ``max_chunk_len`` to be as strict as the reference.
REFERENCE_MAX_REQUEST_CHUNK: int
#: Largest response chunk plaintext a client opener accepts by default (16384).
DEFAULT_MAX_RESPONSE_CHUNK: int
#: Default chunk plaintext length of the sealers (4096, the reference sealer's default).
DEFAULT_SEAL_CHUNK_LEN: int
#: The reference's fixed chunk plaintext length (532).
REFERENCE_CHUNK_LEN: int
#: ``Content-Type`` values: ``message/ohttp-req``, ``message/ohttp-res``,
#: ``message/ohttp-chunked-req``, ``message/ohttp-chunked-res``.
REQUEST_MEDIA_TYPE: str
RESPONSE_MEDIA_TYPE: str
CHUNKED_REQUEST_MEDIA_TYPE: str
CHUNKED_RESPONSE_MEDIA_TYPE: str

@final
class KeyConfig:
    """A gateway's public key configuration (RFC 9458 §3).

    ``symmetric_algorithms`` is a non-empty list of ``(kdf_id, aead_id)`` pairs; clients use the first.
    Raises ``KeyConfigError`` for a public key of the wrong length for the KEM or an empty list, and
    ``OHTTPUnsupportedError`` for unknown algorithm ids.
    """

    def __new__(
        cls,
        key_id: int,
        kem: int,
        public_key: _Buffer,
        symmetric_algorithms: Sequence[tuple[int, int]],
    ) -> KeyConfig: ...
    @property
    def key_id(self) -> int: ...
    @property
    def kem(self) -> int: ...
    @property
    def public_key(self) -> bytes: ...
    @property
    def symmetric_algorithms(self) -> list[tuple[int, int]]: ...
    def encode(self) -> bytes:
        """The RFC 9458 encoding (no length prefix)."""
    @staticmethod
    def decode(data: _Buffer) -> KeyConfig:
        """Decodes exactly one key config; trailing bytes raise ``KeyConfigError``."""
    def __eq__(self, other: object, /) -> bool: ...

def encode_key_configs(configs: Sequence[KeyConfig]) -> bytes:
    """An ``application/ohttp-keys`` list: each config prefixed by its u16 length."""

def decode_key_configs(data: _Buffer) -> list[KeyConfig]:
    """Decodes an ``application/ohttp-keys`` list; every entry must parse exactly, and it may not be empty."""

@final
class ResponseContext:
    """The gateway's handle for answering one decapsulated request (plain or chunked) in either form:
    plain with ``encapsulate_response`` (``message/ohttp-res``), chunked with ``ChunkedResponseSealer``
    (``message/ohttp-chunked-res``), or ``ResponseSealer(ctx, chunked=...)``.

    It answers at most once: a second ``encapsulate_response`` or response sealer for the same request
    (from this handle or another one an opener returned) raises ``OHTTPUsageError``; an attempt refused
    for its arguments does not count."""

    def encapsulate_response(self, message: _Buffer) -> bytes:
        """A plain response: ``response_nonce || AEAD(message)`` with a fresh random nonce."""
    @property
    def request_chunked(self) -> bool:
        """Whether the request was chunked (it does not constrain the response's form)."""
    @property
    def answered(self) -> bool:
        """Whether this request has been answered (through this or another handle on it)."""

@final
class ClientContext:
    """The client's handle for the response to its request, in either form: plain with
    ``decapsulate_response``, chunked with ``ChunkedResponseOpener``, or by its ``Content-Type``
    with ``ResponseOpener``."""

    def decapsulate_response(self, data: _Buffer) -> bytes:
        """Opens a plain response ``response_nonce || ct``. Raises ``MalformedMessageError`` or
        ``OHTTPDecryptError``."""
    @property
    def request_chunked(self) -> bool:
        """Whether the request was chunked (it does not constrain the response's form)."""

@final
class GatewayKey:
    """A gateway key pair and its key config. ``repr`` never shows the secret key."""

    @staticmethod
    def from_secret_key(
        key_id: int, kem: int, secret_key: _Buffer, symmetric_algorithms: Sequence[tuple[int, int]]
    ) -> GatewayKey: ...
    @staticmethod
    def from_seed(
        key_id: int, kem: int, seed: _Buffer, symmetric_algorithms: Sequence[tuple[int, int]]
    ) -> GatewayKey:
        """``DeriveKeyPair(seed)`` of the KEM, as the reference gateway derives its key."""
    @staticmethod
    def generate(
        key_id: int, kem: int, symmetric_algorithms: Sequence[tuple[int, int]]
    ) -> GatewayKey:
        """A fresh random key pair."""
    @property
    def key_config(self) -> KeyConfig: ...
    def decapsulate_request(self, data: _Buffer) -> tuple[bytes, ResponseContext]:
        """Opens ``hdr || enc || ct``. Checks the key id (``KeyIdMismatchError``) and the suite
        (``SuiteMismatchError``) before any cryptography."""

def encapsulate_request(key_config: KeyConfig, message: _Buffer) -> tuple[bytes, ClientContext]:
    """``hdr || enc || ct`` for the config's first symmetric suite, with a fresh ephemeral key."""

@final
class ChunkedRequestSealer:
    """Client side of a chunked request. The first wire piece returned is ``hdr || enc``.

    Without ``fixed_chunk_len`` every ``feed`` makes one chunk per ``max_chunk_len`` bytes; with it,
    exactly ``fixed_chunk_len`` bytes per chunk are accumulated and ``finish`` zero-pads the tail.
    """

    def __new__(
        cls,
        key_config: KeyConfig,
        *,
        fixed_chunk_len: int | None = None,
        max_chunk_len: int = 4096,
    ) -> ChunkedRequestSealer: ...
    @property
    def client_context(self) -> ClientContext:
        """The context for the response, plain or chunked (see ``ResponseOpener``)."""
    def feed(self, data: _Buffer) -> list[bytes]:
        """Seals what ``data`` completes; returns the wire pieces ready to send."""
    def feed_many(self, chunks: Sequence[_Buffer]) -> list[bytes]:
        """``feed`` for many plaintexts in one call."""
    def finish(self) -> list[bytes]:
        """Seals the padded tail (fixed mode) and the empty final chunk."""

@final
class ChunkedRequestOpener:
    """Gateway side of a chunked request: ``feed`` wire bytes, get chunk plaintexts.

    ``max_chunk_len`` bounds each chunk's plaintext (``ChunkTooLargeError`` beyond): 16384 by
    default as the chunked-OHTTP draft requires, ``REFERENCE_MAX_REQUEST_CHUNK`` (4096) to refuse
    what the reference gateway refuses."""

    def __new__(
        cls, gateway_key: GatewayKey, *, max_chunk_len: int = 16384
    ) -> ChunkedRequestOpener: ...
    @property
    def response_context(self) -> ResponseContext | None:
        """Available once the header and enc have arrived; answers in either form."""
    def feed(self, data: _Buffer) -> list[bytes]: ...
    def finish(self) -> bytes:
        """The final chunk's plaintext; ``TruncatedStreamError`` if the stream ended before it."""

@final
class ChunkedResponseSealer:
    """Gateway side of a chunked response (``message/ohttp-chunked-res``) to a plain or chunked
    request. The first wire piece returned is the response nonce."""

    def __new__(
        cls,
        response_context: ResponseContext,
        *,
        fixed_chunk_len: int | None = None,
        max_chunk_len: int = 4096,
    ) -> ChunkedResponseSealer: ...
    def feed(self, data: _Buffer) -> list[bytes]: ...
    def feed_many(self, chunks: Sequence[_Buffer]) -> list[bytes]: ...
    def finish(self) -> list[bytes]: ...

@final
class ChunkedResponseOpener:
    """Client side of a chunked response, to a plain or chunked request."""

    def __new__(
        cls, client_context: ClientContext, *, max_chunk_len: int = 16384
    ) -> ChunkedResponseOpener: ...
    def feed(self, data: _Buffer) -> list[bytes]: ...
    def finish(self) -> bytes: ...

@final
class RequestOpener:
    """Gateway side of a request of the form its ``Content-Type`` names (``message/ohttp-req`` or
    ``message/ohttp-chunked-req``; any other raises ``OHTTPMediaTypeError``).

    Chunked: ``feed`` returns chunk plaintexts as they complete and ``finish`` the final one. Plain:
    ``feed`` collects (returns ``[]``) and ``finish`` returns the whole request, so bound the body size
    before feeding. Both judge the header (key id, suite) as soon as its 7 bytes arrive.
    ``max_chunk_len`` is as for ``ChunkedRequestOpener``.

    Then answer in the form you pick: ``ResponseSealer(opener.response_context, chunked=...)``.
    """

    def __new__(
        cls, gateway_key: GatewayKey, media_type: str, *, max_chunk_len: int = 16384
    ) -> RequestOpener: ...
    @property
    def chunked(self) -> bool: ...
    @property
    def response_context(self) -> ResponseContext | None:
        """Chunked: once the header and enc have arrived. Plain: after ``finish``."""
    def feed(self, data: _Buffer) -> list[bytes]: ...
    def finish(self) -> bytes: ...

@final
class ResponseSealer:
    """Gateway side of a response in the form the caller picks (``chunked``), to a request of either
    form. Send its pieces with ``Content-Type: media_type``.

    Chunked: as ``ChunkedResponseSealer`` (the nonce is the first piece). Plain: ``feed`` collects
    (returns ``[]``) and ``finish`` returns ``[response_nonce || ct]``.
    """

    def __new__(
        cls,
        response_context: ResponseContext,
        *,
        chunked: bool,
        fixed_chunk_len: int | None = None,
        max_chunk_len: int = 4096,
    ) -> ResponseSealer: ...
    @property
    def media_type(self) -> str:
        """``message/ohttp-res`` or ``message/ohttp-chunked-res``."""
    @property
    def chunked(self) -> bool: ...
    def feed(self, data: _Buffer) -> list[bytes]: ...
    def finish(self) -> list[bytes]: ...

@final
class ResponseOpener:
    """Client side of a response of the form its ``Content-Type`` names (``message/ohttp-res`` or
    ``message/ohttp-chunked-res``, whatever the request's form, as the reference client picks its
    opener; any other raises ``OHTTPMediaTypeError``).

    Chunked: ``feed`` returns chunk plaintexts as they complete, ``finish`` the final one
    (``TruncatedStreamError`` if it never came). Plain: ``feed`` collects and ``finish`` returns the
    whole response.
    """

    def __new__(
        cls, client_context: ClientContext, media_type: str, *, max_chunk_len: int = 16384
    ) -> ResponseOpener: ...
    @property
    def chunked(self) -> bool: ...
    def feed(self, data: _Buffer) -> list[bytes]: ...
    def finish(self) -> bytes: ...

# Test hooks for known-answer vectors only: a chosen ephemeral secret key or response nonce. Never use
# them in production (a fixed nonce or ephemeral key breaks the scheme's security).

def _encapsulate_request_with_ephemeral(
    key_config: KeyConfig, message: _Buffer, ephemeral_secret_key: _Buffer
) -> tuple[bytes, ClientContext]: ...
def _chunked_request_sealer_with_ephemeral(
    key_config: KeyConfig,
    ephemeral_secret_key: _Buffer,
    *,
    fixed_chunk_len: int | None = None,
    max_chunk_len: int = 4096,
) -> ChunkedRequestSealer: ...
def _encapsulate_response_with_nonce(
    response_context: ResponseContext, message: _Buffer, response_nonce: _Buffer
) -> bytes: ...
def _chunked_response_sealer_with_nonce(
    response_context: ResponseContext,
    response_nonce: _Buffer,
    *,
    fixed_chunk_len: int | None = None,
    max_chunk_len: int = 4096,
) -> ChunkedResponseSealer: ...
def _response_sealer_with_nonce(
    response_context: ResponseContext,
    response_nonce: _Buffer,
    *,
    chunked: bool,
    fixed_chunk_len: int | None = None,
    max_chunk_len: int = 4096,
) -> ResponseSealer: ...
