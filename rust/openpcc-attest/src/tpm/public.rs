//! `TPMT_PUBLIC` / `TPM2B_PUBLIC`: a TPM object's public area, its attributes and its name.

use crate::to_hex as hex;
use serde_json::{json, Value};

use super::alg::{
    HashAlg, ALG_ECC, ALG_ECDAA, ALG_KEYEDHASH, ALG_NULL, ALG_RSA, ALG_RSAES, ALG_SYMCIPHER,
};
use super::codec::Reader;
use super::TpmError;

/// `TPMA_OBJECT` bits (TPM 2.0 Part 2 §8.3).
pub mod attr {
    /// The object cannot be duplicated to another TPM.
    pub const FIXED_TPM: u32 = 1 << 1;
    /// The object is bound to the parent that created it.
    pub const STCLEAR: u32 = 1 << 2;
    /// The object cannot be duplicated to another parent.
    pub const FIXED_PARENT: u32 = 1 << 4;
    /// The TPM generated the sensitive part itself.
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    /// The user role may be authorised with the auth value (not only by policy).
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    /// The admin role needs a policy session.
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    /// Not subject to dictionary-attack lockout.
    pub const NO_DA: u32 = 1 << 10;
    /// Duplication only with an encrypted inner wrapper.
    pub const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
    /// Restricted: signs only TPM-generated data (or decrypts only TPM-formatted data).
    pub const RESTRICTED: u32 = 1 << 16;
    /// A decryption key.
    pub const DECRYPT: u32 = 1 << 17;
    /// A signing key.
    pub const SIGN_ENCRYPT: u32 = 1 << 18;

    /// Names of the set bits, for claims and failure reasons.
    #[must_use]
    pub fn names(bits: u32) -> Vec<&'static str> {
        [
            (FIXED_TPM, "fixedTPM"),
            (STCLEAR, "stClear"),
            (FIXED_PARENT, "fixedParent"),
            (SENSITIVE_DATA_ORIGIN, "sensitiveDataOrigin"),
            (USER_WITH_AUTH, "userWithAuth"),
            (ADMIN_WITH_POLICY, "adminWithPolicy"),
            (NO_DA, "noDA"),
            (ENCRYPTED_DUPLICATION, "encryptedDuplication"),
            (RESTRICTED, "restricted"),
            (DECRYPT, "decrypt"),
            (SIGN_ENCRYPT, "sign"),
        ]
        .into_iter()
        .filter_map(|(bit, name)| (bits & bit != 0).then_some(name))
        .collect()
    }
}

/// A signing or key-exchange scheme: algorithm plus its hash (`TPM_ALG_NULL` when none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheme {
    /// Scheme `TPM_ALG_ID` (`TPM_ALG_NULL` = any, chosen at use).
    pub alg: u16,
    /// Hash `TPM_ALG_ID`, `TPM_ALG_NULL` when the scheme carries none.
    pub hash: u16,
}

/// The type-specific public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: modulus and public exponent (0 in the TPM means 65537, already substituted).
    Rsa {
        /// Key size in bits as declared.
        key_bits: u16,
        /// Public exponent.
        exponent: u32,
        /// Big-endian modulus.
        modulus: Vec<u8>,
    },
    /// ECC: curve and affine point.
    Ecc {
        /// `TPM_ECC_CURVE`.
        curve: u16,
        /// Key-derivation scheme (`TPMT_KDF_SCHEME`).
        kdf: Scheme,
        /// X coordinate, big-endian.
        x: Vec<u8>,
        /// Y coordinate, big-endian.
        y: Vec<u8>,
    },
}

/// A parsed `TPMT_PUBLIC`, with the exact bytes it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmtPublic {
    /// `TPMI_ALG_PUBLIC` (RSA or ECC here).
    pub alg: u16,
    /// Hash used to compute the name.
    pub name_alg: u16,
    /// `TPMA_OBJECT` bits, see [`attr`].
    pub object_attributes: u32,
    /// Policy that authorises use of the object (empty when none).
    pub auth_policy: Vec<u8>,
    /// Symmetric algorithm of a storage parent (`TPM_ALG_NULL` otherwise).
    pub symmetric: u16,
    /// Signing or decryption scheme.
    pub scheme: Scheme,
    /// The public key.
    pub key: PublicKey,
    /// The marshalled `TPMT_PUBLIC` exactly as read; the name is a hash of these bytes.
    pub raw: Vec<u8>,
}

