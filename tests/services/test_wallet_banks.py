"""The wallet against the REAL auth bank and blind bank processes (``openpcc auth``, ``openpcc bank``, SQLite),
through :class:`openpcc.wallet.HTTPBankClient` over plain HTTP on loopback: the whole flow, several wallet
processes sharing one file taking credits at once (each credit handed out once), and a wallet process
SIGKILLed at every step of its withdrawals, exchanges and deposits (on restart nothing lost, nothing
duplicated)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from openpcc import config
from openpcc.credits import Credit, Issuer, Value
from openpcc.exceptions import NonceConsumedError
from openpcc.wallet import HTTPBankClient, Wallet, WalletSettings, direct_transport, open_wallet
from support.currency_key import TEST_CURRENCY_KEY_PEM, load_test_currency_key
from support.servers import RoleProcess, free_port, role_process

ISSUER = Issuer(load_test_currency_key())  # the test plays the router when it mints a refund
KEY = ISSUER.public_key
SETTINGS = WalletSettings(credit_amount=64, concurrency=2, batch=4, source_amount=640, max_delay=0)
API_BALANCE = 100_000
TESTS = Path(__file__).resolve().parents[1]


@dataclass
class Banks:
    bank: RoleProcess
    auth: RoleProcess
    api_key_file: Path

    def client(self) -> HTTPBankClient:
        api_key = config.read_key_file(self.api_key_file).decode().strip()
        return HTTPBankClient(
            direct_transport(self.bank.url), direct_transport(self.auth.url), api_key
        )


@pytest.fixture
def banks(tmp_path: Path) -> Iterator[Banks]:
    texts = {}
    for role in ("bank", "auth"):
        data_dir = tmp_path / f"{role}data"
        config.write_key_file(data_dir / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())
        texts[role] = (free_port(), f'[{role}]\nport = {{port}}\ndata_dir = "{data_dir}"\n')
    auth_port, auth_text = texts["auth"]
    (tmp_path / "auth.toml").write_text(auth_text.format(port=auth_port))
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "openpcc",
            "auth",
            "keys",
            "add",
            "--balance",
            str(API_BALANCE),
            "--config",
            str(tmp_path / "auth.toml"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "OPENPCC_HOME": str(tmp_path)},
    )
    key_file = tmp_path / "client" / "api-key"
    config.write_key_file(key_file, added.stdout.strip())
    bank_port, bank_text = texts["bank"]
    with (
        role_process("bank", bank_text.format(port=bank_port), tmp_path, bank_port) as bank,
        role_process("auth", auth_text.format(port=auth_port), tmp_path, auth_port) as auth,
    ):
        yield Banks(bank, auth, key_file)


def wallet(banks: Banks, path: Path) -> Wallet:
    return Wallet(path, banks.client(), KEY, SETTINGS, use_keyring=False)


def check_all_unspent(banks: Banks, credits: list[Credit]) -> None:
    """Deposits each credit into a fresh account: every one verifies and none was spent before."""
    client, account = banks.client(), secrets.token_bytes(32)
    for c in credits:
        client.deposit(account, c)
    assert client.balance(account) == sum(c.value.amount for c in credits)


def test_refill_take_refund_close_against_the_real_banks(banks: Banks, tmp_path: Path) -> None:
    w = wallet(banks, tmp_path / "w" / "wallet.bin")
    assert w.refill() == 4
    taken = [w.take() for _ in range(5)]  # the fifth refills from the account
    assert len({c.nonce for c in taken}) == 5 and all(c.value == Value.exact(64) for c in taken)
    check_all_unspent(banks, taken)  # "spends" them
    with pytest.raises(NonceConsumedError):
        banks.client().deposit(secrets.token_bytes(32), taken[0])
    w.deposit_refund(ISSUER.issue_unblinded(Value.exact(16)))
    w.close()
    assert w.status().held == 0 and w.status().pending == []
    assert w.account_balance() == 640 - 5 * 64 + 16


def run_child(
    banks: Banks,
    path: Path,
    action: str,
    kill_at: str | None = None,
    count: int = 0,
    refund: Credit | None = None,
) -> subprocess.CompletedProcess[str]:
    args = {
        "refund": refund.encode().hex() if refund is not None else "",
        "path": str(path),
        "bank_url": banks.bank.url,
        "auth_url": banks.auth.url,
        "api_key_file": str(banks.api_key_file),
        "action": action,
        "count": count,
        "kill_at": kill_at,
        "settings": asdict(SETTINGS),
    }
    return subprocess.run(
        [sys.executable, "-m", "support.wallet_child", json.dumps(args)],
        check=False,
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_processes_sharing_a_wallet_never_hand_out_a_credit_twice(
    banks: Banks, tmp_path: Path
) -> None:
    path = tmp_path / "w" / "wallet.bin"
    args = {
        "path": str(path),
        "bank_url": banks.bank.url,
        "auth_url": banks.auth.url,
        "api_key_file": str(banks.api_key_file),
        "action": "take",
        "count": 12,
        "kill_at": None,
        "settings": asdict(SETTINGS),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "support.wallet_child", json.dumps(args)],
            cwd=TESTS,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err[-2000:]
            outputs.append(out.split())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    credits = [Credit.decode(bytes.fromhex(line)) for out in outputs for line in out]
    assert len(credits) == 48 and len({c.nonce for c in credits}) == 48
    check_all_unspent(banks, credits)
    w = wallet(banks, path)
    assert w.status().pending == []
    total = 48 * 64 + w.status().held + w.account_balance()
    assert total % 640 == 0  # whole withdrawals from the API key: nothing lost on the way


KILL_POINTS = [
    ("refill", "auth_withdraw:saved"),
    ("refill", "auth_withdraw:answered"),
    ("refill", "deposit:saved"),
    ("refill", "deposit:answered"),
    ("refill", "withdraw:saved"),
    ("refill", "withdraw:answered"),
    ("close", "deposit:saved"),
    ("close", "deposit:answered"),
    ("refund", "exchange:saved"),
    ("refund", "exchange:answered"),  # the bank spent the refund; its kept answer is fetched again
    ("refund", "deposit:saved"),
    ("refund", "deposit:answered"),
]


@pytest.mark.parametrize(("action", "kill_at"), KILL_POINTS)
def test_a_wallet_killed_at_any_step_loses_and_duplicates_nothing(
    banks: Banks, tmp_path: Path, action: str, kill_at: str
) -> None:
    path = tmp_path / "w" / "wallet.bin"
    if action != "refill":
        assert run_child(banks, path, "refill").returncode == 0
    refund = ISSUER.issue_unblinded(Value.exact(16)) if action == "refund" else None
    killed = run_child(banks, path, action, kill_at, refund=refund)
    assert killed.returncode == -9, killed.stderr[-2000:]
    w = wallet(banks, path)  # finishes the operation the dead process left
    status = w.status()
    assert status.pending == [] and status.lost == 0
    # Exactly one withdrawal from the API key, plus the refund when there was one.
    assert status.held + w.account_balance() == 640 + (16 if refund else 0)
    held = [w.take() for _ in range(status.credits_by_value.get(64, 0))]
    check_all_unspent(banks, held)


def test_open_wallet_from_a_client_profile(banks: Banks, tmp_path: Path) -> None:
    profile_file = tmp_path / "client.toml"
    profile_file.write_text(
        f'[client]\nauth_url = "{banks.auth.url}"\nbank_url = "{banks.bank.url}"\n'
        f'api_key_file = "{banks.api_key_file}"\ncredit_amount = 64\nconcurrency = 3\n'
        "source_amount = 640\nmax_delay = 0\nuse_keyring = false\n"
    )
    profile = config.load(profile_file, env={"OPENPCC_HOME": str(tmp_path / "home")}).client()
    w = open_wallet(profile, KEY)
    assert w.refill() == 6  # batch: 2 x concurrency
    assert (tmp_path / "home" / "client" / "wallet.bin").exists()
    check_all_unspent(banks, [w.take() for _ in range(6)])
