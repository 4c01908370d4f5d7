"""The currency's partially blind RSA steps on a 2048-bit safe-prime key: openpcc against the same
steps in Python integers (``pow``) and against cloudflare/circl v1.6.1 (the reference's library) run
from Go (``tests/interop/blindrsa``; skipped without Go, a failure when ``CI`` is set).

The message is a 24-byte nonce, the metadata a 2-byte value, the PSS salt 48 zero bytes (spec §8.3).
Each round runs the step ``ROUND`` times for every implementation, so the Go peer's pipe round trip
is spread over the round; a group's medians are per round (divide by ``ROUND`` for one step).

Every implementation derives the metadata key in each step, as circl does; ``openpcc-cached`` signs
with the derived key computed once (what a bank holding a few values does).
"""

from __future__ import annotations

import hashlib
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openpcc import blindrsa

from tests.support.blindrsa_peer import GoPeer, build_peer
from tests.support.currency_key import TEST_CURRENCY_KEY_PEM as KEY_PEM

ROUND = 10
INFO = bytes.fromhex("0224")
MSG = bytes(range(24))
STEPS = ("blind", "sign", "finalize", "verify")

Paired = Callable[[str, str], Any]


def group(step: str) -> str:
    return f"pbrsa-2048 {step} x{ROUND}"


# --- the same steps in Python integers --------------------------------------------------------


def _mgf1(seed: bytes, length: int) -> bytes:
    blocks = (length + 47) // 48
    return b"".join(hashlib.sha384(seed + i.to_bytes(4, "big")).digest() for i in range(blocks))[
        :length
    ]


def _pss_encode(message: bytes, em_bits: int, salt: bytes) -> bytes:
    em_len = (em_bits + 7) // 8
    h = hashlib.sha384(bytes(8) + hashlib.sha384(message).digest() + salt).digest()
    db = bytes(em_len - len(salt) - 48 - 2) + b"\x01" + salt
    masked = bytearray(a ^ b for a, b in zip(db, _mgf1(h, len(db))))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    return bytes(masked) + h + b"\xbc"


def _pss_verify(message: bytes, em: bytes, em_bits: int, salt_len: int) -> bool:
    em_len = (em_bits + 7) // 8
    if em[-1] != 0xBC:
        return False
    masked, h = em[: em_len - 49], em[em_len - 49 : -1]
    if masked[0] & ~(0xFF >> (8 * em_len - em_bits)) & 0xFF:
        return False
    db = bytearray(a ^ b for a, b in zip(masked, _mgf1(h, len(masked))))
    db[0] &= 0xFF >> (8 * em_len - em_bits)
    pad = em_len - 48 - salt_len - 2
    if any(db[:pad]) or db[pad] != 1:
        return False
    salt = bytes(db[len(db) - salt_len :])
    return h == hashlib.sha384(bytes(8) + hashlib.sha384(message).digest() + salt).digest()


class PythonIntegers:
    """RSAPBSSA with ``pow`` on Python ints (CRT signing, the same checks as the others)."""

    def __init__(self, pem: bytes) -> None:
        key = serialization.load_pem_private_key(pem, password=None)
        numbers = key.private_numbers()  # type: ignore[union-attr]
        self.p, self.q = numbers.p, numbers.q
        self.n = numbers.public_numbers.n
        self.k = (self.n.bit_length() + 7) // 8
        self.em_bits = self.n.bit_length() - 1

    def _e_prime(self, info: bytes) -> int:
        okm = bytearray(
            HKDF(
                hashes.SHA384(), self.k // 2 + 16, self.n.to_bytes(self.k, "big"), b"PBRSA"
            ).derive(b"key" + info + b"\x00")[: self.k // 2]
        )
        okm[0] &= 0x3F
        okm[-1] |= 1
        return int.from_bytes(okm, "big")

    def _message(self, msg: bytes, info: bytes) -> bytes:
        return b"msg" + len(info).to_bytes(4, "big") + info + msg

    def blind(self, msg: bytes, info: bytes) -> tuple[bytes, int]:
        e = self._e_prime(info)
        m = int.from_bytes(_pss_encode(self._message(msg, info), self.em_bits, bytes(48)), "big")
        r = secrets.randbelow(self.n - 1) + 1
        inv = pow(r, -1, self.n)
        return (m * pow(r, e, self.n) % self.n).to_bytes(self.k, "big"), inv

    def sign(self, blinded: bytes, info: bytes) -> bytes:
        e = self._e_prime(info)
        d = pow(e, -1, (self.p - 1) * (self.q - 1))
        m = int.from_bytes(blinded, "big")
        s_p = pow(m % self.p, d % (self.p - 1), self.p)
        s_q = pow(m % self.q, d % (self.q - 1), self.q)
        s = s_q + self.q * ((s_p - s_q) * pow(self.q, -1, self.p) % self.p)
        if pow(s, e, self.n) != m:
            raise ValueError("signing check failed")
        return s.to_bytes(self.k, "big")

    def verify(self, msg: bytes, info: bytes, sig: bytes) -> None:
        em = pow(int.from_bytes(sig, "big"), self._e_prime(info), self.n).to_bytes(self.k, "big")
        if not _pss_verify(self._message(msg, info), em, self.em_bits, 48):
            raise ValueError("invalid signature")

    def finalize(self, msg: bytes, info: bytes, blind_sig: bytes, inv: int) -> bytes:
        sig = (int.from_bytes(blind_sig, "big") * inv % self.n).to_bytes(self.k, "big")
        self.verify(msg, info, sig)
        return sig


@pytest.fixture(scope="module")
def go_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoPeer]:
    binary = build_peer(tmp_path_factory.mktemp("blindrsa-peer"))
    peer = GoPeer(binary, KEY_PEM.read_text(), INFO, MSG)
    try:
        yield peer
    finally:
        peer.close()


