"""The router: ``openpcc router --config FILE`` (port 3600). Spec §1.3, §5.3, §9; ``docs/router.md``.

* ``POST /node-events``: a node's ``NodeEvent`` (binary). Unlike the reference (spec §12.2), a heartbeat
  admits a node only after the router posts a fresh 32-byte nonce to ``<node url>/evidence`` and the
  answer passes the router's attestation ``policy``. Admitted nodes are kept in the :class:`RouterStore`,
  re-attested every ``reattest_secs`` and health-checked every ``health_interval_secs`` (graded as the
  reference, §9.2). Only admitted, attested, healthy nodes are routed.
* ``POST /compute-manifests``: ``ComputeManifestRequest`` paid with an attestation credit (always spent).
  With ``client_nonce`` each returned manifest carries evidence the node quoted over that nonce; without,
  the evidence the router itself last verified, with an ``OPENPCC_ROUTER_NONCE`` piece naming the
  router's nonce it was quoted over.
* ``POST /``: the compute request. One of the client's candidates that is routable is chosen uniformly
  at random (another, at random, when it cannot be reached before the body was sent), the credit is
  locked, the body streams to the node and its answer back. The node's
  ``X-Refund-Amount`` trailer becomes an ``X-Refund`` credit, capped at the credit spent. A node that
  fails before its answer's head: 502, credit released. A node that breaks off mid-stream: the stream
  ends with the trailer ``X-Openpcc-Error`` and no ``X-Refund``, credit released. A client that goes away
  mid-stream: the credit is spent; when its request carried ``X-Openpcc-Refund-Claim`` (``b64(SHA-256(claim
  secret))``), the node is asked to stop (``POST <node>/cancel``), its answer drained to its refund, and
  the minted refund kept in the store under the claim.
* ``POST /refund-claims`` (or ``POST /`` with ``Content-Type: application/vnd.openpcc.refund-claim``, the
  form that passes the gateway's allow-list): body = the 32-byte claim secret; the refund kept under its
  hash, handed out once (200, the ``X-Refund`` text), else 404 ``NO_REFUND``.

Logs name routes, statuses, node ids and exception types, never a body, a credit, a URL or an address.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import collections
import contextlib
import hashlib
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from prometheus_client import Counter, Gauge, Histogram

from openpcc import compute
from openpcc import config as config_module
from openpcc.attestation import (
    EvidenceList,
    EvidencePiece,
    EvidenceType,
    Policy,
    load_policy,
    verify_evidence,
)
from openpcc.attestation.verdict import Verdict
from openpcc.config import RoleConfig
from openpcc.credits import ATTESTATION_VALUE, Credit, Value
from openpcc.exceptions import (
    ComputeError,
    ConfigError,
    CreditError,
    EvidenceFormatError,
    HTTPStreamError,
    MalformedInputError,
    PolicyError,
    RefundRefusedError,
    RequestRejectedError,
    SettingValueError,
    StoreError,
    StoreUnavailableError,
    UsageError,
)
from openpcc.services import _http
from openpcc.services._trailers import TrailerStreamResponse, open_stream
from openpcc.services.bank import as_rejection, load_issuer
from openpcc.services.errors import Code
from openpcc.services.spending import RoleNonceLocker, Spender, Transaction
from openpcc.services.store import NodeRecord, RouterStore, open_router_store

ROLE = "router"
ROUTING_INFO_HEADER = "X-Routing-Info"
CREDIT_HEADER = "X-Credit"
NODE_ID_HEADER = "X-Node-ID"
REFUND_HEADER = "X-Refund"
ERROR_TRAILER = "X-Openpcc-Error"
ENCAPSULATED_KEY_HEADER = "X-Encapsulated-Key"
CREDIT_AMOUNT_HEADER = "X-Credit-Amount"
REFUND_CLAIM_HEADER = "X-Openpcc-Refund-Claim"
#: ``POST /`` with this media type is a refund claim: the gateway (like the reference's) passes only
#: ``/``, ``/compute-manifests`` and ``/ping`` to the router, so a claim through OHTTP takes this form.
REFUND_CLAIM_MEDIA_TYPE = "application/vnd.openpcc.refund-claim"
CLAIM_BYTES = 32
#: Request headers passed on to the node besides the ones the router sets (spec §5.3).
FORWARDED_HEADERS = ("Content-Type", "User-Agent", "X-Confsec-Ping")
REQUEST_MEDIA_TYPES = (compute.REQUEST, compute.CHUNKED_REQUEST)
ROUTER_NONCE_BYTES = 32
CLIENT_NONCE_MIN, CLIENT_NONCE_MAX = 16, 64
MAX_CANDIDATES = 64
MAX_ENCAPSULATED_KEY_TEXT = 512
MAX_TAGS, MAX_TAG_BYTES = 64, 512
MAX_MANIFEST_LIMIT = 500
MAX_URL_BYTES = 2048
MAX_EVIDENCE_BYTES = 8 << 20
MAX_NODE_ERROR_BYTES = 64 << 10
MAX_FAILED_CHECKS_SHOWN = 8
HEALTH_OK, HEALTH_UNKNOWN, HEALTH_UNAVAILABLE = "ok", "unknown", "unavailable"

log = logging.getLogger("openpcc.services.router")


# --- parsing what peers send ----------------------------------------------------------------


def is_uuid7(text: str) -> bool:
    try:
        parsed = uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == text.lower()


def _absolute_url(text: Any, what: str) -> str:
    if not isinstance(text, str) or not text or len(text.encode()) > MAX_URL_BYTES:
        raise RequestRejectedError(Code.INVALID_NODE_EVENT, f"{what} must be an absolute http(s) URL")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestRejectedError(Code.INVALID_NODE_EVENT, f"{what} must be an absolute http(s) URL")
    return text


def _tags(raw: Any, code: Code) -> tuple[str, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_TAGS:
        raise RequestRejectedError(code, f"at most {MAX_TAGS} tags")
    for tag in raw:
        if not isinstance(tag, str) or not tag or len(tag.encode()) > MAX_TAG_BYTES:
            raise RequestRejectedError(code, f"each tag must be 1..{MAX_TAG_BYTES} bytes")
    return tuple(raw)


@dataclass(frozen=True)
class RoutingInfo:
    url: str
    healthcheck_url: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class NodeEvent:
    node_id: str
    index: int
    routing: RoutingInfo | None  # None: a shutdown


def parse_node_event(body: bytes) -> NodeEvent:
    """A ``NodeEvent`` as the reference's merge rules need it (spec §9.1); ``INVALID_NODE_EVENT`` else."""
    try:
        message = compute.decode_message("csprotos.NodeEvent", body)
    except (MalformedInputError, ValueError):
        raise RequestRejectedError(Code.INVALID_NODE_EVENT, "body is not a NodeEvent") from None
    node_id = message.get("nodeId", "")
    if not isinstance(node_id, str) or not is_uuid7(node_id):
        raise RequestRejectedError(Code.INVALID_NODE_EVENT, "node_id must be a UUIDv7")
    try:
        index = int(message.get("eventIndex", 0))
    except (TypeError, ValueError):
        raise RequestRejectedError(Code.INVALID_NODE_EVENT, "event_index must be an integer") from None
    if "shutdown" in message:
        return NodeEvent(node_id, index, None)
    routing = message.get("heartbeat", {}).get("routingInfo")
    if not isinstance(routing, dict):
        raise RequestRejectedError(Code.INVALID_NODE_EVENT, "a heartbeat with routing_info or a shutdown is required")
    tags = _tags(routing.get("tags", []), Code.INVALID_NODE_EVENT)
    if not tags:
        raise RequestRejectedError(Code.INVALID_NODE_EVENT, "at least one tag is required")
    info = RoutingInfo(
        _absolute_url(routing.get("url"), "url"), _absolute_url(routing.get("healthcheckUrl"), "healthcheck_url"), tags
    )
    return NodeEvent(node_id, index, info)


