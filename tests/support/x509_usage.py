"""The keyUsage extension of the synthetic certificate chains in ``tests/support``."""

from __future__ import annotations

from cryptography import x509


def key_usage(*, digital_signature: bool, key_cert_sign: bool, crl_sign: bool) -> x509.KeyUsage:
    """keyUsage with only the three bits the synthetic chains vary; every other bit is clear."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )
