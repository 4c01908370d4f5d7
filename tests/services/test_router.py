"""The router as its own process, with real compute nodes as their own processes (each its request key in
its own swtpm, the echo engine), a node whose key is in software (refused by the router's policy) and a
dishonest node (tests/support/rogue_node.py) that relays a genuine node's evidence: admission by evidence
over the router's nonce, manifests with router- and client-fresh evidence, the compute proxy (uniform pick,
streaming, refunds capped, failures), health grading, restarts on SQLite and PostgreSQL, and bad input."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpcc import bhttp, compute, config
from openpcc.attestation import EvidenceList, EvidenceType, load_policy, verify_evidence
from openpcc.credits import ATTESTATION_VALUE, Credit, Issuer, Value
from openpcc.services._trailers import open_stream
from openpcc.services.errors import ERROR_CODE_HEADER
from openpcc.services.node import uuid7
from openpcc.services.store import open_nonce_store, open_router_store
from support.currency_key import TEST_CURRENCY_KEY_PEM, load_test_currency_key
from support.prerequisites import missing
from support.servers import RoleProcess, free_port, role_process

ROOT = Path(__file__).resolve().parents[2]
DEV_POLICY = ROOT / "policies" / "dev.toml"
ROGUE = Path(__file__).resolve().parents[1] / "support" / "rogue_node.py"
ISSUER = Issuer(load_test_currency_key())
CANARY = "CANARY" + secrets.token_hex(8)
CHAT = b"/v1/chat/completions"
ERROR_CODE = ERROR_CODE_HEADER.lower()
WAIT_S = 60


def need_swtpm() -> None:
    import shutil

    if not shutil.which("swtpm"):
        missing("swtpm is not installed (scripts/install-swtpm.sh installs it)")


def credit(amount: int = 1024) -> Credit:
    return ISSUER.issue_unblinded(Value.exact(amount))


def attestation_credit() -> Credit:
    return ISSUER.issue_unblinded(ATTESTATION_VALUE)


def key_file(directory: Path) -> Path:
    path = directory / "keys" / "currency-key.pem"
    if not path.exists():
        config.write_key_file(path, TEST_CURRENCY_KEY_PEM.read_bytes())
    return path


def toml_lines(table: str, values: dict[str, Any]) -> str:
    return "\n".join([f"[{table}]", *(f"{k} = {json.dumps(v)}" for k, v in values.items())]) + "\n"


def router_config(port: int, workdir: Path, **extra: Any) -> str:
    values: dict[str, Any] = {
        "port": port, "currency_key_file": str(key_file(workdir)), "policy": str(DEV_POLICY),
        "health_interval_secs": 0.2, "health_timeout_secs": 1.0, "health_retries": 1,
        "admission_retry_secs": 0.5, "request_timeout": 3.0, "log_level": "debug",
    }
    values.update(extra)
    return toml_lines("router", values)


def node_config(port: int, router_url: str, **extra: Any) -> str:
    values: dict[str, Any] = {
        "port": port, "engine": "echo", "router_url": router_url, "heartbeat_interval": 1.0,
        "log_level": "debug", "evidence_quotes_per_second": 20.0,
    }
    values.update(extra)
    return toml_lines("node.a", values)


def start_router(workdir: Path, port: int | None = None, **extra: Any) -> Any:
    port = port or free_port()
    return role_process("router", router_config(port, workdir, **extra), workdir, port)


def start_node(workdir: Path, router: RoleProcess, **extra: Any) -> Any:
    port = free_port()
    return role_process("node", node_config(port, router.url, **extra), workdir, port, ("--name", "a"))


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        out: dict[str, Any] = json.loads(resp.read())
    return out


def metrics(proc: RoleProcess) -> str:
    with urllib.request.urlopen(proc.url + "/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def metric(proc: RoleProcess, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", metrics(proc), re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=90))


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    trailers: dict[str, str]

    @property
    def code(self) -> str | None:
        return self.headers.get(ERROR_CODE)


async def post(
    url: str, headers: list[tuple[str, str]], body: bytes | Any, *, on_chunk: Callable[[bytes], Any] | None = None
) -> Answer:
    async with open_stream("POST", url, headers=headers, body=body, read_timeout=60) as resp:
        pieces = []
        async for chunk in resp.iter_body():
            pieces.append(chunk)
            if on_chunk is not None:
                await on_chunk(chunk)
        return Answer(
            resp.status, {k.lower(): v for k, v in resp.headers}, b"".join(pieces),
            {k.lower(): v for k, v in resp.trailers.items()},
        )


def binary(extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    return [("Content-Type", "application/octet-stream"), *(extra or [])]


def ask_manifests(
    router: RoleProcess, tags: list[str], limit: int = 10, *, nonce: bytes | None = None, paid: Credit | None = None
) -> Answer:
    query: dict[str, Any] = {"tags": tags, "limit": limit}
    if nonce is not None:
        query["clientNonce"] = base64.b64encode(nonce).decode()
    body = compute.encode_message("csprotos.ComputeManifestRequest", query)
    paid = paid or attestation_credit()
    return run(post(router.url + "/compute-manifests", binary([("X-Credit", paid.to_text())]), body))  # type: ignore[no-any-return]


def manifest_items(answer: Answer) -> list[dict[str, Any]]:
    assert answer.status == 200, (answer.status, answer.body)
    items: list[dict[str, Any]] = compute.decode_message("csprotos.ComputeManifestList", answer.body).get("items", [])
    return items


def chat_request(text: str) -> bhttp.Request:
    body = {"model": "echo", "stream": True, "messages": [{"role": "user", "content": text}]}
    return bhttp.Request(
        method=b"POST", scheme=b"https", authority=b"confsec.invalid", path=CHAT,
        headers=[(b"content-type", b"application/json")], content=json.dumps(body).encode(),
    )


def node_info(node: RoleProcess) -> dict[str, Any]:
    return get_json(node.url + "/info")


def seal(infos: list[dict[str, Any]], text: str) -> compute.ComputeRequest:
    candidates = [(i["node_id"], base64.b64decode(i["request_public_key"])) for i in infos]
    return compute.seal_http_request(chat_request(text), candidates)


def compute_headers(sealed: compute.ComputeRequest, paid: Credit) -> list[tuple[str, str]]:
    info = compute.encode_compute_request_info(sealed.encapsulated_keys)
    return [
        ("Content-Type", sealed.media_type),
        ("X-Routing-Info", base64.b64encode(info).decode()),
        ("X-Credit", paid.to_text()),
    ]


def routing_for(node_ids: list[str]) -> str:
    info = compute.encode_compute_request_info([(i, secrets.token_bytes(113)) for i in node_ids])
    return base64.b64encode(info).decode()


def sse_text(body: bytes) -> str:
    text = ""
    for line in body.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:])["choices"]:
                text += choice.get("delta", {}).get("content") or ""
    return text


def open_answer(sealed: compute.ComputeRequest, node_id: str, wire: bytes) -> tuple[int | None, bytes]:
    opener = sealed.token_stream_opener(node_id)
    body = opener.feed(wire)
    status = opener.status
    rest, _trailers = opener.finish()
    return status, body + rest


def node_requests(node_metrics: str) -> float:
    found = re.findall(r'^openpcc_node_requests_total\{[^}]*route="/"[^}]*\} ([0-9.e+]+)$', node_metrics, re.MULTILINE)
    return sum(float(v) for v in found)


# --- the shared stack: a router, two genuine nodes, a software-key node ------------------------------------------


@dataclass
class Stack:
    router: RoleProcess
    nodes: list[RoleProcess]
    soft: RoleProcess
    workdir: Path

    def infos(self) -> list[dict[str, Any]]:
        return [node_info(n) for n in self.nodes]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    need_swtpm()
    workdir = tmp_path_factory.mktemp("router")
    with (
        start_router(workdir / "router") as router, start_node(workdir / "a", router) as a,
        start_node(workdir / "b", router) as b,
        start_node(workdir / "soft", router, danger_software_request_key=True) as soft,
    ):
        wait_for(lambda: metric(router, "openpcc_router_routable_nodes") == 2, "two routable nodes")
        yield Stack(router, [a, b], soft, workdir)


def test_genuine_nodes_are_admitted_and_the_software_key_node_never(stack: Stack) -> None:
    router = stack.router
    assert metric(router, "openpcc_router_admitted_nodes") == 2
    wait_for(lambda: metric(router, 'openpcc_router_admissions_total{kind="admission",result="refused"}') >= 2,
             "the software-key node refused more than once")
    soft_id = node_info(stack.soft)["node_id"]
    items = manifest_items(ask_manifests(router, ["llm"]))
    ids = {item["id"] for item in items}
    assert ids == {i["node_id"] for i in stack.infos()}
    assert soft_id not in ids
    # The router-verified evidence names the router's nonce it was quoted over: a client verifies it in full
    # under its own policy (the quote signs that nonce and the collection time bound with it).
    policy = load_policy(DEV_POLICY.read_text())
    for item in items:
        bundle = compute.encode_message("csprotos.SignedEvidenceList", item["evidence"])
        piece = EvidenceList.decode(bundle).first(EvidenceType.OPENPCC_ROUTER_NONCE)
        assert piece is not None and len(piece.data) == 32
        verdict = verify_evidence(bundle, policy, nonce=piece.data)
        assert verdict.valid, [c for c in verdict.checks if not c.ok]
        assert not verify_evidence(bundle, policy, nonce=secrets.token_bytes(32)).valid
        assert item["tags"] == ["llm", "model=echo"]
    # naming the refused node as the only candidate: no candidate; it never gets a request
    paid = credit()
    answer = run(post(router.url + "/", [
        ("Content-Type", compute.REQUEST), ("X-Routing-Info", routing_for([soft_id])), ("X-Credit", paid.to_text()),
    ], b"x" * 100))
    assert (answer.status, answer.code) == (404, "233")
    assert b"all candidate nodes unavailable" in answer.body
    assert node_requests(metrics(stack.soft)) == 0
    assert "not admitted" in router.output() and "node.software_request_key" in router.output()
    # the credit was never locked: it still pays
    sealed = seal(stack.infos(), "after a refusal")
    assert run(post(router.url + "/", compute_headers(sealed, paid), sealed.body)).status == 200


def test_manifests_with_a_client_nonce_carry_evidence_fresh_to_the_client(stack: Stack) -> None:
    nonce = secrets.token_bytes(32)
    items = manifest_items(ask_manifests(stack.router, ["model=echo"], limit=1, nonce=nonce))
    assert len(items) == 1
    bundle = compute.encode_message("csprotos.SignedEvidenceList", items[0]["evidence"])
    assert EvidenceList.decode(bundle).first(EvidenceType.OPENPCC_ROUTER_NONCE) is None
    policy = load_policy(DEV_POLICY.read_text())
    assert verify_evidence(bundle, policy, nonce=nonce).valid
    assert not verify_evidence(bundle, policy, nonce=secrets.token_bytes(32)).valid
    assert manifest_items(ask_manifests(stack.router, ["llm", "model=other"])) == []
    assert manifest_items(ask_manifests(stack.router, ["llm"], limit=0)) == []


def test_manifests_spend_an_attestation_credit_once(stack: Stack) -> None:
    paid = attestation_credit()
    assert ask_manifests(stack.router, ["llm"], paid=paid).status == 200
    replay = ask_manifests(stack.router, ["llm"], paid=paid)
    assert (replay.status, replay.code) == (410, "402")
    money = ask_manifests(stack.router, ["llm"], paid=credit(64))
    assert (money.status, money.code) == (400, "406")


def test_compute_streams_through_with_a_refund_minted_by_the_router(stack: Stack) -> None:
    infos = stack.infos()
    prompt = f"hello through the router {CANARY}"
    sealed = seal(infos, prompt)
    paid = credit(1024)
    answer = run(post(stack.router.url + "/", compute_headers(sealed, paid), sealed.body))
    assert answer.status == 200
    node_id = answer.headers["x-node-id"]
    assert node_id in {i["node_id"] for i in infos}
    assert answer.headers["content-type"] == compute.CHUNKED_RESPONSE
    assert compute.REFUND_AMOUNT_TRAILER.lower() not in answer.trailers
    status, body = open_answer(sealed, node_id, answer.body)
    assert status == 200 and sse_text(body) == prompt
    refund = Credit.from_text(answer.trailers["x-refund"])
    refund.check(ISSUER.public_key)  # minted by the router with the currency key
    assert 0 < refund.value.amount <= 1024
    assert "x-openpcc-error" not in answer.trailers
    replay = run(post(stack.router.url + "/", compute_headers(seal(infos, "again"), paid), sealed.body))
    assert (replay.status, replay.code) == (410, "402")


def test_the_pick_is_uniform_among_healthy_candidates(stack: Stack) -> None:
    infos = stack.infos()
    chosen: dict[str, int] = {i["node_id"]: 0 for i in infos}

    async def many() -> None:
        for n in range(40):
            sealed = seal(infos, f"pick {n}")
            answer = await post(stack.router.url + "/", compute_headers(sealed, credit(64)), sealed.body)
            assert answer.status == 200
            chosen[answer.headers["x-node-id"]] += 1

    run(many())
    # 40 fair coin flips: each side at least 8 fails with probability about 2e-5
    assert min(chosen.values()) >= 8, chosen


def test_a_node_refusing_the_request_releases_the_credit(stack: Stack) -> None:
    infos = stack.infos()
    sealed = seal(infos, "good")
    paid = credit(256)
    garbage = secrets.token_bytes(len(sealed.body))
    refused = run(post(stack.router.url + "/", compute_headers(sealed, paid), garbage))
    assert (refused.status, refused.code) == (400, "220")  # the node's own answer, passed on
    assert refused.headers["x-node-id"] in {i["node_id"] for i in infos}
    answer = run(post(stack.router.url + "/", compute_headers(sealed, paid), sealed.body))
    assert answer.status == 200  # the same credit pays: it was released


def test_a_failing_node_stops_being_chosen(stack: Stack) -> None:
    infos = stack.infos()
    stopped = stack.nodes[1]
    os.kill(stopped.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: metric(stack.router, "openpcc_router_routable_nodes") == 1, "the stopped node graded down")
        chosen = set()
        for n in range(6):
            sealed = seal(infos, f"only one {n}")
            answer = run(post(stack.router.url + "/", compute_headers(sealed, credit(64)), sealed.body))
            assert answer.status == 200
            chosen.add(answer.headers["x-node-id"])
        assert chosen == {infos[0]["node_id"]}
        only_stopped = seal([infos[1]], "to the stopped one")
        answer = run(post(stack.router.url + "/", compute_headers(only_stopped, credit(64)), only_stopped.body))
        assert (answer.status, answer.code) == (404, "233")
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
    wait_for(lambda: metric(stack.router, "openpcc_router_routable_nodes") == 2, "the node back after healthy checks")


# --- the dishonest node: refunds capped, streaming, a node dying mid-stream ----------------------------------------


@contextmanager
def start_rogue(workdir: Path, genuine: str, router: str, other: str) -> Iterator[tuple[str, str]]:
    """tests/support/rogue_node.py as its own process, stopped by its PID: ``(url, node id)``."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPCC_")}
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "rogue.log", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROGUE), str(port), genuine, router, other],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url + "/stats"), "the rogue node up")
        yield url, get_json(url + "/stats")["node_id"]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def rogue(stack: Stack) -> Iterator[tuple[str, str]]:
    with start_rogue(stack.workdir, stack.nodes[0].url, stack.router.url, stack.nodes[1].url) as found:
        wait_for(lambda: metric(stack.router, "openpcc_router_routable_nodes") == 3, "the rogue node admitted")
        yield found


