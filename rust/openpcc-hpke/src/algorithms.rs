//! The KEM, KDF and AEAD identifiers (IANA HPKE registry) and their sizes.

use crate::Error;

/// A key encapsulation mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Kem {
    /// DHKEM(P-256, HKDF-SHA256)
    P256 = 0x0010,
    /// DHKEM(P-384, HKDF-SHA384)
    P384 = 0x0011,
    /// DHKEM(P-521, HKDF-SHA512)
    P521 = 0x0012,
    /// DHKEM(X25519, HKDF-SHA256)
    X25519 = 0x0020,
    /// DHKEM(X448, HKDF-SHA512)
    X448 = 0x0021,
    /// circl's hybrid DHKEM(X25519) + Kyber768 round 3 (not an RFC 9180 KEM; spec §2.2).
    X25519Kyber768Draft00 = 0x0030,
}

/// A key derivation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Kdf {
    /// HKDF-SHA256
    HkdfSha256 = 0x0001,
    /// HKDF-SHA384
    HkdfSha384 = 0x0002,
    /// HKDF-SHA512
    HkdfSha512 = 0x0003,
}

/// An authenticated encryption algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Aead {
    /// AES-128-GCM
    Aes128Gcm = 0x0001,
    /// AES-256-GCM
    Aes256Gcm = 0x0002,
    /// ChaCha20-Poly1305
    ChaCha20Poly1305 = 0x0003,
    /// No encryption: the context only exports secrets.
    ExportOnly = 0xFFFF,
}

impl Kem {
    /// The IANA identifier.
    #[must_use]
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// `Nenc`: length of the encapsulated key.
    #[must_use]
    pub const fn enc_len(self) -> usize {
        match self {
            Kem::P256 => 65,
            Kem::P384 => 97,
            Kem::P521 => 133,
            Kem::X25519 => 32,
            Kem::X448 => 56,
            Kem::X25519Kyber768Draft00 => 32 + 1088,
        }
    }

    /// `Npk`: length of a serialized public key.
    #[must_use]
    pub const fn public_key_len(self) -> usize {
        match self {
            Kem::X25519Kyber768Draft00 => 32 + 1184,
            dhkem => dhkem.enc_len(),
        }
    }

    /// `Nsk`: length of a serialized secret key.
    #[must_use]
    pub const fn secret_key_len(self) -> usize {
        match self {
            Kem::P256 | Kem::X25519 => 32,
            Kem::P384 => 48,
            Kem::P521 => 66,
            Kem::X448 => 56,
            Kem::X25519Kyber768Draft00 => 32 + 2400,
        }
    }

    /// `Nsecret`: length of the KEM shared secret.
    #[must_use]
    pub const fn shared_secret_len(self) -> usize {
        match self {
            Kem::P256 | Kem::X25519 => 32,
            Kem::P384 => 48,
            Kem::P521 | Kem::X448 | Kem::X25519Kyber768Draft00 => 64,
        }
    }

    /// The shortest `ikm` accepted by `DeriveKeyPair` (RFC 9180 §7.1.3 asks for at least `Nsk` bytes of
    /// entropy; the hybrid KEM takes a 32-byte seed as circl does).
    #[must_use]
    pub const fn min_ikm_len(self) -> usize {
        match self {
            Kem::X25519Kyber768Draft00 => 32,
            dhkem => dhkem.secret_key_len(),
        }
    }

    /// The KDF the KEM uses internally.
    #[must_use]
    pub const fn kdf(self) -> Kdf {
        match self {
            Kem::P256 | Kem::X25519 | Kem::X25519Kyber768Draft00 => Kdf::HkdfSha256,
            Kem::P384 => Kdf::HkdfSha384,
            Kem::P521 | Kem::X448 => Kdf::HkdfSha512,
        }
    }

    /// Whether the KEM supports the auth modes (every DHKEM does, the hybrid KEM does not).
    #[must_use]
    pub const fn supports_auth(self) -> bool {
        !matches!(self, Kem::X25519Kyber768Draft00)
    }

    /// `"KEM" || I2OSP(kem_id, 2)`
    pub(crate) const fn suite_id(self) -> [u8; 5] {
        let id = self.id().to_be_bytes();
        [b'K', b'E', b'M', id[0], id[1]]
    }
}

impl Kdf {
    /// The IANA identifier.
    #[must_use]
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// `Nh`: the hash output length.
    #[must_use]
    pub const fn hash_len(self) -> usize {
        match self {
            Kdf::HkdfSha256 => 32,
            Kdf::HkdfSha384 => 48,
            Kdf::HkdfSha512 => 64,
        }
    }
}

impl Aead {
    /// The IANA identifier.
    #[must_use]
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// `Nk`: key length (0 for export-only).
    #[must_use]
    pub const fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm | Aead::ChaCha20Poly1305 => 32,
            Aead::ExportOnly => 0,
        }
    }

    /// `Nn`: nonce length (0 for export-only).
    #[must_use]
    pub const fn nonce_len(self) -> usize {
        match self {
            Aead::ExportOnly => 0,
            _ => 12,
        }
    }

    /// `Nt`: tag length (0 for export-only).
    #[must_use]
    pub const fn tag_len(self) -> usize {
        match self {
            Aead::ExportOnly => 0,
            _ => 16,
        }
    }
}

impl TryFrom<u16> for Kem {
    type Error = Error;
    fn try_from(id: u16) -> Result<Self, Error> {
        Ok(match id {
            0x0010 => Kem::P256,
            0x0011 => Kem::P384,
            0x0012 => Kem::P521,
            0x0020 => Kem::X25519,
            0x0021 => Kem::X448,
            0x0030 => Kem::X25519Kyber768Draft00,
            other => return Err(Error::UnsupportedSuite(other)),
        })
    }
}

impl TryFrom<u16> for Kdf {
    type Error = Error;
    fn try_from(id: u16) -> Result<Self, Error> {
        Ok(match id {
            0x0001 => Kdf::HkdfSha256,
            0x0002 => Kdf::HkdfSha384,
            0x0003 => Kdf::HkdfSha512,
            other => return Err(Error::UnsupportedSuite(other)),
        })
    }
}

impl TryFrom<u16> for Aead {
    type Error = Error;
    fn try_from(id: u16) -> Result<Self, Error> {
        Ok(match id {
            0x0001 => Aead::Aes128Gcm,
            0x0002 => Aead::Aes256Gcm,
            0x0003 => Aead::ChaCha20Poly1305,
            0xFFFF => Aead::ExportOnly,
            other => return Err(Error::UnsupportedSuite(other)),
        })
    }
}
