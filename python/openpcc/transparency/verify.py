"""Verifying signed statements (spec §7.2) with the ``sigstore`` library, offline.

``StatementVerifier`` takes a trusted root *file* (the Sigstore staging or production
``trusted_root.json``, or your own) and an :class:`IdentityPolicy`; it never fetches TUF metadata
and never reads the clock. What ``sigstore`` checks for us, per bundle: the Fulcio certificate
chain at the log's integrated time (or an RFC 3161 timestamp), the certificate's SCT, key usage
and code-signing EKU, the Rekor inclusion proof and signed checkpoint, the inclusion promise
(SET), that the signing time falls inside the certificate's validity, the DSSE or message
signature, and that the log entry's body matches the bundle. What we add: the identity policy
(full-match), the statement's type and predicate type, and that each predicate value's SHA-256
equals its *named* subject's digest (the reference accepts any subject). See docs/transparency.md
for what neither checks.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from os import PathLike
from typing import Any

from cryptography.exceptions import InvalidSignature
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier
from sigstore_models.common.v1 import HashAlgorithm

from openpcc.exceptions import (
    BundleFormatError,
    BundleVerificationError,
    OpenPCCError,
    StatementError,
    TrustRootError,
)
from openpcc.transparency.bundle import IN_TOTO_PAYLOAD_TYPE, Bundle
from openpcc.transparency.policy import IdentityPolicy, certificate_identity
from openpcc.transparency.rotation import (
    KeyRotationPeriod,
    parse_key_rotation_periods,
    select_active_period,
)
from openpcc.transparency.statements import (
    JWK_FIELD,
    OHTTP_KEYS_FIELD,
    ROTATION_PERIODS_FIELD,
    PredicateType,
    Statement,
    image_manifest,
    predicate_data,
)

# Errors the sigstore library and the libraries under it raise for bad bundles.
_LIBRARY_ERRORS = (SigstoreError, InvalidSignature, ValueError, TypeError, KeyError, AttributeError)


@dataclass(frozen=True)
class SignedStatement:
    """A statement whose bundle verified, with who signed it and when the log saw it."""

    statement: Statement
    issuer: str
    subject: str
    integrated_time: datetime | None
    bundle_sha256: bytes


@dataclass(frozen=True)
class OHTTPKeys:
    """The verified content of an ohttp-keys statement and the key chosen for a given time."""

    key_configs: bytes
    rotation_periods: tuple[KeyRotationPeriod, ...]
    active_period: KeyRotationPeriod
    key_config: Any  # openpcc.ohttp.KeyConfig


def load_trusted_root(path: str | PathLike[str]) -> TrustedRoot:
    """A Sigstore ``trusted_root.json`` (TrustedRoot protobuf JSON) from a file."""
    try:
        return TrustedRoot.from_file(str(path))
    except (OSError, *_LIBRARY_ERRORS) as exc:
        raise TrustRootError(
            f"cannot load the trusted root {str(path)[-120:]}: {type(exc).__name__}"
        ) from exc


class StatementVerifier:
    """Verifies OpenPCC statement bundles against one trusted root and one identity policy.

    ``cache_size`` bundles (by SHA-256 of their bytes) keep their verified statement, so a client
    that sees the same bundle again (every remote-config fetch) skips the signature work. A cached
    result is exactly as valid as a fresh one: nothing in bundle verification depends on the time
    of the check, and the root and policy are fixed per verifier.
    """

    def __init__(
        self,
        trusted_root: TrustedRoot | str | PathLike[str],
        policy: IdentityPolicy,
        *,
        cache_size: int = 64,
    ) -> None:
        if not isinstance(trusted_root, TrustedRoot):
            trusted_root = load_trusted_root(trusted_root)
        self._verifier = Verifier(trusted_root=trusted_root)
        self._policy = policy
        self._cache: OrderedDict[bytes, SignedStatement] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def verify_statement(
        self, bundle: Bundle | bytes, predicate_type: str | None = None
    ) -> SignedStatement:
        """Verify a DSSE bundle and return its in-toto statement (of ``predicate_type`` if given)."""
        if isinstance(bundle, Bundle):
            signed = self._verify_dsse(bundle, _document_digest(bundle))
        else:
            raw = bytes(bundle)
            key = hashlib.sha256(raw).digest()
            cached = self._cached(key)
            signed = (
                cached if cached is not None else self._verify_dsse(Bundle.from_bytes(raw), key)
            )
            if cached is None:
                self._remember(key, signed)
        if predicate_type is not None:
            signed.statement.require_type(predicate_type)
        return signed

    def verify_artifact(
        self, bundle: Bundle | bytes, artifact: bytes, *, prehashed: bool = False
    ) -> tuple[str, str]:
        """Verify a message-signature bundle over ``artifact`` (or over its SHA-256 if ``prehashed``).

        Returns the signer's ``(issuer, subject)``.
        """
        parsed = bundle if isinstance(bundle, Bundle) else Bundle.from_bytes(bytes(bundle))
        if parsed.is_dsse:
            raise BundleFormatError("bundle holds a DSSE envelope, not a message signature")
        target: bytes | Hashed = artifact
        if prehashed:
            if len(artifact) != 32:
                raise BundleVerificationError(
                    "a prehashed artifact must be a 32-byte SHA-256 digest"
                )
            target = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes(artifact))
        self._call(self._verifier.verify_artifact, target, parsed.sigstore, self._policy)
        return certificate_identity(parsed.certificate)

    def ohttp_keys(self, bundle: Bundle | bytes, at: datetime) -> OHTTPKeys:
        """The verified OHTTP key configs and the config whose rotation period is active ``at``."""
        from openpcc.ohttp import decode_key_configs  # the extension, only when keys are wanted

        statement = self.verify_statement(bundle, PredicateType.OHTTP_KEYS).statement
        configs_bytes = predicate_data(statement, OHTTP_KEYS_FIELD)
        periods = parse_key_rotation_periods(predicate_data(statement, ROTATION_PERIODS_FIELD))
        try:
            configs = decode_key_configs(configs_bytes)
        except OpenPCCError as exc:
            raise StatementError(f"signed OHTTP key configs do not parse: {exc}") from exc
        active = select_active_period(periods, at)
        matching = [c for c in configs if c.key_id == active.key_id]
        if len(matching) != 1:
            raise StatementError(
                f"active rotation period names key {active.key_id}, which the statement has {len(matching)} times"
            )
        return OHTTPKeys(configs_bytes, tuple(periods), active, matching[0])

    def currency_jwk(self, bundle: Bundle | bytes) -> bytes:
        """The verified currency public key JWK (JSON bytes); the client requires ``use == "sig"``."""
        statement = self.verify_statement(bundle, PredicateType.PUBLIC_KEY).statement
        jwk = predicate_data(statement, JWK_FIELD)
        try:
            document = json.loads(jwk)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StatementError("signed JWK is not valid JSON") from exc
        if not isinstance(document, dict) or document.get("use") != "sig":
            raise StatementError('signed JWK is not a signing key (use != "sig")')
        return jwk

    def image_manifest(self, bundle: Bundle | bytes) -> dict[str, Any]:
        """The verified Packer manifest of an image-manifest statement."""
        return image_manifest(self.verify_statement(bundle, PredicateType.IMAGE_MANIFEST).statement)

    def _verify_dsse(self, bundle: Bundle, digest: bytes) -> SignedStatement:
        if not bundle.is_dsse:
            raise BundleFormatError("bundle holds a message signature, not a DSSE statement")
        payload_type, payload = self._call(
            self._verifier.verify_dsse, bundle.sigstore, self._policy
        )
        if payload_type != IN_TOTO_PAYLOAD_TYPE:
            raise StatementError(f"DSSE payload type is {str(payload_type)[:80]!r}, not in-toto")
        issuer, subject = certificate_identity(bundle.certificate)
        return SignedStatement(
            Statement.from_json(payload), issuer, subject, bundle.integrated_time, digest
        )

    @staticmethod
    def _call(function: Any, *args: Any) -> Any:
        try:
            return function(*args)
        except OpenPCCError:
            raise
        except _LIBRARY_ERRORS as exc:
            raise BundleVerificationError(f"bundle does not verify: {_first_line(exc)}") from exc

    def _cached(self, key: bytes) -> SignedStatement | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def _remember(self, key: bytes, signed: SignedStatement) -> None:
        if self._cache_size <= 0:
            return
        with self._lock:
            self._cache[key] = signed
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)


def _document_digest(bundle: Bundle) -> bytes:
    return hashlib.sha256(json.dumps(bundle.document, sort_keys=True).encode()).digest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class LoggedStatementVerifier:
    """A :class:`StatementVerifier` that also requires every statement bundle to be in a log.

    The bundle's bytes must be an entry of the log that ``log_client`` follows (its latest verified,
    witness-cosigned checkpoint), proven by an inclusion proof from the log's tiles. A key or image
    shown to this client but not published to everyone is refused with ``EntryNotLoggedError``.
    Call ``log_client.update()`` before, to see the newest checkpoint.
    """

    def __init__(self, verifier: StatementVerifier, log_client: Any) -> None:
        self.verifier = verifier
        self.log_client = log_client

    def _logged(self, bundle: bytes, index: int | None) -> None:
        self.log_client.require_included(bundle, index)

    def verify_statement(
        self, bundle: bytes, predicate_type: str | None = None, *, index: int | None = None
    ) -> SignedStatement:
        signed = self.verifier.verify_statement(bundle, predicate_type)
        self._logged(bundle, index)
        return signed

    def ohttp_keys(self, bundle: bytes, at: datetime, *, index: int | None = None) -> OHTTPKeys:
        keys = self.verifier.ohttp_keys(bundle, at)
        self._logged(bundle, index)
        return keys

    def currency_jwk(self, bundle: bytes, *, index: int | None = None) -> bytes:
        jwk = self.verifier.currency_jwk(bundle)
        self._logged(bundle, index)
        return jwk

    def image_manifest(self, bundle: bytes, *, index: int | None = None) -> dict[str, Any]:
        manifest = self.verifier.image_manifest(bundle)
        self._logged(bundle, index)
        return manifest
