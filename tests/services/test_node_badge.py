"""The compute node's badge checks (spec §5.1, §8.9) on a real node process (stopped by PID, echo engine, its
request key in software: the badge checks do not depend on where the key lives). Each attack is stopped by
the check named for it, answered inside the encrypted response with the whole credit refunded, and the
badge never reaches the node's log."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openpcc import bhttp, compute
from openpcc.badge import HEADER, Badge, public_key_pem
from support.servers import RoleProcess, free_port, role_process

from .test_node import (
    REFUND,
    chat_request,
    info,
    node_config,
    open_answer,
    outer_headers,
    run,
    seal,
    send,
    sse_text,
)

AUTH_KEY = Ed25519PrivateKey.generate()
CREDIT = 4096


def badge_node(tmp: Path, **extra: Any) -> Iterator[RoleProcess]:
    key_file = tmp / "badge-public-key.pem"
    key_file.write_bytes(public_key_pem(AUTH_KEY))
    port = free_port()
    text = node_config(port, danger_software_request_key=True, badge_public_key=str(key_file), **extra)
    with role_process("node", text, tmp, port, ("--name", "a")) as proc:
        yield proc


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoleProcess]:
    yield from badge_node(tmp_path_factory.mktemp("badge-node"))


def with_badge(value: str | None, *, model: str = "echo", extra: int = 0) -> bhttp.Request:
    request = chat_request("hello badge")
    if model != "echo":
        body = json.loads(request.content)
        body["model"] = model
        request = request.replace(content=json.dumps(body).encode())
    headers = list(request.headers)
    if value is not None:
        headers.append((HEADER.lower().encode(), value.encode() + b"A" * extra))
    return request.replace(headers=headers)


def ask(node: RoleProcess, request: bhttp.Request) -> tuple[int | None, bytes, int]:
    me = info(node)
    sealed = seal(me, request)
    answer = run(send(node, outer_headers(sealed, credit=CREDIT), sealed.body))
    assert answer.status == 200  # refusals travel inside the encryption, as the reference
    status, body = open_answer(sealed, me["node_id"], answer.wire)
    return status, body, compute.parse_refund_amount_trailer(answer.trailers[REFUND])


def test_a_badge_the_auth_bank_signed_for_the_model_is_served(node: RoleProcess) -> None:
    badge = Badge.issue(AUTH_KEY, ["echo", "other:7b"])
    status, body, _refund = ask(node, with_badge(badge.to_header()))
    assert status == 200 and sse_text(body) == "hello badge"


FORGED = Badge.issue(Ed25519PrivateKey.generate(), ["echo"])
OTHER_MODELS = Badge.issue(AUTH_KEY, ["other:7b"])
ATTACKS: dict[str, tuple[str | None, int, str, str, int]] = {
    # name: (header value, inner status, code, words of the reason, extra header bytes)
    "missing badge": (None, 400, "ErrBadgeInvalid", "badge is not provided", 0),
    "empty badge": ("", 400, "ErrBadgeInvalid", "badge is not provided", 0),
    "not a badge": (base64.b64encode(b"\xff\x00junk").decode(), 400, "ErrBadgeInvalid", "badge.decode", 0),
    "forged signature": (FORGED.to_header(), 400, "ErrBadgeInvalid", "badge.signature", 0),
    # a genuine signature for other models, the model list widened to this one
    "badge for other models": (
        Badge(("echo", "other:7b"), OTHER_MODELS.signature).to_header(), 400, "ErrBadgeInvalid", "badge.signature", 0,
    ),
    "model not in badge": (OTHER_MODELS.to_header(), 400, "ErrUnsupportedModel", "does not grant", 0),
    "oversize header": (Badge.issue(AUTH_KEY, ["echo"]).to_header(), 431, "ErrHeaderTooLarge", "1024", 1024),
}


@pytest.mark.parametrize("case", sorted(ATTACKS))
def test_attacks_are_stopped_by_their_check(node: RoleProcess, case: str) -> None:
    value, expected, code, reason, extra = ATTACKS[case]
    status, body, refund = ask(node, with_badge(value, extra=extra))
    answer = json.loads(body)
    assert (status, answer["code"]) == (expected, code), answer
    assert reason in answer["error"]
    assert refund == CREDIT  # the whole credit back, as for every 4xx
    if value:
        assert value not in node.output()  # never logged


def test_two_badges_are_refused(node: RoleProcess) -> None:
    value = Badge.issue(AUTH_KEY, ["echo"]).to_header()
    request = with_badge(value)
    request = request.replace(headers=[*request.headers, (HEADER.lower().encode(), value.encode())])
    status, body, _refund = ask(node, request)
    assert status == 400 and json.loads(body)["code"] == "ErrBadgeInvalid"


def test_a_request_without_a_model_is_refused_once_badges_are_checked(node: RoleProcess) -> None:
    request = with_badge(Badge.issue(AUTH_KEY, ["echo"]).to_header())
    request = request.replace(content=json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode())
    status, body, _refund = ask(node, request)
    assert status == 400 and json.loads(body)["code"] == "ErrMissingRequiredField"


def test_badges_optional_for_a_rollout_but_checked_when_sent(tmp_path: Path) -> None:
    for node in badge_node(tmp_path, require_badge=False):
        status, body, _refund = ask(node, with_badge(None))
        assert status == 200 and sse_text(body) == "hello badge"
        status, body, _refund = ask(node, with_badge(FORGED.to_header()))
        assert status == 400 and json.loads(body)["code"] == "ErrBadgeInvalid"
        assert 'openpcc_node_inner_refused_total{code="ErrBadgeInvalid"} 1.0' in metrics(node)


def metrics(node: RoleProcess) -> str:
    with urllib.request.urlopen(node.url + "/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def test_a_node_refuses_to_start_with_a_key_that_is_not_ed25519(tmp_path: Path) -> None:
    from openpcc import config
    from openpcc.exceptions import ConfigError
    from openpcc.services.node import NodeService

    bad = tmp_path / "not-a-key.pem"
    bad.write_text("not a key")
    path = tmp_path / "node.toml"
    path.write_text(node_config(0, danger_software_request_key=True, badge_public_key=str(bad)))
    cfg = config.load(path, env={config.HOME_ENV: str(tmp_path / "home")}).role("node", "a")
    with pytest.raises(ConfigError):
        NodeService(cfg)
