"""The OpenPCC client: private requests to verified compute nodes, through the relay and the gateway.

::

    with openpcc.Client() as client:                      # reads [client] of <home>/openpcc.toml
        answer = client.chat([{"role": "user", "content": "Hello"}], stream=True)
        for text in answer:
            print(text, end="", flush=True)
        print(answer.verification.render())

What one request does (spec §5, §9.3, §10):

1. **Keys and policy come from the profile only**: the gateway key is chosen among the pinned key configs
   by their rotation periods (spec §2.3); the node policy is the pinned TOML. Nothing the network says
   changes either. With ``log_url`` set, they come instead from the transparency log's signed, witnessed
   statements, verified under the profile's ``trust_root`` and ``identity_policy`` (docs/transparency.md;
   ``client.transparency`` says which, and names a local development root as such).
2. **Manifests** (``POST http://confsec-router.invalid/compute-manifests`` through relay → gateway →
   router, paid with a free attestation credit): with ``evidence_freshness = "client"`` the request carries
   a fresh 32-byte ``client_nonce`` and each node's evidence must be quoted over it; with ``"router"`` the
   standing evidence is accepted, its age bounded by the policy through its signed collection time.
   Every candidate's evidence is verified against the policy; verified candidates are kept for the
   evidence lifetime (the policy's ``max_evidence_age``, at most five minutes) per model.
3. **The request** is sealed once to up to ``max_candidates`` verified nodes and sent as
   ``POST http://confsec-router.invalid/`` with ``X-Routing-Info`` and an ``X-Credit`` from the wallet,
   encapsulated to the gateway (chunked OHTTP both ways when streaming).
4. **The answer** is decrypted as it arrives; ``X-Refund`` (the router's trailer) goes to the wallet in
   the background. A failure before the router answered gives the credit back; an answer abandoned or
   broken off deposits the credit into the wallet's account (the bank takes it only if it is unspent).
5. **Refund of an abandoned answer**: every request carries ``X-Openpcc-Refund-Claim: b64(SHA-256(s))``
   for a fresh 32-byte secret ``s`` kept in memory with the response. Closing the answer before its end
   makes the router stop the node and keep the refund for the unused tokens under that hash; the client
   then claims it with ``s`` (``POST /`` of media type ``application/vnd.openpcc.refund-claim``, through the
   relay and gateway, retried for up to ``CLAIM_WINDOW`` seconds) and deposits it, in the background.

Every answer carries a :class:`VerificationSummary` of the node that answered. Errors are the classes
of :mod:`openpcc.exceptions` under :class:`~openpcc.exceptions.ClientError`; their messages name what
failed, never a prompt, an answer or a credential.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import dataclasses
import email.utils
import functools
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TypeVar

import aiohttp

from openpcc import bhttp, blindrsa, compute, ohttp
from openpcc import config as config_module
from openpcc.attestation import EvidenceList, EvidenceType, Policy, load_policy, verify_evidence
from openpcc.badge import HEADER as BADGE_HEADER
from openpcc.badge import Badge
from openpcc.credits import Credit, public_key_from_jwk
from openpcc.exceptions import (
    BHTTPError,
    BlindRSAError,
    CandidatesUnavailableError,
    ClientConfigError,
    ClientError,
    ClientUsageError,
    CompletionError,
    ComputeError,
    EvidenceFormatError,
    GatewayKeyError,
    MalformedInputError,
    NoVerifiedNodeError,
    OHTTPError,
    OpenPCCError,
    PolicyError,
    PolicyRejectedError,
    RelayError,
    ResponseStreamError,
    RouterError,
    StatementError,
    TransparencyError,
)
from openpcc.transparency.rotation import (
    KeyRotationPeriod,
    format_rfc3339nano,
    parse_key_rotation_periods,
    select_active_period,
)
from openpcc.wallet import INNER_USER_AGENT, OHTTP_PAD, Wallet, ohttp_transport, open_wallet

log = logging.getLogger("openpcc.client")

INNER_HOST = "confsec.invalid"
ROUTER_HOST = "confsec-router.invalid"
CHAT_PATH = "/v1/chat/completions"
NODE_ID_HEADER = "x-node-id"
REFUND_TRAILER = "x-refund"
ERROR_TRAILER = "x-openpcc-error"
REFUND_CLAIM_HEADER = "x-openpcc-refund-claim"
REFUND_CLAIM_MEDIA_TYPE = "application/vnd.openpcc.refund-claim"
CLAIM_SECRET_LEN = 32
#: Seconds a claim of an abandoned answer's refund is retried (the router drains the node first).
CLAIM_WINDOW = 15.0
CLAIM_ATTEMPTS = 12
CLIENT_NONCE_LEN = 32
#: Node tags asked for when the application names none (the reference's default); ``model=<name>`` is added.
DEFAULT_TAGS = ("llm",)
TAGS_HEADERS = ("x-confsec-node-tags", "x-confident-security-node-tags")
#: Verified candidates are kept at most this long, whatever the policy allows.
MAX_CANDIDATE_CACHE = timedelta(minutes=5)
#: Threads for the wallet's background work (refund deposits waiting out their random delay, top-ups).
BACKGROUND_THREADS = 8
#: Seconds ``close()`` waits for refunds and deposits still under way.
BACKGROUND_GRACE = 60.0
_T = TypeVar("_T")


# --- the pinned gateway keys (spec §2.3) --------------------------------------------------


@dataclass(frozen=True)
class PinnedGatewayKeys:
    """The gateway key configs and their rotation periods, as pinned in the profile's ``gateway_keys`` file
    (``{"key_configs": <b64 application/ohttp-keys>, "rotation_periods": <periods JSON>}``)."""

    configs: tuple[ohttp.KeyConfig, ...]
    periods: tuple[KeyRotationPeriod, ...]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PinnedGatewayKeys:
        try:
            document = json.loads(Path(path).read_bytes())
        except OSError as exc:
            raise GatewayKeyError(f"cannot read the pinned gateway keys {path}: {exc.strerror or exc}") from None
        except (ValueError, UnicodeDecodeError):
            raise GatewayKeyError(f"the pinned gateway keys {path} are not JSON") from None
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: Any) -> PinnedGatewayKeys:
        if not isinstance(document, dict) or not {"key_configs", "rotation_periods"} <= set(document):
            raise GatewayKeyError("the pinned gateway keys need `key_configs` and `rotation_periods`")
        try:
            configs = ohttp.decode_key_configs(base64.b64decode(str(document["key_configs"]), validate=True))
        except (binascii.Error, ValueError, OHTTPError):
            raise GatewayKeyError("the pinned `key_configs` are not base64 application/ohttp-keys") from None
        periods = document["rotation_periods"]
        raw = periods.encode() if isinstance(periods, str) else json.dumps(_rfc3339_periods(periods)).encode()
        try:
            parsed = parse_key_rotation_periods(raw)
        except StatementError as exc:
            raise GatewayKeyError(f"the pinned rotation periods: {exc}") from None
        if not configs:
            raise GatewayKeyError("the pinned `key_configs` hold no key")
        return cls(tuple(configs), tuple(parsed))

    def choose(self, at: datetime | None = None) -> ohttp.KeyConfig:
        """The key config of the active period with the latest ``active_from`` (spec §2.3)."""
        try:
            period = select_active_period(self.periods, at or datetime.now(UTC))
        except TransparencyError as exc:
            raise GatewayKeyError(str(exc)) from None
        for candidate in self.configs:
            if candidate.key_id == period.key_id:
                return candidate
        raise GatewayKeyError(f"the active rotation period names key {period.key_id}, which is not pinned")


class LoggedGatewayKeys:
    """Gateway keys from the transparency log. The operator publishes the next key before it is active, so
    the keys loaded at start serve until the last published period ends; when none is active any more,
    ``choose`` reads the log again (the same checks as at start) and takes the newest statement's keys."""

    def __init__(self, log_client: Any, keys: PinnedGatewayKeys) -> None:
        self._log_client, self._keys = log_client, keys
        self._lock = threading.Lock()

    @property
    def configs(self) -> tuple[ohttp.KeyConfig, ...]:
        return self._keys.configs

    @property
    def periods(self) -> tuple[KeyRotationPeriod, ...]:
        return self._keys.periods

    def choose(self, at: datetime | None = None) -> ohttp.KeyConfig:
        at = at or datetime.now(UTC)
        try:
            return self._keys.choose(at)
        except GatewayKeyError:
            with self._lock:
                verified = self._log_client.verify(at, require=("gateway-keys",))
                self._keys = PinnedGatewayKeys.from_document(verified.gateway_keys_document())
            return self._keys.choose(at)


