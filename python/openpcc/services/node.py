"""The compute node: ``openpcc node --config FILE --name NAME`` (port 3700 + the node's index).

It answers the router's compute requests as the reference's real node does (spec §1.3, §5.4): the body is
a twoway request sealed to the node's request-encryption key (REK), which lives in a TPM (swtpm, a running
swtpm's data channel, or ``/dev/tpmrm0``; ``danger_software_request_key`` keeps it in this process and the
evidence says so). The decrypted inner request is validated (spec §5.1), our ``X-Openpcc-Padding`` field is
removed (it selects the token stream's padding), the engine answers, and its bytes are sealed and sent as
they come. The outer ``X-Refund-Amount`` trailer reports the unused credit, rounded down
(``docs/refunds.md``). Endpoints and headers: ``docs/node.md``.

Nothing from a request's plaintext, its headers' values or a client address reaches a log: the shared
plumbing logs the route pattern and status, and this module logs only exception types.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import collections
import contextlib
import hashlib
import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import Counter, Gauge

from openpcc import bhttp, compute
from openpcc import config as config_module
from openpcc.attestation.bundle import (
    EvidenceList,
    EvidencePiece,
    EvidenceType,
    bundle_from_identity,
)
from openpcc.badge import HEADER as BADGE_HEADER
from openpcc.badge import Badge, load_public_key
from openpcc.config import RoleConfig
from openpcc.exceptions import (
    BadgeError,
    BHTTPError,
    ComputeError,
    EngineError,
    RequestRejectedError,
    SettingValueError,
    TPMError,
)
from openpcc.services import _http
from openpcc.services._trailers import TrailerStreamResponse
from openpcc.services.engines import Engine, EngineResponse, error_body, from_config
from openpcc.services.errors import Code

ROLE = "node"
REQUEST_MEDIA_TYPES = (compute.REQUEST, compute.CHUNKED_REQUEST)
ENCAPSULATED_KEY_HEADER = "X-Encapsulated-Key"
CREDIT_AMOUNT_HEADER = "X-Credit-Amount"
NODE_ID_HEADER = "X-Node-ID"
HEALTH_PATHS = frozenset({"/_health", "/healthz"})
PING_HEADER = "X-Confsec-Ping"
#: The inner request must be addressed to this host (spec §5.1).
INNER_HOST = b"confsec.invalid"
INNER_PATHS = (b"/api/generate", b"/api/chat", b"/v1/completions", b"/v1/chat/completions")
MAX_HEADER_VALUE_BYTES = 1024  # the reference's bound on one header's values (it bounds the badge)
MAX_INNER_BODY = 1 << 20
MAX_ENCAPSULATED_KEY_TEXT = 512
NONCE_MIN, NONCE_MAX = 16, 64
INT64_MAX = (1 << 63) - 1
REQUEST_ID_BYTES = 32  # SHA-256 of the request's encapsulated key: what router and node both know
EVIDENCE_CACHE_ENTRIES = 4096
REPLAY_ENTRIES = 1 << 20


class RequestKey(Protocol):
    """Where the REK lives: unwraps a request's data key and produces evidence for a nonce."""

    software: bool

    @property
    def public_key(self) -> bytes: ...

    def unwrap(self, media_type: str, encapsulated_key: bytes) -> compute.NodeRequest: ...

    def evidence(self, nonce: bytes) -> bytes: ...

    def close(self) -> None: ...


class TpmRequestKey:
    """The REK in a TPM: ECDH runs as TPM2_ECDH_ZGen under a PolicyPCR session (``NodeIdentity``). The
    TPM client is one connection, so its commands run one at a time."""

    software = False

    def __init__(self, where: str) -> None:
        from openpcc.node_identity import NodeIdentity
        from openpcc.tpm import DeviceTransport, SwtpmProcess, TcpTransport, TpmClient

        self._swtpm = SwtpmProcess() if where == "swtpm" else None
        try:
            if self._swtpm is not None:
                transport: Any = self._swtpm.transport()
            elif where.startswith("tcp:"):
                host, _, port = where[4:].rpartition(":")
                transport = TcpTransport(host or "127.0.0.1", int(port))
            else:
                transport = DeviceTransport(where)
            self._client = TpmClient(transport)
            self.identity = NodeIdentity.provision(self._client)
        except BaseException:
            if self._swtpm is not None:
                self._swtpm.stop()
            raise
        self._lock = threading.Lock()

    @property
    def public_key(self) -> bytes:
        return self.identity.rek_public_key

    def _ecdh(self, enc: bytes) -> bytes:
        with self._lock:
            return self.identity.ecdh(enc)

    def unwrap(self, media_type: str, encapsulated_key: bytes) -> compute.NodeRequest:
        return compute.NodeRequest.unwrap_external(media_type, encapsulated_key, self.public_key, self._ecdh)

    def evidence(self, nonce: bytes) -> bytes:
        with self._lock:
            return bundle_from_identity(self.identity, nonce).encode()

    def close(self) -> None:
        with self._lock:
            try:
                self.identity.close()
                self._client.close()
            finally:
                if self._swtpm is not None:
                    self._swtpm.stop()


