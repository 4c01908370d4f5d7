"""The supervisor (``openpcc up``, ``Stack``): first-run files, health waits, restarts, shutdown by PID.

Every stack here runs on a free block of loopback ports with the echo engine, except the one test that
loads the embedded model. Each stack is stopped in a ``finally`` and the test checks no process is left.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from openpcc import ohttp
from openpcc.exceptions import PortInUseError, SupervisorError, UsageError
from openpcc.services import supervisor
from openpcc.services.supervisor import PORT_OFFSETS, Stack
from support.currency_key import TEST_CURRENCY_KEY_PEM
from support.prerequisites import missing
from support.stack import free_base_port

REPO = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    """The process and its whole process group (a node's swtpm) are gone."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return home


@contextmanager
def echo_stack(home: Path, **kwargs) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    stack = Stack(
        home, base_port=free_base_port(), echo_for_tests=True,
        currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes(), **kwargs,
    )
    try:
        stack.start(timeout=90)
        yield stack
    finally:
        pids = list(stack.pids().values())
        stack.stop()
        assert wait_until(lambda: all(gone(p) for p in pids), 10), "a role or its swtpm outlived stop()"


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return bytes(resp.read())


# --- first run ---------------------------------------------------------------------------


def test_first_run_writes_config_keys_and_client_profile(home: Path) -> None:
    base = free_base_port()
    stack = Stack(home, base_port=base, echo_for_tests=True, currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes())
    assert stack.first_run and stack.config_path == home / "openpcc.toml"
    tables = tomllib.loads(stack.config_path.read_text())
    assert tables["home"] == str(home)  # every role and the client resolve their paths under this home
    assert tables["client"]["data_dir"] == str(home / "client")
    assert set(tables) == {
        "home", "noncelock", "bank", "auth", "router", "gateway", "relay", "log", "witness", "node", "client",
    }
    assert tables["auth"]["port"] == base and tables["relay"]["port"] == base + 1
    assert list(tables["node"]) == ["a", "b"]
    assert tables["node"]["b"]["port"] == base + PORT_OFFSETS["node"] + 1
    assert tables["node"]["a"]["engine"] == "echo"
    assert tables["relay"]["gateway_url"] == f"http://127.0.0.1:{base + 2}/"
    client = tables["client"]
    assert client["relay_url"] == f"http://127.0.0.1:{base + 1}"
    for key in ("gateway_keys", "node_policy", "api_key_file"):
        assert Path(client[key]).is_file(), key
    # secrets: 0600 files in 0700 directories
    for secret in (Path(client["api_key_file"]), home / "keys" / "currency-key.pem", home / "log" / "log.key"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert Path(client["api_key_file"]).read_text().startswith("opk_")
    assert stat.S_IMODE((home / "gateway").stat().st_mode) == 0o700
    # badges: one model set for every user of the stack, signed by a key whose public half every node checks
    assert tables["auth"]["badge_models"] == "echo"
    assert stat.S_IMODE(Path(tables["auth"]["badge_key_file"]).stat().st_mode) == 0o600
    for node in tables["node"].values():
        assert node["badge_public_key"] == str(home / "keys" / "badge-public-key.pem")
    from openpcc.badge import load_public_key

    load_public_key(home / "keys" / "badge-public-key.pem")
    # the witness follows the log's key
    assert tables["witness"]["log_keys"] == (home / "log" / "log.vkey").read_text().strip()
    # the node policy is the dev policy (software TPM allowed, loudly)
    policy = Path(client["node_policy"]).read_text()
    assert "danger_allow_software_tpm = true" in policy and "NEVER use it for real prompts" in policy
    # every role's table is valid for its role
    from openpcc import config

    loaded = config.load(stack.config_path, env={"OPENPCC_HOME": str(home)})
    for role in ("noncelock", "bank", "auth", "router", "gateway", "relay", "log", "witness"):
        loaded.role(role)
    for name in loaded.node_names():
        loaded.role("node", name)


def test_second_run_reads_the_file_and_refuses_other_ports(home: Path) -> None:
    base = free_base_port()
    first = Stack(home, base_port=base, echo_for_tests=True, currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes())
    api_key = Path(tomllib.loads(first.config_path.read_text())["client"]["api_key_file"]).read_text()
    again = Stack(home, base_port=base)
    assert not again.first_run and again.layout == first.layout
    assert Path(tomllib.loads(again.config_path.read_text())["client"]["api_key_file"]).read_text() == api_key
    with pytest.raises(SupervisorError, match="--base-port"):
        Stack(home, base_port=base + 100)


def test_dev_policy_constant_is_policies_dev_toml() -> None:
    assert supervisor.DEV_POLICY == (REPO / "policies" / "dev.toml").read_text()


def test_bad_layouts_are_usage_errors(home: Path) -> None:
    with pytest.raises(UsageError):
        Stack(home, base_port=80)
    with pytest.raises(UsageError):
        Stack(home, nodes=0)


def test_a_taken_port_is_reported_with_its_role(home: Path) -> None:
    stack = Stack(home, base_port=free_base_port(), echo_for_tests=True, currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes())
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", stack.layout.ports["gateway"]))
        squatter.listen()
        with pytest.raises(PortInUseError, match=rf"gateway \({stack.layout.ports['gateway']}\).*--base-port"):
            stack.start()
    assert stack.pids() == {}  # nothing was started


# --- running -------------------------------------------------------------------------------


def test_stack_starts_restarts_a_killed_role_and_stops_everything(home: Path) -> None:
    with echo_stack(home) as stack:
        for label in stack.labels:
            role, _, name = label.partition("-")
            assert supervisor.health(stack.url(role, name or None))[0], label
        # the pinned gateway keys are exactly what the gateway serves
        pinned = json.loads((home / "client" / "gateway-keys.json").read_text())
        served = get(stack.url("gateway") + "/.well-known/ohttp-gateway")
        import base64

        assert base64.b64decode(pinned["key_configs"]) == served
        assert ohttp.decode_key_configs(served)
        assert pinned["rotation_periods"][0]["key_id"] == ohttp.decode_key_configs(served)[0].key_id

        # the operator's statements are in the log, cosigned, and verify as a client verifies them
        from datetime import UTC, datetime

        from openpcc import config
        from openpcc.transparency.stack import verified_statements_for

        profile = config.load(stack.config_path, env={"OPENPCC_HOME": str(home)}).client()
        verified = verified_statements_for(profile, datetime.now(UTC))
        assert verified is not None and set(verified.indexes) == {"gateway-keys", "currency-key", "node-image"}
        assert verified.gateway.key_configs == served
        assert verified.node_image is not None and verified.currency_jwk is not None

        # the [client] profile it wrote is all a client needs: a private answer through every hop
        from openpcc.client import Client

        with Client(stack.config_path) as client:
            answer = client.chat([{"role": "user", "content": "ping through the stack"}], max_tokens=8)
        assert answer.text == "ping through the stack"  # type: ignore[union-attr]
        badge = client.wallet.badge()  # sent with the request above and checked by the node that answered
        assert badge is not None and badge.models == ("echo",)
        assert stack.routable_nodes() == 2

        for role, name in (("node", "a"), ("relay", None)):
            old = stack.pid(role, name)
            os.kill(old, signal.SIGKILL)
            assert wait_until(lambda: stack.pid(role, name) != old, 20), f"{role} was not restarted"  # noqa: B023
            stack.wait_healthy(role, name, timeout=60)
            assert wait_until(lambda: gone(old), 10)  # noqa: B023  (and the old node's swtpm with it)

        old = stack.pid("bank")
        stack.restart("bank")
        assert stack.pid("bank") != old and gone(old)


def test_openpcc_up_runs_in_the_foreground_and_stops_on_sigterm(home: Path) -> None:
    base = free_base_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPCC_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "openpcc", "up", "--home", str(home), "--base-port", str(base), "--engine", "echo",
         "--nodes", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ready in"):
                break
        output = "".join(lines)
        assert "Ready in" in output, output[-3000:]
        assert "DEVELOPMENT ONLY" in output and "openpcc chat" in output
        assert any(line.startswith("relay     | ") for line in lines)  # lines carry their role's name
        pids = [int(line.split("pid ")[1]) for line in lines if " pid " in line and line.startswith("  ")]
        assert len(pids) >= 9
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest[-2000:]
        assert "stopping every role" in rest
        assert wait_until(lambda: all(gone(p) for p in pids), 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_streams_a_private_answer_from_the_embedded_model_and_shows_each_hop(home: Path) -> None:
    from openpcc.services.engines.llama import missing_prerequisite

    absent = missing_prerequisite()
    if absent:
        missing(f"embedded model not installed: looked for {absent}; run `make model`")
    prompt = "Name a colour of the sky."
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPCC_")}
    env["OPENPCC_HOME"] = str(home)  # nothing may land in the developer's home
    result = subprocess.run(
        [sys.executable, "-m", "openpcc", "demo", "--base-port", str(free_base_port()), "--prompt", prompt,
         "--max-tokens", "12"],
        check=False, capture_output=True, text=True, timeout=400, env=env, stdin=subprocess.DEVNULL,
    )
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-2000:]
    assert "engine llama" in out and "VERIFIED" in out
    answer = out.split("answer > ", 1)[1].split("\n", 1)[0]
    assert answer.strip(), out[-3000:]
    hops = out.split("What each hop saw", 1)[1]
    for hop in ("client → relay", "relay → gateway", "gateway → router", "gateway → bank", "router → node-a",
                "router → node-b"):
        assert hop in hops
    # the relay and the gateway saw only OHTTP; the router saw the credit only as its length
    relay_part = hops.split("relay → gateway", 1)[0]
    assert "message/ohttp" in relay_part and "x-credit" not in relay_part.lower()
    assert "POST /compute-manifests" in hops and "x-credit: <" in hops.lower()
    assert "router counted" in hops
    # never plaintext on any hop
    assert prompt not in hops and answer.strip() not in hops
    assert "Stopped 11 processes" in out
    assert list(home.iterdir()) == []  # the demo kept its state in a temporary home


def test_an_interrupted_start_stops_what_it_started(home: Path) -> None:
    import threading

    stack = Stack(home, base_port=free_base_port(), echo_for_tests=True, currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes())
    seen: list[int] = []

    def interrupt_once_running() -> None:
        wait_until(lambda: len(stack.pids()) >= 3, 60)
        seen.extend(stack.pids().values())
        stack.interrupt()

    helper = threading.Thread(target=interrupt_once_running)
    helper.start()
    with pytest.raises(SupervisorError, match="interrupted"):
        stack.start(timeout=90)
    helper.join()
    assert seen and wait_until(lambda: all(gone(p) for p in stack.pids().values()), 10)


def test_a_role_that_keeps_crashing_is_restarted_with_backoff_then_left_down(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr(supervisor, "BACKOFF_FIRST_S", 0.05)
    monkeypatch.setattr(supervisor, "BACKOFF_MAX_S", 0.2)
    monkeypatch.setattr(supervisor, "MAX_QUICK_FAILURES", 3)
    log = io.StringIO()
    stack = Stack(
        home, base_port=free_base_port(), echo_for_tests=True, log_stream=log,
        currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes(),
    )
    broken = home / "broken.toml"
    broken.write_text("[noncelock]\nport = 'not a port'\n")  # the role exits with status 2 at once
    child = stack._children["noncelock"]
    child.config_path = broken
    child.launch()
    pids = {child.pid}
    try:
        assert wait_until(lambda: (stack._supervise(child), child.gave_up)[1], 60)  # type: ignore[func-returns-value]
        pids.add(child.pid)
    finally:
        child.terminate()
    assert child.restarts == 3
    text = log.getvalue()
    assert "noncelock exited with status 2; restarting in 0.1s" in text
    assert "restarting in 0.2s" in text  # doubled, then capped
    assert "exited 3 times in a row; not restarting it" in text
    assert "noncelock | openpcc noncelock:" in text  # the role's own lines, prefixed with its name
    assert all(gone(p) for p in pids)