def _rfc3339_periods(periods: Any) -> Any:
    """Accepts the gateway's own form too (Unix seconds), turned into the reference's RFC 3339 strings."""
    if not isinstance(periods, list):
        return periods
    out = []
    for item in periods:
        if isinstance(item, dict) and type(item.get("active_from")) is int and type(item.get("active_until")) is int:
            item = {
                "active_from": format_rfc3339nano(datetime.fromtimestamp(item["active_from"], UTC)),
                "active_until": format_rfc3339nano(datetime.fromtimestamp(item["active_until"], UTC)),
                "key_id": item.get("key_id"),
            }
        out.append(item)
    return out


# --- what the client verified --------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class VerificationSummary:
    """What was verified about the node that answered, and under which trust settings."""

    node_id: str
    policy_name: str
    policy_origin: str  # the pinned policy file
    checks: tuple[CheckResult, ...]
    freshness: str  # "client": quoted over our nonce; "router": standing evidence, age-bounded
    nonce: str | None  # hex of the nonce the quote was verified against: the client's, or the router's it named
    dev_trust: tuple[str, ...]  # development trust settings in force (software TPM, no TEE, ...)
    verified_at: datetime

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["verified_at"] = format_rfc3339nano(self.verified_at)
        out["valid"] = self.valid
        return out

    def render(self) -> str:
        """A human-readable report (what ``openpcc chat --show-verification`` prints)."""
        if self.freshness == "client":
            proof = f"evidence quoted over this client's nonce {self.nonce}"
        elif self.nonce:
            proof = f"evidence quoted over the router's nonce {self.nonce} (age bounded by its signed collection time)"
        else:
            proof = "evidence the router admitted, quoted over no nonce the client knows"
        lines = [
            f"node {self.node_id}: {'VERIFIED' if self.valid else 'NOT VERIFIED'}",
            f"  policy: {self.policy_name} ({self.policy_origin})",
            f"  freshness: {proof}",
            "  dev trust settings in force: " + (", ".join(self.dev_trust) if self.dev_trust else "none"),
        ]
        lines += [f"  [{'pass' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks]
        return "\n".join(lines)


#: The checks only a nonce the client knows can pass: what the router-admitted evidence cannot show us.
_NONCE_BOUND_CHECKS = frozenset({"tpm.quote.nonce", "evidence.age"})


def _judge_standing(evidence: bytes, policy: Policy) -> tuple[Policy, Any, bytes | None]:
    """Evidence the client asked no nonce for (``evidence_freshness = "router"``): ``(policy applied, verdict,
    the nonce the quote was checked against)``.

    * The router names the nonce it had the node quote over (an ``OPENPCC_ROUTER_NONCE`` piece): everything
      is verified under the full policy with that nonce, the age through the collection time it signs.
    * A node's standing evidence is quoted over an empty nonce: verified with ``require_nonce`` off, the age
      still bounded by the signed collection time.
    * Evidence over a nonce nobody names can show neither: the nonce and age checks are left to the router
      (the summary's trust settings say so) and every other check still runs."""
    named = _router_nonce(evidence)
    if named is not None:
        return policy, verify_evidence(evidence, policy, nonce=named), named
    relaxed = dataclasses.replace(policy, require_nonce=False)
    verdict = verify_evidence(evidence, relaxed, nonce=b"")
    failed = {c.name for c in verdict.checks if not c.ok}
    if verdict.valid or not failed <= _NONCE_BOUND_CHECKS:
        return relaxed, verdict, b""
    trusting = dataclasses.replace(relaxed, max_evidence_age=None)
    return trusting, verify_evidence(evidence, trusting, nonce=None), None


def _router_nonce(evidence: bytes) -> bytes | None:
    piece = EvidenceList.decode(evidence).first(EvidenceType.OPENPCC_ROUTER_NONCE)
    return bytes(piece.data) if piece is not None and 16 <= len(piece.data) <= 64 else None


def _dev_trust(policy: Policy, claims: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    if policy.danger_allow_software_tpm:
        found.append("danger_allow_software_tpm (a software TPM proves nothing about hardware)")
    if policy.danger_allow_software_request_key:
        found.append("danger_allow_software_request_key")
    if not policy.require_tee:
        found.append("require_tee = false (no TEE report required)")
    if not policy.require_nonce:
        found.append("require_nonce = false")
    if policy.max_evidence_age is None:
        found.append("no evidence age limit (freshness rests on the router's admission)")
    if policy.accept_reference_binding:
        found.append("accept_reference_binding")
    if claims.get("software_request_key"):
        found.append("the node holds its request key in software")
    return tuple(found)


@dataclass(frozen=True)
class VerifiedNode:
    node_id: str
    public_key: bytes
    summary: VerificationSummary


# --- the profile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    settings: config_module.RoleConfig
    relay_url: str
    keys: PinnedGatewayKeys | LoggedGatewayKeys
    policy: Policy
    policy_origin: str
    currency_key: blindrsa.PublicKey
    max_candidates: int
    freshness: str
    model: str
    timeout: float
    transparency: str = "off: gateway keys, node policy and currency key from the pinned files"


def _load_config(source: Any, overrides: Mapping[str, Any]) -> tuple[config_module.Config, Path | None]:
    if isinstance(source, config_module.Config):
        loaded, base = source, None
    else:
        path = Path(source) if source is not None else config_module.default_config_path()
        if source is None and not path.exists():
            loaded, base = config_module.load(None), None
        else:
            loaded, base = config_module.load(path), path.parent
    if overrides:
        client_table = {**loaded.tables.get(config_module.CLIENT, {}), **overrides}
        loaded = dataclasses.replace(loaded, tables={**loaded.tables, config_module.CLIENT: client_table})
    return loaded, base


def _pinned_path(value: str, base: Path | None, what: str) -> Path:
    if not value:
        raise ClientConfigError(f"the client profile pins no {what}: set [client] {what}")
    path = Path(value).expanduser()
    return path if path.is_absolute() or base is None else base / path


def _load_currency_key(path: Path) -> blindrsa.PublicKey:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientConfigError(f"cannot read the currency key {path}: {type(exc).__name__}") from None
    try:
        if text.lstrip().startswith("{"):
            return public_key_from_jwk(json.loads(text))
        return blindrsa.PublicKey.from_pem(text)
    except (ValueError, BlindRSAError):
        raise ClientConfigError(f"the currency key {path} is neither an RSA public key PEM nor an RSA JWK") from None


def _load_profile(source: Any, overrides: Mapping[str, Any]) -> _Profile:
    loaded, base = _load_config(source, overrides)
    settings = loaded.client()
    if settings["log_url"]:
        return _logged_profile(settings, base)
    policy_path = _pinned_path(str(settings["node_policy"]), base, "node_policy")
    try:
        policy_toml = policy_path.read_bytes()
    except OSError as exc:
        raise ClientConfigError(f"cannot read the node policy {policy_path}: {exc.strerror or exc}") from None
    keys = PinnedGatewayKeys.load(_pinned_path(str(settings["gateway_keys"]), base, "gateway_keys"))
    keys.choose()  # fail now, not at the first request, when no pinned key is active
    return _profile(
        settings, keys, _policy(policy_toml, str(policy_path)), str(policy_path),
        _load_currency_key(_pinned_path(str(settings["currency_key"]), base, "currency_key")),
    )


def _policy(document: bytes | str, origin: str) -> Policy:
    try:
        return load_policy(document)
    except PolicyError as exc:
        raise ClientConfigError(f"the node policy {origin}: {exc}") from None


def _logged_profile(settings: config_module.RoleConfig, base: Path | None) -> _Profile:
    """Gateway keys, currency key and node policy from the transparency log's verified statements
    (docs/transparency.md): the pinned files are not read. Refusals are ``TransparencyError``s."""
    from openpcc.transparency.stack import ClientTrust, TransparencyClient

    values = dict(settings.values)
    for key in ("trust_root", "log_state_file"):
        if values[key]:
            values[key] = str(_pinned_path(str(values[key]), base, key))
    trust = ClientTrust.from_settings(values, settings.data_dir)
    if trust is None:  # log_url is set: from_settings returns a trust or raises
        raise ClientConfigError("the client profile's log settings are incomplete")
    log_client = TransparencyClient(trust)
    verified = log_client.verify(datetime.now(UTC))
    image = verified.node_image
    if image is None:  # verify() requires every kind by default
        raise ClientConfigError("the log gave no node image")
    keys = LoggedGatewayKeys(log_client, PinnedGatewayKeys.from_document(verified.gateway_keys_document()))
    origin = f"log entry {verified.indexes['node-image']} ({image.artifact_id})"
    profile = _profile(
        settings, keys, _policy(image.attestation_policy, origin), origin, verified.currency_public_key()
    )
    report = verified.report()
    # A development root is a setting the user chose; say so every time it is relied on.
    (log.warning if "local development root" in report else log.info)("%s", report)
    return dataclasses.replace(profile, transparency=report)


def _profile(
    settings: config_module.RoleConfig, keys: PinnedGatewayKeys | LoggedGatewayKeys, policy: Policy, origin: str,
    currency_key: blindrsa.PublicKey,
) -> _Profile:
    return _Profile(
        settings=settings,
        relay_url=str(settings["relay_url"]),
        keys=keys,
        policy=policy,
        policy_origin=origin,
        currency_key=currency_key,
        max_candidates=int(settings["max_candidates"]),
        freshness=str(settings["evidence_freshness"]),
        model=str(settings["model"]),
        timeout=float(settings["timeout"]),
    )


# --- OHTTP exchanges through the relay ----------------------------------------------------


def _fields(pairs: Any) -> list[tuple[str, str]]:
    return [(bytes(n).decode("latin-1").lower(), bytes(v).decode("latin-1")) for n, v in pairs]


def _header(fields: list[tuple[str, str]], name: str) -> str:
    return next((v for n, v in fields if n == name), "")


class _InnerStream:
    """The gateway's answer to one encapsulated request, opened as it arrives: BHTTP events."""

    def __init__(self, response: aiohttp.ClientResponse, opener: ohttp.ResponseOpener) -> None:
        self._response = response
        self._opener = opener
        self._decoder = bhttp.StreamDecoder()
        self._ended = False

    async def pull(self) -> list[Any] | None:
        """The next events; ``None`` once the stream has ended (after its last events were returned)."""
        if self._ended:
            return None
        try:
            data = await self._response.content.readany()
            if data:
                events: list[Any] = []
                for plain in self._opener.feed(data):
                    events += self._decoder.feed(plain)
                return events
            self._ended = True
            events = self._decoder.feed(self._opener.finish())
            events += self._decoder.finish()
            self.close()
            return events
        except (OHTTPError, BHTTPError) as exc:
            self.close()
            raise ResponseStreamError(f"the gateway's answer does not open: {type(exc).__name__}") from None
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            self.close()
            raise ResponseStreamError(f"the answer broke off: {type(exc).__name__}") from None

    async def read_all(self) -> bhttp.Response:
        head: bhttp.Response | None = None
        content, trailers = b"", []
        while (events := await self.pull()) is not None:
            for event in events:
                if isinstance(event, bhttp.Head) and isinstance(event.message, bhttp.Response):
                    head = event.message
                    content += head.content
                elif isinstance(event, bhttp.BodyChunk):
                    content += event.data
                elif isinstance(event, bhttp.Trailers):
                    trailers += event.fields
        if head is None:
            raise ResponseStreamError("the gateway's answer holds no HTTP response")
        return bhttp.Response(status=head.status, headers=head.headers, content=content, trailers=trailers)

    def close(self) -> None:
        self._ended = True
        self._response.close()


def _router_error(status: int, body: bytes) -> RouterError:
    message = ""
    try:
        message = str(compute.decode_message("csprotos.Error", body).get("Message", ""))
    except (MalformedInputError, ComputeError):
        pass
    if not message:
        try:
            message = str(json.loads(body).get("error", ""))
        except (ValueError, UnicodeDecodeError, AttributeError):
            message = ""
    message = message[:200]
    if status == 404 and "unavailable" in message:
        return CandidatesUnavailableError(status, message)
    return RouterError(status, message)


# --- the asynchronous client ----------------------------------------------------------------


class AsyncClient:
    """The client for asyncio code; :class:`Client` is the same with blocking calls."""

    def __init__(
        self,
        config: str | os.PathLike[str] | config_module.Config | None = None,
        *,
        wallet: Wallet | None = None,
        **overrides: Any,
    ) -> None:
        self._profile = _load_profile(config, overrides)
        self.wallet = wallet or open_wallet(
            self._profile.settings,
            self._profile.currency_key,
            bank=ohttp_transport(self._profile.relay_url, self._profile.keys.choose, timeout=self._profile.timeout),
        )
        self._session: aiohttp.ClientSession | None = None
        self._candidates: dict[tuple[str, ...], tuple[float, list[VerifiedNode]]] = {}
        self._verdicts: dict[bytes, tuple[float, VerificationSummary, bytes | None]] = {}
        self._fetching: dict[tuple[str, ...], asyncio.Lock] = {}
        self._background: set[asyncio.Future[Any]] = set()
        # Wallet work in the background (refund deposits that wait out their random delay, top-ups) gets its
        # own threads: in the default pool it would queue the next request's credit behind those waits.
        self._background_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=BACKGROUND_THREADS, thread_name_prefix="openpcc-wallet"
        )
        self._closed = False

    @property
    def profile_settings(self) -> config_module.RoleConfig:
        return self._profile.settings

    @property
    def transparency(self) -> str:
        """Where the keys and node policy came from: the log (with the checkpoint, entries and the trust
        root they verified under, a local development root named as such) or the pinned files."""
        return self._profile.transparency

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Waits (bounded) for refunds and deposits under way, then closes the connections."""
        self._closed = True
        if self._background:
            await asyncio.wait(set(self._background), timeout=BACKGROUND_GRACE)
        # What is still waiting is written ahead in the wallet file: the next session finishes it.
        self._background_pool.shutdown(wait=False, cancel_futures=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _check_open(self) -> None:
        if self._closed:
            raise ClientUsageError("the client is closed")

    def _spawn(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        """Runs a wallet operation in a thread, in the background (refunds, deposits)."""

        async def run() -> None:
            try:
                await asyncio.get_running_loop().run_in_executor(self._background_pool, functools.partial(fn, *args))
            except OpenPCCError as exc:
                log.warning("%s failed: %s", what, type(exc).__name__)

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _claim_later(self, secret: bytes, response: AsyncPrivateResponse) -> None:
        """Claims the refund of an abandoned answer in the background (``close()`` waits for it); its value
        becomes ``response.refund`` once deposited."""
        task = asyncio.ensure_future(self._claim_refund(secret, response))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _claim_refund(self, secret: bytes, response: AsyncPrivateResponse) -> None:
        """``POST /`` (refund-claim media type) with the claim secret until the router hands out the refund,
        at most ``CLAIM_ATTEMPTS`` times within ``CLAIM_WINDOW`` seconds; the refund goes to the wallet.
        A failure is logged (its type only) and never raised."""
        inner = bhttp.Request(
            method="POST", scheme="http", authority=ROUTER_HOST, path="/",
            headers=[("content-type", REFUND_CLAIM_MEDIA_TYPE), ("user-agent", INNER_USER_AGENT)],
            content=secret,
        )
        deadline, delay = time.monotonic() + CLAIM_WINDOW, 0.2
        why = "no refund was kept"
        for _attempt in range(CLAIM_ATTEMPTS):
            try:
                answer = await self._roundtrip(inner)
                if answer.status == 200:
                    refund = Credit.from_text(answer.content.decode("ascii"))
                    loop = asyncio.get_running_loop()
                    await loop.run_in_executor(self._background_pool, self.wallet.deposit_refund, refund)
                    response.refund = refund.value.amount
                    return
                if answer.status != 404:
                    why = f"the router answered {answer.status}"
                    break
            except (OpenPCCError, ValueError) as exc:
                why = type(exc).__name__
            if time.monotonic() + delay > deadline:
                break
            await asyncio.sleep(delay)
            delay = min(2 * delay, 2.0)
        log.info("the refund of an abandoned answer was not claimed (%s)", why)

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=self._profile.timeout)
            self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)
        return self._session

    # --- OHTTP -----------------------------------------------------------------------

    async def _exchange(self, inner: bhttp.Request, *, chunked: bool) -> _InnerStream:
        """Encapsulates ``inner`` to the pinned gateway key, posts it to the relay, opens the answer."""
        key = self._profile.keys.choose()
        headers = {"Date": email.utils.formatdate(usegmt=True)}
        body: Any
        if chunked:
            encoded = bhttp.encode(bhttp.normalize_request(inner, indeterminate=True), indeterminate=True)
            sealer = ohttp.ChunkedRequestSealer(key, fixed_chunk_len=ohttp.REFERENCE_CHUNK_LEN)
            pieces = sealer.feed(encoded) + sealer.finish()
            context = sealer.client_context
            headers |= {"Content-Type": ohttp.CHUNKED_REQUEST_MEDIA_TYPE, "Incremental": "?1"}

            async def stream() -> AsyncIterator[bytes]:
                for piece in pieces:
                    yield piece

            body = stream()
        else:
            encoded = bhttp.encode(bhttp.normalize_request(inner), pad_to_multiple_of=OHTTP_PAD)
            body, context = ohttp.encapsulate_request(key, encoded)
            headers["Content-Type"] = ohttp.REQUEST_MEDIA_TYPE
        session = await self._http()
        try:
            response = await session.post(
                self._profile.relay_url, data=body, headers=headers, skip_auto_headers=("User-Agent",)
            )
        except aiohttp.ClientConnectorError as exc:
            raise RelayError(0, f"relay unreachable: {type(exc).__name__}", connected=False) from None
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            raise RelayError(0, f"relay unreachable: {type(exc).__name__}") from None
        if response.status != 200:
            reason = await _problem_title(response)
            raise RelayError(response.status, reason)
        try:
            opener = ohttp.ResponseOpener(context, response.headers.get("Content-Type", ""))
        except OHTTPError:
            response.close()
            raise RelayError(200, "the gateway answered a media type that is not OHTTP") from None
        return _InnerStream(response, opener)

    async def _roundtrip(self, inner: bhttp.Request) -> bhttp.Response:
        return await (await self._exchange(inner, chunked=False)).read_all()

    # --- nodes -----------------------------------------------------------------------

    async def candidates(
        self, model: str, *, tags: tuple[str, ...] = DEFAULT_TAGS, refresh: bool = False
    ) -> list[VerifiedNode]:
        """Verified nodes carrying ``tags`` and serving ``model`` (cached for the evidence lifetime); raises
        :class:`NoVerifiedNodeError` / :class:`PolicyRejectedError` when there are none."""
        self._check_open()
        tags = _node_tags(tags, model)
        lock = self._fetching.setdefault(tags, asyncio.Lock())
        async with lock:
            cached = self._candidates.get(tags)
            if cached is not None and not refresh and cached[0] > time.monotonic():
                nodes = list(cached[1])
            else:
                self._candidates.pop(tags, None)
                nodes = await self._fetch_candidates(tags)
                self._candidates[tags] = (time.monotonic() + self._lifetime(), nodes)
        secrets.SystemRandom().shuffle(nodes)
        return nodes[: self._profile.max_candidates]

    def _forget(self, tags: tuple[str, ...], model: str) -> None:
        self._candidates.pop(_node_tags(tags, model), None)

    def _lifetime(self) -> float:
        age = self._profile.policy.max_evidence_age or timedelta(minutes=1)
        return min(age, MAX_CANDIDATE_CACHE).total_seconds()

    async def _fetch_candidates(self, tags: tuple[str, ...]) -> list[VerifiedNode]:
        credit = await asyncio.to_thread(self.wallet.attestation_credit)
        nonce = secrets.token_bytes(CLIENT_NONCE_LEN) if self._profile.freshness == "client" else None
        query: dict[str, Any] = {"tags": list(tags), "limit": min(500, 2 * self._profile.max_candidates)}
        if nonce is not None:
            query["clientNonce"] = base64.b64encode(nonce).decode()
        inner = bhttp.Request(
            method="POST", scheme="http", authority=ROUTER_HOST, path="/compute-manifests",
            headers=[
                ("content-type", "application/octet-stream"),
                ("x-credit", credit.to_text()),
                ("user-agent", INNER_USER_AGENT),
            ],
            content=compute.encode_message("csprotos.ComputeManifestRequest", query),
        )
        answer = await self._roundtrip(inner)
        if answer.status != 200:
            raise _router_error(answer.status, answer.content)
        try:
            items = compute.decode_message("csprotos.ComputeManifestList", answer.content).get("items", [])
        except (MalformedInputError, ComputeError):
            raise RouterError(200, "the manifest list does not decode") from None
        if not items:
            raise NoVerifiedNodeError(f"the router lists no node for {', '.join(tags)}")
        verified, rejections = [], {}
        for item in items:
            node_id = str(item.get("id", ""))[:64]
            node = await asyncio.to_thread(self._verify, node_id, item.get("evidence") or {}, nonce)
            if isinstance(node, VerifiedNode):
                verified.append(node)
            else:
                rejections[node_id] = node
        if not verified:
            named = "; ".join(f"{n}: {', '.join(c) or 'no check ran'}" for n, c in rejections.items())
            raise PolicyRejectedError(
                f"no node passed the policy {self._profile.policy.name!r}; failed checks: {named}", rejections
            )
        return verified

    def _verify(self, node_id: str, evidence_json: Any, nonce: bytes | None) -> VerifiedNode | list[str]:
        """The node's evidence under the pinned policy; its failed check names when it does not pass."""
        try:
            evidence = compute.encode_message("csprotos.SignedEvidenceList", evidence_json)
        except (MalformedInputError, ComputeError):
            return ["evidence.decode"]
        cache_key = hashlib.sha256(node_id.encode() + b"\0" + (nonce or b"") + b"\0" + evidence).digest()
        cached = self._verdicts.get(cache_key)
        if cached is not None and cached[0] > time.monotonic():
            summary, key = cached[1], cached[2]
        else:
            summary, key = self._judge(node_id, evidence, nonce)
            self._verdicts[cache_key] = (time.monotonic() + self._lifetime(), summary, key)
            self._trim_verdicts()
        if summary.valid and key is not None:
            return VerifiedNode(node_id, key, summary)
        return [c.name for c in summary.failures] or ["evidence.rek_public_key"]

    def _judge(self, node_id: str, evidence: bytes, nonce: bytes | None) -> tuple[VerificationSummary, bytes | None]:
        policy, proof = self._profile.policy, nonce
        try:
            if nonce is None:
                policy, verdict, proof = _judge_standing(evidence, policy)
            else:
                verdict = verify_evidence(evidence, policy, nonce=nonce)
        except EvidenceFormatError:
            checks: tuple[CheckResult, ...] = (CheckResult("evidence.decode", False, "not a SignedEvidenceList"),)
            claims: Mapping[str, Any] = {}
        else:
            checks = tuple(CheckResult(c.name, bool(c.ok), str(c.detail)) for c in verdict.checks)
            claims = verdict.claims
        key_hex = claims.get("rek_public_key")
        summary = VerificationSummary(
            node_id=node_id,
            policy_name=policy.name,
            policy_origin=self._profile.policy_origin,
            checks=checks,
            freshness="client" if nonce is not None else "router",
            nonce=proof.hex() if proof else None,
            dev_trust=_dev_trust(policy, claims),
            verified_at=datetime.now(UTC),
        )
        return summary, bytes.fromhex(key_hex) if isinstance(key_hex, str) and key_hex else None

    def _trim_verdicts(self) -> None:
        now = time.monotonic()
        for key in [k for k, v in self._verdicts.items() if v[0] <= now]:
            del self._verdicts[key]

    # --- requests --------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        model: str | None = None,
        credit_amount: int | None = None,
        stream: bool = False,
    ) -> AsyncPrivateResponse:
        """Sends ``method path`` (on ``confsec.invalid``) privately to a verified node; returns once the
        node's status and headers arrived. ``stream=True`` sends the request as chunked OHTTP."""
        self._check_open()
        model = model or _model_of(body) or self._profile.model
        if not model:
            raise ClientUsageError("no model: pass model=, put it in the JSON body, or set [client] model")
        if credit_amount is not None and credit_amount != self.wallet.value.amount:
            raise ClientUsageError(
                f"this wallet holds credits of {self.wallet.value.amount}; credit_amount must be that or None"
            )
        badge = await asyncio.to_thread(self.wallet.badge)
        inner = _inner_request(method, path, headers or {}, bytes(body), badge)
        tags = _tags_header(headers or {})
        for attempt in range(2):
            nodes = await self.candidates(model, tags=tags, refresh=attempt > 0)
            try:
                return await self._send(nodes, inner, stream)
            except CandidatesUnavailableError:
                self._forget(tags, model)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _send(self, nodes: list[VerifiedNode], inner: bhttp.Request, chunked: bool) -> AsyncPrivateResponse:
        sealed = compute.seal_http_request(inner, [(n.node_id, n.public_key) for n in nodes], chunked=chunked)
        credit = await asyncio.to_thread(self.wallet.take)
        # Tops the wallet up ahead of the next requests, off this request's path.
        self._spawn("topping up the wallet", self.wallet.top_up)
        claim_secret = secrets.token_bytes(CLAIM_SECRET_LEN)
        outer = bhttp.Request(
            method="POST", scheme="http", authority=ROUTER_HOST, path="/",
            headers=[
                ("content-type", sealed.media_type),
                ("x-routing-info", base64.b64encode(sealed.routing_info).decode()),
                ("x-credit", credit.to_text()),
                (REFUND_CLAIM_HEADER, base64.b64encode(hashlib.sha256(claim_secret).digest()).decode()),
                ("user-agent", INNER_USER_AGENT),
            ],
            content=sealed.body,
        )
        stream: _InnerStream | None = None
        response: AsyncPrivateResponse | None = None
        try:
            stream = await self._exchange(outer, chunked=chunked)
            head, early = await _router_head(stream)
            if head.status != 200:
                raise _router_error(head.status, await _rest_of_body(stream, head, early))
            fields = _fields(head.headers)
            node = next((n for n in nodes if n.node_id == _header(fields, NODE_ID_HEADER)), None)
            if node is None:
                raise ResponseStreamError("the router named a node that is not one of the request's candidates")
            response = AsyncPrivateResponse(
                self, stream, sealed, node, credit, _header(fields, "content-type"), claim_secret
            )
            await response._start(early)
            return response
        except BaseException as exc:
            if stream is not None:
                stream.close()
            if response is not None:
                response._abandon()
            elif _surely_unspent(exc, sent=stream is not None):
                self._spawn("giving a credit back", self.wallet.give_back, credit)
            else:
                # Its fate is unknown: the account takes it only if it is unspent, so a spent credit never
                # comes back to fail the next request.
                self._spawn("deposit of an unused credit", self.wallet.deposit_unused, credit)
            raise

    async def chat(
        self, messages: list[dict[str, Any]], *, model: str | None = None, stream: bool = False, **params: Any
    ) -> ChatCompletion | AsyncChatStream:
        """``POST /v1/chat/completions``: a :class:`ChatCompletion`, or with ``stream=True`` an
        :class:`AsyncChatStream` of text pieces."""
        body, model = _chat_body(messages, model or self._profile.model, stream, params)
        response = await self.request(
            "POST", CHAT_PATH, headers={"content-type": "application/json"}, body=body, model=model, stream=stream
        )
        if stream:
            if response.status != 200:
                raise _completion_error(response.status, await response.aread())
            return AsyncChatStream(response)
        data = await response.aread()
        return _completion(response, data)


