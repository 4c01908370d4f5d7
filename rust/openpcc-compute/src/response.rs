//! Compute responses (spec §4.2 "Response"): keyed from the chosen candidate's HPKE context, like RFC 9458 §4.4.
//!
//! `secret = Export(<response media type>, 16)`, `prk = HKDF-Extract(enc || response_nonce, secret)`,
//! `key = Expand(prk, "key", 16)`, `nonce = Expand(prk, "nonce", 12)`; AES-128-GCM with counter nonces.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::chunks::{ChunkOpener, ChunkSealer};
use crate::cipher::{CounterNonceAead, NONCE_LEN};
use crate::media::{Framing, MAX_CHUNK_PLAINTEXT};
use crate::Error;

/// `max(Nk, Nn)` for AES-128-GCM.
pub const RESPONSE_NONCE_LEN: usize = 16;
const KEY_LEN: usize = 16;

/// The exported secret of one response, before its nonce is known.
pub(crate) struct ResponseSecret {
    secret: Zeroizing<Vec<u8>>,
    enc: Vec<u8>,
}

impl ResponseSecret {
    pub(crate) fn new(export: impl FnOnce(&[u8], usize) -> Result<Vec<u8>, openpcc_hpke::Error>, enc: &[u8], framing: Framing) -> Result<Self, Error> {
        let secret = Zeroizing::new(export(framing.response_media_type().as_bytes(), KEY_LEN)?);
        Ok(Self { secret, enc: enc.to_vec() })
    }

    fn cipher(&self, response_nonce: &[u8; RESPONSE_NONCE_LEN]) -> Result<CounterNonceAead, Error> {
        let mut salt = Vec::with_capacity(self.enc.len() + RESPONSE_NONCE_LEN);
        salt.extend_from_slice(&self.enc);
        salt.extend_from_slice(response_nonce);
        let prk = Hkdf::<Sha256>::new(Some(&salt), &self.secret);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        prk.expand(b"key", key.as_mut()).map_err(|_| Error::InvalidArgument("hkdf length"))?;
        prk.expand(b"nonce", &mut nonce).map_err(|_| Error::InvalidArgument("hkdf length"))?;
        CounterNonceAead::new(key.as_ref(), nonce)
    }
}

/// Node side: seals one response, unchunked or chunked.
#[derive(Debug)]
pub struct ResponseSealer {
    framing: Framing,
    response_nonce: [u8; RESPONSE_NONCE_LEN],
    chunks: ChunkSealer,
}

impl ResponseSealer {
    pub(crate) fn new(secret: &ResponseSecret, framing: Framing, response_nonce: [u8; RESPONSE_NONCE_LEN]) -> Result<Self, Error> {
        let cipher = secret.cipher(&response_nonce)?;
        Ok(Self { framing, response_nonce, chunks: ChunkSealer::new(cipher, MAX_CHUNK_PLAINTEXT) })
    }

    /// The response media type.
    #[must_use]
    pub fn media_type(&self) -> &'static str {
        self.framing.response_media_type()
    }

    /// The 16 bytes every response body starts with.
    #[must_use]
    pub fn response_nonce(&self) -> [u8; RESPONSE_NONCE_LEN] {
        self.response_nonce
    }

    /// Unchunked body: `response_nonce || AES-128-GCM(key, nonce, "", pt)`.
    pub fn seal_unchunked(self, pt: &[u8]) -> Result<Vec<u8>, Error> {
        if self.framing != Framing::Unchunked {
            return Err(Error::InvalidArgument("sealer is for a chunked response"));
        }
        let mut cipher = self.chunks.into_cipher();
        let mut out = self.response_nonce.to_vec();
        cipher.seal_append(b"", pt, &mut out)?;
        Ok(out)
    }

    /// One non-final chunk on the wire (1..=514 plaintext bytes).
    pub fn seal_chunk(&mut self, pt: &[u8]) -> Result<Vec<u8>, Error> {
        self.require_chunked()?;
        let mut out = Vec::with_capacity(pt.len() + 18);
        self.chunks.seal_chunk(pt, &mut out)?;
        Ok(out)
    }

    /// The final chunk on the wire.
    pub fn seal_final(self, pt: &[u8]) -> Result<Vec<u8>, Error> {
        self.require_chunked()?;
        let mut out = Vec::with_capacity(pt.len() + 17);
        self.chunks.seal_final(pt, &mut out)?;
        Ok(out)
    }

    /// Whole chunked body from plaintext pieces: one chunk per piece (pieces over 514 bytes are cut), then an
    /// empty final chunk, as the reference sealer does.
    pub fn seal_chunked<'a>(mut self, pieces: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, Error> {
        self.require_chunked()?;
        let mut out = self.response_nonce.to_vec();
        for piece in pieces {
            self.chunks.seal_all(piece, &mut out)?;
        }
        self.chunks.seal_final(b"", &mut out)?;
        Ok(out)
    }

    fn require_chunked(&self) -> Result<(), Error> {
        match self.framing {
            Framing::Chunked => Ok(()),
            Framing::Unchunked => Err(Error::InvalidArgument("sealer is for an unchunked response")),
        }
    }
}

