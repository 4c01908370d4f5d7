//! KEM dispatch: the RFC 9180 DHKEMs (§4.1) and the hybrid `X25519Kyber768Draft00`.

use zeroize::Zeroizing;

use crate::dh::{self, DhSecret, Secret};
use crate::hybrid;
use crate::keys::KeyMaterial;
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

/// `Encap(pkR)` or, with a sender key, `AuthEncap(pkR, skS)`. `ikm_e` fixes the ephemeral key (tests only).
pub(crate) fn encap(
    kem: Kem,
    pk_r: &[u8],
    sk_s: Option<&SecretKey>,
    ikm_e: Option<&[u8]>,
) -> Result<Encapsulation, Error> {
    let sk_s = match sk_s {
        Some(key) if key.kem() != kem => return Err(Error::InvalidKey),
        Some(key) => match key.material() {
            KeyMaterial::Dh(dh) => Some(dh),
            KeyMaterial::Hybrid(_) => return Err(Error::Unsupported("the kem has no auth mode")),
        },
        None => None,
    };
    if kem == Kem::X25519Kyber768Draft00 {
        return hybrid::encap(pk_r, ikm_e);
    }
    let sk_e = DhSecret::ephemeral(kem, ikm_e)?;
    dhkem_encap(kem, &sk_e, pk_r, sk_s)
}

/// DHKEM `Encap`/`AuthEncap` with the ephemeral key `sk_e`.
pub(crate) fn dhkem_encap(
    kem: Kem,
    sk_e: &DhSecret,
    pk_r: &[u8],
    sk_s: Option<&DhSecret>,
) -> Result<Encapsulation, Error> {
    let enc = sk_e.public().to_vec();
    let dh_e = sk_e.dh(pk_r)?;
    let shared_secret = match sk_s {
        None => extract_and_expand(kem, &[&dh_e], &[&enc, pk_r])?,
        Some(sk_s) => {
            let dh_s = sk_s.dh(pk_r)?;
            extract_and_expand(kem, &[&dh_e, &dh_s], &[&enc, pk_r, sk_s.public()])?
        }
    };
    Ok(Encapsulation { enc, shared_secret })
}

/// `Decap(enc, skR)` or, with the sender's public key, `AuthDecap(enc, skR, pkS)`.
pub(crate) fn decap(
    kem: Kem,
    enc: &[u8],
    sk_r: &SecretKey,
    pk_s: Option<&[u8]>,
) -> Result<Secret, Error> {
    if sk_r.kem() != kem {
        return Err(Error::InvalidKey);
    }
    if enc.len() != kem.enc_len() {
        return Err(Error::InvalidInput("enc has the wrong length"));
    }
    match (sk_r.material(), pk_s) {
        (KeyMaterial::Hybrid(hybrid), None) => hybrid::decap(enc, hybrid),
        (KeyMaterial::Hybrid(_), Some(_)) => Err(Error::Unsupported("the kem has no auth mode")),
        (KeyMaterial::Dh(sk_r), None) => dhkem_decap(kem, enc, sk_r),
        (KeyMaterial::Dh(sk_r), Some(pk_s)) => {
            let dh_e = sk_r.dh(enc)?;
            let dh_s = sk_r.dh(pk_s)?;
            extract_and_expand(kem, &[&dh_e, &dh_s], &[enc, sk_r.public(), pk_s])
        }
    }
}

/// DHKEM base-mode `Decap`.
pub(crate) fn dhkem_decap(kem: Kem, enc: &[u8], sk_r: &DhSecret) -> Result<Secret, Error> {
    let dh_e = sk_r.dh(enc)?;
    extract_and_expand(kem, &[&dh_e], &[enc, sk_r.public()])
}

/// DHKEM `Decap` whose `DH(skR, pkE)` is computed by `dh` (e.g. a TPM's `ECDH_ZGen`).
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
pub(crate) fn extract_and_expand(
    kem: Kem,
    dh: &[&[u8]],
    kem_context: &[&[u8]],
) -> Result<Secret, Error> {
    let kdf = kem.kdf();
    let suite_id = kem.suite_id();
    let eae_prk = kdf.labeled_extract(&suite_id, b"", b"eae_prk", dh);
    let context = kem_context.concat();
    kdf.labeled_expand(
        &suite_id,
        &eae_prk,
        b"shared_secret",
        &context,
        kem.shared_secret_len(),
    )
}
