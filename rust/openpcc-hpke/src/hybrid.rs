//! `X25519Kyber768Draft00` (0x0030) as circl implements it (spec §2.2): DHKEM(X25519, HKDF-SHA256) and
//! round-3 Kyber768 side by side, shared secret = `ss_x25519 || ss_kyber`, keys and `enc` concatenated.

use openpcc_kyber as kyber;
use zeroize::Zeroizing;

use crate::dh::{self, DhSecret, Secret};
use crate::kem::{self, Encapsulation};
use crate::{Error, Kem};

const KEM: Kem = Kem::X25519Kyber768Draft00;
const X25519_LEN: usize = 32;
/// The sender's randomness: a 32-byte X25519 `DeriveKeyPair` seed and a 32-byte Kyber encapsulation seed.
pub(crate) const ENCAPSULATION_SEED_LEN: usize = 64;

#[allow(clippy::needless_pass_by_value)] // used as `map_err(kyber_error)`
fn kyber_error(err: kyber::Error) -> Error {
    match err {
        kyber::Error::RandomnessUnavailable => Error::Rng,
        _ => Error::InvalidKey,
    }
}

/// circl's `DeriveKeyPair`: one labeled extract/expand under `"KEM" || 0x0030` gives 96 bytes, the first 32
/// feed a nested DHKEM(X25519) `DeriveKeyPair`, the last 64 are Kyber's `d || z`.
pub(crate) fn derive_secret(ikm: &[u8]) -> Result<Secret, Error> {
    let kdf = KEM.kdf();
    let suite_id = KEM.suite_id();
    let dkp_prk = kdf.labeled_extract(&suite_id, b"", b"dkp_prk", &[ikm]);
    let bytes = kdf.labeled_expand(&suite_id, &dkp_prk, b"sk", b"", X25519_LEN + 64)?;
    let (x25519_seed, kyber_seed) = bytes.split_at(X25519_LEN);
    let x25519_sk = dh::derive_secret(Kem::X25519, x25519_seed)?;
    let kyber_seed: Zeroizing<[u8; 64]> =
        Zeroizing::new(kyber_seed.try_into().map_err(|_| Error::DeriveKeyPair)?);
    let (_, kyber_sk) = kyber::keypair_from_seed(&kyber_seed);
    let mut secret = Zeroizing::new(Vec::with_capacity(KEM.secret_key_len()));
    secret.extend_from_slice(&x25519_sk);
    secret.extend_from_slice(kyber_sk.as_bytes());
    Ok(secret)
}

/// A random key pair the way circl's `GenerateKeyPair` makes one: `DeriveKeyPair` of 32 random bytes.
pub(crate) fn random_secret() -> Result<Secret, Error> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|_| Error::Rng)?;
    derive_secret(seed.as_slice())
}

/// A loaded hybrid secret key: the X25519 half ready for DH, the Kyber half parsed and checked.
pub(crate) struct HybridSecret {
    x25519: DhSecret,
    kyber: kyber::SecretKey,
    public: Vec<u8>,
}

impl HybridSecret {
    /// Parses X25519 secret key (32) || Kyber768 secret key (2400).
    pub(crate) fn from_bytes(sk: &[u8]) -> Result<Self, Error> {
        if sk.len() != KEM.secret_key_len() {
            return Err(Error::InvalidKey);
        }
        let (x25519_bytes, kyber_bytes) = sk.split_at(X25519_LEN);
        let x25519 = DhSecret::from_bytes(Kem::X25519, Zeroizing::new(x25519_bytes.to_vec()))?;
        let kyber = kyber::SecretKey::from_bytes(kyber_bytes).map_err(kyber_error)?;
        let public = [x25519.public(), kyber.public_key()].concat();
        Ok(Self {
            x25519,
            kyber,
            public,
        })
    }

    /// X25519 public key || Kyber768 public key.
    pub(crate) fn public(&self) -> &[u8] {
        &self.public
    }
}

/// `Encap(pkR)` from a 64-byte seed (random unless given; a given seed is for test vectors only).
pub(crate) fn encap(pk_r: &[u8], seed: Option<&[u8]>) -> Result<Encapsulation, Error> {
    if pk_r.len() != KEM.public_key_len() {
        return Err(Error::InvalidKey);
    }
    let mut random = Zeroizing::new([0u8; ENCAPSULATION_SEED_LEN]);
    let seed = match seed {
        Some(seed) if seed.len() == ENCAPSULATION_SEED_LEN => seed,
        Some(_) => return Err(Error::InvalidInput("ikm_e for this kem must be 64 bytes")),
        None => {
            getrandom::fill(random.as_mut_slice()).map_err(|_| Error::Rng)?;
            random.as_slice()
        }
    };
    let (x25519_seed, kyber_seed) = seed.split_at(X25519_LEN);
    let (x25519_pk, kyber_pk) = pk_r.split_at(X25519_LEN);
    let x25519_sk_e = DhSecret::ephemeral(Kem::X25519, Some(x25519_seed))?;
    let x25519 = kem::dhkem_encap(Kem::X25519, &x25519_sk_e, x25519_pk, None)?;
    let kyber_seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        kyber_seed
            .try_into()
            .map_err(|_| Error::InvalidInput("ikm_e"))?,
    );
    let (kyber_ct, kyber_ss) =
        kyber::encapsulate_with_seed(kyber_pk, &kyber_seed).map_err(kyber_error)?;
    let kyber_ss = Zeroizing::new(kyber_ss);

    let mut enc = x25519.enc;
    enc.extend_from_slice(&kyber_ct);
    let mut shared_secret = x25519.shared_secret;
    shared_secret.extend_from_slice(kyber_ss.as_slice());
    Ok(Encapsulation { enc, shared_secret })
}

/// `Decap(enc, skR)`: X25519 DHKEM on the first 32 bytes, Kyber on the rest.
pub(crate) fn decap(enc: &[u8], sk_r: &HybridSecret) -> Result<Secret, Error> {
    if enc.len() != KEM.enc_len() {
        return Err(Error::InvalidInput("enc has the wrong length"));
    }
    let (x25519_enc, kyber_ct) = enc.split_at(X25519_LEN);
    let mut shared_secret = kem::dhkem_decap(Kem::X25519, x25519_enc, &sk_r.x25519)?;
    // Kyber decapsulation never fails on a well-sized ciphertext (implicit rejection); the AEAD catches it.
    let kyber_ss = Zeroizing::new(kyber::decapsulate(&sk_r.kyber, kyber_ct).map_err(kyber_error)?);
    shared_secret.extend_from_slice(kyber_ss.as_slice());
    Ok(shared_secret)
}
