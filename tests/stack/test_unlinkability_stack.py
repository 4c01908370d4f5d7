"""Unlinkability on the whole stack: the client, the relay and the rest of the stack (gateway, router, banks,
nodes, log) each in a network namespace this test makes, joined by veth pairs:

    client 10.79.1.2 --- 10.79.1.1 relay 10.79.2.1 --- 10.79.2.2 gateway (+ router, nodes, banks on its loopback)
    client 10.79.3.2 ------------------------------------ 10.79.3.1 auth bank, transparency log

The client reaches the relay, and, directly, the auth bank (which knows its API key anyway) and the
transparency log; it has no route to the gateway's address. ``openpcc chat`` asks with a canary in the
prompt. A capture in the stack's namespace shows every byte the gateway and the router received or sent
came from the relay's address or from loopback, never the client's, and that the client's address
appears in no header or body there; the canary appears on no wire at all, and the client printed it.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from openpcc.services.supervisor import Stack
from support import edge
from support.capture import Capture
from support.currency_key import TEST_CURRENCY_KEY_PEM
from support.netns import Namespaces, role_in
from support.stack import free_base_port, prepare_config, set_settings

CLIENT, RELAY_FRONT = "10.79.1.2", "10.79.1.1"
RELAY_BACK, GATEWAY = "10.79.2.1", "10.79.2.2"
CLIENT_DIRECT, STACK_DIRECT = "10.79.3.2", "10.79.3.1"
READY_S = 120.0

ROUTABLE_PROBE = """
import re, sys, time, urllib.request
deadline = time.monotonic() + {timeout}
while time.monotonic() < deadline:
    try:
        text = urllib.request.urlopen("{router}/metrics", timeout=5).read().decode()
        if re.search(r"^openpcc_router_routable_nodes 2\\.0$", text, re.M):
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(1)
"""


def _wait_for_line(path: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while needle not in path.read_text(errors="replace"):
        assert proc.poll() is None, f"openpcc up exited: {path.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"openpcc up not ready in {timeout}s: {path.read_text()[-2000:]}"
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_the_gateway_and_router_never_see_the_client_address(tmp_path: Path) -> None:
    secret = "CANARY" + secrets.token_hex(12)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    stack = Stack(home, base_port=free_base_port(), nodes=2, echo_for_tests=True,
                  currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes())
    # Inside its namespace the stack listens on loopback, except what the client or relay must reach.
    prepare_config(stack, {"client": {"max_delay": 0.0}, "gateway": {"host": "0.0.0.0"},
                           "auth": {"host": "0.0.0.0"}, "log": {"host": "0.0.0.0"}})
    port = {role: int(stack.url(role).rsplit(":", 1)[1]) for role in ("gateway", "router", "auth", "log")}
    client_config = tmp_path / "client.toml"
    client_config.write_text(stack.config_path.read_text())
    up_output = tmp_path / "up.txt"
    with Namespaces() as net:
        client_ns, relay_ns, stack_ns = net.add("c"), net.add("r"), net.add("s")
        net.link(client_ns, CLIENT, relay_ns, RELAY_FRONT)
        net.link(relay_ns, RELAY_BACK, stack_ns, GATEWAY)
        net.link(client_ns, CLIENT_DIRECT, stack_ns, STACK_DIRECT)
        with open(up_output, "wb") as sink:
            up = net.popen(stack_ns, [sys.executable, "-m", "openpcc", "up", "--home", str(home)],
                           stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        relay: edge.Proc | None = None
        try:
            _wait_for_line(up_output, "openpcc stack:", up, READY_S)
            probe = ROUTABLE_PROBE.format(timeout=60, router=stack.url("router"))
            assert net.run(stack_ns, [sys.executable, "-c", probe], timeout=90).returncode == 0, "nodes not routable"
            relay_toml = edge.write_config(tmp_path / "relay.toml", "relay", host=RELAY_FRONT, port=0,
                                           gateway_url=f"http://{GATEWAY}:{port['gateway']}/", workers=1)
            relay = role_in(net, relay_ns, "relay", relay_toml)
            set_settings(client_config, "client", relay_url=f"http://{RELAY_FRONT}:{relay.port}",
                         auth_url=f"http://{STACK_DIRECT}:{port['auth']}",
                         log_url=f"http://{STACK_DIRECT}:{port['log']}")
            with Capture(tmp_path, interface="any", netns=stack_ns, name="stack") as stack_cap, \
                    Capture(tmp_path, interface="any", netns=relay_ns, name="relay") as relay_cap:
                chat = net.run(client_ns, [sys.executable, "-m", "openpcc", "chat", "--config", str(client_config),
                                           f"repeat {secret}"], timeout=120)
        finally:
            if relay is not None:
                relay.stop()
            _stop(up)
    assert chat.returncode == 0, chat.stderr[-2000:]
    assert secret in chat.stdout  # the client saw the answer: the test can fail
    # The relay saw the client; the stack's namespace saw it only at the auth bank and the log.
    assert CLIENT in relay_cap.addresses()
    direct_ports = {port["auth"], port["log"]}
    streams = stack_cap.streams()
    for src, sport, dst, dport in streams:
        if CLIENT_DIRECT in (src, dst):
            assert {sport, dport} & direct_ports, f"the client reached {dst}:{dport} in the stack directly"
    gateway_flows = {f for f in streams if port["gateway"] in (f[1], f[3])}
    router_flows = {f for f in streams if port["router"] in (f[1], f[3])}
    assert gateway_flows and router_flows, "the capture saw no gateway or router traffic"
    assert {a for f in gateway_flows for a in (f[0], f[2])} <= {RELAY_BACK, GATEWAY, "127.0.0.1"}
    assert {a for f in router_flows for a in (f[0], f[2])} == {"127.0.0.1"}
    for needle in (CLIENT, CLIENT_DIRECT):
        leaked = [f for f in stack_cap.find(needle) if f in gateway_flows | router_flows]
        assert leaked == [], f"the client's address {needle} travelled to the gateway or router: {leaked}"
    assert stack_cap.find(secret) == [] and relay_cap.find(secret) == []
    stack_output = up_output.read_text(errors="replace")
    assert secret not in stack_output and CLIENT not in stack_output and CLIENT_DIRECT not in stack_output