def parse_routing_info(text: str | None) -> list[tuple[str, bytes]]:
    """``X-Routing-Info``: ``b64(ComputeRequestInfo)`` with 1..64 candidates (UUIDv7 id, encapsulated key)."""
    if not text:
        raise RequestRejectedError(Code.INVALID_ROUTING_INFO, "header missing")
    try:
        candidates = compute.decode_compute_request_info(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, ComputeError, MalformedInputError):
        raise RequestRejectedError(Code.INVALID_ROUTING_INFO, "not a base64 ComputeRequestInfo") from None
    if not 1 <= len(candidates) <= MAX_CANDIDATES:
        raise RequestRejectedError(Code.INVALID_ROUTING_INFO, f"1..{MAX_CANDIDATES} candidates required")
    for node_id, key in candidates:
        if not is_uuid7(node_id):
            raise RequestRejectedError(Code.INVALID_ROUTING_INFO, "candidate ids must be UUIDv7")
        if not key or len(base64.b64encode(key)) > MAX_ENCAPSULATED_KEY_TEXT:
            raise RequestRejectedError(Code.INVALID_ROUTING_INFO, "encapsulated keys must be 1..384 bytes")
    return candidates


def parse_refund_claim(text: str | None) -> bytes | None:
    """``X-Openpcc-Refund-Claim``: ``b64(SHA-256(claim secret))``; None when absent."""
    if text is None:
        return None
    try:
        claim = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        claim = b""
    if len(claim) != CLAIM_BYTES:
        raise RequestRejectedError(Code.BAD_REQUEST, f"{REFUND_CLAIM_HEADER} must be base64 of {CLAIM_BYTES} bytes")
    return claim


def parse_credit(text: str | None) -> Credit:
    if not text:
        raise RequestRejectedError(Code.MALFORMED_CREDIT, "X-Credit header missing")
    try:
        return Credit.from_text(text)
    except (CreditError, ValueError):
        raise RequestRejectedError(Code.MALFORMED_CREDIT, "invalid credit in X-Credit header") from None


def refund_of(trailer: str | None) -> Value | None:
    """The node's ``X-Refund-Amount`` (``b64(Currency)``) as a value; None when empty or unreadable."""
    if not trailer:
        return None
    try:
        return Value.from_proto(base64.b64decode(trailer, validate=True))
    except (binascii.Error, ValueError, CreditError, MalformedInputError):
        return None


def capped_refund(refund: Value | None, spent: Value) -> tuple[Value | None, bool]:
    """``(refund to mint, capped)``: none for a zero or special value, at most the credit spent (the fix of
    spec §12.2 item 1; the credit's own value is representable, so the cap needs no rounding)."""
    if refund is None or not refund.is_spendable:
        return None, False
    if refund.amount > spent.amount:
        return spent, True
    return refund, False


def with_router_nonce(evidence: bytes, nonce: bytes) -> bytes:
    """The verified bundle with an ``OPENPCC_ROUTER_NONCE`` piece naming the nonce it was quoted over, so
    a client can verify it in full (signatures, bindings, the signed collection time against its policy's
    ``max_evidence_age``) without trusting the router for freshness."""
    pieces = EvidenceList.decode(evidence).pieces
    kept = tuple(p for p in pieces if p.kind != EvidenceType.OPENPCC_ROUTER_NONCE)
    return EvidenceList.of([*kept, EvidencePiece(EvidenceType.OPENPCC_ROUTER_NONCE, nonce)]).encode()


