"""Transparency wired into a running stack: the operator publishes, every client verifies.

Operator side (called by the supervisor, or ``openpcc transparency publish-stack``):
:class:`StackPublisher` signs statements with the local signing profile (:mod:`.local`) and appends
each bundle to the log role (``POST <log_url>/add``; the log has its witnesses cosign the new
checkpoint before it answers). It publishes

* the gateway's OHTTP key configs with their rotation periods, read from the gateway's key files
  (:func:`gateway_key_material`); the gateway writes the next key half a lifetime before the current
  one ends, and :meth:`StackPublisher.publish_gateway_keys` republishes whenever the set of live keys
  changes, so the next key is in the log long before it becomes active;
* the currency public key as the JWK the reference publishes (:func:`currency_jwk`); the auth bank's
  ``currency_key_bundle_file`` points at the bundle, so bank and clients agree on one logged key;
* a compute-node image manifest whose ``custom_data`` carries what a client pins: the attestation
  policy, its PCR golden values, the model and the SHA-256 of its GGUF (:func:`node_image_manifest`).

Client side (called by ``openpcc.Client`` when its profile has a ``log_url``): :class:`TransparencyClient`
reads the log, checks its checkpoint (log signature, at least ``min_witnesses`` witness cosignatures,
consistency with the checkpoint kept in ``log_state_file``), proves every entry against it, verifies the
newest statement of each kind (Sigstore bundle under ``trust_root`` and ``identity_policy``) and returns
:class:`VerifiedStatements`, or raises a typed error saying why (see docs/transparency.md).

The library modules never read the clock; this wiring does only where a caller passes no time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpcc.exceptions import (
    BundleFormatError,
    BundleVerificationError,
    EntryNotLoggedError,
    IdentityMismatchError,
    LogProofError,
    OpenPCCError,
    StatementError,
    TransparencyError,
    TrustRootError,
)
from openpcc.transparency import statements
from openpcc.transparency.bundle import Bundle
from openpcc.transparency.local import LocalSigstore
from openpcc.transparency.note import Checkpoint, Verifier
from openpcc.transparency.policy import Identity, IdentityPolicy
from openpcc.transparency.rotation import (
    KeyRotationPeriod,
    encode_key_rotation_periods,
    format_rfc3339nano,
)
from openpcc.transparency.statements import PredicateType, Statement
from openpcc.transparency.tlog import DirectoryFetch, LogClient, LogTrust
from openpcc.transparency.verify import OHTTPKeys, StatementVerifier

log = logging.getLogger("openpcc.transparency.stack")

#: The local profile's defaults: the CA name, and the identity its certificates name. There is no
#: OIDC exchange in the local profile; the issuer URL only labels the identity (docs/transparency.md).
LOCAL_PROFILE_NAME = "openpcc.localhost"
LOCAL_ISSUER = "https://openpcc.localhost/local-profile"
LOCAL_IDENTITY = "operator@openpcc.localhost"

#: What a client needs from the log, by predicate type.
GATEWAY_KEYS, CURRENCY_KEY, NODE_IMAGE = "gateway-keys", "currency-key", "node-image"
KINDS: Mapping[str, str] = {
    GATEWAY_KEYS: PredicateType.OHTTP_KEYS,
    CURRENCY_KEY: PredicateType.PUBLIC_KEY,
    NODE_IMAGE: PredicateType.IMAGE_MANIFEST,
}
MAX_LOG_ANSWER = 4096


# --- identity policies as a setting -----------------------------------------------------------


def local_identity_policy(identity: str = LOCAL_IDENTITY, issuer: str = LOCAL_ISSUER) -> IdentityPolicy:
    return IdentityPolicy((Identity(issuer=issuer, subject=identity),))


def identity_policy_setting(identity: str = LOCAL_IDENTITY, issuer: str = LOCAL_ISSUER) -> str:
    """The ``[client] identity_policy`` value accepting exactly ``identity`` from ``issuer``."""
    return json.dumps([{"issuer": issuer, "subject": identity}])


def parse_identity_policy(text: str) -> IdentityPolicy:
    """A JSON array of identities, each with ``issuer`` or ``issuer_regex`` and ``subject`` or
    ``subject_regex`` (full-match regular expressions)."""
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise TrustRootError("identity_policy is not a JSON array of identities") from exc
    keys = {"issuer", "issuer_regex", "subject", "subject_regex"}
    if not isinstance(items, list) or not items:
        raise TrustRootError("identity_policy must be a non-empty JSON array of identities")
    identities = []
    for item in items:
        if not isinstance(item, dict) or not set(item) <= keys or not all(isinstance(v, str) for v in item.values()):
            raise TrustRootError(f"an identity_policy entry has only string keys among {sorted(keys)}")
        identities.append(Identity(**item))
    return IdentityPolicy(tuple(identities))


# --- operator side: what is published --------------------------------------------------------------


def load_or_create_profile(
    directory: str | os.PathLike[str], now: datetime, name: str = LOCAL_PROFILE_NAME
) -> LocalSigstore:
    """The local signing profile in ``directory`` (0700), made on first use."""
    path = Path(directory)
    if (path / "profile.json").exists():
        return LocalSigstore.load(path)
    profile = LocalSigstore.generate(name, str(path / "rekor"), now)
    profile.save(path)
    return profile


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def gateway_key_material(keys_dir: str | os.PathLike[str], now: int) -> tuple[bytes, bytes]:
    """The statement content of the gateway's keys live at ``now`` (not yet ended): their
    ``application/ohttp-keys`` encoding and the rotation periods JSON (spec §2.3)."""
    from openpcc import ohttp
    from openpcc.gateway_keys import key_windows

    live = [w for w in key_windows(Path(keys_dir)) if w.active_until >= now]
    if not live:
        raise StatementError(f"no live gateway key in {keys_dir}")
    configs, periods = [], []
    for window in live:
        try:
            seed = bytes.fromhex(json.loads(window.path.read_text())["seed"])
            key = ohttp.GatewayKey.from_seed(window.key_id, window.kem, seed, [ohttp.HKDF_SHA256_AES128GCM])
        except (OSError, ValueError, KeyError, TypeError, OpenPCCError) as exc:
            raise StatementError(f"gateway key file {window.path.name} is unusable: {type(exc).__name__}") from exc
        configs.append(key.key_config)
        periods.append(KeyRotationPeriod(_utc(window.active_from), _utc(window.active_until), window.key_id))
    return ohttp.encode_key_configs(configs), encode_key_rotation_periods(periods)


def currency_jwk(public_key: Any, kid: str = "0") -> bytes:
    """The currency public key as the reference signs it: ``{"kty":"RSA","use":"sig","kid":"0","n":..,"e":..}``
    (its field order, compact), as in its dev currency-key bundle."""
    from openpcc.credits import public_key_to_jwk

    plain = public_key_to_jwk(public_key)
    document = {"kty": "RSA", "use": "sig", "kid": kid, "n": plain["n"], "e": plain["e"]}
    return json.dumps(document, separators=(",", ":")).encode()


def currency_jwk_from_key_file(path: str | os.PathLike[str]) -> bytes:
    """The JWK of the banks' currency signing key file (a 0600 PEM)."""
    from openpcc import blindrsa, config

    try:
        key = blindrsa.SecretKey.from_pem(config.read_key_file(Path(path)).decode("ascii", "replace"))
    except (OSError, blindrsa.BlindRSAError) as exc:
        raise StatementError(f"currency key {path} is unusable: {type(exc).__name__}") from exc
    return currency_jwk(key.public_key())


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def node_image_manifest(
    *,
    policy_toml: str,
    model: str,
    engine: str,
    model_sha256: str = "",
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """A Packer-style image manifest whose ``custom_data`` carries what a client pins.

    ``attestation_policy`` (the policy TOML a node's evidence is judged under), ``tpm_pcrs`` (its
    golden PCR values, also inside the policy), ``model``, ``engine`` and ``model_sha256`` (of the
    GGUF file). The ``artifact_id`` names the SHA-256 of ``custom_data``: the reference's statement
    digests only the artifact id, so this makes the subject cover the pinned values too.
    """
    try:
        policy = tomllib.loads(policy_toml)
    except tomllib.TOMLDecodeError as exc:
        raise StatementError("the node's attestation policy is not valid TOML") from exc
    pcrs = policy.get("tpm", {}).get("pcrs", {})
    custom: dict[str, Any] = {
        "attestation_policy": policy_toml,
        "tpm_pcrs": {str(k): list(v) for k, v in pcrs.items()},
        "model": model,
        "engine": engine,
        "model_sha256": model_sha256,
        **(extra or {}),
    }
    canonical = json.dumps(custom, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "builder_type": "openpcc-local",
        "artifact_id": "openpcc-node-image:sha256:" + hashlib.sha256(canonical).hexdigest(),
        "custom_data": custom,
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def statement_currency_key(bundle: bytes) -> Any:
    """The currency key a public-key statement bundle names, *without* verifying its signature: the
    banks use it to check that the statement they point clients at is about their own key."""
    from openpcc.credits import public_key_from_jwk

    document = Bundle.from_bytes(bundle).document
    try:
        payload = base64.b64decode(document["dsseEnvelope"]["payload"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise StatementError("the currency key bundle holds no DSSE statement") from exc
    statement = Statement.from_json(payload)
    statement.require_type(PredicateType.PUBLIC_KEY)
    try:
        return public_key_from_jwk(json.loads(statements.predicate_data(statement, statements.JWK_FIELD)))
    except (ValueError, OpenPCCError) as exc:
        raise StatementError("the currency key statement holds no RSA JWK") from exc


@dataclass(frozen=True)
class Published:
    kind: str
    bundle_path: Path
    index: int
    changed: bool


class StackPublisher:
    """Signs statements with the local profile and appends them to the log at ``log_url``.

    ``state_dir`` keeps each kind's latest bundle (``<kind>.sigstore.json``, what the banks serve) and
    what it was made from, so an unchanged statement is not signed again.
    """

    def __init__(
        self,
        profile: LocalSigstore,
        log_url: str,
        state_dir: str | os.PathLike[str],
        *,
        identity: str = LOCAL_IDENTITY,
        issuer: str = LOCAL_ISSUER,
        timeout: float = 30.0,
    ) -> None:
        self.profile, self.identity, self.issuer = profile, identity, issuer
        self.log_url, self.timeout = log_url.rstrip("/"), timeout
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def bundle_path(self, kind: str) -> Path:
        return self.state_dir / f"{kind}.sigstore.json"

    def publish_gateway_keys(self, keys_dir: str | os.PathLike[str], at: datetime) -> Published:
        configs, periods = gateway_key_material(keys_dir, int(at.timestamp()))
        return self.publish(GATEWAY_KEYS, statements.ohttp_keys_statement(configs, periods), configs + periods, at)

    def publish_currency_key(self, jwk: bytes, at: datetime) -> Published:
        return self.publish(CURRENCY_KEY, statements.public_key_statement(jwk), jwk, at)

    def publish_node_image(self, manifest: bytes, at: datetime) -> Published:
        return self.publish(NODE_IMAGE, statements.image_manifest_statement(manifest), manifest, at)

    def publish(self, kind: str, statement: Statement, content: bytes, at: datetime) -> Published:
        """Sign ``statement`` and append it, unless the last one of ``kind`` had the same ``content``."""
        state = self._state()
        digest = hashlib.sha256(content).hexdigest()
        previous = state.get(kind)
        path = self.bundle_path(kind)
        if isinstance(previous, dict) and previous.get("content_sha256") == digest and path.exists():
            index = self.submit(path.read_bytes())  # idempotent: makes sure the log holds it
            return Published(kind, path, index, changed=False)
        bundle = self.profile.sign_statement(statement, identity=self.identity, issuer=self.issuer, at=at)
        index = self.submit(bundle)
        _atomic_write(path, bundle)
        state[kind] = {"content_sha256": digest, "index": index, "signed_at": format_rfc3339nano(at)}
        _atomic_write(self.state_dir / "published.json", json.dumps(state, indent=2, sort_keys=True).encode())
        log.info("published %s statement as log entry %d", kind, index)
        return Published(kind, path, index, changed=True)

    def submit(self, bundle: bytes) -> int:
        """``POST <log_url>/add``; the log answers once its witnesses cosigned the new checkpoint."""
        request = urllib.request.Request(
            self.log_url + "/add", data=bundle, method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read(MAX_LOG_ANSWER))
        except urllib.error.HTTPError as exc:
            raise TransparencyError(f"the log refused the statement: HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:
            raise TransparencyError(f"cannot append to the log at {self.log_url}: {type(exc).__name__}") from exc
        index = answer.get("index") if isinstance(answer, dict) else None
        if type(index) is not int:
            raise TransparencyError("the log's answer has no entry index")
        return index

    def _state(self) -> dict[str, Any]:
        path = self.state_dir / "published.json"
        if not path.exists():
            return {}
        try:
            state = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise TransparencyError(f"publisher state {path} is unreadable") from exc
        return state if isinstance(state, dict) else {}


# --- client side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientTrust:
    """The transparency settings of a client profile (``[client]``), parsed."""

    log_url: str
    log_key: Verifier
    witnesses: tuple[Verifier, ...]
    min_witnesses: int
    trust_root: Path
    identity_policy: IdentityPolicy
    state_file: Path

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], data_dir: Path) -> ClientTrust | None:
        """From the ``[client]`` values; ``None`` when ``log_url`` is empty (no log configured).

        A configured log needs every other setting: a missing trust root or policy is an error, never
        a skipped check.
        """
        log_url = str(settings.get("log_url", "") or "")
        if not log_url:
            return None
        missing = [k for k in ("log_key", "trust_root", "identity_policy") if not settings.get(k)]
        if missing:
            raise TrustRootError(f"[client] log_url is set but {', '.join(missing)} is not")
        witnesses = tuple(Verifier.parse(k.strip()) for k in str(settings.get("witness_keys", "")).split(",") if k.strip())
        quorum = int(settings.get("min_witnesses", 0))
        if quorum > len(witnesses):
            raise TrustRootError(f"[client] min_witnesses is {quorum} but witness_keys names {len(witnesses)}")
        state = str(settings.get("log_state_file", "") or "") or str(data_dir / "log-checkpoint")
        return cls(
            log_url,
            Verifier.parse(str(settings["log_key"]).strip()),
            witnesses,
            quorum,
            Path(str(settings["trust_root"])),
            parse_identity_policy(str(settings["identity_policy"])),
            Path(state),
        )

    @classmethod
    def from_config(cls, client: Any) -> ClientTrust | None:
        """From a :class:`openpcc.config.RoleConfig` of ``[client]``."""
        return cls.from_settings(client.values, client.data_dir)


def describe_trust_root(path: Path) -> str:
    """What a trusted root file is, for the client to report: a local profile root or another one."""
    try:
        document = json.loads(path.read_bytes())
        authorities = document["certificateAuthorities"]
        names = [a.get("subject", {}) for a in authorities]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TrustRootError(f"trust_root {path} is unreadable") from exc
    local = [n.get("commonName", "") for n in names if n.get("organization") == "openpcc"]
    if local:
        return f"local development root {path} (openpcc signing profile {local[0]!r})"
    return f"trusted root {path} ({', '.join(str(a.get('uri', '?')) for a in authorities)})"


@dataclass(frozen=True)
class NodeImage:
    """The verified values a client pins for compute nodes (an image manifest's ``custom_data``)."""

    artifact_id: str
    attestation_policy: str
    tpm_pcrs: Mapping[int, tuple[str, ...]]
    model: str
    engine: str
    model_sha256: str
    custom_data: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> NodeImage:
        custom = manifest.get("custom_data", {})
        try:
            policy = custom["attestation_policy"]
            pcrs = {int(k): tuple(str(x) for x in v) for k, v in custom.get("tpm_pcrs", {}).items()}
            values = (str(custom.get("model", "")), str(custom.get("engine", "")), str(custom.get("model_sha256", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StatementError("image manifest custom_data lacks the node's attestation policy") from exc
        if not isinstance(policy, str):
            raise StatementError("image manifest attestation_policy is not TOML text")
        return cls(str(manifest["artifact_id"]), policy, pcrs, *values, custom_data=custom)


@dataclass(frozen=True)
class VerifiedStatements:
    """What a client takes from the log, every piece verified, with where it was found."""

    gateway: OHTTPKeys
    currency_jwk: bytes | None
    node_image: NodeImage | None
    checkpoint: Checkpoint
    indexes: Mapping[str, int]
    trust_root: str

    def gateway_keys_document(self) -> dict[str, str]:
        """The pinned ``gateway_keys`` file's shape: ``{"key_configs": b64, "rotation_periods": JSON}``."""
        return {
            "key_configs": base64.b64encode(self.gateway.key_configs).decode(),
            "rotation_periods": encode_key_rotation_periods(self.gateway.rotation_periods).decode(),
        }

    def currency_public_key(self) -> Any:
        """The currency key as a ``blindrsa.PublicKey``."""
        from openpcc.credits import public_key_from_jwk

        if self.currency_jwk is None:
            raise EntryNotLoggedError("no currency key statement was required or found")
        return public_key_from_jwk(json.loads(self.currency_jwk))

    def require_logged_key_config(self, key_config: bytes) -> None:
        """Refuse a key config (e.g. one a gateway serves) that the verified statement does not hold."""
        from openpcc import ohttp

        logged = {c.encode() for c in ohttp.decode_key_configs(self.gateway.key_configs)}
        if bytes(key_config) not in logged:
            raise EntryNotLoggedError("the gateway key config is not among the keys published in the log")

    def report(self) -> str:
        return (
            f"transparency: log {self.checkpoint.origin} size {self.checkpoint.size}, statements at entries "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.indexes.items()))
            + f"; verified under the {self.trust_root}"
        )


Fetch = Callable[[str], bytes]


def log_fetcher(location: str) -> Fetch:
    """Read a log over HTTP(S) or from a tlog-tiles directory."""
    from openpcc.transparency.cli import HTTPFetch

    if location.startswith(("http://", "https://")):
        return HTTPFetch(location)
    return DirectoryFetch(location)


class TransparencyClient:
    """Fetches, verifies and returns the statements a client needs (see module docs).

    Refusals, all ``TransparencyError`` subclasses: ``EntryNotLoggedError`` (no statement of a kind in
    the log, or a presented key/bundle not in it), ``SplitViewError`` (a checkpoint inconsistent with
    the one kept on disk or gossiped by a peer), ``TooFewWitnessesError``, ``IdentityMismatchError``
    (signed by someone the policy does not name), ``BundleVerificationError`` (a tampered bundle),
    ``KeyRotationError`` (no OHTTP key period active at the time asked).
    """

    def __init__(self, trust: ClientTrust, fetch: Fetch | None = None) -> None:
        self.trust = trust
        self.trust_root = describe_trust_root(trust.trust_root)
        self.verifier = StatementVerifier(trust.trust_root, trust.identity_policy)
        log_trust = LogTrust(trust.log_key, trust.witnesses, trust.min_witnesses)
        # The state usually lives in the client's data directory, which must stay private (0700).
        trust.state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log = LogClient(log_trust, fetch or log_fetcher(trust.log_url), trust.state_file)
        self._entries: list[bytes] = []  # proven entries, kept across calls
        self._types: list[str | None] = []  # the predicate type each claims
        self._entries_root: bytes | None = None

    def verify(self, at: datetime, require: Sequence[str] = tuple(KINDS)) -> VerifiedStatements:
        """The newest valid statement of each kind in the log, checked as the class docs say.

        ``at`` picks the active OHTTP key; ``require`` names the kinds that must be present
        (``gateway-keys`` always is).
        """
        checkpoint = self.log.update()
        entries = self._proven_entries(checkpoint)
        found: dict[str, tuple[int, Any]] = {}
        for kind, predicate_type in KINDS.items():
            if kind != GATEWAY_KEYS and kind not in require:
                continue
            hit = self._newest_valid(entries, predicate_type, kind, at)
            if hit is None:
                raise EntryNotLoggedError(f"the log (size {checkpoint.size}) holds no {kind} statement")
            found[kind] = hit
        image = found.get(NODE_IMAGE)
        currency = found.get(CURRENCY_KEY)
        return VerifiedStatements(
            gateway=found[GATEWAY_KEYS][1],
            currency_jwk=currency[1] if currency else None,
            node_image=NodeImage.from_manifest(image[1]) if image else None,
            checkpoint=checkpoint,
            indexes={k: v[0] for k, v in found.items()},
            trust_root=self.trust_root,
        )

    def verify_presented(self, bundle: bytes, predicate_type: str | None = None) -> int:
        """A bundle shown through another channel (the auth bank's remote config): it must verify
        and be an entry of the witnessed log. Returns its index."""
        self.verifier.verify_statement(bundle, predicate_type)
        checkpoint = self.log.update()
        leaf = _leaf_hash(bundle)
        for index, entry in enumerate(self._proven_entries(checkpoint)):
            if _leaf_hash(entry) == leaf:
                return index
        raise EntryNotLoggedError(f"the statement is not in the log (size {checkpoint.size}) every client sees")

    def checkpoint(self) -> bytes:
        """The last verified checkpoint (for gossip with other clients)."""
        if self.log.latest is None:
            raise EntryNotLoggedError("no checkpoint verified yet")
        return self.log.latest.encode()

    def accept_checkpoint(self, data: bytes) -> Checkpoint:
        """A peer's checkpoint: verified and checked consistent with ours (``SplitViewError`` if not)."""
        return self.log.accept(data)

    def _proven_entries(self, checkpoint: Checkpoint) -> list[bytes]:
        if self._entries_root != checkpoint.root:
            start = len(self._entries) if len(self._entries) <= checkpoint.size else 0
            self._entries, self._types = self._entries[:start], self._types[:start]
            try:
                self._entries.extend(entry for _, entry in self.log.entries(start))
            except LogProofError:
                self._entries, self._types, self._entries_root = [], [], None
                raise
            self._types.extend(_peek_predicate_type(e) for e in self._entries[start:])
            self._entries_root = checkpoint.root
        return self._entries

    def _newest_valid(self, entries: list[bytes], predicate_type: str, kind: str, at: datetime) -> tuple[int, Any] | None:
        """The newest entry of ``predicate_type`` that verifies; if none does, the newest one's error."""
        first_error: TransparencyError | None = None
        for index in range(len(entries) - 1, -1, -1):
            if self._types[index] != predicate_type:
                continue
            try:
                return index, self._content(entries[index], kind, at)
            except TransparencyError as exc:
                if first_error is None:
                    first_error = exc
                if not isinstance(exc, _SKIPPABLE):
                    raise
        if first_error is not None:
            raise type(first_error)(f"no {kind} statement in the log verifies; the newest: {first_error}") from first_error
        return None

    def _content(self, bundle: bytes, kind: str, at: datetime) -> Any:
        if kind == GATEWAY_KEYS:
            # The newest valid statement rules: its periods decide (KeyRotationError if none is active).
            return self.verifier.ohttp_keys(bundle, at)
        if kind == CURRENCY_KEY:
            return self.verifier.currency_jwk(bundle)
        return self.verifier.image_manifest(bundle)


# An entry anyone could have appended that does not verify is passed over for an older valid one.
_SKIPPABLE = (BundleFormatError, BundleVerificationError, IdentityMismatchError, StatementError)


def _peek_predicate_type(entry: bytes) -> str | None:
    """The predicate type a bundle claims (unverified: only to choose what to verify)."""
    try:
        document = json.loads(entry) if entry[:1] == b"{" else Bundle.from_bytes(entry).document
        payload = base64.b64decode(document["dsseEnvelope"]["payload"], validate=True)
        predicate_type = json.loads(payload).get("predicateType")
    except (ValueError, KeyError, TypeError, AttributeError, TransparencyError):
        return None
    return predicate_type if isinstance(predicate_type, str) else None


def _leaf_hash(entry: bytes) -> bytes:
    from openpcc.transparency import merkle

    return merkle.leaf_hash(bytes(entry))


def verified_statements_for(client: Any, at: datetime | None = None) -> VerifiedStatements | None:
    """For ``openpcc.Client``: the verified statements of a ``[client]`` profile (a ``RoleConfig``),
    or ``None`` when it configures no log (then the pinned ``gateway_keys`` file is used)."""
    trust = ClientTrust.from_config(client)
    if trust is None:
        return None
    verified = TransparencyClient(trust).verify(at or datetime.now(UTC))
    log.info("%s", verified.report())
    return verified


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --- for the supervisor --------------------------------------------------------------------------


@dataclass(frozen=True)
class StackStatements:
    """What the supervisor's operator publishes, all optional but the gateway's keys."""

    gateway_keys_dir: Path
    currency_key_file: Path | None = None
    node_policy_file: Path | None = None
    model: str = ""
    engine: str = ""
    model_file: Path | None = None


def publish_stack(publisher: StackPublisher, what: StackStatements, at: datetime) -> dict[str, Published]:
    """Publish (or confirm in the log) every statement of ``what``; call again when keys rotate."""
    done = {GATEWAY_KEYS: publisher.publish_gateway_keys(what.gateway_keys_dir, at)}
    if what.currency_key_file is not None:
        done[CURRENCY_KEY] = publisher.publish_currency_key(currency_jwk_from_key_file(what.currency_key_file), at)
    if what.node_policy_file is not None:
        try:
            policy = what.node_policy_file.read_text()
        except OSError as exc:
            raise StatementError(f"node policy {what.node_policy_file} is unreadable") from exc
        digest = sha256_file(what.model_file) if what.model_file is not None else ""
        manifest = node_image_manifest(policy_toml=policy, model=what.model, engine=what.engine, model_sha256=digest)
        done[NODE_IMAGE] = publisher.publish_node_image(manifest, at)
    return done


def client_settings(
    profile_dir: str | os.PathLike[str],
    log_url: str,
    log_vkey_file: str | os.PathLike[str],
    witness_vkey_files: Sequence[str | os.PathLike[str]],
    *,
    min_witnesses: int | None = None,
    identity: str = LOCAL_IDENTITY,
    issuer: str = LOCAL_ISSUER,
) -> dict[str, Any]:
    """The ``[client]`` transparency settings for a stack whose statements a local profile signs."""
    witnesses = [Path(p).read_text().strip() for p in witness_vkey_files]
    return {
        "log_url": log_url,
        "log_key": Path(log_vkey_file).read_text().strip(),
        "witness_keys": ",".join(witnesses),
        "min_witnesses": len(witnesses) if min_witnesses is None else min_witnesses,
        "trust_root": str(Path(profile_dir) / "trusted_root.json"),
        "identity_policy": identity_policy_setting(identity, issuer),
    }
