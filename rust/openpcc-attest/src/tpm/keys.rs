//! Verification keys for TPM signatures: from a `TPMT_PUBLIC` or an X.509 `SubjectPublicKeyInfo`.

use const_oid::ObjectIdentifier;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use der::{Decode, Encode};
use rsa::{BoxedUint, Pkcs1v15Sign, PublicKey as RsaPublicKey};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use spki::SubjectPublicKeyInfoOwned;

use super::alg::{HashAlg, ECC_NIST_P256, ECC_NIST_P384};
use super::public::{PublicKey, TpmtPublic};
use super::signature::TpmtSignature;
use super::TpmError;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const OID_SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// An RSA public key, kept as big-endian bytes for AWS-LC (or the `rsa` crate on fallback).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl RsaKey {
    fn new(n: &[u8], e: &[u8]) -> Result<Self, TpmError> {
        let n = strip_zeros(n).to_vec();
        let e = strip_zeros(e).to_vec();
        // Cheap shape checks here; AWS-LC (or the `rsa` crate on fallback) validates fully at use.
        let key = Self { n, e };
        let odd = |b: &[u8]| b.last().is_some_and(|x| x & 1 == 1);
        if !(1024..=8192).contains(&key.bits()) || !odd(&key.n) {
            return Err(TpmError::Key(
                "rsa modulus must be odd and 1024 to 8192 bits",
            ));
        }
        if key.e.len() > 4 || !odd(&key.e) || key.e == [1] {
            return Err(TpmError::Key("rsa exponent"));
        }
        Ok(key)
    }

    fn bits(&self) -> usize {
        // Leading zero bytes are stripped, so only an empty modulus has no first byte.
        (self.n.len() * 8).saturating_sub(self.n.first().map_or(8, |b| b.leading_zeros() as usize))
    }

    fn lc_components(&self) -> aws_lc_rs::signature::RsaPublicKeyComponents<&[u8]> {
        aws_lc_rs::signature::RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(first..).unwrap_or_default()
}

fn rsa_crate_key(n: &[u8], e: &[u8]) -> Result<RsaPublicKey, TpmError> {
    let bits = u32::try_from(n.len() * 8).map_err(|_| TpmError::Key("rsa modulus"))?;
    let n = BoxedUint::from_be_slice(n, bits).map_err(|_| TpmError::Key("rsa modulus"))?;
    let e = BoxedUint::from_be_slice(e, 64).map_err(|_| TpmError::Key("rsa exponent"))?;
    RsaPublicKey::new(n, e).map_err(|_| TpmError::Key("rsa key"))
}

/// A public key that can check TPM and certificate signatures.
#[derive(Clone, Debug, PartialEq)]
pub enum VerifyKey {
    /// RSA (1024 to 4096 bits): big-endian modulus and exponent, validated at construction.
    Rsa(RsaKey),
    /// ECDSA on NIST P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA on NIST P-384.
    P384(p384::ecdsa::VerifyingKey),
}

impl VerifyKey {
    /// The key in a `TPMT_PUBLIC` (RSA, or ECC on P-256/P-384).
    pub fn from_tpmt(public: &TpmtPublic) -> Result<Self, TpmError> {
        match &public.key {
            PublicKey::Rsa {
                exponent, modulus, ..
            } => RsaKey::new(modulus, &exponent.to_be_bytes()).map(Self::Rsa),
            PublicKey::Ecc { curve, x, y, .. } => ecc_key(*curve, x, y),
        }
    }

