"""``openpcc demo``: a whole local stack, one private chat completion, and what each hop saw.

It starts a :class:`~openpcc.services.supervisor.Stack` in a fresh temporary home (on the reference's
ports when they are free, else on a free block), with a transparent tap (:mod:`openpcc.services.tap`)
in front of the relay, the gateway, the router and each compute node. ``openpcc.Client`` then sends one
chat completion through relay → gateway → router → node; the embedded SmolLM2 model's answer is
printed token by token as it arrives. Then a table shows, per hop, the bytes each role counted
(``openpcc_<role>_bytes_received_total`` / ``_sent_total`` from its ``/metrics``) and the bytes and
HTTP heads the tap saw arriving there, header values abbreviated; bodies are never recorded, and the
plaintext is only in the client and the node. Finally every role is stopped and the home deleted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from openpcc.exceptions import OpenPCCError, PortInUseError

DEFAULT_PROMPT = "In one sentence, why does a relay that cannot read my request help my privacy?"
VALUE_SHOWN = 24  # longer header values are shown as their length only


def _free_layout() -> int | None:
    """``None`` (the reference's ports) when they are all free, else a free base port."""
    import random

    from openpcc.services.supervisor import MAX_NODES, PORT_OFFSETS, check_ports_free, role_ports

    try:
        check_ports_free(role_ports(None, 2))
        return None
    except PortInUseError:
        pass
    for _ in range(50):
        base = random.randrange(20000, 60000)
        try:
            check_ports_free(role_ports(base, PORT_OFFSETS["node"] + MAX_NODES - 10))
            return base
        except PortInUseError:
            continue
    raise PortInUseError("no free block of loopback ports for the demo")


def _taps(ports: Mapping[str, int]) -> tuple[Any, dict[str, Any]]:
    """A tap in front of each hop, and the config overrides that send the stack through them."""
    from openpcc.services.tap import TapSet

    taps = TapSet()
    relay = taps.add("client → relay", ports["relay"])
    gateway = taps.add("relay → gateway", ports["gateway"])
    router = taps.add("gateway → router", ports["router"])
    overrides: dict[str, Any] = {
        "relay": {"gateway_url": gateway.url + "/"},
        "gateway": {"router_url": router.url},
        "client": {"relay_url": relay.url},
        "node": {},
    }
    for label, port in ports.items():
        if label.startswith("node-"):
            tap = taps.add(f"router → {label}", port)
            overrides["node"][label.split("-", 1)[1]] = {"advertise_url": tap.url + "/"}
    return taps, overrides


def _metric(url: str, name: str) -> float | None:
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{")
    ]
    return sum(values) if values else None


def _role_bytes(stack: Any, label: str) -> str:
    role, _, name = label.partition("-")
    url = stack.url(role, name or None)
    got = _metric(url, f"openpcc_{role}_bytes_received_total")
    sent = _metric(url, f"openpcc_{role}_bytes_sent_total")
    if got is None and sent is None:
        return "not exported"
    return f"{_n(got)} in / {_n(sent)} out"


def _n(value: float | None) -> str:
    return "-" if value is None else f"{int(value):,}"


def _fields(fields: list[tuple[str, str]]) -> str:
    shown = []
    for name, value in fields:
        text = value if len(value) <= VALUE_SHOWN else f"<{len(value)} bytes>"
        shown.append(f"{name}: {text}")
    return ", ".join(shown)


def _print_hops(stack: Any, taps: Any, out: IO[str]) -> None:
    receivers = {"client → relay": "relay", "relay → gateway": "gateway", "gateway → router": "router"}
    out.write("\nWhat each hop saw (bodies are never recorded; the prompt and the answer exist only in the\n"
              "client and in the node that answered):\n")
    for hop, tap in taps.taps.items():
        receiver = receivers.get(hop) or hop.split("→ ")[1]
        if receiver == "router" and stack.router_missing:
            continue
        out.write(f"\n{hop}: tap {tap.bytes_up:,} bytes up / {tap.bytes_down:,} down; "
                  f"{receiver} counted {_role_bytes(stack, receiver)}\n")
        for exchange in tap.exchanges:
            out.write(f"  > {exchange.request.start_line}  [{_fields(exchange.request.headers)}]\n")
            if exchange.response is not None:
                response = exchange.response
                trailers = f"  trailers [{_fields(response.trailers)}]" if response.trailers else ""
                out.write(f"  < {response.start_line}  [{_fields(response.headers)}]{trailers}\n")


def _chat(stack: Any, prompt: str, max_tokens: int, out: IO[str]) -> None:
    from openpcc.client import ChatStream, Client

    out.write(f"\nprompt > {prompt}\nanswer > ")
    out.flush()
    started = time.monotonic()
    first: float | None = None
    with Client(stack.config_path) as client:
        answer = client.chat([{"role": "user", "content": prompt}], stream=True, max_tokens=max_tokens)
        assert isinstance(answer, ChatStream)  # stream=True
        with answer:
            for text in answer:
                first = first or time.monotonic()
                out.write(text)
                out.flush()
        out.write("\n")
        if first is not None:
            out.write(f"(first token after {first - started:.2f}s, whole answer {time.monotonic() - started:.2f}s)\n")
        out.write(answer.verification.render() + "\n")


def run(prompt: str, max_tokens: int, engine: str, out: IO[str] = sys.stdout) -> int:
    from openpcc.services.supervisor import Stack, role_ports

    with tempfile.TemporaryDirectory(prefix="openpcc-demo-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir(mode=0o700)
        log_path = Path(tmp) / "stack.log"
        base = _free_layout()
        taps, overrides = _taps(role_ports(base, 2))
        with taps, open(log_path, "w") as log:
            out.write("Starting a local stack: every role its own process (docs/stack.md)...\n")
            out.flush()
            stack = Stack(home, base_port=base, engine=engine, log_stream=log, overrides=overrides)
            try:
                stack.start(timeout=180)
                out.write(stack.summary(how_to_chat=False) + "\n")
                if stack.router_missing:
                    out.write("\nThis build has no router (`openpcc router`): no private request can be routed.\n")
                    return 1
                _chat(stack, prompt, max_tokens, out)
                _print_hops(stack, taps, out)
            except (OpenPCCError, OSError) as exc:
                log.flush()
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
                out.write(f"\nopenpcc demo failed: {type(exc).__name__}: {exc}\nlast stack log lines:\n{tail}\n")
                return 1
            finally:
                pids = list(stack.pids().values())
                stack.stop()
                out.write(f"\nStopped {len(pids)} processes; the temporary home is deleted.\n")
    return 0


def main(args: argparse.Namespace) -> int:
    return run(args.prompt or DEFAULT_PROMPT, args.max_tokens, args.engine)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", help="what to ask (default: a question about relays)")
    parser.add_argument("--max-tokens", type=int, default=64, help="most tokens in the answer (default 64)")
    parser.add_argument(
        "--engine", choices=("llama", "echo"), default="llama",
        help="the nodes' engine: the embedded SmolLM2 model (default) or the echo engine",
    )