def _answers(url: str) -> bool:
    try:
        get_json(url)
        return True
    except (urllib.error.URLError, OSError):
        return False


def to_rogue(node_id: str, paid: Credit) -> list[tuple[str, str]]:
    return [("Content-Type", compute.REQUEST), ("X-Routing-Info", routing_for([node_id])), ("X-Credit", paid.to_text())]


def test_a_node_whose_fresh_evidence_names_another_key_is_left_out(stack: Stack, rogue: tuple[str, str]) -> None:
    _url, node_id = rogue
    listed = manifest_items(ask_manifests(stack.router, ["model=rogue"]))
    assert [i["id"] for i in listed] == [node_id]  # the evidence the router verified (relayed from node a)
    # for a client's nonce it relays node b's evidence: valid, but not the key the router admitted
    assert manifest_items(ask_manifests(stack.router, ["model=rogue"], nonce=secrets.token_bytes(48))) == []
    assert "answered a client nonce with another request key" in stack.router.output()


def test_a_refund_above_the_credit_is_capped(stack: Stack, rogue: tuple[str, str]) -> None:
    _url, node_id = rogue
    before = metric(stack.router, 'openpcc_router_refunds_total{how="capped"}')
    answer = run(post(stack.router.url + "/", to_rogue(node_id, credit(64)), b"cap"))
    assert answer.status == 200 and answer.headers["x-node-id"] == node_id
    refund = Credit.from_text(answer.trailers["x-refund"])
    refund.check(ISSUER.public_key)
    assert refund.value == Value.exact(64)  # the node claimed MAX_AMOUNT (about 33 billion)
    assert metric(stack.router, 'openpcc_router_refunds_total{how="capped"}') == before + 1