    /// The key in an X.509 `SubjectPublicKeyInfo`.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, TpmError> {
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or(TpmError::Key("spki bit string"))?;
        if spki.algorithm.oid == OID_RSA {
            let key = rsa::pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(bits)
                .map_err(|_| TpmError::Key("rsa key encoding"))?;
            return RsaKey::new(key.modulus.as_bytes(), key.public_exponent.as_bytes())
                .map(Self::Rsa);
        }
        if spki.algorithm.oid == OID_EC {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or(TpmError::Key("ec curve parameter"))?;
            return if curve == OID_P256 {
                p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(Self::P256)
                    .map_err(|_| TpmError::Key("p-256 point"))
            } else if curve == OID_P384 {
                p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(Self::P384)
                    .map_err(|_| TpmError::Key("p-384 point"))
            } else {
                Err(TpmError::Key("unsupported ec curve"))
            };
        }
        Err(TpmError::Key("unsupported key algorithm"))
    }

    /// Checks a TPM signature over `message` (the marshalled `TPMS_ATTEST`).
    pub fn verify_tpm(&self, sig: &TpmtSignature, message: &[u8]) -> Result<(), TpmError> {
        // RSASSA hashes inside AWS-LC; the other schemes take the digest.
        let digest = || sig.hash().digest(message);
        match (self, sig) {
            (Self::Rsa(key), TpmtSignature::RsaSsa { hash, sig }) => {
                rsa_pkcs1(key, *hash, message, sig)
            }
            (Self::Rsa(key), TpmtSignature::RsaPss { hash, sig }) => {
                rsa_pss(key, *hash, message, &digest(), sig)
            }
            (Self::P256(key), TpmtSignature::Ecdsa { r, s, .. }) => {
                let sig = p256::ecdsa::Signature::from_slice(&scalars(r, s, 32)?)
                    .map_err(|_| TpmError::BadSignature)?;
                key.verify_prehash(&digest(), &sig)
                    .map_err(|_| TpmError::BadSignature)
            }
            (Self::P384(key), TpmtSignature::Ecdsa { r, s, .. }) => {
                let sig = p384::ecdsa::Signature::from_slice(&scalars(r, s, 48)?)
                    .map_err(|_| TpmError::BadSignature)?;
                key.verify_prehash(&digest(), &sig)
                    .map_err(|_| TpmError::BadSignature)
            }
            _ => Err(TpmError::Key(
                "signature scheme does not match the key type",
            )),
        }
    }

    /// Checks an X.509 signature (`algorithm` from the certificate) over `message` (the TBS bytes).
    pub fn verify_x509(
        &self,
        algorithm: &ObjectIdentifier,
        message: &[u8],
        sig: &[u8],
    ) -> Result<(), TpmError> {
        let hash = match *algorithm {
            OID_SHA256_RSA | OID_ECDSA_SHA256 => HashAlg::Sha256,
            OID_SHA384_RSA | OID_ECDSA_SHA384 => HashAlg::Sha384,
            OID_SHA512_RSA => HashAlg::Sha512,
            _ => return Err(TpmError::Key("unsupported certificate signature algorithm")),
        };
        let digest = hash.digest(message);
        let is_rsa = matches!(*algorithm, OID_SHA256_RSA | OID_SHA384_RSA | OID_SHA512_RSA);
        match self {
            Self::Rsa(key) if is_rsa => rsa_pkcs1(key, hash, message, sig),
            Self::P256(key) if !is_rsa => {
                let sig =
                    p256::ecdsa::Signature::from_der(sig).map_err(|_| TpmError::BadSignature)?;
                key.verify_prehash(&digest, &sig)
                    .map_err(|_| TpmError::BadSignature)
            }
            Self::P384(key) if !is_rsa => {
                let sig =
                    p384::ecdsa::Signature::from_der(sig).map_err(|_| TpmError::BadSignature)?;
                key.verify_prehash(&digest, &sig)
                    .map_err(|_| TpmError::BadSignature)
            }
            _ => Err(TpmError::Key(
                "certificate signature algorithm does not match the issuer key",
            )),
        }
    }

    /// The modulus size of an RSA key (`None` for EC keys).
    #[must_use]
    pub fn rsa_bits(&self) -> Option<usize> {
        match self {
            Self::Rsa(key) => Some(key.bits()),
            Self::P256(_) | Self::P384(_) => None,
        }
    }

    /// A short description for claims: `rsa-2048`, `p256`, `p384`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Rsa(key) => format!("rsa-{}", key.bits()),
            Self::P256(_) => "p256".into(),
            Self::P384(_) => "p384".into(),
        }
    }
}

fn ecc_key(curve: u16, x: &[u8], y: &[u8]) -> Result<VerifyKey, TpmError> {
    let size = match curve {
        ECC_NIST_P256 => 32,
        ECC_NIST_P384 => 48,
        _ => return Err(TpmError::Key("unsupported ecc curve")),
    };
    if x.len() > size || y.len() > size {
        return Err(TpmError::Key("ecc coordinate too long"));
    }
    let mut point = vec![0x04];
    point.extend(std::iter::repeat_n(0, size - x.len()));
    point.extend_from_slice(x);
    point.extend(std::iter::repeat_n(0, size - y.len()));
    point.extend_from_slice(y);
    if size == 32 {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map(VerifyKey::P256)
    } else {
        p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map(VerifyKey::P384)
    }
    .map_err(|_| TpmError::Key("ecc point not on curve"))
}

/// `r || s`, each left-padded to the field size (TPMs may strip leading zeros).
fn scalars(r: &[u8], s: &[u8], size: usize) -> Result<Vec<u8>, TpmError> {
    if r.len() > size || s.len() > size {
        return Err(TpmError::BadSignature);
    }
    let mut out = vec![0u8; 2 * size];
    out.get_mut(size - r.len()..size)
        .ok_or(TpmError::BadSignature)?
        .copy_from_slice(r);
    out.get_mut(2 * size - s.len()..)
        .ok_or(TpmError::BadSignature)?
        .copy_from_slice(s);
    Ok(out)
}

/// Parsed AWS-LC keys by (modulus, exponent, hash): a verifier sees the same few AKs again and
/// again, and a parsed key keeps its Montgomery context, a third of the cost of one check.
type ParsedKeys = HashMap<(Vec<u8>, Vec<u8>, HashAlg), Arc<aws_lc_rs::signature::ParsedPublicKey>>;
const PARSED_KEYS_MAX: usize = 256;