def request_key_of(evidence: bytes) -> bytes | None:
    """The request-encryption key a bundle names: its REK ``TPMT_PUBLIC``, or the declared software key."""
    pieces = EvidenceList.decode(evidence)
    for kind in (EvidenceType.TPMT_PUBLIC, EvidenceType.OPENPCC_SOFTWARE_REQUEST_KEY):
        piece = pieces.first(kind)
        if piece is not None:
            return piece.data
    return None


def verdict_summary(verdict: Verdict | None, reason: str | None = None) -> str:
    """What the store keeps of a verdict: pass or fail and the failed checks' names (no evidence bytes)."""
    if verdict is None:
        return json.dumps({"valid": False, "failed": [], "reason": reason or "no evidence"})
    failed = [c.name for c in verdict.failures]
    return json.dumps({"valid": bool(verdict.valid), "failed": failed, "reason": reason or ""})


# --- health (spec §9.2) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Grading:
    min_checks: int = 3
    max_failure_streak: int = 3
    min_success_rate: float = 0.9
    window: float = 900.0

    @classmethod
    def from_config(cls, cfg: RoleConfig) -> Grading:
        return cls(
            int(cfg["health_min_checks"]), int(cfg["health_max_failure_streak"]),
            float(cfg["health_min_success_rate"]), float(cfg["health_window_secs"]),
        )

    def grade(self, checks: collections.deque[tuple[float, bool]], now: float) -> str:
        """The reference's grader: too few checks → unknown; a failure streak or a low success rate →
        unavailable; otherwise ok. Checks older than the window are forgotten first."""
        while checks and checks[0][0] < now - self.window:
            checks.popleft()
        if len(checks) < self.min_checks:
            return HEALTH_UNKNOWN
        streak = 0
        for _at, ok in reversed(checks):
            if ok:
                break
            streak += 1
        if streak >= self.max_failure_streak:
            return HEALTH_UNAVAILABLE
        if sum(ok for _at, ok in checks) / len(checks) < self.min_success_rate:
            return HEALTH_UNAVAILABLE
        return HEALTH_OK


@dataclass
class Node:
    """An admitted node in memory: its stored record and its health history (not stored, as in the
    reference: a restarted router grades its nodes afresh)."""

    record: NodeRecord
    checks: collections.deque[tuple[float, bool]] = field(default_factory=collections.deque)
    grade: str = HEALTH_UNKNOWN

    @property
    def node_id(self) -> str:
        return self.record.node_id


# --- networks node URLs may point into (spec §12.2 item 17) ----------------------------------


class NodeNetworks:
    def __init__(self, setting: str) -> None:
        text = setting.strip()
        self.any = text == "*"
        try:
            self.networks = [] if self.any else [ipaddress.ip_network(n.strip()) for n in text.split(",") if n.strip()]
        except ValueError:
            raise SettingValueError("[router] node_networks must be CIDR networks or `*`") from None

    async def allows(self, url: str) -> bool:
        if self.any:
            return True
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 80, type=socket.SOCK_STREAM)
            except OSError:
                return False
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        return bool(addresses) and all(any(a in n for n in self.networks) for a in addresses)


# --- the service ------------------------------------------------------------------------------


def load_router_policy(cfg: RoleConfig) -> Policy:
    path = str(cfg["policy"])
    if not path:
        log.warning("router: no policy set: the production defaults admit no node until a policy pins values")
        return Policy.production()
    try:
        return load_policy(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"router: cannot read policy {path}: {exc.strerror or exc}") from None
    except PolicyError as exc:
        raise ConfigError(f"router: policy {path}: {exc}") from None


