"""The blind bank through its real HTTP server, each server its own process (stopped by PID), on SQLite and
PostgreSQL: the reference's BlindBank endpoints and bodies, the balance checked and debited before
signing, idempotent withdrawals and exchanges, one success of 64 simultaneous deposits of one credit, one
spend and one answer for 64 simultaneous identical exchanges, and bad input
(forged, expired, replayed, wrongly-valued, malformed credits, bad accounts, overdrafts, oversized
bodies) refused with a clear status and code while every stored row stays as it was."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openpcc import config
from openpcc.compute import decode_message, encode_message
from openpcc.credits import Credit, Issuer, PendingCredit, Value
from openpcc.exceptions import InsufficientBalanceError, NonceConsumedError
from openpcc.services.errors import ERROR_CODE_HEADER, Code
from support.bank_rows import snapshot
from support.currency_key import TEST_CURRENCY_KEY_PEM, load_test_currency_key
from support.servers import RoleProcess, free_port, role_process

ISSUER = Issuer(load_test_currency_key())
KEY = ISSUER.public_key
BINARY = {"Content-Type": "application/octet-stream"}


def bank_config(database: str, port: int, data_dir: Path) -> str:
    config.write_key_file(data_dir / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())
    return f'[bank]\nport = {port}\ndatabase = "{database}"\ndata_dir = "{data_dir}"\n'


@pytest.fixture
def bank(database: str, tmp_path: Path) -> Iterator[RoleProcess]:
    port = free_port()
    with role_process(
        "bank", bank_config(database, port, tmp_path / "bankdata"), tmp_path, port
    ) as proc:
        yield proc


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def credit(amount: int = 64, now: int | None = None) -> Credit:
    return ISSUER.issue_unblinded(Value.exact(amount), now)


def credit_message(c: Credit) -> dict[str, Any]:
    return decode_message("csprotos.Credit", c.encode())


def deposit_body(token: bytes, c: Credit) -> bytes:
    return encode_message(
        "csprotos.DepositRequest", {"accountToken": b64(token), "credit": credit_message(c)}
    )


def withdraw_body(token: bytes, pendings: list[PendingCredit]) -> bytes:
    requests = [decode_message("csprotos.BlindSignRequest", p.sign_request()) for p in pendings]
    return encode_message(
        "csprotos.BatchWithdrawRequest", {"requests": requests, "accountToken": b64(token)}
    )


def token_body(name: str, token: bytes) -> bytes:
    return encode_message(f"csprotos.{name}", {"accountToken": b64(token)})


def call(
    url: str, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes, str]:
    async def go() -> tuple[int, bytes, str]:
        async with (
            aiohttp.ClientSession() as s,
            s.post(url + path, data=body, headers=headers or BINARY) as r,
        ):
            return r.status, await r.read(), r.headers.get(ERROR_CODE_HEADER, "")

    return asyncio.run(asyncio.wait_for(go(), timeout=60))


def ok(url: str, path: str, body: bytes, answer: str) -> dict[str, Any]:
    status, data, code = call(url, path, body)
    assert status == 200, (status, code, data)
    return decode_message(f"csprotos.{answer}", data)


def test_deposit_withdraw_exchange_and_withdraw_full(bank: RoleProcess) -> None:
    token = secrets.token_bytes(32)
    assert (
        int(
            ok(bank.url, "/balance", token_body("BalanceRequest", token), "BalanceResponse").get(
                "balance", 0
            )
        )
        == 0
    )
    assert (
        int(
            ok(bank.url, "/deposit", deposit_body(token, credit(512)), "DepositResponse")["balance"]
        )
        == 512
    )
    assert (
        int(ok(bank.url, "/deposit", deposit_body(token, credit(64)), "DepositResponse")["balance"])
        == 576
    )

    pendings = [PendingCredit.create(KEY, Value.exact(amount)) for amount in (256, 128, 64)]
    answer = ok(bank.url, "/withdraw", withdraw_body(token, pendings), "BatchWithdrawResponse")
    assert int(answer["balance"]) == 128
    signatures = [base64.b64decode(s) for s in answer["blindSignatures"]]
    withdrawn = [p.finalize(KEY, s) for p, s in zip(pendings, signatures, strict=True)]
    for c in withdrawn:
        c.check(KEY)

    # A replay of the same withdrawal is answered again, without a second debit.
    again = ok(bank.url, "/withdraw", withdraw_body(token, pendings), "BatchWithdrawResponse")
    assert again == answer

    fresh = PendingCredit.create(KEY, Value.exact(256))
    exchange = encode_message(
        "csprotos.ExchangeRequest",
        {"credit": credit_message(withdrawn[0]), "blindedMessage": b64(fresh.blinded_message)},
    )
    status, first, _ = call(bank.url, "/exchange", exchange)
    assert status == 200
    signed = decode_message("csprotos.ExchangeResponse", first)
    fresh.finalize(KEY, base64.b64decode(signed["blindSignature"])).check(KEY)
    # A repeat of the same exchange (an answer lost in a crash) gets the very same bytes again.
    status, again_bytes, _ = call(bank.url, "/exchange", exchange)
    assert (status, again_bytes) == (200, first)
    # The exchanged credit cannot be deposited afterwards.
    status, _, code = call(bank.url, "/deposit", deposit_body(token, withdrawn[0]))
    assert (status, code) == (410, str(int(Code.NONCE_CONSUMED)))

    full = ok(
        bank.url,
        "/withdraw-full",
        token_body("WithdrawFullUnblindedRequest", token),
        "WithdrawFullUnblindedResponse",
    )
    whole = Credit.decode(encode_message("csprotos.Credit", full["credit"]))
    whole.check(KEY)
    assert whole.value.amount == 128
    assert (
        int(
            ok(bank.url, "/balance", token_body("BalanceRequest", token), "BalanceResponse").get(
                "balance", 0
            )
        )
        == 0
    )
    status, _, code = call(
        bank.url, "/withdraw-full", token_body("WithdrawFullUnblindedRequest", token)
    )
    assert (status, code) == (429, str(int(Code.INSUFFICIENT_BALANCE)))


def test_64_simultaneous_deposits_of_one_credit_credit_once(bank: RoleProcess) -> None:
    c = credit(64)
    bodies = [deposit_body(secrets.token_bytes(32), c) for _ in range(64)]

    async def go() -> list[int]:
        async with aiohttp.ClientSession() as s:

            async def one(body: bytes) -> int:
                async with s.post(bank.url + "/deposit", data=body, headers=BINARY) as r:
                    await r.read()
                    return r.status

            return list(await asyncio.gather(*(one(b) for b in bodies)))

    statuses = asyncio.run(asyncio.wait_for(go(), timeout=120))
    assert statuses.count(200) == 1
    assert set(statuses) <= {200, 409, 410}


def exchange_body(c: Credit, pending: PendingCredit) -> bytes:
    return encode_message(
        "csprotos.ExchangeRequest",
        {"credit": credit_message(c), "blindedMessage": b64(pending.blinded_message)},
    )


def test_64_simultaneous_identical_exchanges_spend_once_and_answer_alike(
    bank: RoleProcess, database: str
) -> None:
    c = credit(64)
    pending = PendingCredit.create(KEY, Value.exact(64))
    body = exchange_body(c, pending)

    async def go() -> list[tuple[int, bytes]]:
        async with aiohttp.ClientSession() as s:

            async def one() -> tuple[int, bytes]:
                async with s.post(bank.url + "/exchange", data=body, headers=BINARY) as r:
                    return r.status, await r.read()

            return list(await asyncio.gather(*(one() for _ in range(64))))

    answers = asyncio.run(asyncio.wait_for(go(), timeout=120))
    assert {status for status, _ in answers} == {200}
    assert len({data for _, data in answers}) == 1
    signature = base64.b64decode(
        decode_message("csprotos.ExchangeResponse", answers[0][1])["blindSignature"]
    )
    pending.finalize(KEY, signature).check(KEY)
    rows = snapshot(database)
    exchanges = [row for row in rows["bank_operations"] if row[3] == "exchange"]
    assert len(exchanges) == 1
    assert [row[1] for row in rows["nonces"]] == ["consumed"]
    # The spent credit credits no account afterwards.
    status, _, code = call(bank.url, "/deposit", deposit_body(secrets.token_bytes(32), c))
    assert (status, code) == (410, str(int(Code.NONCE_CONSUMED)))


def _funded(bank: RoleProcess, amount: int = 64) -> bytes:
    token = secrets.token_bytes(32)
    ok(bank.url, "/deposit", deposit_body(token, credit(amount)), "DepositResponse")
    return token


def _bad_cases(
    bank: RoleProcess,
) -> dict[str, tuple[str, bytes, int, Code | None, dict[str, str] | None]]:
    token = _funded(bank)
    spent = credit(32)
    ok(bank.url, "/deposit", deposit_body(token, spent), "DepositResponse")
    good = credit(16)
    exchanged = credit(8)
    ok(
        bank.url,
        "/exchange",
        exchange_body(exchanged, PendingCredit.create(KEY, Value.exact(8))),
        "ExchangeResponse",
    )
    relabelled = dataclasses.replace(good, value=Value.exact(32))
    pending = PendingCredit.create(KEY, Value.exact(64))
    too_much = PendingCredit.create(KEY, Value.exact(128))
    small = PendingCredit.create(KEY, Value.exact(1))
    special_pending = PendingCredit.create(KEY, Value.special(0))
    bad_blind = encode_message(
        "csprotos.BatchWithdrawRequest",
        {
            "requests": [
                {
                    "value": {"currency": b64(Value.exact(1).blind_bytes)},
                    "blindedMessage": b64(b"\xff" * 256),
                }
            ],
            "accountToken": b64(token),
        },
    )
    return {
        "forged": (
            "/deposit",
            deposit_body(token, dataclasses.replace(good, signature=bytes(256))),
            400,
            Code.INVALID_CREDIT,
            None,
        ),
        "relabelled-value": (
            "/deposit",
            deposit_body(token, relabelled),
            400,
            Code.INVALID_CREDIT,
            None,
        ),
        "expired": (
            "/deposit",
            deposit_body(token, credit(16, int(time.time()) - 3 * 86400)),
            400,
            Code.EXPIRED_CREDIT,
            None,
        ),
        "replayed": ("/deposit", deposit_body(token, spent), 410, Code.NONCE_CONSUMED, None),
        "special-value": (
            "/deposit",
            deposit_body(token, ISSUER.issue_unblinded(Value.special(0))),
            400,
            Code.WRONG_CREDIT_VALUE,
            None,
        ),
        "malformed-credit": (
            "/deposit",
            encode_message(
                "csprotos.DepositRequest",
                {"accountToken": b64(token), "credit": {"signature": b64(b"x")}},
            ),
            400,
            Code.MALFORMED_CREDIT,
            None,
        ),
        "short-token": (
            "/deposit",
            deposit_body(token[:31], good),
            400,
            Code.UNKNOWN_ACCOUNT,
            None,
        ),
        "garbage": ("/deposit", b"\xff\x00garbage", 400, Code.INVALID_MESSAGE, None),
        "unknown-field": (
            "/balance",
            token_body("BalanceRequest", token) + b"\x78\x01",
            400,
            Code.INVALID_MESSAGE,
            None,
        ),
        "overdraft": (
            "/withdraw",
            withdraw_body(token, [too_much]),
            429,
            Code.INSUFFICIENT_BALANCE,
            None,
        ),
        "overdraft-sum": (
            "/withdraw",
            withdraw_body(token, [pending, small, PendingCredit.create(KEY, Value.exact(64))]),
            429,
            Code.INSUFFICIENT_BALANCE,
            None,
        ),
        "unknown-account": (
            "/withdraw",
            withdraw_body(secrets.token_bytes(32), [small]),
            429,
            Code.INSUFFICIENT_BALANCE,
            None,
        ),
        "empty-batch": ("/withdraw", withdraw_body(token, []), 400, Code.INVALID_MESSAGE, None),
        "batch-of-16": (
            "/withdraw",
            withdraw_body(token, [PendingCredit.create(KEY, Value.exact(1)) for _ in range(16)]),
            400,
            Code.INVALID_MESSAGE,
            None,
        ),
        "duplicate-blinded": (
            "/withdraw",
            withdraw_body(token, [small, small]),
            400,
            Code.INVALID_MESSAGE,
            None,
        ),
        "special-withdrawal": (
            "/withdraw",
            withdraw_body(token, [special_pending]),
            400,
            Code.WRONG_CREDIT_VALUE,
            None,
        ),
        "blinded-above-modulus": ("/withdraw", bad_blind, 400, Code.MALFORMED_CREDIT, None),
        "exchange-spent": (
            "/exchange",
            encode_message(
                "csprotos.ExchangeRequest",
                {"credit": credit_message(spent), "blindedMessage": b64(pending.blinded_message)},
            ),
            410,
            Code.NONCE_CONSUMED,
            None,
        ),
        "exchange-other-blinded": (
            "/exchange",
            exchange_body(exchanged, PendingCredit.create(KEY, Value.exact(8))),
            409,
            Code.IDEMPOTENCY_CONFLICT,
            None,
        ),
        "exchange-no-blinded": (
            "/exchange",
            encode_message("csprotos.ExchangeRequest", {"credit": credit_message(good)}),
            400,
            Code.MALFORMED_CREDIT,
            None,
        ),
        "oversized": (
            "/deposit",
            deposit_body(token, good) + bytes(20000),
            413,
            Code.BODY_TOO_LARGE,
            None,
        ),
        "json-content-type": (
            "/deposit",
            deposit_body(token, good),
            415,
            Code.UNSUPPORTED_MEDIA_TYPE,
            {"Content-Type": "application/json"},
        ),
        "full-unknown-account": (
            "/withdraw-full",
            token_body("WithdrawFullUnblindedRequest", secrets.token_bytes(32)),
            429,
            Code.INSUFFICIENT_BALANCE,
            None,
        ),
    }


def test_bad_input_is_refused_and_changes_nothing(bank: RoleProcess, database: str) -> None:
    cases = _bad_cases(bank)
    for name, (path, body, status, code, headers) in cases.items():
        before = snapshot(database)
        got_status, answer, got_code = call(bank.url, path, body, headers)
        assert (got_status, got_code) == (status, str(int(code))), name
        message = decode_message("csprotos.Error", answer).get("Message", "")
        assert message, name
        assert snapshot(database) == before, name
    assert "Traceback" not in bank.output()


def test_a_missing_currency_key_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    text = f'[bank]\nport = {free_port()}\ndata_dir = "{tmp_path / "empty"}"\n'
    (tmp_path / "bank.toml").write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "openpcc", "bank", "--config", str(tmp_path / "bank.toml")],
        check=False,
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "OPENPCC_HOME": str(tmp_path)},
    )
    assert proc.returncode == 2
    assert b"no currency signing key" in proc.stderr


class CountingIssuer(Issuer):
    def __init__(self) -> None:
        super().__init__(load_test_currency_key())
        self.signed = 0

    def blind_sign(self, value: Value, blinded_message: bytes) -> bytes:
        self.signed += 1
        return super().blind_sign(value, blinded_message)


def test_the_balance_is_debited_before_anything_is_signed(tmp_path: Path) -> None:
    from openpcc.services.bank import BlindBankService
    from openpcc.services.store import AccountKind, account_id

    cfg = config.load(None, env={"OPENPCC_HOME": str(tmp_path)}).role("bank")
    issuer = CountingIssuer()
    token = secrets.token_bytes(32)
    account = account_id(AccountKind.BLIND, token)

    async def go() -> None:
        service = BlindBankService(cfg, issuer=issuer)
        try:
            await service.deposit(account, credit(64))
            wanted = [
                (Value.exact(64), PendingCredit.create(KEY, Value.exact(64)).blinded_message),
                (Value.exact(1), PendingCredit.create(KEY, Value.exact(1)).blinded_message),
            ]
            with pytest.raises(InsufficientBalanceError):
                await service.withdraw(account, wanted)
            assert issuer.signed == 0
            balance, signatures = await service.withdraw(account, wanted[:1])
            assert (balance, len(signatures), issuer.signed) == (0, 1, 1)
        finally:
            await service.http.stop()

    asyncio.run(go())


def test_a_credit_spent_at_the_router_cannot_be_deposited(database: str, tmp_path: Path) -> None:
    """Bank and router share one nonce-locking service (``noncelock_url``): a credit the spending API
    committed is refused by the bank (410), and one the bank took is refused to the spender."""
    from openpcc.services import _http
    from openpcc.services.noncelock import NonceLockClient
    from openpcc.services.spending import Spender

    lock_port, bank_port = free_port(), free_port()
    lock_text = f'[noncelock]\nport = {lock_port}\ndatabase = "{database}"\n'
    bank_text = bank_config(database, bank_port, tmp_path / "bankdata") + (
        f'noncelock_url = "http://127.0.0.1:{lock_port}"\n'
    )
    at_router, at_bank = credit(64), credit(64)
    token = secrets.token_bytes(32)
    with (
        role_process("noncelock", lock_text, tmp_path, lock_port),
        role_process("bank", bank_text, tmp_path, bank_port) as bank,
    ):

        async def spend(c: Credit) -> None:
            async with _http.client_session() as session:
                spender = Spender(KEY, NonceLockClient(f"http://127.0.0.1:{lock_port}", session))
                async with await spender.begin(c) as txn:
                    await txn.commit()

        asyncio.run(spend(at_router))
        status, _, code = call(bank.url, "/deposit", deposit_body(token, at_router))
        assert (status, code) == (410, str(int(Code.NONCE_CONSUMED)))
        ok(bank.url, "/deposit", deposit_body(token, at_bank), "DepositResponse")
        with pytest.raises(NonceConsumedError):
            asyncio.run(spend(at_bank))


def test_a_bank_killed_mid_deposits_loses_no_committed_balance(
    database: str, tmp_path: Path
) -> None:
    """SIGKILL while 48 deposits are in flight: after a restart every answered deposit is in the balance,
    and the balance is exactly what the recorded operations say (credit and record in one transaction)."""
    from openpcc.services.spending import lock_nonce_of
    from openpcc.services.store import open_nonce_store

    port = free_port()
    text = bank_config(database, port, tmp_path / "bankdata")
    token = secrets.token_bytes(32)
    credits = [credit(16) for _ in range(48)]
    with role_process("bank", text, tmp_path, port) as bank:

        async def deposit_all() -> list[int | None]:
            async with aiohttp.ClientSession() as s:

                async def one(c: Credit) -> int | None:
                    try:
                        async with s.post(
                            bank.url + "/deposit", data=deposit_body(token, c), headers=BINARY
                        ) as r:
                            await r.read()
                            return r.status
                    except aiohttp.ClientError:
                        return None

                tasks = [asyncio.create_task(one(c)) for c in credits]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                bank.kill()  # SIGKILL by PID, with most deposits still in flight
                return [await t for t in tasks]

        statuses = asyncio.run(asyncio.wait_for(deposit_all(), timeout=120))
    answered = [c for c, status in zip(credits, statuses, strict=True) if status == 200]
    assert answered, statuses
    assert None in statuses, "the kill came after every deposit finished; nothing was tested"
    with role_process("bank", text, tmp_path, port) as bank:
        balance = int(
            ok(bank.url, "/balance", token_body("BalanceRequest", token), "BalanceResponse").get(
                "balance", 0
            )
        )
    rows = snapshot(database)
    recorded = [row for row in rows["bank_operations"] if "credit" in row]
    assert balance == 16 * len(recorded)
    assert balance >= 16 * len(answered)
    nonces = open_nonce_store(database)
    try:
        for c in answered:
            assert nonces.state(lock_nonce_of(c).key, time.time()) == "consumed"
    finally:
        nonces.close()
