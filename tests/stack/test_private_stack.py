"""The whole stack, every role its own process on loopback (``Stack`` with the echo engine), used through
``openpcc.Client`` as a user would: streamed private answers to several users at once, and
confidentiality: a canary in the prompt (and, echoed, in the answer) never appears in any byte the relay,
the gateway, the router, the banks or the nodes receive or send on loopback, nor in any role's output,
while the client does see it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpcc.client import AsyncChatStream, AsyncClient, ChatStream, Client
from support.capture import Capture
from support.stack import RunningStack, echo_stack

USERS = 6


def canary() -> str:
    return "CANARY" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with echo_stack(tmp_path_factory.mktemp("stack"), nodes=2, echo_token_delay=0.002) as stack:
        yield stack


def stack_ports(running: RunningStack) -> dict[str, int]:
    ports = {label: int(running.stack.layout.url(label).rsplit(":", 1)[1]) for label in running.stack.labels}
    return ports


def private_chat(config: Path, prompt: str) -> tuple[list[str], str]:
    """One streamed private chat; returns the text pieces and the node that answered."""
    with Client(config) as client:
        stream = client.chat([{"role": "user", "content": prompt}], stream=True)
        assert isinstance(stream, ChatStream)
        with stream:
            pieces = list(stream)
        return pieces, stream.node_id


def test_a_streamed_private_answer_is_the_echo_from_a_verified_node(running: RunningStack) -> None:
    prompt = "the quick brown fox jumps over the lazy dog " * 3
    with Client(running.stack.config_path) as client:
        stream = client.chat([{"role": "user", "content": prompt}], stream=True)
        assert isinstance(stream, ChatStream)
        with stream:
            pieces = list(stream)
    assert "".join(pieces) == prompt
    assert len(pieces) > 10, "the answer must arrive token by token"
    assert stream.verification.valid, stream.verification.render()
    assert stream.verification.node_id == stream.node_id


def test_several_users_at_once_each_get_their_own_stream(running: RunningStack) -> None:
    prompts = [f"user {i} says {secrets.token_hex(4)} " * 4 for i in range(USERS)]

    async def one(client: AsyncClient, prompt: str) -> str:
        stream = await client.chat([{"role": "user", "content": prompt}], stream=True)
        assert isinstance(stream, AsyncChatStream)
        text = ""
        try:
            async for piece in stream:
                text += piece
        finally:
            await stream.aclose()
        return text

    async def everyone() -> list[str]:
        # Half require evidence quoted over their own nonce, half accept the router-fresh evidence. A node
        # quotes at most `evidence_quotes_per_second` client nonces (5 at once by default): more
        # first-contact clients of the first kind at the same instant find no node with fresh evidence.
        clients = [AsyncClient(running.stack.config_path, evidence_freshness="client" if i % 2 else "router")
                   for i in range(USERS)]
        try:
            return list(await asyncio.gather(*(one(c, p) for c, p in zip(clients, prompts, strict=True))))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    answers = asyncio.run(asyncio.wait_for(everyone(), timeout=120))
    assert answers == prompts


def test_a_canary_never_travels_or_is_logged_in_clear(running: RunningStack, tmp_path: Path) -> None:
    secret = canary()
    ports = stack_ports(running)
    seen: list[str] = []
    with Capture(tmp_path, ports=ports.values()) as cap:
        pieces, node_id = private_chat(running.stack.config_path, f"please repeat {secret} twice {secret}")
        seen.append("".join(pieces))
    # The client sees it: the test could fail.
    assert seen == [f"please repeat {secret} twice {secret}"]
    # Every hop carried the request and the answer ...
    streams = cap.streams()
    for label in ("relay", "gateway", "router"):
        carried = sum(len(data) for flow, data in streams.items() if ports[label] in (flow[1], flow[3]))
        assert carried > 1000, f"the capture saw no traffic at the {label}"
    # ... and none of it in clear, in any form, on any hop.
    assert cap.find(secret) == []
    assert running.all_output().strip(), "the roles' output was not recorded"
    assert running.files_holding(secret.encode()) == []
    assert node_id  # the answer named its node


def test_the_canary_check_would_see_a_leak(running: RunningStack, tmp_path: Path) -> None:
    """The capture is not blind to the stack's ports: bytes sent in clear to the relay's port are found."""
    import socket

    secret = canary()
    relay_port = stack_ports(running)["relay"]
    with Capture(tmp_path, ports=[relay_port]) as cap, \
            socket.create_connection(("127.0.0.1", relay_port), timeout=5) as conn:
        conn.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(secret)}\r\n\r\n{secret}".encode())
        conn.recv(4096)
    assert cap.find(secret)
