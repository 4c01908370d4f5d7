//! Gateway side: the key pair, request decapsulation.

use std::sync::Arc;

use openpcc_hpke::{RecipientContext, SecretKey, Suite};

use crate::header::{RequestHeader, HEADER_LEN};
use crate::response::{ResponseContext, ResponseSecret};
use crate::{Error, Form, Kem, KeyConfig, SymmetricSuite};

/// A gateway key pair and its public key config. Cheap to clone (shared).
#[derive(Clone)]
pub struct GatewayKey(Arc<Inner>);

struct Inner {
    config: KeyConfig,
    secret: SecretKey,
}

impl std::fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayKey")
            .field("key_id", &self.0.config.key_id())
            .field("kem", &self.0.config.kem())
            .finish_non_exhaustive()
    }
}

/// Any suite with this KEM: key generation and derivation depend on the KEM only.
fn kem_suite(kem: Kem, symmetric: &[SymmetricSuite]) -> Result<Suite, Error> {
    let first = symmetric
        .first()
        .ok_or(Error::KeyConfig("no symmetric algorithms"))?;
    Ok(Suite::new(kem, first.kdf, first.aead))
}

impl GatewayKey {
    /// From a serialized secret key.
    pub fn from_secret_key(
        key_id: u8,
        kem: Kem,
        secret_key: &[u8],
        symmetric: Vec<SymmetricSuite>,
    ) -> Result<Self, Error> {
        let suite = kem_suite(kem, &symmetric)?;
        let secret =
            SecretKey::from_bytes(kem, secret_key).map_err(|_| Error::InvalidKey("secret key"))?;
        let public_key = suite.public_key(&secret)?;
        Self::assemble(key_id, kem, public_key, secret, symmetric)
    }

    /// From a seed, with the KEM's `DeriveKeyPair` (how the reference gateway makes its key).
    pub fn from_seed(
        key_id: u8,
        kem: Kem,
        seed: &[u8],
        symmetric: Vec<SymmetricSuite>,
    ) -> Result<Self, Error> {
        let suite = kem_suite(kem, &symmetric)?;
        let (secret, public_key) = suite.derive_key_pair(seed).map_err(|err| match err {
            openpcc_hpke::Error::InvalidInput(_) | openpcc_hpke::Error::InvalidKey => {
                Error::InvalidKey("seed")
            }
            other => other.into(),
        })?;
        Self::assemble(key_id, kem, public_key, secret, symmetric)
    }

    /// A fresh random key pair.
    pub fn generate(key_id: u8, kem: Kem, symmetric: Vec<SymmetricSuite>) -> Result<Self, Error> {
        let suite = kem_suite(kem, &symmetric)?;
        let (secret, public_key) = suite.generate_key_pair()?;
        Self::assemble(key_id, kem, public_key, secret, symmetric)
    }

    fn assemble(
        key_id: u8,
        kem: Kem,
        public_key: Vec<u8>,
        secret: SecretKey,
        symmetric: Vec<SymmetricSuite>,
    ) -> Result<Self, Error> {
        let config = KeyConfig::new(key_id, kem, public_key, symmetric)?;
        Ok(Self(Arc::new(Inner { config, secret })))
    }

    /// The public key config to publish.
    #[must_use]
    pub fn key_config(&self) -> &KeyConfig {
        &self.0.config
    }

    /// Decapsulates a plain request (`message/ohttp-req`): `hdr || enc || ct`. Returns the request and
    /// the context that answers it in either form.
    pub fn decapsulate_request(&self, data: &[u8]) -> Result<(Vec<u8>, ResponseContext), Error> {
        let header = data
            .get(..HEADER_LEN)
            .ok_or(Error::Malformed("request shorter than its header"))?;
        let suite = self.check_header(header)?;
        let enc_end = HEADER_LEN + suite.kem.enc_len();
        let enc = data
            .get(HEADER_LEN..enc_end)
            .ok_or(Error::Malformed("request shorter than its enc"))?;
        let ct = data.get(enc_end..).unwrap_or_default();
        if ct.len() < suite.aead.tag_len() {
            return Err(Error::Malformed("request shorter than the aead tag"));
        }
        let (mut recipient, response) = self.setup(header, enc, Form::Plain)?;
        let msg = recipient.open(b"", ct)?;
        Ok((msg, response))
    }

    /// Checks the key id and the suite of a 7-byte header against this key, in that order.
    pub(crate) fn check_header(&self, header: &[u8]) -> Result<Suite, Error> {
        let bytes: &[u8; HEADER_LEN] = header
            .try_into()
            .map_err(|_| Error::Malformed("request header length"))?;
        let config = &self.0.config;
        if bytes[0] != config.key_id() {
            return Err(Error::KeyIdMismatch(bytes[0]));
        }
        let header = RequestHeader::decode(bytes)?;
        let offered = config.symmetric().contains(&SymmetricSuite {
            kdf: header.suite.kdf,
            aead: header.suite.aead,
        });
        if header.suite.kem != config.kem() || !offered {
            return Err(Error::SuiteMismatch);
        }
        Ok(header.suite)
    }

    /// HPKE recipient setup for a checked header and its enc.
    pub(crate) fn setup(
        &self,
        header: &[u8],
        enc: &[u8],
        form: Form,
    ) -> Result<(RecipientContext, ResponseContext), Error> {
        let suite = self.check_header(header)?;
        let label = form.request_label();
        let mut info = Vec::with_capacity(label.len() + 1 + HEADER_LEN);
        info.extend_from_slice(label);
        info.push(0);
        info.extend_from_slice(header);
        let recipient = suite
            .setup_base_recipient(enc, &self.0.secret, &info)
            .map_err(|err| match err {
                openpcc_hpke::Error::InvalidKey | openpcc_hpke::Error::InvalidInput(_) => {
                    Error::Malformed("enc is not a valid public key")
                }
                other => other.into(),
            })?;
        let response = ResponseSecret::new(suite, enc.to_vec(), form, |label, len| {
            recipient.export(label, len)
        })?;
        Ok((recipient, ResponseContext(response)))
    }
}
