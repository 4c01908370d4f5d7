//! Chunked OHTTP (draft-ietf-ohai-chunked-ohttp, spec §2.5), incremental in both directions.
//!
//! * Request: `hdr || enc || chunk* || final`, chunks sealed by the HPKE context (its sequence number
//!   gives the nonces), labels `"message/bhttp chunked request"` / `"... response"`.
//! * Response: `response_nonce || chunk* || final`, chunk `i` sealed with nonce `aead_nonce XOR i`.
//!
//! A chunked response may answer a plain request and a plain response a chunked one (the response
//! secret depends on the response's form only, spec §2.4/§2.5), so [`ChunkedResponseSealer`] and
//! [`ChunkedResponseOpener`] take the context of a request of either form.
//!
//! Sealers emit one chunk per `push` (split at `max_chunk_len`), or with `fixed_chunk_len` (the
//! reference's 532) accumulate exactly that many bytes per chunk and zero-pad the tail (RFC 9292
//! padding, which is what the reference's BHTTP padding amounts to). The final chunk is always empty,
//! as the reference's sealer makes it.

use openpcc_hpke::{RecipientContext, SenderContext};
use openpcc_twoway::{ChunkCipher, ChunkOpener, ChunkSealer, CounterNonceAead};

use crate::client::{setup_client, ClientContext, Ephemeral};
use crate::header::HEADER_LEN;
use crate::response::ResponseContext;
use crate::{Error, Form, GatewayKey, KeyConfig, DEFAULT_SEAL_CHUNK_LEN};

/// How a sealer cuts plaintext into chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealerOptions {
    /// Largest chunk plaintext (ignored with `fixed_chunk_len`).
    pub max_chunk_len: usize,
    /// Emit only chunks of exactly this many plaintext bytes, zero-padding the last one.
    pub fixed_chunk_len: Option<usize>,
}

impl Default for SealerOptions {
    fn default() -> Self {
        Self {
            max_chunk_len: DEFAULT_SEAL_CHUNK_LEN,
            fixed_chunk_len: None,
        }
    }
}

impl SealerOptions {
    /// The reference's layout: 532-byte chunks (550 bytes on the wire), padded tail, empty final.
    #[must_use]
    pub fn reference() -> Self {
        Self {
            max_chunk_len: crate::REFERENCE_CHUNK_LEN,
            fixed_chunk_len: Some(crate::REFERENCE_CHUNK_LEN),
        }
    }

    fn check(&self) -> Result<(), Error> {
        if self.max_chunk_len == 0 || self.fixed_chunk_len == Some(0) {
            return Err(Error::Usage("chunk length must be positive"));
        }
        Ok(())
    }
}

/// Shared sealing state: a pending prefix (header or response nonce), the chunker, the sealer.
struct StreamSealer<C: ChunkCipher> {
    prefix: Option<Vec<u8>>,
    options: SealerOptions,
    pending: Vec<u8>,
    sealer: Option<ChunkSealer<C>>,
}

impl<C: ChunkCipher> StreamSealer<C> {
    fn new(prefix: Vec<u8>, cipher: C, options: SealerOptions) -> Result<Self, Error> {
        options.check()?;
        Ok(Self {
            prefix: Some(prefix),
            options,
            pending: Vec::new(),
            sealer: Some(ChunkSealer::new(cipher)),
        })
    }

