"""The client's pieces that need no running stack: the pinned gateway key choice (spec §2.3), the profile,
the requests it builds (opened by the gateway's and the node's real code), and the answer decoded from the
node's real token-stream sealer wrapped as the router and the gateway wrap it, with the refund trailer."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from openpcc import bhttp, compute, ohttp
from openpcc.client import (
    _SSE,
    AsyncPrivateResponse,
    CheckResult,
    PinnedGatewayKeys,
    VerificationSummary,
    VerifiedNode,
    _inner_request,
    _InnerStream,
    _load_profile,
    _model_of,
    _router_error,
)
from openpcc.credits import Issuer, Value
from openpcc.exceptions import (
    CandidatesUnavailableError,
    ClientConfigError,
    CompletionError,
    GatewayKeyError,
    ResponseStreamError,
    RouterError,
)
from openpcc.transparency.rotation import format_rfc3339nano
from support.currency_key import TEST_CURRENCY_KEY_PEM, load_test_currency_key

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def gateway_key(key_id: int) -> ohttp.GatewayKey:
    return ohttp.GatewayKey.from_seed(key_id, ohttp.X25519_KEM, secrets.token_bytes(32), [ohttp.HKDF_SHA256_AES128GCM])


def period(key_id: int, start: timedelta, end: timedelta) -> dict[str, Any]:
    return {
        "active_from": format_rfc3339nano(NOW + start),
        "active_until": format_rfc3339nano(NOW + end),
        "key_id": key_id,
    }


def pinned(keys: list[ohttp.GatewayKey], periods: Any) -> PinnedGatewayKeys:
    configs = ohttp.encode_key_configs([k.key_config for k in keys])
    return PinnedGatewayKeys.from_document(
        {"key_configs": base64.b64encode(configs).decode(), "rotation_periods": periods}
    )


def test_key_choice_takes_the_active_period_with_the_latest_start() -> None:
    old, new, future = gateway_key(1), gateway_key(2), gateway_key(3)
    periods = [
        period(1, -timedelta(days=30), timedelta(days=1)),
        period(2, -timedelta(hours=1), timedelta(days=30)),  # overlaps 1 and started later: wins
        period(3, timedelta(hours=1), timedelta(days=60)),  # not active yet
    ]
    keys = pinned([old, new, future], json.dumps(periods))
    assert keys.choose(NOW).key_id == 2
    assert keys.choose(NOW - timedelta(hours=2)).key_id == 1
    assert keys.choose(NOW + timedelta(days=2)).key_id == 3
    # Start is exclusive, end inclusive (keyrotation/period.go).
    assert keys.choose(NOW + timedelta(hours=1)).key_id == 2
    with pytest.raises(GatewayKeyError, match="no OHTTP key rotation period is active"):
        keys.choose(NOW + timedelta(days=90))


def test_key_choice_refuses_a_period_naming_an_unpinned_key_and_bad_documents() -> None:
    keys = pinned([gateway_key(1)], [period(9, -timedelta(days=1), timedelta(days=1))])
    with pytest.raises(GatewayKeyError, match="key 9, which is not pinned"):
        keys.choose(NOW)
    with pytest.raises(GatewayKeyError, match="need `key_configs`"):
        PinnedGatewayKeys.from_document({"key_configs": ""})
    with pytest.raises(GatewayKeyError, match="not base64"):
        PinnedGatewayKeys.from_document({"key_configs": "%%", "rotation_periods": "[]"})
    with pytest.raises(GatewayKeyError, match="rotation periods"):
        pinned([gateway_key(1)], "[]")


def test_key_choice_accepts_the_gateways_unix_second_periods() -> None:
    start = int((NOW - timedelta(days=1)).timestamp())
    keys = pinned([gateway_key(4)], [{"key_id": 4, "kem": 32, "active_from": start, "active_until": start + 86400 * 3}])
    assert keys.choose(NOW).key_id == 4


def write_profile(tmp_path: Path, **client: Any) -> Path:
    key = gateway_key(1)
    document = {
        "key_configs": base64.b64encode(ohttp.encode_key_configs([key.key_config])).decode(),
        "rotation_periods": [period(1, -timedelta(days=3650), timedelta(days=3650))],
    }
    (tmp_path / "gateway-keys.json").write_text(json.dumps(document))
    (tmp_path / "currency.pem").write_text(load_test_currency_key().public_key().to_pem())
    settings = {
        "gateway_keys": "gateway-keys.json",  # relative: next to the config file
        "node_policy": str(ROOT / "policies" / "dev.toml"),
        "currency_key": "currency.pem",
        "data_dir": str(tmp_path / "client"),
        "use_keyring": False,
        **client,
    }
    lines = ["[client]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    path = tmp_path / "openpcc.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_profile_pins_keys_policy_and_currency_key(tmp_path: Path) -> None:
    profile = _load_profile(write_profile(tmp_path, max_candidates=2, evidence_freshness="router"), {})
    assert profile.policy.name == "dev" and profile.policy_origin.endswith("policies/dev.toml")
    assert profile.max_candidates == 2 and profile.freshness == "router"
    assert profile.currency_key == load_test_currency_key().public_key()
    assert profile.keys.choose().key_id == 1
    assert _load_profile(write_profile(tmp_path), {"model": "echo"}).model == "echo"


@pytest.mark.parametrize("missing", ["gateway_keys", "node_policy", "currency_key"])
def test_profile_without_a_pinned_file_is_refused(tmp_path: Path, missing: str) -> None:
    path = write_profile(tmp_path, **{missing: ""})
    with pytest.raises(ClientConfigError, match=f"pins no {missing}"):
        _load_profile(path, {})


def test_profile_rejects_a_bad_freshness_setting(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="evidence_freshness must be `client` or `router`"):
        _load_profile(write_profile(tmp_path, evidence_freshness="sometimes"), {})


def test_inner_request_is_addressed_to_confsec_invalid_with_a_json_type() -> None:
    request = _inner_request("post", "/v1/chat/completions", {"Host": "evil.example", "X-A": "1"}, b'{"model":"m"}')
    assert (request.method, request.authority, request.path) == (b"POST", b"confsec.invalid", b"/v1/chat/completions")
    assert (b"content-type", b"application/json") in request.headers
    assert all(name != b"host" for name, _ in request.headers)
    assert _model_of(b'{"model": "echo", "messages": []}') == "echo"
    assert _model_of(b"not json") is None and _model_of(b'{"model": 3}') is None


def test_the_wallets_badge_travels_inside_the_sealed_request_only() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from openpcc.badge import Badge

    badge = Badge.issue(Ed25519PrivateKey.generate(), ["echo"])
    inner = _inner_request(
        "POST", "/v1/chat/completions", {"X-Confsec-Badge": "the application's own"}, b'{"model":"echo"}', badge
    )
    assert [v for n, v in inner.headers if n == b"x-confsec-badge"] == [badge.to_header().encode()]
    secret = ec.generate_private_key(ec.SECP256R1())
    public = secret.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    node_id = "0190c2a4-0000-7000-8000-000000000002"
    sealed = compute.seal_http_request(inner, [(node_id, public)])
    assert badge.signature not in sealed.body and badge.to_header().encode() not in sealed.body
    node = compute.NodeRequest.unwrap(
        sealed.media_type, sealed.encapsulated_keys[0][1], secret.private_numbers().private_value.to_bytes(32, "big")
    )
    opened = compute.open_http_request(node, sealed.body)
    sent = [v for n, v in opened.headers if n == b"x-confsec-badge"]
    assert len(sent) == 1 and Badge.from_header(sent[0]) == badge
    without = _inner_request("POST", "/v1/chat/completions", {}, b"{}")
    assert all(n != b"x-confsec-badge" for n, _ in without.headers)


class _Content:
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def readany(self) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


class _Wire:
    """The relay's HTTP response body, fed piece by piece (the socket is the only thing not real here)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.content = _Content(pieces)
        self.closed = False

    def close(self) -> None:
        self.closed = True