def _surely_unspent(exc: BaseException, *, sent: bool) -> bool:
    """Whether a request that failed left its credit unspent for certain: nothing reached the relay, the relay
    or the gateway refused it (4xx), or the router refused it for another reason than the credit (it locks
    the credit only once it has picked a node, and releases it when the node refuses or fails first)."""
    if isinstance(exc, RelayError):
        return not exc.connected or 400 <= exc.status < 500
    if isinstance(exc, RouterError):
        return "credit" not in exc.message.lower()
    return not sent and isinstance(exc, ClientError)


async def _problem_title(response: aiohttp.ClientResponse) -> str:
    try:
        text = (await response.content.read(2048)).decode("utf-8", "replace")
        title = json.loads(text).get("title", "") if text.startswith("{") else text
    except (TimeoutError, aiohttp.ClientError, ValueError, AttributeError):
        title = ""
    finally:
        response.close()
    return f"answered {response.status}" + (f": {str(title)[:160]}" if title else "")


async def _router_head(stream: _InnerStream) -> tuple[bhttp.Response, list[Any]]:
    """The router's response head and the events read with it."""
    events: list[Any] = []
    while (more := await stream.pull()) is not None:
        events += more
        for index, event in enumerate(events):
            if isinstance(event, bhttp.Head):
                if not isinstance(event.message, bhttp.Response):
                    raise ResponseStreamError("the gateway's answer is not an HTTP response")
                return event.message, events[index + 1 :]
    raise ResponseStreamError("the answer ended before the router's response head")


