"""The committed RSA-2048 safe-prime test currency key (``tests/data/currency/``)."""

from __future__ import annotations

from pathlib import Path

from openpcc.blindrsa import SecretKey

TEST_CURRENCY_KEY_PEM = (
    Path(__file__).resolve().parents[1] / "data" / "currency" / "test-currency-key.pem"
)


def load_test_currency_key() -> SecretKey:
    """The test key (never a production key: it is public in the repository)."""
    return SecretKey.from_pem(TEST_CURRENCY_KEY_PEM.read_text())
