//! Response keys of RFC 9458 §4.4, also used by the reference's compute responses.

use hkdf::Hkdf;
use openpcc_hpke::{Aead, Kdf};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::{AeadKey, Error};

/// Length of the response nonce: `max(Nk, Nn)`.
#[must_use]
pub fn response_nonce_len(aead: Aead) -> usize {
    aead.key_len().max(aead.nonce_len())
}

/// Derives the response AEAD key and nonce.
///
/// `secret` = `ctx.export(label, max(Nk, Nn))`; `prk = HKDF-Extract(salt = enc || response_nonce, secret)`;
/// `key = HKDF-Expand(prk, "key", Nk)`, `nonce = HKDF-Expand(prk, "nonce", Nn)`. Plain HKDF with the
/// suite's hash, not HPKE's labeled variant.
pub fn response_key_material(
    kdf: Kdf,
    aead: Aead,
    secret: &[u8],
    enc: &[u8],
    response_nonce: &[u8],
) -> Result<(AeadKey, [u8; 12]), Error> {
    if matches!(aead, Aead::ExportOnly) {
        return Err(Error::Unsupported(aead.id()));
    }
    if response_nonce.len() != response_nonce_len(aead) {
        return Err(Error::Malformed("response nonce length"));
    }
    let mut salt = Vec::with_capacity(enc.len() + response_nonce.len());
    salt.extend_from_slice(enc);
    salt.extend_from_slice(response_nonce);
    let mut key = Zeroizing::new(vec![0u8; aead.key_len()]);
    let mut nonce = [0u8; 12];
    match kdf {
        Kdf::HkdfSha256 => expand::<Sha256>(&salt, secret, &mut key, &mut nonce),
        Kdf::HkdfSha384 => expand::<Sha384>(&salt, secret, &mut key, &mut nonce),
        Kdf::HkdfSha512 => expand::<Sha512>(&salt, secret, &mut key, &mut nonce),
        #[allow(unreachable_patterns)] // the enum may grow
        other => return Err(Error::Unsupported(other.id())),
    }?;
    Ok((AeadKey::from_slice(aead, &key)?, nonce))
}

fn expand<H>(salt: &[u8], secret: &[u8], key: &mut [u8], nonce: &mut [u8; 12]) -> Result<(), Error>
where
    H: hkdf::hmac::EagerHash,
{
    let prk = Hkdf::<H>::new(Some(salt), secret);
    prk.expand(b"key", key)
        .map_err(|_| Error::Malformed("key length"))?;
    prk.expand(b"nonce", nonce)
        .map_err(|_| Error::Malformed("nonce length"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChunkCipher, CounterNonceAead};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 9458 Appendix A: the response key schedule and the sealed response.
    #[test]
    fn rfc9458_appendix_a_response() {
        let enc = h("4b28f881333e7c164ffc499ad9796f877f4e1051ee6d31bad19dec96c208b472");
        let secret = h("62d87a6ba569ee81014c2641f52bea36");
        let nonce = h("c789e7151fcba46158ca84b04464910d");
        let (key, aead_nonce) =
            response_key_material(Kdf::HkdfSha256, Aead::Aes128Gcm, &secret, &enc, &nonce).unwrap();
        match &key {
            AeadKey::Aes128Gcm(k) => {
                assert_eq!(k.as_slice(), h("5d0172a080e428b16d298c4ea0db620d"));
            }
            other => panic!("unexpected key {other:?}"),
        }
        assert_eq!(aead_nonce.as_slice(), h("f6bf1aeb88d6df87007fa263"));
        let ct = CounterNonceAead::new(key, aead_nonce)
            .seal(b"", &h("0140c8"))
            .unwrap();
        assert_eq!(ct, h("86f9013e404feea014e7be4a441f234f857fbd"));
    }

    #[test]
    fn nonce_length_is_checked() {
        assert_eq!(response_nonce_len(Aead::Aes128Gcm), 16);
        assert_eq!(response_nonce_len(Aead::Aes256Gcm), 32);
        let err = response_key_material(
            Kdf::HkdfSha256,
            Aead::Aes128Gcm,
            &[0; 16],
            &[0; 32],
            &[0; 15],
        );
        assert!(matches!(err, Err(Error::Malformed(_))));
        let err = response_key_material(Kdf::HkdfSha256, Aead::ExportOnly, &[0; 16], &[0; 32], &[]);
        assert!(matches!(err, Err(Error::Unsupported(0xffff))));
    }
}
