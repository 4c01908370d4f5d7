"""The wallet keeps the auth bank's badge (spec §8.9): taken from withdrawal answers, saved in the encrypted
wallet file (a restart keeps it), the latest one winning, and refused as the reference's client refuses it
(a model named twice) without failing the paid withdrawal."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openpcc.badge import Badge
from openpcc.compute import encode_message
from openpcc.credits import Issuer, PendingCredit, Value
from openpcc.exceptions import MalformedBadgeError
from openpcc.wallet import HTTPBankClient, Response, Wallet, WalletSettings
from support.currency_key import load_test_currency_key
from support.fake_bank import FakeBanks

ISSUER = Issuer(load_test_currency_key())
KEY = ISSUER.public_key
SETTINGS = WalletSettings(credit_amount=64, concurrency=2, batch=4, source_amount=640, max_delay=0)
AUTH_KEY = Ed25519PrivateKey.generate()


class BadgingBanks(FakeBanks):
    """The fake banks, answering every auth withdrawal with a badge as the auth bank does."""

    def __init__(self, badge: Badge) -> None:
        super().__init__(ISSUER, 100_000)
        self.issued = badge
        self.last_badge: Badge | None = None

    def auth_withdraw(self, value: Value, blinded_message: bytes) -> bytes:
        signature = super().auth_withdraw(value, blinded_message)
        self.last_badge = self.issued
        return signature

    def attestation_withdraw(self, blinded_message: bytes) -> bytes:
        self.calls["attestation_withdraw"] += 1
        self.last_badge = self.issued
        from openpcc.credits import ATTESTATION_VALUE

        return ISSUER.blind_sign(ATTESTATION_VALUE, blinded_message)


def make(tmp_path: Path, banks: Any) -> Wallet:
    return Wallet(tmp_path / "w" / "wallet.bin", banks, KEY, SETTINGS, use_keyring=False)


def test_the_badge_of_the_auth_withdrawal_is_kept_across_a_restart(tmp_path: Path) -> None:
    badge = Badge.issue(AUTH_KEY, ["echo"])
    banks = BadgingBanks(badge)
    make(tmp_path, banks).refill()
    assert banks.calls["auth_withdraw"] == 1
    reopened = make(tmp_path, FakeBanks(ISSUER, 0))  # a restart: a bank client that never saw a badge
    assert reopened.badge() == badge
    reopened.badge().verify(AUTH_KEY.public_key())  # type: ignore[union-attr]
    # the file is encrypted: the badge is not readable in it
    assert badge.signature not in (tmp_path / "w" / "wallet.bin").read_bytes()


def test_without_a_kept_badge_one_free_attestation_withdrawal_gets_it(tmp_path: Path) -> None:
    banks = BadgingBanks(Badge.issue(AUTH_KEY, ["echo"]))
    wallet = make(tmp_path, banks)
    assert wallet.badge() == banks.issued and wallet.badge() == banks.issued
    assert banks.calls["attestation_withdraw"] == 1 and banks.calls["auth_withdraw"] == 0


def test_the_latest_badge_wins(tmp_path: Path) -> None:
    banks = BadgingBanks(Badge.issue(AUTH_KEY, ["echo"]))
    wallet = make(tmp_path, banks)
    assert wallet.badge() == banks.issued
    banks.issued = Badge.issue(AUTH_KEY, ["echo", "llama"])  # the operator changed the model set
    wallet.attestation_credit()
    assert wallet.badge() is not None and wallet.badge().models == ("echo", "llama")  # type: ignore[union-attr]


def test_a_bank_without_badges_gives_none(tmp_path: Path) -> None:
    assert make(tmp_path, FakeBanks(ISSUER, 100_000)).badge() is None


def auth_answer(badge_message: dict[str, Any]) -> bytes:
    pending = PendingCredit.create(KEY, Value.exact(640), 1_700_000_000)
    signature = ISSUER.blind_sign(Value.exact(640), pending.blinded_message)
    body = {"blindSignature": base64.b64encode(signature).decode(), "badge": badge_message}
    return encode_message("csprotos.AuthWithdrawalResponse", body)


def test_a_badge_naming_a_model_twice_is_refused_but_the_withdrawal_stands(tmp_path: Path) -> None:
    twice = Badge(("echo", "echo"), AUTH_KEY.sign(b"x")).to_message()
    answer = auth_answer(twice)
    client = HTTPBankClient(
        lambda *a: Response(200, {}, b""), lambda *a: Response(200, {}, answer), "opk_test"
    )
    assert client.auth_withdraw(Value.exact(640), b"\x01" * 128)  # the paid signature is kept
    assert client.last_badge is None and isinstance(client.badge_error, MalformedBadgeError)
    with pytest.raises(MalformedBadgeError):
        make(tmp_path, client).badge()  # asks again (attestation), is refused again, says why


def test_a_well_formed_badge_is_taken_from_the_answer() -> None:
    badge = Badge.issue(AUTH_KEY, ["a", "b"])
    answer = auth_answer(badge.to_message())
    client = HTTPBankClient(lambda *a: Response(200, {}, b""), lambda *a: Response(200, {}, answer), "opk_test")
    client.attestation_withdraw(b"\x01" * 128)
    assert client.last_badge == badge and client.badge_error is None
