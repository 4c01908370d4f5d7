"""Hybrid Public Key Encryption (RFC 9180), on the Rust core.

Suites combine a ``KEM``, a ``KDF`` and an ``AEAD`` (IANA ids; plain ints are accepted)::

    suite = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
    sk, pk = suite.generate_key_pair()
    enc, ct = suite.seal(pk, b"hello", info=b"app")
    assert suite.open(enc, sk, ct, info=b"app") == b"hello"

The mode follows from the arguments of ``setup_sender``/``setup_recipient``: ``psk``+``psk_id`` select
psk, ``sk_s``/``pk_s`` select auth, both select auth_psk. ``KEM.X25519_KYBER768_DRAFT00`` (0x0030) is
circl's hybrid KEM as the OpenPCC gateway uses it (base and psk modes only).

``Suite.setup_recipient_external`` runs the key schedule for a recipient whose Diffie-Hellman is done by
another device (a TPM's ECDH_ZGen): pass the shared secret, or a callable computing it from ``enc``.

Secret keys are ``SecretKey`` objects (opaque ``repr``, constant-time ``==``, ``to_bytes()`` for the RFC 9180
serialization); wherever a secret key is taken, its serialized bytes are accepted too. Errors are the
``openpcc.exceptions`` classes re-exported here, all below ``HPKEError``.

Every byte argument accepts any bytes-like object (``bytes``, ``bytearray``, ``memoryview``). Public inputs
given as ``bytes`` are read in place, without a copy, also while the GIL is released; other buffers could
change while the GIL is released, so they are copied once first. Secret inputs (secret keys, ``ikm``,
``psk``, AEAD keys) are always copied once, into memory that is zeroized when the call is done.
"""

from __future__ import annotations

from enum import IntEnum

from openpcc._openpcc.hpke import AEADKey, RecipientContext, SecretKey, SenderContext, Suite
from openpcc.exceptions import (
    HPKEError,
    InvalidInputError,
    InvalidKeyError,
    MessageLimitError,
    OpenError,
    UnsupportedSuiteError,
)

__all__ = [
    "AEAD",
    "KDF",
    "KEM",
    "AEADKey",
    "HPKEError",
    "InvalidInputError",
    "InvalidKeyError",
    "MessageLimitError",
    "OpenError",
    "RecipientContext",
    "SecretKey",
    "SenderContext",
    "Suite",
    "UnsupportedSuiteError",
]


class KEM(IntEnum):
    """Key encapsulation mechanisms (IANA HPKE KEM ids)."""

    P256 = 0x0010
    P384 = 0x0011
    P521 = 0x0012
    X25519 = 0x0020
    X448 = 0x0021
    X25519_KYBER768_DRAFT00 = 0x0030


class KDF(IntEnum):
    """Key derivation functions (IANA HPKE KDF ids)."""

    HKDF_SHA256 = 0x0001
    HKDF_SHA384 = 0x0002
    HKDF_SHA512 = 0x0003


class AEAD(IntEnum):
    """AEAD algorithms (IANA HPKE AEAD ids); ``EXPORT_ONLY`` contexts can only ``export``."""

    AES_128_GCM = 0x0001
    AES_256_GCM = 0x0002
    CHACHA20_POLY1305 = 0x0003
    EXPORT_ONLY = 0xFFFF