fn parsed_pkcs1_key(
    key: &RsaKey,
    hash: HashAlg,
) -> Option<Arc<aws_lc_rs::signature::ParsedPublicKey>> {
    use aws_lc_rs::signature as rs;
    static CACHE: OnceLock<Mutex<ParsedKeys>> = OnceLock::new();
    let alg: &'static rs::RsaParameters = match hash {
        HashAlg::Sha1 => &rs::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        HashAlg::Sha256 => &rs::RSA_PKCS1_2048_8192_SHA256,
        HashAlg::Sha384 => &rs::RSA_PKCS1_2048_8192_SHA384,
        HashAlg::Sha512 => &rs::RSA_PKCS1_2048_8192_SHA512,
    };
    let id = (key.n.clone(), key.e.clone(), hash);
    // Nothing panics while the lock is held; should it ever, the map is still consistent.
    let mut cache = CACHE
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(parsed) = cache.get(&id) {
        return Some(Arc::clone(parsed));
    }
    let der = rsa::pkcs1::RsaPublicKey {
        modulus: der::asn1::UintRef::new(&key.n).ok()?,
        public_exponent: der::asn1::UintRef::new(&key.e).ok()?,
    }
    .to_der()
    .ok()?;
    let parsed = Arc::new(rs::ParsedPublicKey::new(alg, der).ok()?);
    if cache.len() >= PARSED_KEYS_MAX {
        cache.clear();
    }
    cache.insert(id, Arc::clone(&parsed));
    Some(parsed)
}

/// RSASSA-PKCS1-v1_5 over `message`: AWS-LC for keys of 2048 bits and more, `rsa` below that.
fn rsa_pkcs1(key: &RsaKey, hash: HashAlg, message: &[u8], sig: &[u8]) -> Result<(), TpmError> {
    if key.bits() >= 2048 {
        let parsed = parsed_pkcs1_key(key, hash).ok_or(TpmError::Key("rsa key rejected"))?;
        return parsed
            .verify_sig(message, sig)
            .map_err(|_| TpmError::BadSignature);
    }
    let scheme = match hash {
        HashAlg::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
        HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    };
    let digest = hash.digest(message);
    rsa_crate_key(&key.n, &key.e)?
        .verify(scheme, &digest, sig)
        .map_err(|_| TpmError::BadSignature)
}

/// RSASSA-PSS. TPMs use either the hash length or the maximum as salt length: AWS-LC covers the
/// first (SHA-256 and up, 2048+ bits, via AWS-LC); otherwise the `rsa` crate recovers the salt length.
fn rsa_pss(
    key: &RsaKey,
    hash: HashAlg,
    message: &[u8],
    digest: &[u8],
    sig: &[u8],
) -> Result<(), TpmError> {
    use aws_lc_rs::signature as rs;
    fn run<D>(key: &RsaPublicKey, digest: &[u8], sig: &[u8]) -> Result<(), TpmError>
    where
        D: sha2::Digest + sha2::digest::FixedOutputReset,
    {
        let verifier = rsa::pss::VerifyingKey::<D>::new_with_auto_salt_len(key.clone());
        let sig = rsa::pss::Signature::try_from(sig).map_err(|_| TpmError::BadSignature)?;
        verifier
            .verify_prehash(digest, &sig)
            .map_err(|_| TpmError::BadSignature)
    }
    let lc_alg = match hash {
        HashAlg::Sha256 => Some(&rs::RSA_PSS_2048_8192_SHA256),
        HashAlg::Sha384 => Some(&rs::RSA_PSS_2048_8192_SHA384),
        HashAlg::Sha512 => Some(&rs::RSA_PSS_2048_8192_SHA512),
        HashAlg::Sha1 => None,
    };
    if let Some(alg) = lc_alg.filter(|_| key.bits() >= 2048) {
        if key.lc_components().verify(alg, message, sig).is_ok() {
            return Ok(());
        }
    }
    let public = rsa_crate_key(&key.n, &key.e)?;
    match hash {
        HashAlg::Sha1 => run::<Sha1>(&public, digest, sig),
        HashAlg::Sha256 => run::<Sha256>(&public, digest, sig),
        HashAlg::Sha384 => run::<Sha384>(&public, digest, sig),
        HashAlg::Sha512 => run::<Sha512>(&public, digest, sig),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `tpm_verify` fuzz target: an RSA public area with keyBits 0 and an empty
    /// modulus overflowed the bit count.
    #[test]
    fn empty_rsa_modulus_is_a_key_error() {
        let public = [
            0x00, 0x01, 0x00, 0x0b, 0x00, 0x05, 0x00, 0x72, 0x00, 0x00, 0x00, 0x10, 0x00, 0x14,
            0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        let public = TpmtPublic::decode(&public).unwrap();
        assert!(matches!(
            VerifyKey::from_tpmt(&public),
            Err(TpmError::Key(_))
        ));
    }
}