def test_the_first_chunk_arrives_before_the_node_finishes(stack: Stack, rogue: tuple[str, str]) -> None:
    url, node_id = rogue
    seen: list[bytes] = []

    async def on_chunk(chunk: bytes) -> None:
        seen.append(chunk)
        if len(seen) == 1:
            assert chunk == b"first chunk;"
            # the node holds its answer open until told: the router forwarded the first chunk without waiting
            assert metric(stack.router, "openpcc_router_active_streams") >= 1
            await asyncio.to_thread(urllib.request.urlopen, urllib.request.Request(url + "/release", method="POST"), None, 10)

    answer = run(post(stack.router.url + "/", to_rogue(node_id, credit(64)), b"hold", on_chunk=on_chunk))
    assert answer.body == b"first chunk;second chunk;"
    assert Credit.from_text(answer.trailers["x-refund"]).value == Value.exact(16)


def test_a_node_dying_mid_stream_ends_with_an_error_trailer_and_keeps_the_credit(
    stack: Stack, rogue: tuple[str, str]
) -> None:
    _url, node_id = rogue
    paid = credit(128)
    answer = run(post(stack.router.url + "/", to_rogue(node_id, paid), b"die"))
    assert answer.status == 200
    assert answer.body == b"first chunk;"
    assert answer.trailers.get("x-openpcc-error", "").startswith("234")
    assert "x-refund" not in answer.trailers
    # the credit was released, not spent: it pays for the next request
    sealed = seal(stack.infos(), "paid with a credit a dead node did not burn")
    assert run(post(stack.router.url + "/", compute_headers(sealed, paid), sealed.body)).status == 200
    # the break-off counted as a failed health check; the node is routed again after enough good ones
    wait_for(lambda: metric(stack.router, "openpcc_router_routable_nodes") == 3, "the rogue node graded ok again")


