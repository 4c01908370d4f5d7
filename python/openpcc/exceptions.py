"""Every exception openpcc raises, in one place.

``OpenPCCError`` is the root. Below it, *families* say what went wrong by cause:
malformed input from a peer or caller, a failed decryption, an unsupported
algorithm, a limit reached, or misuse of an API. Each protocol module then has
its own base (``HPKEError``, ``OHTTPError``, ...) whose leaves also inherit the
family, so callers can catch by protocol or by cause.

Messages name the field and its length, never secret or raw input bytes.
"""

from __future__ import annotations


class OpenPCCError(Exception):
    """Root of every openpcc error."""


# --- families, by cause -----------------------------------------------------


class MalformedInputError(OpenPCCError, ValueError):
    """Bytes from a peer or the caller do not parse as the format requires."""


class DecryptError(OpenPCCError):
    """Authenticated decryption failed: wrong key, tampered or truncated data."""


class UnsupportedError(OpenPCCError, ValueError):
    """An algorithm, version or media type that openpcc does not implement."""


class LimitError(OpenPCCError):
    """A size, count or sequence limit was reached."""


class UsageError(OpenPCCError):
    """The API was used out of order or with inconsistent arguments."""


# --- HPKE (RFC 9180) --------------------------------------------------------


class HPKEError(OpenPCCError):
    """Base of the errors raised by ``openpcc.hpke``."""


class OpenError(HPKEError, DecryptError):
    """An HPKE ciphertext failed to authenticate."""


class InvalidKeyError(HPKEError, ValueError):
    """A public or private key is malformed or not valid for the KEM."""


class MessageLimitError(HPKEError, LimitError):
    """The context's sequence number is exhausted; no further message may be sealed or opened."""


class InvalidInputError(HPKEError, MalformedInputError):
    """An argument (enc, PSK, info, length, algorithm id) is not valid."""


class UnsupportedSuiteError(HPKEError, UnsupportedError):
    """A KEM, KDF or AEAD identifier that is not supported."""


# --- BHTTP (RFC 9292) -------------------------------------------------------


class BHTTPError(OpenPCCError):
    """Base of the errors raised by ``openpcc.bhttp``."""


class BHTTPDecodeError(BHTTPError, MalformedInputError):
    """Bytes do not form a valid binary HTTP message (bad framing, field, status...)."""


class BHTTPTruncatedError(BHTTPDecodeError):
    """The message ends at a point where RFC 9292 does not allow truncation."""


class BHTTPPaddingError(BHTTPDecodeError):
    """A non-zero byte follows the message, where only zero padding may."""


class BHTTPLimitError(BHTTPDecodeError, LimitError):
    """A field section or control data field is larger than the decoder's limit."""


class BHTTPEncodeError(BHTTPError, ValueError):
    """A message cannot be encoded: invalid field name or value, status out of range, bad option."""


class BHTTPStateError(BHTTPError, UsageError):
    """A stream decoder was used after ``finish()`` or after it raised."""


# --- attestation ------------------------------------------------------------


class AttestationError(OpenPCCError):
    """Base of the errors raised by ``openpcc.attestation``."""


class EvidenceFormatError(AttestationError, MalformedInputError):
    """Evidence bytes do not parse as their format requires."""


# --- TPM 2.0 (openpcc.attestation.tpm, openpcc.node_identity) ---------------


class TPMError(AttestationError):
    """Base of the errors raised by the TPM parsers and the TPM command client."""


class MalformedTPMStructureError(TPMError, MalformedInputError):
    """TPM bytes (TPMS_ATTEST, TPMT_PUBLIC, TPMT_SIGNATURE, a response) do not parse."""


class UnsupportedTPMAlgorithmError(TPMError, UnsupportedError):
    """A TPM algorithm, curve or attestation type that openpcc does not implement."""


class TPMDeviceError(TPMError):
    """The TPM could not be reached, or the transport failed (socket, /dev/tpmrm0)."""


class TPMCommandError(TPMError):
    """The TPM answered a command with a non-zero response code (``rc`` holds it)."""

    def __init__(self, command: str, rc: int) -> None:
        super().__init__(f"{command} failed with TPM response code {rc:#x}")
        self.command = command
        self.rc = rc
