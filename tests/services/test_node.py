"""The compute node as its own process (stopped by PID) with its request key in a software TPM (swtpm, its
own process started here) and the echo engine: requests sealed by our client side, streamed and decrypted
answers, padding only when asked, the refund trailer, cancellation, bad input, evidence, and the software
key allowed only under the danger setting."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import shutil
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from openpcc import bhttp, compute
from openpcc.attestation import EvidenceList, EvidenceType, Policy, load_policy, verify_evidence
from openpcc.services._trailers import open_stream
from openpcc.services.errors import ERROR_CODE_HEADER
from support.prerequisites import missing
from support.servers import RoleProcess, free_port, role_process

ROOT = Path(__file__).resolve().parents[2]
CANARY = "CANARY" + secrets.token_hex(8)
CHAT = b"/v1/chat/completions"
FRAME_CHUNK = 2 + compute.DEFAULT_FRAME + 16  # one padded chunk on the wire
NONCE_LEN, FINAL_CHUNK = 16, 17
REFUND = compute.REFUND_AMOUNT_TRAILER.lower()


def need_swtpm() -> None:
    if shutil.which("swtpm"):
        return
    missing("swtpm is not installed (scripts/install-swtpm.sh installs it)")


def node_config(port: int, **extra: Any) -> str:
    lines = ["[node.a]", f"port = {port}", 'engine = "echo"', 'log_level = "debug"']
    for key, value in extra.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def swtpm_port() -> Iterator[int]:
    need_swtpm()
    from openpcc.tpm import SwtpmProcess

    with SwtpmProcess() as tpm:
        yield tpm.port


@pytest.fixture(scope="module")
def node(swtpm_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoleProcess]:
    port = free_port()
    text = node_config(
        port, tpm=f"tcp:127.0.0.1:{swtpm_port}", echo_token_delay=0.0, max_body_bytes=65536,
        evidence_quotes_per_second=3.0,
    )
    with role_process("node", text, tmp_path_factory.mktemp("node"), port, ("--name", "a")) as proc:
        yield proc


def info(node: RoleProcess) -> dict[str, Any]:
    with urllib.request.urlopen(node.url + "/info", timeout=10) as resp:
        out: dict[str, Any] = json.loads(resp.read())
    return out


def chat_request(text: str, *, stream: bool = True, host: bytes = b"confsec.invalid") -> bhttp.Request:
    body = {"model": "echo", "stream": stream, "messages": [{"role": "user", "content": text}]}
    return bhttp.Request(
        method=b"POST", scheme=b"https", authority=host, path=CHAT,
        headers=[(b"content-type", b"application/json")], content=json.dumps(body).encode(),
    )


def seal(node_info: dict[str, Any], request: bhttp.Request, *, padding: bool = True) -> compute.ComputeRequest:
    candidates = [(node_info["node_id"], base64.b64decode(node_info["request_public_key"]))]
    if padding:
        return compute.seal_http_request(request, candidates)
    return compute.seal_request(bhttp.encode(request, pad_to_multiple_of=514), candidates)


def outer_headers(sealed: compute.ComputeRequest, credit: int = 1000) -> list[tuple[str, str]]:
    enc = sealed.encapsulated_keys[0][1]
    return [
        ("Content-Type", sealed.media_type),
        ("X-Encapsulated-Key", base64.b64encode(enc).decode()),
        ("X-Credit-Amount", str(credit)),
    ]


class Answer:
    def __init__(self, status: int, headers: dict[str, str], wire: bytes, trailers: dict[str, str]) -> None:
        self.status, self.headers, self.wire, self.trailers = status, headers, wire, trailers


async def send(node: RoleProcess, headers: list[tuple[str, str]], body: bytes) -> Answer:
    async with open_stream("POST", node.url + "/", headers=headers, body=body, read_timeout=30) as resp:
        wire = await resp.read()
        trailers = {k.lower(): v for k, v in resp.trailers.items()}
        return Answer(resp.status, {k.lower(): v for k, v in resp.headers}, wire, trailers)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


def open_answer(sealed: compute.ComputeRequest, node_id: str, wire: bytes) -> tuple[int | None, bytes]:
    opener = sealed.token_stream_opener(node_id)
    body = opener.feed(wire)
    status = opener.status  # read before finish(), which consumes it
    rest, _trailers = opener.finish()
    return status, body + rest


def sse_text(body: bytes) -> str:
    text = ""
    for line in body.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:])["choices"]:
                text += choice.get("delta", {}).get("content") or ""
    return text


def test_streamed_answer_is_the_echo_with_a_rounded_refund(node: RoleProcess) -> None:
    me = info(node)
    assert me["software_request_key"] is False
    assert uuid.UUID(me["node_id"]).version == 7 and uuid.UUID(me["node_id"]).variant == uuid.RFC_4122
    prompt = f"alpha beta {CANARY} gamma"
    sealed = seal(me, chat_request(prompt))
    answer = run(send(node, outer_headers(sealed, credit=1000), sealed.body))
    assert answer.status == 200
    assert answer.headers["content-type"] == compute.CHUNKED_RESPONSE
    assert answer.headers["trailer"] == compute.REFUND_AMOUNT_TRAILER
    status, body = open_answer(sealed, me["node_id"], answer.wire)
    assert status == 200
    assert sse_text(body) == prompt
    # echo: 4 prompt tokens and 4 answer tokens; used = ceil(0.5*4 + 2*4) = 10 of the credit of 1000
    refund = compute.parse_refund_amount_trailer(answer.trailers[REFUND])
    assert refund == compute.refund_amount_trailer(990)[0]
    assert 990 * 15 / 16 <= refund <= 990


def test_padding_only_when_asked(node: RoleProcess) -> None:
    me = info(node)
    prompt = "one two three four five six seven"
    padded = seal(me, chat_request(prompt), padding=True)
    plain = seal(me, chat_request(prompt), padding=False)
    wire_padded = run(send(node, outer_headers(padded), padded.body)).wire
    wire_plain = run(send(node, outer_headers(plain), plain.body)).wire
    assert (len(wire_padded) - NONCE_LEN - FINAL_CHUNK) % FRAME_CHUNK == 0
    assert (len(wire_plain) - NONCE_LEN - FINAL_CHUNK) % FRAME_CHUNK != 0
    for sealed, wire in ((padded, wire_padded), (plain, wire_plain)):
        status, body = open_answer(sealed, me["node_id"], wire)
        assert status == 200 and sse_text(body) == prompt
    # the padding field never reaches the engine: the answer without it is the same text
    assert b"x-openpcc-padding" not in open_answer(padded, me["node_id"], wire_padded)[1].lower()


def test_non_streamed_answer(node: RoleProcess) -> None:
    me = info(node)
    sealed = seal(me, chat_request("just once", stream=False))
    answer = run(send(node, outer_headers(sealed), sealed.body))
    status, body = open_answer(sealed, me["node_id"], answer.wire)
    assert status == 200
    assert json.loads(body)["choices"][0]["message"]["content"] == "just once"


def test_invalid_inner_request_is_answered_encrypted_with_the_whole_credit_back(node: RoleProcess) -> None:
    me = info(node)
    sealed = seal(me, chat_request("hello", host=b"example.com"))
    answer = run(send(node, outer_headers(sealed, credit=64), sealed.body))
    assert answer.status == 200
    status, body = open_answer(sealed, me["node_id"], answer.wire)
    assert status == 400 and b"confsec.invalid" in body
    assert compute.parse_refund_amount_trailer(answer.trailers[REFUND]) == 64


def inner(**change: Any) -> bhttp.Request:
    return chat_request("hello").replace(**change)


INNER_CASES = {
    "not POST": (inner(method=b"GET"), 404),
    "not a completion path": (inner(path=b"/admin"), 404),
    "text body": (inner(headers=[(b"content-type", b"text/plain")]), 415),
    "no content type": (inner(headers=[]), 415),
    "content encoding": (inner(headers=[(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]), 400),
    "header over 1024 bytes": (inner(headers=[(b"content-type", b"application/json"), (b"x-big", b"a" * 1025)]), 431),
    "not JSON": (inner(content=b"{not json"), 400),
    "model not served": (inner(content=json.dumps({"model": "other", "messages": []}).encode()), 404),
}


@pytest.mark.parametrize("case", sorted(INNER_CASES))
def test_inner_request_checks(node: RoleProcess, case: str) -> None:
    request, expected = INNER_CASES[case]
    me = info(node)
    sealed = seal(me, request)
    answer = run(send(node, outer_headers(sealed, credit=100), sealed.body))
    assert answer.status == 200
    status, body = open_answer(sealed, me["node_id"], answer.wire)
    assert status == expected, body
    assert "error" in json.loads(body)
    assert compute.parse_refund_amount_trailer(answer.trailers[REFUND]) == 100


def metric(node: RoleProcess, name: str) -> float:
    with urllib.request.urlopen(node.url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_client_disconnect_stops_the_engine(tmp_path: Path) -> None:
    need_swtpm()
    port = free_port()
    # its own TPM (the node's default `tpm = "swtpm"`: a child swtpm; a software TPM holds only 3 objects)
    text = node_config(port, echo_token_delay=0.05)
    with role_process("node", text, tmp_path, port, ("--name", "a")) as slow:
        me = info(slow)
        # tokens 50 ms apart: padded frames go out at their 20 ms deadline, between tokens
        short = seal(me, chat_request("a b c d"), padding=True)
        wire = run(send(slow, outer_headers(short), short.body)).wire
        assert (len(wire) - NONCE_LEN - FINAL_CHUNK) % FRAME_CHUNK == 0
        assert sse_text(open_answer(short, me["node_id"], wire)[1]) == "a b c d"
        sealed = seal(me, chat_request(" ".join(["word"] * 400)), padding=False)

        async def read_a_little() -> tuple[bytes, float]:
            opener = sealed.token_stream_opener(me["node_id"])
            seen = b""
            async with open_stream("POST", slow.url + "/", headers=outer_headers(sealed), body=sealed.body) as r:
                async for chunk in r.iter_body():
                    seen += opener.feed(chunk)
                    if b"word" in seen:
                        # the first tokens are here while the engine is still generating: no buffering
                        return seen, await asyncio.to_thread(metric, slow, "openpcc_node_engine_streams")
            return seen, -1.0

        first, streams_while_reading = run(read_a_little())
        assert b'"content":"word"' in first.replace(b" ", b"")
        assert streams_while_reading == 1
        cancelled = 'openpcc_node_engine_streams_ended_total{how="cancelled"}'
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and metric(slow, cancelled) < 1:
            time.sleep(0.05)
        assert metric(slow, cancelled) == 1
        assert metric(slow, "openpcc_node_engine_streams") == 0
        # 400 tokens at 50 ms would take 20 s; the node is free again at once
        assert info(slow)["node_id"] == me["node_id"]
        assert " ERROR " not in slow.output()


def test_bad_input_gets_a_clear_4xx_and_the_node_keeps_serving(node: RoleProcess) -> None:
    me = info(node)
    sealed = seal(me, chat_request(f"secret {CANARY}"))
    good = outer_headers(sealed)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    other_key = other.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    to_other = compute.seal_http_request(chat_request(CANARY), [(me["node_id"], other_key)])
    swapped = [(k, v) for k, v in good if k != "Content-Type"]
    cases: dict[str, tuple[list[tuple[str, str]], bytes, int, str]] = {
        "malformed": (good, secrets.token_bytes(300), 400, "220"),
        "truncated": (good, sealed.body[:-20], 400, "220"),
        "oversized": (good, b"\0" * 70000, 413, "201"),
        "wrong media type": ([*swapped, ("Content-Type", "application/json")], sealed.body, 415, "202"),
        "sealed to another key": (outer_headers(to_other), to_other.body, 400, "220"),
        "no credit amount": ([(k, v) for k, v in good if k != "X-Credit-Amount"], sealed.body, 400, "200"),
        "zero credit amount": ([*good[:2], ("X-Credit-Amount", "0")], sealed.body, 400, "200"),
        "encapsulated key not base64": ([good[0], ("X-Encapsulated-Key", "%%%"), good[2]], sealed.body, 400, "200"),
    }
    for name, (headers, body, status, code) in cases.items():
        answer = run(send(node, headers, body))
        assert (answer.status, answer.headers.get(ERROR_CODE_HEADER.lower())) == (status, code), name
    first = run(send(node, good, sealed.body))
    assert first.status == 200
    replayed = run(send(node, good, sealed.body))
    assert (replayed.status, replayed.headers.get(ERROR_CODE_HEADER.lower())) == (409, "221")
    assert b"request already received" in replayed.wire
    # still serving
    again = seal(me, chat_request("still here"))
    status, body = open_answer(again, me["node_id"], run(send(node, outer_headers(again), again.body)).wire)
    assert status == 200 and sse_text(body) == "still here"


def test_evidence_over_a_nonce_verifies_cached_and_rate_limited(node: RoleProcess) -> None:
    me = info(node)
    policy = load_policy((ROOT / "policies" / "dev.toml").read_text())

    def evidence(nonce: bytes) -> tuple[int, bytes]:
        req = urllib.request.Request(
            node.url + "/evidence", data=nonce, method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                assert resp.headers["X-Node-ID"] == me["node_id"]
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    with urllib.request.urlopen(node.url + "/evidence", timeout=20) as resp:
        standing = EvidenceList.decode(resp.read())
    assert standing.first(EvidenceType.TPM_QUOTE) is not None
    assert standing.first(EvidenceType.OPENPCC_SOFTWARE_REQUEST_KEY) is None
    time.sleep(1)  # the bucket refills (3 quotes per second)
    nonce = secrets.token_bytes(32)
    status, bundle = evidence(nonce)
    assert status == 200
    verdict = verify_evidence(bundle, policy, nonce=nonce)
    assert verdict.valid, [c for c in verdict.checks if not c.ok]
    assert verify_evidence(bundle, policy, nonce=secrets.token_bytes(32)).valid is False
    quotes = metric(node, "openpcc_node_quotes_total")
    assert evidence(nonce) == (200, bundle)  # cached: no new quote
    assert metric(node, "openpcc_node_quotes_total") == quotes
    statuses = [evidence(secrets.token_bytes(32))[0] for _ in range(8)]
    assert 429 in statuses and statuses[0] == 200
    assert evidence(b"short")[0] == 400


def test_healthz_and_no_secret_in_the_log(node: RoleProcess) -> None:
    with urllib.request.urlopen(node.url + "/healthz", timeout=10) as resp:
        assert json.loads(resp.read())["ready"] is True
    log = node.output()
    assert CANARY not in log
    assert "127.0.0.1:" not in log.replace(f"127.0.0.1:{node.url.rsplit(':', 1)[1]}", "")
    assert "secret" not in log and "alpha" not in log
    assert " ERROR " not in log
    assert "X-Encapsulated-Key" not in log and "x-encapsulated-key" not in log


def test_software_key_only_with_the_danger_setting(tmp_path: Path) -> None:
    port = free_port()
    text = node_config(port, danger_software_request_key=True)
    with role_process("node", text, tmp_path, port, ("--name", "a")) as soft:
        me = info(soft)
        assert me["software_request_key"] is True
        with urllib.request.urlopen(soft.url + "/evidence", timeout=10) as resp:
            bundle = resp.read()
        sealed = seal(me, chat_request("soft"))
        status, body = open_answer(sealed, me["node_id"], run(send(soft, outer_headers(sealed), sealed.body)).wire)
        assert status == 200 and sse_text(body) == "soft"
        assert "DANGER" in soft.output()
    pieces = EvidenceList.decode(bundle)
    declared = pieces.first(EvidenceType.OPENPCC_SOFTWARE_REQUEST_KEY)
    assert declared is not None and declared.data == base64.b64decode(me["request_public_key"])

    def check(policy: Policy) -> bool:
        verdict = verify_evidence(bundle, policy, nonce=secrets.token_bytes(32))
        found = [c for c in verdict.checks if c.name == "node.software_request_key"]
        assert len(found) == 1
        assert verdict.valid is False  # no TPM evidence at all either
        return bool(found[0].ok)

    assert check(Policy()) is False  # the production defaults (policies/production.toml is a template)
    assert check(Policy.dev()) is False
    dev_text = (ROOT / "policies" / "dev.toml").read_text()
    assert check(load_policy(dev_text.replace("name = \"dev\"", "name = \"dev\"\ndanger_allow_software_request_key = true"))) is True


def test_chunked_request_media_type(node: RoleProcess) -> None:
    me = info(node)
    candidates = [(me["node_id"], base64.b64decode(me["request_public_key"]))]
    sealed = compute.seal_http_request(chat_request("in chunks"), candidates, chunked=True)
    assert sealed.media_type == compute.CHUNKED_REQUEST
    status, body = open_answer(sealed, me["node_id"], run(send(node, outer_headers(sealed), sealed.body)).wire)
    assert status == 200 and sse_text(body) == "in chunks"


def test_embedded_model_answers_through_the_node(tmp_path: Path) -> None:
    from openpcc.services.engines.llama import DEFAULT_MODEL, missing_prerequisite

    absent = missing_prerequisite()
    if absent is not None:
        missing(f"embedded model not installed: looked for {absent}; run `make model`")
    need_swtpm()
    port = free_port()
    text = node_config(port, max_tokens=16).replace('engine = "echo"', 'engine = "llama"')
    with role_process("node", text, tmp_path, port, ("--name", "a")) as llama:
        me = info(llama)
        assert f"model={DEFAULT_MODEL}" in me["tags"]
        body = {"model": DEFAULT_MODEL, "stream": True, "temperature": 0, "max_tokens": 16,
                "messages": [{"role": "user", "content": f"Say hello. {CANARY}"}]}
        request = chat_request("").replace(content=json.dumps(body).encode())
        sealed = seal(me, request)
        answer = run(send(llama, outer_headers(sealed, credit=4096), sealed.body))
        status, plain = open_answer(sealed, me["node_id"], answer.wire)
        assert status == 200
        assert sse_text(plain).strip()
        refund = compute.parse_refund_amount_trailer(answer.trailers[REFUND])
        assert 0 < refund < 4096  # the model's tokens were counted
        assert CANARY not in llama.output()


def test_software_key_check_is_refused_with_require_tee() -> None:
    from openpcc.services.node import SoftwareRequestKey

    bundle = SoftwareRequestKey().evidence(b"")
    allowed_but_tee = Policy(danger_allow_software_request_key=True)  # production defaults: require_tee
    verdict = verify_evidence(bundle, allowed_but_tee, nonce=secrets.token_bytes(32))
    (found,) = [c for c in verdict.checks if c.name == "node.software_request_key"]
    assert found.ok is False and verdict.valid is False
    assert verdict.claims["software_request_key"] is True


def test_registers_with_a_router_by_node_events(tmp_path: Path) -> None:
    import http.server
    import threading

    events: list[bytes] = []

    class Router(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert self.path == "/node-events"
            assert self.headers["Content-Type"] == "application/octet-stream"
            events.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    router = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Router)
    thread = threading.Thread(target=router.serve_forever, daemon=True)
    thread.start()
    try:
        need_swtpm()
        port = free_port()
        text = node_config(port, router_url=f"http://127.0.0.1:{router.server_address[1]}", heartbeat_interval=0.2)
        with role_process("node", text, tmp_path, port, ("--name", "a")) as registered:
            me = info(registered)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(events) < 2:
                time.sleep(0.05)
        first = compute.decode_message("csprotos.NodeEvent", events[0])
        assert first["nodeId"] == me["node_id"] and int(first.get("eventIndex", 0)) == 0
        routing = first["heartbeat"]["routingInfo"]
        assert routing["url"] == f"http://127.0.0.1:{port}/"
        assert routing["healthcheckUrl"] == f"http://127.0.0.1:{port}/_health"
        assert routing["tags"] == ["llm", "model=echo"]
        evidence = EvidenceList.decode(compute.encode_message("csprotos.SignedEvidenceList", routing["evidence"]))
        assert evidence.first(EvidenceType.TPM_QUOTE) is not None
        assert evidence.first(EvidenceType.OPENPCC_COLLECTED_AT) is not None
        last = compute.decode_message("csprotos.NodeEvent", events[-1])
        assert "shutdown" in last and int(last["eventIndex"]) == len(events) - 1
    finally:
        router.shutdown()
        router.server_close()
        thread.join(timeout=10)


def test_concurrent_requests_each_get_their_own_answer(node: RoleProcess) -> None:
    me = info(node)
    prompts = [f"user {i} says {secrets.token_hex(4)}" for i in range(8)]
    sealed = [seal(me, chat_request(p)) for p in prompts]

    async def all_at_once() -> list[Answer]:
        return list(await asyncio.gather(*(send(node, outer_headers(s), s.body) for s in sealed)))

    answers = run(all_at_once())
    for prompt, request, answer in zip(prompts, sealed, answers, strict=True):
        status, body = open_answer(request, me["node_id"], answer.wire)
        assert status == 200 and sse_text(body) == prompt