class SoftwareRequestKey:
    """DANGER: the REK in this process (``danger_software_request_key``). Its evidence is one declared
    ``OPENPCC_SOFTWARE_REQUEST_KEY`` piece, which a verifier refuses unless its policy allows it."""

    software = True

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        key = ec.generate_private_key(ec.SECP256R1())
        self._secret = key.private_numbers().private_value.to_bytes(32, "big")
        self._public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    @property
    def public_key(self) -> bytes:
        return self._public

    def unwrap(self, media_type: str, encapsulated_key: bytes) -> compute.NodeRequest:
        return compute.NodeRequest.unwrap(media_type, encapsulated_key, self._secret)

    def evidence(self, nonce: bytes) -> bytes:
        del nonce  # nothing here can vouch for a nonce: the declaration is all there is
        stamp = int(time.time()).to_bytes(8, "big")
        return EvidenceList.of(
            [
                EvidencePiece(EvidenceType.OPENPCC_SOFTWARE_REQUEST_KEY, self._public),
                EvidencePiece(EvidenceType.OPENPCC_COLLECTED_AT, stamp),
            ]
        ).encode()

    def close(self) -> None:
        self._secret = b""


def uuid7() -> str:
    """A fresh UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version, 74 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))


class TokenBucket:
    """``rate`` events per second, bursts of up to ``rate`` (at least 1)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class ReplayGuard:
    """Remembers the SHA-256 of each opened request's encapsulated key for ``window`` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: collections.OrderedDict[bytes, float] = collections.OrderedDict()

    def _expire(self, now: float) -> None:
        while self._seen:
            first, expiry = next(iter(self._seen.items()))
            if expiry > now and len(self._seen) <= REPLAY_ENTRIES:
                return
            del self._seen[first]

    def seen(self, key: bytes) -> bool:
        self._expire(time.monotonic())
        return hashlib.sha256(key).digest() in self._seen

    def remember(self, key: bytes) -> bool:
        """False when ``key`` was already remembered (a concurrent replay)."""
        digest = hashlib.sha256(key).digest()
        if digest in self._seen:
            return False
        self._seen[digest] = time.monotonic() + self.window
        return True


@dataclass(frozen=True)
class OuterRequest:
    media_type: str
    encapsulated_key: bytes
    credit_amount: int


class InnerRequestError(Exception):
    """The decrypted request fails the reference node's checks: answered inside the encrypted response with
    ``{"error": message, "code": code}`` (``code``: the reference's name for the check, e.g. ``ErrBadgeInvalid``)."""

    def __init__(self, status: int, message: str, code: str = "ErrGeneric") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(frozen=True)
class BadgeCheck:
    """How the node checks badges (spec §5.1, §8.9): the auth bank's public key and whether a request
    without a badge is refused."""

    key: Ed25519PublicKey
    required: bool = True

    def authorize(self, headers: list[tuple[bytes, bytes]]) -> Badge | None:
        """The request's verified badge (None when it has none and none is required); the badge's bytes are
        never logged nor put in an error."""
        values = [v for n, v in headers if n.lower() == BADGE_HEADER.lower().encode()]
        if len(values) > 1:
            raise InnerRequestError(400, "more than one badge", "ErrBadgeInvalid")
        if not values or not values[0]:
            if self.required:
                raise InnerRequestError(400, "badge is not provided", "ErrBadgeInvalid")
            return None
        try:
            badge = Badge.from_header(values[0])
            badge.verify(self.key)
        except BadgeError as exc:
            raise InnerRequestError(400, f"{exc} ({exc.check})", "ErrBadgeInvalid") from None
        return badge

    @classmethod
    def from_config(cls, cfg: RoleConfig) -> BadgeCheck | None:
        path = str(cfg["badge_public_key"])
        return cls(load_public_key(path), bool(cfg["require_badge"])) if path else None


class NodeService:
    """One compute node: its request key, its engine and its HTTP endpoints."""

    def __init__(
        self, cfg: RoleConfig, *, engine_factory: Callable[[RoleConfig], Engine] = from_config
    ) -> None:
        self.cfg = cfg
        self.http = _http.HTTPService(cfg)
        self.log = self.http.log
        self.node_id = str(cfg["node_id"]) or uuid7()
        self.key: RequestKey | None = None
        self.engine: Engine | None = None
        self._engine_factory = engine_factory
        self._setup_error: str | None = None
        self.badges = BadgeCheck.from_config(cfg)
        self._replays = ReplayGuard(float(cfg["replay_window"]))
        self._quotes = TokenBucket(float(cfg["evidence_quotes_per_second"]))
        self._evidence: collections.OrderedDict[bytes, tuple[float, bytes]] = collections.OrderedDict()
        self._evidence_lock = asyncio.Lock()
        self._agent_task: asyncio.Task[None] | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._event_index = 0
        #: Answers being streamed, by request id, each with the event that stops its generation.
        self._in_flight: dict[bytes, asyncio.Event] = {}
        registry = self.http.registry
        self._streams = Gauge("openpcc_node_engine_streams", "Engine answers being streamed", registry=registry)
        self._ended = Counter(
            "openpcc_node_engine_streams_ended", "Engine answers ended, by how", ["how"], registry=registry
        )
        self._quotes_total = Counter("openpcc_node_quotes", "Fresh TPM quotes taken", registry=registry)
        self._refused = Counter(
            "openpcc_node_inner_refused", "Decrypted requests refused, by the check that failed", ["code"],
            registry=registry,
        )
        self.http.add_route("POST", "/", self._compute, binary=True)
        self.http.add_route("POST", "/generate", self._compute, binary=True)
        self.http.add_route("GET", "/evidence", self._standing_evidence, binary=True)
        self.http.add_route("POST", "/evidence", self._nonce_evidence, binary=True)
        self.http.add_route("GET", "/info", self._info)
        self.http.add_route("POST", "/cancel", self._cancel, binary=True)
        self.http.add_readiness_check("request_key", self._key_ready)
        self.http.add_readiness_check("engine", self._engine_ready)
        self.http.on_startup(self._setup)
        self.http.on_cleanup(self._close)
        self.http.app.on_response_prepare.append(self._name_node_in_health)

    async def _name_node_in_health(self, request: web.Request, response: web.StreamResponse) -> None:
        """Health answers carry the node id, so a router can tell a restarted node (a new identity at the
        same URL) from the one it admitted and stop routing the old one."""
        if request.path in HEALTH_PATHS:
            response.headers[NODE_ID_HEADER] = self.node_id

    # --- lifecycle -------------------------------------------------------------------

    async def _setup(self) -> None:
        # Provisioning and model loading take seconds: serve /healthz (not ready, and why) meanwhile.
        self._load_task = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        try:
            self.key = await asyncio.to_thread(self._make_key)
            self.engine = await asyncio.to_thread(self._engine_factory, self.cfg)
            tpm = str(self.cfg["tpm"])
            where = "swtpm" if tpm == "swtpm" else "tcp" if tpm.startswith("tcp:") else "device"
            kind = "SOFTWARE (danger_software_request_key)" if self.key.software else f"a TPM ({where})"
            self.log.info("%s ready: node id %s, request key in %s", self.cfg.label, self.node_id, kind)
            if self.badges is None:
                self.log.warning("%s: badges are not checked (no badge_public_key)", self.cfg.label)
            if self.cfg["router_url"]:
                self._agent_task = asyncio.get_running_loop().create_task(self._agent())
        except Exception as exc:  # noqa: BLE001  (reported by /healthz; the node stays up to say why)
            self._setup_error = f"setup failed: {type(exc).__name__}"
            self.log.error("%s %s", self.cfg.label, self._setup_error)

    # --- registration (the reference's node agent, spec §9.1) -----------------------------

    @property
    def url(self) -> str:
        configured = str(self.cfg["advertise_url"])
        port = self.http.address[1] if self.http.address else self.cfg.port
        return configured or f"http://{self.cfg.host}:{port}/"

    def _node_event(self, index: int, payload: dict[str, Any]) -> bytes:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return compute.encode_message(
            "csprotos.NodeEvent", {"nodeId": self.node_id, "eventIndex": index, "timestamp": stamp, **payload}
        )

    async def _heartbeat_payload(self) -> dict[str, Any]:
        key, _engine = self._ready_parts()
        evidence = await asyncio.to_thread(key.evidence, b"")
        routing = {
            "url": self.url,
            "healthcheckUrl": self.url.rstrip("/") + "/_health",
            "tags": self.tags,
            "evidence": compute.decode_message("csprotos.SignedEvidenceList", evidence),
        }
        return {"heartbeat": {"routingInfo": routing}}

    async def _post_event(self, body: bytes) -> None:
        target = str(self.cfg["router_url"]).rstrip("/") + "/node-events"
        try:
            async with (
                _http.client_session(timeout=10) as session,
                session.post(target, data=body, headers={"Content-Type": _http.BINARY}) as resp,
            ):
                if resp.status != 200:
                    self.log.warning("%s: the router answered %d to a node event", self.cfg.label, resp.status)
        except Exception as exc:  # noqa: BLE001  (the router may be down: try again at the next beat)
            self.log.warning("%s: node event not delivered (%s)", self.cfg.label, type(exc).__name__)

    async def _agent(self) -> None:
        interval = float(self.cfg["heartbeat_interval"])
        while True:
            await self._post_event(self._node_event(self._event_index, await self._heartbeat_payload()))
            self._event_index += 1
            await asyncio.sleep(interval)

    async def _stop_agent(self) -> None:
        if self._agent_task is None:
            return
        self._agent_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._agent_task
        await self._post_event(self._node_event(self._event_index, {"shutdown": {}}))

    def _make_key(self) -> RequestKey:
        if self.cfg["danger_software_request_key"]:
            self.log.warning("%s: DANGER: the request-encryption key is held in software", self.cfg.label)
            return SoftwareRequestKey()
        return TpmRequestKey(str(self.cfg["tpm"]))

    async def _close(self) -> None:
        await self._stop_agent()
        if self.engine is not None:
            await self.engine.aclose()
        if self.key is not None:
            await asyncio.to_thread(self.key.close)

    async def _key_ready(self) -> str | None:
        if self.key is not None:
            return None
        return self._setup_error or "provisioning the request key"

    async def _engine_ready(self) -> str | None:
        if self.engine is None:
            return self._setup_error or "loading the engine"
        return await self.engine.check()

    def _ready_parts(self) -> tuple[RequestKey, Engine]:
        if self.key is None or self.engine is None:
            raise RequestRejectedError(Code.NOT_READY, "the request key or the engine is still loading")
        return self.key, self.engine

    @property
    def tags(self) -> list[str]:
        configured = [t.strip() for t in str(self.cfg["tags"]).split(",") if t.strip()]
        if configured:
            return configured
        models = self.engine.models if self.engine is not None else None
        return ["llm", *(f"model={m}" for m in models or ())]

    # --- evidence -----------------------------------------------------------------------

    async def _standing_evidence(self, request: web.Request) -> web.StreamResponse:
        """The evidence for manifests (spec §9.1 ``RoutingInfo.evidence``): quoted over an empty nonce,
        refreshed every ``evidence_cache_seconds``."""
        return await self._evidence_for(b"")

    async def _nonce_evidence(self, request: web.Request) -> web.StreamResponse:
        """Evidence quoted over the caller's nonce (the router's, or a client's): 16 to 64 raw bytes."""
        _http.require_binary(request)
        nonce = await _http.read_body(request)
        if not NONCE_MIN <= len(nonce) <= NONCE_MAX:
            raise RequestRejectedError(Code.INVALID_NONCE, f"the nonce must be {NONCE_MIN} to {NONCE_MAX} bytes")
        return await self._evidence_for(nonce)

    async def _evidence_for(self, nonce: bytes) -> web.StreamResponse:
        key, _engine = self._ready_parts()
        lifetime = float(self.cfg["evidence_cache_seconds"])
        async with self._evidence_lock:
            now = time.monotonic()
            cached = self._evidence.get(nonce)
            if cached is not None and cached[0] > now:
                body = cached[1]
            else:
                if not self._quotes.take():
                    raise RequestRejectedError(Code.RATE_LIMITED, "fresh quotes are rate-limited")
                body = await asyncio.to_thread(key.evidence, nonce)
                self._quotes_total.inc()
                self._evidence[nonce] = (now + lifetime, body)
                self._evidence.move_to_end(nonce)
                while len(self._evidence) > EVIDENCE_CACHE_ENTRIES:
                    self._evidence.popitem(last=False)
        response = _http.binary_response(body)
        response.headers[NODE_ID_HEADER] = self.node_id
        return response

    async def _info(self, _request: web.Request) -> web.StreamResponse:
        key, _engine = self._ready_parts()
        return web.json_response(
            {
                "node_id": self.node_id,
                "tags": self.tags,
                "compute_path": "/",
                "healthcheck_path": "/_health",
                "request_public_key": base64.b64encode(key.public_key).decode(),
                "software_request_key": key.software,
            }
        )

    # --- compute ------------------------------------------------------------------------

    async def _compute(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get(PING_HEADER) == "routercom":
            return web.Response(text="routercom")
        key, engine = self._ready_parts()
        outer = _outer_request(request)
        if self._replays.seen(outer.encapsulated_key):
            raise RequestRejectedError(Code.REPLAYED_REQUEST)
        body = await _http.read_body(request)
        node_request, inner = await self._open(key, outer, body)
        if not self._replays.remember(outer.encapsulated_key):
            raise RequestRejectedError(Code.REPLAYED_REQUEST)
        try:
            inner, padding = compute.take_padding_request(inner)
        except ComputeError:
            raise RequestRejectedError(Code.BAD_REQUEST, "invalid X-Openpcc-Padding value") from None
        request_id = hashlib.sha256(outer.encapsulated_key).digest()
        return await self._answer(request, engine, node_request, inner, padding, outer.credit_amount, request_id)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        """``POST /cancel`` from the router (same trust as ``POST /``): the body is the request id (the
        SHA-256 of the request's ``X-Encapsulated-Key``). The generation stops and the answer ends
        normally, its ``X-Refund-Amount`` counting only the tokens generated. Unknown id: 404."""
        _http.require_binary(request)
        if (request.content_length or 0) > REQUEST_ID_BYTES:
            raise RequestRejectedError(Code.BAD_REQUEST, f"the body must be a {REQUEST_ID_BYTES}-byte request id")
        request_id = await _http.read_body(request)
        if len(request_id) != REQUEST_ID_BYTES:
            raise RequestRejectedError(Code.BAD_REQUEST, f"the body must be a {REQUEST_ID_BYTES}-byte request id")
        stop = self._in_flight.get(request_id)
        if stop is None:
            raise RequestRejectedError(Code.UNKNOWN_REQUEST)
        stop.set()
        return _http.binary_response(b"")

    async def _open(
        self, key: RequestKey, outer: OuterRequest, body: bytes
    ) -> tuple[compute.NodeRequest, bhttp.Request]:
        def open_request() -> tuple[compute.NodeRequest, bhttp.Request]:
            node_request = key.unwrap(outer.media_type, outer.encapsulated_key)
            return node_request, compute.open_http_request(node_request, body)

        try:
            return await asyncio.to_thread(open_request)
        except (ComputeError, BHTTPError, TPMError) as exc:
            # The reference's answer for any decapsulation failure; the type only in the log.
            self.log.info("%s: request not opened (%s)", self.cfg.label, type(exc).__name__)
            raise RequestRejectedError(Code.DECAPSULATION_FAILED) from None

    async def _answer(
        self,
        request: web.Request,
        engine: Engine,
        node_request: compute.NodeRequest,
        inner: bhttp.Request,
        padding: str,
        credit: int,
        request_id: bytes,
    ) -> web.StreamResponse:
        try:
            path, payload = _validate_inner(inner, self.badges)
            answer = await engine.open(path, payload)
        except InnerRequestError as exc:
            self._refused.labels(exc.code).inc()
            body = {"error": exc.message, "code": exc.code}
            return await self._send_error(request, node_request, padding, exc.status, body, credit)
        except EngineError as exc:
            return await self._send_error(request, node_request, padding, exc.status, error_body(exc), credit)
        return await self._stream(request, node_request, padding, answer, credit, request_id)

    async def _send_error(
        self,
        request: web.Request,
        node_request: compute.NodeRequest,
        padding: str,
        status: int,
        body: dict[str, Any],
        credit: int,
    ) -> web.StreamResponse:
        """An inner error answer (encrypted, outer 200 as the reference), refunding the whole credit."""
        headers = [(b"content-type", b"application/json")]
        sealer = node_request.token_stream_sealer(status, headers, padding=padding, now_ns=time.monotonic_ns())
        response = self._outer_response()
        await response.prepare(request)
        await _write(response, [sealer.response_nonce, *sealer.start()])
        await _write(response, sealer.feed(json.dumps(body).encode(), time.monotonic_ns()))
        await _write(response, sealer.finish())
        await response.finish({compute.REFUND_AMOUNT_TRAILER: self._refund_value(credit)})
        return response

    def _outer_response(self) -> TrailerStreamResponse:
        return TrailerStreamResponse(
            [compute.REFUND_AMOUNT_TRAILER], headers={"Content-Type": compute.CHUNKED_RESPONSE}
        )

    def _refund_value(self, unused: int) -> str:
        if unused <= 0:
            return ""
        _rounded, value = compute.refund_amount_trailer(
            unused, significant_bits=int(self.cfg["refund_significant_bits"])
        )
        return value

    async def _stream(
        self,
        request: web.Request,
        node_request: compute.NodeRequest,
        padding: str,
        answer: EngineResponse,
        credit: int,
        request_id: bytes,
    ) -> web.StreamResponse:
        """Seals and sends the engine's bytes as they come; flushes padded frames at their deadline. A
        ``POST /cancel`` for ``request_id`` stops the generation: the answer then ends at once, normally."""
        headers = [(b"content-type", answer.content_type.encode())]
        sealer = node_request.token_stream_sealer(200, headers, padding=padding, now_ns=time.monotonic_ns())
        response = self._outer_response()
        stop = asyncio.Event()
        self._in_flight[request_id] = stop
        self._streams.inc()
        how = "completed"
        try:
            async with answer:
                await response.prepare(request)
                await _write(response, [sealer.response_nonce, *sealer.start()])
                await _pump(answer, sealer, response, stop)
                if stop.is_set():
                    how = "cancelled_by_router"
                    await answer.aclose()  # the generation stops here; its usage no longer changes
                await _write(response, sealer.finish())
                await response.finish({compute.REFUND_AMOUNT_TRAILER: self._refund_value(_unused(credit, answer))})
        except asyncio.CancelledError:
            how = "cancelled"
            raise
        except ConnectionResetError:
            how = "cancelled"  # the peer went away: the engine's answer is closed above, nothing more to send
        except EngineError as exc:
            # Headers are out: like the reference, cut the stream off. Without its final chunk the
            # client's opener reports a truncated answer, and without a trailer the router refunds nothing.
            how = "failed"
            self.log.warning("%s: engine failed mid-stream (%s)", self.cfg.label, type(exc).__name__)
            if request.transport is not None:
                request.transport.close()
        finally:
            if self._in_flight.get(request_id) is stop:
                del self._in_flight[request_id]
            self._streams.dec()
            self._ended.labels(how).inc()
        return response


async def _write(response: web.StreamResponse, chunks: list[bytes]) -> None:
    for chunk in chunks:
        await response.write(chunk)


_END = object()


async def _pump(
    answer: EngineResponse, sealer: compute.TokenStreamSealer, response: web.StreamResponse, stop: asyncio.Event
) -> None:
    """Until the answer ends or ``stop`` is set (then the piece being generated is dropped)."""
    pieces = answer.__aiter__()
    pending: asyncio.Future[Any] | None = None
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(pieces, _END))
            deadline = sealer.next_deadline_ns
            timeout = None if deadline is None else max(0.0, (deadline - time.monotonic_ns()) / 1e9)
            done, _ = await asyncio.wait({pending, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if stopped in done:
                return
            if not done:
                await _write(response, sealer.poll(time.monotonic_ns()))
                continue
            piece = pending.result()
            pending = None
            if piece is _END:
                return
            now = time.monotonic_ns()
            await _write(response, sealer.poll(now) + sealer.feed(piece, now))
    finally:
        stopped.cancel()
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.wait({pending})  # let the generator unwind before the answer is closed


def _unused(credit: int, answer: EngineResponse) -> int:
    """The reference's refund (spec §5.4): ``credit − (0.5 × prompt + 2 × output tokens)``, nothing when
    the engine could not count."""
    usage = answer.usage
    if usage is None:
        return 0
    used = math.ceil(0.5 * usage.prompt_tokens + 2 * usage.completion_tokens)
    return max(0, credit - used)


def _outer_request(request: web.Request) -> OuterRequest:
    """The router's headers, checked as the reference's node checks them (spec §5.4)."""
    media_type = request.headers.get("Content-Type", "")
    if media_type not in REQUEST_MEDIA_TYPES:
        raise RequestRejectedError(Code.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be a compute request media type")
    key_text = request.headers.get(ENCAPSULATED_KEY_HEADER, "")
    if not 1 <= len(key_text) <= MAX_ENCAPSULATED_KEY_TEXT:
        raise RequestRejectedError(Code.BAD_REQUEST, f"{ENCAPSULATED_KEY_HEADER} missing or too long")
    try:
        encapsulated_key = base64.b64decode(key_text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestRejectedError(Code.BAD_REQUEST, f"{ENCAPSULATED_KEY_HEADER} is not base64") from None
    amount_text = request.headers.get(CREDIT_AMOUNT_HEADER, "")
    if not amount_text.isascii() or not amount_text.isdigit() or not 0 < int(amount_text) <= INT64_MAX:
        raise RequestRejectedError(Code.BAD_REQUEST, f"{CREDIT_AMOUNT_HEADER} must be a positive decimal int64")
    return OuterRequest(media_type, encapsulated_key, int(amount_text))


def _validate_inner(inner: bhttp.Request, badges: BadgeCheck | None = None) -> tuple[str, Any]:
    """The checks of the reference's real node (spec §5.1, confidentcompute ``input_validators.go``), in its
    order: endpoint, headers, the badge (when ``badges`` is set), then the body and its model."""
    fields: dict[bytes, int] = {}
    host = inner.authority
    for name, value in inner.headers:
        lowered = name.lower()
        fields[lowered] = fields.get(lowered, 0) + len(value)
        if lowered == b"host":
            host = host or value
    if host.split(b":")[0].lower() != INNER_HOST:
        raise InnerRequestError(400, "the request must be addressed to confsec.invalid", "ErrUnknownHostname")
    if inner.method != b"POST" or inner.path not in INNER_PATHS:
        raise InnerRequestError(404, "only POST to a completion endpoint is served", "ErrUnsupportedPath")
    if b"transfer-encoding" in fields or b"content-encoding" in fields:
        raise InnerRequestError(400, "Transfer-Encoding and Content-Encoding are not accepted", "ErrHeaderNotAllowed")
    if any(size > MAX_HEADER_VALUE_BYTES for size in fields.values()):
        raise InnerRequestError(431, f"a header's values exceed {MAX_HEADER_VALUE_BYTES} bytes", "ErrHeaderTooLarge")
    content_type = next((v for n, v in inner.headers if n.lower() == b"content-type"), b"")
    if content_type.split(b";")[0].strip().lower() != b"application/json":
        raise InnerRequestError(415, "Content-Type must be application/json", "ErrContentTypeNotAllowed")
    badge = badges.authorize(list(inner.headers)) if badges is not None else None
    if len(inner.content) > MAX_INNER_BODY:
        raise InnerRequestError(413, f"the body exceeds {MAX_INNER_BODY} bytes", "ErrBodyTooLarge")
    try:
        payload = json.loads(inner.content)
    except (UnicodeDecodeError, ValueError):
        raise InnerRequestError(400, "the body is not JSON", "ErrInvalidJSON") from None
    if badge is not None:
        model = payload.get("model") if isinstance(payload, dict) else None
        if not isinstance(model, str) or not model:
            raise InnerRequestError(400, "missing required field: model", "ErrMissingRequiredField")
        if not badge.grants(model):
            raise InnerRequestError(400, "the badge does not grant this model", "ErrUnsupportedModel")
    return inner.path.decode(), payload


# --- running ---------------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    """``openpcc node --config FILE --name NAME``: serve until SIGTERM/SIGINT."""
    loaded = config_module.load(args.config)
    names = loaded.node_names()
    name = args.name or (names[0] if len(names) == 1 else None)
    if name is None:
        raise SettingValueError("--name is required unless the configuration has exactly one [node.<name>] table")
    cfg = loaded.role(ROLE, name)
    _http.configure_logging(str(cfg["log_level"]))
    service = NodeService(cfg)
    asyncio.run(_http.run_until_signalled(service.http))
    return 0


__all__ = ["NodeService", "SoftwareRequestKey", "TpmRequestKey", "main", "uuid7"]
