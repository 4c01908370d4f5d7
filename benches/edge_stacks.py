"""The gateway's HTTP stack, measured: the same gateway work on hyper (ours) and on other stacks,
same machine, same run (not part of ``make test``; ``docs/edge.md`` records a run).

    python benches/edge_stacks.py [--seconds 3] [--rounds 3] [--no-cargo] [--json FILE]

The work, for every stack: take a pre-sealed 1 KiB OHTTP request (``message/ohttp-req``, inner
``POST confsec-bank.invalid/deposit`` with a 1 KiB body, the same 64 requests for every stack),
decapsulate it, check the inner host, forward the inner request to a loopback echo upstream, seal
the answer (Binary HTTP padded to 532, ``message/ohttp-res``). Every stack uses the same Rust
OHTTP/BHTTP code (ours), so the rows differ by the HTTP stack and its runtime only. Stacks:

* ``hyper``: ``openpcc gateway`` (hyper 1 on Tokio, one worker) with its replay guard off
  (``replay_cache_entries = 0``: the load replays its pre-sealed requests, and no other stack here
  has a guard), then with the guard on and a 2 ms window (shorter than the time the load takes to
  come back to the same request), which prices its hashing and locking per request;
* ``aiohttp``: a Python gateway on aiohttp (server and client), one event loop, calling our
  bindings (``openpcc.ohttp``, ``openpcc.bhttp``): the stack the other roles use;
* ``actix-web``: when ``benches/edge-stacks-rs`` builds (actix-web 4 server, its awc client,
  one worker), the same Rust calls as ours; skipped with the reason when it cannot be built.

And, from the same crate, ``replay-cost``: nanoseconds per replay-guard check with the guard at its
full default capacity (2^20 keys, where table lookups miss the cache) beside one decapsulation,
and the guard's peak memory.

Each gateway is pinned to CPU 0; the load generator (``openpcc-edge-load``, 32 keep-alive
connections) and the echo upstream share CPU 1. All stacks of one KEM run at once, idle but for the
one under load, and the rounds interleave them (A B C D, A B C D, ...); each row is the median of
its rounds, printed with every round's figure and load average. Every process runs on 127.0.0.1
and is killed by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

BENCHES = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHES))

import edge_load  # the shared harness: servers, load generator, sealed requests

RUST_STACK_DIR = BENCHES / "edge-stacks-rs"
ALLOWED_HOSTS = {b"confsec-bank.invalid", b"confsec-router.invalid"}


def serve_aiohttp(kem: int, seed: bytes, upstream: str) -> None:
    """The aiohttp gateway (run in its own process by ``--serve-aiohttp``)."""
    from aiohttp import ClientSession, TCPConnector, web
    from openpcc import bhttp, ohttp
    from openpcc.exceptions import OpenPCCError

    key = ohttp.GatewayKey.from_seed(1, kem, seed, [(0x0001, 0x0001)])
    routes = web.RouteTableDef()
    state: dict[str, ClientSession] = {}

    @routes.post("/")
    async def gateway(request: web.Request) -> web.Response:
        if request.content_type != "message/ohttp-req":
            return web.Response(status=415, text="content type must be message/ohttp-req")
        sealed = await request.read()
        try:
            inner_bytes, responder = key.decapsulate_request(sealed)
            inner = bhttp.decode_request(inner_bytes)
        except OpenPCCError:
            return web.Response(status=400, text="malformed encapsulated request")
        if inner.authority not in ALLOWED_HOSTS:
            return web.Response(status=400, text="inner host not allowed")
        headers = [(k.decode(), v.decode()) for k, v in inner.headers]
        async with state["client"].request(inner.method.decode(), upstream + inner.path.decode(),
                                           data=inner.content, headers=headers) as answer:
            content = await answer.read()
            fields = [(k.lower(), v) for k, v in answer.headers.items()
                      if k.lower() not in ("content-length", "connection", "date", "server")]
            status = answer.status
        response = bhttp.normalize_response(bhttp.Response(status=status, headers=fields, content=content))
        sealed_response = responder.encapsulate_response(bhttp.encode(response, pad_to_multiple_of=532))
        return web.Response(body=sealed_response, content_type="message/ohttp-res")

    async def main() -> None:
        state["client"] = ClientSession(connector=TCPConnector(limit=64))
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        print(f"listening on http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def rust_stack(cargo: bool) -> tuple[Path | None, str]:
    """Builds ``benches/edge-stacks-rs`` (actix-web, replay-cost); returns its release directory
    or None and the reason."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", edge_load.ROOT / "target")) / "edge-stacks-rs"
    binary = target / "release" / "edge-stacks-rs"
    if cargo or not binary.exists():
        if shutil.which("cargo") is None:
            return None, "`cargo` not on PATH"
        build = subprocess.run(["cargo", "build", "--release", "-q", "--manifest-path",
                                str(RUST_STACK_DIR / "Cargo.toml")], capture_output=True, text=True,
                               env={**os.environ, "CARGO_TARGET_DIR": str(target)}, check=False)
        if build.returncode != 0:
            return None, "benches/edge-stacks-rs did not build: " + (build.stderr.strip().splitlines() or [""])[-1]
    return binary.parent, ""


