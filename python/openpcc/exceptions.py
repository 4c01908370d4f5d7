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
    """A policy document is not valid TOML, has an unknown key or a value of the wrong type, or
    does not fail closed (no launch-measurement pins under ``require_tee``, a maximum age without
    a nonce, an unfilled ``"<placeholder>"``)."""


class RimError(AttestationError):
    """An NVIDIA reference integrity manifest (RIM) that cannot be trusted."""


class RimChainError(RimError):
    """A RIM's signing certificate does not chain to the policy's RIM roots
    (``nvidia.rim.<k>.chain``)."""


class RimSignatureError(RimError):
    """A RIM's XML-DSig signature does not verify, or does not cover the whole manifest
    (``nvidia.rim.<k>.signature``)."""


# --- configuration (openpcc.config) -----------------------------------------


class ConfigError(OpenPCCError):
    """Base of the errors raised while reading a role's configuration or its data directory."""


class ConfigSyntaxError(ConfigError, MalformedInputError):
    """The configuration file is not valid TOML, or a table has the wrong shape."""


class UnknownSettingError(ConfigError, KeyError):
    """A role, table or setting name (in the file or an ``OPENPCC_*`` variable) that openpcc does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SettingValueError(ConfigError, ValueError):
    """A setting has the wrong type or is out of range."""


class InsecureFileError(ConfigError):
    """A key file or data directory is readable by other users (its mode must be 0600 / 0700)."""


# --- server roles and their stores (openpcc.services) -----------------------


class ServiceError(OpenPCCError):
    """Base of the errors raised by the server roles in ``openpcc.services``."""


class StoreError(ServiceError):
    """Base of the errors raised by a role's store (SQLite or PostgreSQL)."""


class StoreUnavailableError(StoreError):
    """The database cannot be opened or reached, or its driver is not installed."""


class MigrationError(StoreError):
    """The database schema is newer than this openpcc, or a migration failed."""


class InvalidMessageError(ServiceError, MalformedInputError):
    """A request body does not decode as its protobuf message, or is not that message's canonical encoding."""


class NonceLockError(ServiceError):
    """Base of the nonce-locking outcomes a caller must handle (spec §8.5)."""


class NonceInvalidError(NonceLockError, MalformedInputError):
    """A nonce of the wrong length or outside its validity window."""


class NonceLockedError(NonceLockError):
    """The nonce is locked by another transaction (HTTP 409)."""


class NonceConsumedError(NonceLockError):
    """The nonce was already spent (HTTP 410)."""


class TicketMismatchError(NonceLockError):
    """Consume or release named a ticket that does not hold the nonce's lock."""


class BankError(ServiceError):
    """Base of the bank-store outcomes a caller must handle (spec §8.6)."""


class InsufficientBalanceError(BankError):
    """The account does not hold enough for the debit (unknown accounts hold nothing)."""


class UnknownAccountError(BankError, LookupError):
    """The account or API key does not exist."""


class IdempotencyConflictError(BankError):
    """An operation id was reused with different arguments."""


class InvalidAPIKeyError(BankError, PermissionError):
    """The auth bank does not know the API key presented (or the header and the body disagree)."""


class BalanceLimitError(BankError, LimitError):
    """A credit would take the balance past the store's maximum, or an amount is out of range."""


class RequestRejectedError(ServiceError):
    """A service refuses a request with one of the stable wire codes of ``openpcc.services.errors``.

    ``code`` is the number; ``detail`` an optional reason that names fields and sizes, never their values.
    """

    def __init__(self, code: int, detail: str | None = None) -> None:
        super().__init__(f"error {code}" + (f": {detail}" if detail else ""))
        self.code = code
        self.detail = detail


class UnauthorizedError(ServiceError, PermissionError):
    """Another role refused our bearer token (HTTP 401), or we sent none where it requires one."""


class HTTPStreamError(ServiceError):
    """A streamed HTTP exchange with another role failed: unreachable, timed out, or a malformed answer."""


class TrailerError(ServiceError, ValueError):
    """A trailer that was not announced in the ``Trailer`` header, or a name or value HTTP cannot carry."""