class _Wallet:
    def __init__(self) -> None:
        self.refunds: list[Any] = []
        self.unused: list[Any] = []

    def deposit_refund(self, credit: Any) -> None:
        self.refunds.append(credit)

    def deposit_unused(self, credit: Any) -> None:
        self.unused.append(credit)


class _Client:
    def __init__(self) -> None:
        self.wallet = _Wallet()
        self.spawned: list[tuple[str, Any]] = []

    def _spawn(self, what: str, fn: Any, *args: Any) -> None:
        self.spawned.append((what, args))
        fn(*args)


def summary(node_id: str) -> VerificationSummary:
    return VerificationSummary(
        node_id, "dev", "policies/dev.toml", (CheckResult("tpm.quote.signature", True, "ok"),),
        "client", "00" * 32, ("danger_allow_software_tpm",), NOW,
    )


def sealed_exchange(
    text: str, refund: str | None, *, cut: bool = False, router_error: str = "", node_cut: bool = False,
    late_cut: bool = False,
) -> tuple[Any, ...]:
    """A request sealed by the client code, answered by the node's real sealer, wrapped by the router
    (BHTTP with the X-Refund trailer) and the gateway (chunked OHTTP)."""
    secret = ec.generate_private_key(ec.SECP256R1())
    public = secret.public_key().public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.X962,
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["PublicFormat"]).PublicFormat.UncompressedPoint,
    )
    node_id = "0190c2a4-0000-7000-8000-000000000001"
    inner = _inner_request("POST", "/v1/chat/completions", {}, b'{"model":"echo"}')
    sealed = compute.seal_http_request(inner, [(node_id, public)])
    node = compute.NodeRequest.unwrap(
        sealed.media_type, sealed.encapsulated_keys[0][1], secret.private_numbers().private_value.to_bytes(32, "big")
    )
    opened = compute.open_http_request(node, sealed.body)
    assert opened.authority == b"confsec.invalid" and opened.content == b'{"model":"echo"}'
    sealer = node.token_stream_sealer(200, [(b"content-type", b"text/event-stream")], padding="fixed", now_ns=0)
    wire = [sealer.response_nonce, *sealer.start()]
    for i, word in enumerate(text.split(" ")):
        wire += sealer.feed(word.encode() + b" ", now_ns=(i + 1) * 10**9)
        wire += sealer.poll((i + 1) * 10**9 + 10**8)  # the frame's deadline passed: it goes out
    if not node_cut:
        wire += sealer.finish()
    trailers = [(b"x-refund", refund.encode())] if refund else []
    if router_error:
        trailers.append((b"x-openpcc-error", router_error.encode()))
    router_answer = bhttp.Response(
        status=200,
        headers=[(b"content-type", compute.CHUNKED_RESPONSE.encode()), (b"x-node-id", node_id.encode())],
        content=b"".join(wire),
        trailers=trailers,
    )
    gkey = gateway_key(7)
    data, client_ctx = ohttp.encapsulate_request(gkey.key_config, b"request")
    _plain, response_ctx = gkey.decapsulate_request(data)
    rsealer = ohttp.ResponseSealer(response_ctx, chunked=True)
    encoded = bhttp.encode(router_answer, indeterminate=True, pad_to_multiple_of=532, max_encoded_chunk_len=200)
    sealed_pieces = [p for i in range(0, len(encoded), 300) for p in rsealer.feed(encoded[i : i + 300])]
    body = b"".join(sealed_pieces + rsealer.finish())
    if cut:
        body = body[: len(body) * 2 // 3]  # the relay's connection drops mid-answer
    if late_cut:
        body = body[:-40]  # dropped after the router's message ended, in the padding
    pieces = [body[i : i + 300] for i in range(0, len(body), 300)]
    opener = ohttp.ResponseOpener(client_ctx, rsealer.media_type)
    stream = _InnerStream(_Wire(pieces), opener)  # type: ignore[arg-type]
    return sealed, node_id, public, stream


async def open_answer(text: str, refund: str | None, *, cut: bool = False, **kw: Any) -> tuple[Any, ...]:
    from openpcc.client import _router_head

    sealed, node_id, public, stream = sealed_exchange(text, refund, cut=cut, **kw)
    client = _Client()
    head, early = await _router_head(stream)
    assert head.status == 200
    node = VerifiedNode(node_id, public, summary(node_id))
    credit = object()
    response = AsyncPrivateResponse(client, stream, sealed, node, credit, compute.CHUNKED_RESPONSE, bytes(32))  # type: ignore[arg-type]
    await response._start(early)
    return response, client, credit


def test_answer_decrypts_in_pieces_and_the_refund_reaches_the_wallet() -> None:
    refund = Issuer(load_test_currency_key()).issue_unblinded(Value.exact(96))

    async def go() -> tuple[list[bytes], Any, Any]:
        response, client, _credit = await open_answer("alpha beta gamma delta", refund.to_text())
        assert response.status == 200 and ("content-type", "text/event-stream") in response.headers
        pieces = [p async for p in response.aiter_bytes()]
        return pieces, response, client

    pieces, response, client = asyncio.run(go())
    assert b"".join(pieces) == b"alpha beta gamma delta "
    assert len(pieces) > 1  # not one blob at the end
    assert response.refund == 96 and client.wallet.refunds == [refund] and client.wallet.unused == []
    assert response.verification.node_id == response.node_id


def test_answer_without_a_refund_and_a_cut_answer() -> None:
    async def whole() -> Any:
        response, client, _ = await open_answer("one two", None)
        assert await response.aread() == b"one two "
        return response, client

    response, client = asyncio.run(whole())
    assert response.refund == 0 and client.wallet.refunds == []

    async def cut() -> Any:
        response, client, credit = await open_answer("one two three four five six seven eight", None, cut=True)
        with pytest.raises(ResponseStreamError):
            await response.aread()
        return client, credit

    client, credit = asyncio.run(cut())
    assert client.wallet.unused == [credit]  # its fate is unknown: back to the account

    async def late_cut() -> Any:
        response, client, _credit = await open_answer("one two three", None, late_cut=True)
        with pytest.raises(ResponseStreamError):
            await response.aread()
        return client

    assert asyncio.run(late_cut()).wallet.unused == []  # the router had settled it: nothing to give back


def test_router_errors_are_typed_with_the_routers_message() -> None:
    body = compute.encode_message("csprotos.Error", {"Message": "all candidate nodes unavailable"})
    error = _router_error(404, body)
    assert isinstance(error, CandidatesUnavailableError) and error.status == 404
    other = _router_error(400, compute.encode_message("csprotos.Error", {"Message": "unprocessable credit"}))
    assert type(other) is RouterError and "unprocessable credit" in str(other)
    assert _router_error(502, b"\xff\xfe").message == ""


def test_sse_parser_yields_text_and_raises_on_errors() -> None:
    parser = _SSE()
    events = b'data: {"choices":[{"delta":{"content":"he"}}]}\n\ndata: {"choices":[{"delta":{"content":"llo"}}]}\n'
    assert parser.feed(events[:20]) == []
    assert parser.feed(events[20:]) == ["he", "llo"]
    assert parser.feed(b"data: [DONE]\n\n") == [] and parser.done
    with pytest.raises(CompletionError):
        _SSE().feed(b'data: {"error": {"message": "boom"}}\n')


def test_summary_renders_every_check_and_the_dev_trust() -> None:
    s = summary("n1")
    text = s.render()
    assert "VERIFIED" in text and "[pass] tpm.quote.signature" in text and "danger_allow_software_tpm" in text
    assert s.to_dict()["valid"] is True and s.to_dict()["nonce"] == "00" * 32
    failed = VerificationSummary("n2", "dev", "x", (CheckResult("evidence.nonce", False, "stale"),), "router", None, (), NOW)
    assert not failed.valid and failed.failures[0].name == "evidence.nonce" and "[FAIL]" in failed.render()
    assert TEST_CURRENCY_KEY_PEM.exists()


def test_candidates_failing_verification_are_named_with_their_failed_checks(tmp_path: Path) -> None:
    from openpcc.client import AsyncClient
    from openpcc.services.node import SoftwareRequestKey

    client = AsyncClient(write_profile(tmp_path), wallet=object())  # type: ignore[arg-type]
    nonce = secrets.token_bytes(32)
    software = compute.decode_message("csprotos.SignedEvidenceList", SoftwareRequestKey().evidence(nonce))
    rejected = client._verify("node-soft", software, nonce)
    assert isinstance(rejected, list) and "node.software_request_key" in rejected
    assert client._verify("node-junk", {"items": [{"type": 3, "data": "AAAA"}]}, nonce) != []
    assert isinstance(client._verify("node-junk", {"items": [{"type": 3, "data": "AAAA"}]}, nonce), list)
    assert client._verify("node-bad", {"nope": 1}, nonce) == ["evidence.decode"]
    # a verdict is kept for the evidence lifetime: the second look is served from the cache
    assert len(client._verdicts) == 2
    client._verify("node-soft", software, nonce)
    assert len(client._verdicts) == 2


def test_node_tags_come_from_the_application_header_or_default_to_llm() -> None:
    from openpcc.client import _node_tags, _tags_header

    assert _tags_header({}) == ("llm",)
    assert _tags_header({"X-Confsec-Node-Tags": " gpu, ,h100 "}) == ("gpu", "h100")
    assert _tags_header({"X-Confident-Security-Node-Tags": "old"}) == ("old",)
    assert _tags_header({"x-confsec-node-tags": ""}) == ()
    assert _node_tags(("llm",), "echo") == ("llm", "model=echo")
    assert _node_tags((), "echo") == ("model=echo",)


def test_router_error_trailer_sends_the_credit_back_once() -> None:
    async def settled_not() -> Any:
        response, client, credit = await open_answer("whole answer", None, router_error="410 the credit could not be settled")
        assert await response.aread() == b"whole answer "
        await response.aclose()
        return client, credit

    client, credit = asyncio.run(settled_not())
    assert client.wallet.unused == [credit] and client.wallet.refunds == []

    async def node_broke_off() -> Any:
        response, client, credit = await open_answer("a b c d", None, router_error="234 node stream failed", node_cut=True)
        with pytest.raises(ResponseStreamError, match="the router says: 234 node stream failed"):
            await response.aread()
        await response.aclose()
        return client, credit

    client, credit = asyncio.run(node_broke_off())
    assert client.wallet.unused == [credit]


def test_a_credit_goes_back_only_when_surely_unspent() -> None:
    from openpcc.client import _surely_unspent
    from openpcc.exceptions import ClientUsageError, RelayError

    assert _surely_unspent(RelayError(0, "refused", connected=False), sent=False)
    assert _surely_unspent(RelayError(400, "bad key"), sent=True)
    assert not _surely_unspent(RelayError(0, "timed out"), sent=False)  # it may have gone through
    assert not _surely_unspent(RelayError(502, "gateway"), sent=True)
    assert _surely_unspent(CandidatesUnavailableError(404, "all candidate nodes unavailable"), sent=True)
    assert _surely_unspent(RouterError(409, "request replayed"), sent=True)
    assert not _surely_unspent(RouterError(400, "unprocessable credit"), sent=True)  # never back into the wallet
    assert not _surely_unspent(ResponseStreamError("cut"), sent=True)
    assert _surely_unspent(ClientUsageError("closed"), sent=False)
    assert not _surely_unspent(asyncio.CancelledError(), sent=True)


# --- claiming the refund of an abandoned answer ------------------------------------------------


class _ClaimWallet:
    def __init__(self) -> None:
        self.deposited: list[Any] = []

    def deposit_refund(self, refund: Any) -> None:
        self.deposited.append(refund)


def _claiming_client(answers: list[Any]) -> tuple[Any, list[bhttp.Request], _ClaimWallet]:
    from openpcc.client import AsyncClient

    client = AsyncClient.__new__(AsyncClient)
    sent: list[bhttp.Request] = []
    wallet = _ClaimWallet()

    async def roundtrip(inner: bhttp.Request) -> bhttp.Response:
        sent.append(inner)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    client._roundtrip = roundtrip  # type: ignore[method-assign]
    client.wallet = wallet  # type: ignore[assignment]
    client._background_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    return client, sent, wallet


def _router_answer(status: int, content: bytes = b"") -> bhttp.Response:
    return bhttp.Response(status=status, headers=[], content=content, trailers=[])


class _Claimed:
    refund: int | None = None


def test_a_refund_claim_retries_while_the_router_drains_then_deposits() -> None:
    from openpcc.exceptions import RelayError

    refund = Issuer(load_test_currency_key()).issue_unblinded(Value.exact(3968))
    client, sent, wallet = _claiming_client(
        [_router_answer(404), RelayError(502, "answered 502"), _router_answer(200, refund.to_text().encode())]
    )
    secret, response = secrets.token_bytes(32), _Claimed()
    asyncio.run(client._claim_refund(secret, response))
    assert [r.content for r in sent] == [secret] * 3
    assert all(r.authority == b"confsec-router.invalid" and r.path == b"/" for r in sent)
    assert all((b"content-type", b"application/vnd.openpcc.refund-claim") in r.headers for r in sent)
    assert wallet.deposited == [refund] and response.refund == 3968


def test_a_refund_claim_gives_up_quietly_within_its_window(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import openpcc.client as client_module

    monkeypatch.setattr(client_module, "CLAIM_WINDOW", 1.0)
    client, sent, wallet = _claiming_client([_router_answer(404)])
    secret, response = secrets.token_bytes(32), _Claimed()
    with caplog.at_level("INFO", logger="openpcc.client"):
        asyncio.run(client._claim_refund(secret, response))  # never raises
    assert 1 < len(sent) <= client_module.CLAIM_ATTEMPTS and wallet.deposited == [] and response.refund is None
    assert "not claimed" in caplog.text and secret.hex() not in caplog.text
    assert base64.b64encode(secret).decode() not in caplog.text


def test_a_refund_claim_stops_at_an_answer_other_than_404() -> None:
    client, sent, wallet = _claiming_client([_router_answer(400)])
    asyncio.run(client._claim_refund(secrets.token_bytes(32), _Claimed()))
    assert len(sent) == 1 and wallet.deposited == []
