//! Compute responses (spec §4.2 "Response"): keyed from the chosen candidate's HPKE context, like RFC 9458 §4.4.
//!
//! `secret = Export(<response media type>, 16)`, `prk = HKDF-Extract(enc || response_nonce, secret)`,
//! `key = Expand(prk, "key", 16)`, `nonce = Expand(prk, "nonce", 12)`; AES-128-GCM with counter nonces.

use openpcc_twoway::{response_key_material, ChunkCipher, ChunkSealer, CounterNonceAead};
use zeroize::Zeroizing;

use crate::incremental::NoncedOpener;
use crate::media::{Framing, MAX_CHUNK_PLAINTEXT};
use crate::request::{seal_pieces, SUITE};
use crate::Error;

/// `max(Nk, Nn)` for AES-128-GCM.
pub const RESPONSE_NONCE_LEN: usize = 16;
const KEY_LEN: usize = 16; // Nk of AES-128-GCM: the exported secret's length

/// The exported secret of one response, before its nonce is known.
pub(crate) struct ResponseSecret {
    secret: Zeroizing<Vec<u8>>,
    enc: Vec<u8>,
}

impl ResponseSecret {
    pub(crate) fn new(
        export: impl FnOnce(&[u8], usize) -> Result<Vec<u8>, openpcc_hpke::Error>,
        enc: &[u8],
        framing: Framing,
    ) -> Result<Self, Error> {
        let secret = Zeroizing::new(export(framing.response_media_type().as_bytes(), KEY_LEN)?);
        Ok(Self {
            secret,
            enc: enc.to_vec(),
        })
    }

    fn cipher(&self, response_nonce: &[u8; RESPONSE_NONCE_LEN]) -> Result<CounterNonceAead, Error> {
        let (key, nonce) = response_key_material(
            SUITE.kdf,
            SUITE.aead,
            &self.secret,
            &self.enc,
            response_nonce,
        )?;
        Ok(CounterNonceAead::new(key, nonce))
    }
}

enum SealerState {
    Unchunked(CounterNonceAead),
    Chunked(ChunkSealer<CounterNonceAead>),
}

/// Node side: seals one response, unchunked or chunked.
pub struct ResponseSealer {
    response_nonce: [u8; RESPONSE_NONCE_LEN],
    state: SealerState,
}

impl std::fmt::Debug for ResponseSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseSealer")
            .field("media_type", &self.media_type())
            .finish_non_exhaustive()
    }
}

impl ResponseSealer {
    pub(crate) fn new(
        secret: &ResponseSecret,
        framing: Framing,
        response_nonce: [u8; RESPONSE_NONCE_LEN],
    ) -> Result<Self, Error> {
        let cipher = secret.cipher(&response_nonce)?;
        let state = match framing {
            Framing::Unchunked => SealerState::Unchunked(cipher),
            Framing::Chunked => SealerState::Chunked(ChunkSealer::new(cipher)),
        };
        Ok(Self {
            response_nonce,
            state,
        })
    }

    fn framing(&self) -> Framing {
        match self.state {
            SealerState::Unchunked(_) => Framing::Unchunked,
            SealerState::Chunked(_) => Framing::Chunked,
        }
    }

