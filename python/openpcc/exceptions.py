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


# --- attestation ------------------------------------------------------------


class AttestationError(OpenPCCError):
    """Base of the errors raised by ``openpcc.attestation``."""


class EvidenceFormatError(AttestationError, MalformedInputError):
    """Evidence bytes do not parse as their format requires."""


class TEECollectionError(AttestationError):
    """The TEE could not produce a report (no configfs-tsm interface, a raced or failed request)."""


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


# --- OHTTP (RFC 9458, chunked OHTTP) ----------------------------------------


class OHTTPError(OpenPCCError):
    """Base of the errors raised by ``openpcc.ohttp``."""


class KeyConfigError(OHTTPError, MalformedInputError):
    """A key configuration, ``application/ohttp-keys`` list, or gateway secret key/seed is invalid."""


class MalformedMessageError(OHTTPError, MalformedInputError):
    """An encapsulated request or response is too short for its header, enc, nonce or tag."""


class OHTTPUnsupportedError(OHTTPError, UnsupportedError):
    """A KEM, KDF or AEAD identifier (or an operation on it) that openpcc does not implement."""


class KeyIdMismatchError(OHTTPError, UnsupportedError):
    """The request names a key identifier that this gateway key does not have."""


class SuiteMismatchError(OHTTPError, UnsupportedError):
    """The request's KEM, KDF or AEAD is not offered by the gateway's key configuration."""


class OHTTPDecryptError(OHTTPError, DecryptError):
    """An encapsulated request, response or chunk failed to authenticate."""


class TruncatedStreamError(OHTTPError, DecryptError):
    """A chunked OHTTP stream ended before its final chunk."""


class ChunkTooLargeError(OHTTPError, LimitError):
    """A chunk (or the data after the final-chunk indicator) exceeds the opener's maximum."""


class ChunkLimitError(OHTTPError, LimitError):
    """The chunk sequence number is exhausted."""


class OHTTPUsageError(OHTTPError, UsageError):
    """A sealer or opener was used after finishing or after an error, or with invalid options."""


class OHTTPMediaTypeError(OHTTPError, UnsupportedError):
    """A ``Content-Type`` that is not the OHTTP request (or response) media type expected."""

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


# --- attestation policy and evidence bundles (openpcc.attestation) ----------


class PolicyError(AttestationError, MalformedInputError):
    """A policy document is not valid TOML, has an unknown key, or a value of the wrong type."""


# --- compute layer (multi-recipient requests, responses, token streams) -----


class ComputeError(OpenPCCError):
    """Base of the errors raised by ``openpcc.compute``."""


class ComputeDecryptError(ComputeError, DecryptError):
    """A body, chunk or response failed to authenticate: tampered, reordered, dropped or replayed."""


class ComputeUnwrapError(ComputeDecryptError):
    """The data key could not be unwrapped: the encapsulated key is for another node, or was altered."""


class ComputeMalformedError(ComputeError, MalformedInputError):
    """A compute message does not parse (wrong encapsulated-key header, bad BHTTP inside a token stream)."""


class ComputeTruncatedError(ComputeMalformedError):
    """A compute message ended early: no final chunk, or fewer bytes than its fixed fields need."""


class ComputeTrailingDataError(ComputeMalformedError):
    """Bytes after the end of a compute message."""


class ComputeChunkTooLargeError(ComputeError, LimitError):
    """A chunk is larger than the compute layer's 514-byte plaintext limit."""


class ComputeLimitError(ComputeError, LimitError):
    """A size or counter limit of the compute layer was reached."""


class UnsupportedMediaTypeError(ComputeError, UnsupportedError):
    """A media type that is not a compute request/response type of the expected direction."""


class UnknownNodeError(ComputeError, LookupError):
    """The router named a node (``X-Node-ID``) that was not one of the request's candidates."""


class ComputeStateError(ComputeError, UsageError):
    """A stream was used after it finished or failed."""


class ComputeArgumentError(ComputeError, ValueError):
    """An argument to ``openpcc.compute`` is not valid (key, size, status, field)."""


# --- relay and gateway servers (openpcc.services) -----------------------------


class EdgeError(OpenPCCError):
    """Base of the errors raised when starting or stopping a relay or gateway server."""


class EdgeConfigError(EdgeError, ValueError):
    """A relay or gateway setting, or a gateway key file, is not usable."""


class EdgeBindError(EdgeError, OSError):
    """The relay or gateway cannot listen on the configured address."""
