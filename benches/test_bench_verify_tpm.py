"""TPM quote verification: openpcc (Rust core) against the same checks written on `cryptography`.

Groups:
* ``tpm-quote-sha256``: go-tpm-tools GCE quote, RSA-2048 RSASSA-SHA256 AK, 24 SHA-256 PCRs.
* ``tpm-quote-sha384``: same AK, 24 SHA-384 PCRs (the biggest PCR map a PC-client quote carries).
* ``tpm-quote+eventlog``: the SHA-256 quote, then the node's event log (crypto-agile, 3 banks)
  replayed with its event data hashed, PCRs 0-9 compared with the quoted values: what a verifier
  does to learn what booted. The baseline adds the ``hashlib`` event-log verifier of
  ``test_bench_verify_eventlog.py`` to the quote check below.
Each group also has the bare RSA-2048 signature verification (``cryptography``, key prepared) as
the floor (``floor-rsa2048``).
Run: ``make bench`` or ``.venv/bin/python -m pytest benches/test_bench_verify_tpm.py --benchmark-enable``.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any

import pytest
from openpcc.attestation import eventlog, tpm

from benches.test_bench_verify_eventlog import python_verify as python_verify_event_log
from tests.support.vectors import load_json, read_bytes

padding = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.padding")
rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
hashes = pytest.importorskip("cryptography.hazmat.primitives.hashes")
exceptions = pytest.importorskip("cryptography.exceptions")

NONCE = b"\x90\x09"


def _case(bank_name: str) -> dict[str, Any]:
    quote = load_json("tpm", "expected.json")["quotes"][2]
    bank = next(b for b in quote["banks"] if b["bank"] == bank_name)
    return {
        "attest": read_bytes("tpm", bank["quote"]),
        "signature": read_bytes("tpm", bank["signature"]),
        "ak": read_bytes("tpm", quote["extracted_files"]["ak_pub"]),
        "pcrs": {int(k): bytes.fromhex(v) for k, v in bank["pcr_values"].items()},
        "bank": bank_name,
        "event_log": read_bytes("tpm", quote["extracted_files"]["event_log"]),
    }


#: The PCRs the GCE event log measures into (firmware, boot loader, kernel).
LOGGED_PCRS = range(10)


def _logged(pcrs: dict[int, bytes]) -> dict[str, dict[int, bytes]]:
    return {"sha256": {i: pcrs[i] for i in LOGGED_PCRS}}


# --- the Python baseline: the same checks, on `cryptography` -------------------------------------

_BANKS = {"sha1": (0x0004, 20), "sha256": (0x000B, 32), "sha384": (0x000C, 48)}


def _rsa_ak(ak: bytes) -> Any:
    # TPMT_PUBLIC RSA: type, nameAlg, attributes, authPolicy, symmetric(NULL), scheme+hash, keyBits, exponent, unique.
    alg, _name_alg, attrs = struct.unpack_from(">HHI", ak)
    if alg != 0x0001 or attrs & 0x50002 != 0x50002:
        raise ValueError("not a restricted RSA signing key")
    pos = 8
    pos += 2 + struct.unpack_from(">H", ak, pos)[0]
    if struct.unpack_from(">H", ak, pos)[0] != 0x0010:
        raise ValueError("symmetric")
    pos += 2
    scheme = struct.unpack_from(">H", ak, pos)[0]
    pos += 4 if scheme != 0x0010 else 2
    _bits, exponent = struct.unpack_from(">HI", ak, pos)
    pos += 6
    size = struct.unpack_from(">H", ak, pos)[0]
    modulus = ak[pos + 2 : pos + 2 + size]
    if pos + 2 + size != len(ak):
        raise ValueError("trailing")
    return rsa.RSAPublicNumbers(exponent or 65537, int.from_bytes(modulus, "big")).public_key()


def python_verify_quote(
    attest: bytes, signature: bytes, ak: bytes, nonce: bytes, pcrs: dict[int, bytes], bank: str
) -> bool:
    key = _rsa_ak(ak)
    magic, st = struct.unpack_from(">IH", attest)
    if magic != 0xFF544347 or st != 0x8018:
        return False
    pos = 6
    pos += 2 + struct.unpack_from(">H", attest, pos)[0]  # qualifiedSigner
    size = struct.unpack_from(">H", attest, pos)[0]
    extra = attest[pos + 2 : pos + 2 + size]
    pos += 2 + size + 17 + 8  # clockInfo, firmwareVersion
    (count,) = struct.unpack_from(">I", attest, pos)
    pos += 4
    selected: list[tuple[int, list[int]]] = []
    for _ in range(count):
        hash_id, n = struct.unpack_from(">HB", attest, pos)
        bitmap = attest[pos + 3 : pos + 3 + n]
        pos += 3 + n
        selected.append(
            (
                hash_id,
                [i * 8 + b for i, byte in enumerate(bitmap) for b in range(8) if byte >> b & 1],
            )
        )
    size = struct.unpack_from(">H", attest, pos)[0]
    pcr_digest = attest[pos + 2 : pos + 2 + size]
    if pos + 2 + size != len(attest):
        return False
    sig_alg, sig_hash, sig_size = struct.unpack_from(">HHH", signature)
    if sig_alg != 0x0014 or sig_hash != 0x000B or 6 + sig_size != len(signature):
        return False
    try:
        key.verify(signature[6:], attest, padding.PKCS1v15(), hashes.SHA256())
    except exceptions.InvalidSignature:
        return False
    if not hmac.compare_digest(extra, nonce):
        return False
    bank_id, length = _BANKS[bank]
    if selected != [(bank_id, sorted(pcrs))] or any(len(v) != length for v in pcrs.values()):
        return False
    digest = hashlib.sha256(b"".join(pcrs[i] for i in sorted(pcrs))).digest()
    return hmac.compare_digest(digest, pcr_digest)


def floor_rsa_verify(attest: bytes, signature: bytes, key: Any) -> None:
    key.verify(signature[6:], attest, padding.PKCS1v15(), hashes.SHA256())


# --- benchmarks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bank", ["sha256", "sha384"])
def test_openpcc_verify_quote(paired: Any, bank: str) -> None:
    c = _case(bank)
    bench = paired(f"tpm-quote-{bank}", "openpcc")
    verdict = bench(
        tpm.verify_quote,
        c["attest"],
        c["signature"],
        c["ak"],
        nonce=NONCE,
        pcrs=c["pcrs"],
        bank=bank,
    )
    assert verdict.valid


@pytest.mark.parametrize("bank", ["sha256", "sha384"])
def test_python_cryptography_verify_quote(paired: Any, bank: str) -> None:
    c = _case(bank)
    bench = paired(f"tpm-quote-{bank}", "cryptography")
    assert bench(python_verify_quote, c["attest"], c["signature"], c["ak"], NONCE, c["pcrs"], bank)


@pytest.mark.parametrize("bank", ["sha256", "sha384"])
def test_floor_rsa2048_signature_only(paired: Any, bank: str) -> None:
    """The floor: one RSA-2048 verification with a prepared key (OpenSSL through cryptography)."""
    c = _case(bank)
    paired(f"tpm-quote-{bank}", "floor-rsa2048")(
        floor_rsa_verify, c["attest"], c["signature"], _rsa_ak(c["ak"])
    )


def openpcc_quote_and_log(c: dict[str, Any]) -> bool:
    quote = tpm.verify_quote(
        c["attest"], c["signature"], c["ak"], nonce=NONCE, pcrs=c["pcrs"], bank="sha256"
    )
    log = eventlog.verify_event_log(c["event_log"], expected_pcrs=_logged(c["pcrs"]))
    return quote.valid and log.valid


def python_quote_and_log(c: dict[str, Any]) -> bool:
    return python_verify_quote(
        c["attest"], c["signature"], c["ak"], NONCE, c["pcrs"], "sha256"
    ) and python_verify_event_log(c["event_log"], _logged(c["pcrs"]))


def test_openpcc_quote_and_event_log(paired: Any) -> None:
    assert paired("tpm-quote+eventlog", "openpcc")(openpcc_quote_and_log, _case("sha256"))


def test_python_quote_and_event_log(paired: Any) -> None:
    assert paired("tpm-quote+eventlog", "cryptography+hashlib")(
        python_quote_and_log, _case("sha256")
    )


def test_quote_and_log_pipelines_reject_a_log_that_does_not_match() -> None:
    c = _case("sha256")
    assert openpcc_quote_and_log(c) and python_quote_and_log(c)
    other = dict(c, pcrs={**c["pcrs"], 4: bytes(32)})
    assert not openpcc_quote_and_log(other) and not python_quote_and_log(other)


def test_baseline_rejects_what_openpcc_rejects() -> None:
    """The baseline does the same checks: it must fail on the same mutations."""
    c = _case("sha256")
    assert python_verify_quote(c["attest"], c["signature"], c["ak"], NONCE, c["pcrs"], "sha256")
    assert not python_verify_quote(
        c["attest"], c["signature"], c["ak"], b"\x00", c["pcrs"], "sha256"
    )
    shifted = {i + 1: v for i, v in c["pcrs"].items()}
    assert not python_verify_quote(c["attest"], c["signature"], c["ak"], NONCE, shifted, "sha256")
    changed = dict(c["pcrs"])
    changed[3] = bytes(32)
    assert not python_verify_quote(c["attest"], c["signature"], c["ak"], NONCE, changed, "sha256")