    /// The response media type.
    #[must_use]
    pub fn media_type(&self) -> &'static str {
        self.framing().response_media_type()
    }

    /// The 16 bytes every response body starts with.
    #[must_use]
    pub fn response_nonce(&self) -> [u8; RESPONSE_NONCE_LEN] {
        self.response_nonce
    }

    /// Unchunked body: `response_nonce || AES-128-GCM(key, nonce, "", pt)`.
    pub fn seal_unchunked(self, pt: &[u8]) -> Result<Vec<u8>, Error> {
        let SealerState::Unchunked(mut cipher) = self.state else {
            return Err(Error::InvalidArgument("sealer is for a chunked response"));
        };
        let mut out = Vec::with_capacity(RESPONSE_NONCE_LEN + pt.len() + 16);
        out.extend_from_slice(&self.response_nonce);
        cipher.seal_into(b"", pt, &mut out)?;
        Ok(out)
    }

    /// One non-final chunk on the wire (1..=514 plaintext bytes).
    pub fn seal_chunk(&mut self, pt: &[u8]) -> Result<Vec<u8>, Error> {
        if pt.len() > MAX_CHUNK_PLAINTEXT {
            return Err(Error::InvalidArgument(
                "chunk plaintext must be at most 514 bytes",
            ));
        }
        let mut out = Vec::with_capacity(pt.len() + 18);
        self.chunks()?.seal_chunk(pt, &mut out)?;
        Ok(out)
    }

    /// The final chunk on the wire.
    pub fn seal_final(self, pt: &[u8]) -> Result<Vec<u8>, Error> {
        let SealerState::Chunked(sealer) = self.state else {
            return Err(Error::InvalidArgument(
                "sealer is for an unchunked response",
            ));
        };
        if pt.len() > MAX_CHUNK_PLAINTEXT {
            return Err(Error::InvalidArgument(
                "chunk plaintext must be at most 514 bytes",
            ));
        }
        let mut out = Vec::with_capacity(pt.len() + 17);
        sealer.seal_final(pt, &mut out)?;
        Ok(out)
    }

    /// Whole chunked body from plaintext pieces: one chunk per piece (pieces over 514 bytes are cut), then an
    /// empty final chunk, as the reference sealer does.
    pub fn seal_chunked<'a>(
        mut self,
        pieces: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<u8>, Error> {
        let mut out = self.response_nonce.to_vec();
        let sealer = self.chunks()?;
        for piece in pieces {
            seal_pieces(sealer, piece, &mut out)?;
        }
        let SealerState::Chunked(sealer) = self.state else {
            return Err(Error::InvalidArgument(
                "sealer is for an unchunked response",
            ));
        };
        sealer.seal_final(b"", &mut out)?;
        Ok(out)
    }

    fn chunks(&mut self) -> Result<&mut ChunkSealer<CounterNonceAead>, Error> {
        match &mut self.state {
            SealerState::Chunked(sealer) => Ok(sealer),
            SealerState::Unchunked(_) => Err(Error::InvalidArgument(
                "sealer is for an unchunked response",
            )),
        }
    }
}

/// Client side: opens one response incrementally.
pub struct ResponseOpener {
    secret: ResponseSecret,
    inner: NoncedOpener<RESPONSE_NONCE_LEN>,
}

impl std::fmt::Debug for ResponseOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseOpener")
            .field("framing", &self.inner.framing())
            .finish_non_exhaustive()
    }
}

/// Largest unchunked response body the opener buffers (the node caps request bodies at 1 MiB; responses of
/// the reference are always chunked, so this only bounds memory).
pub const MAX_UNCHUNKED_RESPONSE: usize = 16 << 20;

impl ResponseOpener {
    pub(crate) fn new(secret: ResponseSecret, framing: Framing) -> Self {
        Self {
            secret,
            inner: NoncedOpener::new(framing, MAX_UNCHUNKED_RESPONSE, "unchunked response size"),
        }
    }

    /// The response media type this opener expects.
    #[must_use]
    pub fn media_type(&self) -> &'static str {
        self.inner.framing().response_media_type()
    }

    /// Feeds body bytes; returns the plaintext of every chunk they complete (always empty when unchunked).
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let secret = &self.secret;
        self.inner.push(data, |nonce| secret.cipher(nonce))
    }

    /// End of body: the unchunked plaintext, or the final chunk's plaintext.
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        self.inner.finish()
    }

    /// Opens a whole body at once (chunk plaintexts concatenated).
    pub fn open_all(mut self, body: &[u8]) -> Result<Vec<u8>, Error> {
        if let Some(len) = self.plaintext_len(body) {
            let mut out = vec![0u8; len];
            self.open_all_into(body, &mut out)?;
            return Ok(out);
        }
        let mut out: Vec<u8> = self.push(body)?.concat();
        out.extend_from_slice(&self.finish()?);
        Ok(out)
    }

    /// The length [`ResponseOpener::open_all`] would return for `body` on this fresh opener, or `None` if
    /// `body` is malformed or bytes were already pushed (then `open_all` says what is wrong).
    #[must_use]
    pub fn plaintext_len(&self, body: &[u8]) -> Option<usize> {
        if !self.inner.is_fresh() {
            return None;
        }
        crate::whole::plaintext_len(self.inner.framing(), body, RESPONSE_NONCE_LEN)
    }

    /// Opens a whole body into `out`, exactly [`ResponseOpener::plaintext_len`] bytes, with no intermediate
    /// buffer. The opener must be fresh. Zeroed on failure.
    pub fn open_all_into(self, body: &[u8], out: &mut [u8]) -> Result<(), Error> {
        if !self.inner.is_fresh() {
            return Err(Error::InvalidArgument("opener already in use"));
        }
        crate::whole::open_into(self.inner.framing(), body, out, |nonce| {
            self.secret.cipher(nonce)
        })
    }
}
