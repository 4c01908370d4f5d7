"""The reference's client (github.com/openpcc/ohttp v0.0.80 Transport, built from
tests/interop/edge) through our relay and gateway: a known-length bank request (plain OHTTP) and
an unknown-length compute request (chunked OHTTP) whose streamed answer carries a trailer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from openpcc import ohttp
from support import edge

from .conftest import Stack

PEER_DIR = Path(__file__).resolve().parents[1] / "interop" / "edge"


@pytest.fixture(scope="module")
def go_peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        if os.environ.get("CI"):
            pytest.fail("`go` is not on PATH: the reference client (tests/interop/edge) cannot be built")
        pytest.skip("`go` is not on PATH: needed to build the reference client in tests/interop/edge")
    binary = tmp_path_factory.mktemp("go") / "edge-go-peer"
    built = subprocess.run(["go", "build", "-o", str(binary), "."], cwd=PEER_DIR, capture_output=True, text=True,
                           timeout=600, check=False)
    if built.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"go build failed: {built.stderr[-500:]}")
        pytest.skip(f"go build of tests/interop/edge failed (module proxy unreachable?): {built.stderr[-300:]}")
    return binary


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
