"""RSA blind signatures (RFC 9474) and partially blind RSA with public metadata.

The core is Rust (``openpcc-blindrsa``): private-key operations are constant-time and blinded
(the ``rsa`` crate >= 0.10), and every RSA operation runs without the GIL.

RFC 9474, variant names as constants (:data:`PSS_RANDOMIZED` is the RFC's recommendation)::

    msg = prepare(b"...", PSS_RANDOMIZED)              # client: adds a 32-byte random prefix
    blinded, inv = blind(pk, msg, PSS_RANDOMIZED)      # client: send `blinded`, keep `inv`
    blind_sig = blind_sign(sk, blinded)                # signer
    sig = finalize(pk, msg, blind_sig, inv, PSS_RANDOMIZED)   # client: verified before returned
    verify(pk, msg, sig, PSS_RANDOMIZED)               # anyone

Partially blind RSA (draft-amjad-cfrg-partially-blind-rsa) binds public metadata ``info`` into
the key (``e'`` derived with HKDF-SHA-384) and the message; the signer's key needs safe primes.
OpenPCC's currency signs the 24-byte nonce with the 2-byte value as ``info``, in the
PSS-Deterministic variant with a zero salt (``zero_salt=True``), see :mod:`openpcc.credits`.

Errors are :class:`openpcc.exceptions.BlindRSAError` subclasses: ``BlindRSAInputError`` (wrong
length, out of range, not invertible), ``BlindRSAKeyError``/``UnsafePrimesError``,
``InvalidSignatureError``, ``BlindRSASigningError``.
"""

from __future__ import annotations

from openpcc._openpcc.blindrsa import (
    PREFIX_LEN,
    PSS_DETERMINISTIC,
    PSS_RANDOMIZED,
    PSSZERO_DETERMINISTIC,
    PSSZERO_RANDOMIZED,
    PublicKey,
    SecretKey,
    blind,
    blind_sign,
    finalize,
    metadata_message,
    pb_blind,
    pb_blind_sign,
    pb_finalize,
    pb_verify,
    prepare,
    verify,
)
from openpcc.exceptions import (
    BlindRSAError,
    BlindRSAInputError,
    BlindRSAKeyError,
    BlindRSASigningError,
    InvalidSignatureError,
    UnsafePrimesError,
)

VARIANTS = (PSS_RANDOMIZED, PSSZERO_RANDOMIZED, PSS_DETERMINISTIC, PSSZERO_DETERMINISTIC)

__all__ = [
    "PREFIX_LEN",
    "PSSZERO_DETERMINISTIC",
    "PSSZERO_RANDOMIZED",
    "PSS_DETERMINISTIC",
    "PSS_RANDOMIZED",
    "VARIANTS",
    "BlindRSAError",
    "BlindRSAInputError",
    "BlindRSAKeyError",
    "BlindRSASigningError",
    "InvalidSignatureError",
    "PublicKey",
    "SecretKey",
    "UnsafePrimesError",
    "blind",
    "blind_sign",
    "finalize",
    "metadata_message",
    "pb_blind",
    "pb_blind_sign",
    "pb_finalize",
    "pb_verify",
    "prepare",
    "verify",
]