def test_a_client_going_away_mid_stream_spends_the_credit(stack: Stack, rogue: tuple[str, str]) -> None:
    url, node_id = rogue
    paid = credit(64)
    gone = 'openpcc_router_streams_ended_total{how="client_gone"}'
    before = metric(stack.router, gone)

    async def read_one_chunk_and_leave() -> bytes:
        async with open_stream("POST", stack.router.url + "/", headers=to_rogue(node_id, paid), body=b"hold") as resp:
            async for chunk in resp.iter_body():
                return chunk
        return b""

    assert run(read_one_chunk_and_leave()) == b"first chunk;"
    urllib.request.urlopen(urllib.request.Request(url + "/release", method="POST"), None, 10).close()
    wait_for(lambda: metric(stack.router, gone) == before + 1, "the router noticed the client left")
    replay = run(post(stack.router.url + "/", to_rogue(node_id, paid), b"cap"))
    assert (replay.status, replay.code) == (410, "402")
    assert " ERROR " not in stack.router.output()


# --- bad input -----------------------------------------------------------------------------------------------


def raw_exchange(port: int, head: bytes, body_part: bytes, wait: float) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body_part)
        time.sleep(wait)
        sock.settimeout(30)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and (b"0\r\n\r\n" in data or b"Content-Length" in data):
                break
        return data


