"""The spending API (spec §8.5) against a real nonce-locking server (its own process, stopped by PID) on
SQLite and PostgreSQL, and against a role's own store: forged, expired, replayed and wrongly-valued
credits are refused with typed errors, 64 simultaneous spends of one credit give one success, and
refunds are capped at the credit spent and minted only for admitted nodes."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpcc.credits import Credit, Issuer, Value
from openpcc.exceptions import (
    ExpiredCreditError,
    InvalidCreditError,
    NonceConsumedError,
    NonceLockedError,
    RefundRefusedError,
    UsageError,
    WrongCreditValueError,
)
from openpcc.services import _http
from openpcc.services.noncelock import NonceLockClient
from openpcc.services.spending import Spender, StoreNonceLocker, lock_nonce_of
from openpcc.services.store import open_nonce_store
from support.currency_key import load_test_currency_key
from support.servers import RoleProcess, free_port, role_process

ISSUER = Issuer(load_test_currency_key())
KEY = ISSUER.public_key


@pytest.fixture
def noncelock(database: str, tmp_path: Path) -> Iterator[RoleProcess]:
    port = free_port()
    text = f'[noncelock]\nport = {port}\ndatabase = "{database}"\n'
    with role_process("noncelock", text, tmp_path, port) as proc:
        yield proc


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))  # type: ignore[arg-type]


def credit(amount: int = 64, now: int | None = None) -> Credit:
    return ISSUER.issue_unblinded(Value.exact(amount), now)


async def with_spender(url: str, action: object, *, issuer: Issuer | None = ISSUER) -> object:
    async with _http.client_session() as session:
        return await action(Spender(KEY, NonceLockClient(url, session), issuer=issuer))  # type: ignore[operator]


def test_a_good_credit_spends_once(noncelock: RoleProcess) -> None:
    c = credit()

    async def action(spender: Spender) -> None:
        txn = await spender.begin(c)
        with pytest.raises(NonceLockedError):
            await spender.begin(c)
        await txn.commit()
        with pytest.raises(NonceConsumedError):
            await spender.begin(c)
        await txn.rollback()  # a no-op after a commit, as the reference's
        with pytest.raises(UsageError):
            await txn.commit()

    run(with_spender(noncelock.url, action))


def test_a_rollback_keeps_the_credit_spendable(noncelock: RoleProcess) -> None:
    c = credit()

    async def action(spender: Spender) -> None:
        with pytest.raises(RuntimeError):
            async with await spender.begin(c):
                raise RuntimeError("the request failed")
        async with await spender.begin(c) as txn:
            await txn.commit()

    run(with_spender(noncelock.url, action))


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: dataclasses.replace(credit(), signature=bytes(256)), InvalidCreditError),
        (lambda: dataclasses.replace(credit(64), value=Value.exact(128)), InvalidCreditError),
        (lambda: credit(64, now=int(time.time()) - 3 * 86400), ExpiredCreditError),
        (lambda: credit(64, now=int(time.time()) + 3 * 86400), ExpiredCreditError),
        (lambda: ISSUER.issue_unblinded(Value.special(0)), WrongCreditValueError),
        (lambda: ISSUER.issue_unblinded(Value.exact(0)), WrongCreditValueError),
    ],
    ids=["forged", "relabelled-value", "expired", "future", "special", "zero"],
)
def test_bad_credits_are_refused_before_any_lock(
    noncelock: RoleProcess, database: str, make: object, error: type[Exception]
) -> None:
    bad: Credit = make()  # type: ignore[operator]

    async def action(spender: Spender) -> None:
        with pytest.raises(error):
            await spender.begin(bad)

    run(with_spender(noncelock.url, action))
    store = open_nonce_store(database)
    try:
        assert store.state(lock_nonce_of(bad).key, time.time()) == "free"
    finally:
        store.close()


def test_a_required_value_is_enforced(noncelock: RoleProcess) -> None:
    async def action(spender: Spender) -> None:
        with pytest.raises(WrongCreditValueError):
            await spender.begin(credit(64), value=Value.exact(32))

    run(with_spender(noncelock.url, action))


def test_64_simultaneous_spends_of_one_credit_give_one_success(noncelock: RoleProcess) -> None:
    c = credit()

    async def one(spender: Spender) -> str:
        try:
            txn = await spender.begin(c)
        except (NonceLockedError, NonceConsumedError) as exc:
            return type(exc).__name__
        await txn.commit()
        return "spent"

    async def action(spender: Spender) -> list[str]:
        return list(await asyncio.gather(*(one(spender) for _ in range(64))))

    outcomes: list[str] = run(with_spender(noncelock.url, action))  # type: ignore[assignment]
    assert outcomes.count("spent") == 1
    assert len(outcomes) == 64


def test_the_store_locker_gives_one_success_of_64(database: str) -> None:
    store = open_nonce_store(database)
    c = credit()
    spender = Spender(KEY, StoreNonceLocker(store))

    async def one() -> bool:
        try:
            async with await spender.begin(c) as txn:
                await txn.commit()
                return True
        except (NonceLockedError, NonceConsumedError):
            return False

    async def all_of_them() -> list[bool]:
        return list(await asyncio.gather(*(one() for _ in range(64))))

    try:
        assert sum(run(all_of_them())) == 1  # type: ignore[arg-type]
    finally:
        store.close()


def test_refunds_are_capped_and_only_for_admitted_nodes(noncelock: RoleProcess) -> None:
    c = credit(64)

    async def action(spender: Spender) -> Credit:
        txn = await spender.begin(c)
        with pytest.raises(RefundRefusedError):
            await txn.commit_with_refund(Value.exact(128), "node-a", {"node-a"})
        with pytest.raises(RefundRefusedError):
            await txn.commit_with_refund(Value.exact(16), "node-x", {"node-a", "node-b"})
        with pytest.raises(RefundRefusedError):
            await txn.commit_with_refund(Value.special(0), "node-a", {"node-a"})
        # Nothing was committed by the refusals: the nonce is still only locked.
        with pytest.raises(NonceLockedError):
            await spender.begin(c)
        refund = await txn.commit_with_refund(Value.exact(64), "node-b", {"node-a", "node-b"})
        with pytest.raises(NonceConsumedError):
            await spender.begin(c)
        return refund

    refund: Credit = run(with_spender(noncelock.url, action))  # type: ignore[assignment]
    refund.check(KEY)
    assert refund.value == Value.exact(64)
    assert refund.nonce != c.nonce


def test_a_spender_without_the_signing_key_mints_nothing(noncelock: RoleProcess) -> None:
    async def action(spender: Spender) -> None:
        async with await spender.begin(credit()) as txn:
            with pytest.raises(UsageError):
                await txn.commit_with_refund(Value.exact(16), "n", {"n"})

    run(with_spender(noncelock.url, action, issuer=None))


def test_a_roles_own_nonces_are_purged_after_their_window(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openpcc import config
    from openpcc.services import spending

    monkeypatch.setattr(spending, "PURGE_INTERVAL_S", 0.05)
    cfg = config.load(
        None, env={"OPENPCC_HOME": str(tmp_path), "OPENPCC_BANK_DATABASE": database}
    ).role("bank")
    now = [time.time()]
    spent = credit()

    async def go() -> str:
        locker = spending.RoleNonceLocker(cfg, clock=lambda: now[0])
        await locker.open()
        try:
            async with await Spender(KEY, locker, clock=lambda: now[0]).begin(spent) as txn:
                await txn.commit()
            store = open_nonce_store(database)
            try:
                assert store.state(lock_nonce_of(spent).key, now[0]) == "consumed"
                now[0] += 3 * 86400  # long past the credit's validity window
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    if store.state(lock_nonce_of(spent).key, now[0]) == "free":
                        break
                return store.state(lock_nonce_of(spent).key, now[0])
            finally:
                store.close()
        finally:
            await locker.close()

    assert run(go()) == "free"


def test_a_special_value_is_spent_only_where_it_is_required(tmp_path: Path) -> None:
    from openpcc.credits import ATTESTATION_VALUE

    store = open_nonce_store(f"sqlite:{tmp_path / 'n.sqlite3'}")
    spender = Spender(KEY, StoreNonceLocker(store))
    token = ISSUER.issue_unblinded(ATTESTATION_VALUE)

    async def go() -> None:
        with pytest.raises(WrongCreditValueError):
            await spender.begin(token)  # an attestation token is not money
        with pytest.raises(WrongCreditValueError):
            await spender.begin(credit(64), value=ATTESTATION_VALUE)  # money is not an attestation token
        async with await spender.begin(token, value=ATTESTATION_VALUE) as txn:
            await txn.commit()
        with pytest.raises(NonceConsumedError):
            await spender.begin(token, value=ATTESTATION_VALUE)

    try:
        run(go())
    finally:
        store.close()
