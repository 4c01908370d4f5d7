//! Verification keys for TPM signatures: from a `TPMT_PUBLIC` or an X.509 SubjectPublicKeyInfo.

use const_oid::ObjectIdentifier;
use der::Encode;
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

/// A public key that can check TPM and certificate signatures.
#[derive(Clone, Debug, PartialEq)]
pub enum VerifyKey {
    /// RSA (1024 to 4096 bits).
    Rsa(RsaPublicKey),
    /// ECDSA on NIST P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA on NIST P-384.
    P384(p384::ecdsa::VerifyingKey),
}

impl VerifyKey {
    /// The key in a `TPMT_PUBLIC` (RSA, or ECC on P-256/P-384).
    pub fn from_tpmt(public: &TpmtPublic) -> Result<Self, TpmError> {
        match &public.key {
            PublicKey::Rsa { exponent, modulus, .. } => rsa_key(modulus, &exponent.to_be_bytes()),
            PublicKey::Ecc { curve, x, y, .. } => ecc_key(*curve, x, y),
        }
    }

    /// The key in an X.509 SubjectPublicKeyInfo.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, TpmError> {
        let bits = spki.subject_public_key.as_bytes().ok_or(TpmError::Key("spki bit string"))?;
        if spki.algorithm.oid == OID_RSA {
            let der = spki.to_der().map_err(|_| TpmError::Key("spki encoding"))?;
            let info = spki::SubjectPublicKeyInfoRef::try_from(der.as_slice())
                .map_err(|_| TpmError::Key("spki encoding"))?;
            return RsaPublicKey::try_from(info).map(Self::Rsa).map_err(|_| TpmError::Key("rsa key"));
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
        let digest = sig.hash().digest(message);
        match (self, sig) {
            (Self::Rsa(key), TpmtSignature::RsaSsa { hash, sig }) => rsa_pkcs1(key, *hash, &digest, sig),
            (Self::Rsa(key), TpmtSignature::RsaPss { hash, sig }) => rsa_pss(key, *hash, &digest, sig),
            (Self::P256(key), TpmtSignature::Ecdsa { r, s, .. }) => {
                let sig = p256::ecdsa::Signature::from_slice(&scalars(r, s, 32)?)
                    .map_err(|_| TpmError::BadSignature)?;
                key.verify_prehash(&digest, &sig).map_err(|_| TpmError::BadSignature)
            }
            (Self::P384(key), TpmtSignature::Ecdsa { r, s, .. }) => {
                let sig = p384::ecdsa::Signature::from_slice(&scalars(r, s, 48)?)
                    .map_err(|_| TpmError::BadSignature)?;
                key.verify_prehash(&digest, &sig).map_err(|_| TpmError::BadSignature)
            }
            _ => Err(TpmError::Key("signature scheme does not match the key type")),
        }
    }

    /// Checks an X.509 signature (`algorithm` from the certificate) over `message` (the TBS bytes).
    pub fn verify_x509(&self, algorithm: &ObjectIdentifier, message: &[u8], sig: &[u8]) -> Result<(), TpmError> {
        let hash = match *algorithm {
            OID_SHA256_RSA | OID_ECDSA_SHA256 => HashAlg::Sha256,
            OID_SHA384_RSA | OID_ECDSA_SHA384 => HashAlg::Sha384,
            OID_SHA512_RSA => HashAlg::Sha512,
            _ => return Err(TpmError::Key("unsupported certificate signature algorithm")),
        };
        let digest = hash.digest(message);
        let is_rsa = matches!(*algorithm, OID_SHA256_RSA | OID_SHA384_RSA | OID_SHA512_RSA);
        match self {
            Self::Rsa(key) if is_rsa => rsa_pkcs1(key, hash, &digest, sig),
            Self::P256(key) if !is_rsa => {
                let sig = p256::ecdsa::Signature::from_der(sig).map_err(|_| TpmError::BadSignature)?;
                key.verify_prehash(&digest, &sig).map_err(|_| TpmError::BadSignature)
            }
            Self::P384(key) if !is_rsa => {
                let sig = p384::ecdsa::Signature::from_der(sig).map_err(|_| TpmError::BadSignature)?;
                key.verify_prehash(&digest, &sig).map_err(|_| TpmError::BadSignature)
            }
            _ => Err(TpmError::Key("certificate signature algorithm does not match the issuer key")),
        }
    }

    /// A short description for claims: `rsa-2048`, `p256`, `p384`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Rsa(key) => format!("rsa-{}", rsa::traits::PublicKeyParts::size(key) * 8),
            Self::P256(_) => "p256".into(),
            Self::P384(_) => "p384".into(),
        }
    }
}

fn rsa_key(modulus: &[u8], exponent: &[u8]) -> Result<VerifyKey, TpmError> {
    let bits = u32::try_from(modulus.len() * 8).map_err(|_| TpmError::Key("rsa modulus"))?;
    let n = BoxedUint::from_be_slice(modulus, bits).map_err(|_| TpmError::Key("rsa modulus"))?;
    let e = BoxedUint::from_be_slice(exponent, 32).map_err(|_| TpmError::Key("rsa exponent"))?;
    RsaPublicKey::new(n, e).map(VerifyKey::Rsa).map_err(|_| TpmError::Key("rsa key"))
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
    out.get_mut(size - r.len()..size).ok_or(TpmError::BadSignature)?.copy_from_slice(r);
    out.get_mut(2 * size - s.len()..).ok_or(TpmError::BadSignature)?.copy_from_slice(s);
    Ok(out)
}

fn rsa_pkcs1(key: &RsaPublicKey, hash: HashAlg, digest: &[u8], sig: &[u8]) -> Result<(), TpmError> {
    let scheme = match hash {
        HashAlg::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
        HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    };
    key.verify(scheme, digest, sig).map_err(|_| TpmError::BadSignature)
}

/// TPMs use either the hash length or the maximum as PSS salt length, so the salt length is
/// recovered from the encoding rather than fixed.
fn rsa_pss(key: &RsaPublicKey, hash: HashAlg, digest: &[u8], sig: &[u8]) -> Result<(), TpmError> {
    fn run<D>(key: &RsaPublicKey, digest: &[u8], sig: &[u8]) -> Result<(), TpmError>
    where
        D: sha2::Digest + sha2::digest::FixedOutputReset,
    {
        let verifier = rsa::pss::VerifyingKey::<D>::new_with_auto_salt_len(key.clone());
        let sig = rsa::pss::Signature::try_from(sig).map_err(|_| TpmError::BadSignature)?;
        verifier.verify_prehash(digest, &sig).map_err(|_| TpmError::BadSignature)
    }
    match hash {
        HashAlg::Sha1 => run::<Sha1>(key, digest, sig),
        HashAlg::Sha256 => run::<Sha256>(key, digest, sig),
        HashAlg::Sha384 => run::<Sha384>(key, digest, sig),
        HashAlg::Sha512 => run::<Sha512>(key, digest, sig),
    }
}