def stored_nodes(stack: Stack) -> set[tuple[str, str, tuple[str, ...], bool]]:
    """What the router's SQLite store holds about its nodes (read beside the running router)."""
    store = open_router_store(f"sqlite:{stack.workdir / 'router' / 'home' / 'router' / 'router.sqlite3'}")
    try:
        return {(r.node_id, r.url, r.tags, r.attested) for r in store.nodes()}
    finally:
        store.close()


def test_bad_input_gets_a_clear_4xx_nothing_changes_and_the_router_keeps_serving(stack: Stack) -> None:
    router = stack.router
    infos = stack.infos()
    before = {item["id"]: item["tags"] for item in manifest_items(ask_manifests(router, ["llm"]))}
    stored_before = stored_nodes(stack)
    event = compute.decode_message("csprotos.NodeEvent", compute.encode_message("csprotos.NodeEvent", {
        "nodeId": uuid7(), "eventIndex": 0,
        "heartbeat": {"routingInfo": {"url": "http://127.0.0.1:9/", "healthcheckUrl": "http://127.0.0.1:9/_health", "tags": ["llm"]}},
    }))

    def event_with(**change: Any) -> bytes:
        message = json.loads(json.dumps(event))
        routing = message["heartbeat"]["routingInfo"]
        for key, value in change.items():
            if key in routing:
                routing[key] = value
            else:
                message[key] = value
        return compute.encode_message("csprotos.NodeEvent", message)

    spent = credit(64)
    sealed = seal(infos, "spent once")
    assert run(post(router.url + "/", compute_headers(sealed, spent), sealed.body)).status == 200
    good_routing = compute_headers(seal(infos, "x"), credit())[1]
    forged = Credit(Value.exact(64), credit(64).nonce, secrets.token_bytes(256))
    cases: dict[str, tuple[str, list[tuple[str, str]], bytes, int, str]] = {
        "event: garbage": ("/node-events", binary(), secrets.token_bytes(64), 400, "231"),
        "event: text": ("/node-events", [("Content-Type", "text/plain")], event_with(), 415, "202"),
        "event: not uuid7": ("/node-events", binary(), event_with(nodeId=str(__import__("uuid").uuid4())), 400, "231"),
        "event: no tags": ("/node-events", binary(), event_with(tags=[]), 400, "231"),
        "event: relative url": ("/node-events", binary(), event_with(url="/relative"), 400, "231"),
        "event: outside node_networks": ("/node-events", binary(), event_with(url="http://192.0.2.1/"), 403, "232"),
        "event: health check outside node_networks": (
            "/node-events", binary(), event_with(nodeId=uuid7(), healthcheckUrl="http://192.0.2.1/_health"), 403, "232",
        ),
        "event: nobody there": ("/node-events", binary(), event_with(nodeId=(absent := uuid7())), 403, "232"),
        "event: retried too soon": ("/node-events", binary(), event_with(nodeId=absent), 429, "320"),
        "event: oversized": ("/node-events", binary(), b"\0" * (3 << 20), 413, "201"),
        "manifests: no credit": ("/compute-manifests", binary(), b"", 400, "407"),
        "manifests: credit garbage": ("/compute-manifests", binary([("X-Credit", "%%%")]), b"", 400, "407"),
        "manifests: body garbage": ("/compute-manifests", binary([("X-Credit", attestation_credit().to_text())]), b"\xff\xff\xff", 400, "206"),
        "manifests: limit": ("/compute-manifests", binary([("X-Credit", attestation_credit().to_text())]),
                             compute.encode_message("csprotos.ComputeManifestRequest", {"limit": 501}), 400, "206"),
        "manifests: short nonce": ("/compute-manifests", binary([("X-Credit", attestation_credit().to_text())]),
                                   compute.encode_message("csprotos.ComputeManifestRequest", {"limit": 1, "clientNonce": base64.b64encode(b"short").decode()}), 400, "400"),
        "compute: no routing": ("/", [("Content-Type", compute.REQUEST), ("X-Credit", credit().to_text())], b"x", 400, "230"),
        "compute: routing garbage": ("/", [("Content-Type", compute.REQUEST), ("X-Routing-Info", "AAAA%%"), ("X-Credit", credit().to_text())], b"x", 400, "230"),
        "compute: routing not uuid7": ("/", [("Content-Type", compute.REQUEST), ("X-Routing-Info", routing_for([str(__import__("uuid").uuid4())])), ("X-Credit", credit().to_text())], b"x", 400, "230"),
        "compute: no credit": ("/", [("Content-Type", compute.REQUEST), good_routing], b"x", 400, "407"),
        "compute: forged credit": ("/", [("Content-Type", compute.REQUEST), good_routing, ("X-Credit", forged.to_text())], b"x", 400, "404"),
        "compute: attestation credit": ("/", [("Content-Type", compute.REQUEST), good_routing, ("X-Credit", attestation_credit().to_text())], b"x", 400, "406"),
        "compute: replayed credit": ("/", [("Content-Type", compute.REQUEST), good_routing, ("X-Credit", spent.to_text())], b"x", 410, "402"),
        "compute: media type": ("/", [("Content-Type", "application/json"), good_routing, ("X-Credit", credit().to_text())], b"x", 415, "202"),
        "compute: unknown node": ("/", [("Content-Type", compute.REQUEST), ("X-Routing-Info", routing_for([uuid7()])), ("X-Credit", credit().to_text())], b"x", 404, "233"),
        "compute: oversized": ("/", [("Content-Type", compute.REQUEST), good_routing, ("X-Credit", credit().to_text())], b"\0" * (3 << 20), 413, "201"),
    }
    for name, (path, headers, body, status, code) in cases.items():
        answer = run(post(router.url + path, headers, body))
        assert (answer.status, answer.code) == (status, code), (name, answer.status, answer.code, answer.body[:200])
        assert answer.body, name  # a reason, always
    # a slow body: the router gives up after request_timeout (3 s) with 408; the credit's lock is released
    port = int(router.url.rsplit(":", 1)[1])
    slow_credit = credit(64)
    routing = good_routing[1]
    head = (
        f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {compute.REQUEST}\r\nX-Routing-Info: {routing}\r\n"
        f"X-Credit: {slow_credit.to_text()}\r\nContent-Length: 5000\r\n\r\n"
    ).encode()
    raw = raw_exchange(port, head, b"\0" * 100, 4.0)
    assert raw.startswith(b"HTTP/1.1 408"), raw[:100]
    slow_event = b"POST /node-events HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 900\r\n\r\n"
    assert raw_exchange(port, slow_event, b"\x0a", 4.0).startswith(b"HTTP/1.1 408")
    # nothing stored changed, the router keeps serving, and the slow request's credit still pays
    after = {item["id"]: item["tags"] for item in manifest_items(ask_manifests(router, ["llm"]))}
    assert stored_nodes(stack) == stored_before
    assert set(after) >= set(before) and all(after[k] == v for k, v in before.items())
    sealed = seal(infos, "still serving")
    answer = run(post(router.url + "/", compute_headers(sealed, slow_credit), sealed.body))
    assert answer.status == 200
    assert sse_text(open_answer(sealed, answer.headers["x-node-id"], answer.body)[1]) == "still serving"


