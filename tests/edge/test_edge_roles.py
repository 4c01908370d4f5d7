"""Our client through the relay and the gateway to a loopback upstream: plain and chunked OHTTP,
both KEMs, the allow-list, the ping shortcut, streaming, header stripping, health and metrics."""

from __future__ import annotations

import http.client
import json
import time

import pytest
from openpcc import bhttp, ohttp
from support import edge

from .conftest import Stack, gateway_config

BANK = "confsec-bank.invalid"
ROUTER = "confsec-router.invalid"


def config_for(stack: Stack, kem: int) -> ohttp.KeyConfig:
    _, _, raw = edge.get(stack.gateway.url, "/.well-known/ohttp-gateway")
    return next(c for c in ohttp.decode_key_configs(raw) if c.kem == kem)


def header(response: bhttp.Response, name: bytes) -> bytes | None:
    return next((v for k, v in response.headers if k.lower() == name), None)


@pytest.mark.parametrize("kem", [0x0030, 0x0020])
@pytest.mark.parametrize("hop", ["relay", "gateway"])
def test_plain_bank_request_round_trips(stack: Stack, kem: int, hop: str) -> None:
    url = stack.relay.url if hop == "relay" else stack.gateway.url
    body = b"deposit " * 300
    reply = edge.send_plain(url, config_for(stack, kem), edge.inner_request(BANK, "/deposit", body))
    assert reply.status == 200 and reply.response is not None
    assert reply.content_type == "message/ohttp-res"
    assert (len(reply.outer_body) - 16 - 16) % 532 == 0  # padded as the reference pads
    echo = json.loads(reply.response.content)
    assert echo["path"] == "/deposit" and echo["len"] == len(body)
    assert reply.response.status == 200


@pytest.mark.parametrize("kem", [0x0030, 0x0020])
def test_chunked_compute_request_streams_with_trailers(stack: Stack, kem: int) -> None:
    release, finished = stack.state / "release", stack.state / "finished"
    release.unlink(missing_ok=True)
    finished.unlink(missing_ok=True)
    seen_before_finish: list[bool] = []

    def first_piece() -> None:
        seen_before_finish.append(not finished.exists())
        release.touch()

    request = edge.inner_request(ROUTER, "/", b"prompt " * 200)
    reply = edge.send_chunked(stack.relay.url, config_for(stack, kem), request, on_first_piece=first_piece)
    assert reply.status == 200 and reply.response is not None
    assert reply.response.content == b"first piece second piece"
    assert seen_before_finish == [True], "the first piece must reach the client before the upstream finishes"
    assert (b"x-refund", b"cmVmdW5k") in [(k.lower(), v) for k, v in reply.response.trailers]


@pytest.mark.parametrize("request_form", ["plain", "chunked"])
@pytest.mark.parametrize("response_form", ["plain", "chunked"])
def test_response_form_follows_the_response(stack: Stack, request_form: str, response_form: str) -> None:
    """All four pairings: a known-length upstream answer is sealed plain, a streaming one chunked,
    whatever the request's form."""
    (stack.state / "release").touch()  # the streaming upstream need not wait here
    if response_form == "plain":
        request = edge.inner_request(BANK, "/exchange", b"e" * 700)
    else:
        request = edge.inner_request(ROUTER, "/", b"p" * 700)
    send = edge.send_plain if request_form == "plain" else edge.send_chunked
    reply = send(stack.relay.url, config_for(stack, 0x0030), request)
    assert reply.status == 200 and reply.response is not None
    expected = "message/ohttp-res" if response_form == "plain" else "message/ohttp-chunked-res"
    assert reply.content_type == expected
    if response_form == "plain":
        assert json.loads(reply.response.content)["len"] == 700
    else:
        assert reply.response.content == b"first piece second piece"


def test_chunked_bank_request(stack: Stack) -> None:
    body = bytes(range(256)) * 20
    reply = edge.send_chunked(stack.relay.url, config_for(stack, 0x0030), edge.inner_request(BANK, "/withdraw", body))
    assert reply.status == 200 and reply.response is not None
    echo = json.loads(reply.response.content)
    assert echo["len"] == len(body)


def test_chunked_request_refused_inside_ohttp(stack: Stack) -> None:
    # /big is not on the allow-list: it must be refused inside OHTTP, never reach the upstream
    reply = edge.send_chunked(stack.relay.url, config_for(stack, 0x0020), edge.inner_request(ROUTER, "/big"))
    assert reply.status == 200 and reply.response is not None
    assert reply.response.status == 404


def test_allow_list_and_ping(stack: Stack) -> None:
    config = config_for(stack, 0x0030)
    reply = edge.send_plain(stack.relay.url, config, edge.inner_request(BANK, "/admin"))
    assert reply.response is not None and reply.response.status == 404
    reply = edge.send_plain(stack.relay.url, config, edge.inner_request(BANK, "/deposit", method="GET"))
    assert reply.response is not None and reply.response.status == 405
    reply = edge.send_plain(stack.relay.url, config, edge.inner_request("example.com", "/deposit"))
    assert reply.status == 400 and b"inner host not allowed" in reply.outer_body
    ping = edge.inner_request(ROUTER, "/", headers=[("x-confsec-ping", "gateway")])
    reply = edge.send_plain(stack.relay.url, config, ping)
    assert reply.response is not None and reply.response.content == b"gateway"
    reply = edge.send_plain(stack.relay.url, config, edge.inner_request(ROUTER, "/ping", method="GET"))
    assert reply.response is not None and reply.response.content == b"pong"


