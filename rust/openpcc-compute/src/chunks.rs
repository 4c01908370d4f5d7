//! Chunk framing of twoway/chunked OHTTP: a non-final chunk is `varint(len(ct)) || ct` (aad ""); the final
//! chunk is `varint(0) || ct` (aad "final") and runs to the end of the stream.

use crate::cipher::{CounterNonceAead, TAG_LEN};
use crate::{varint, Error};

const FINAL_AAD: &[u8] = b"final";

/// Seals successive chunks onto a wire buffer.
#[derive(Debug)]
pub struct ChunkSealer {
    cipher: CounterNonceAead,
    max_plaintext: usize,
}

impl ChunkSealer {
    /// A sealer whose chunks carry at most `max_plaintext` bytes.
    #[must_use]
    pub fn new(cipher: CounterNonceAead, max_plaintext: usize) -> Self {
        Self { cipher, max_plaintext }
    }

    /// Appends one non-final chunk; `pt` must hold 1..=max bytes (a 0 length would read as "final").
    pub fn seal_chunk(&mut self, pt: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if pt.is_empty() || pt.len() > self.max_plaintext {
            return Err(Error::InvalidArgument("chunk plaintext must be 1..=max bytes"));
        }
        varint::encode((pt.len() + TAG_LEN) as u64, out);
        self.cipher.seal_append(b"", pt, out)
    }

    /// The cipher, for an unchunked message keyed the same way (its nonce is chunk 0's).
    pub(crate) fn into_cipher(self) -> CounterNonceAead {
        self.cipher
    }

    /// Appends the chunks of `pt`, cut at the maximum chunk size.
    pub fn seal_all(&mut self, pt: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        for piece in pt.chunks(self.max_plaintext) {
            self.seal_chunk(piece, out)?;
        }
        Ok(())
    }

    /// Appends the final chunk (the reference always leaves its plaintext empty).
    pub fn seal_final(mut self, pt: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if pt.len() > self.max_plaintext {
            return Err(Error::InvalidArgument("chunk plaintext must be at most max bytes"));
        }
        out.push(0);
        self.cipher.seal_append(FINAL_AAD, pt, out)
    }
}

/// Opens a chunk stream incrementally: feed wire bytes as they arrive, get each authenticated chunk at once.
///
/// Every chunk is authenticated on its own, in order (the counter nonce binds its position), so a reordered,
/// dropped, replayed or altered chunk fails to open and nothing of it is returned. A stream that ends
/// without its final chunk is [`Error::Truncated`]: callers must not treat earlier plaintext as complete
/// until [`ChunkOpener::finish`] succeeds.
#[derive(Debug)]
pub struct ChunkOpener {
    cipher: CounterNonceAead,
    max_ciphertext: usize,
    buf: Vec<u8>,
    in_final: bool,
    failed: bool,
}

impl ChunkOpener {
    /// An opener accepting chunks of at most `max_plaintext` bytes.
    #[must_use]
    pub fn new(cipher: CounterNonceAead, max_plaintext: usize) -> Self {
        Self { cipher, max_ciphertext: max_plaintext + TAG_LEN, buf: Vec::new(), in_final: false, failed: false }
    }

    /// Plaintexts of the chunks completed by `data`, in order.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        if self.failed {
            return Err(Error::Finished);
        }
        let result = self.push_inner(data);
        self.failed = result.is_err();
        result
    }

    fn push_inner(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut pos = 0;
        while !self.in_final {
            let Some(len) = varint::decode(self.buf.get(pos..).unwrap_or_default())? else { break };
            if len.value == 0 {
                pos += len.len;
                self.in_final = true;
                break;
            }
            // Checked before buffering, so an announced huge chunk cannot make us hold its bytes.
            let ct_len = usize::try_from(len.value).map_err(|_| Error::ChunkTooLarge)?;
            if ct_len > self.max_ciphertext {
                return Err(Error::ChunkTooLarge);
            }
            let Some(ct) = self.buf.get(pos + len.len..pos + len.len + ct_len) else { break };
            out.push(self.cipher.open(b"", ct)?);
            pos += len.len + ct_len;
        }
        self.buf.drain(..pos);
        if self.in_final && self.buf.len() > self.max_ciphertext {
            return Err(Error::ChunkTooLarge);
        }
        Ok(out)
    }

    /// End of stream: opens the final chunk.
    pub fn finish(mut self) -> Result<Vec<u8>, Error> {
        if self.failed {
            return Err(Error::Finished);
        }
        if !self.in_final {
            return Err(Error::Truncated);
        }
        self.cipher.open(FINAL_AAD, &self.buf)
    }

    /// True once the final-chunk indicator has been read.
    #[must_use]
    pub fn in_final(&self) -> bool {
        self.in_final
    }
}