def stacks(tmp: Path, kem: int, keys: Path, echo: str, release: Path | None) -> dict[str, Any]:
    """The gateways to compare, as context managers yielding (pid, port)."""
    common = {"keys_dir": str(keys), "bank_url": echo, "router_url": echo, "workers": 1, "manage_keys": False}
    for name in ("plain", "guarded"):
        (tmp / f"{name}-{kem}").mkdir()
    chosen: dict[str, Any] = {
        "hyper (openpcc gateway)":
            edge_load.our_role(tmp / f"plain-{kem}", "gateway", 0, **common, replay_cache_entries=0),
        "hyper, replay guard on (2 ms window)":
            edge_load.our_role(tmp / f"guarded-{kem}", "gateway", 0, **common, replay_window_secs=0.002),
        "aiohttp (Python, our bindings)": edge_load.server(
            [sys.executable, str(Path(__file__)), "--serve-aiohttp", "--kem", str(kem), "--upstream", echo],
            cpu=0, env={"PYTHONPATH": str(edge_load.ROOT / "python")}),
    }
    if release is not None:
        argv = [str(release / "edge-stacks-rs"), "--kem", str(kem), "--seed", edge_load.SEED.hex(), "--upstream", echo]
        chosen["actix-web 4 + awc (Rust, same calls)"] = edge_load.server(argv, cpu=0)
    return chosen


def median_row(group: str, impl: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def mid(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    return {"group": group, "impl": impl, "rps": mid("rps"), "p50_ms": mid("p50_ms"), "p99_ms": mid("p99_ms"),
            "errors": sum(r["errors"] for r in runs), "rounds_rps": [round(r["rps"]) for r in runs],
            "load_average": [round(r["load_average"], 2) for r in runs]}


def measure(tmp: Path, seconds: float, rounds: int, cargo: bool) -> list[dict[str, Any]]:
    from openpcc.services.gateway import write_key_file

    release, why = rust_stack(cargo)
    if release is None:
        print(f"edge_stacks: skipping the actix-web and replay-cost rows: {why}")
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        _, echo_port = stack.enter_context(edge_load.server([str(edge_load.LOAD), "--echo", "127.0.0.1:0"], cpu=1))
        echo = f"http://127.0.0.1:{echo_port}"
        now = int(time.time())
        for name, kem in edge_load.KEMS.items():
            keys = tmp / f"keys-{kem}"
            write_key_file(keys, 1, kem, now - 60, now + 86400, seed=edge_load.SEED)
            bodies = edge_load.write_bodies(tmp / f"sealed-{kem}.bin", edge_load.sealed_requests(kem, 256))
            with ExitStack() as servers:
                # every stack idles on CPU 0 while another is measured; rounds interleave them so a
                # change in the machine's background load falls on all of them alike
                ports = {impl: servers.enter_context(cm)[1]
                         for impl, cm in stacks(tmp, kem, keys, echo, release).items()}
                runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in ports}
                for _ in range(rounds):
                    for impl, port in ports.items():
                        row = edge_load.load(f"http://127.0.0.1:{port}/", bodies, 32, seconds)
                        runs[impl].append({**row, "load_average": os.getloadavg()[0]})
            rows += [median_row(f"gateway stack, 1 KiB, {name}", impl, r) for impl, r in runs.items()]
    if release is not None:
        cost = subprocess.run(["taskset", "-c", "0", str(release / "replay-cost")], capture_output=True, text=True,
                              check=True, timeout=300)
        rows.append({"group": "replay guard", "impl": "ReplayGuard::admit, full (2^20 keys)",
                     "load_average": os.getloadavg()[0], **json.loads(cost.stdout.strip().splitlines()[-1])})
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    for group, members in groups.items():
        print(f"\n== {group}")
        if group == "replay guard":
            r = members[0]
            for kem in ("x25519", "x25519kyber768"):
                c = r[kem]
                print(f"  {kem:<16} admit fresh {c['admit_fresh_ns']:.0f} ns, replayed {c['admit_replayed_ns']:.0f} ns;"
                      f" decapsulate {c['decapsulate_ns']:.0f} ns; guard/decapsulate"
                      f" {c['admit_fresh_ns'] / c['decapsulate_ns']:.3f}  load {r['load_average']:.2f}")
            print(f"  peak memory of the full guard {r['guard_peak_mib']:.1f} MiB")
            continue
        base = members[0]
        for r in members:
            ratio = f"  hyper/this {base['rps'] / r['rps']:.2f}x" if r is not base and r["rps"] else ""
            print(f"  {r['impl']:<40} {r['rps']:>8.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                  f"  errors {r['errors']}{ratio}\n  {'':<40} rounds {r['rounds_rps']} req/s, load {r['load_average']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of load per stack and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the rows are their medians")
    parser.add_argument("--json", default=str(edge_load.ROOT / "target" / "edge-stacks.json"))
    parser.add_argument("--no-cargo", action="store_true", help="use the binaries already built")
    parser.add_argument("--serve-aiohttp", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kem", type=int, default=0x0020, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_aiohttp:
        serve_aiohttp(args.kem, edge_load.SEED, args.upstream)
        return 0
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        print("edge_stacks: skipping: needs `taskset` and two CPUs (gateway on CPU 0, load on CPU 1)")
        return 0
    if args.no_cargo is False or not edge_load.LOAD.exists():
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "openpcc-edge", "--bin", "openpcc-edge-load"],
                       cwd=edge_load.ROOT, check=True)
    with tempfile.TemporaryDirectory() as name:
        rows = measure(Path(name), args.seconds, args.rounds, cargo=not args.no_cargo)
    print_table(rows)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=2))
    print(f"\nedge_stacks: rows written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
