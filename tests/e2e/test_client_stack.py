"""openpcc.Client and AsyncClient against the whole stack, every role its own process on loopback
(``support.client_stack``): streamed answers for several users at once (sync and async), the refund reaching
the wallet, a node that fails the client's policy never used, client-fresh versus router-admitted evidence,
and ``openpcc chat``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpcc
import pytest
from openpcc.client import AsyncChatStream, ChatCompletion, ChatStream
from openpcc.exceptions import NoVerifiedNodeError, PolicyRejectedError
from support.client_stack import ROOT, ClientStack, client_stack

TOKEN_DELAY = 0.05


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientStack]:
    with client_stack(
        tmp_path_factory.mktemp("stack"), nodes=("a", "b", "bad"), off_policy=("bad",), echo_token_delay=TOKEN_DELAY
    ) as running:
        yield running


def good_ids(stack: ClientStack) -> set[str]:
    return {stack.node_ids["a"], stack.node_ids["b"]}


def prompt(i: int) -> str:
    return " ".join(f"user{i}-word{j}" for j in range(8))


def test_streaming_for_several_users_at_once_sync(stack: ClientStack) -> None:
    results: dict[int, Any] = {}
    with openpcc.Client(stack.client_config("sync", concurrency=4)) as client:

        def user(i: int) -> None:
            started = time.monotonic()
            answer = client.chat([{"role": "user", "content": prompt(i)}], stream=True)
            assert isinstance(answer, ChatStream)
            pieces, arrivals = [], []
            for text in answer:
                pieces.append(text)
                arrivals.append(time.monotonic() - started)
            results[i] = ("".join(pieces), arrivals, answer.verification)

        threads = [threading.Thread(target=user, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert sorted(results) == [0, 1, 2, 3]
    for i, (text, arrivals, verification) in results.items():
        assert text == prompt(i)
        assert len(arrivals) > 1 and arrivals[-1] - arrivals[0] >= 3 * TOKEN_DELAY  # pieces came as produced
        assert verification.valid and verification.node_id in good_ids(stack)
        assert verification.freshness == "client" and verification.nonce and len(verification.nonce) == 64
        assert any("software TPM" in d for d in verification.dev_trust)
        assert verification.policy_name == "dev"


def test_streaming_for_several_users_at_once_async(stack: ClientStack) -> None:
    async def main() -> list[tuple[str, str]]:
        async with openpcc.AsyncClient(stack.client_config("async", concurrency=4)) as client:

            async def user(i: int) -> tuple[str, str]:
                answer = await client.chat([{"role": "user", "content": prompt(i)}], stream=True)
                assert isinstance(answer, AsyncChatStream)
                return "".join([t async for t in answer]), answer.node_id

            return await asyncio.gather(*(user(i) for i in range(4)))

    answers = asyncio.run(asyncio.wait_for(main(), timeout=120))
    assert [text for text, _ in answers] == [prompt(i) for i in range(4)]
    assert {node for _, node in answers} <= good_ids(stack)


def test_request_bytes_and_whole_completion(stack: ClientStack) -> None:
    with openpcc.Client(stack.client_config("bytes")) as client:
        body = json.dumps({"model": "echo", "stream": True, "messages": [{"role": "user", "content": "raw bytes"}]})
        with client.request("POST", "/v1/chat/completions", body=body.encode(), stream=True) as response:
            assert response.status == 200
            assert ("content-type", "text/event-stream") in [(k, v.split(";")[0]) for k, v in response.headers]
            raw = response.read()
        assert b"raw" in raw and b"[DONE]" in raw
        with pytest.raises(NoVerifiedNodeError, match="model=echo"):
            client.request("POST", "/v1/chat/completions", body=body.encode(), headers={"X-Confsec-Node-Tags": "gpu"})
        whole = client.chat([{"role": "user", "content": "all at once"}])
        assert isinstance(whole, ChatCompletion) and whole.text == "all at once"
        assert whole.verification.valid and whole.node_id in good_ids(stack)


def test_the_auth_banks_badge_is_sent_and_checked_by_every_node(stack: ClientStack) -> None:
    from openpcc.badge import load_public_key

    with openpcc.Client(stack.client_config("badge")) as client:
        assert client.chat([{"role": "user", "content": "badged"}]).text == "badged"
        badge = client.wallet.badge()
        assert badge is not None and badge.models == ("echo",)
        assert stack.badge_public_key is not None
        badge.verify(load_public_key(stack.badge_public_key))
    for name in stack.node_ids:
        log = stack.roles[f"node-{name}"].output()
        assert "badges are not checked" not in log and badge.to_header() not in log


def test_refund_reaches_the_wallet(stack: ClientStack) -> None:
    with openpcc.Client(stack.client_config("refund", concurrency=2, batch=4)) as client:
        wallet = client.wallet
        wallet.refill()
        before = wallet.status().held + wallet.account_balance()
        answer = client.chat([{"role": "user", "content": "short"}])
        assert isinstance(answer, ChatCompletion) and answer.refund and answer.refund > 0
    after = wallet.status().held + wallet.account_balance()  # close() waited for the refund's deposit
    assert after == before - 4096 + answer.refund
    assert wallet.status().pending == [] and wallet.status().lost == 0


def test_a_node_failing_the_policy_is_never_used(stack: ClientStack) -> None:
    bad = stack.node_ids["bad"]
    with openpcc.Client(stack.client_config("policy")) as client:
        candidates = client.candidates("echo", refresh=True)
        assert {c.node_id for c in candidates} == good_ids(stack)
        used = set()
        for i in range(6):
            answer = client.chat([{"role": "user", "content": f"who answers {i}"}])
            assert isinstance(answer, ChatCompletion)
            used.add(answer.node_id)
        assert bad not in used and used <= good_ids(stack)


def test_every_node_failing_the_policy_is_a_policy_error(stack: ClientStack, tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text((ROOT / "policies" / "dev.toml").read_text().replace(
        '0 = ["' + "0" * 64 + '"]', '0 = ["' + "1" * 64 + '"]'
    ))
    with (
        openpcc.Client(stack.client_config("strict", node_policy=str(strict))) as client,
        pytest.raises(PolicyRejectedError, match=r"policy\.pcr\.0") as caught,
    ):
        client.chat([{"role": "user", "content": "never sent"}])
    assert set(caught.value.rejections) == set(stack.node_ids.values())
    assert "never sent" not in str(caught.value)


def test_client_nonce_versus_router_freshness(stack: ClientStack) -> None:
    quotes_before = sum(stack.metric(f"node-{n}", "openpcc_node_quotes_total") for n in ("a", "b"))
    with openpcc.Client(stack.client_config("fresh", evidence_freshness="client")) as client:
        fresh = client.candidates("echo", refresh=True)
    quotes_after = sum(stack.metric(f"node-{n}", "openpcc_node_quotes_total") for n in ("a", "b"))
    assert quotes_after >= quotes_before + 2  # each node quoted over this client's nonce
    assert all(c.summary.freshness == "client" and c.summary.nonce for c in fresh)
    nonce_checks = [c for c in fresh[0].summary.checks if c.name == "tpm.quote.nonce"]
    assert nonce_checks and nonce_checks[0].ok

    with openpcc.Client(stack.client_config("standing", evidence_freshness="router")) as client:
        standing = client.candidates("echo", refresh=True)
        answer = client.chat([{"role": "user", "content": "standing evidence"}])
    assert {c.node_id for c in standing} == good_ids(stack)
    # The router names the nonce it had each node quote over: verified in full, age included.
    assert all(c.summary.freshness == "router" and c.summary.valid for c in standing)
    assert all(c.summary.nonce and c.summary.nonce not in {f.summary.nonce for f in fresh} for c in standing)
    assert not any("age" in d or "require_nonce" in d for d in standing[0].summary.dev_trust)
    assert {c.name for c in standing[0].summary.checks} >= {"tpm.quote.nonce", "evidence.age"}
    assert "router's nonce" in standing[0].summary.render()
    assert isinstance(answer, ChatCompletion) and answer.text == "standing evidence"


def test_openpcc_chat_streams_and_shows_the_verification(stack: ClientStack) -> None:
    config = stack.client_config("cli")
    done = subprocess.run(
        [sys.executable, "-m", "openpcc", "chat", "hello from the command line", "--config", str(config),
         "--show-verification"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("hello from the command line\n")
    assert "VERIFIED" in done.stdout and "policy: dev" in done.stdout and "[pass]" in done.stdout
    interactive = subprocess.run(
        [sys.executable, "-m", "openpcc", "chat", "--config", str(config)],
        input="first line\nsecond line\n\n", check=False, capture_output=True, text=True, timeout=120,
    )
    assert interactive.returncode == 0, interactive.stderr[-2000:]
    assert "first line" in interactive.stdout and "second line" in interactive.stdout


def wait_metric(stack: ClientStack, role: str, name: str, value: float, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while stack.metric(role, name) != value:
        assert time.monotonic() < deadline, f"{name} did not reach {value}"
        time.sleep(0.2)


def test_abandoned_answer_and_a_node_gone_before_answering(tmp_path: Path) -> None:
    """Closing an answer mid-stream stops it and leaves the wallet whole; a request whose verified node
    died is refused by the router before any node answered: the credit comes back and the error says why."""
    with client_stack(tmp_path, nodes=("only",), echo_token_delay=0.2) as single:
        with openpcc.Client(single.client_config("gone", concurrency=1, batch=3)) as client:
            wallet = client.wallet
            answer = client.chat([{"role": "user", "content": prompt(9) + " " + prompt(8)}], stream=True)
            assert isinstance(answer, ChatStream)
            first = next(iter(answer))
            assert first
            answer.close()  # abandoned: the node stops, the router spends the credit
            wait_metric(single, "router", "openpcc_router_active_streams", 0)
            wallet.refill()
            held = wallet.status().held
            client.candidates("echo")  # cached: the node is verified
            single.roles["node-only"].terminate()
            wait_metric(single, "router", "openpcc_router_routable_nodes", 0)
            with pytest.raises(NoVerifiedNodeError, match="lists no node") as caught:
                client.chat([{"role": "user", "content": "nobody home"}])
            assert "nobody home" not in str(caught.value)
        # close() waited for the credit to come back
        assert wallet.status().held == held
        assert wallet.status().pending == [] and wallet.status().lost == 0


def test_router_freshness_without_a_named_nonce(stack: ClientStack) -> None:
    """Standing evidence (over an empty nonce) keeps its signed age; evidence over a nonce nobody names is
    judged on every other check, and the summary says freshness was left to the router."""
    import secrets
    import urllib.request

    from openpcc.attestation import load_policy
    from openpcc.client import _judge_standing

    policy = load_policy((ROOT / "policies" / "dev.toml").read_text())
    node = stack.url("node-a")
    with urllib.request.urlopen(node + "/evidence", timeout=20) as resp:
        standing = resp.read()
    applied, verdict, proof = _judge_standing(standing, policy)
    assert verdict.valid and proof == b"" and applied.max_evidence_age == policy.max_evidence_age
    request = urllib.request.Request(
        node + "/evidence", data=secrets.token_bytes(32), method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request, timeout=20) as resp:
        unnamed = resp.read()
    applied, verdict, proof = _judge_standing(unnamed, policy)
    assert verdict.valid and proof is None and applied.max_evidence_age is None and not applied.require_nonce
