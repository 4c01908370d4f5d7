"""The auth bank through its real HTTP server (its own process, stopped by PID) on SQLite and PostgreSQL:
API keys created by ``openpcc auth keys add`` and kept hashed, withdrawals debited before signing and
idempotent, attestation tokens, refunds spent once, badges (the spec's worked vector), the remote
configuration, and refusals that change nothing stored."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from openpcc import config
from openpcc.compute import decode_message, encode_message
from openpcc.credits import (
    ATTESTATION_VALUE,
    Credit,
    Issuer,
    PendingCredit,
    Value,
    public_key_from_jwk,
)
from openpcc.services.auth import api_key_account, badge_message, credentials_models
from openpcc.services.errors import ERROR_CODE_HEADER, Code
from openpcc.services.store import AccountKind, open_bank_store
from support.bank_rows import snapshot
from support.currency_key import TEST_CURRENCY_KEY_PEM, load_test_currency_key
from support.servers import RoleProcess, free_port, role_process

ISSUER = Issuer(load_test_currency_key())
KEY = ISSUER.public_key
BINARY = {"Content-Type": "application/octet-stream"}
# The reference's dev badge key and its worked vector (spec §1.2, §8.9).
DEV_BADGE_KEY = "MC4CAQAwBQYDK2VwBCIEIPTqQ1PtTaEjElKNEBRipKse2k/U4CWxzfJ71DyJGzKc"
DEV_CREDENTIALS = bytes.fromhex("0a0f0b0000006d792d6d6f64656c3a3162")
DEV_SIGNATURE = bytes.fromhex(
    "47529d714543541f867f10ac88d046279ffa398453572f01722eb43af9e9beb7"
    "56ccf71d393b21da960183105fba234d8d482dce75f083165377dcc76dfaa009"
)
DEV_HEADER = "ChEKDwsAAABteS1tb2RlbDoxYhJAR1KdcUVDVB+GfxCsiNBGJ5/6OYRTVy8Bci60OvnpvrdWzPcdOTsh2pYBgxBfuiNNjUgtznXwgxZTd9zHbfqgCQ=="


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_badge_matches_the_worked_vector() -> None:
    pem = f"-----BEGIN PRIVATE KEY-----\n{DEV_BADGE_KEY}\n-----END PRIVATE KEY-----\n".encode()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    badge = badge_message(key, ["my-model:1b"])
    assert encode_message("csprotos.Credentials", badge["credentials"]) == DEV_CREDENTIALS
    assert base64.b64decode(badge["signature"]) == DEV_SIGNATURE
    assert b64(encode_message("csprotos.Badge", badge)) == DEV_HEADER
    assert credentials_models(["b", "a"]) == b"\x01\x00\x00\x00a\x01\x00\x00\x00b"


@dataclass
class AuthBank:
    proc: RoleProcess
    database: str
    data_dir: Path
    api_key: str

    def balance(self) -> int:
        store = open_bank_store(self.database)
        try:
            return store.balance(AccountKind.API_KEY, api_key_account(self.api_key))
        finally:
            store.close()

    def badge_public_key(self) -> Ed25519PublicKey:
        key = serialization.load_pem_private_key(
            config.read_key_file(self.data_dir / "badge-key.pem"), None
        )
        assert isinstance(key, Ed25519PrivateKey)
        return key.public_key()


@pytest.fixture
def auth(database: str, tmp_path: Path) -> Iterator[AuthBank]:
    port = free_port()
    data_dir = tmp_path / "authdata"
    config.write_key_file(data_dir / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())
    keys = tmp_path / "keys.bin"
    keys.write_bytes(b"\x01\x00\x20example-key-configs")
    text = (
        f'[auth]\nport = {port}\ndatabase = "{database}"\ndata_dir = "{data_dir}"\n'
        f'badge_models = "my-model:1b, other:7b"\nohttp_key_configs_file = "{keys}"\n'
    )
    (tmp_path / "auth.toml").write_text(text)
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "openpcc",
            "auth",
            "keys",
            "add",
            "--balance",
            "1000",
            "--config",
            str(tmp_path / "auth.toml"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "OPENPCC_HOME": str(tmp_path)},
    )
    api_key = added.stdout.decode().strip()
    assert api_key.startswith("opk_") and len(api_key) > 40
    with role_process("auth", text, tmp_path, port) as proc:
        yield AuthBank(proc, database, data_dir, api_key)


def call(
    bank: AuthBank,
    path: str,
    body: bytes = b"",
    key: str | None = None,
    method: str = "POST",
    content_type: str = "application/octet-stream",
) -> tuple[int, bytes, str]:
    headers = {
        "Content-Type": content_type,
        "cf-authorization": bank.api_key if key is None else key,
    }

    async def go() -> tuple[int, bytes, str]:
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, bank.proc.url + path, data=body, headers=headers) as r,
        ):
            return r.status, await r.read(), r.headers.get(ERROR_CODE_HEADER, "")

    return asyncio.run(asyncio.wait_for(go(), timeout=60))


def withdrawal(api_key: str, pending: PendingCredit) -> bytes:
    return encode_message(
        "csprotos.AuthWithdrawalRequest",
        {
            "apiKey": api_key,
            "value": {"currency": b64(pending.value.blind_bytes)},
            "blindedMessage": b64(pending.blinded_message),
        },
    )


def refund_body(api_key: str, c: Credit) -> bytes:
    return encode_message(
        "csprotos.AuthRefundRequest",
        {"apiKey": api_key, "credit": decode_message("csprotos.Credit", c.encode())},
    )


def signed(bank: AuthBank, path: str, pending: PendingCredit) -> tuple[Credit, dict[str, Any]]:
    status, body, code = call(bank, path, withdrawal(bank.api_key, pending))
    assert status == 200, (status, code, body)
    answer = decode_message("csprotos.AuthWithdrawalResponse", body)
    return pending.finalize(KEY, base64.b64decode(answer["blindSignature"])), answer["badge"]


def test_withdrawals_debit_once_and_carry_a_badge(auth: AuthBank) -> None:
    pending = PendingCredit.create(KEY, Value.exact(512))
    credit, badge = signed(auth, "/api/auth", pending)
    credit.check(KEY)
    assert auth.balance() == 1000 - 512
    again, _ = signed(auth, "/api/auth", pending)  # a replay (a lost answer) is not debited again
    assert again == credit
    assert auth.balance() == 488
    credentials = encode_message("csprotos.Credentials", badge["credentials"])
    auth.badge_public_key().verify(base64.b64decode(badge["signature"]), credentials)
    assert credentials_models(["my-model:1b", "other:7b"]) == base64.b64decode(
        badge["credentials"]["models"]
    )

    status, _, code = call(
        auth, "/api/auth", withdrawal(auth.api_key, PendingCredit.create(KEY, Value.exact(512)))
    )
    assert (status, code) == (429, str(int(Code.INSUFFICIENT_BALANCE)))
    signed(auth, "/api/auth", PendingCredit.create(KEY, Value.exact(480)))
    assert auth.balance() == 8


def test_attestation_tokens_cost_nothing(auth: AuthBank) -> None:
    token, _ = signed(auth, "/api/attestationRequest", PendingCredit.create(KEY, ATTESTATION_VALUE))
    token.verify(KEY)
    assert token.value == ATTESTATION_VALUE
    assert auth.balance() == 1000
    status, _, code = call(
        auth,
        "/api/attestationRequest",
        withdrawal(auth.api_key, PendingCredit.create(KEY, Value.exact(1))),
    )
    assert (status, code) == (400, str(int(Code.WRONG_CREDIT_VALUE)))


def test_refunds_credit_the_key_once(auth: AuthBank) -> None:
    c = ISSUER.issue_unblinded(Value.exact(64))
    assert call(auth, "/api/refund", refund_body(auth.api_key, c))[0] == 200
    assert auth.balance() == 1064
    status, _, code = call(auth, "/api/refund", refund_body(auth.api_key, c))
    assert (status, code) == (410, str(int(Code.NONCE_CONSUMED)))
    assert auth.balance() == 1064


def test_remote_configuration_carries_plain_values(auth: AuthBank) -> None:
    status, body, _ = call(auth, "/api/config", method="GET")
    assert status == 200
    answer = decode_message("csprotos.AuthConfigResponse", body)
    assert answer["bankUrl"] == "http://confsec-bank.invalid"
    assert answer["relays"] == [{"url": "http://localhost:3100"}]
    assert base64.b64decode(answer["ohttpKeyConfigsBundle"]) == b"\x01\x00\x20example-key-configs"
    jwk = json.loads(base64.b64decode(answer["currencyKeyBundle"]))
    assert public_key_from_jwk(jwk).n == KEY.n
    status, _, code = call(auth, "/api/config", method="GET", key="opk_unknown")
    assert (status, code) == (401, str(int(Code.INVALID_API_KEY)))


def test_bad_input_is_refused_and_changes_nothing(auth: AuthBank) -> None:
    other = "opk_" + secrets.token_urlsafe(32)
    pending = PendingCredit.create(KEY, Value.exact(64))
    good = ISSUER.issue_unblinded(Value.exact(16))
    cases: dict[str, tuple[str, bytes, str | None, str, int, Code]] = {
        "unknown-key": (
            "/api/auth",
            withdrawal(other, pending),
            other,
            "application/octet-stream",
            401,
            Code.INVALID_API_KEY,
        ),
        "header-body-differ": (
            "/api/auth",
            withdrawal(other, pending),
            None,
            "application/octet-stream",
            401,
            Code.INVALID_API_KEY,
        ),
        "no-key": (
            "/api/auth",
            withdrawal("", pending),
            "",
            "application/octet-stream",
            401,
            Code.INVALID_API_KEY,
        ),
        "overdraft": (
            "/api/auth",
            withdrawal(auth.api_key, PendingCredit.create(KEY, Value.exact(1024))),
            None,
            "application/octet-stream",
            429,
            Code.INSUFFICIENT_BALANCE,
        ),
        "zero-value": (
            "/api/auth",
            withdrawal(auth.api_key, PendingCredit.create(KEY, Value.exact(0))),
            None,
            "application/octet-stream",
            400,
            Code.WRONG_CREDIT_VALUE,
        ),
        "garbage": (
            "/api/auth",
            b"\xff\xffnot a message",
            None,
            "application/octet-stream",
            400,
            Code.INVALID_MESSAGE,
        ),
        "json": (
            "/api/auth",
            withdrawal(auth.api_key, pending),
            None,
            "application/json",
            415,
            Code.UNSUPPORTED_MEDIA_TYPE,
        ),
        "oversized": (
            "/api/auth",
            withdrawal(auth.api_key, pending) + bytes(20000),
            None,
            "application/octet-stream",
            413,
            Code.BODY_TOO_LARGE,
        ),
        "forged-refund": (
            "/api/refund",
            refund_body(auth.api_key, Credit(good.value, good.nonce, bytes(256))),
            None,
            "application/octet-stream",
            400,
            Code.INVALID_CREDIT,
        ),
        "refund-unknown-key": (
            "/api/refund",
            refund_body(other, good),
            other,
            "application/octet-stream",
            401,
            Code.INVALID_API_KEY,
        ),
    }
    for name, (path, body, key, content_type, status, code) in cases.items():
        before = snapshot(auth.database)
        got = call(auth, path, body, key=key, content_type=content_type)
        assert (got[0], got[2]) == (status, str(int(code))), name
        assert decode_message("csprotos.Error", got[1]).get("Message"), name
        assert snapshot(auth.database) == before, name
    assert auth.api_key not in auth.proc.output()


def test_64_simultaneous_withdrawals_never_overdraw(auth: AuthBank) -> None:
    pendings = [PendingCredit.create(KEY, Value.exact(64)) for _ in range(64)]
    headers = {"Content-Type": "application/octet-stream", "cf-authorization": auth.api_key}

    async def go() -> list[int]:
        async with aiohttp.ClientSession() as s:

            async def one(p: PendingCredit) -> int:
                async with s.post(
                    auth.proc.url + "/api/auth", data=withdrawal(auth.api_key, p), headers=headers
                ) as r:
                    await r.read()
                    return r.status

            return list(await asyncio.gather(*(one(p) for p in pendings)))

    statuses = asyncio.run(asyncio.wait_for(go(), timeout=120))
    assert statuses.count(200) == 1000 // 64
    assert statuses.count(429) == 64 - 1000 // 64
    assert auth.balance() == 1000 % 64
