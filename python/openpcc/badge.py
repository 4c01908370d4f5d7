"""Badges (spec §8.9): the auth bank's Ed25519 signature over the models a user may ask for.

``Credentials { bytes models = 1; }`` holds the model names sorted ascending, each a little-endian ``uint32``
length and its printable-ASCII bytes; ``Badge { Credentials credentials = 1; bytes signature = 2; }``
signs exactly the ``Credentials`` encoding ``0a <len> <models>``. The client sends ``b64(Badge)`` in the
inner request's ``X-Confsec-Badge`` header (inside the encryption: the router never sees it); the compute
node checks it (``docs/node.md``).

A badge is deterministic (Ed25519 over a fixed list), so it is the same for every user granted the same
model set: a stable pseudonym for that set (spec §12.2 item 12).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from openpcc.exceptions import (
    BadgeSignatureError,
    ConfigError,
    MalformedBadgeError,
    MalformedInputError,
    UsageError,
)

HEADER = "X-Confsec-Badge"
SIGNATURE_LENGTH = 64
#: The reference's node bounds every header's values to 1024 bytes, so no longer badge is useful.
MAX_HEADER_TEXT = 1024


def _printable(name: str) -> bool:
    return bool(name) and all(32 <= ord(ch) <= 126 for ch in name)


def encode_models(models: Iterable[str]) -> bytes:
    """The ``models`` field: the names sorted, each a little-endian ``uint32`` length and its ASCII bytes;
    ``UsageError`` for an empty, duplicate or non-printable-ASCII name."""
    names = sorted(models)
    if len(set(names)) != len(names):
        raise UsageError("badge models must be distinct")
    if not all(_printable(name) for name in names):
        raise UsageError("badge model names must be non-empty printable ASCII")
    return _pack(names)


def _pack(names: Iterable[str]) -> bytes:
    return b"".join(len(n).to_bytes(4, "little") + n.encode("ascii") for n in sorted(names))


def decode_models(field: bytes) -> tuple[str, ...]:
    """The names in a ``models`` field, checked as the reference decodes them: each length non-zero and
    within the field, printable ASCII, the list sorted."""
    names: list[str] = []
    at = 0
    while at < len(field):
        if len(field) - at < 4:
            raise MalformedBadgeError("badge model list: truncated length")
        size = int.from_bytes(field[at : at + 4], "little")
        at += 4
        if size == 0 or size > len(field) - at:
            raise MalformedBadgeError("badge model list: a name's length is zero or runs past the end")
        raw = field[at : at + size]
        at += size
        name = raw.decode("latin-1")
        if not _printable(name):
            raise MalformedBadgeError("badge model list: a name is not printable ASCII")
        names.append(name)
    if names != sorted(names):
        raise MalformedBadgeError("badge model list: names are not sorted")
    return tuple(names)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(tag: int, data: bytes) -> bytes:
    return bytes([tag]) + _varint(len(data)) + data


def credentials_bytes(models: Iterable[str]) -> bytes:
    """The signed message: ``Credentials`` serialized as the reference does, ``0a <len> <models>`` (nothing
    at all for an empty list, whose field the reference leaves unset)."""
    return _credentials(encode_models(models))


def _credentials(field: bytes) -> bytes:
    return _length_delimited(0x0A, field) if field else b""


@dataclass(frozen=True)
class Badge:
    """A decoded badge: the granted model names (sorted) and the signature over their credentials."""

    models: tuple[str, ...]
    signature: bytes

    @classmethod
    def issue(cls, key: Ed25519PrivateKey, models: Iterable[str]) -> Badge:
        names = tuple(sorted(models))
        return cls(names, key.sign(credentials_bytes(names)))

    @property
    def credentials(self) -> bytes:
        """The signed bytes: the ``Credentials`` of :attr:`models`, re-encoded as the reference's node does."""
        return _credentials(_pack(self.models))

    def grants(self, model: str) -> bool:
        return model in self.models

    # --- forms: protobuf, protobuf-JSON, header ------------------------------------------

    def encode(self) -> bytes:
        """``proto.Marshal(Badge)``."""
        return _length_delimited(0x0A, self.credentials) + _length_delimited(0x12, self.signature)

    def to_message(self) -> dict[str, Any]:
        """The protobuf-JSON form (for a message that embeds the badge, e.g. ``AuthWithdrawalResponse``)."""
        field = _pack(self.models)
        credentials = {"models": base64.b64encode(field).decode()} if field else {}
        return {"credentials": credentials, "signature": base64.b64encode(self.signature).decode()}

    @classmethod
    def from_message(cls, message: Any) -> Badge:
        """A badge from its protobuf-JSON form; :class:`MalformedBadgeError` when it does not decode."""
        if not isinstance(message, dict):
            raise MalformedBadgeError("badge is not a message")
        credentials = message.get("credentials") or {}
        if not isinstance(credentials, dict):
            raise MalformedBadgeError("badge credentials are not a message")
        try:
            field = base64.b64decode(str(credentials.get("models", "")), validate=True)
            signature = base64.b64decode(str(message.get("signature", "")), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedBadgeError("badge fields are not base64") from None
        return cls(decode_models(field), signature)

    @classmethod
    def decode(cls, data: bytes) -> Badge:
        from openpcc.compute import decode_message

        try:
            message = decode_message("csprotos.Badge", data)
        except (MalformedInputError, ValueError):
            raise MalformedBadgeError("badge is not a Badge protobuf") from None
        return cls.from_message(message)

    def to_header(self) -> str:
        """The ``X-Confsec-Badge`` value: standard base64 of :meth:`encode`."""
        return base64.b64encode(self.encode()).decode()

    @classmethod
    def from_header(cls, text: str | bytes) -> Badge:
        raw = text.encode("latin-1") if isinstance(text, str) else bytes(text)
        if not raw:
            raise MalformedBadgeError("badge is not provided")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedBadgeError("badge is not base64") from None
        return cls.decode(data)

    # --- checks ------------------------------------------------------------------------

    def check_distinct(self) -> None:
        """What the reference's client checks of a badge it is given: no model named twice."""
        if len(set(self.models)) != len(self.models):
            raise MalformedBadgeError("badge names a model twice")

    def verify(self, key: Ed25519PublicKey) -> None:
        """:class:`BadgeSignatureError` unless ``signature`` is the key's Ed25519 over :attr:`credentials`."""
        if not self.signature:
            raise BadgeSignatureError("invalid badge: signature not provided")
        try:
            key.verify(self.signature, self.credentials)
        except InvalidSignature:
            raise BadgeSignatureError("invalid badge signature") from None

    def __repr__(self) -> str:  # never the signature: with the models it is the badge itself
        return f"Badge(models={self.models!r})"


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The auth bank's badge public key from a PEM file (``SubjectPublicKeyInfo``); ``ConfigError`` when it
    cannot be read or is not Ed25519."""
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the badge public key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise ConfigError(f"the badge public key {path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"the badge public key {path} is not Ed25519")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The PEM (``SubjectPublicKeyInfo``) of a badge key, as nodes read it."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


__all__ = [
    "HEADER",
    "Badge",
    "credentials_bytes",
    "decode_models",
    "encode_models",
    "load_public_key",
    "public_key_pem",
]
