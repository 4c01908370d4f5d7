"""The capture and namespace helpers the stack tests stand on, proven on what exists without the router:
the loopback capture finds a canary where it travels in clear and only there; the relay and gateway
(each its own process) carry a canary only sealed; in three network namespaces the gateway sees only the
relay's address, never the client's."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from openpcc import ohttp
from openpcc.services.gateway import write_key_file
from support import edge
from support.capture import Capture, encodings, parse_pcap
from support.netns import Namespaces, role_in

SUPPORT = Path(__file__).resolve().parents[1] / "support"
BANK = "confsec-bank.invalid"


def canary() -> str:
    return "CANARY" + secrets.token_hex(12)


def flows_on(flows: list[tuple[str, int, str, int]], port: int) -> list[tuple[str, int, str, int]]:
    return [f for f in flows if port in (f[1], f[3])]


@contextmanager
def plain_tcp_sink() -> Iterator[int]:
    """A loopback TCP server that reads and discards; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        with server:
            server.settimeout(5)
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                while conn.recv(65536):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        thread.join(10)


def send_plain_tcp(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        for start in range(0, len(data), 7):  # several segments: the capture must reassemble
            conn.sendall(data[start:start + 7])
            time.sleep(0.002)


def test_the_capture_finds_a_canary_split_over_segments_and_only_on_its_port(tmp_path: Path) -> None:
    secret = canary()
    with plain_tcp_sink() as watched, plain_tcp_sink() as other, Capture(tmp_path, ports=[watched]) as cap:
        send_plain_tcp(watched, f"prompt: {secret} end".encode())
        send_plain_tcp(other, f"elsewhere: {secret}".encode())
    found = cap.find(secret)
    assert found and all(watched in (f[1], f[3]) for f in found)
    assert not flows_on(list(cap.streams()), other), "the port filter let another port through"
    assert cap.find(canary()) == []  # a canary that never travelled is not found


def test_encodings_catch_a_base64_copy_at_any_alignment() -> None:
    import base64

    secret = canary().encode()
    for prefix in (b"", b"x", b"xy"):
        carried = base64.b64encode(prefix + secret + b"tail")
        assert any(form in carried for form in encodings(secret))


def test_a_file_that_is_not_pcap_is_refused() -> None:
    with pytest.raises(ValueError, match="not a pcap"):
        list(parse_pcap(b"\0" * 40))


# --- the relay and the gateway on loopback -------------------------------------------------------


@contextmanager
def edge_roles(tmp: Path) -> Iterator[tuple[edge.Proc, edge.Proc, edge.Proc]]:
    """A bank stand-in upstream, a gateway and a relay, each its own loopback process."""
    state, keys = tmp / "state", tmp / "keys"
    state.mkdir()
    now = int(time.time())
    write_key_file(keys, 1, 0x0030, now - 60, now + 3600)
    with edge.upstream(state) as up:
        gateway_toml = edge.write_config(
            tmp / "gateway.toml", "gateway", port=0, keys_dir=str(keys), bank_url=up.url, router_url=up.url,
            manage_keys=False, workers=1,
        )
        with edge.role("gateway", gateway_toml) as gw:
            relay_toml = edge.write_config(tmp / "relay.toml", "relay", port=0, gateway_url=gw.url + "/", workers=1)
            with edge.role("relay", relay_toml) as relay:
                yield up, gw, relay


def test_relay_and_gateway_carry_a_canary_only_sealed(tmp_path: Path) -> None:
    secret = canary()
    with edge_roles(tmp_path) as (up, gw, relay):
        _, _, raw = edge.get(gw.url, "/.well-known/ohttp-gateway")
        config = ohttp.decode_key_configs(raw)[0]
        with Capture(tmp_path, ports=[relay.port, gw.port, up.port]) as cap:
            inner = edge.inner_request(BANK, "/deposit", f"p {secret}".encode())
            reply = edge.send_plain(relay.url, config, inner)
    assert reply.status == 200 and reply.response is not None
    found = cap.find(secret)
    # The gateway decrypts and hands the inner request to its upstream (here a bank stand-in): the
    # canary travels in clear there, which shows the capture would have seen it anywhere else.
    assert found and all(up.port in (f[1], f[3]) for f in found), found
    streams = list(cap.streams())
    assert flows_on(streams, relay.port) and flows_on(streams, gw.port)
    for proc in (relay, gw):  # stopped: .lines holds all it printed
        assert proc.lines and not any(secret in line for line in proc.lines)


# --- unlinkability across namespaces -------------------------------------------------------------

CLIENT_ADDR, RELAY_FRONT = "10.77.1.2", "10.77.1.1"
RELAY_BACK, GATEWAY_ADDR = "10.77.2.1", "10.77.2.2"


def test_in_namespaces_the_gateway_sees_only_the_relay(tmp_path: Path) -> None:
    secret = canary()
    now = int(time.time())
    keys = tmp_path / "keys"
    write_key_file(keys, 1, 0x0020, now - 60, now + 3600)
    started: list[edge.Proc] = []
    with Namespaces() as net:
        client_ns, relay_ns, gateway_ns = net.add("c"), net.add("r"), net.add("g")
        net.link(client_ns, CLIENT_ADDR, relay_ns, RELAY_FRONT)
        net.link(relay_ns, RELAY_BACK, gateway_ns, GATEWAY_ADDR)
        try:
            state = tmp_path / "state"
            state.mkdir()
            upstream = net.popen(
                gateway_ns, [sys.executable, str(SUPPORT / "edge_upstream.py"), str(state / "port"), str(state)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            started.append(edge.Proc(upstream, 0))  # type: ignore[arg-type]
            deadline = time.monotonic() + edge.START_TIMEOUT
            while not (state / "port").exists() or not (state / "port").read_text():
                assert time.monotonic() < deadline and upstream.poll() is None, "upstream did not start"
                time.sleep(0.02)
            up_url = f"http://127.0.0.1:{(state / 'port').read_text()}"
            gw_toml = edge.write_config(
                tmp_path / "gateway.toml", "gateway", host=GATEWAY_ADDR, port=0, keys_dir=str(keys),
                bank_url=up_url, router_url=up_url, manage_keys=False, workers=1,
            )
            gw = role_in(net, gateway_ns, "gateway", gw_toml)
            started.append(gw)
            relay_toml = edge.write_config(
                tmp_path / "relay.toml", "relay", host=RELAY_FRONT, port=0,
                gateway_url=f"http://{GATEWAY_ADDR}:{gw.port}/", workers=1,
            )
            relay = role_in(net, relay_ns, "relay", relay_toml)
            started.append(relay)
            fetched = net.run(gateway_ns, [
                sys.executable, "-c",
                ("import sys,urllib.request;sys.stdout.buffer.write(urllib.request.urlopen("
                 f"'http://{GATEWAY_ADDR}:{gw.port}/.well-known/ohttp-gateway',timeout=10).read().hex().encode())"),
            ])
            assert fetched.returncode == 0, fetched.stderr
            (tmp_path / "keys.bin").write_bytes(bytes.fromhex(fetched.stdout))
            (tmp_path / "body").write_text(f"deposit {secret}")
            unreachable = net.run(client_ns, [sys.executable, "-c", (
                "import socket;s=socket.socket();s.settimeout(2)\n"
                f"print(s.connect_ex(('{GATEWAY_ADDR}',{gw.port})))")])
            assert unreachable.stdout.strip() not in ("", "0"), "the client must have no route to the gateway"
            with Capture(tmp_path, interface="any", netns=gateway_ns, name="gw") as gw_cap, \
                    Capture(tmp_path, interface="any", netns=relay_ns, name="relay") as relay_cap:
                sent = net.run(client_ns, [
                    sys.executable, "-m", "support.ohttp_send", f"http://{RELAY_FRONT}:{relay.port}",
                    str(tmp_path / "keys.bin"), BANK, "/deposit", str(tmp_path / "body"),
                ], cwd=SUPPORT.parent)
            assert sent.returncode == 0, sent.stderr
            reply = json.loads(sent.stdout)
            assert reply["status"] == 200 and json.loads(reply["content"])["path"] == "/deposit"
        finally:
            for proc in reversed(started):
                proc.stop()
    # The relay saw the client (so the capture works and the client really came through it) ...
    assert CLIENT_ADDR in relay_cap.addresses()
    # ... and everything the gateway's namespace carried came from the relay or from inside.
    gateway_addresses = gw_cap.addresses()
    assert RELAY_BACK in gateway_addresses
    assert gateway_addresses <= {RELAY_BACK, GATEWAY_ADDR, "127.0.0.1"}, gateway_addresses
    assert gw_cap.find(CLIENT_ADDR) == []  # nor in any header or body it received or sent
    assert gw_cap.find(secret) and all(f[2] == "127.0.0.1" or f[0] == "127.0.0.1" for f in gw_cap.find(secret))
    assert relay_cap.find(secret) == []
    for proc in started[1:]:
        assert not any(CLIENT_ADDR in line or secret in line for line in proc.lines), proc.lines