def test_relay_strips_identifying_headers(stack: Stack) -> None:
    seen = stack.state / "seen.jsonl"
    seen.unlink(missing_ok=True)
    identifying = {
        "Cookie": "session=secret", "Authorization": "Bearer secret", "User-Agent": "curl/8",
        "Forwarded": "for=10.1.2.3", "X-Forwarded-For": "10.1.2.3", "Via": "1.1 proxy", "X-Custom": "1",
    }
    # the gateway's own upstream sees only the inner request's headers: the outer ones must not leak
    reply = edge.send_plain(stack.relay.url, config_for(stack, 0x0020), edge.inner_request(BANK, "/balance"), extra=identifying)
    assert reply.status == 200 and reply.response is not None
    upstream_headers = set(json.loads(reply.response.content)["headers"])
    assert not upstream_headers & {"cookie", "authorization", "forwarded", "x-forwarded-for", "via", "x-custom"}
    assert "user-agent" in upstream_headers  # the inner one (Go-http-client/1.1), not curl's


def test_relay_forwards_only_allowed_headers_to_gateway(stack: Stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a relay whose "gateway" is the recording upstream: what reaches it is what the relay sends
    toml = edge.write_config(tmp_path / "r.toml", "relay", port=0, gateway_url=stack.upstream.url + "/deposit")
    seen = stack.state / "seen.jsonl"
    seen.unlink(missing_ok=True)
    with edge.role("relay", toml) as relay:
        extra = {"Cookie": "a=b", "Authorization": "x", "User-Agent": "ua", "X-Forwarded-For": "10.0.0.1",
                 "Forwarded": "for=x", "Via": "v", "X-Real-IP": "10.0.0.1", "Accept": "message/ohttp-res"}
        host, port = relay.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("POST", "/", body=b"\x01" * 100, headers={"Content-Type": "message/ohttp-req", **extra})
        response = conn.getresponse()
        assert response.status == 200  # the upstream's JSON echo, passed back unchanged
        echoed = json.loads(response.read())
        conn.close()
    assert echoed["len"] == 100
    names = set(json.loads(seen.read_text().splitlines()[-1]))
    assert names <= {"host", "content-type", "content-length", "accept", "incremental"}, names


def test_health_metrics_and_keys(stack: Stack) -> None:
    for proc, path in ((stack.gateway, "/_health"), (stack.gateway, "/healthz"), (stack.relay, "/healthz")):
        status, _, body = edge.get(proc.url, path)
        assert status == 200 and json.loads(body)["status"] == "OK"
    status, headers, raw = edge.get(stack.gateway.url, "/.well-known/ohttp-gateway")
    assert status == 200 and headers["content-type"] == "application/ohttp-keys"
    assert sorted(c.kem for c in ohttp.decode_key_configs(raw)) == [0x0020, 0x0030]
    for proc, role in ((stack.gateway, "gateway"), (stack.relay, "relay")):
        status, _, text = edge.get(proc.url, "/metrics")
        assert status == 200
        metrics = text.decode()
        assert f"openpcc_{role}_requests_total{{outcome=\"ok\"}}" in metrics
        assert f"openpcc_{role}_active_streams" in metrics
        assert "127.0.0.1" not in metrics


@pytest.mark.parametrize("role", ["relay", "gateway"])
def test_graceful_shutdown_finishes_in_flight_stream(stack: Stack, tmp_path, role: str) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal
    import threading

    release, finished = stack.state / "release", stack.state / "finished"
    release.unlink(missing_ok=True)
    finished.unlink(missing_ok=True)
    if role == "relay":
        toml = edge.write_config(tmp_path / "r.toml", "relay", port=0, gateway_url=stack.gateway.url + "/")
    else:
        toml = gateway_config(tmp_path, stack.upstream.url, stack.keys_dir)
    server_cm = edge.role(role, toml)
    server = server_cm.__enter__()
    try:
        def stop_then_release() -> None:
            os.kill(server.popen.pid, signal.SIGTERM)  # SIGTERM while the stream is open,
            time.sleep(0.3)
            release.touch()  # then let the upstream finish

        def first_piece() -> None:
            threading.Thread(target=stop_then_release).start()

        reply = edge.send_chunked(server.url, config_for(stack, 0x0020), edge.inner_request(ROUTER, "/", b"x"),
                                  on_first_piece=first_piece)
        assert reply.response is not None and reply.response.content == b"first piece second piece"
        assert (b"x-refund", b"cmVmdW5k") in [(k.lower(), v) for k, v in reply.response.trailers]
        assert server.popen.wait(15) == 0
    finally:
        server_cm.__exit__(None, None, None)
    assert any("0 connections cut" in line for line in server.lines), server.lines
