"""The currency's partially blind RSA against cloudflare/circl v1.6.1 (the reference's library) from Go:
with the same key, value and nonce, circl's credit signature (zero PSS salt) is byte-identical to ours,
and each side verifies the other's. Skipped without Go; a failure when ``CI`` is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openpcc import blindrsa
from openpcc.credits import Credit, Nonce, Value

from tests.support.blindrsa_peer import GoPeer, build_peer
from tests.support.currency_key import TEST_CURRENCY_KEY_PEM, load_test_currency_key

pytestmark = pytest.mark.interop

VALUE = Value.exact(2621440)
NONCE = Nonce(1_800_000_000 // 3600 * 3600, bytes(range(16)))


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoPeer]:
    binary = build_peer(tmp_path_factory.mktemp("blindrsa-peer"))
    go = GoPeer(binary, TEST_CURRENCY_KEY_PEM.read_text(), VALUE.blind_bytes, NONCE.blind_bytes)
    try:
        yield go
    finally:
        go.close()


def test_circl_signs_the_same_credit_bytes(peer: GoPeer) -> None:
    sk = load_test_currency_key()
    pk = sk.public_key()
    # circl's signature is a valid credit for us...
    Credit(VALUE, NONCE, peer.signature).verify(pk)
    # ...and ours, through blinding, is the same bytes (zero salt: RSA-PSS becomes deterministic).
    blinded, inv = blindrsa.pb_blind(pk, NONCE.blind_bytes, VALUE.blind_bytes, zero_salt=True)
    ours = blindrsa.pb_finalize(
        pk,
        NONCE.blind_bytes,
        VALUE.blind_bytes,
        blindrsa.pb_blind_sign(sk, blinded, VALUE.blind_bytes),
        inv,
    )
    assert ours == peer.signature
    # circl's own steps run (blind, sign, finalize and verify each check their results).
    for step in ("blind", "sign", "finalize", "verify"):
        peer.run(step, 1)
