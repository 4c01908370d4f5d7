//! The incremental body opener request and response bodies share: `nonce || AEAD message` (unchunked) or
//! `nonce || chunk stream` (chunked), where the nonce keys the cipher.

use openpcc_twoway::{ChunkOpener, CounterNonceAead};

use crate::media::{Framing, MAX_CHUNK_PLAINTEXT};
use crate::Error;

enum State {
    AwaitNonce(Vec<u8>),
    Unchunked(CounterNonceAead, Vec<u8>),
    Chunked(ChunkOpener<CounterNonceAead>),
}

/// Buffers the `N`-byte nonce, then either buffers an unchunked body (up to `max_unchunked` bytes, else
/// `Error::Limit(limit_name)`) or releases each chunk once it authenticates.
pub(crate) struct NoncedOpener<const N: usize> {
    framing: Framing,
    max_unchunked: usize,
    limit_name: &'static str,
    state: State,
}

impl<const N: usize> NoncedOpener<N> {
    pub(crate) fn new(framing: Framing, max_unchunked: usize, limit_name: &'static str) -> Self {
        Self {
            framing,
            max_unchunked,
            limit_name,
            state: State::AwaitNonce(Vec::new()),
        }
    }

    pub(crate) fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether no byte was pushed yet.
    pub(crate) fn is_fresh(&self) -> bool {
        matches!(&self.state, State::AwaitNonce(buf) if buf.is_empty())
    }

    /// Feeds body bytes; `cipher` keys the body once the nonce is complete. Returns the plaintext of the
    /// chunks they complete (always empty when unchunked).
    pub(crate) fn push(
        &mut self,
        data: &[u8],
        cipher: impl FnOnce(&[u8; N]) -> Result<CounterNonceAead, Error>,
    ) -> Result<Vec<Vec<u8>>, Error> {
        // Only the nonce is buffered here; the rest goes straight to the body state (no copies).
        let rest = match &mut self.state {
            State::AwaitNonce(buf) => {
                let (head, rest) = data.split_at(N.saturating_sub(buf.len()).min(data.len()));
                buf.extend_from_slice(head);
                let Ok(nonce) = <[u8; N]>::try_from(buf.as_slice()) else {
                    return Ok(Vec::new());
                };
                let cipher = cipher(&nonce)?;
                self.state = match self.framing {
                    Framing::Unchunked => State::Unchunked(cipher, Vec::new()),
                    Framing::Chunked => {
                        State::Chunked(ChunkOpener::new(cipher, MAX_CHUNK_PLAINTEXT))
                    }
                };
                rest
            }
            _ => data,
        };
        match &mut self.state {
            State::AwaitNonce(_) => Ok(Vec::new()),
            State::Unchunked(_, buf) => {
                if buf.len() + rest.len() > self.max_unchunked {
                    return Err(Error::Limit(self.limit_name));
                }
                buf.extend_from_slice(rest);
                Ok(Vec::new())
            }
            State::Chunked(opener) => Ok(opener.push(rest)?),
        }
    }

    /// End of body: the unchunked plaintext, or the final chunk's plaintext.
    pub(crate) fn finish(self) -> Result<Vec<u8>, Error> {
        match self.state {
            State::AwaitNonce(_) => Err(Error::Truncated),
            State::Unchunked(mut cipher, mut buf) => {
                cipher.open_in_place(b"", &mut buf)?;
                Ok(buf)
            }
            State::Chunked(opener) => Ok(opener.finish()?),
        }
    }
}

#[cfg(test)]
mod tests {
    use openpcc_twoway::{AeadKey, ChunkCipher};
    use zeroize::Zeroizing;

    use super::*;

    fn cipher(nonce: &[u8; 12]) -> CounterNonceAead {
        CounterNonceAead::new(AeadKey::Aes256Gcm(Zeroizing::new([7; 32])), *nonce)
    }

    fn unchunked_body(pt: &[u8]) -> Vec<u8> {
        let nonce = [3; 12];
        let mut body = nonce.to_vec();
        body.extend(cipher(&nonce).seal(b"", pt).unwrap());
        body
    }

    #[test]
    fn unchunked_body_opens_fed_byte_by_byte() {
        let mut opener = NoncedOpener::<12>::new(Framing::Unchunked, 1024, "test size");
        assert!(opener.is_fresh());
        for byte in unchunked_body(b"hello").chunks(1) {
            assert!(opener.push(byte, |n| Ok(cipher(n))).unwrap().is_empty());
        }
        assert!(!opener.is_fresh());
        assert_eq!(opener.finish().unwrap(), b"hello");
    }

    #[test]
    fn unchunked_body_over_the_limit_is_refused_by_name() {
        let mut opener = NoncedOpener::<12>::new(Framing::Unchunked, 4, "test size");
        let err = opener
            .push(&unchunked_body(b"hello"), |n| Ok(cipher(n)))
            .unwrap_err();
        assert!(matches!(err, Error::Limit("test size")), "{err:?}");
    }

    #[test]
    fn a_body_without_its_whole_nonce_is_truncated() {
        let mut opener = NoncedOpener::<12>::new(Framing::Chunked, 1024, "test size");
        opener.push(&[0; 11], |n| Ok(cipher(n))).unwrap();
        assert!(matches!(opener.finish(), Err(Error::Truncated)));
    }
}
