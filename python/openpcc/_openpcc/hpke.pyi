"""Stubs of ``openpcc._openpcc.hpke`` (re-exported by ``openpcc.hpke``)."""

from collections.abc import Callable
from typing import TypeAlias, final

from openpcc.hpke import AEAD, KDF, KEM

__all__ = ["AEADKey", "RecipientContext", "SecretKey", "SenderContext", "Suite"]

# Any bytes-like object. Public inputs given as ``bytes`` are read in place; other buffers are copied
# once (they could change while the GIL is released). Secret inputs (keys, seeds, PSKs) are always
# copied once into memory that is zeroized after use.
_Buffer: TypeAlias = bytes | bytearray | memoryview

@final
class Suite:
    """An HPKE ciphersuite. Unknown ids raise ``UnsupportedSuiteError``."""

    def __new__(cls, kem: int, kdf: int, aead: int) -> Suite: ...
    @property
    def kem(self) -> KEM: ...
    @property
    def kdf(self) -> KDF: ...
    @property
    def aead(self) -> AEAD: ...
    def derive_key_pair(self, ikm: _Buffer) -> tuple[SecretKey, bytes]:
        """``DeriveKeyPair(ikm)`` (RFC 9180 §7.1.3); ``ikm`` needs at least ``Nsk`` bytes (32 for 0x0030)."""
    def generate_key_pair(self) -> tuple[SecretKey, bytes]:
        """A fresh ``(secret key, serialized public key)``."""
    def public_key(self, sk: SecretKey | _Buffer) -> bytes:
        """The serialized public key of ``sk``."""
    def setup_sender(
        self,
        pk_r: _Buffer,
        info: _Buffer = b"",
        *,
        psk: _Buffer | None = None,
        psk_id: _Buffer | None = None,
        sk_s: SecretKey | _Buffer | None = None,
    ) -> tuple[bytes, SenderContext]:
        """``SetupS``: ``(enc, context)``; the mode follows from ``psk``/``psk_id`` and ``sk_s``."""
    def setup_recipient(
        self,
        enc: _Buffer,
        sk_r: SecretKey | _Buffer,
        info: _Buffer = b"",
        *,
        psk: _Buffer | None = None,
        psk_id: _Buffer | None = None,
        pk_s: _Buffer | None = None,
    ) -> RecipientContext:
        """``SetupR``; the mode follows from ``psk``/``psk_id`` and ``pk_s``."""
    def setup_recipient_external(
        self,
        enc: _Buffer,
        pk_r: _Buffer,
        dh: _Buffer | Callable[[bytes], bytes],
        info: _Buffer = b"",
    ) -> RecipientContext:
        """Base-mode ``SetupR`` whose ``DH(skR, pkE)`` runs elsewhere (TPM ECDH_ZGen).

        ``dh`` is the shared secret (x-coordinate for NIST curves) or a callable taking the ephemeral public
        key (``enc``) and returning it; exceptions it raises propagate unchanged. DHKEMs only.
        """
    def seal(
        self, pk_r: _Buffer, pt: _Buffer, info: _Buffer = b"", aad: _Buffer = b""
    ) -> tuple[bytes, bytes]:
        """One-shot base-mode seal: ``(enc, ct)``."""
    def open(
        self,
        enc: _Buffer,
        sk_r: SecretKey | _Buffer,
        ct: _Buffer,
        info: _Buffer = b"",
        aad: _Buffer = b"",
    ) -> bytes:
        """One-shot base-mode open; ``OpenError`` if ``ct`` does not authenticate."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class SecretKey:
    """A KEM secret key; never shown by ``repr``, compared in constant time (also with ``bytes``)."""

    @staticmethod
    def from_bytes(kem: int, data: _Buffer) -> SecretKey:
        """Parses a serialized secret key; ``InvalidKeyError`` if it is not valid for ``kem``."""
    @property
    def kem(self) -> KEM: ...
    def public_key(self) -> bytes: ...
    def to_bytes(self) -> bytes:
        """The RFC 9180 serialization (for 0x0030: X25519 key || Kyber768 secret key)."""
    def __bytes__(self) -> bytes: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class SenderContext:
    """Seals messages in order (sequence numbers) and exports secrets. Thread-safe."""

    @property
    def seq(self) -> int: ...
    @property
    def suite(self) -> Suite: ...
    def seal(self, pt: _Buffer, aad: _Buffer = b"") -> bytes:
        """``Seal(aad, pt)``; ``MessageLimitError`` once the sequence number is exhausted."""
    def export(self, exporter_context: _Buffer, length: int) -> bytes:
        """``Export``; ``length`` at most 255 × the KDF hash length, else ``InvalidInputError``."""
    def _set_seq(self, seq: int) -> None: ...

@final
class RecipientContext:
    """Opens messages in order and exports secrets. Thread-safe."""

    @property
    def seq(self) -> int: ...
    @property
    def suite(self) -> Suite: ...
    def open(self, ct: _Buffer, aad: _Buffer = b"") -> bytes:
        """``Open(aad, ct)``; ``OpenError`` on failure (the sequence number does not advance)."""
    def export(self, exporter_context: _Buffer, length: int) -> bytes: ...
    def _set_seq(self, seq: int) -> None: ...

@final
class AEADKey:
    """A raw AEAD key with caller-chosen 12-byte nonces (never reuse a nonce with one key)."""

    def __new__(cls, aead: int, key: _Buffer) -> AEADKey: ...
    def seal(self, nonce: _Buffer, pt: _Buffer, aad: _Buffer = b"") -> bytes: ...
    def open(self, nonce: _Buffer, ct: _Buffer, aad: _Buffer = b"") -> bytes: ...

def _setup_sender_with_ikm_e(
    suite: Suite,
    pk_r: _Buffer,
    info: _Buffer = b"",
    *,
    ikm_e: _Buffer,
    psk: _Buffer | None = None,
    psk_id: _Buffer | None = None,
    sk_s: SecretKey | _Buffer | None = None,
) -> tuple[bytes, SenderContext]:
    """Test hook, not public API: ``suite.setup_sender`` with the ephemeral key derived from ``ikm_e``
    (for 0x0030 circl's 64-byte encapsulation seed), for known-answer tests. Reusing it breaks HPKE."""
