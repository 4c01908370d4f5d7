//! KEM dispatch: the RFC 9180 DHKEMs (§4.1) and the hybrid X25519Kyber768Draft00.

use zeroize::Zeroizing;

use crate::dh::{self, Secret};
use crate::hybrid;
use crate::{Error, Kem, SecretKey};

/// The output of an encapsulation: `enc` and the KEM shared secret.
pub(crate) struct Encapsulation {
    pub(crate) enc: Vec<u8>,
    pub(crate) shared_secret: Secret,
}

/// `DeriveKeyPair(ikm)`, returning the serialized secret key.
pub(crate) fn derive_secret(kem: Kem, ikm: &[u8]) -> Result<Secret, Error> {
    if ikm.len() < kem.min_ikm_len() {
        return Err(Error::InvalidInput("ikm shorter than the kem's secret key"));
    }
    match kem {
        Kem::X25519Kyber768Draft00 => hybrid::derive_secret(ikm),
        dhkem => dh::derive_secret(dhkem, ikm),
    }
}

/// A fresh random serialized secret key.
pub(crate) fn random_secret(kem: Kem) -> Result<Secret, Error> {
    match kem {
        Kem::X25519Kyber768Draft00 => hybrid::random_secret(),
        dhkem => dh::random_secret(dhkem),
    }
}

/// The serialized public key of a serialized secret key (validating the secret key).
pub(crate) fn public_key(kem: Kem, sk: &[u8]) -> Result<Vec<u8>, Error> {
    match kem {
        Kem::X25519Kyber768Draft00 => hybrid::public_key(sk),
        dhkem => {
            if !dh::is_valid_scalar(dhkem, sk) {
                return Err(Error::InvalidKey);
            }
            dh::public_key(dhkem, sk)
        }
    }
}

/// `Encap(pkR)` or, with a sender key, `AuthEncap(pkR, skS)`. `ikm_e` fixes the ephemeral key (tests only).
pub(crate) fn encap(
    kem: Kem,
    pk_r: &[u8],
    sk_s: Option<&SecretKey>,
    ikm_e: Option<&[u8]>,
) -> Result<Encapsulation, Error> {
    if kem == Kem::X25519Kyber768Draft00 {
        // The hybrid KEM has no auth mode; `Suite` refuses it before getting here.
        return match sk_s {
            None => hybrid::encap(pk_r, ikm_e),
            Some(_) => Err(Error::Unsupported("the kem has no auth mode")),
        };
    }
    let sk_e = match ikm_e {
        Some(ikm) => derive_secret(kem, ikm)?,
        None => random_secret(kem)?,
    };
    dhkem_encap(kem, &sk_e, pk_r, sk_s)
}

/// DHKEM `Encap`/`AuthEncap` with the ephemeral secret key `sk_e`.
pub(crate) fn dhkem_encap(
    kem: Kem,
    sk_e: &[u8],
    pk_r: &[u8],
    sk_s: Option<&SecretKey>,
) -> Result<Encapsulation, Error> {
    let enc = dh::public_key(kem, sk_e)?;
    let dh_e = dh::diffie_hellman(kem, sk_e, pk_r)?;
    let shared_secret = match sk_s {
        None => extract_and_expand(kem, &[&dh_e], &[&enc, pk_r])?,
        Some(sk_s) => {
            check_key_kem(kem, sk_s)?;
            let dh_s = dh::diffie_hellman(kem, sk_s.as_bytes(), pk_r)?;
            extract_and_expand(kem, &[&dh_e, &dh_s], &[&enc, pk_r, sk_s.public_key()])?
        }
    };
    Ok(Encapsulation { enc, shared_secret })
}

/// `Decap(enc, skR)` or, with the sender's public key, `AuthDecap(enc, skR, pkS)`.
pub(crate) fn decap(kem: Kem, enc: &[u8], sk_r: &SecretKey, pk_s: Option<&[u8]>) -> Result<Secret, Error> {
    check_key_kem(kem, sk_r)?;
    if enc.len() != kem.enc_len() {
        return Err(Error::InvalidInput("enc has the wrong length"));
    }
    if kem == Kem::X25519Kyber768Draft00 {
        return match pk_s {
            None => hybrid::decap(enc, sk_r.as_bytes(), sk_r.public_key()),
            Some(_) => Err(Error::Unsupported("the kem has no auth mode")),
        };
    }
    let dh_e = dh::diffie_hellman(kem, sk_r.as_bytes(), enc)?;
    match pk_s {
        None => extract_and_expand(kem, &[&dh_e], &[enc, sk_r.public_key()]),
        Some(pk_s) => {
            let dh_s = dh::diffie_hellman(kem, sk_r.as_bytes(), pk_s)?;
            extract_and_expand(kem, &[&dh_e, &dh_s], &[enc, sk_r.public_key(), pk_s])
        }
    }
}

/// DHKEM `Decap` whose `DH(skR, pkE)` is computed by `dh` (e.g. a TPM's ECDH_ZGen).
pub(crate) fn decap_external<F>(kem: Kem, enc: &[u8], pk_r: &[u8], dh: F) -> Result<Secret, Error>
where
    F: FnOnce(&[u8]) -> Result<Vec<u8>, Error>,
{
    if kem == Kem::X25519Kyber768Draft00 {
        return Err(Error::Unsupported("external dh needs a dhkem"));
    }
    if enc.len() != kem.enc_len() {
        return Err(Error::InvalidInput("enc has the wrong length"));
    }
    dh::validate_public(kem, enc)?;
    dh::validate_public(kem, pk_r)?;
    let dh_e = Zeroizing::new(dh(enc)?);
    // Ndh equals Nsk for every DHKEM (the x-coordinate, or the Montgomery u-coordinate).
    if dh_e.len() != kem.secret_key_len() {
        return Err(Error::ExternalDh);
    }
    extract_and_expand(kem, &[&dh_e], &[enc, pk_r])
}

/// `ExtractAndExpand(dh, kem_context)` with `dh` and `kem_context` given as pieces.
pub(crate) fn extract_and_expand(kem: Kem, dh: &[&[u8]], kem_context: &[&[u8]]) -> Result<Secret, Error> {
    let kdf = kem.kdf();
    let suite_id = kem.suite_id();
    let eae_prk = kdf.labeled_extract(&suite_id, b"", b"eae_prk", dh);
    let context = Zeroizing::new(kem_context.concat());
    kdf.labeled_expand(&suite_id, &eae_prk, b"shared_secret", &context, kem.shared_secret_len())
}

fn check_key_kem(kem: Kem, sk: &SecretKey) -> Result<(), Error> {
    if sk.kem() == kem {
        Ok(())
    } else {
        Err(Error::InvalidKey)
    }
}
