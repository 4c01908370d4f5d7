//! The Diffie-Hellman groups under the DHKEMs: key derivation (RFC 9180 §7.1.3), public keys, DH.
//!
//! Secret keys are passed around as their RFC 9180 serialization (`SerializePrivateKey`).

use elliptic_curve::sec1::ToSec1Point;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{Error, Kem};

/// A DH output or secret-key serialization; zeroized on drop.
pub(crate) type Secret = Zeroizing<Vec<u8>>;

/// Tries per random NIST scalar; a failure needs ~2^-32 luck per try even on P-521, so this never hangs.
const RANDOM_SCALAR_TRIES: usize = 64;

macro_rules! nist_curve {
    ($module:ident, $krate:ident) => {
        mod $module {
            use super::{Error, Secret, ToSec1Point, Zeroizing};
            use $krate::{PublicKey, SecretKey};

            pub(crate) fn is_valid_scalar(bytes: &[u8]) -> bool {
                parse_secret(bytes).is_ok()
            }

            fn parse_secret(bytes: &[u8]) -> Result<SecretKey, Error> {
                // `from_slice` would left-pad shorter input; RFC 9180 wants exactly Nsk bytes.
                let bytes =
                    <&$krate::FieldBytes>::try_from(bytes).map_err(|_| Error::InvalidKey)?;
                SecretKey::from_bytes(bytes).map_err(|_| Error::InvalidKey)
            }

            pub(crate) fn parse_public(bytes: &[u8]) -> Result<PublicKey, Error> {
                // Only the uncompressed SEC1 form is a valid HPKE encoding (RFC 9180 §7.1.1).
                if bytes.first() != Some(&0x04) {
                    return Err(Error::InvalidKey);
                }
                PublicKey::from_sec1_bytes(bytes).map_err(|_| Error::InvalidKey)
            }

            pub(crate) fn public_key(sk: &[u8]) -> Result<Vec<u8>, Error> {
                let sk = parse_secret(sk)?;
                Ok(sk
                    .public_key()
                    .as_affine()
                    .to_sec1_point(false)
                    .as_bytes()
                    .to_vec())
            }

            pub(crate) fn diffie_hellman(sk: &[u8], pk: &[u8]) -> Result<Secret, Error> {
                let sk = parse_secret(sk)?;
                let pk = parse_public(pk)?;
                let shared =
                    elliptic_curve::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
        }
    };
}

nist_curve!(nist_p256, p256);
nist_curve!(nist_p384, p384);
nist_curve!(nist_p521, p521);

/// `DeriveKeyPair(ikm)` of the DHKEM, returning only the serialized secret key.
pub(crate) fn derive_secret(kem: Kem, ikm: &[u8]) -> Result<Secret, Error> {
    let kdf = kem.kdf();
    let suite_id = kem.suite_id();
    let dkp_prk = kdf.labeled_extract(&suite_id, b"", b"dkp_prk", &[ikm]);
    let nsk = kem.secret_key_len();
    match kem {
        Kem::X25519 | Kem::X448 => kdf.labeled_expand(&suite_id, &dkp_prk, b"sk", b"", nsk),
        Kem::P256 | Kem::P384 | Kem::P521 => {
            let mask = if kem == Kem::P521 { 0x01 } else { 0xFF };
            for counter in 0..=255u8 {
                let mut candidate =
                    kdf.labeled_expand(&suite_id, &dkp_prk, b"candidate", &[counter], nsk)?;
                if let Some(first) = candidate.first_mut() {
                    *first &= mask;
                }
                if is_valid_scalar(kem, &candidate) {
                    return Ok(candidate);
                }
            }
            Err(Error::DeriveKeyPair)
        }
        Kem::X25519Kyber768Draft00 => Err(Error::UnsupportedSuite(kem.id())),
    }
}

/// A uniformly random serialized secret key from the OS RNG.
pub(crate) fn random_secret(kem: Kem) -> Result<Secret, Error> {
    let mut bytes = Zeroizing::new(vec![0u8; kem.secret_key_len()]);
    for _ in 0..RANDOM_SCALAR_TRIES {
        getrandom::fill(&mut bytes).map_err(|_| Error::Rng)?;
        if kem == Kem::P521 {
            if let Some(first) = bytes.first_mut() {
                *first &= 0x01;
            }
        }
        if is_valid_scalar(kem, &bytes) {
            return Ok(bytes);
        }
    }
    Err(Error::Rng)
}

/// Whether `sk` is a valid serialized secret key for the DHKEM (exact length; NIST: 0 < sk < n).
pub(crate) fn is_valid_scalar(kem: Kem, sk: &[u8]) -> bool {
    match kem {
        Kem::P256 => nist_p256::is_valid_scalar(sk),
        Kem::P384 => nist_p384::is_valid_scalar(sk),
        Kem::P521 => nist_p521::is_valid_scalar(sk),
        Kem::X25519 | Kem::X448 => sk.len() == kem.secret_key_len(),
        Kem::X25519Kyber768Draft00 => false,
    }
}

/// `SerializePublicKey(pk(sk))`.
pub(crate) fn public_key(kem: Kem, sk: &[u8]) -> Result<Vec<u8>, Error> {
    match kem {
        Kem::P256 => nist_p256::public_key(sk),
        Kem::P384 => nist_p384::public_key(sk),
        Kem::P521 => nist_p521::public_key(sk),
        Kem::X25519 => {
            let secret = x25519_dalek::StaticSecret::from(*array::<32>(sk)?);
            Ok(x25519_dalek::PublicKey::from(&secret).as_bytes().to_vec())
        }
        Kem::X448 => {
            let scalar = array::<56>(sk)?;
            Ok(x448::x448_unchecked(*scalar, x448::X448_BASEPOINT_BYTES).to_vec())
        }
        Kem::X25519Kyber768Draft00 => Err(Error::UnsupportedSuite(kem.id())),
    }
}

/// Checks that `pk` deserializes as a public key of the KEM (`DeserializePublicKey`).
pub(crate) fn validate_public(kem: Kem, pk: &[u8]) -> Result<(), Error> {
    if pk.len() != kem.public_key_len() {
        return Err(Error::InvalidKey);
    }
    match kem {
        Kem::P256 => nist_p256::parse_public(pk).map(drop),
        Kem::P384 => nist_p384::parse_public(pk).map(drop),
        Kem::P521 => nist_p521::parse_public(pk).map(drop),
        // Every 32/56-byte string is a Montgomery u-coordinate; low-order points are caught by the zero DH check.
        Kem::X25519 | Kem::X448 => Ok(()),
        Kem::X25519Kyber768Draft00 => Err(Error::UnsupportedSuite(kem.id())),
    }
}

/// A DH secret key ready for repeated use: its serialization, its public key and, with AWS-LC, the loaded key.
pub(crate) struct DhSecret {
    kem: Kem,
    /// Empty for random ephemeral keys made by AWS-LC, which are never serialized.
    bytes: Secret,
    public: Vec<u8>,
    #[cfg(feature = "aws-lc")]
    fast: Option<crate::awslc::DhKey>,
}

impl DhSecret {
    /// Loads a serialized secret key, rejecting invalid ones, and computes its public key.
    pub(crate) fn from_bytes(kem: Kem, bytes: Secret) -> Result<Self, Error> {
        if !is_valid_scalar(kem, &bytes) {
            return Err(Error::InvalidKey);
        }
        #[cfg(feature = "aws-lc")]
        if let Some((fast, public)) = crate::awslc::DhKey::load(kem, &bytes)? {
            return Ok(Self {
                kem,
                bytes,
                public,
                fast: Some(fast),
            });
        }
        let public = public_key(kem, &bytes)?;
        Ok(Self {
            kem,
            bytes,
            public,
            #[cfg(feature = "aws-lc")]
            fast: None,
        })
    }

    /// An ephemeral key: derived from `ikm` (test vectors) or random.
    pub(crate) fn ephemeral(kem: Kem, ikm: Option<&[u8]>) -> Result<Self, Error> {
        if let Some(ikm) = ikm {
            return Self::from_bytes(kem, derive_secret(kem, ikm)?);
        }
        #[cfg(feature = "aws-lc")]
        if let Some((fast, public)) = crate::awslc::DhKey::generate(kem)? {
            return Ok(Self {
                kem,
                bytes: Zeroizing::new(Vec::new()),
                public,
                fast: Some(fast),
            });
        }
        Self::from_bytes(kem, random_secret(kem)?)
    }

    /// The serialized public key.
    pub(crate) fn public(&self) -> &[u8] {
        &self.public
    }

    /// `DH(self, pk)` after checking `pk`'s encoding; rejects an all-zero result.
    pub(crate) fn dh(&self, pk: &[u8]) -> Result<Secret, Error> {
        check_public_encoding(self.kem, pk)?;
        #[cfg(feature = "aws-lc")]
        if let Some(fast) = &self.fast {
            return reject_zero(fast.agree(pk)?);
        }
        diffie_hellman(self.kem, &self.bytes, pk)
    }
}

/// Length and (for NIST curves) the uncompressed-point prefix; curve membership is checked by the DH.
fn check_public_encoding(kem: Kem, pk: &[u8]) -> Result<(), Error> {
    let nist = matches!(kem, Kem::P256 | Kem::P384 | Kem::P521);
    if pk.len() != kem.public_key_len() || (nist && pk.first() != Some(&0x04)) {
        return Err(Error::InvalidKey);
    }
    Ok(())
}

fn reject_zero(shared: Secret) -> Result<Secret, Error> {
    if bool::from(shared.ct_eq(&vec![0u8; shared.len()])) {
        return Err(Error::InvalidKey);
    }
    Ok(shared)
}

/// `DH(sk, pk)`: the serialized shared secret (x-coordinate for NIST curves). Rejects invalid `pk` and an
/// all-zero result (RFC 9180 §7.1.1, small-order X25519/X448 points).
pub(crate) fn diffie_hellman(kem: Kem, sk: &[u8], pk: &[u8]) -> Result<Secret, Error> {
    if pk.len() != kem.public_key_len() {
        return Err(Error::InvalidKey);
    }
    let shared = match kem {
        Kem::P256 => nist_p256::diffie_hellman(sk, pk)?,
        Kem::P384 => nist_p384::diffie_hellman(sk, pk)?,
        Kem::P521 => nist_p521::diffie_hellman(sk, pk)?,
        Kem::X25519 => {
            let shared = Zeroizing::new(x25519_dalek::x25519(*array::<32>(sk)?, *array::<32>(pk)?));
            Zeroizing::new(shared.to_vec())
        }
        Kem::X448 => {
            let shared = x448::x448_unchecked(*array::<56>(sk)?, *array::<56>(pk)?);
            let shared = Zeroizing::new(shared);
            Zeroizing::new(shared.to_vec())
        }
        Kem::X25519Kyber768Draft00 => return Err(Error::UnsupportedSuite(kem.id())),
    };
    reject_zero(shared)
}

/// Copies a slice into a zeroizing fixed array, or fails with `InvalidKey` on a wrong length.
fn array<const N: usize>(bytes: &[u8]) -> Result<Zeroizing<[u8; N]>, Error> {
    let fixed: &[u8; N] = bytes.try_into().map_err(|_| Error::InvalidKey)?;
    Ok(Zeroizing::new(*fixed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DHKEMS: [Kem; 5] = [Kem::P256, Kem::P384, Kem::P521, Kem::X25519, Kem::X448];

    /// The loaded keys (AWS-LC when enabled) agree with the pure-Rust arithmetic on random keys, including
    /// P-384, which has no RFC vectors; leading-zero x-coordinates would show up here as length mismatches.
    #[test]
    fn loaded_keys_match_the_reference_arithmetic() {
        for kem in DHKEMS {
            for _ in 0..40 {
                let a = DhSecret::from_bytes(kem, random_secret(kem).unwrap()).unwrap();
                let b_bytes = random_secret(kem).unwrap();
                let b = DhSecret::from_bytes(kem, b_bytes.clone()).unwrap();
                assert_eq!(a.public, public_key(kem, &a.bytes).unwrap(), "{kem:?}");
                let shared = a.dh(b.public()).unwrap();
                assert_eq!(shared.len(), kem.secret_key_len());
                assert_eq!(
                    *shared,
                    *diffie_hellman(kem, &b_bytes, a.public()).unwrap(),
                    "{kem:?}"
                );
                let ephemeral = DhSecret::ephemeral(kem, None).unwrap();
                assert_eq!(
                    *ephemeral.dh(b.public()).unwrap(),
                    *b.dh(ephemeral.public()).unwrap()
                );
            }
        }
    }

    #[test]
    fn encodings_are_checked_before_the_arithmetic() {
        let key = DhSecret::ephemeral(Kem::P256, None).unwrap();
        let mut compressed = key.public()[..33].to_vec();
        compressed[0] = 0x02;
        assert_eq!(key.dh(&compressed).err(), Some(Error::InvalidKey));
        let mut hybrid_form = key.public().to_vec();
        hybrid_form[0] = 0x06;
        assert_eq!(key.dh(&hybrid_form).err(), Some(Error::InvalidKey));
        assert_eq!(key.dh(&[0x04; 66]).err(), Some(Error::InvalidKey));
    }
}
