//! Response encapsulation (RFC 9458 §4.4): `response_nonce || AEAD(key, nonce, "", response)`.

use openpcc_hpke::{Aead, Kdf, Suite};
use openpcc_twoway::{response_key_material, response_nonce_len, ChunkCipher, CounterNonceAead};
use zeroize::Zeroizing;

use crate::{Error, Labels, BHTTP_CHUNKED_LABELS};

/// What both ends keep after the request to protect the response: the suite, `enc`, and the
/// exported response secret.
#[derive(Clone)]
pub(crate) struct ResponseSecret {
    kdf: Kdf,
    aead: Aead,
    enc: Vec<u8>,
    secret: Zeroizing<Vec<u8>>,
    /// The labels of the request: a chunked exchange must be answered chunked, a plain one plainly.
    labels: Labels,
}

impl ResponseSecret {
    /// `secret = export(label, max(Nk, Nn))`, done by the caller's HPKE context through `export`.
    pub(crate) fn new(
        suite: Suite,
        enc: Vec<u8>,
        labels: Labels,
        export: impl FnOnce(&[u8], usize) -> Result<Vec<u8>, openpcc_hpke::Error>,
    ) -> Result<Self, Error> {
        let secret = Zeroizing::new(export(labels.response, response_nonce_len(suite.aead))?);
        Ok(Self { kdf: suite.kdf, aead: suite.aead, enc, secret, labels })
    }

    /// Fails unless this context belongs to a chunked (`true`) or plain (`false`) exchange.
    pub(crate) fn expect_chunked(&self, chunked: bool) -> Result<(), Error> {
        match (self.labels == BHTTP_CHUNKED_LABELS, chunked) {
            (true, false) => Err(Error::Usage("a chunked request needs a chunked response")),
            (false, true) => Err(Error::Usage("a plain request needs a plain response")),
            _ => Ok(()),
        }
    }

    pub(crate) fn nonce_len(&self) -> usize {
        response_nonce_len(self.aead)
    }

    /// The response AEAD, at counter 0, for this response nonce.
    pub(crate) fn aead(&self, response_nonce: &[u8]) -> Result<CounterNonceAead, Error> {
        let (key, nonce) = response_key_material(self.kdf, self.aead, &self.secret, &self.enc, response_nonce)?;
        Ok(CounterNonceAead::new(key, nonce))
    }

    pub(crate) fn random_nonce(&self) -> Result<Vec<u8>, Error> {
        let mut nonce = vec![0u8; self.nonce_len()];
        getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;
        Ok(nonce)
    }

    pub(crate) fn seal(&self, msg: &[u8], response_nonce: &[u8]) -> Result<Vec<u8>, Error> {
        self.expect_chunked(false)?;
        let mut out = Vec::with_capacity(response_nonce.len() + msg.len() + 16);
        out.extend_from_slice(response_nonce);
        self.aead(response_nonce)?.seal_into(b"", msg, &mut out)?;
        Ok(out)
    }

    pub(crate) fn open(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.expect_chunked(false)?;
        let nonce_len = self.nonce_len();
        let (Some(nonce), Some(ct)) = (data.get(..nonce_len), data.get(nonce_len..)) else {
            return Err(Error::Malformed("response shorter than its nonce"));
        };
        if ct.len() < 16 {
            return Err(Error::Malformed("response shorter than the aead tag"));
        }
        Ok(self.aead(nonce)?.open(b"", ct)?)
    }
}

impl std::fmt::Debug for ResponseSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseSecret").field("kdf", &self.kdf).field("aead", &self.aead).finish_non_exhaustive()
    }
}

/// The gateway's handle for answering one decapsulated request.
#[derive(Clone, Debug)]
pub struct ResponseContext(pub(crate) ResponseSecret);

impl ResponseContext {
    /// Encapsulates a response with a fresh random response nonce.
    pub fn encapsulate_response(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce = self.0.random_nonce()?;
        self.0.seal(msg, &nonce)
    }

    /// Encapsulates a response with the given response nonce (`max(Nk, Nn)` bytes). For test vectors:
    /// a nonce must never be reused.
    pub fn encapsulate_response_with_nonce(&self, msg: &[u8], response_nonce: &[u8]) -> Result<Vec<u8>, Error> {
        if response_nonce.len() != self.0.nonce_len() {
            return Err(Error::Usage("response nonce length"));
        }
        self.0.seal(msg, response_nonce)
    }

    /// Length of the response nonce.
    #[must_use]
    pub fn response_nonce_len(&self) -> usize {
        self.0.nonce_len()
    }
}
