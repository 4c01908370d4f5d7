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
VALUE_SHOWN = 64  # longer header values are shown as their length only
#: Headers whose values are credentials or key material: always shown as their length only.
CREDENTIAL_HEADERS = frozenset({
    "x-credit", "x-refund", "x-encapsulated-key", "x-routing-info", "authorization", "cf-authorization",
})


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
        base = random.randrange(20000, 32000)  # below the ephemeral range, where outgoing connections bind
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
    bank = taps.add("gateway → bank", ports["bank"])
    overrides: dict[str, Any] = {
        "relay": {"gateway_url": gateway.url + "/"},
        "gateway": {"router_url": router.url, "bank_url": bank.url},
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
        secret = name.lower() in CREDENTIAL_HEADERS
        text = value if len(value) <= VALUE_SHOWN and not secret else f"<{len(value)} bytes>"
        shown.append(f"{name}: {text}")
    return ", ".join(shown)


ROUTINE_PATHS = ("/_health", "/healthz", "/metrics")


def _marks(taps: Any) -> dict[str, tuple[int, int, int]]:
    """Each tap's exchanges and bytes so far (the table shows only what came after)."""
    return {hop: (len(tap.exchanges), tap.bytes_up, tap.bytes_down) for hop, tap in taps.taps.items()}


def _print_hops(stack: Any, taps: Any, since: Mapping[str, tuple[int, int, int]], out: IO[str]) -> None:
    receivers = {
        "client → relay": "relay", "relay → gateway": "gateway", "gateway → router": "router", "gateway → bank": "bank",
    }
    out.write("\nWhat each hop saw during the chat (health checks left out; bodies are never recorded: the\n"
              "prompt and the answer exist in plaintext only in the client and in the node that answered):\n")
    for hop, tap in taps.taps.items():
        receiver = receivers.get(hop) or hop.split("→ ")[1]
        if receiver == "router" and stack.router_missing:
            continue
        first, up, down = since.get(hop, (0, 0, 0))
        out.write(f"\n{hop}: {tap.bytes_up - up:,} bytes up / {tap.bytes_down - down:,} down during the chat; "
                  f"{receiver} counted {_role_bytes(stack, receiver)} since it started\n")
        shown = [
            e for e in tap.exchanges[first:]
            if e.request.start_line.split(" ")[1:2] and e.request.start_line.split(" ")[1] not in ROUTINE_PATHS
        ]
        for exchange in shown:
            out.write(f"  > {exchange.request.start_line}  [{_fields(exchange.request.headers)}]\n")
            if exchange.response is not None:
                response = exchange.response
                trailers = f"  trailers [{_fields(response.trailers)}]" if response.trailers else ""
                out.write(f"  < {response.start_line}  [{_fields(response.headers)}]{trailers}\n")


def _chat(stack: Any, prompt: str, max_tokens: int, out: IO[str]) -> None:
    from openpcc.client import ChatStream, Client

    first: float | None = None
    with Client(stack.config_path) as client:
        # The first credits are withdrawn ahead, as a wallet in use keeps some: its random waits between
        # bank calls (which unlink a withdrawal from the request it pays for) stay out of the timing below.
        out.write("\nwithdrawing the first credits (random waits between bank calls, by design)...\n")
        out.flush()
        withdrawing = time.monotonic()
        held = client.wallet.refill()
        out.write(f"{held} credits held after {time.monotonic() - withdrawing:.1f}s\n")
        out.write(f"\nprompt > {prompt}\n")
        out.flush()
        started = time.monotonic()
        answer = client.chat([{"role": "user", "content": prompt}], stream=True, max_tokens=max_tokens)
        if not isinstance(answer, ChatStream):  # stream=True always streams
            raise TypeError("expected a streamed answer")
        answering = time.monotonic()
        out.write("answer > ")
        with answer:
            for text in answer:
                first = first or time.monotonic()
                out.write(text)
                out.flush()
        done = time.monotonic()
        out.write("\n")
        out.write(
            f"(the node began answering {answering - started:.2f}s after the call: nodes fetched and "
            f"verified, request sealed and sent; first token {((first or done) - answering):.2f}s later, "
            f"last {done - answering:.2f}s later)\n"
        )
        _print_verification(answer.verification.render(), out)


def _print_verification(rendered: str, out: IO[str]) -> None:
    """The summary lines of the node's verification and how many checks passed (all are listed by
    ``openpcc chat --show-verification``)."""
    lines = rendered.splitlines()
    passed = [line for line in lines if line.strip().startswith("[pass]")]
    for line in lines:
        if not line.strip().startswith("[pass]"):
            out.write(line + "\n")
    out.write(f"  {len(passed)} checks passed (openpcc chat --show-verification lists them)\n")


def _choose_engine(engine: str, out: IO[str]) -> str:
    """``auto``: the embedded model when it is installed, else the echo engine, said loudly."""
    if engine != "auto":
        return engine
    from openpcc.services.engines.llama import INSTALL_HINT, missing_prerequisite

    absent = missing_prerequisite()
    if absent is None:
        return "llama"
    out.write(
        f"NOTE: the embedded model is not installed ({absent}): the nodes run the echo engine, which repeats "
        f"the prompt. To hear the model: {INSTALL_HINT}.\n"
    )
    return "echo"


def run(
    prompt: str, max_tokens: int, engine: str = "auto", out: IO[str] = sys.stdout, base_port: int | None = None
) -> int:
    from openpcc.services.supervisor import Stack, role_ports

    engine = _choose_engine(engine, out)
    with tempfile.TemporaryDirectory(prefix="openpcc-demo-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir(mode=0o700)
        log_path = Path(tmp) / "stack.log"
        base = base_port if base_port is not None else _free_layout()
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
                since = _marks(taps)
                _chat(stack, prompt, max_tokens, out)
                _print_hops(stack, taps, since, out)
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
    return run(args.prompt or DEFAULT_PROMPT, args.max_tokens, args.engine, base_port=args.base_port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", help="what to ask (default: a question about relays)")
    parser.add_argument("--max-tokens", type=int, default=64, help="most tokens in the answer (default 64)")
    parser.add_argument(
        "--engine", choices=("auto", "llama", "echo"), default="auto",
        help="the nodes' engine: the embedded SmolLM2 model, or the echo engine; auto (default): the model "
        "when it is installed (make model), else the echo engine with a note",
    )
    parser.add_argument(
        "--base-port", type=int, metavar="N",
        help="run the stack on a block of ports from N (default: the reference's ports when free, else a free block)",
    )
