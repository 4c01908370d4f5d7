"""Bad input at the relay and the gateway: a clear 4xx, no crash, nothing leaked, other users
unaffected (slowloris connections held open while real requests pass)."""

from __future__ import annotations

import json
import socket
import time

import pytest
from openpcc import bhttp, ohttp
from support import edge

from .conftest import Stack

BANK = "confsec-bank.invalid"


def config(stack: Stack, kem: int = 0x0020) -> ohttp.KeyConfig:
    _, _, raw = edge.get(stack.gateway.url, "/.well-known/ohttp-gateway")
    return next(c for c in ohttp.decode_key_configs(raw) if c.kem == kem)


def raw_post(url: str, content_type: str, body: bytes, chunked: bool = False) -> tuple[int, bytes]:
    import http.client

    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        if chunked:
            conn.request("POST", "/", body=iter([body]), headers={"Content-Type": content_type}, encode_chunked=True)
        else:
            conn.request("POST", "/", body=body, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def sealed(stack: Stack, kem: int = 0x0020, body: bytes = b"x") -> bytes:
    encoded = bhttp.encode(bhttp.normalize_request(edge.inner_request(BANK, "/deposit", body)), pad_to_multiple_of=532)
    data, _ = ohttp.encapsulate_request(config(stack, kem), encoded)
    return data


def still_serves(stack: Stack) -> None:
    reply = edge.send_plain(stack.relay.url, config(stack), edge.inner_request(BANK, "/balance", b"ok"))
    assert reply.status == 200 and reply.response is not None and json.loads(reply.response.content)["len"] == 2


@pytest.mark.parametrize("hop", ["relay", "gateway"])
def test_wrong_media_type_is_415(stack: Stack, hop: str) -> None:
    url = stack.relay.url if hop == "relay" else stack.gateway.url
    status, body = raw_post(url, "application/json", sealed(stack))
    assert status == 415 and b"content type" in body
    still_serves(stack)


@pytest.mark.parametrize("chunked", [False, True])
def test_garbage_truncated_and_unknown_key(stack: Stack, chunked: bool) -> None:
    media = "message/ohttp-chunked-req" if chunked else "message/ohttp-req"
    good = sealed(stack)
    cases = {
        "empty": b"",
        "garbage": b"\x02" + bytes(range(200)),
        "unknown key id": bytes([77]) + good[1:],
        "truncated": good[: len(good) // 2],
        "bit flip": good[:-1] + bytes([good[-1] ^ 1]),
        "wrong suite": good[:1] + b"\x00\x10" + good[3:],
    }
    for name, body in cases.items():
        status, reply = raw_post(stack.relay.url, media, body, chunked=chunked)
        assert status == 400, (name, status, reply)
        problem = json.loads(reply)
        assert problem["title"], name
        if name in ("unknown key id", "wrong suite"):
            assert problem["type"].endswith("#ohttp-key"), name
        assert good.hex()[:40] not in reply.decode(), name  # nothing of the request echoed back
    still_serves(stack)


def test_chunked_stream_cut_before_final_chunk(stack: Stack) -> None:
    encoded = bhttp.encode(bhttp.normalize_request(edge.inner_request(BANK, "/deposit", b"y" * 3000), indeterminate=True),
                           indeterminate=True)
    sealer = ohttp.ChunkedRequestSealer(config(stack), fixed_chunk_len=ohttp.REFERENCE_CHUNK_LEN)
    pieces = sealer.feed(encoded) + sealer.finish()
    status, body = raw_post(stack.relay.url, "message/ohttp-chunked-req", b"".join(pieces[:-1]), chunked=True)
    # the upstream saw the head and part of the body; the cut shows as an invalid stream, not a request
    assert status == 400 and json.loads(body)["detail"] in ("stream truncated", "invalid request stream")
    still_serves(stack)


@pytest.mark.parametrize("hop", ["relay", "gateway"])
def test_oversized_body_is_413(stack: Stack, hop: str) -> None:
    url = stack.relay.url if hop == "relay" else stack.gateway.url
    status, _ = raw_post(url, "message/ohttp-req", b"\x01" * (300 * 1024))
    assert status == 413
    status, _ = raw_post(url, "message/ohttp-req", b"\x01" * (300 * 1024), chunked=True)
    assert status == 413
    still_serves(stack)


def test_other_paths_and_methods(stack: Stack) -> None:
    assert edge.get(stack.gateway.url, "/admin")[0] == 404
    assert edge.get(stack.gateway.url, "/")[0] == 405
    assert edge.get(stack.relay.url, "/")[0] == 405


def test_slowloris_connections_do_not_block_others(stack: Stack) -> None:
    held = []
    try:
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", stack.relay.port), timeout=5)
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: message/ohttp-req\r\n")  # never finished
            held.append(s)
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", stack.gateway.port), timeout=5)
            s.sendall(b"POST / HTTP/1.1\r\nContent-Type: message/ohttp-req\r\nContent-Length: 100\r\n\r\n\x01")
            held.append(s)
        started = time.monotonic()
        for _ in range(5):
            still_serves(stack)
        assert time.monotonic() - started < 10
    finally:
        for s in held:
            s.close()
    still_serves(stack)


def test_header_timeout_closes_slow_connection(tmp_path) -> None:  # type: ignore[no-untyped-def]
    toml = edge.write_config(tmp_path / "r.toml", "relay", port=0, gateway_url="http://127.0.0.1:9/",
                             header_timeout_secs=0.5)
    with edge.role("relay", toml) as relay:
        s = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
        try:
            s.sendall(b"POST / HTTP/1.1\r\n")
            started = time.monotonic()
            data = s.recv(4096)  # closed (possibly after a 408) once the header timeout passes
            assert time.monotonic() - started < 4
            assert data == b"" or data.startswith(b"HTTP/1.1 408")
        finally:
            s.close()
        status, _, _ = edge.get(relay.url, "/healthz")
        assert status == 200


def test_per_source_rate_limit(tmp_path, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    toml = edge.write_config(tmp_path / "r.toml", "relay", port=0, gateway_url=stack.gateway.url + "/",
                             rate_per_second=0.5, burst=3.0)
    with edge.role("relay", toml) as relay:
        statuses = [edge.send_plain(relay.url, config(stack), edge.inner_request(BANK, "/balance")).status for _ in range(6)]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses[3:]


def test_relay_upstream_down_is_502(tmp_path, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    toml = edge.write_config(tmp_path / "r.toml", "relay", port=0, gateway_url=f"http://127.0.0.1:{dead_port}/")
    with edge.role("relay", toml) as relay:
        status, body = raw_post(relay.url, "message/ohttp-req", sealed(stack))
    assert status == 502 and b"127.0.0.1" not in body


def metric(url: str, name: str) -> float:
    _, _, text = edge.get(url, "/metrics")
    return float(next(line.split()[1] for line in text.decode().splitlines() if line.startswith(name + " ")))


def upstream_requests(stack: Stack) -> int:
    seen = stack.state / "seen.jsonl"
    return len(seen.read_text().splitlines()) if seen.exists() else 0


@pytest.mark.parametrize("chunked", [False, True])
def test_replayed_request_is_refused(stack: Stack, chunked: bool) -> None:
    if chunked:
        media = "message/ohttp-chunked-req"
        inner = bhttp.normalize_request(edge.inner_request(BANK, "/deposit", b"once"), indeterminate=True)
        sealer = ohttp.ChunkedRequestSealer(config(stack), fixed_chunk_len=ohttp.REFERENCE_CHUNK_LEN)
        body = b"".join(sealer.feed(bhttp.encode(inner, indeterminate=True)) + sealer.finish())
    else:
        media, body = "message/ohttp-req", sealed(stack, body=b"once")
    forwarded, refused = upstream_requests(stack), metric(stack.gateway.url, "openpcc_gateway_replays_total")
    assert raw_post(stack.relay.url, media, body, chunked=chunked)[0] == 200
    for url in (stack.relay.url, stack.gateway.url):  # the same bytes again, through the relay or not
        status, reply = raw_post(url, media, body, chunked=chunked)
        assert status == 400, (url, status, reply)
        assert json.loads(reply)["detail"] == "replayed request"
        assert body.hex()[:40] not in reply.decode()
    assert upstream_requests(stack) == forwarded + 1  # the replays never reached the upstream
    assert metric(stack.gateway.url, "openpcc_gateway_replays_total") == refused + 2
    still_serves(stack)  # other users, with their own requests, are unaffected


def test_byte_counters_count_bodies_both_ways(stack: Stack) -> None:
    names = {role: (f"openpcc_{role}_bytes_received_total", f"openpcc_{role}_bytes_sent_total")
             for role in ("relay", "gateway")}
    urls = {"relay": stack.relay.url, "gateway": stack.gateway.url}
    before = {role: [metric(urls[role], n) for n in pair] for role, pair in names.items()}
    body = sealed(stack, body=b"z" * 2000)
    host, port = stack.relay.url.removeprefix("http://").split(":")
    import http.client

    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/", body=body, headers={"Content-Type": "message/ohttp-req"})
    answer = conn.getresponse().read()
    conn.close()
    for role in ("relay", "gateway"):
        received, sent = (metric(urls[role], n) for n in names[role])
        # /metrics answers are bodies sent too: at least the request and the answer, counted each way
        assert received - before[role][0] == len(body), role
        assert sent - before[role][1] >= len(answer), role
        assert sent - before[role][1] < len(answer) + 64 * 1024, role