async def _rest_of_body(stream: _InnerStream, head: bhttp.Response, early: list[Any], limit: int = 4096) -> bytes:
    """The body after the head (an error answer: read at most ``limit`` bytes of it)."""
    body = head.content + b"".join(e.data for e in early if isinstance(e, bhttp.BodyChunk))
    while len(body) < limit and (more := await stream.pull()) is not None:
        body += b"".join(e.data for e in more if isinstance(e, bhttp.BodyChunk))
    return body[:limit]


def _node_tags(tags: tuple[str, ...], model: str) -> tuple[str, ...]:
    return tuple(sorted({*tags, f"model={model}"}))


def _tags_header(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The node tags an application asked for in ``X-Confsec-Node-Tags`` (or its deprecated alias), spec
    §1.4: comma-separated, trimmed, empties dropped; without the header, ``llm``. The header stays on the
    inner request, inside the encryption."""
    for name in TAGS_HEADERS:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
        if value is not None:
            return tuple(t.strip() for t in value.split(",") if t.strip())
    return DEFAULT_TAGS


def _inner_request(
    method: str, path: str, headers: Mapping[str, str], body: bytes, badge: Badge | None = None
) -> bhttp.Request:
    """The inner request to ``confsec.invalid``; with the wallet's badge in ``X-Confsec-Badge`` (spec §5.1), set
    by the client as the reference's is (an application's own value is replaced), inside the encryption."""
    if not path.startswith("/"):
        raise ClientUsageError("the path must start with '/'")
    fields = [(k.lower(), v) for k, v in headers.items() if k.lower() not in ("host", BADGE_HEADER.lower())]
    if body and not any(k == "content-type" for k, _ in fields):
        fields.append(("content-type", "application/json"))
    if badge is not None:
        fields.append((BADGE_HEADER.lower(), badge.to_header()))
    return bhttp.Request(
        method=method.upper(), scheme="http", authority=INNER_HOST, path=path, headers=fields, content=body
    )


def _model_of(body: bytes) -> str | None:
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        model = json.loads(body).get("model")
    except (ValueError, UnicodeDecodeError):
        return None
    return model if isinstance(model, str) and model else None


# --- responses -------------------------------------------------------------------------------


class AsyncPrivateResponse:
    """A node's answer, decrypted as it arrives."""

    status: int
    headers: list[tuple[str, str]]

    def __init__(
        self,
        client: AsyncClient,
        stream: _InnerStream,
        sealed: compute.ComputeRequest,
        node: VerifiedNode,
        credit: Credit,
        media_type: str,
        claim_secret: bytes,
    ) -> None:
        self._client = client
        self._claim_secret = claim_secret
        self._stream = stream
        self._sealed = sealed
        self._credit = credit
        self._media_type = media_type
        self.node_id = node.node_id
        self.verification = node.summary
        self.refund: int | None = None  # the refund's value once the answer ended (0: none)
        self._ready: list[bytes] = []
        self._saw_end = False  # the router's message ended; the OHTTP stream is still read to its end
        self._router_says = ""  # the router's X-Openpcc-Error trailer: the credit was not settled
        self._done = False
        self._token = sealed.token_stream_opener(node.node_id) if media_type == compute.CHUNKED_RESPONSE else None
        self._whole = None if self._token is not None else sealed.response_opener(node.node_id, media_type)
        self._whole_parts: list[bytes] = []

    async def _start(self, early: list[Any]) -> None:
        self._take(early)
        while not self._done and not hasattr(self, "status"):
            await self._pull()
        if not hasattr(self, "status"):
            raise ResponseStreamError("the answer ended before the node's status")

    async def _pull(self) -> None:
        try:
            events = await self._stream.pull()
        except ResponseStreamError:
            self._abandon()
            raise
        if events is None:
            if self._saw_end:
                self._done = True  # the whole OHTTP stream, padding and final chunk included, checked
                return
            self._abandon()
            raise ResponseStreamError("the answer ended without its end marker")
        self._take(events)

    def _take(self, events: list[Any]) -> None:
        try:
            for event in events:
                if isinstance(event, bhttp.BodyChunk):
                    self._feed(event.data)
                elif isinstance(event, bhttp.Trailers):
                    self._refund_from(_fields(event.fields))
                elif isinstance(event, bhttp.End):
                    self._end()
        except ComputeError as exc:
            self._abandon()
            if self._router_says:
                raise ResponseStreamError(f"the answer broke off; the router says: {self._router_says}") from None
            raise ResponseStreamError(f"the node's answer does not decrypt: {type(exc).__name__}") from None

    def _feed(self, data: bytes) -> None:
        if self._token is not None:
            plain = self._token.feed(data)
            if not hasattr(self, "status") and self._token.status is not None:
                self.status = int(self._token.status)
                self.headers = _fields(self._token.headers)
            if plain:
                self._ready.append(plain)
        else:
            assert self._whole is not None
            self._whole_parts += self._whole.feed(data)

    def _end(self) -> None:
        if self._token is not None:
            rest, _trailers = self._token.finish()
            if not hasattr(self, "status") and self._token.status is not None:
                self.status, self.headers = int(self._token.status), _fields(self._token.headers)
            if rest:
                self._ready.append(rest)
        else:
            assert self._whole is not None
            try:
                answer = bhttp.decode_response(b"".join(self._whole_parts) + self._whole.finish())
            except BHTTPError as exc:
                raise ResponseStreamError(f"the node's answer does not decode: {type(exc).__name__}") from None
            self.status, self.headers = answer.status, _fields(answer.headers)
            if answer.content:
                self._ready.append(answer.content)
        self._saw_end = True
        if self.refund is None:
            self.refund = 0
        if self._router_says:
            # The router could not settle the credit (docs/router.md): it may be unspent, so it goes back
            # to the account, which takes it only if it is.
            log.info("the router did not settle the credit; it goes back to the wallet's account")
            self._client._spawn("deposit of an unsettled credit", self._client.wallet.deposit_unused, self._credit)

    def _refund_from(self, trailers: list[tuple[str, str]]) -> None:
        self._router_says = _header(trailers, ERROR_TRAILER)[:160]
        text = _header(trailers, REFUND_TRAILER)
        if not text:
            return
        try:
            refund = Credit.from_text(text)
            amount = refund.value.amount
        except (MalformedInputError, ValueError):
            log.warning("the router's refund does not parse; it is dropped")
            return
        self.refund = amount
        self._client._spawn("refund deposit", self._client.wallet.deposit_refund, refund)

    def _abandon(self, *, claim: bool = False) -> None:
        """The answer stopped early: the router may not have spent the credit, so it goes to the account.
        ``claim`` (the caller closed it): the router keeps the unused part as a refund to claim."""
        if not self._done:
            self._done = True
            self._stream.close()
            if not self._saw_end:  # after the router's end the credit is settled (or handled in _end)
                self._client._spawn("deposit of an unused credit", self._client.wallet.deposit_unused, self._credit)
                if claim:
                    self._client._claim_later(self._claim_secret, self)

    async def _next_piece(self) -> bytes | None:
        while not self._ready:
            if self._done:
                return None
            await self._pull()
        return self._ready.pop(0)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The decrypted body in pieces, each as soon as it is decrypted."""
        while (piece := await self._next_piece()) is not None:
            yield piece

    async def aread(self) -> bytes:
        return b"".join([piece async for piece in self.aiter_bytes()])

    async def aclose(self) -> None:
        """Abandons the rest of the answer (the node stops); the credit or refund goes to the wallet."""
        self._abandon(claim=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


# --- chat completions ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatCompletion:
    """A whole (non-streamed) chat completion."""

    data: dict[str, Any]
    node_id: str
    verification: VerificationSummary
    refund: int | None

    @property
    def text(self) -> str:
        choices = self.data.get("choices") or [{}]
        return str((choices[0].get("message") or {}).get("content") or "")


def _chat_body(
    messages: list[dict[str, Any]], model: str, stream: bool, params: Mapping[str, Any]
) -> tuple[bytes, str]:
    if not model:
        raise ClientUsageError("no model: pass model= or set [client] model")
    if not isinstance(messages, list) or not messages:
        raise ClientUsageError("messages must be a non-empty list of {role, content} objects")
    return json.dumps({**params, "model": model, "messages": messages, "stream": stream}).encode(), model


def _completion_error(status: int, body: bytes) -> CompletionError:
    message = ""
    try:
        error = json.loads(body).get("error")
        message = str(error.get("message", "") if isinstance(error, dict) else error or "")
    except (ValueError, UnicodeDecodeError, AttributeError):
        pass
    return CompletionError(status, message[:200])


def _completion(response: AsyncPrivateResponse, data: bytes) -> ChatCompletion:
    if response.status != 200:
        raise _completion_error(response.status, data)
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ResponseStreamError("the completion is not JSON") from None
    return ChatCompletion(parsed, response.node_id, response.verification, response.refund)


class _SSE:
    """Text deltas out of an OpenAI ``text/event-stream`` body fed in pieces."""

    def __init__(self) -> None:
        self._buffer = b""
        self.done = False

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        texts = []
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                continue
            try:
                event = json.loads(payload)
            except (ValueError, UnicodeDecodeError):
                raise ResponseStreamError("a streamed event is not JSON") from None
            if isinstance(event, dict) and event.get("error"):
                raise _completion_error(500, payload)
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    texts.append(str(text))
        return texts


class AsyncChatStream:
    """The text pieces of a streamed chat completion (``async for text in stream``)."""

    def __init__(self, response: AsyncPrivateResponse) -> None:
        self.response = response
        self.verification = response.verification
        self.node_id = response.node_id

    async def __aiter__(self) -> AsyncIterator[str]:
        parser = _SSE()
        async for piece in self.response.aiter_bytes():
            for text in parser.feed(piece):
                yield text

    async def aclose(self) -> None:
        await self.response.aclose()


# --- the blocking client ------------------------------------------------------------------------


class _LoopThread:
    """A private event loop in a daemon thread that runs the asynchronous client for blocking callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="openpcc-client", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise ClientUsageError("the client was closed while the call ran") from None

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=30)
        if not self.loop.is_running():
            self.loop.close()


