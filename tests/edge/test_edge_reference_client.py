"""The reference's client (github.com/openpcc/ohttp v0.0.80 Transport, built from
tests/interop/edge) through our relay and gateway: a known-length bank request (plain OHTTP) and
an unknown-length compute request (chunked OHTTP) whose streamed answer carries a trailer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from openpcc import ohttp
from support import edge
from support.go_interop import go_build

from .conftest import Stack

PEER_DIR = Path(__file__).resolve().parents[1] / "interop" / "edge"


@pytest.fixture(scope="module")
def go_peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("go") / "edge-go-peer"
    return go_build(PEER_DIR, binary, min_version=(1, 26), needed_for="the reference client (tests/interop/edge)")


@pytest.mark.interop
@pytest.mark.parametrize("kem", [0x0030, 0x0020])
def test_reference_client_through_relay_and_gateway(stack: Stack, go_peer: Path, kem: int) -> None:
    (stack.state / "release").touch()  # the streaming upstream answers at once
    _, _, raw = edge.get(stack.gateway.url, "/.well-known/ohttp-gateway")
    config = next(c for c in ohttp.decode_key_configs(raw) if c.kem == kem)
    run = subprocess.run([str(go_peer), "client", "-relay", stack.relay.url + "/", "-keyconfig", config.encode().hex()],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-500:]
    results = {r["name"]: r for r in map(json.loads, run.stdout.splitlines())}
    bank, compute = results["bank"], results["compute"]
    assert not bank.get("error") and bank["status"] == 200, bank
    echo = json.loads(bank["body"])
    assert echo["path"] == "/deposit" and echo["len"] == 1000
    assert not compute.get("error") and compute["status"] == 200, compute
    assert compute["body"] == "first piece second piece"
    assert compute["trailer"].get("X-Refund") == "cmVmdW5k"
