"""The wallet's state machine against the IN-PROCESS fake bank (tests/support/fake_bank.py, real signing).

Refill to the configured concurrency, every credit handed out once, refunds consolidated, close, status,
delays, recovery of every interrupted step (simulated here by an exception; the real SIGKILL tests against
the real bank processes are in tests/services/test_wallet_banks.py), the file's permissions and a tampered
file. No HTTP here.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import pytest
from openpcc.credits import Credit, Issuer, Value
from openpcc.exceptions import (
    BankRequestError,
    InsufficientBalanceError,
    InvalidCreditError,
    MalformedInputError,
    NonceConsumedError,
    WalletFileError,
)
from openpcc.wallet import (
    HTTPBankClient,
    Response,
    Transport,
    Wallet,
    WalletSettings,
    direct_transport,
)
from support.currency_key import load_test_currency_key
from support.fake_bank import FakeBanks

ISSUER = Issuer(load_test_currency_key())
KEY = ISSUER.public_key
SETTINGS = WalletSettings(credit_amount=64, concurrency=2, batch=4, source_amount=640, max_delay=0)


class Crash(Exception):
    """Stands for the process dying at a step."""


def make(tmp_path: Path, banks: FakeBanks, **kwargs: Any) -> Wallet:
    settings = kwargs.pop("settings", SETTINGS)
    return Wallet(tmp_path / "w" / "wallet.bin", banks, KEY, settings, use_keyring=False, **kwargs)


def conserved(wallet: Wallet, banks: FakeBanks, spent: int = 0) -> None:
    """Everything taken from the API key is held, in the account, spent, or counted lost."""
    status = wallet.status()
    assert status.pending == []
    assert (
        100_000 - banks.api_balance == status.held + wallet.account_balance() + spent + status.lost
    )


def test_refill_keeps_the_concurrency_and_each_credit_is_handed_out_once(tmp_path: Path) -> None:
    banks = FakeBanks(ISSUER, 100_000)
    wallet = make(tmp_path, banks)
    assert wallet.refill() == 4  # one batch
    assert banks.calls["auth_withdraw"] == 1 and banks.calls["withdraw"] == 1
    taken = [wallet.take() for _ in range(3)]
    assert wallet.status().credits_by_value == {64: 1}
    # Below low water (2): one more batch, from the account, not the API key.
    assert wallet.refill() == 5
    assert banks.calls["auth_withdraw"] == 1 and banks.calls["withdraw"] == 2
    # Empties, then withdraws again (when the account runs dry, from the API key).
    taken += [wallet.take() for _ in range(10)]
    assert len({c.nonce for c in taken}) == 13
    for c in taken:
        assert c.value == Value.exact(64)
        banks.spend_at_router(c)  # raises if a credit were spent twice or did not verify
    conserved(wallet, banks, spent=13 * 64)


def test_give_back_refund_close_and_status(tmp_path: Path) -> None:
    banks = FakeBanks(ISSUER, 100_000)
    wallet = make(tmp_path, banks)
    one = wallet.take()
    wallet.give_back(one)
    wallet.give_back(one)  # twice is once
    assert wallet.status().held == 4 * 64
    spent = wallet.take()
    banks.spend_at_router(spent)
    refund = ISSUER.issue_unblinded(Value.exact(16))  # what a router mints
    before = wallet.account_balance()
    wallet.deposit_refund(refund)
    assert wallet.account_balance() == before + 16
    assert banks.calls["exchange"] == 1
    wallet.close()
    status = wallet.status()
    assert (status.held, status.credits_by_value, status.pending, status.lost) == (0, {}, [], 0)
    assert status.key_storage == "file"
    assert wallet.account_balance() == 640 - 64 + 16
    assert 100_000 - banks.api_balance == 640


def test_an_empty_api_key_is_a_typed_error_and_changes_nothing(tmp_path: Path) -> None:
    banks = FakeBanks(ISSUER, 100)
    wallet = make(tmp_path, banks)
    with pytest.raises(InsufficientBalanceError):
        wallet.take()
    assert wallet.status().pending == [] and banks.api_balance == 100


def test_random_delays_between_bank_operations(tmp_path: Path) -> None:
    banks = FakeBanks(ISSUER, 100_000)
    slept: list[float] = []
    settings = WalletSettings(
        credit_amount=64, concurrency=2, batch=4, source_amount=640, max_delay=2.5
    )
    wallet = make(tmp_path, banks, settings=settings, sleep=slept.append)
    wallet.refill()
    wallet.close()
    assert len(slept) >= 2 + 4 and all(0 <= s <= 2.5 for s in slept)
    assert len(set(slept)) == len(slept)  # random, not a constant
    quiet: list[float] = []
    make(tmp_path / "q", FakeBanks(ISSUER, 100_000), sleep=quiet.append).refill()
    assert quiet == []


STEPS = [
    ("refill", "auth_withdraw:saved"),
    ("refill", "auth_withdraw:answered"),
    ("refill", "deposit:saved"),
    ("refill", "deposit:answered"),
    ("refill", "withdraw:saved"),
    ("refill", "withdraw:answered"),
    ("close", "deposit:saved"),
    ("close", "deposit:answered"),
    ("refund", "exchange:saved"),
    ("refund", "deposit:saved"),
    ("refund", "deposit:answered"),
]


@pytest.mark.parametrize(("action", "step"), STEPS)
def test_an_interrupted_step_is_finished_by_the_next_open(
    tmp_path: Path, action: str, step: str
) -> None:
    banks = FakeBanks(ISSUER, 100_000)
    if action != "refill":
        make(tmp_path, banks).refill()

    def fault(at: str) -> None:
        if at == step:
            raise Crash(at)

    wallet = make(tmp_path, banks, fault=fault)
    actions: dict[str, Callable[[], object]] = {
        "refill": wallet.refill,
        "close": wallet.close,
        "refund": lambda: wallet.deposit_refund(ISSUER.issue_unblinded(Value.exact(16))),
    }
    with pytest.raises(Crash):
        actions[action]()
    assert wallet.status().pending  # the operation is on disk
    reopened = make(tmp_path, banks)
    refund = 16 if action == "refund" else 0
    banks.api_balance -= refund  # the refund came from outside: count it as taken
    conserved(reopened, banks)
    held = [reopened.take() for _ in range(reopened.status().credits_by_value.get(64, 0))]
    for c in held:
        banks.spend_at_router(c)  # none was handed out twice


def test_an_exchange_answered_but_not_saved_is_repeated_on_reopen_and_loses_nothing(
    tmp_path: Path,
) -> None:
    banks = FakeBanks(ISSUER, 100_000)

    def fault(at: str) -> None:
        if at == "exchange:answered":
            raise Crash(at)

    wallet = make(tmp_path, banks, fault=fault)
    with pytest.raises(Crash):
        wallet.deposit_refund(ISSUER.issue_unblinded(Value.exact(16)))
    assert wallet.status().pending == ["exchange"]
    reopened = make(tmp_path, banks)
    assert reopened.account_balance() == 16  # the repeat got the kept signature, then deposited
    assert banks.calls["exchange"] == 2
    status = reopened.status()
    assert (status.lost, status.pending) == (0, [])


def test_a_pending_refund_the_bank_refuses_as_spent_is_counted_lost(tmp_path: Path) -> None:
    banks = FakeBanks(ISSUER, 100_000)
    refund = ISSUER.issue_unblinded(Value.exact(16))

    def fault(at: str) -> None:
        if at == "exchange:saved":
            raise Crash(at)

    wallet = make(tmp_path, banks, fault=fault)
    with pytest.raises(Crash):
        wallet.deposit_refund(refund)
    banks.spend_at_router(refund)  # spent elsewhere before the wallet came back
    reopened = make(tmp_path, banks)
    status = reopened.status()
    assert (status.lost, status.pending) == (16, [])
    assert reopened.account_balance() == 0


def test_a_deposit_whose_nonce_another_role_holds_waits_without_blocking_the_wallet(tmp_path: Path) -> None:
    """A router that died mid-request leaves the credit's nonce locked until the lock expires: the
    deposit of that unused credit stays pending, and the wallet keeps serving meanwhile."""
    banks = FakeBanks(ISSUER, 100_000)
    wallet = make(tmp_path, banks)
    abandoned = wallet.take()
    banks.fail_next["deposit"] = BankRequestError(409, 401, "nonce is locked")
    with pytest.raises(BankRequestError):
        wallet.deposit_unused(abandoned)
    assert wallet.status().pending == ["deposit"]
    tries = banks.calls["deposit"]
    banks.fail_next["deposit"] = BankRequestError(409, 401, "nonce is locked")
    taken = wallet.take()  # the session retries the deposit, which is still locked, and goes on
    assert taken != abandoned and wallet.status().pending == ["deposit"]
    assert banks.calls["deposit"] == tries + 1
    wallet.account_balance()  # the lock has expired: the next session deposits it
    assert wallet.status().pending == [] and banks.calls["deposit"] == tries + 2
    banks.spend_at_router(taken)
    conserved(wallet, banks, spent=64)


def test_file_modes(tmp_path: Path) -> None:
    make(tmp_path, FakeBanks(ISSUER, 100_000)).refill()
    directory = tmp_path / "w"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("wallet.bin", "wallet.bin.key", "wallet.bin.lock"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    assert not (directory / ".wallet.bin.tmp").exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage", "other-key"])
def test_a_tampered_wallet_file_is_a_typed_error(tmp_path: Path, damage: str) -> None:
    banks = FakeBanks(ISSUER, 100_000)
    make(tmp_path, banks).refill()
    path = tmp_path / "w" / "wallet.bin"
    blob = path.read_bytes()
    if damage == "flip":
        path.write_bytes(blob[:40] + bytes([blob[40] ^ 1]) + blob[41:])
    elif damage == "truncate":
        path.write_bytes(blob[:-1])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(os.urandom(200))
    else:
        (tmp_path / "w" / "wallet.bin.key").unlink()
        make(tmp_path / "other", banks)
        os.replace(tmp_path / "other" / "w" / "wallet.bin.key", tmp_path / "w" / "wallet.bin.key")
    damaged = path.read_bytes()
    with pytest.raises(WalletFileError) as info:
        make(tmp_path, banks)
    assert isinstance(info.value, MalformedInputError)
    assert path.read_bytes() == damaged  # left for the user to inspect, never overwritten


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A working keyring backend in memory (the machine's default backend here is keyring's "fail")."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.entries[(service, username)]


def test_the_file_key_goes_to_a_working_keyring(tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    try:
        banks = FakeBanks(ISSUER, 100_000)
        path = tmp_path / "w" / "wallet.bin"
        wallet = Wallet(path, banks, KEY, SETTINGS)
        wallet.refill()
        assert wallet.status().key_storage == "keyring"
        assert not (tmp_path / "w" / "wallet.bin.key").exists()
        assert list(memory.entries) == [("openpcc-wallet", str(path))]
        assert Wallet(path, banks, KEY, SETTINGS).status().credits_by_value == {64: 4}
        memory.entries.clear()  # the key is gone: the file cannot be read
        with pytest.raises(WalletFileError):
            Wallet(path, banks, KEY, SETTINGS)
    finally:
        keyring.set_keyring(previous)


def test_credits_near_the_end_of_their_hour_go_back_into_the_account(tmp_path: Path) -> None:
    banks = FakeBanks(ISSUER, 100_000)
    offset = [0.0]
    wallet = make(tmp_path, banks, clock=lambda: time.time() + offset[0])
    wallet.refill()
    held = [wallet.take() for _ in range(4)]
    for c in held:
        wallet.give_back(c)
    # Nonces take the current hour or, by chance, the next (spec §8.2): the earliest expire first.
    first = min(c.nonce.timestamp for c in held)
    later = [c for c in held if c.nonce.timestamp > first]
    offset[0] = first + 3600 + 30 - 100 - time.time()  # within the 300 s margin, still valid
    assert wallet.account_balance() == 640 - 4 * 64 + (4 - len(later)) * 64  # swept on opening
    assert wallet.status().held == len(later) * 64
    for c in later:
        assert wallet.take() == c
    fresh = wallet.take()  # a refill with fresh nonces
    assert fresh.nonce.timestamp > first
    banks.spend_at_router(fresh)
    conserved(wallet, banks, spent=64 * (1 + len(later)))


def test_expired_credits_are_dropped_and_counted(tmp_path: Path) -> None:
    banks = FakeBanks(ISSUER, 100_000)
    offset = [0.0]
    wallet = make(tmp_path, banks, clock=lambda: time.time() + offset[0])
    wallet.refill()
    offset[0] = 2 * 3600 + 60
    assert wallet.refill() == 4  # the four expired ones are gone, four fresh ones held
    status = wallet.status()
    assert status.expired == 4 * 64 and status.pending == []


def test_threads_with_their_own_wallet_objects_never_share_a_credit(tmp_path: Path) -> None:
    banks = FakeBanks(ISSUER, 100_000)  # bank calls are serialized by the wallet's file lock
    taken: list[list[Credit]] = [[] for _ in range(6)]

    def run(i: int) -> None:
        w = make(tmp_path, banks)
        taken[i] += [w.take() for _ in range(5)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    credits = [c for chunk in taken for c in chunk]
    assert len(credits) == 30 and len({c.nonce for c in credits}) == 30
    for c in credits:
        banks.spend_at_router(c)


def transport_answering(
    status: int, body: bytes, headers: dict[str, str] | None = None
) -> Transport:
    def send(method: str, path: str, sent: dict[str, str], data: bytes) -> Response:
        return Response(status, headers or {}, body)

    return send


@pytest.mark.parametrize(
    ("status", "body", "headers", "error"),
    [
        (200, b"\xff\xff\xff", {}, MalformedInputError),  # not the response message
        (410, b"", {}, NonceConsumedError),
        (400, b"", {"X-Openpcc-Error-Code": "402"}, NonceConsumedError),
        (429, b"", {}, InsufficientBalanceError),
        (500, b"\x0a\x03bad", {"X-Openpcc-Error-Code": "302"}, BankRequestError),
        (404, b"<html>", {}, BankRequestError),
    ],
)
def test_bank_answers_become_typed_errors(
    status: int, body: bytes, headers: dict[str, str], error: type[Exception]
) -> None:
    client = HTTPBankClient(transport_answering(status, body, headers))
    with pytest.raises(error):
        client.deposit(bytes(32), ISSUER.issue_unblinded(Value.exact(64)))


def test_a_wrong_signature_from_the_bank_is_a_typed_error_and_leaves_nothing_pending(
    tmp_path: Path,
) -> None:
    banks = FakeBanks(ISSUER, 100_000)
    wallet = make(tmp_path, banks)
    wallet.refill()
    banks.withdraw = lambda account, requests: (0, [bytes(256)] * len(requests))  # type: ignore[method-assign]
    [wallet.take() for _ in range(4)]
    with pytest.raises(InvalidCreditError):
        wallet.take()
    status = make(tmp_path, banks).status()  # reopens without replaying the bad answer forever
    assert status.pending == [] and status.lost == 4 * 64


def test_an_unreachable_bank_is_a_typed_error(tmp_path: Path) -> None:
    client = HTTPBankClient(direct_transport("http://127.0.0.1:9"))
    with pytest.raises(BankRequestError) as info:
        client.balance(bytes(32))
    assert info.value.status == 0


def test_a_refunds_random_wait_does_not_hold_the_wallet(tmp_path: Path) -> None:
    """The wait between a refund's exchange and its deposit is spent without the lock: another wallet on the
    same file takes a credit meanwhile, and does not deposit the refund before its time."""
    import threading

    banks = FakeBanks(ISSUER, 100_000)
    settings = WalletSettings(credit_amount=64, concurrency=2, batch=4, source_amount=640, max_delay=3.0)
    now = [float(int(__import__("time").time()))]
    seen: dict[str, Any] = {}

    def sleep(seconds: float) -> None:
        if "armed" not in seen or "other" in seen or seconds <= 0:
            return
        other = make(tmp_path, banks, settings=settings, sleep=lambda s: None, clock=lambda: now[0])

        def use_other() -> None:
            seen["taken"] = other.take()
            seen["pending"] = other.status().pending

        worker = threading.Thread(target=use_other)
        worker.start()
        worker.join(timeout=20)
        seen["other"] = not worker.is_alive()
        now[0] += seconds  # the wait passes

    wallet = make(tmp_path, banks, settings=settings, sleep=sleep, clock=lambda: now[0])
    wallet.refill()
    before = wallet.account_balance()
    seen["armed"] = True  # from here the only wait is the refund's, between its exchange and its deposit
    wallet.deposit_refund(ISSUER.issue_unblinded(Value.exact(16)))
    assert seen["other"] is True and seen["taken"].value == Value.exact(64)  # not blocked by the refund
    assert seen["pending"] == ["deposit"]  # not finished early by the other session
    assert wallet.status().pending == [] and wallet.account_balance() == before + 16


def test_a_background_top_up_waits_its_random_delays_without_blocking_take(tmp_path: Path) -> None:
    banks = FakeBanks(ISSUER, 100_000)
    quick = WalletSettings(credit_amount=64, concurrency=2, batch=4, source_amount=320, max_delay=0)
    slow = WalletSettings(credit_amount=64, concurrency=2, batch=4, source_amount=320, max_delay=30.0)
    in_delay, release = threading.Event(), threading.Event()

    def held_sleep(_seconds: float) -> None:  # the refill's random wait, held until the test releases it
        in_delay.set()
        assert release.wait(timeout=60)

    primer = make(tmp_path, banks, settings=quick)
    primer.refill()  # 4 credits; the account keeps 64, less than a batch: the next refill must fund it
    taken = [primer.take() for _ in range(2)]
    background = make(tmp_path, banks, settings=slow, sleep=held_sleep)
    assert not background.top_up()  # no take yet: nothing says the wallet runs low
    taken.append(background.take())  # 1 left, below low water (2): a top-up is due
    top_up = threading.Thread(target=background.top_up)
    top_up.start()
    assert in_delay.wait(timeout=60)  # the top-up is in a random wait now ...
    taken.append(primer.take())  # ... and a request still gets the last credit at once
    assert not background.top_up()  # a second top-up does not start beside the first
    release.set()
    top_up.join(timeout=60)
    assert not top_up.is_alive() and background.held() >= 2
    for c in taken:
        banks.spend_at_router(c)