class PrivateResponse:
    """A node's answer for blocking code (see :class:`AsyncPrivateResponse`)."""

    def __init__(self, inner: AsyncPrivateResponse, run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        self._inner = inner
        self._run = run
        self.status = inner.status
        self.headers = inner.headers
        self.node_id = inner.node_id
        self.verification = inner.verification

    @property
    def refund(self) -> int | None:
        return self._inner.refund

    def iter_bytes(self) -> Iterator[bytes]:
        while (piece := self._run(self._inner._next_piece())) is not None:
            yield piece

    def read(self) -> bytes:
        return b"".join(self.iter_bytes())

    def close(self) -> None:
        self._run(self._inner.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class ChatStream:
    """The text pieces of a streamed chat completion for blocking code (``for text in stream``)."""

    def __init__(self, response: PrivateResponse) -> None:
        self.response = response
        self.verification = response.verification
        self.node_id = response.node_id

    def __iter__(self) -> Iterator[str]:
        parser = _SSE()
        for piece in self.response.iter_bytes():
            yield from parser.feed(piece)

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Client:
    """The client for blocking code: the same as :class:`AsyncClient`, run on a private event loop.
    One client may be used from several threads at once."""

    def __init__(
        self,
        config: str | os.PathLike[str] | config_module.Config | None = None,
        *,
        wallet: Wallet | None = None,
        **overrides: Any,
    ) -> None:
        self._async = AsyncClient(config, wallet=wallet, **overrides)
        self._loop = _LoopThread()
        self._closed = False

    @property
    def wallet(self) -> Wallet:
        return self._async.wallet

    @property
    def transparency(self) -> str:
        """See :attr:`AsyncClient.transparency`."""
        return self._async.transparency

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if self._closed:
            coro.close()
            raise ClientUsageError("the client is closed")
        return self._loop.run(coro)

    def candidates(
        self, model: str, *, tags: tuple[str, ...] = DEFAULT_TAGS, refresh: bool = False
    ) -> list[VerifiedNode]:
        return self._run(self._async.candidates(model, tags=tags, refresh=refresh))

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        model: str | None = None,
        credit_amount: int | None = None,
        stream: bool = False,
    ) -> PrivateResponse:
        inner = self._run(
            self._async.request(
                method, path, headers=headers, body=body, model=model, credit_amount=credit_amount, stream=stream
            )
        )
        return PrivateResponse(inner, self._run)

    def chat(
        self, messages: list[dict[str, Any]], *, model: str | None = None, stream: bool = False, **params: Any
    ) -> ChatCompletion | ChatStream:
        body, model = _chat_body(messages, model or self._async._profile.model, stream, params)
        response = self.request(
            "POST", CHAT_PATH, headers={"content-type": "application/json"}, body=body, model=model, stream=stream
        )
        if stream:
            if response.status != 200:
                raise _completion_error(response.status, response.read())
            return ChatStream(response)
        data = response.read()
        return _completion(response._inner, data)

    def close(self) -> None:
        """Waits (bounded) for refunds and deposits under way, then stops the private loop."""
        if self._closed:
            return
        try:
            self._loop.run(self._async.aclose())
        finally:
            self._closed = True
            self._loop.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


__all__ = [
    "AsyncChatStream",
    "AsyncClient",
    "AsyncPrivateResponse",
    "ChatCompletion",
    "ChatStream",
    "CheckResult",
    "Client",
    "CompletionError",
    "PinnedGatewayKeys",
    "PrivateResponse",
    "VerificationSummary",
    "VerifiedNode",
]
