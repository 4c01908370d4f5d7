"""Writes the synthetic AK certificate chains of ``rust/openpcc-attest/tests/tpm_paths.rs``.

Run ``python -m tests.support.gen_tpm_path_fixtures`` from the repository root to regenerate
them (new keys each time; the test only needs their shape). Every chain ends at a synthetic
root, P-256 keys, ECDSA-SHA256 signatures, valid 2024-2049:

* ``root.pem``: self-signed CA, keyCertSign + cRLSign, no path length constraint.
* ``ca0.pem``: CA under the root with pathLenConstraint 0.
* ``sub.pem``: a CA under ``ca0`` (what ca0's constraint forbids).
* ``ak_under_sub.pem``: an AK certificate under ``sub`` (path: ak, sub, ca0, root).
* ``nosign.pem``: a CA under the root whose keyUsage lacks keyCertSign.
* ``ak_under_nosign.pem``: an AK certificate under ``nosign``.
* ``ak_ok.pem``: an AK certificate under ``ca0`` (the shape that is fine).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.x509_usage import key_usage

OUT = Path(__file__).resolve().parents[2] / "rust/openpcc-attest/tests/data/tpm_paths"


def _issue(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_length: int | None = None,
    cert_sign: bool | None = None,
) -> x509.Certificate:
    cert_sign = ca if cert_sign is None else cert_sign
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(
            issuer.subject if issuer else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        )
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2049, 12, 31, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(key_usage(digital_signature=not ca, key_cert_sign=cert_sign, crl_sign=ca), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def main() -> None:
    keys = {
        n: ec.generate_private_key(ec.SECP256R1()) for n in ("root", "ca0", "sub", "nosign", "ak")
    }
    root = _issue("synthetic AK root", keys["root"], None, keys["root"], ca=True)
    ca0 = _issue(
        "synthetic AK CA pathlen 0", keys["ca0"], root, keys["root"], ca=True, path_length=0
    )
    sub = _issue("synthetic AK sub-CA", keys["sub"], ca0, keys["ca0"], ca=True)
    nosign = _issue(
        "synthetic CA without keyCertSign",
        keys["nosign"],
        root,
        keys["root"],
        ca=True,
        cert_sign=False,
    )
    certs = {
        "root": root,
        "ca0": ca0,
        "sub": sub,
        "nosign": nosign,
        "ak_under_sub": _issue("AK under sub", keys["ak"], sub, keys["sub"], ca=False),
        "ak_under_nosign": _issue("AK under nosign", keys["ak"], nosign, keys["nosign"], ca=False),
        "ak_ok": _issue("AK under ca0", keys["ak"], ca0, keys["ca0"], ca=False),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for name, cert in certs.items():
        (OUT / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


if __name__ == "__main__":
    main()