enum OpenerState {
    AwaitNonce(Vec<u8>),
    Unchunked(CounterNonceAead, Vec<u8>),
    Chunked(ChunkOpener),
}

/// Client side: opens one response incrementally.
pub struct ResponseOpener {
    secret: ResponseSecret,
    framing: Framing,
    max_unchunked: usize,
    state: OpenerState,
}

impl std::fmt::Debug for ResponseOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseOpener").field("framing", &self.framing).finish_non_exhaustive()
    }
}

/// Largest unchunked response body the opener buffers (the node caps request bodies at 1 MiB; responses of
/// the reference are always chunked, so this only bounds memory).
pub const MAX_UNCHUNKED_RESPONSE: usize = 16 << 20;

impl ResponseOpener {
    pub(crate) fn new(secret: ResponseSecret, framing: Framing) -> Self {
        Self { secret, framing, max_unchunked: MAX_UNCHUNKED_RESPONSE, state: OpenerState::AwaitNonce(Vec::new()) }
    }

    /// The response media type this opener expects.
    #[must_use]
    pub fn media_type(&self) -> &'static str {
        self.framing.response_media_type()
    }

    /// Feeds body bytes; returns the plaintext of every chunk they complete (always empty when unchunked).
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let rest = match &mut self.state {
            OpenerState::AwaitNonce(buf) => {
                buf.extend_from_slice(data);
                let Some(nonce) = buf.get(..RESPONSE_NONCE_LEN) else { return Ok(Vec::new()) };
                let nonce: [u8; RESPONSE_NONCE_LEN] = nonce.try_into().map_err(|_| Error::Truncated)?;
                let rest = buf.split_off(RESPONSE_NONCE_LEN);
                let cipher = self.secret.cipher(&nonce)?;
                self.state = match self.framing {
                    Framing::Unchunked => OpenerState::Unchunked(cipher, Vec::new()),
                    Framing::Chunked => OpenerState::Chunked(ChunkOpener::new(cipher, MAX_CHUNK_PLAINTEXT)),
                };
                rest
            }
            _ => data.to_vec(),
        };
        match &mut self.state {
            OpenerState::AwaitNonce(_) => Ok(Vec::new()),
            OpenerState::Unchunked(_, buf) => {
                if buf.len() + rest.len() > self.max_unchunked {
                    return Err(Error::Limit("unchunked response size"));
                }
                buf.extend_from_slice(&rest);
                Ok(Vec::new())
            }
            OpenerState::Chunked(opener) => opener.push(&rest),
        }
    }

    /// End of body: the unchunked plaintext, or the final chunk's plaintext.
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        match self.state {
            OpenerState::AwaitNonce(_) => Err(Error::Truncated),
            OpenerState::Unchunked(mut cipher, buf) => cipher.open(b"", &buf),
            OpenerState::Chunked(opener) => opener.finish(),
        }
    }

    /// Opens a whole body at once (chunk plaintexts concatenated).
    pub fn open_all(mut self, body: &[u8]) -> Result<Vec<u8>, Error> {
        if let (Framing::Unchunked, OpenerState::AwaitNonce(buf)) = (self.framing, &self.state) {
            if buf.is_empty() {
                // Whole-body fast path: decrypt straight from the caller's buffer (one copy).
                let (nonce, ct) = body.split_at_checked(RESPONSE_NONCE_LEN).ok_or(Error::Truncated)?;
                let nonce: [u8; RESPONSE_NONCE_LEN] = nonce.try_into().map_err(|_| Error::Truncated)?;
                return self.secret.cipher(&nonce)?.open(b"", ct);
            }
        }
        let mut out: Vec<u8> = self.push(body)?.concat();
        out.extend_from_slice(&self.finish()?);
        Ok(out)
    }
}
