"""Relay and gateway load figures against the reference's, in one run (``make bench`` runs it).

    python benches/edge_load.py [--seconds 5] [--json target/edge-bench.json]

* gateway: requests/s and p50/p99 for pre-sealed 1 KiB requests (inner ``POST
  confsec-bank.invalid/deposit``, 1 KiB body) with X25519 (0x0020) and X25519Kyber768Draft00
  (0x0030). The gateway is pinned to CPU 0 (``taskset``, one worker); the load generator and the
  echo upstream share CPU 1. Peer: the reference gateway (github.com/openpcc/ohttp v0.0.80 in front
  of an ``httputil.ReverseProxy``, ``tests/interop/edge``), same seed, same sealed requests.
* relay: throughput (256 KiB bodies, 16 connections) and added latency (1 KiB, one connection,
  p50 through the relay minus p50 straight to the upstream), against a Go ``httputil.ReverseProxy``.
* resident memory of each role, idle and while 64 connections stream requests through it.

Every server runs in its own process on 127.0.0.1 and is killed by PID. Without Go the reference
rows are skipped (with the reason printed); with ``CI`` set a missing Go is an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
LOAD = TARGET / "release" / "openpcc-edge-load"
GO_PEER_DIR = ROOT / "tests" / "interop" / "edge"
SEED = bytes(range(32))
KEMS = {"X25519": 0x0020, "X25519Kyber768Draft00": 0x0030}


def build_tools(workdir: Path, cargo: bool = True) -> Path | None:
    """Builds the load generator (and the Go peer when Go is there); returns the Go binary or None."""
    if cargo or not LOAD.exists():
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "openpcc-edge", "--bin", "openpcc-edge-load"],
                       cwd=ROOT, check=True)
    if shutil.which("go") is None:
        if os.environ.get("CI"):
            raise SystemExit("edge_load: `go` not on PATH (needed for the reference peers) and CI is set")
        print("edge_load: skipping the reference rows: `go` not on PATH (looked for the Go toolchain)")
        return None
    peer = workdir / "edge-go-peer"
    subprocess.run(["go", "build", "-o", str(peer), "."], cwd=GO_PEER_DIR, check=True)
    return peer


@contextmanager
def server(argv: list[str], cpu: int | None = None, env: dict[str, str] | None = None) -> Iterator[tuple[int, int]]:
    """Starts ``argv`` (optionally pinned to ``cpu``), waits for its "listening on" line, yields
    (pid, port), kills it by PID afterwards."""
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + 30
        port = None
        assert popen.stdout is not None
        while time.monotonic() < deadline:
            line = popen.stdout.readline()
            if "listening on http://" in line:
                port = int(line.strip().rsplit(":", 1)[1])
                break
            if not line and popen.poll() is not None:
                break
        if port is None:
            raise RuntimeError(f"{argv[:4]} did not start")
        threading.Thread(target=popen.stdout.read, daemon=True).start()  # drain
        yield popen.pid, port
    finally:
        if popen.poll() is None:
            os.kill(popen.pid, signal.SIGKILL)
        popen.wait(10)


def write_bodies(path: Path, bodies: list[bytes]) -> Path:
    path.write_bytes(b"".join(struct.pack(">I", len(b)) + b for b in bodies))
    return path


def sealed_requests(kem: int, count: int = 64) -> list[bytes]:
    from openpcc import bhttp, ohttp

    key = ohttp.GatewayKey.from_seed(1, kem, SEED, [(0x0001, 0x0001)])
    request = bhttp.Request(method="POST", scheme="http", authority="confsec-bank.invalid", path="/deposit",
                            headers=[("user-agent", "Go-http-client/1.1")], content=os.urandom(1024))
    encoded = bhttp.encode(bhttp.normalize_request(request), pad_to_multiple_of=532)
    return [ohttp.encapsulate_request(key.key_config, encoded)[0] for _ in range(count)]


def load(url: str, bodies: Path, concurrency: int, seconds: float, content_type: str = "message/ohttp-req",
         cpu: int = 1) -> dict[str, Any]:
    argv = ["taskset", "-c", str(cpu), str(LOAD), "--url", url, "--bodies", str(bodies), "--content-type",
            content_type, "--concurrency", str(concurrency), "--seconds", str(seconds), "--warmup", "1"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the role runs under a Python parent)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def our_role(tmp: Path, role: str, cpu: int | None, **settings: Any) -> Any:
    lines = [f"[{role}]", "port = 0"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    config = tmp / f"{role}.toml"
    config.write_text("\n".join(lines) + "\n")
    return server([sys.executable, "-m", "openpcc", role, "--config", str(config)], cpu=cpu,
                  env={"PYTHONPATH": str(ROOT / "python")})


def gateway_rows(tmp: Path, go: Path | None, seconds: float, echo_url: str) -> list[dict[str, Any]]:
    from openpcc.services.gateway import write_key_file

    rows = []
    now = int(time.time())
    for name, kem in KEMS.items():
        keys = tmp / f"keys-{kem}"
        write_key_file(keys, 1, kem, now - 60, now + 86400, seed=SEED)
        bodies = write_bodies(tmp / f"sealed-{kem}.bin", sealed_requests(kem))
        # The load replays its pre-sealed requests, which the replay guard would refuse; the
        # reference has no guard. The guard's price: benches/edge_stacks.py.
        ours_settings = {"keys_dir": str(keys), "bank_url": echo_url, "router_url": echo_url, "workers": 1,
                         "manage_keys": False, "replay_cache_entries": 0}
        with our_role(tmp, "gateway", 0, **ours_settings) as (_, port):
            row = load(f"http://127.0.0.1:{port}/", bodies, 32, seconds)
            rows.append({"group": f"gateway 1 KiB {name}", "impl": "openpcc", **row})
        if go is not None:
            argv = [str(go), "gateway", "-kem", str(kem), "-seed", SEED.hex(), "-bank", echo_url, "-router", echo_url]
            with server(argv, cpu=0, env={"GOMAXPROCS": "1"}) as (_, port):
                row = load(f"http://127.0.0.1:{port}/", bodies, 32, seconds)
                rows.append({"group": f"gateway 1 KiB {name}", "impl": "reference (Go ohttp v0.0.80)", **row})
    return rows


def relay_rows(tmp: Path, go: Path | None, seconds: float, echo_url: str) -> list[dict[str, Any]]:
    small = write_bodies(tmp / "small.bin", [os.urandom(1024)])
    large = write_bodies(tmp / "large.bin", [os.urandom(256 * 1024)])
    rows = []
    direct = load(echo_url + "/", small, 1, seconds)
    rows.append({"group": "relay added latency 1 KiB", "impl": "direct (no relay)", **direct})

    def measure(impl: str, url: str) -> None:
        latency = load(url, small, 1, seconds)
        latency["added_p50_ms"] = round(latency["p50_ms"] - direct["p50_ms"], 3)
        rows.append({"group": "relay added latency 1 KiB", "impl": impl, **latency})
        rows.append({"group": "relay throughput 256 KiB", "impl": impl, **load(url, large, 16, seconds)})

    relay_settings = {"gateway_url": echo_url + "/", "workers": 1, "rate_per_second": 1e6, "burst": 1e6,
                      "max_concurrent_per_source": 1024}
    with our_role(tmp, "relay", 0, **relay_settings) as (_, port):
        measure("openpcc", f"http://127.0.0.1:{port}/")
    if go is not None:
        with server([str(go), "proxy", "-target", echo_url + "/"], cpu=0, env={"GOMAXPROCS": "1"}) as (_, port):
            measure("Go httputil.ReverseProxy", f"http://127.0.0.1:{port}/")
    return rows


def memory_rows(tmp: Path, go: Path | None, seconds: float, echo_url: str) -> list[dict[str, Any]]:
    from openpcc.services.gateway import write_key_file

    keys = tmp / "keys-mem"
    now = int(time.time())
    write_key_file(keys, 1, 0x0030, now - 60, now + 86400, seed=SEED)
    bodies = write_bodies(tmp / "sealed-mem.bin", sealed_requests(0x0030, 16))
    rows = []

    def sample(impl: str, role: str, pid: int, url: str) -> None:
        idle = rss_mb(pid)
        peak: list[float] = []

        def watch() -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                peak.append(rss_mb(pid))
                time.sleep(0.2)

        watcher = threading.Thread(target=watch)
        watcher.start()
        load(url, bodies, 64, seconds)
        watcher.join()
        rows.append({"group": f"{role} resident memory", "impl": impl, "idle_mb": round(idle, 1),
                     "at_64_streams_mb": round(max(peak, default=idle), 1)})

    gw_settings = {"keys_dir": str(keys), "bank_url": echo_url, "router_url": echo_url, "workers": 1, "manage_keys": False,
                   "replay_cache_entries": 0}  # pre-sealed requests are replayed (see gateway_rows)
    with our_role(tmp, "gateway", 0, **gw_settings) as (pid, port):
        sample("openpcc (Python supervisor + Rust server)", "gateway", pid, f"http://127.0.0.1:{port}/")
        with our_role(tmp, "relay", 0, gateway_url=f"http://127.0.0.1:{port}/", workers=1, rate_per_second=1e6,
                      burst=1e6, max_concurrent_per_source=1024) as (rpid, rport):
            sample("openpcc (Python supervisor + Rust server)", "relay", rpid, f"http://127.0.0.1:{rport}/")
    if go is not None:
        argv = [str(go), "gateway", "-kem", "48", "-seed", SEED.hex(), "-bank", echo_url, "-router", echo_url]
        with server(argv, cpu=0, env={"GOMAXPROCS": "1"}) as (pid, port):
            sample("reference (Go ohttp v0.0.80)", "gateway", pid, f"http://127.0.0.1:{port}/")
            with server([str(go), "proxy", "-target", f"http://127.0.0.1:{port}/"], cpu=0,
                        env={"GOMAXPROCS": "1"}) as (rpid, rport):
                sample("Go httputil.ReverseProxy", "relay", rpid, f"http://127.0.0.1:{rport}/")
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    for group, members in groups.items():
        print(f"\n== {group}")
        ours = next((r for r in members if r["impl"].startswith("openpcc")), None)
        for r in members:
            if "rps" in r:
                ratio = ""
                if ours is not None and r is not ours and r["rps"] and not r["impl"].startswith("direct"):
                    ratio = f"  openpcc/peer rps {ours['rps'] / r['rps']:.2f}x"
                extra = f"  added p50 {r['added_p50_ms']:.3f} ms" if "added_p50_ms" in r else ""
                print(f"  {r['impl']:<44} {r['rps']:>9.1f} req/s  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms"
                      f"  {r['request_mb_s']:.1f} MB/s in  errors {r['errors']}{extra}{ratio}")
            else:
                print(f"  {r['impl']:<44} idle {r['idle_mb']:.1f} MB  at 64 streams {r['at_64_streams_mb']:.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", default=str(ROOT / "target" / "edge-bench.json"))
    parser.add_argument("--no-cargo", action="store_true", help="use the load generator already built")
    args = parser.parse_args()
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        print("edge_load: skipping: needs `taskset` and two CPUs (gateway on CPU 0, load on CPU 1)")
        return 0
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        tmp = Path(name)
        go = build_tools(tmp, cargo=not args.no_cargo)
        _, echo_port = stack.enter_context(server([str(LOAD), "--echo", "127.0.0.1:0"], cpu=1))
        echo_url = f"http://127.0.0.1:{echo_port}"
        rows = gateway_rows(tmp, go, args.seconds, echo_url)
        rows += relay_rows(tmp, go, args.seconds, echo_url)
        rows += memory_rows(tmp, go, args.seconds, echo_url)
    print_table(rows)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=2))
    print(f"\nedge_load: rows written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