class LoadBalancerError(ServiceError):
    """The load balancer in front of role replicas (HAProxy) is missing, refuses its configuration, or
    does not start listening."""


class DatabaseServerError(ServiceError):
    """The PostgreSQL server a stack runs for its replicas is missing, cannot be initialized, or does not
    start or stop."""


# --- inference engines (openpcc.services.engines) -----------------------------


class EngineError(ServiceError):
    """Base of the errors an inference engine raises. Each maps to an OpenAI-style error: ``status``
    (HTTP), ``error_type`` and ``code`` (the ``error.type`` and ``error.code`` fields), ``param`` (the
    request field at fault, if any). The message names fields and limits, never their values or the prompt.
    """

    status = 500
    error_type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class EngineRequestError(EngineError, MalformedInputError):
    """A malformed or unsupported completion request (HTTP 400 ``invalid_request_error``)."""

    status = 400
    error_type = "invalid_request_error"


class ContextLengthError(EngineRequestError, LimitError):
    """The prompt does not fit the model's context window (HTTP 400 ``context_length_exceeded``)."""

    code = "context_length_exceeded"


class ModelNotFoundError(EngineError, LookupError):
    """The request names a model this engine does not serve (HTTP 404 ``model_not_found``)."""

    status = 404
    error_type = "invalid_request_error"
    code = "model_not_found"


class EndpointNotFoundError(EngineError, LookupError):
    """The path is not a completion endpoint an engine answers (HTTP 404 ``unknown_url``)."""

    status = 404
    error_type = "invalid_request_error"
    code = "unknown_url"


class EngineOverloadedError(EngineError):
    """The engine (or its upstream) is at capacity (HTTP 429)."""

    status = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"


class EngineUnavailableError(EngineError):
    """The engine cannot serve: its model is not installed, its upstream is unreachable or refuses the
    node's credentials (HTTP 503)."""

    status = 503
    error_type = "server_error"
    code = "engine_unavailable"


class UpstreamError(EngineError):
    """An OpenAI-compatible upstream failed or answered something that is not the OpenAI API (HTTP 502)."""

    status = 502
    error_type = "server_error"
    code = "upstream_error"


class EngineStreamError(UpstreamError):
    """A response broke off mid-stream (the upstream closed or died before ``data: [DONE]``)."""

    code = "stream_interrupted"


# --- the OpenAI-compatible front (openpcc.httpx, openpcc.openai, openpcc.proxy) -------------
# The same OpenAI error shape as the engines' errors: the SDKs turn these statuses into their own types.


class RequestTooLargeError(EngineRequestError, LimitError):
    """The request body is larger than a node accepts (HTTP 413 ``request_too_large``)."""

    status = 413
    code = "request_too_large"


class ProxyAuthError(EngineError, PermissionError):
    """The proxy's bearer token is missing or wrong (HTTP 401 ``invalid_api_key``)."""

    status = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class PrivatePathError(EngineError):
    """The private path could not carry the request (HTTP 502). ``retryable`` tells the SDKs whether
    a new attempt (sealed anew, with a fresh credit) may succeed: an attestation or policy failure is not."""

    status = 502
    error_type = "server_error"
    code = "private_path_error"
    retryable = True


class AttestationFailedError(PrivatePathError):
    """No candidate node passed attestation or the client's policy; the message names the failed check
    (HTTP 502 ``attestation_failed``, not retried)."""

    code = "attestation_failed"
    retryable = False


class NoCreditError(EngineError):
    """The wallet holds no credit for the request and the bank gave none (HTTP 429 ``insufficient_quota``,
    as the OpenAI API answers an exhausted quota)."""

    status = 429
    error_type = "insufficient_quota"
    code = "insufficient_quota"


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


# --- blind RSA signatures (RFC 9474, partially blind RSA) --------------------


class BlindRSAError(OpenPCCError):
    """Base of the errors raised by ``openpcc.blindrsa``."""


class BlindRSAInputError(BlindRSAError, MalformedInputError):
    """A blinded message, blind signature, inverse or signature has the wrong length, is not below
    the modulus, or is not invertible modulo n; or a variant name is unknown."""


