//! RSA blind signatures (RFC 9474, RSABSSA-SHA384 in its four variants) and partially blind RSA with
//! public metadata (draft-amjad-cfrg-partially-blind-rsa, RSAPBSSA-SHA384), as `OpenPCC`'s currency
//! uses them (spec §8.3: the credit value is the metadata, PSS with a 48-byte salt of zeros).
//!
//! The protocol, per RFC 9474 §4:
//! * client: [`prepare`] (adds a 32-byte random prefix in the Randomized variants), then
//!   [`blind`] → blinded message (sent) and the inverse of the blinding factor (kept secret);
//! * signer: [`blind_sign`];
//! * client: [`finalize`] → the signature, checked before it is returned;
//! * anyone: [`verify`].
//!
//! The `pb_*` functions are the same steps with public metadata `info`: the message is framed as
//! `"msg" || I2OSP(len(info), 4) || info || msg` and the key is the one derived for `info`
//! ([`PublicKey::derive`], [`SecretKey::derive`], which needs safe primes).
//!
//! Private-key operations use the `rsa` crate 0.10 (`hazmat::rsa_decrypt_and_check`): constant-time
//! Montgomery arithmetic with base, exponent and CRT-modulus blinding, and a check of the result
//! against the public key. The `rsa` crate before 0.10 is not constant-time (RUSTSEC-2023-0071).

#![forbid(unsafe_code)]

mod error;
mod keys;
mod pss;

use crypto_bigint::modular::BoxedMontyForm;
use crypto_bigint::{BoxedUint, Gcd, NonZero, Resize as _};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha384};
use zeroize::Zeroizing;

pub use error::Error;
pub use keys::{PublicKey, SecretKey, MODULUS_BITS};

/// Length of the random prefix of the Randomized variants (RFC 9474 §4.1).
pub const PREFIX_LEN: usize = 32;

/// The four RSABSSA-SHA384 variants of RFC 9474 §5 (the same four exist for RSAPBSSA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// RSABSSA-SHA384-PSS-Randomized: salt of 48 bytes, random message prefix.
    PssRandomized,
    /// RSABSSA-SHA384-PSSZERO-Randomized: no salt, random message prefix.
    PssZeroRandomized,
    /// RSABSSA-SHA384-PSS-Deterministic: salt of 48 bytes, no prefix.
    PssDeterministic,
    /// RSABSSA-SHA384-PSSZERO-Deterministic: no salt, no prefix.
    PssZeroDeterministic,
}

impl Variant {
    /// All four, in RFC order.
    pub const ALL: [Self; 4] = [
        Self::PssRandomized,
        Self::PssZeroRandomized,
        Self::PssDeterministic,
        Self::PssZeroDeterministic,
    ];

    /// The part of the name after `RSABSSA-` / `RSAPBSSA-`.
    #[must_use]
    pub fn suffix(self) -> &'static str {
        match self {
            Self::PssRandomized => "SHA384-PSS-Randomized",
            Self::PssZeroRandomized => "SHA384-PSSZERO-Randomized",
            Self::PssDeterministic => "SHA384-PSS-Deterministic",
            Self::PssZeroDeterministic => "SHA384-PSSZERO-Deterministic",
        }
    }

    /// Parses `RSABSSA-…`, `RSAPBSSA-…` or the bare suffix (`SHA384-PSS-Randomized`).
    pub fn from_name(name: &str) -> Result<Self, Error> {
        let suffix = name
            .strip_prefix("RSABSSA-")
            .or_else(|| name.strip_prefix("RSAPBSSA-"))
            .unwrap_or(name);
        Self::ALL
            .into_iter()
            .find(|v| v.suffix() == suffix)
            .ok_or_else(|| Error::UnknownVariant(name.chars().take(64).collect()))
    }

    /// The PSS salt length: 48 or 0.
    #[must_use]
    pub fn salt_len(self) -> usize {
        match self {
            Self::PssRandomized | Self::PssDeterministic => pss::HASH_LEN,
            Self::PssZeroRandomized | Self::PssZeroDeterministic => 0,
        }
    }

    /// Whether [`prepare`] adds a random prefix.
    #[must_use]
    pub fn is_randomized(self) -> bool {
        matches!(self, Self::PssRandomized | Self::PssZeroRandomized)
    }
}

/// Where the PSS salt comes from when blinding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Salt {
    /// Fresh random bytes (RFC 9474).
    #[default]
    Random,
    /// All zeros: the reference's currency (spec §8.3), whose randomness is in the message.
    Zeros,
}

/// What [`blind`] returns: the blinded message for the signer, and `inv` (the inverse of the
/// blinding factor) which the client keeps secret until [`finalize`].
#[derive(Clone)]
pub struct Blinded {
    /// `kLen` bytes, sent to the signer.
    pub blinded_msg: Vec<u8>,
    /// `kLen` bytes, secret.
    pub inv: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Blinded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blinded")
            .field("blinded_msg_len", &self.blinded_msg.len())
            .finish_non_exhaustive()
    }
}