def test_metrics_and_no_secret_in_the_log(stack: Stack) -> None:
    text = metrics(stack.router)
    for name in (
        "openpcc_router_requests_total", "openpcc_router_request_duration_seconds_bucket",
        "openpcc_router_active_streams", "openpcc_router_admitted_nodes",
        "openpcc_router_bytes_received_total", "openpcc_router_bytes_sent_total",
    ):
        assert name in text, name
    assert metric(stack.router, "openpcc_router_bytes_received_total") > 0
    assert metric(stack.router, "openpcc_router_bytes_sent_total") > 0
    log = stack.router.output()
    assert CANARY not in log
    assert "X-Credit" not in log and "x-credit" not in log
    assert " ERROR " not in log
    for node in stack.nodes:
        assert node.url not in log  # node URLs are not logged either, only their ids
    assert CANARY not in stack.nodes[0].output() and CANARY not in stack.nodes[1].output()


# --- restarts --------------------------------------------------------------------------------------------------


def test_a_restarted_router_keeps_its_nodes_and_its_spent_credits(database: str, tmp_path: Path) -> None:
    need_swtpm()
    port = free_port()
    spent = credit(64)
    attest_spent = attestation_credit()
    # heartbeats an hour apart: after its first one, the node says nothing the restarted router could use
    with (
        start_router(tmp_path / "router", port, database=database) as router,
        start_node(tmp_path / "node", router, heartbeat_interval=3600.0) as node,
    ):
        wait_for(lambda: metric(router, "openpcc_router_routable_nodes") == 1, "the node admitted")
        info = node_info(node)
        sealed = seal([info], "before the restart")
        assert run(post(router.url + "/", compute_headers(sealed, spent), sealed.body)).status == 200
        assert ask_manifests(router, ["llm"], paid=attest_spent).status == 200
        router.kill()  # no goodbye: SIGKILL
        with start_router(tmp_path / "router", port, database=database) as again:
            assert "1 admitted node(s) loaded from the store" in again.output()
            wait_for(lambda: metric(again, "openpcc_router_routable_nodes") == 1, "the node routable again")
            assert [i["id"] for i in manifest_items(ask_manifests(again, ["llm"]))] == [info["node_id"]]
            sealed = seal([info], "after the restart")
            answer = run(post(again.url + "/", compute_headers(sealed, credit(64)), sealed.body))
            assert answer.status == 200 and answer.headers["x-node-id"] == info["node_id"]
            replay = run(post(again.url + "/", compute_headers(seal([info], "replay"), spent), b"x"))
            assert (replay.status, replay.code) == (410, "402")
            replay = ask_manifests(again, ["llm"], paid=attest_spent)
            assert (replay.status, replay.code) == (410, "402")


