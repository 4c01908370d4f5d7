"""Oblivious HTTP (RFC 9458) and chunked OHTTP; see ``openpcc.ohttp``."""

from collections.abc import Sequence
from typing import final

__all__ = [
    "DEFAULT_MAX_REQUEST_CHUNK",
    "DEFAULT_MAX_RESPONSE_CHUNK",
    "REFERENCE_CHUNK_LEN",
    "ChunkedRequestOpener",
    "ChunkedRequestSealer",
    "ChunkedResponseOpener",
    "ChunkedResponseSealer",
    "ClientContext",
    "GatewayKey",
    "KeyConfig",
    "ResponseContext",
    "decode_key_configs",
    "encapsulate_request",
    "encode_key_configs",
]

DEFAULT_MAX_REQUEST_CHUNK: int
DEFAULT_MAX_RESPONSE_CHUNK: int
REFERENCE_CHUNK_LEN: int

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
        public_key: bytes,
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
    def decode(data: bytes) -> KeyConfig:
        """Decodes exactly one key config; trailing bytes raise ``KeyConfigError``."""
    def __eq__(self, other: object, /) -> bool: ...

def encode_key_configs(configs: Sequence[KeyConfig]) -> bytes:
    """An ``application/ohttp-keys`` list: each config prefixed by its u16 length."""

def decode_key_configs(data: bytes) -> list[KeyConfig]:
    """Decodes an ``application/ohttp-keys`` list; every entry must parse exactly, and it may not be empty."""

@final
class ResponseContext:
    """The gateway's handle for answering one decapsulated request."""

    def encapsulate_response(self, message: bytes, *, response_nonce: bytes | None = None) -> bytes:
        """``response_nonce || AEAD(message)``. ``response_nonce`` is for test vectors only."""

@final
class ClientContext:
    """The client's handle for the response to its request."""

    def decapsulate_response(self, data: bytes) -> bytes:
        """Opens ``response_nonce || ct``. Raises ``MalformedMessageError`` or ``OHTTPDecryptError``."""

@final
class GatewayKey:
    """A gateway key pair and its key config. ``repr`` never shows the secret key."""

    @staticmethod
    def from_secret_key(
        key_id: int, kem: int, secret_key: bytes, symmetric_algorithms: Sequence[tuple[int, int]]
    ) -> GatewayKey: ...
    @staticmethod
    def from_seed(
        key_id: int, kem: int, seed: bytes, symmetric_algorithms: Sequence[tuple[int, int]]
    ) -> GatewayKey:
        """``DeriveKeyPair(seed)`` of the KEM, as the reference gateway derives its key."""
    @staticmethod
    def generate(
        key_id: int, kem: int, symmetric_algorithms: Sequence[tuple[int, int]]
    ) -> GatewayKey:
        """A fresh random key pair."""
    @property
    def key_config(self) -> KeyConfig: ...
    def decapsulate_request(self, data: bytes) -> tuple[bytes, ResponseContext]:
        """Opens ``hdr || enc || ct``. Checks the key id (``KeyIdMismatchError``) and the suite
        (``SuiteMismatchError``) before any cryptography."""

def encapsulate_request(
    key_config: KeyConfig, message: bytes, *, ephemeral_secret_key: bytes | None = None
) -> tuple[bytes, ClientContext]:
    """``hdr || enc || ct`` for the config's first symmetric suite. ``ephemeral_secret_key`` is for test
    vectors only (DHKEMs)."""

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
        ephemeral_secret_key: bytes | None = None,
    ) -> ChunkedRequestSealer: ...
    @property
    def client_context(self) -> ClientContext:
        """The context for the chunked response (feed it to ``ChunkedResponseOpener``)."""
    def feed(self, data: bytes) -> list[bytes]:
        """Seals what ``data`` completes; returns the wire pieces ready to send."""
    def feed_many(self, chunks: Sequence[bytes]) -> list[bytes]:
        """``feed`` for many plaintexts in one call."""
    def finish(self) -> list[bytes]:
        """Seals the padded tail (fixed mode) and the empty final chunk."""

@final
class ChunkedRequestOpener:
    """Gateway side of a chunked request: ``feed`` wire bytes, get chunk plaintexts."""

    def __new__(
        cls, gateway_key: GatewayKey, *, max_chunk_len: int = 4096
    ) -> ChunkedRequestOpener: ...
    @property
    def response_context(self) -> ResponseContext | None:
        """Available once the header and enc have arrived."""
    def feed(self, data: bytes) -> list[bytes]: ...
    def finish(self) -> bytes:
        """The final chunk's plaintext; ``TruncatedStreamError`` if the stream ended before it."""

@final
class ChunkedResponseSealer:
    """Gateway side of a chunked response. The first wire piece returned is the response nonce.

    ``response_context`` must come from a ``ChunkedRequestOpener`` (else ``OHTTPUsageError``).
    """

    def __new__(
        cls,
        response_context: ResponseContext,
        *,
        fixed_chunk_len: int | None = None,
        max_chunk_len: int = 4096,
        response_nonce: bytes | None = None,
    ) -> ChunkedResponseSealer: ...
    def feed(self, data: bytes) -> list[bytes]: ...
    def feed_many(self, chunks: Sequence[bytes]) -> list[bytes]: ...
    def finish(self) -> list[bytes]: ...

@final
class ChunkedResponseOpener:
    """Client side of a chunked response; ``client_context`` must come from a ``ChunkedRequestSealer``
    (else ``OHTTPUsageError``)."""

    def __new__(
        cls, client_context: ClientContext, *, max_chunk_len: int = 16384
    ) -> ChunkedResponseOpener: ...
    def feed(self, data: bytes) -> list[bytes]: ...
    def finish(self) -> bytes: ...
