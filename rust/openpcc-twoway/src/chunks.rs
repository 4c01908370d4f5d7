//! Chunk framing of draft-ietf-ohai-chunked-ohttp, as the reference reads and writes it
//! (twoway `internal/chunks/{writer,reader}.go`).
//!
//! Non-final chunk: `varint(len(ct)) || ct` with aad `""`; final chunk: `varint(0) || ct` with aad
//! `"final"`, and the final chunk runs to the end of the stream (its length is not encoded).

use crate::{varint, Error};

/// The AAD of the final chunk.
pub const FINAL_CHUNK_AAD: &[u8] = b"final";

/// A cipher that seals or opens successive chunks, each with its own nonce.
pub trait ChunkCipher: Send {
    /// Seals the next chunk.
    fn seal(&mut self, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, Error>;
    /// Seals the next chunk and appends the ciphertext to `out` (left unchanged on error).
    fn seal_into(&mut self, aad: &[u8], pt: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let ct = self.seal(aad, pt)?;
        out.extend_from_slice(&ct);
        Ok(())
    }
    /// Opens the next chunk.
    fn open(&mut self, aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, Error>;
    /// Opens the next chunk into `out`, exactly `ct.len() - tag_len()` bytes (zeroed on error).
    fn open_into(&mut self, aad: &[u8], ct: &[u8], out: &mut [u8]) -> Result<(), Error> {
        if ct
            .len()
            .checked_sub(self.tag_len())
            .is_some_and(|len| len != out.len())
        {
            return Err(Error::Usage("output buffer has the wrong length"));
        }
        let pt = zeroize::Zeroizing::new(self.open(aad, ct)?);
        out.copy_from_slice(&pt);
        Ok(())
    }
    /// Length of the authentication tag each sealed chunk carries.
    fn tag_len(&self) -> usize;
}

impl<C: ChunkCipher + ?Sized> ChunkCipher for Box<C> {
    fn seal(&mut self, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, Error> {
        (**self).seal(aad, pt)
    }
    fn seal_into(&mut self, aad: &[u8], pt: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        (**self).seal_into(aad, pt, out)
    }
    fn open(&mut self, aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, Error> {
        (**self).open(aad, ct)
    }
    fn open_into(&mut self, aad: &[u8], ct: &[u8], out: &mut [u8]) -> Result<(), Error> {
        (**self).open_into(aad, ct, out)
    }
    fn tag_len(&self) -> usize {
        (**self).tag_len()
    }
}

/// The plaintext length of `input` if it is one complete, well-formed chunk stream (every chunk at most
/// `max_plaintext` bytes and at least a tag long), else `None`: the incremental [`ChunkOpener`] then
/// names the fault. Lets callers size the output of [`ChunkOpener::open_stream_into`] up front.
#[must_use]
pub fn stream_plaintext_len(input: &[u8], tag_len: usize, max_plaintext: usize) -> Option<usize> {
    let chunk_lens = tag_len..=max_plaintext.saturating_add(tag_len);
    let mut total = 0usize;
    let mut rest = input;
    loop {
        let (len, prefix) = varint::decode(rest).ok()??;
        rest = rest.get(prefix..)?;
        if len == 0 {
            break;
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|len| chunk_lens.contains(len))?;
        rest = rest.get(len..)?;
        total = total.checked_add(len - tag_len)?;
    }
    if !chunk_lens.contains(&rest.len()) {
        return None;
    }
    total.checked_add(rest.len() - tag_len)
}

/// Writes a chunked stream: any number of non-final chunks, then exactly one final chunk.
pub struct ChunkSealer<C: ChunkCipher> {
    cipher: C,
}

impl<C: ChunkCipher> ChunkSealer<C> {
    /// A sealer over `cipher`, whose next nonce is used for the first chunk.
    pub fn new(cipher: C) -> Self {
        Self { cipher }
    }

    /// Appends `varint(len(ct)) || ct` for the non-empty plaintext `pt` (an empty one would be
    /// indistinguishable from nothing and the reference never sends it).
    pub fn seal_chunk(&mut self, pt: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if pt.is_empty() {
            return Err(Error::Usage("non-final chunk must not be empty"));
        }
        let start = out.len();
        let ct_len = pt.len() + self.cipher.tag_len();
        varint::encode(ct_len as u64, out);
        if let Err(err) = self.cipher.seal_into(b"", pt, out) {
            out.truncate(start);
            return Err(err);
        }
        Ok(())
    }

    /// Appends the final chunk `0x00 || Seal("final", pt)`; nothing may follow it.
    pub fn seal_final(mut self, pt: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        out.push(0);
        if let Err(err) = self.cipher.seal_into(FINAL_CHUNK_AAD, pt, out) {
            out.truncate(start);
            return Err(err);
        }
        Ok(())
    }

    /// The cipher, for callers that need its state (e.g. an HPKE context's exporter).
    pub fn cipher(&self) -> &C {
        &self.cipher
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Reading `varint(len) || ct` chunks.
    Chunks,
    /// The final indicator was read; the buffer accumulates the final chunk.
    Final,
    /// An error was returned; the stream is unusable.
    Failed,
}

/// Reads a chunked stream incrementally: feed wire bytes as they arrive and get the plaintext of
/// every chunk they complete. Memory stays bounded by one chunk.
pub struct ChunkOpener<C: ChunkCipher> {
    cipher: C,
    max_ct: usize,
    buf: Vec<u8>,
    state: State,
}

impl<C: ChunkCipher> ChunkOpener<C> {
    /// An opener that rejects chunks holding more than `max_plaintext` bytes (reference: "too much data").
    pub fn new(cipher: C, max_plaintext: usize) -> Self {
        let max_ct = max_plaintext.saturating_add(cipher.tag_len());
        Self {
            cipher,
            max_ct,
            buf: Vec::new(),
            state: State::Chunks,
        }
    }

    /// Returns the plaintexts of the chunks completed by `data`, in order. Bytes after the final
    /// indicator are buffered until [`finish`](Self::finish). After an error every call fails.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let mut out = Vec::new();
        self.push_with(data, |pt| out.push(pt))?;
        Ok(out)
    }

    /// Like [`push`](Self::push), handing each plaintext to `sink` as soon as it is opened.
    pub fn push_with(&mut self, data: &[u8], sink: impl FnMut(Vec<u8>)) -> Result<(), Error> {
        let result = self.push_inner(data, sink);
        if result.is_err() {
            self.state = State::Failed;
            self.buf.clear();
        }
        result
    }

    /// True once the final-chunk indicator has been read.
    pub fn final_seen(&self) -> bool {
        self.state == State::Final
    }

    /// Ends the stream: opens the final chunk and returns its plaintext.
    /// [`Error::Truncated`] if the stream ended before the final indicator.
    pub fn finish(mut self) -> Result<Vec<u8>, Error> {
        match self.state {
            State::Failed => Err(Error::Usage("stream failed earlier")),
            State::Chunks => Err(Error::Truncated),
            State::Final => self.cipher.open(FINAL_CHUNK_AAD, &self.buf),
        }
    }

    /// Opens a whole stream held in memory straight into `out`, which must be exactly its
    /// [`stream_plaintext_len`]: no per-chunk allocation, no concatenation. The opener must be fresh.
    /// Errors are those of [`push`](Self::push) then [`finish`](Self::finish); on error `out` is zeroed.
    pub fn open_stream_into(mut self, input: &[u8], out: &mut [u8]) -> Result<(), Error> {
        if self.state != State::Chunks || !self.buf.is_empty() {
            return Err(Error::Usage("opener already in use"));
        }
        let result = self.open_stream_inner(input, out);
        if result.is_err() {
            out.fill(0);
        }
        result
    }

    fn open_stream_inner(&mut self, input: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let tag_len = self.cipher.tag_len();
        let mut rest = input;
        let mut written = 0;
        loop {
            let (len, prefix) = varint::decode(rest)?.ok_or(Error::Truncated)?;
            rest = rest.get(prefix..).ok_or(Error::Truncated)?;
            if len == 0 {
                break;
            }
            let len = usize::try_from(len).map_err(|_| Error::ChunkTooLarge)?;
            if len > self.max_ct {
                return Err(Error::ChunkTooLarge);
            }
            let (ct, tail) = rest.split_at_checked(len).ok_or(Error::Truncated)?;
            let pt_len = len.checked_sub(tag_len).ok_or(Error::Decrypt)?;
            let end = written + pt_len;
            let dst = out
                .get_mut(written..end)
                .ok_or(Error::Usage("output buffer has the wrong length"))?;
            self.cipher.open_into(b"", ct, dst)?;
            written = end;
            rest = tail;
        }
        // The final chunk runs to the end of the input.
        if rest.len() > self.max_ct {
            return Err(Error::ChunkTooLarge);
        }
        let dst = out
            .get_mut(written..)
            .ok_or(Error::Usage("output buffer has the wrong length"))?;
        self.cipher.open_into(FINAL_CHUNK_AAD, rest, dst)
    }

    fn push_inner(&mut self, data: &[u8], mut sink: impl FnMut(Vec<u8>)) -> Result<(), Error> {
        match self.state {
            State::Failed => return Err(Error::Usage("stream failed earlier")),
            State::Final => self.buf.extend_from_slice(data),
            State::Chunks if self.buf.is_empty() => {
                // Fast path: open straight from `data`, buffer only the incomplete tail.
                let consumed = self.open_complete_chunks(data, &mut sink)?;
                self.buf
                    .extend_from_slice(data.get(consumed..).unwrap_or_default());
            }
            State::Chunks => {
                let mut buf = std::mem::take(&mut self.buf);
                buf.extend_from_slice(data);
                let consumed = self.open_complete_chunks(&buf, &mut sink)?;
                buf.drain(..consumed);
                self.buf = buf;
            }
        }
        if self.state == State::Final && self.buf.len() > self.max_ct {
            return Err(Error::ChunkTooLarge);
        }
        Ok(())
    }

    /// Opens every complete non-final chunk at the start of `input`; returns the bytes consumed
    /// (including the final indicator, if reached).
    fn open_complete_chunks(
        &mut self,
        input: &[u8],
        sink: &mut impl FnMut(Vec<u8>),
    ) -> Result<usize, Error> {
        let mut pos = 0;
        while let Some((len, prefix)) = varint::decode(input.get(pos..).unwrap_or_default())? {
            if len == 0 {
                self.state = State::Final;
                return Ok(pos + prefix);
            }
            let len = usize::try_from(len).map_err(|_| Error::ChunkTooLarge)?;
            if len > self.max_ct {
                return Err(Error::ChunkTooLarge);
            }
            let Some(ct) = input.get(pos + prefix..pos + prefix + len) else {
                break;
            };
            sink(self.cipher.open(b"", ct)?);
            pos += prefix + len;
        }
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AeadKey, CounterNonceAead};
    use zeroize::Zeroizing;

    fn cipher() -> CounterNonceAead {
        CounterNonceAead::new(AeadKey::Aes128Gcm(Zeroizing::new([5; 16])), [1; 12])
    }

    fn stream(chunks: &[&[u8]], last: &[u8]) -> Vec<u8> {
        let mut sealer = ChunkSealer::new(cipher());
        let mut out = Vec::new();
        for chunk in chunks {
            sealer.seal_chunk(chunk, &mut out).unwrap();
        }
        sealer.seal_final(last, &mut out).unwrap();
        out
    }

    #[test]
    fn framing_layout() {
        let wire = stream(&[b"abc"], b"");
        assert_eq!(wire[0], 19); // varint(3 + 16)
        assert_eq!(wire[20], 0); // final indicator
        assert_eq!(wire.len(), 1 + 19 + 1 + 16);
    }

    #[test]
    fn opens_at_every_split_point() {
        let chunks: [&[u8]; 3] = [b"first", &[0xaa; 100], b"z"];
        let wire = stream(&chunks, b"tail");
        for split in 0..=wire.len() {
            let mut opener = ChunkOpener::new(cipher(), 4096);
            let mut got = opener.push(&wire[..split]).unwrap();
            got.extend(opener.push(&wire[split..]).unwrap());
            assert_eq!(got, chunks.iter().map(|c| c.to_vec()).collect::<Vec<_>>());
            assert_eq!(opener.finish().unwrap(), b"tail");
        }
    }

    /// The incremental path's outcome for a whole stream, as one plaintext.
    fn open_incrementally(wire: &[u8], max_plaintext: usize) -> Result<Vec<u8>, Error> {
        let mut opener = ChunkOpener::new(cipher(), max_plaintext);
        let mut out = opener.push(wire)?.concat();
        out.extend(opener.finish()?);
        Ok(out)
    }

    #[test]
    fn whole_stream_open_matches_incremental_open() {
        let wire = stream(&[b"first", &[0xaa; 100], b"z"], b"tail");
        let want = [&b"first"[..], &[0xaa; 100], b"z", b"tail"].concat();
        assert_eq!(stream_plaintext_len(&wire, 16, 100), Some(want.len()));
        let mut out = vec![0u8; want.len()];
        ChunkOpener::new(cipher(), 100)
            .open_stream_into(&wire, &mut out)
            .unwrap();
        assert_eq!(out, want);
        assert_eq!(open_incrementally(&wire, 100).unwrap(), want);
    }

    #[test]
    fn whole_stream_open_fails_like_incremental_open() {
        let wire = stream(&[b"first", &[0xaa; 100]], b"tail");
        let mut tampered = wire.clone();
        tampered[3] ^= 1;
        let cases: [(&[u8], usize); 5] = [
            (&wire[..wire.len() - 20], 4096), // final chunk empty: shorter than a tag
            (&wire[..30], 4096),              // cut inside a chunk
            (&wire[..21], 4096),              // no final indicator
            (&wire, 99),                      // a chunk over the limit
            (&tampered, 4096),                // forged
        ];
        for (input, max) in cases {
            let incremental = open_incrementally(input, max).unwrap_err();
            let mut out = vec![0u8; input.len()];
            let whole = ChunkOpener::new(cipher(), max)
                .open_stream_into(input, &mut out)
                .unwrap_err();
            assert_eq!(format!("{whole:?}"), format!("{incremental:?}"));
            assert!(out.iter().all(|&b| b == 0), "nothing released on failure");
        }
    }

    #[test]
    fn plaintext_len_refuses_what_cannot_open() {
        let wire = stream(&[b"first"], b"tail");
        assert_eq!(stream_plaintext_len(&wire, 16, 4096), Some(9));
        assert_eq!(
            stream_plaintext_len(&wire[..wire.len() - 1], 16, 4096),
            Some(8)
        );
        assert_eq!(
            stream_plaintext_len(&wire[..wire.len() - 5], 16, 4096),
            None,
            "final shorter than a tag"
        );
        assert_eq!(
            stream_plaintext_len(&wire[..10], 16, 4096),
            None,
            "cut inside a chunk"
        );
        assert_eq!(
            stream_plaintext_len(&wire[..22], 16, 4096),
            None,
            "no final indicator"
        );
        assert_eq!(
            stream_plaintext_len(&wire, 16, 4),
            None,
            "a chunk over the limit"
        );
        assert_eq!(
            stream_plaintext_len(&[0x05, 0, 0, 0, 0, 0, 0], 16, 4096),
            None,
            "chunk shorter than a tag"
        );
        assert_eq!(stream_plaintext_len(&[], 16, 4096), None);
    }

    #[test]
    fn byte_by_byte_yields_each_chunk_when_complete() {
        let wire = stream(&[b"one", b"two"], b"");
        let mut opener = ChunkOpener::new(cipher(), 4096);
        let mut yielded_at = Vec::new();
        for (i, byte) in wire.iter().enumerate() {
            if !opener.push(&[*byte]).unwrap().is_empty() {
                yielded_at.push(i);
            }
        }
        assert_eq!(yielded_at, [19, 39]);
        assert_eq!(opener.finish().unwrap(), b"");
    }

    #[test]
    fn truncation_is_detected() {
        let wire = stream(&[b"one"], b"");
        for cut in 0..wire.len() - 16 {
            let mut opener = ChunkOpener::new(cipher(), 4096);
            opener.push(&wire[..cut]).unwrap();
            assert!(
                matches!(opener.finish(), Err(Error::Truncated)),
                "cut at {cut}"
            );
        }
        // Cut inside the final chunk: the tag no longer authenticates.
        let mut opener = ChunkOpener::new(cipher(), 4096);
        opener.push(&wire[..wire.len() - 1]).unwrap();
        assert!(matches!(opener.finish(), Err(Error::Decrypt)));
    }

    #[test]
    fn oversized_chunks_are_rejected() {
        let wire = stream(&[&[0; 33]], b"");
        let mut opener = ChunkOpener::new(cipher(), 32);
        assert!(matches!(opener.push(&wire), Err(Error::ChunkTooLarge)));
        assert!(matches!(opener.push(b""), Err(Error::Usage(_))));

        // A length prefix alone is enough to reject, before the body arrives.
        let mut opener = ChunkOpener::new(cipher(), 32);
        assert!(matches!(
            opener.push(&[0x40, 49]),
            Err(Error::ChunkTooLarge)
        ));

        // Data after the final chunk makes it too large (or fails to authenticate).
        let mut wire = stream(&[b"a"], b"");
        wire.extend_from_slice(&[0; 40]);
        let mut opener = ChunkOpener::new(cipher(), 32);
        assert!(matches!(opener.push(&wire), Err(Error::ChunkTooLarge)));
        let mut wire = stream(&[b"a"], b"");
        wire.push(0);
        let mut opener = ChunkOpener::new(cipher(), 32);
        opener.push(&wire).unwrap();
        assert!(matches!(opener.finish(), Err(Error::Decrypt)));
    }

    #[test]
    fn final_aad_and_order_are_authenticated() {
        // A final chunk sealed without the "final" aad.
        let mut c = cipher();
        let mut wire = vec![0];
        wire.extend(c.seal(b"", b"x").unwrap());
        let mut opener = ChunkOpener::new(cipher(), 4096);
        opener.push(&wire).unwrap();
        assert!(matches!(opener.finish(), Err(Error::Decrypt)));

        // Swapped chunks.
        let wire = stream(&[b"aaaa", b"bbbb"], b"");
        let mut swapped = wire[21..42].to_vec();
        swapped.extend_from_slice(&wire[..21]);
        swapped.extend_from_slice(&wire[42..]);
        let mut opener = ChunkOpener::new(cipher(), 4096);
        assert!(matches!(opener.push(&swapped), Err(Error::Decrypt)));
    }

    #[test]
    fn empty_non_final_chunk_is_refused() {
        let mut sealer = ChunkSealer::new(cipher());
        let mut out = vec![1, 2];
        assert!(matches!(
            sealer.seal_chunk(b"", &mut out),
            Err(Error::Usage(_))
        ));
        assert_eq!(out, [1, 2]);
    }
}
