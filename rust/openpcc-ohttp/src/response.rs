//! Response encapsulation (RFC 9458 §4.4): `response_nonce || AEAD(key, nonce, "", response)`, and the
//! key material of chunked responses.

use openpcc_hpke::{Aead, Kdf, Suite};
use openpcc_twoway::{response_key_material, response_nonce_len, ChunkCipher, CounterNonceAead};
use zeroize::Zeroizing;

use crate::{Error, Form};

/// What both ends keep after the request to protect the response: the suite, `enc`, and the two
/// exported response secrets, one per response [`Form`], so that either form can answer either
/// request form (the reference's gateway picks the response form from the response).
#[derive(Clone)]
pub(crate) struct ResponseSecret {
    kdf: Kdf,
    aead: Aead,
    enc: Vec<u8>,
    request_form: Form,
    /// `Export("message/bhttp response", max(Nk, Nn))`.
    plain: Zeroizing<Vec<u8>>,
    /// `Export("message/bhttp chunked response", max(Nk, Nn))`.
    chunked: Zeroizing<Vec<u8>>,
}

impl ResponseSecret {
    /// Exports both response secrets through the caller's HPKE context (`export(label, len)`).
    pub(crate) fn new(
        suite: Suite,
        enc: Vec<u8>,
        request_form: Form,
        export: impl Fn(&[u8], usize) -> Result<Vec<u8>, openpcc_hpke::Error>,
    ) -> Result<Self, Error> {
        let len = response_nonce_len(suite.aead);
        let plain = Zeroizing::new(export(Form::Plain.response_label(), len)?);
        let chunked = Zeroizing::new(export(Form::Chunked.response_label(), len)?);
        Ok(Self {
            kdf: suite.kdf,
            aead: suite.aead,
            enc,
            request_form,
            plain,
            chunked,
        })
    }

    pub(crate) fn request_form(&self) -> Form {
        self.request_form
    }

    pub(crate) fn nonce_len(&self) -> usize {
        response_nonce_len(self.aead)
    }

    /// The AEAD of a response of `form`, at counter 0, for this response nonce.
    pub(crate) fn aead(
        &self,
        form: Form,
        response_nonce: &[u8],
    ) -> Result<CounterNonceAead, Error> {
        let secret = match form {
            Form::Plain => &self.plain,
            Form::Chunked => &self.chunked,
        };
        let (key, nonce) =
            response_key_material(self.kdf, self.aead, secret, &self.enc, response_nonce)?;
        Ok(CounterNonceAead::new(key, nonce))
    }

    pub(crate) fn random_nonce(&self) -> Result<Vec<u8>, Error> {
        let mut nonce = vec![0u8; self.nonce_len()];
        getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;
        Ok(nonce)
    }

    /// A response nonce: the given one (test vectors) checked for length, or a fresh random one.
    pub(crate) fn nonce_or_random(&self, response_nonce: Option<&[u8]>) -> Result<Vec<u8>, Error> {
        match response_nonce {
            Some(nonce) if nonce.len() == self.nonce_len() => Ok(nonce.to_vec()),
            Some(_) => Err(Error::Usage("response nonce length")),
            None => self.random_nonce(),
        }
    }

    /// A plain response: `response_nonce || ct`.
    pub(crate) fn seal(&self, msg: &[u8], response_nonce: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(response_nonce.len() + msg.len() + 16);
        out.extend_from_slice(response_nonce);
        self.aead(Form::Plain, response_nonce)?
            .seal_into(b"", msg, &mut out)?;
        Ok(out)
    }

    /// Opens a plain response.
    pub(crate) fn open(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce_len = self.nonce_len();
        let (Some(nonce), Some(ct)) = (data.get(..nonce_len), data.get(nonce_len..)) else {
            return Err(Error::Malformed("response shorter than its nonce"));
        };
        if ct.len() < 16 {
            return Err(Error::Malformed("response shorter than the aead tag"));
        }
        Ok(self.aead(Form::Plain, nonce)?.open(b"", ct)?)
    }
}

impl std::fmt::Debug for ResponseSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseSecret")
            .field("kdf", &self.kdf)
            .field("aead", &self.aead)
            .field("request_form", &self.request_form)
            .finish_non_exhaustive()
    }
}

/// The gateway's handle for answering one decapsulated request, in either [`Form`]: plainly with
/// [`encapsulate_response`](Self::encapsulate_response), chunked with
/// [`ChunkedResponseSealer`](crate::chunked::ChunkedResponseSealer).
#[derive(Clone, Debug)]
pub struct ResponseContext(pub(crate) ResponseSecret);

impl ResponseContext {
    /// Encapsulates a plain response (`message/ohttp-res`) with a fresh random response nonce.
    pub fn encapsulate_response(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce = self.0.random_nonce()?;
        self.0.seal(msg, &nonce)
    }

    /// Encapsulates a plain response with the given response nonce (`max(Nk, Nn)` bytes). For test
    /// vectors: a nonce must never be reused.
    pub fn encapsulate_response_with_nonce(
        &self,
        msg: &[u8],
        response_nonce: &[u8],
    ) -> Result<Vec<u8>, Error> {
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

    /// The form of the request this context answers (the response may use either).
    #[must_use]
    pub fn request_form(&self) -> Form {
        self.0.request_form()
    }
}
