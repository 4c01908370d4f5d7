//! `Suite`: the entry point tying a KEM, KDF and AEAD together.

use crate::context::{Mode, RecipientContext, SenderContext};
use crate::{kem, Aead, Error, Kdf, Kem, SecretKey};

/// An HPKE ciphersuite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Suite {
    /// The key encapsulation mechanism.
    pub kem: Kem,
    /// The key derivation function of the key schedule.
    pub kdf: Kdf,
    /// The AEAD of the contexts.
    pub aead: Aead,
}

/// Options of [`Suite::setup_sender`]; the default is base mode with a random ephemeral key.
#[derive(Clone, Copy, Debug, Default)]
pub struct SenderOptions<'a> {
    /// `(psk, psk_id)`: selects the psk or `auth_psk` mode.
    pub psk: Option<(&'a [u8], &'a [u8])>,
    /// The sender's secret key: selects the auth or `auth_psk` mode.
    pub sk_s: Option<&'a SecretKey>,
    /// Derives the ephemeral key deterministically (`DeriveKeyPair(ikm_e)`). For test vectors only: reusing
    /// an ephemeral key destroys the security of HPKE. For 0x0030 it is the 64-byte encapsulation seed.
    pub ikm_e: Option<&'a [u8]>,
}

/// Options of [`Suite::setup_recipient`]; the default is base mode.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecipientOptions<'a> {
    /// `(psk, psk_id)`: selects the psk or `auth_psk` mode.
    pub psk: Option<(&'a [u8], &'a [u8])>,
    /// The sender's public key: selects the auth or `auth_psk` mode.
    pub pk_s: Option<&'a [u8]>,
}

impl Suite {
    /// A suite from its three algorithms.
    #[must_use]
    pub const fn new(kem: Kem, kdf: Kdf, aead: Aead) -> Self {
        Self { kem, kdf, aead }
    }

    /// A suite from IANA identifiers.
    pub fn from_ids(kem: u16, kdf: u16, aead: u16) -> Result<Self, Error> {
        Ok(Self::new(
            Kem::try_from(kem)?,
            Kdf::try_from(kdf)?,
            Aead::try_from(aead)?,
        ))
    }

    /// `"HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2)`
    pub(crate) fn suite_id(self) -> [u8; 10] {
        let [k0, k1] = self.kem.id().to_be_bytes();
        let [d0, d1] = self.kdf.id().to_be_bytes();
        let [a0, a1] = self.aead.id().to_be_bytes();
        [b'H', b'P', b'K', b'E', k0, k1, d0, d1, a0, a1]
    }

    /// A fresh key pair: (secret key, serialized public key).
    pub fn generate_key_pair(&self) -> Result<(SecretKey, Vec<u8>), Error> {
        let sk = SecretKey::from_secret(self.kem, kem::random_secret(self.kem)?)?;
        let pk = sk.public_key().to_vec();
        Ok((sk, pk))
    }

    /// `DeriveKeyPair(ikm)` (RFC 9180 §7.1.3; for 0x0030 the nested derivation of spec §2.2).
    pub fn derive_key_pair(&self, ikm: &[u8]) -> Result<(SecretKey, Vec<u8>), Error> {
        let sk = SecretKey::from_secret(self.kem, kem::derive_secret(self.kem, ikm)?)?;
        let pk = sk.public_key().to_vec();
        Ok((sk, pk))
    }

    /// The serialized public key of `sk`.
    pub fn public_key(&self, sk: &SecretKey) -> Result<Vec<u8>, Error> {
        if sk.kem() != self.kem {
            return Err(Error::InvalidKey);
        }
        Ok(sk.public_key().to_vec())
    }

    /// `SetupBaseS(pkR, info)` with a random ephemeral key: returns `(enc, context)`.
    pub fn setup_base_sender(
        &self,
        pk_r: &[u8],
        info: &[u8],
    ) -> Result<(Vec<u8>, SenderContext), Error> {
        self.setup_sender(pk_r, info, &SenderOptions::default())
    }

    /// `SetupBaseR(enc, skR, info)`.
    pub fn setup_base_recipient(
        &self,
        enc: &[u8],
        sk_r: &SecretKey,
        info: &[u8],
    ) -> Result<RecipientContext, Error> {
        self.setup_recipient(enc, sk_r, info, &RecipientOptions::default())
    }

    /// `SetupS` in the mode the options select (base, psk, auth or `auth_psk`).
    pub fn setup_sender(
        &self,
        pk_r: &[u8],
        info: &[u8],
        opts: &SenderOptions<'_>,
    ) -> Result<(Vec<u8>, SenderContext), Error> {
        let mode = self.mode(opts.psk.is_some(), opts.sk_s.is_some())?;
        check_psk(opts.psk)?;
        let encapsulation = kem::encap(self.kem, pk_r, opts.sk_s, opts.ikm_e)?;
        let ctx = SenderContext::new(*self, mode, &encapsulation.shared_secret, info, opts.psk)?;
        Ok((encapsulation.enc, ctx))
    }

    /// `SetupR` in the mode the options select.
    pub fn setup_recipient(
        &self,
        enc: &[u8],
        sk_r: &SecretKey,
        info: &[u8],
        opts: &RecipientOptions<'_>,
    ) -> Result<RecipientContext, Error> {
        let mode = self.mode(opts.psk.is_some(), opts.pk_s.is_some())?;
        check_psk(opts.psk)?;
        let shared_secret = kem::decap(self.kem, enc, sk_r, opts.pk_s)?;
        RecipientContext::new(*self, mode, &shared_secret, info, opts.psk)
    }

    /// Base-mode `SetupR` where `DH(skR, pkE)` runs elsewhere (a TPM's `ECDH_ZGen`, spec §5.4).
    ///
    /// `dh` receives the ephemeral public key (`enc`, validated first) and returns the DH shared secret in
    /// the KEM's serialized form (the x-coordinate for NIST curves). `pk_r` is the recipient's public key,
    /// part of the KEM context. Only for the DHKEMs.
    pub fn setup_base_recipient_external<F>(
        &self,
        enc: &[u8],
        pk_r: &[u8],
        info: &[u8],
        dh: F,
    ) -> Result<RecipientContext, Error>
    where
        F: FnOnce(&[u8]) -> Result<Vec<u8>, Error>,
    {
        let shared_secret = kem::decap_external(self.kem, enc, pk_r, dh)?;
        RecipientContext::new(*self, Mode::Base, &shared_secret, info, None)
    }

    /// One-shot base-mode seal: `(enc, ct)`.
    pub fn seal(
        &self,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        pt: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let (enc, mut ctx) = self.setup_base_sender(pk_r, info)?;
        Ok((enc, ctx.seal(aad, pt)?))
    }

    /// One-shot base-mode open.
    pub fn open(
        &self,
        enc: &[u8],
        sk_r: &SecretKey,
        info: &[u8],
        aad: &[u8],
        ct: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.setup_base_recipient(enc, sk_r, info)?.open(aad, ct)
    }

    fn mode(self, psk: bool, auth: bool) -> Result<Mode, Error> {
        if auth && !self.kem.supports_auth() {
            return Err(Error::Unsupported("the kem has no auth mode"));
        }
        Ok(Mode::new(psk, auth))
    }
}

fn check_psk(psk: Option<(&[u8], &[u8])>) -> Result<(), Error> {
    match psk {
        Some((psk, id)) if psk.is_empty() || id.is_empty() => {
            Err(Error::InvalidInput("psk and psk_id must both be non-empty"))
        }
        _ => Ok(()),
    }
}