class BlindRSAKeyError(BlindRSAError, ValueError):
    """An RSA key does not parse, has an unsupported size or exponent, or is inconsistent."""


class UnsafePrimesError(BlindRSAKeyError):
    """Partially blind RSA needs a key whose primes are safe primes; this one's are not."""


class InvalidSignatureError(BlindRSAError):
    """A (blind) signature does not verify for this key, message and metadata."""


class BlindRSASigningError(BlindRSAError):
    """The private-key operation failed its own check against the public key."""


# --- anonymous credits (openpcc.credits) -------------------------------------


class CreditError(OpenPCCError):
    """Base of the errors raised by ``openpcc.credits``."""


class CurrencyValueError(CreditError, ValueError):
    """An amount that cannot be represented, is out of range, or a special value used as an amount."""


class MalformedCreditError(CreditError, MalformedInputError):
    """A credit, nonce or currency value does not parse (bad protobuf, wrong lengths, missing fields)."""


class InvalidCreditError(CreditError):
    """A credit's signature does not verify under the currency key for its value."""


class ExpiredCreditError(CreditError):
    """A credit's nonce timestamp is outside its validity window."""


class WrongCreditValueError(CreditError):
    """A credit's value is not the one the operation requires (a special or zero value where an amount
    is needed, or a value other than the one requested)."""


class RefundRefusedError(CreditError):
    """A refund above the credit spent, for a node the caller has not admitted, or asked for twice."""


# --- the client's wallet (openpcc.wallet) -------------------------------------


class WalletError(OpenPCCError):
    """Base of the errors raised by ``openpcc.wallet``."""


class WalletFileError(WalletError, MalformedInputError):
    """The wallet file does not decrypt (tampered, or another key) or its content does not parse."""


class WalletEmptyError(WalletError):
    """The wallet holds no credit of the value asked for and could not get one."""


class BankRequestError(WalletError):
    """A bank refused a wallet's request or could not be reached: ``status`` (0: unreachable), the bank's
    error ``code`` when it sent one, and its ``reason``."""

    def __init__(self, status: int, code: int | None, reason: str | None) -> None:
        self.status = status
        self.code = code
        self.reason = reason
        super().__init__(f"bank request failed: status {status}, code {code}: {reason or 'no reason given'}")


# --- badges (openpcc.badge, spec §8.9) -----------------------------------------


class BadgeError(OpenPCCError):
    """Base of the badge errors; ``check`` names the check that failed (``badge.signature``, ...)."""

    check = "badge"


class MalformedBadgeError(BadgeError, MalformedInputError):
    """A badge that does not decode: not base64, not a ``Badge`` protobuf, or its model list is not sorted,
    non-empty, printable-ASCII names (or, for a client, names a model twice)."""

    check = "badge.decode"


class BadgeSignatureError(BadgeError):
    """The badge's Ed25519 signature does not verify under the auth bank's badge key (or is missing)."""

    check = "badge.signature"


# --- transparency (openpcc.transparency: Sigstore bundles, statements, logs) ---


class TransparencyError(OpenPCCError):
    """Base of the errors raised by ``openpcc.transparency``."""


class BundleFormatError(TransparencyError, MalformedInputError):
    """A Sigstore bundle does not parse (protobuf or JSON), or has an unsupported media type."""


class BundleVerificationError(TransparencyError):
    """A bundle's signature, certificate chain, timestamps or log entry do not verify."""


class IdentityMismatchError(BundleVerificationError):
    """The signing certificate's OIDC issuer or subject does not match the identity policy."""


class StatementError(TransparencyError, MalformedInputError):
    """An in-toto statement or predicate is malformed, of another type, or its digests disagree."""


class KeyRotationError(TransparencyError):
    """No OHTTP key rotation period is active at the given time, or it names a missing key."""


class TrustRootError(TransparencyError, ValueError):
    """A trusted root, verifier key or policy setting is missing or invalid."""


