"""RSA blind signatures (RFC 9474) and partially blind RSA with public metadata; see ``openpcc.blindrsa``."""

from typing import Final, TypeAlias, final

_Bytes: TypeAlias = bytes | bytearray | memoryview

__all__ = [
    "PREFIX_LEN",
    "PSSZERO_DETERMINISTIC",
    "PSSZERO_RANDOMIZED",
    "PSS_DETERMINISTIC",
    "PSS_RANDOMIZED",
    "PublicKey",
    "SecretKey",
    "blind",
    "blind_sign",
    "finalize",
    "metadata_message",
    "pb_blind",
    "pb_blind_sign",
    "pb_finalize",
    "pb_verify",
    "prepare",
    "verify",
]

PSS_RANDOMIZED: Final[str]
"""``"RSABSSA-SHA384-PSS-Randomized"``: 48-byte salt, 32-byte random message prefix."""
PSSZERO_RANDOMIZED: Final[str]
"""``"RSABSSA-SHA384-PSSZERO-Randomized"``: no salt, random prefix."""
PSS_DETERMINISTIC: Final[str]
"""``"RSABSSA-SHA384-PSS-Deterministic"``: 48-byte salt, no prefix (the currency's variant)."""
PSSZERO_DETERMINISTIC: Final[str]
"""``"RSABSSA-SHA384-PSSZERO-Deterministic"``: no salt, no prefix."""
PREFIX_LEN: Final[int]
"""Length of the random prefix ``prepare`` adds in the Randomized variants (32)."""

@final
class PublicKey:
    """An RSA public key: a signer's key (1024..4096 bits) or one derived for metadata."""

    def __new__(cls, n: _Bytes, e: _Bytes) -> PublicKey:
        """From big-endian modulus and exponent."""
    @staticmethod
    def from_der(der: _Bytes) -> PublicKey:
        """SubjectPublicKeyInfo or PKCS#1 DER."""
    @staticmethod
    def from_pem(pem: str) -> PublicKey:
        """``PUBLIC KEY`` or ``RSA PUBLIC KEY`` PEM."""
    def to_der(self) -> bytes:
        """SubjectPublicKeyInfo DER."""
    def to_pem(self) -> str:
        """SubjectPublicKeyInfo PEM."""
    @property
    def n(self) -> bytes:
        """The modulus, ``modulus_len`` bytes big-endian."""
    @property
    def e(self) -> bytes:
        """The public exponent, big-endian without leading zeros."""
    @property
    def modulus_len(self) -> int:
        """``kLen``: the length of blinded messages, blind signatures, inverses and signatures."""
    @property
    def bits(self) -> int:
        """Modulus length in bits."""
    def derive(self, info: _Bytes) -> PublicKey:
        """The key for public metadata ``info``: same n, exponent e' from HKDF-SHA-384."""
    def __eq__(self, other: object) -> bool: ...

@final
class SecretKey:
    """An RSA private key. Signing is constant-time with base/exponent blinding (rsa >= 0.10)."""

    @staticmethod
    def from_der(der: _Bytes) -> SecretKey:
        """PKCS#8 or PKCS#1 DER."""
    @staticmethod
    def from_pem(pem: str) -> SecretKey:
        """``PRIVATE KEY`` or ``RSA PRIVATE KEY`` PEM."""
    @staticmethod
    def from_primes(p: _Bytes, q: _Bytes, e: _Bytes) -> SecretKey:
        """From the two primes and the public exponent (big-endian); d is recomputed."""
    @staticmethod
    def generate(bits: int) -> SecretKey:
        """A new key whose primes are safe primes. Slow (seconds to minutes for 2048 bits)."""
    def to_der(self) -> bytes:
        """PKCS#8 DER (secret: handle with care)."""
    def to_pem(self) -> str:
        """PKCS#8 PEM (secret: handle with care)."""
    def public_key(self) -> PublicKey: ...
    def has_safe_primes(self) -> bool:
        """Whether (p-1)/2 and (q-1)/2 are prime (needed for partially blind RSA); cached."""
    def derive(self, info: _Bytes) -> SecretKey:
        """The signing key for metadata ``info`` (e', d' = e'^-1 mod phi). Cache it to sign many
        messages under one metadata. Raises ``UnsafePrimesError`` without safe primes."""

def prepare(msg: _Bytes, variant: str = ...) -> bytes:
    """RFC 9474 Prepare: ``random(32) || msg`` for Randomized variants, ``msg`` otherwise."""

def blind(
    pk: PublicKey, msg: _Bytes, variant: str = ..., *, zero_salt: bool = False
) -> tuple[bytes, bytes]:
    """RFC 9474 Blind of a prepared message: ``(blinded_msg, inv)``; keep ``inv`` secret.
    ``zero_salt`` uses a salt of zeros (the reference's currency) instead of random bytes."""

def blind_sign(sk: SecretKey, blinded_msg: _Bytes) -> bytes:
    """RFC 9474 BlindSign (checked against the public key)."""

def finalize(pk: PublicKey, msg: _Bytes, blind_sig: _Bytes, inv: _Bytes, variant: str = ...) -> bytes:
    """RFC 9474 Finalize: unblind, then verify; raises ``InvalidSignatureError`` if it does not."""

def verify(pk: PublicKey, msg: _Bytes, sig: _Bytes, variant: str = ...) -> None:
    """RSASSA-PSS verification; raises ``InvalidSignatureError``."""

def metadata_message(info: _Bytes, msg: _Bytes) -> bytes:
    """``"msg" || I2OSP(len(info), 4) || info || msg``: what partially blind RSA signs."""

def pb_blind(
    pk: PublicKey, msg: _Bytes, info: _Bytes, variant: str = ..., *, zero_salt: bool = False
) -> tuple[bytes, bytes]:
    """Partially blind Blind under the key derived for ``info``: ``(blinded_msg, inv)``."""

def pb_blind_sign(sk: SecretKey, blinded_msg: _Bytes, info: _Bytes) -> bytes:
    """Partially blind BlindSign (derives the key for ``info`` each call)."""

def pb_finalize(
    pk: PublicKey, msg: _Bytes, info: _Bytes, blind_sig: _Bytes, inv: _Bytes, variant: str = ...
) -> bytes:
    """Partially blind Finalize (verifies before returning)."""

def pb_verify(pk: PublicKey, msg: _Bytes, info: _Bytes, sig: _Bytes, variant: str = ...) -> None:
    """Partially blind Verify; raises ``InvalidSignatureError``."""

def _blind_with_factor(pk: PublicKey, msg: _Bytes, salt: _Bytes, r: _Bytes) -> tuple[bytes, bytes]:
    """Test hook: Blind with a chosen salt and blinding factor r (kLen bytes). Tests only."""

def _pb_blind_with_factor(
    pk: PublicKey, msg: _Bytes, info: _Bytes, salt: _Bytes, r: _Bytes
) -> tuple[bytes, bytes]:
    """Test hook: partially blind Blind with chosen salt and r. Tests only."""