impl TpmtPublic {
    /// Parses a `TPMT_PUBLIC`, rejecting trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TpmError> {
        let mut r = Reader::new(bytes);
        let public = Self::read(&mut r)?;
        r.finish()?;
        Ok(public)
    }

    /// Parses a `TPM2B_PUBLIC` (16-bit size, then a `TPMT_PUBLIC` of exactly that size).
    pub fn decode_2b(bytes: &[u8]) -> Result<Self, TpmError> {
        let mut r = Reader::new(bytes);
        let inner = r.tpm2b("tpm2b_public")?;
        r.finish()?;
        Self::decode(inner)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, TpmError> {
        let start = r.position();
        let alg = r.u16("public type")?;
        let name_alg = r.u16("public nameAlg")?;
        let object_attributes = r.u32("public objectAttributes")?;
        let auth_policy = r.tpm2b("public authPolicy")?.to_vec();
        let symmetric = read_sym_def_object(r)?;
        let (scheme, key) = match alg {
            ALG_RSA => read_rsa(r)?,
            ALG_ECC => read_ecc(r)?,
            ALG_KEYEDHASH | ALG_SYMCIPHER => return Err(TpmError::UnsupportedAlgorithm(alg)),
            other => return Err(TpmError::UnsupportedAlgorithm(other)),
        };
        let raw = r.consumed().get(start..).unwrap_or_default().to_vec();
        Ok(Self {
            alg,
            name_alg,
            object_attributes,
            auth_policy,
            symmetric,
            scheme,
            key,
            raw,
        })
    }

    /// The object's name: `nameAlg || H_nameAlg(TPMT_PUBLIC)`.
    pub fn name(&self) -> Result<Vec<u8>, TpmError> {
        let hash = HashAlg::require(self.name_alg)?;
        let mut name = self.name_alg.to_be_bytes().to_vec();
        name.extend_from_slice(&hash.digest(&self.raw));
        Ok(name)
    }

    /// Whether every bit of `bits` is set.
    #[must_use]
    pub fn has(&self, bits: u32) -> bool {
        self.object_attributes & bits == bits
    }

    /// The fields as JSON claims.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let key = match &self.key {
            PublicKey::Rsa {
                key_bits,
                exponent,
                modulus,
            } => json!({
                "type": "rsa", "keyBits": key_bits, "exponent": exponent, "modulus": hex(modulus),
            }),
            PublicKey::Ecc { curve, x, y, .. } => json!({
                "type": "ecc", "curve": curve, "x": hex(x), "y": hex(y),
            }),
        };
        json!({
            "nameAlg": self.name_alg,
            "objectAttributes": self.object_attributes,
            "attributes": attr::names(self.object_attributes),
            "authPolicy": hex(&self.auth_policy),
            "scheme": self.scheme.alg,
            "schemeHash": self.scheme.hash,
            "key": key,
            "name": self.name().map(|n| hex(&n)).unwrap_or_default(),
        })
    }
}

/// `TPMT_SYM_DEF_OBJECT`: algorithm, then key bits and mode unless NULL.
fn read_sym_def_object(r: &mut Reader<'_>) -> Result<u16, TpmError> {
    let alg = r.u16("public symmetric")?;
    if alg != ALG_NULL {
        r.u16("public symmetric keyBits")?;
        r.u16("public symmetric mode")?;
    }
    Ok(alg)
}

/// A scheme whose details are one hash, except the listed forms (Part 2 §11.2).
fn read_scheme(r: &mut Reader<'_>, field: &'static str) -> Result<Scheme, TpmError> {
    let alg = r.u16(field)?;
    let hash = match alg {
        ALG_NULL | ALG_RSAES => ALG_NULL,
        ALG_ECDAA => {
            let hash = r.u16(field)?;
            r.u16(field)?; // count
            hash
        }
        _ => r.u16(field)?,
    };
    Ok(Scheme { alg, hash })
}

fn read_rsa(r: &mut Reader<'_>) -> Result<(Scheme, PublicKey), TpmError> {
    let scheme = read_scheme(r, "rsa scheme")?;
    let key_bits = r.u16("rsa keyBits")?;
    let exponent = match r.u32("rsa exponent")? {
        0 => 65_537,
        e => e,
    };
    let modulus = r.tpm2b("rsa modulus")?.to_vec();
    if modulus.len() * 8 != usize::from(key_bits) {
        return Err(TpmError::Invalid(
            "rsa keyBits differs from the modulus size",
        ));
    }
    Ok((
        scheme,
        PublicKey::Rsa {
            key_bits,
            exponent,
            modulus,
        },
    ))
}

fn read_ecc(r: &mut Reader<'_>) -> Result<(Scheme, PublicKey), TpmError> {
    let scheme = read_scheme(r, "ecc scheme")?;
    let curve = r.u16("ecc curve")?;
    let kdf = read_scheme(r, "ecc kdf")?;
    let x = r.tpm2b("ecc x")?.to_vec();
    let y = r.tpm2b("ecc y")?.to_vec();
    Ok((scheme, PublicKey::Ecc { curve, kdf, x, y }))
}