/// RFC 9474 Prepare: `random(32) || msg` for the Randomized variants, `msg` otherwise.
pub fn prepare(variant: Variant, msg: &[u8]) -> Result<Vec<u8>, Error> {
    if !variant.is_randomized() {
        return Ok(msg.to_vec());
    }
    let mut out = vec![0u8; PREFIX_LEN + msg.len()];
    getrandom::fill(&mut out[..PREFIX_LEN]).map_err(|_| Error::Rng)?;
    out[PREFIX_LEN..].copy_from_slice(msg);
    Ok(out)
}

/// RFC 9474 Blind of an already prepared message.
pub fn blind(pk: &PublicKey, variant: Variant, salt: Salt, msg: &[u8]) -> Result<Blinded, Error> {
    let salt = salt_bytes(variant, salt)?;
    let r = random_blinding_factor(pk)?;
    blind_with(pk, msg, &salt, &r)
}

/// RFC 9474 `BlindSign`: `blinded_msg^d mod n`, checked against the public key.
pub fn blind_sign(sk: &SecretKey, blinded_msg: &[u8]) -> Result<Vec<u8>, Error> {
    let k_len = sk.inner.size();
    check_len("blinded message", blinded_msg, k_len)?;
    let n = sk.inner.n().as_ref();
    let m = BoxedUint::from_be_slice(blinded_msg, n.bits_precision())
        .map_err(|_| Error::OutOfRange("blinded message"))?;
    if m >= *n {
        return Err(Error::OutOfRange("blinded message"));
    }
    let mut rng = getrandom::SysRng;
    let s = Zeroizing::new(
        rsa::hazmat::rsa_decrypt_and_check(&sk.inner, Some(&mut rng), &m)
            .map_err(|_| Error::SigningFailed)?,
    );
    Ok(keys::i2osp(&s, k_len))
}

/// RFC 9474 Finalize: unblinds with `inv` and verifies the result before returning it.
pub fn finalize(
    pk: &PublicKey,
    variant: Variant,
    msg: &[u8],
    blind_sig: &[u8],
    inv: &[u8],
) -> Result<Vec<u8>, Error> {
    let k_len = pk.modulus_len();
    check_len("blind signature", blind_sig, k_len)?;
    check_len("inverse", inv, k_len)?;
    let n = pk.inner.n();
    let z = below_n(n, blind_sig, "blind signature")?;
    let r_inv = Zeroizing::new(below_n(n, inv, "inverse")?);
    let s = z.mul_mod(&r_inv, n);
    let sig = keys::i2osp(&s, k_len);
    verify(pk, variant, msg, &sig)?;
    Ok(sig)
}

/// RSASSA-PSS-VERIFY (SHA-384, MGF1-SHA-384, the variant's salt length) of a prepared message.
pub fn verify(pk: &PublicKey, variant: Variant, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    check_len("signature", sig, pk.modulus_len())?;
    let scheme = rsa::pss::Pss::<Sha384>::new_with_salt(variant.salt_len());
    pk.inner
        .verify(scheme, &Sha384::digest(msg), sig)
        .map_err(|_| Error::VerificationFailed)
}

/// The message partially blind RSA signs: `"msg" || I2OSP(len(info), 4) || info || msg`.
pub fn metadata_message(info: &[u8], msg: &[u8]) -> Result<Vec<u8>, Error> {
    let info_len = u32::try_from(info.len()).map_err(|_| Error::InvalidLength {
        what: "metadata",
        expected: u32::MAX as usize,
        got: info.len(),
    })?;
    let mut out = Vec::with_capacity(7 + info.len() + msg.len());
    out.extend_from_slice(b"msg");
    out.extend_from_slice(&info_len.to_be_bytes());
    out.extend_from_slice(info);
    out.extend_from_slice(msg);
    Ok(out)
}

/// Partially blind Blind: [`blind`] with the key derived for `info` and the framed message.
pub fn pb_blind(
    pk: &PublicKey,
    variant: Variant,
    salt: Salt,
    msg: &[u8],
    info: &[u8],
) -> Result<Blinded, Error> {
    blind(
        &pk.derive(info)?,
        variant,
        salt,
        &metadata_message(info, msg)?,
    )
}

/// Partially blind `BlindSign` with the key derived for `info` (derive it once with
/// [`SecretKey::derive`] and call [`blind_sign`] to sign many messages under one metadata).
pub fn pb_blind_sign(sk: &SecretKey, blinded_msg: &[u8], info: &[u8]) -> Result<Vec<u8>, Error> {
    blind_sign(&sk.derive(info)?, blinded_msg)
}

/// Partially blind Finalize.
pub fn pb_finalize(
    pk: &PublicKey,
    variant: Variant,
    msg: &[u8],
    info: &[u8],
    blind_sig: &[u8],
    inv: &[u8],
) -> Result<Vec<u8>, Error> {
    finalize(
        &pk.derive(info)?,
        variant,
        &metadata_message(info, msg)?,
        blind_sig,
        inv,
    )
}