class NoteError(TransparencyError, MalformedInputError):
    """A signed note, checkpoint or verifier key does not parse (C2SP signed-note, tlog-checkpoint)."""


class NoteVerificationError(TransparencyError):
    """No trusted signature on a note verifies, a known key's signature is bad, or too few witnesses cosigned."""


class TooFewWitnessesError(NoteVerificationError):
    """A checkpoint carries fewer valid witness cosignatures than the client requires."""


class LogProofError(TransparencyError):
    """An inclusion or consistency proof does not verify against the checkpoint."""


class SplitViewError(LogProofError):
    """A checkpoint is inconsistent with one seen before: the log shows different histories."""


class EntryNotLoggedError(TransparencyError):
    """A statement, key or image is not in the log (no entry or no valid inclusion proof)."""


class LogStateError(TransparencyError):
    """The client's or witness's saved state is unreadable, or belongs to another log."""


class EntryTooLargeError(TransparencyError, LimitError):
    """A log entry is longer than the 65535 bytes a tlog-tiles entry bundle can frame."""


class WitnessConflictError(TransparencyError):
    """The caller's ``old`` size is not the size this witness last cosigned (tlog-witness 409)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"this witness last cosigned size {size}")
        self.size = size


# --- relay and gateway servers (openpcc.services) -----------------------------


class EdgeError(OpenPCCError):
    """Base of the errors raised when starting or stopping a relay or gateway server."""


class EdgeConfigError(EdgeError, ValueError):
    """A relay or gateway setting, or a gateway key file, is not usable."""


class EdgeBindError(EdgeError, OSError):
    """The relay or gateway cannot listen on the configured address."""


# --- the client (openpcc.Client, openpcc.AsyncClient) --------------------------


class ClientError(OpenPCCError):
    """Base of the errors raised by ``openpcc.client``."""


class ClientConfigError(ClientError, ConfigError):
    """The client profile is incomplete or one of its pinned files (gateway keys, node policy, currency
    key) does not load."""


class GatewayKeyError(ClientConfigError):
    """The pinned gateway keys do not parse, or none of their rotation periods is active now."""


class ClientUsageError(ClientError, UsageError):
    """The client was called with arguments it cannot honour (no model, another credit value, closed)."""


class RelayError(ClientError):
    """The relay or the gateway refused the encapsulated request or could not be reached: ``status`` is
    the outer HTTP status (0: unreachable or timed out); ``connected`` is false when no connection to the
    relay was made (so nothing was sent)."""

    def __init__(self, status: int, reason: str, *, connected: bool = True) -> None:
        self.status = status
        self.reason = reason
        self.connected = connected
        super().__init__(f"relay/gateway: status {status}: {reason}")


class RouterError(ClientError):
    """The router answered with an error: ``status`` and the router's ``message`` (spec §5.5)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"router: status {status}: {message or 'no message'}")


class CandidatesUnavailableError(RouterError):
    """The router could route to none of the verified candidates (404 "all candidate nodes unavailable")."""


class NoVerifiedNodeError(ClientError):
    """No node could be used: the router listed none for the model, or none passed verification.
    ``rejections`` maps node ids to the names of the checks they failed."""

    def __init__(self, message: str, rejections: dict[str, list[str]] | None = None) -> None:
        self.rejections = dict(rejections or {})
        super().__init__(message)


class PolicyRejectedError(NoVerifiedNodeError):
    """Every node the router listed failed the pinned attestation policy; the message names the checks."""


class ResponseStreamError(ClientError):
    """The answer broke off or did not decrypt after the node started answering."""


class CompletionError(ClientError):
    """The node answered a completion with an error status: ``status`` and the engine's ``message``."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"the node answered {status}: {message or 'no message'}")


# --- the supervisor (openpcc up, openpcc demo) ----------------------------------


class SupervisorError(ServiceError):
    """``openpcc up`` cannot start or keep the stack running (the message names the role and why)."""


class PortInUseError(SupervisorError, OSError):
    """A port the stack needs is taken by another process (choose another ``--base-port``)."""


class RoleStartError(SupervisorError):
    """A role exited or did not become healthy in time while the stack was starting."""