# --- the benchmarks --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    sk = blindrsa.SecretKey.from_pem(KEY_PEM.read_text())
    pk = sk.public_key()
    blinded, inv = blindrsa.pb_blind(pk, MSG, INFO, zero_salt=True)
    blind_sig = blindrsa.pb_blind_sign(sk, blinded, INFO)
    sig = blindrsa.pb_finalize(pk, MSG, INFO, blind_sig, inv)
    return {
        "sk": sk,
        "pk": pk,
        "derived": sk.derive(INFO),
        "blinded": blinded,
        "inv": inv,
        "blind_sig": blind_sig,
        "sig": sig,
    }


def _repeat(step: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(ROUND):
            step()

    return run


def _our_steps(o: dict[str, Any]) -> dict[str, Callable[[], object]]:
    pk, sk = o["pk"], o["sk"]
    return {
        "blind": lambda: blindrsa.pb_blind(pk, MSG, INFO, zero_salt=True),
        "sign": lambda: blindrsa.pb_blind_sign(sk, o["blinded"], INFO),
        "finalize": lambda: blindrsa.pb_finalize(pk, MSG, INFO, o["blind_sig"], o["inv"]),
        "verify": lambda: blindrsa.pb_verify(pk, MSG, INFO, o["sig"]),
    }


@pytest.mark.parametrize("step", STEPS)
def test_openpcc(paired: Paired, ours: dict[str, Any], step: str) -> None:
    paired(group(step), "openpcc")(_repeat(_our_steps(ours)[step]))


def test_openpcc_cached_sign(paired: Paired, ours: dict[str, Any]) -> None:
    derived, blinded = ours["derived"], ours["blinded"]
    paired(group("sign"), "openpcc-cached")(_repeat(lambda: blindrsa.blind_sign(derived, blinded)))


@pytest.mark.parametrize("step", STEPS)
def test_python_integers(paired: Paired, ours: dict[str, Any], step: str) -> None:
    py = PythonIntegers(KEY_PEM.read_bytes())
    blinded, inv = py.blind(MSG, INFO)
    blind_sig = py.sign(blinded, INFO)
    sig = py.finalize(MSG, INFO, blind_sig, inv)
    assert sig == ours["sig"]  # same key, zero salt: the same deterministic signature
    steps: dict[str, Callable[[], object]] = {
        "blind": lambda: py.blind(MSG, INFO),
        "sign": lambda: py.sign(blinded, INFO),
        "finalize": lambda: py.finalize(MSG, INFO, blind_sig, inv),
        "verify": lambda: py.verify(MSG, INFO, sig),
    }
    paired(group(step), "python-int")(_repeat(steps[step]))


@pytest.mark.parametrize("step", STEPS)
def test_circl_go(paired: Paired, go_peer: GoPeer, ours: dict[str, Any], step: str) -> None:
    assert go_peer.signature == ours["sig"]  # circl signs the same bytes
    paired(group(step), "circl-go")(lambda: go_peer.run(step, ROUND))