/// Partially blind Verify (under the key derived for `info`).
pub fn pb_verify(
    pk: &PublicKey,
    variant: Variant,
    msg: &[u8],
    info: &[u8],
    sig: &[u8],
) -> Result<(), Error> {
    verify(
        &pk.derive(info)?,
        variant,
        &metadata_message(info, msg)?,
        sig,
    )
}

fn salt_bytes(variant: Variant, salt: Salt) -> Result<Vec<u8>, Error> {
    let mut bytes = vec![0u8; variant.salt_len()];
    if salt == Salt::Random {
        getrandom::fill(&mut bytes).map_err(|_| Error::Rng)?;
    }
    Ok(bytes)
}

fn check_len(what: &'static str, bytes: &[u8], expected: usize) -> Result<(), Error> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(Error::InvalidLength {
            what,
            expected,
            got: bytes.len(),
        })
    }
}

/// OS2IP of `bytes`, which must be below `n` (the length is checked by the caller).
fn below_n(n: &NonZero<BoxedUint>, bytes: &[u8], what: &'static str) -> Result<BoxedUint, Error> {
    let x =
        BoxedUint::from_be_slice(bytes, n.bits_precision()).map_err(|_| Error::OutOfRange(what))?;
    if x >= **n {
        return Err(Error::OutOfRange(what));
    }
    Ok(x)
}

/// A uniform `r` in `[1, n)`, by rejection sampling on `bitlen(n)` random bits.
fn random_blinding_factor(pk: &PublicKey) -> Result<Zeroizing<BoxedUint>, Error> {
    let n = pk.inner.n();
    let k_len = pk.modulus_len();
    let top_mask = 0xffu8 >> (8 * k_len - pk.bits());
    let mut bytes = Zeroizing::new(vec![0u8; k_len]);
    loop {
        getrandom::fill(&mut bytes).map_err(|_| Error::Rng)?;
        bytes[0] &= top_mask;
        if let Ok(r) = below_n(n, &bytes, "blinding factor") {
            if !bool::from(r.is_zero()) {
                return Ok(Zeroizing::new(r));
            }
        }
    }
}

/// Blind with a given salt and blinding factor `r` (RFC 9474 §4.2 steps 1-9).
#[allow(clippy::many_single_char_names)] // the RFC's names: n, m, r, x, z
fn blind_with(pk: &PublicKey, msg: &[u8], salt: &[u8], r: &BoxedUint) -> Result<Blinded, Error> {
    let n = pk.inner.n();
    let k_len = pk.modulus_len();
    let encoded = pss::encode(msg, pk.bits() - 1, salt)?;
    let m = BoxedUint::from_be_slice(&encoded, n.bits_precision())
        .map_err(|_| Error::Encoding("encoded message"))?;
    if m.gcd(n.as_ref()) != BoxedUint::one().resize_unchecked(n.bits_precision()) {
        return Err(Error::NotInvertible("encoded message"));
    }
    let inv = Zeroizing::new(
        r.invert_mod(n)
            .into_option()
            .ok_or(Error::NotInvertible("blinding factor"))?,
    );
    // r^e mod n: constant-time in r; the exponent is public, so only its bit length is used.
    let e = pk.inner.e();
    let x = BoxedMontyForm::new(r.clone(), pk.inner.n_params())
        .pow_bounded_exp(e, e.bit_width())
        .retrieve();
    let z = m.mul_mod(&x, n);
    Ok(Blinded {
        blinded_msg: keys::i2osp(&z, k_len),
        inv: Zeroizing::new(keys::i2osp(&inv, k_len)),
    })
}

/// Deterministic blinding for known-answer tests (feature `test-hooks`): the caller chooses the
/// salt and the blinding factor `r`. Never use this outside tests: a reused or guessable `r`
/// links the blinded message to the signature.
#[cfg(feature = "test-hooks")]
pub mod hooks {
    use rsa::traits::PublicKeyParts as _;

    use super::{below_n, blind_with, Blinded, Error, PublicKey};

    /// Blind `msg` (already prepared) with `salt` and `r` (big-endian, `kLen` bytes, in `[1, n)`).
    pub fn blind_with_factor(
        pk: &PublicKey,
        msg: &[u8],
        salt: &[u8],
        r: &[u8],
    ) -> Result<Blinded, Error> {
        super::check_len("blinding factor", r, pk.modulus_len())?;
        let r = below_n(pk.inner.n(), r, "blinding factor")?;
        blind_with(pk, msg, salt, &r)
    }

    /// The partially blind version: key derived for `info`, message framed with it.
    pub fn pb_blind_with_factor(
        pk: &PublicKey,
        msg: &[u8],
        info: &[u8],
        salt: &[u8],
        r: &[u8],
    ) -> Result<Blinded, Error> {
        blind_with_factor(
            &pk.derive(info)?,
            &super::metadata_message(info, msg)?,
            salt,
            r,
        )
    }
}
