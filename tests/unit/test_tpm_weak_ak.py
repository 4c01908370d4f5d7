"""Weak attestation keys (issue 9): an RSA AK under 2048 bits, or a SHA-1 signature, is refused
unless the caller (a policy's ``tpm.allow_weak_ak``) allows it.

The AK and quote are built here byte by byte (TPM 2.0 Part 2: TPMT_PUBLIC, TPMS_ATTEST of type
TPM_ST_ATTEST_QUOTE, TPMT_SIGNATURE with RSASSA), signed with ``cryptography``: a real TPM
refuses to make a 1024-bit AK, which is exactly why the verifier must not trust one.
"""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from openpcc.attestation import tpm as tpm_verify

ALG_RSA, ALG_SHA1, ALG_SHA256, ALG_NULL, ALG_RSASSA = 0x0001, 0x0004, 0x000B, 0x0010, 0x0014
ST_ATTEST_QUOTE = 0x8018
TPM_GENERATED = 0xFF544347
#: fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | sign
AK_ATTRIBUTES = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 16) | (1 << 18)
NONCE = bytes(range(32))
PCRS = {0: bytes(32), 7: bytes(32)}
AT = datetime(2026, 1, 1, tzinfo=UTC)
HASHES = {ALG_SHA1: (hashes.SHA1(), hashlib.sha1), ALG_SHA256: (hashes.SHA256(), hashlib.sha256)}


def tpm2b(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def ak_public(key: rsa.RSAPrivateKey, scheme_hash: int) -> bytes:
    n = key.public_key().public_numbers().n
    modulus = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return (
        struct.pack(">HHI", ALG_RSA, ALG_SHA256, AK_ATTRIBUTES)
        + tpm2b(b"")
        + struct.pack(">HHHHI", ALG_NULL, ALG_RSASSA, scheme_hash, key.key_size, 0)
        + tpm2b(modulus)
    )


def quote(key: rsa.RSAPrivateKey, hash_alg: int) -> tuple[bytes, bytes, bytes]:
    """(TPMT_PUBLIC of the AK, TPMS_ATTEST, TPMT_SIGNATURE) for PCRs 0 and 7 of the SHA-256 bank."""
    public = ak_public(key, hash_alg)
    name = struct.pack(">H", ALG_SHA256) + hashlib.sha256(public).digest()
    crypto_hash, digest = HASHES[hash_alg]
    pcr_digest = digest(b"".join(PCRS[i] for i in sorted(PCRS))).digest()
    select = bytes([0x81, 0x00, 0x00])  # PCRs 0 and 7
    attest = (
        struct.pack(">IH", TPM_GENERATED, ST_ATTEST_QUOTE)
        + tpm2b(name)
        + tpm2b(NONCE)
        + struct.pack(">QIIB", 1000, 1, 0, 1)
        + struct.pack(">Q", 0x2000000000000)
        + struct.pack(">I", 1)
        + struct.pack(">HB", ALG_SHA256, 3)
        + select
        + tpm2b(pcr_digest)
    )
    signature = key.sign(attest, padding.PKCS1v15(), crypto_hash)
    return public, attest, struct.pack(">HH", ALG_RSASSA, hash_alg) + tpm2b(signature)


def outcome(public: bytes, attest: bytes, signature: bytes, **kwargs: bool) -> dict[str, bool]:
    verdict = tpm_verify.verify_quote(
        attest, signature, public, nonce=NONCE, pcrs=PCRS, at=AT, bank="sha256", **kwargs
    )
    return {c.name: c.ok for c in verdict.checks}


def detail(public: bytes, attest: bytes, signature: bytes) -> str:
    verdict = tpm_verify.verify_quote(
        attest, signature, public, nonce=NONCE, pcrs=PCRS, at=AT, bank="sha256"
    )
    return next(c.detail for c in verdict.checks if c.name == "tpm.quote.signature")


@pytest.fixture(scope="module")
def rsa_2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_sound_rsa_2048_sha256_quote_passes(rsa_2048: rsa.RSAPrivateKey) -> None:
    checks = outcome(*quote(rsa_2048, ALG_SHA256))
    assert checks["tpm.quote.signature"] and checks["tpm.quote.pcr_digest"], checks


def test_tpm_quote_signature_refuses_an_rsa_1024_ak() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pieces = quote(weak, ALG_SHA256)
    assert outcome(*pieces)["tpm.quote.signature"] is False
    assert "RSA-1024" in detail(*pieces)
    assert outcome(*pieces, allow_weak_ak=True)["tpm.quote.signature"] is True


def test_tpm_quote_signature_refuses_a_sha1_signature(rsa_2048: rsa.RSAPrivateKey) -> None:
    pieces = quote(rsa_2048, ALG_SHA1)
    assert outcome(*pieces)["tpm.quote.signature"] is False
    assert "SHA-1" in detail(*pieces)
    assert outcome(*pieces, allow_weak_ak=True)["tpm.quote.signature"] is True