def test_reattestation_keeps_a_good_node_and_drops_one_that_goes_away(tmp_path: Path) -> None:
    need_swtpm()
    from openpcc.tpm import SwtpmProcess

    # the node's TPM is a separate process here, so the node can be killed without orphaning it
    with (
        SwtpmProcess() as tpm,
        start_router(tmp_path / "router", reattest_secs=1.0) as router,
        start_node(tmp_path / "node", router, heartbeat_interval=3600.0, tpm=f"tcp:127.0.0.1:{tpm.port}") as node,
    ):
        wait_for(lambda: metric(router, "openpcc_router_routable_nodes") == 1, "the node admitted")
        wait_for(
            lambda: metric(router, 'openpcc_router_admissions_total{kind="reattestation",result="admitted"}') >= 2,
            "two re-attestations",
        )
        assert metric(router, "openpcc_router_routable_nodes") == 1
        node.kill()
        wait_for(lambda: metric(router, "openpcc_router_admitted_nodes") == 0, "the node dropped")
        assert metric(router, 'openpcc_router_admissions_total{kind="reattestation",result="unreachable"}') >= 1


def test_two_replicas_share_nodes_and_spent_credits_through_one_database(database: str, tmp_path: Path) -> None:
    need_swtpm()
    spent = credit(64)
    with (
        start_router(tmp_path / "one", database=database) as one,
        start_router(tmp_path / "two", database=database) as two,
        start_node(tmp_path / "node", one, heartbeat_interval=3600.0) as node,  # it only ever talks to `one`
    ):
        wait_for(lambda: metric(one, "openpcc_router_routable_nodes") == 1, "the node admitted by the first replica")
        wait_for(lambda: metric(two, "openpcc_router_routable_nodes") == 1, "the second replica taking it in")
        info = node_info(node)
        sealed = seal([info], "through the second replica")
        answer = run(post(two.url + "/", compute_headers(sealed, spent), sealed.body))
        assert answer.status == 200 and answer.headers["x-node-id"] == info["node_id"]
        replay = run(post(one.url + "/", compute_headers(seal([info], "replay"), spent), b"x"))
        assert (replay.status, replay.code) == (410, "402")