class RouterService:
    """Node registry, admission, health, manifests and the compute proxy, on the shared HTTP plumbing."""

    def __init__(
        self,
        cfg: RoleConfig,
        *,
        store: RouterStore | None = None,
        policy: Policy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.policy = policy if policy is not None else load_router_policy(cfg)
        self.issuer = load_issuer(cfg)
        self.store = store if store is not None else open_router_store(cfg.database)
        self.locker = RoleNonceLocker(cfg, clock)
        self.spender = Spender(self.issuer.public_key, self.locker, issuer=self.issuer, clock=clock)
        self.grading = Grading.from_config(cfg)
        self.networks = NodeNetworks(str(cfg["node_networks"]))
        self.http = _http.HTTPService(cfg, logger=log)
        self.nodes: dict[str, Node] = {}
        self._admitting: set[str] = set()
        self._retry_after: dict[str, float] = {}
        self._admissions = asyncio.Semaphore(int(cfg["max_admissions"]))
        self._session: ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._metrics()
        self.http.add_route("POST", "/node-events", self._node_events, binary=True)
        self.http.add_route("POST", "/compute-manifests", self._compute_manifests, binary=True)
        self.http.add_route("POST", "/", self._compute, binary=True)
        self.http.add_route("POST", "/refund-claims", self._refund_claims, binary=True)
        self.http.add_route("GET", "/ping", self._ping)
        self.http.add_readiness_check("store", self._store_ready)
        self.http.on_startup(self._start)
        self.http.on_cleanup(self._close)

    def _metrics(self) -> None:
        registry = self.http.registry
        self._admitted_gauge = Gauge("openpcc_router_admitted_nodes", "Nodes admitted and attested", registry=registry)
        self._routable_gauge = Gauge("openpcc_router_routable_nodes", "Nodes graded ok and attested", registry=registry)
        self._streams_gauge = Gauge("openpcc_router_active_streams", "Compute answers being streamed", registry=registry)
        self._admissions_total = Counter(
            "openpcc_router_admissions", "Evidence checks of nodes, by kind and result", ["kind", "result"],
            registry=registry,
        )
        self._streams_ended = Counter(
            "openpcc_router_streams_ended", "Compute requests proxied, by how they ended", ["how"], registry=registry
        )
        self._refunds = Counter("openpcc_router_refunds", "Refunds, by outcome", ["how"], registry=registry)
        self._received = Counter(
            "openpcc_router_bytes_received", "Request body bytes received from clients and nodes", registry=registry
        )
        self._sent = Counter("openpcc_router_bytes_sent", "Response body bytes sent to clients", registry=registry)
        self._first_byte = Histogram(
            "openpcc_router_first_byte_seconds", "Time from a compute request to the node's first answer byte",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=registry,
        )

    # --- lifecycle -----------------------------------------------------------------------

    async def _start(self) -> None:
        await self.locker.open()
        self._session = _http.client_session(timeout=float(self.cfg["evidence_timeout_secs"]))
        for record in await asyncio.to_thread(self.store.nodes):
            self.nodes[record.node_id] = Node(record)
        self._refresh_gauges()
        if self.nodes:
            log.info("router: %d admitted node(s) loaded from the store", len(self.nodes))
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._health_loop()), loop.create_task(self._reattest_loop())]

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
        await self.locker.close()
        await asyncio.to_thread(self.store.close)

    async def _store_ready(self) -> str | None:
        try:
            await asyncio.to_thread(self.store.ping)
        except StoreError:
            return "store unreachable"
        return None

    async def _ping(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(text="pong")

    # --- routability ---------------------------------------------------------------------

    def routable(self, node: Node, now: float | None = None) -> bool:
        """Admitted, last evidence check passed, not shut down, heard from recently, graded ok."""
        now = self.clock() if now is None else now
        record = node.record
        return (
            record.attested
            and record.shutdown_at is None
            and now - record.last_event_at <= float(self.cfg["node_max_age_secs"])
            and node.grade == HEALTH_OK
        )

    def _refresh_gauges(self) -> None:
        now = self.clock()
        self._admitted_gauge.set(sum(1 for n in self.nodes.values() if n.record.attested))
        self._routable_gauge.set(sum(1 for n in self.nodes.values() if self.routable(n, now)))

    # --- admission -----------------------------------------------------------------------

    async def fetch_evidence(self, url: str, nonce: bytes) -> bytes:
        """``POST <url>/evidence`` with ``nonce``; the raw ``SignedEvidenceList`` (``HTTPStreamError``)."""
        if self._session is None:
            raise StoreUnavailableError("the router is not started")
        target = url.rstrip("/") + "/evidence"
        body = bytearray()
        try:
            async with self._session.post(
                target, data=nonce, headers={"Content-Type": _http.BINARY}, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    raise HTTPStreamError(f"the node answered {resp.status} to an evidence request")
                async for chunk in resp.content.iter_chunked(1 << 16):
                    body += chunk
                    if len(body) > MAX_EVIDENCE_BYTES:
                        raise HTTPStreamError("the node's evidence is too large")
        except (ClientError, TimeoutError, OSError) as exc:
            raise HTTPStreamError(f"evidence request failed: {type(exc).__name__}") from None
        self._received.inc(len(body))
        return bytes(body)

    async def attest(self, url: str, kind: str) -> tuple[bytes | None, Verdict | None, str]:
        """Asks the node at ``url`` for evidence over a fresh router nonce and verifies it under the policy:
        ``(evidence, verdict, reason)``; evidence is None unless it passed."""
        if not await self.networks.allows(url):
            self._admissions_total.labels(kind, "refused_network").inc()
            return None, None, "the node's URL is outside node_networks"
        nonce = secrets.token_bytes(ROUTER_NONCE_BYTES)
        async with self._admissions:
            try:
                evidence = await self.fetch_evidence(url, nonce)
            except HTTPStreamError as exc:
                self._admissions_total.labels(kind, "unreachable").inc()
                return None, None, str(exc)
            try:
                verdict = await asyncio.to_thread(verify_evidence, evidence, self.policy, nonce=nonce)
            except EvidenceFormatError:
                self._admissions_total.labels(kind, "malformed").inc()
                return None, None, "the node's answer is not a SignedEvidenceList"
        if not verdict.valid:
            self._admissions_total.labels(kind, "refused").inc()
            names = [c.name for c in verdict.failures][:MAX_FAILED_CHECKS_SHOWN]
            return None, verdict, "evidence failed the router's policy: " + ", ".join(names)
        self._admissions_total.labels(kind, "admitted").inc()
        return with_router_nonce(evidence, nonce), verdict, ""

    async def _admit(self, event: NodeEvent, routing: RoutingInfo, known: Node | None) -> None:
        node_id = event.node_id
        now = self.clock()
        if node_id in self._admitting:
            raise RequestRejectedError(Code.RATE_LIMITED, "an admission of this node is under way")
        if self._retry_after.get(node_id, 0.0) > now:
            raise RequestRejectedError(Code.RATE_LIMITED, "this node's last admission failed; retry later")
        self._admitting.add(node_id)
        try:
            if await self.networks.allows(routing.healthcheck_url):
                evidence, verdict, reason = await self.attest(routing.url, "admission")
            else:
                self._admissions_total.labels("admission", "refused_network").inc()
                evidence, verdict, reason = None, None, "the node's health check URL is outside node_networks"
            if evidence is None:
                self._retry_after[node_id] = self.clock() + float(self.cfg["admission_retry_secs"])
                if len(self._retry_after) > 4096:
                    self._retry_after = {k: v for k, v in self._retry_after.items() if v > now}
                log.info("router: node %s not admitted (%s)", node_id, reason)
                raise RequestRejectedError(Code.NODE_NOT_ADMITTED, reason)
            self._retry_after.pop(node_id, None)
            at = self.clock()
            record = NodeRecord(
                node_id=node_id, url=routing.url, healthcheck_url=routing.healthcheck_url, tags=routing.tags,
                evidence=evidence, admitted_at=at, attested_at=at, attested=True, verdict=verdict_summary(verdict),
                last_event_index=max(event.index, known.record.last_event_index if known else event.index),
                last_event_at=at,
            )
            await asyncio.to_thread(self.store.admit, record)
            node = Node(record)
            if known is not None and _routing_of(known.record) == routing:
                node.checks, node.grade = known.checks, known.grade  # same place: its health history holds
            self.nodes[node_id] = node
            log.info("router: node %s admitted", node_id)
            # Its first health check now rather than at the next round: routable sooner.
            self._tasks.append(asyncio.get_running_loop().create_task(self._first_check(node)))
        finally:
            self._admitting.discard(node_id)
            self._refresh_gauges()

    # --- POST /node-events ---------------------------------------------------------------

    async def _node_events(self, request: web.Request) -> web.StreamResponse:
        _http.require_binary(request)
        body = await _http.read_body(request)
        self._received.inc(len(body))
        event = parse_node_event(body)
        with as_rejection():  # a store that cannot be reached: 503, nothing changed
            return await self._apply_event(event)

    async def _apply_event(self, event: NodeEvent) -> web.StreamResponse:
        known = self.nodes.get(event.node_id)
        now = self.clock()
        if event.routing is None:
            if known is not None and await asyncio.to_thread(self.store.record_shutdown, event.node_id, event.index, now):
                known.record = replace(known.record, shutdown_at=now, last_event_index=event.index)
                log.info("router: node %s shut down", event.node_id)
                self._refresh_gauges()
            return _http.binary_response(b"")
        if (
            known is not None
            and known.record.attested
            and known.record.shutdown_at is None
            and _routing_of(known.record) == event.routing
        ):
            await asyncio.to_thread(self.store.record_event, event.node_id, event.index, now)
            known.record = replace(
                known.record, last_event_at=now, last_event_index=max(event.index, known.record.last_event_index)
            )
            return _http.binary_response(b"")
        # A new node, one that moved or changed its tags, one that failed its last check or shut down:
        # nothing it says is used before fresh evidence from its (new) URL passes the policy.
        await self._admit(event, event.routing, known)
        return _http.binary_response(b"")

    # --- background: health checks and re-attestation --------------------------------------

    async def _health_loop(self) -> None:
        interval = float(self.cfg["health_interval_secs"])
        while True:
            nodes = [n for n in self.nodes.values() if n.record.shutdown_at is None]
            await asyncio.gather(*(self.check_health(n) for n in nodes), return_exceptions=True)
            self._refresh_gauges()
            await asyncio.sleep(interval)

    async def _first_check(self, node: Node) -> None:
        with contextlib.suppress(Exception):
            await self.check_health(node)
        self._refresh_gauges()
        self._tasks = [t for t in self._tasks if not t.done()]

    async def check_health(self, node: Node) -> bool:
        """One check (§9.2): ``GET healthcheck_url``, 2xx is a success, up to ``health_retries`` attempts."""
        ok = False
        timeout = float(self.cfg["health_timeout_secs"])
        for _attempt in range(int(self.cfg["health_retries"])):
            try:
                async with (
                    _http.client_session(timeout=timeout, limit=1) as session,
                    session.get(node.record.healthcheck_url, allow_redirects=False) as resp,
                ):
                    await resp.content.read(1024)
                    ok = 200 <= resp.status < 300 and _same_node(resp.headers.get(NODE_ID_HEADER), node.node_id)
            except (ClientError, TimeoutError, OSError):
                ok = False
            if ok:
                break
        self.record_check(node, ok)
        return ok

    def record_check(self, node: Node, ok: bool) -> None:
        now = self.clock()
        node.checks.append((now, ok))
        before = node.grade
        node.grade = self.grading.grade(node.checks, now)
        if node.grade != before:
            log.info("router: node %s health %s -> %s", node.node_id, before, node.grade)
            self._refresh_gauges()

    async def _reattest_loop(self) -> None:
        every = float(self.cfg["reattest_secs"])
        while True:
            await asyncio.sleep(min(every, 5.0) / 2)
            with contextlib.suppress(StoreError):
                await self.sync_from_store()
                await asyncio.to_thread(self.store.purge_refunds, self.clock())
            now = self.clock()
            due = [
                n for n in list(self.nodes.values())
                if n.record.attested and n.record.shutdown_at is None and now - n.record.attested_at >= every
            ]
            await asyncio.gather(*(self.reattest(n) for n in due), return_exceptions=True)
            self._refresh_gauges()

    async def sync_from_store(self) -> None:
        """Takes in what other replicas sharing the database admitted, re-attested or saw shut down (the
        store is written before memory, so it is never older than this process's view)."""
        records = {r.node_id: r for r in await asyncio.to_thread(self.store.nodes)}
        for node_id in [i for i in self.nodes if i not in records and i not in self._admitting]:
            del self.nodes[node_id]
        for node_id, record in records.items():
            node = self.nodes.get(node_id)
            if node is None:
                self.nodes[node_id] = Node(record)
            elif node.record != record:
                if _routing_of(node.record) != _routing_of(record):
                    node.checks, node.grade = collections.deque(), HEALTH_UNKNOWN
                node.record = record

    async def reattest(self, node: Node) -> bool:
        """Fresh evidence over a new router nonce; a failure (or no answer) stops routing to the node until
        a later heartbeat passes admission again."""
        evidence, verdict, reason = await self.attest(node.record.url, "reattestation")
        at = self.clock()
        summary = verdict_summary(verdict, reason or None)
        await asyncio.to_thread(self.store.record_attestation, node.node_id, evidence, evidence is not None, summary, at)
        current = self.nodes.get(node.node_id)
        if current is not node:
            return evidence is not None  # re-admitted meanwhile: that record wins
        record = replace(node.record, attested=evidence is not None, verdict=summary, attested_at=at)
        node.record = replace(record, evidence=evidence) if evidence is not None else record
        if evidence is None:
            log.warning("router: node %s failed re-attestation (%s); not routed", node.node_id, reason)
        return evidence is not None

    # --- POST /compute-manifests -----------------------------------------------------------

    async def _compute_manifests(self, request: web.Request) -> web.StreamResponse:
        _http.require_binary(request)
        credit = parse_credit(request.headers.get(CREDIT_HEADER))
        body = await _http.read_body(request)
        self._received.inc(len(body))
        try:
            query = compute.decode_message("csprotos.ComputeManifestRequest", body)
        except (MalformedInputError, ValueError):
            raise RequestRejectedError(Code.INVALID_MESSAGE, "body is not a ComputeManifestRequest") from None
        tags = set(_tags(query.get("tags", []), Code.INVALID_MESSAGE))
        limit = int(query.get("limit", 0))
        if limit > MAX_MANIFEST_LIMIT:
            raise RequestRejectedError(Code.INVALID_MESSAGE, f"limit must be at most {MAX_MANIFEST_LIMIT}")
        client_nonce = _client_nonce(query)
        with as_rejection():
            transaction = await self.spender.begin(credit, value=ATTESTATION_VALUE)
        try:
            items = await self.manifests(tags, limit, client_nonce)
        finally:
            # Always spent, as the reference: a manifest query costs one attestation credit.
            with as_rejection():
                await transaction.commit()
        answer = compute.encode_message("csprotos.ComputeManifestList", {"items": items})
        self._sent.inc(len(answer))
        return _http.binary_response(answer)

    async def manifests(self, tags: set[str], limit: int, client_nonce: bytes | None) -> list[dict[str, Any]]:
        """Up to ``limit`` routable nodes carrying every tag in ``tags``, in random order."""
        if limit <= 0:
            return []
        now = self.clock()
        matching = [n for n in self.nodes.values() if self.routable(n, now) and tags <= set(n.record.tags)]
        secrets.SystemRandom().shuffle(matching)
        chosen = matching[:limit]
        if client_nonce is None:
            pieces: list[bytes | None] = [n.record.evidence for n in chosen]
        else:
            pieces = list(await asyncio.gather(*(self._fresh_evidence(n, client_nonce) for n in chosen)))
        return [
            {
                "id": node.node_id,
                "tags": list(node.record.tags),
                "evidence": compute.decode_message("csprotos.SignedEvidenceList", evidence),
            }
            for node, evidence in zip(chosen, pieces, strict=True)
            if evidence is not None
        ]

    async def _fresh_evidence(self, node: Node, nonce: bytes) -> bytes | None:
        """The node's evidence over the client's nonce, passed through unverified (the client verifies it
        against its own policy); None when the node does not answer (it is then left out)."""
        try:
            evidence = await self.fetch_evidence(node.record.url, nonce)
            fresh_key = request_key_of(evidence)
        except (HTTPStreamError, MalformedInputError, ValueError):
            return None
        if fresh_key is None or fresh_key != request_key_of(node.record.evidence):
            # Evidence of another request key than the one admitted (another machine behind the URL):
            # the node is left out rather than handed to the client with keys the router never checked.
            log.warning("router: node %s answered a client nonce with another request key; left out", node.node_id)
            return None
        return evidence

    # --- POST / ----------------------------------------------------------------------------

    def pick(self, candidates: list[tuple[str, bytes]]) -> list[tuple[Node, bytes]]:
        """The routable candidates in a uniformly random order (CSPRNG): the first is the pick, the others
        stand by in case it cannot be reached. ``NO_CANDIDATE`` when none is routable."""
        now = self.clock()
        usable = [(self.nodes[i], key) for i, key in candidates if i in self.nodes and self.routable(self.nodes[i], now)]
        if not usable:
            raise RequestRejectedError(Code.NO_CANDIDATE)
        secrets.SystemRandom().shuffle(usable)
        return usable

    async def _compute(self, request: web.Request) -> web.StreamResponse:
        if request.content_type == REFUND_CLAIM_MEDIA_TYPE:
            return await self._refund_claims(request)
        claim = parse_refund_claim(request.headers.get(REFUND_CLAIM_HEADER))
        candidates = parse_routing_info(request.headers.get(ROUTING_INFO_HEADER))
        credit = parse_credit(request.headers.get(CREDIT_HEADER))
        if request.content_type not in REQUEST_MEDIA_TYPES:
            raise RequestRejectedError(Code.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be a compute request media type")
        if not credit.value.is_spendable:
            raise RequestRejectedError(Code.WRONG_CREDIT_VALUE, "invalid credit value")
        order = self.pick(candidates)
        with as_rejection():
            transaction = await self.spender.begin(credit)
        async with transaction:
            body = ClientBody(self, request)
            for node, encapsulated_key in order:
                answer = await self._proxy(request, node, encapsulated_key, transaction, body, claim)
                if answer is not None:
                    return answer
                if body.started:
                    break  # the body was (partly) sent: it cannot go to another node
            # Before any answer's head: nothing reached the client; the credit stays spendable.
            await transaction.rollback()
            raise RequestRejectedError(Code.NODE_FAILED)

    def _node_headers(self, request: web.Request, encapsulated_key: bytes, amount: int) -> list[tuple[str, str]]:
        headers = [(name, request.headers[name]) for name in FORWARDED_HEADERS if name in request.headers]
        headers.append((ENCAPSULATED_KEY_HEADER, base64.b64encode(encapsulated_key).decode()))
        headers.append((CREDIT_AMOUNT_HEADER, str(amount)))
        return headers

    async def _proxy(
        self,
        request: web.Request,
        node: Node,
        encapsulated_key: bytes,
        transaction: Transaction,
        body: ClientBody,
        claim: bytes | None,
    ) -> web.StreamResponse | None:
        """The node's answer passed on, or None when the node could not be reached or broke off before its
        answer's head (it then counts as a failed health check)."""
        started = time.perf_counter()
        headers = self._node_headers(request, encapsulated_key, transaction.credit.value.amount)
        try:
            async with open_stream(
                "POST", node.record.url, headers=headers, body=body.chunks(),
                read_timeout=float(self.cfg["node_read_timeout_secs"]),
            ) as upstream:
                self._first_byte.observe(time.perf_counter() - started)
                if upstream.status != 200:
                    return await self._node_refused(upstream, node, transaction)
                abandoned = None if claim is None else Abandoned(claim, hashlib.sha256(encapsulated_key).digest())
                return await self._stream(request, upstream, node, transaction, abandoned)
        except HTTPStreamError as exc:
            self.record_check(node, False)
            self._streams_ended.labels("node_unreachable").inc()
            log.warning("router: node %s failed before answering (%s)", node.node_id, type(exc).__name__)
            return None

    async def _node_refused(self, upstream: Any, node: Node, transaction: Transaction) -> web.StreamResponse:
        """A node's error answer (it refused the request: bad encryption, a replay, overload) is passed
        on with its status; the node did no work, so the credit is released."""
        body = b""
        with contextlib.suppress(HTTPStreamError):
            async for chunk in upstream.iter_body():
                body += chunk
                if len(body) > MAX_NODE_ERROR_BYTES:
                    body = body[:MAX_NODE_ERROR_BYTES]
                    break
        await transaction.rollback()
        self._streams_ended.labels("node_refused").inc()
        response = web.Response(status=upstream.status, body=body)
        for name in ("Content-Type", _error_code_header()):
            value = upstream.header(name)
            if value is not None:
                response.headers[name] = value
        response.headers[NODE_ID_HEADER] = node.node_id
        self._sent.inc(len(body))
        return response

    async def _stream(
        self, request: web.Request, upstream: Any, node: Node, transaction: Transaction, abandoned: Abandoned | None
    ) -> web.StreamResponse:
        response = TrailerStreamResponse([REFUND_HEADER, ERROR_TRAILER])
        response.headers["Content-Type"] = upstream.header("Content-Type") or compute.CHUNKED_RESPONSE
        response.headers[NODE_ID_HEADER] = node.node_id
        self._streams_gauge.inc()
        how = "completed"
        settled: dict[str, str] | None = None  # the trailers, once the credit is settled
        try:
            await response.prepare(request)
            try:
                async for chunk in upstream.iter_body():
                    await response.write(chunk)
                    self._sent.inc(len(chunk))
            except HTTPStreamError as exc:
                how = "node_failed"
                await transaction.rollback()
                self.record_check(node, False)
                log.warning("router: node %s broke off its answer (%s)", node.node_id, type(exc).__name__)
                await response.finish({ERROR_TRAILER: f"{int(Code.NODE_FAILED)} node stream failed"})
                return response
            try:
                trailers = await self._settle(transaction, upstream.trailers, node)
            except RequestRejectedError as exc:
                # The answer is out, so this can only be said in a trailer: e.g. the credit's lock ran out
                # during a very long answer (nonce locks last 300 s) or the store went away.
                how = "settle_failed"
                log.warning("router: settling a compute request failed (code %d)", exc.code)
                trailers = {ERROR_TRAILER: f"{exc.code} the credit could not be settled"}
            settled = trailers
            await response.finish(trailers)
        except ConnectionResetError:
            # The client went away mid-answer. Without a claim: the node's work was done or stops now (its
            # connection is closed when this returns); the credit is spent, and there is nobody to refund.
            # With one: the node is asked to stop and its refund kept for the client to claim.
            how = "client_gone"
            if abandoned is None:
                await asyncio.shield(_commit_once(transaction))
            elif settled is not None:  # gone just before the trailers: the refund minted is theirs to claim
                await asyncio.shield(self._keep(abandoned, settled))
            else:
                await asyncio.shield(self._keep_refund(upstream, node, transaction, abandoned))
        except asyncio.CancelledError:
            how = "client_gone"
            await asyncio.shield(_commit_once(transaction))
            raise
        finally:
            self._streams_gauge.dec()
            self._streams_ended.labels(how).inc()
        return response

    async def _keep_refund(self, upstream: Any, node: Node, transaction: Transaction, abandoned: Abandoned) -> None:
        """The client is gone: ``POST <node>/cancel``, drain the node's answer (at most
        ``cancel_drain_secs``), settle as usual and keep the minted refund under the client's claim."""
        await self._cancel_on_node(node, abandoned.request_id)
        try:
            async with asyncio.timeout(float(self.cfg["cancel_drain_secs"])):
                async for chunk in upstream.iter_body():
                    self._received.inc(len(chunk))
            trailers = await self._settle(transaction, upstream.trailers, node)
        except (HTTPStreamError, TimeoutError) as exc:
            await _commit_once(transaction)  # the node did (some of) the work; its refund is unknown
            self._refunds.labels("abandoned_lost").inc()
            log.warning("router: node %s did not end a cancelled answer (%s)", node.node_id, type(exc).__name__)
            return
        except RequestRejectedError as exc:
            log.warning("router: settling an abandoned request failed (code %d)", exc.code)
            return
        await self._keep(abandoned, trailers)

    async def _keep(self, abandoned: Abandoned, trailers: dict[str, str]) -> None:
        """Keeps the ``X-Refund`` of ``trailers`` (if any) in the store under the client's claim."""
        refund = trailers.get(REFUND_HEADER)
        if refund is None:
            return
        expires = self.clock() + float(self.cfg["refund_claim_ttl_secs"])
        try:
            kept = await asyncio.to_thread(self.store.put_refund, abandoned.claim, refund, expires)
        except StoreError as exc:
            kept = False
            log.warning("router: the refund of an abandoned request could not be kept (%s)", type(exc).__name__)
        self._refunds.labels("claimable" if kept else "abandoned_lost").inc()

    async def _cancel_on_node(self, node: Node, request_id: bytes) -> None:
        """Asks the node to stop the answer ``request_id`` names; a failure only means a longer drain."""
        if self._session is None:
            return
        target = node.record.url.rstrip("/") + "/cancel"
        try:
            async with self._session.post(
                target, data=request_id, headers={"Content-Type": _http.BINARY}, allow_redirects=False,
                timeout=ClientTimeout(total=float(self.cfg["cancel_drain_secs"])),
            ) as resp:
                await resp.content.read(1024)
                if resp.status != 200:
                    log.info("router: node %s answered %d to a cancel", node.node_id, resp.status)
        except (ClientError, TimeoutError, OSError) as exc:
            log.warning("router: cancel not delivered to node %s (%s)", node.node_id, type(exc).__name__)

    # --- POST /refund-claims ---------------------------------------------------------------

    async def _refund_claims(self, request: web.Request) -> web.StreamResponse:
        """Body: the 32-byte claim secret. The refund kept under its SHA-256, taken at most once."""
        if request.content_type not in (_http.BINARY, REFUND_CLAIM_MEDIA_TYPE):
            raise RequestRejectedError(
                Code.UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be {_http.BINARY} or {REFUND_CLAIM_MEDIA_TYPE}"
            )
        if (request.content_length or 0) > CLAIM_BYTES:
            raise RequestRejectedError(Code.BAD_REQUEST, f"the body must be the {CLAIM_BYTES}-byte claim secret")
        secret = await _http.read_body(request)
        self._received.inc(len(secret))
        if len(secret) != CLAIM_BYTES:
            raise RequestRejectedError(Code.BAD_REQUEST, f"the body must be the {CLAIM_BYTES}-byte claim secret")
        with as_rejection():
            refund = await asyncio.to_thread(self.store.take_refund, hashlib.sha256(secret).digest(), self.clock())
        if refund is None:
            raise RequestRejectedError(Code.NO_REFUND, "none (yet): a refund is kept once the node ended; retry briefly")
        self._refunds.labels("claimed").inc()
        body = refund.encode()
        self._sent.inc(len(body))
        return web.Response(body=body, content_type="text/plain")

    async def _settle(self, transaction: Transaction, node_trailers: dict[str, str], node: Node) -> dict[str, str]:
        """Spends the credit; mints the node's refund (capped at the credit) as ``X-Refund``."""
        announced = {k.lower(): v for k, v in node_trailers.items()}
        refund, capped = capped_refund(refund_of(announced.get(compute.REFUND_AMOUNT_TRAILER.lower())), transaction.credit.value)
        if capped:
            self._refunds.labels("capped").inc()
            log.warning("router: node %s asked for a refund above the credit; capped", node.node_id)
        if refund is None:
            with as_rejection():
                await transaction.commit()
            self._refunds.labels("none").inc()
            return {}
        with as_rejection():
            try:
                minted = await transaction.commit_with_refund(refund, node.node_id, self.nodes)
            except RefundRefusedError:
                # The node is no longer admitted (dropped while it answered): spend, mint nothing.
                await transaction.commit()
                self._refunds.labels("refused").inc()
                return {}
        self._refunds.labels("minted").inc()
        return {REFUND_HEADER: minted.to_text()}


@dataclass(frozen=True)
class Abandoned:
    """What the router needs when a client goes away: its claim (SHA-256 of its secret) and the request's
    id at the node (SHA-256 of the encapsulated key the node got)."""

    claim: bytes
    request_id: bytes


class ClientBody:
    """The client's request body, read once as the node takes it; ``started`` once any of it was read (it
    can then go to no other node)."""

    def __init__(self, router: RouterService, request: web.Request) -> None:
        self._router = router
        self._request = request
        self.started = False

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.started:
            raise UsageError("the request body was already read")
        self.started = True
        async for chunk in _http.iter_body(self._request):
            self._router._received.inc(len(chunk))
            yield chunk


async def _commit_once(transaction: Transaction) -> None:
    with contextlib.suppress(Exception):
        await transaction.commit()


def _error_code_header() -> str:
    from openpcc.services.errors import ERROR_CODE_HEADER

    return ERROR_CODE_HEADER


def _routing_of(record: NodeRecord) -> RoutingInfo:
    return RoutingInfo(record.url, record.healthcheck_url, record.tags)


def _client_nonce(query: dict[str, Any]) -> bytes | None:
    raw = query.get("clientNonce")
    if raw is None:
        return None
    try:
        nonce = base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError):
        raise RequestRejectedError(Code.INVALID_MESSAGE, "client_nonce does not decode") from None
    if not CLIENT_NONCE_MIN <= len(nonce) <= CLIENT_NONCE_MAX:
        raise RequestRejectedError(Code.INVALID_NONCE, f"client_nonce must be {CLIENT_NONCE_MIN} to {CLIENT_NONCE_MAX} bytes")
    return nonce


# --- running ---------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    """``openpcc router --config FILE``: serve until SIGTERM/SIGINT."""
    cfg = config_module.load(args.config).role(ROLE)
    _http.configure_logging(str(cfg["log_level"]))
    service = RouterService(cfg)
    asyncio.run(_http.run_until_signalled(service.http))
    return 0


__all__ = [
    "Grading",
    "NodeEvent",
    "RouterService",
    "capped_refund",
    "main",
    "parse_node_event",
    "parse_routing_info",
]


def _same_node(answered: str | None, admitted: str) -> bool:
    """A health answer naming another node id comes from a different identity at the admitted URL (a
    restarted node): it must not keep the admitted one routable. Nodes that name none (the reference's)
    are judged by status alone, as in §9.2."""
    return answered is None or answered == admitted
