//! Compute responses (spec §4.2 "Response"): keyed from the chosen candidate's HPKE context, like RFC 9458 §4.4.
//!
//! `secret = Export(<response media type>, 16)`, `prk = HKDF-Extract(enc || response_nonce, secret)`,
//! `key = Expand(prk, "key", 16)`, `nonce = Expand(prk, "nonce", 12)`; AES-128-GCM with counter nonces.

use openpcc_twoway::{
    response_key_material, ChunkCipher, ChunkOpener, ChunkSealer, CounterNonceAead,
};
use zeroize::Zeroizing;

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

enum OpenerState {
    AwaitNonce(Vec<u8>),
    Unchunked(CounterNonceAead, Vec<u8>),
    Chunked(ChunkOpener<CounterNonceAead>),
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
        f.debug_struct("ResponseOpener")
            .field("framing", &self.framing)
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
            framing,
            max_unchunked: MAX_UNCHUNKED_RESPONSE,
            state: OpenerState::AwaitNonce(Vec::new()),
        }
    }

    /// The response media type this opener expects.
    #[must_use]
    pub fn media_type(&self) -> &'static str {
        self.framing.response_media_type()
    }

    /// Feeds body bytes; returns the plaintext of every chunk they complete (always empty when unchunked).
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        // Only the nonce is buffered here; the rest goes straight to the body state (no copies).
        let rest = match &mut self.state {
            OpenerState::AwaitNonce(buf) => {
                let (head, rest) =
                    data.split_at(RESPONSE_NONCE_LEN.saturating_sub(buf.len()).min(data.len()));
                buf.extend_from_slice(head);
                let Ok(nonce) = <[u8; RESPONSE_NONCE_LEN]>::try_from(buf.as_slice()) else {
                    return Ok(Vec::new());
                };
                let cipher = self.secret.cipher(&nonce)?;
                self.state = match self.framing {
                    Framing::Unchunked => OpenerState::Unchunked(cipher, Vec::new()),
                    Framing::Chunked => {
                        OpenerState::Chunked(ChunkOpener::new(cipher, MAX_CHUNK_PLAINTEXT))
                    }
                };
                rest
            }
            _ => data,
        };
        match &mut self.state {
            OpenerState::AwaitNonce(_) => Ok(Vec::new()),
            OpenerState::Unchunked(_, buf) => {
                if buf.len() + rest.len() > self.max_unchunked {
                    return Err(Error::Limit("unchunked response size"));
                }
                buf.extend_from_slice(rest);
                Ok(Vec::new())
            }
            OpenerState::Chunked(opener) => Ok(opener.push(rest)?),
        }
    }

    /// End of body: the unchunked plaintext, or the final chunk's plaintext.
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        match self.state {
            OpenerState::AwaitNonce(_) => Err(Error::Truncated),
            OpenerState::Unchunked(mut cipher, mut buf) => {
                cipher.open_in_place(b"", &mut buf)?;
                Ok(buf)
            }
            OpenerState::Chunked(opener) => Ok(opener.finish()?),
        }
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
        match &self.state {
            OpenerState::AwaitNonce(buf) if buf.is_empty() => {
                crate::whole::plaintext_len(self.framing, body, RESPONSE_NONCE_LEN)
            }
            _ => None,
        }
    }

    /// Opens a whole body into `out`, exactly [`ResponseOpener::plaintext_len`] bytes, with no intermediate
    /// buffer. The opener must be fresh. Zeroed on failure.
    pub fn open_all_into(self, body: &[u8], out: &mut [u8]) -> Result<(), Error> {
        if !matches!(&self.state, OpenerState::AwaitNonce(buf) if buf.is_empty()) {
            return Err(Error::InvalidArgument("opener already in use"));
        }
        crate::whole::open_into(self.framing, body, out, |nonce| self.secret.cipher(nonce))
    }
}