def test_credits_spent_through_the_nonce_locking_service(tmp_path: Path) -> None:
    need_swtpm()
    from openpcc.services.spending import lock_nonce_of

    lock_port = free_port()
    lock_db = f"sqlite:{tmp_path / 'noncelock.sqlite3'}"
    with (
        role_process("noncelock", toml_lines("noncelock", {"port": lock_port, "database": lock_db}), tmp_path / "lock", lock_port) as lock,
        start_router(tmp_path / "router", noncelock_url=lock.url) as router,
        start_node(tmp_path / "node", router) as node,
    ):
        wait_for(lambda: metric(router, "openpcc_router_routable_nodes") == 1, "the node admitted")
        paid, token = credit(64), attestation_credit()
        assert ask_manifests(router, ["llm"], paid=token).status == 200
        sealed = seal([node_info(node)], "paid through the credithole")
        assert run(post(router.url + "/", compute_headers(sealed, paid), sealed.body)).status == 200
        store = open_nonce_store(lock_db)
        try:
            for spent in (paid, token):
                assert store.state(lock_nonce_of(spent).key, time.time()) == "consumed"
        finally:
            store.close()
        replay = run(post(router.url + "/", compute_headers(seal([node_info(node)], "again"), paid), b"x"))
        assert (replay.status, replay.code) == (410, "402")


def test_an_unreachable_pick_fails_over_before_the_body_is_sent(tmp_path: Path) -> None:
    need_swtpm()
    from openpcc.tpm import SwtpmProcess

    # grading that never drops a node, health checked only at admission: the router keeps believing in a
    # node that is gone, so its compute requests meet a refused connection
    lenient = {
        "health_interval_secs": 3600.0, "health_min_checks": 1, "health_min_success_rate": 0.0,
        "health_max_failure_streak": 1000,
    }
    with (
        SwtpmProcess() as tpm,
        start_router(tmp_path / "router", **lenient) as router,
        start_node(tmp_path / "a", router) as a,
        start_node(tmp_path / "b", router, tpm=f"tcp:127.0.0.1:{tpm.port}") as b,
    ):
        wait_for(lambda: metric(router, "openpcc_router_routable_nodes") == 2, "both nodes routable")
        infos = [node_info(a), node_info(b)]
        b.kill()
        only_b = seal([infos[1]], "to the dead one")
        paid = credit(64)
        answer = run(post(router.url + "/", compute_headers(only_b, paid), only_b.body))
        assert (answer.status, answer.code) == (502, "234")
        unreachable = 'openpcc_router_streams_ended_total{how="node_unreachable"}'
        assert metric(router, unreachable) == 1

        async def twenty() -> set[str]:
            chosen = set()
            for n in range(20):
                sealed = seal(infos, f"failover {n}")
                # the first uses the credit the dead node did not spend
                spend = paid if n == 0 else credit(64)
                got = await post(router.url + "/", compute_headers(sealed, spend), sealed.body)
                assert got.status == 200
                chosen.add(got.headers["x-node-id"])
            return chosen

        assert run(twenty()) == {infos[0]["node_id"]}
        # the dead node was picked first about half the time (all 20 on `a` first: probability 2^-20)
        assert metric(router, unreachable) >= 2


def test_a_credit_whose_lock_ran_out_during_the_answer_ends_with_an_error_trailer(tmp_path: Path) -> None:
    need_swtpm()
    lock_port = free_port()
    lock_text = toml_lines("noncelock", {"port": lock_port, "lock_duration": 1.0})
    with (
        role_process("noncelock", lock_text, tmp_path / "lock", lock_port) as lock,
        start_router(tmp_path / "router", noncelock_url=lock.url) as router,
        start_node(tmp_path / "node", router) as node,
        start_rogue(tmp_path / "rogue", node.url, router.url, node.url) as (url, node_id),
    ):
        wait_for(lambda: metric(router, "openpcc_router_routable_nodes") == 2, "the node and the rogue node admitted")

        async def held_past_the_lock(chunk: bytes) -> None:
            await asyncio.sleep(2.0)  # the nonce lock (1 s) runs out while the answer is open
            await asyncio.to_thread(urllib.request.urlopen, urllib.request.Request(url + "/release", method="POST"), None, 10)

        answer = run(post(router.url + "/", to_rogue(node_id, credit(64)), b"hold", on_chunk=_first_only(held_past_the_lock)))
        assert answer.status == 200 and answer.body == b"first chunk;second chunk;"
        assert "x-refund" not in answer.trailers
        assert answer.trailers["x-openpcc-error"].endswith("the credit could not be settled")
        assert metric(router, 'openpcc_router_streams_ended_total{how="settle_failed"}') == 1
        assert " ERROR " not in router.output()


def _first_only(action: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    seen = []

    async def once(chunk: bytes) -> None:
        seen.append(chunk)
        if len(seen) == 1:
            await action(chunk)

    return once