    fn push(&mut self, pt: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        let sealer = self
            .sealer
            .as_mut()
            .ok_or(Error::Usage("stream already finished"))?;
        if let Some(prefix) = self.prefix.take() {
            out.push(prefix);
        }
        let mut seal = |piece: &[u8]| -> Result<(), Error> {
            let mut wire = Vec::with_capacity(piece.len() + 24);
            sealer.seal_chunk(piece, &mut wire)?;
            out.push(wire);
            Ok(())
        };
        match self.options.fixed_chunk_len {
            None => pt
                .chunks(self.options.max_chunk_len)
                .try_for_each(&mut seal),
            Some(fixed) => {
                let mut rest = pt;
                if !self.pending.is_empty() {
                    let want = fixed - self.pending.len();
                    let (head, tail) = rest.split_at(want.min(rest.len()));
                    self.pending.extend_from_slice(head);
                    rest = tail;
                    if self.pending.len() < fixed {
                        return Ok(());
                    }
                    seal(&std::mem::take(&mut self.pending))?;
                }
                let mut pieces = rest.chunks_exact(fixed);
                pieces.try_for_each(&mut seal)?;
                self.pending.extend_from_slice(pieces.remainder());
                Ok(())
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        if let (Some(fixed), false) = (self.options.fixed_chunk_len, self.pending.is_empty()) {
            let mut tail = std::mem::take(&mut self.pending);
            tail.resize(fixed, 0);
            // Sealed as a whole chunk: `fixed` bytes fill it exactly.
            self.push(&tail, out)?;
        }
        let sealer = self
            .sealer
            .take()
            .ok_or(Error::Usage("stream already finished"))?;
        if let Some(prefix) = self.prefix.take() {
            out.push(prefix);
        }
        let mut wire = Vec::with_capacity(17);
        sealer.seal_final(b"", &mut wire)?;
        out.push(wire);
        Ok(())
    }
}

/// Where an opener is: reading its prefix (header+enc or response nonce), or the chunks.
enum Phase<C: ChunkCipher> {
    Prefix(Vec<u8>),
    Chunks(ChunkOpener<C>),
    Failed,
}

/// Reads `prefix || chunks`: `setup` turns the complete prefix into a chunk opener.
struct StreamOpener<C: ChunkCipher> {
    phase: Phase<C>,
}

impl<C: ChunkCipher> StreamOpener<C> {
    fn new() -> Self {
        Self {
            phase: Phase::Prefix(Vec::new()),
        }
    }

    /// `prefix_len(buffered)` says how many prefix bytes are needed given what is buffered (and may
    /// reject an early part, such as the header); `setup(prefix)` builds the opener.
    fn push(
        &mut self,
        data: &[u8],
        prefix_len: impl Fn(&[u8]) -> Result<usize, Error>,
        setup: impl FnOnce(&[u8]) -> Result<ChunkOpener<C>, Error>,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), Error> {
        let result = self.push_inner(data, prefix_len, setup, out);
        if result.is_err() {
            self.phase = Phase::Failed;
        }
        result
    }

    fn push_inner(
        &mut self,
        data: &[u8],
        prefix_len: impl Fn(&[u8]) -> Result<usize, Error>,
        setup: impl FnOnce(&[u8]) -> Result<ChunkOpener<C>, Error>,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), Error> {
        let rest = match &mut self.phase {
            Phase::Failed => return Err(Error::Usage("stream failed earlier")),
            Phase::Chunks(_) => data,
            Phase::Prefix(buf) => {
                buf.extend_from_slice(data);
                let needed = prefix_len(buf)?;
                if buf.len() < needed {
                    return Ok(());
                }
                let mut buf = std::mem::take(buf);
                let tail = buf.split_off(needed);
                self.phase = Phase::Chunks(setup(&buf)?);
                return self.push_chunks(&tail, out);
            }
        };
        self.push_chunks(rest, out)
    }

    fn push_chunks(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        match &mut self.phase {
            Phase::Chunks(opener) => Ok(opener.push_with(data, |pt| out.push(pt))?),
            _ => Err(Error::Usage("stream not ready")),
        }
    }

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::Failed => Err(Error::Usage("stream failed earlier or already finished")),
            Phase::Prefix(_) => Err(Error::Truncated),
            Phase::Chunks(opener) => Ok(opener.finish()?),
        }
    }
}

/// Client: seals a chunked request as plaintext arrives.
pub struct ChunkedRequestSealer(StreamSealer<SenderContext>);

impl ChunkedRequestSealer {
    /// Sets up HPKE towards `config` (its first symmetric suite). The first output piece is `hdr || enc`.
    pub fn new(
        config: &KeyConfig,
        options: SealerOptions,
        ephemeral: Ephemeral<'_>,
    ) -> Result<(Self, ClientContext), Error> {
        let (prefix, sender, context) = setup_client(config, Form::Chunked, ephemeral)?;
        Ok((Self(StreamSealer::new(prefix, sender, options)?), context))
    }

    /// Seals what `pt` completes; appends the wire pieces (header first, then one per chunk) to `out`.
    pub fn push(&mut self, pt: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        self.0.push(pt, out)
    }

    /// Seals the padded tail (fixed mode) and the empty final chunk; the stream is then closed.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        self.0.finish(out)
    }
}

