"""An in-process stand-in for the auth and blind banks, for unit tests of the wallet's state machine ONLY.

It signs for real with :class:`openpcc.credits.Issuer` (so every credit it gives verifies), keeps the
properties the wallet relies on (withdrawals idempotent by their blinded messages, exchanges idempotent by
the credit and blinded message, a spent nonce refused,
all-or-nothing batches, balances checked before signing) and counts calls. The wallet is also tested
against the real bank processes in ``tests/services/test_wallet_banks.py``.
"""

from __future__ import annotations

from collections import Counter

from openpcc.credits import Credit, Issuer, Value
from openpcc.exceptions import (
    IdempotencyConflictError,
    InsufficientBalanceError,
    NonceConsumedError,
)


class FakeBanks:
    def __init__(self, issuer: Issuer, api_balance: int) -> None:
        self.issuer = issuer
        self.api_balance = api_balance
        self.accounts: Counter[bytes] = Counter()
        self.spent: set[bytes] = set()
        self.done: dict[bytes, list[bytes]] = {}  # idempotent operations: key -> signatures
        self.calls: Counter[str] = Counter()
        self.fail_next: dict[str, Exception] = {}

    def _enter(self, name: str) -> None:
        self.calls[name] += 1
        if name in self.fail_next:
            raise self.fail_next.pop(name)

    def _spend(self, credit: Credit) -> None:
        credit.check(self.issuer.public_key)
        if credit.nonce.blind_bytes in self.spent:
            raise NonceConsumedError("spent")
        self.spent.add(credit.nonce.blind_bytes)

    def auth_withdraw(self, value: Value, blinded_message: bytes) -> bytes:
        self._enter("auth_withdraw")
        op = b"auth" + value.blind_bytes + blinded_message
        if op not in self.done:
            if value.amount > self.api_balance:
                raise InsufficientBalanceError("api key balance")
            self.api_balance -= value.amount
            self.done[op] = [self.issuer.blind_sign(value, blinded_message)]
        return self.done[op][0]

    def deposit(self, account: bytes, credit: Credit) -> int:
        self._enter("deposit")
        self._spend(credit)
        self.accounts[account] += credit.value.amount
        return self.accounts[account]

    def withdraw(
        self, account: bytes, requests: list[tuple[Value, bytes]]
    ) -> tuple[int, list[bytes]]:
        self._enter("withdraw")
        op = account + b"".join(v.blind_bytes + b for v, b in requests)
        if op not in self.done:
            total = sum(v.amount for v, _ in requests)
            if total > self.accounts[account]:
                raise InsufficientBalanceError("balance")
            self.accounts[account] -= total
            self.done[op] = [self.issuer.blind_sign(v, b) for v, b in requests]
        return self.accounts[account], self.done[op]

    def exchange(self, credit: Credit, blinded_message: bytes) -> bytes:
        self._enter("exchange")
        op = b"exchange" + credit.nonce.blind_bytes
        if op in self.done:  # a repeat gets the kept answer; another blinded message is refused
            if self.done[op][0] != blinded_message:
                raise IdempotencyConflictError("exchanged for another blinded message")
            return self.done[op][1]
        self._spend(credit)
        self.done[op] = [blinded_message, self.issuer.blind_sign(credit.value, blinded_message)]
        return self.done[op][1]

    def balance(self, account: bytes) -> int:
        self._enter("balance")
        return self.accounts[account]

    def spend_at_router(self, credit: Credit) -> None:
        """What the router does with a credit (verify, consume its nonce)."""
        self._spend(credit)