/// Gateway: opens a chunked request as wire bytes arrive.
pub struct ChunkedRequestOpener {
    key: GatewayKey,
    max_chunk_len: usize,
    stream: StreamOpener<RecipientContext>,
    response: Option<ResponseContext>,
}

impl ChunkedRequestOpener {
    /// An opener accepting request chunks of at most `max_chunk_len` plaintext bytes: the draft's
    /// [`DEFAULT_MAX_REQUEST_CHUNK`](crate::DEFAULT_MAX_REQUEST_CHUNK) (16384), or
    /// [`REFERENCE_MAX_REQUEST_CHUNK`](crate::REFERENCE_MAX_REQUEST_CHUNK) (4096) to be as strict as
    /// the reference gateway.
    #[must_use]
    pub fn new(key: GatewayKey, max_chunk_len: usize) -> Self {
        Self {
            key,
            max_chunk_len,
            stream: StreamOpener::new(),
            response: None,
        }
    }

    /// Appends the plaintext of every chunk `data` completes. The header is checked (key id, suite)
    /// as soon as its 7 bytes have arrived.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        let key = &self.key;
        let response = &mut self.response;
        let max = self.max_chunk_len;
        let prefix_len = |buf: &[u8]| match buf.get(..HEADER_LEN) {
            None => Ok(HEADER_LEN),
            Some(header) => Ok(HEADER_LEN + key.check_header(header)?.kem.enc_len()),
        };
        let setup = |prefix: &[u8]| {
            let (header, enc) = prefix.split_at(HEADER_LEN.min(prefix.len()));
            let (recipient, context) = key.setup(header, enc, Form::Chunked)?;
            *response = Some(context);
            Ok(ChunkOpener::new(recipient, max))
        };
        self.stream.push(data, prefix_len, setup, out)
    }

    /// The response context (for a response of either form), available once the header and enc
    /// have been read.
    #[must_use]
    pub fn response_context(&self) -> Option<&ResponseContext> {
        self.response.as_ref()
    }

    /// End of stream: the final chunk's plaintext, or [`Error::Truncated`].
    pub fn finish(&mut self) -> Result<Vec<u8>, Error> {
        self.stream.finish()
    }
}

/// Gateway: seals a chunked response (`message/ohttp-chunked-res`) to a request of either form.
/// The first output piece is the response nonce.
pub struct ChunkedResponseSealer(StreamSealer<CounterNonceAead>);

impl ChunkedResponseSealer {
    /// A sealer with a random response nonce, or the given one (test vectors only).
    pub fn new(
        context: &ResponseContext,
        options: SealerOptions,
        response_nonce: Option<&[u8]>,
    ) -> Result<Self, Error> {
        let secret = &context.0;
        let nonce = secret.nonce_or_random(response_nonce)?;
        let aead = secret.aead(Form::Chunked, &nonce)?;
        Ok(Self(StreamSealer::new(nonce, aead, options)?))
    }

    /// Seals what `pt` completes; appends the wire pieces to `out`.
    pub fn push(&mut self, pt: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        self.0.push(pt, out)
    }

    /// Seals the padded tail (fixed mode) and the empty final chunk.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        self.0.finish(out)
    }
}

/// Client: opens a chunked response (`message/ohttp-chunked-res`) to a request of either form as
/// wire bytes arrive.
pub struct ChunkedResponseOpener {
    context: ClientContext,
    max_chunk_len: usize,
    stream: StreamOpener<CounterNonceAead>,
}

impl ChunkedResponseOpener {
    /// An opener accepting response chunks of at most `max_chunk_len` plaintext bytes.
    #[must_use]
    pub fn new(context: ClientContext, max_chunk_len: usize) -> Self {
        Self {
            context,
            max_chunk_len,
            stream: StreamOpener::new(),
        }
    }

    /// Appends the plaintext of every chunk `data` completes.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Error> {
        let secret = &self.context.0;
        let max = self.max_chunk_len;
        let nonce_len = secret.nonce_len();
        let setup = |nonce: &[u8]| Ok(ChunkOpener::new(secret.aead(Form::Chunked, nonce)?, max));
        self.stream.push(data, |_| Ok(nonce_len), setup, out)
    }

    /// End of stream: the final chunk's plaintext, or [`Error::Truncated`].
    pub fn finish(&mut self) -> Result<Vec<u8>, Error> {
        self.stream.finish()
    }
}
