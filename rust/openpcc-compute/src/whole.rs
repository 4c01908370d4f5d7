//! Opening a whole body held in memory straight into one output buffer. Request and response bodies
//! share the layout `nonce || AEAD message` (unchunked) or `nonce || chunk stream` (chunked).

use openpcc_twoway::{stream_plaintext_len, ChunkCipher, ChunkOpener, CounterNonceAead};

use crate::media::{Framing, MAX_CHUNK_PLAINTEXT};
use crate::Error;

const TAG_LEN: usize = 16;

/// The plaintext length of a well-formed body; `None` when it cannot open (the incremental opener then
/// names the fault).
pub(crate) fn plaintext_len(framing: Framing, body: &[u8], nonce_len: usize) -> Option<usize> {
    let sealed = body.get(nonce_len..)?;
    match framing {
        Framing::Unchunked => sealed.len().checked_sub(TAG_LEN),
        Framing::Chunked => stream_plaintext_len(sealed, TAG_LEN, MAX_CHUNK_PLAINTEXT),
    }
}

/// Opens `body` into `out` (exactly its [`plaintext_len`]) with the cipher its nonce keys; `out` is zeroed
/// on failure.
pub(crate) fn open_into<const N: usize>(
    framing: Framing,
    body: &[u8],
    out: &mut [u8],
    cipher: impl FnOnce(&[u8; N]) -> Result<CounterNonceAead, Error>,
) -> Result<(), Error> {
    let (nonce, sealed) = body.split_first_chunk::<N>().ok_or(Error::Truncated)?;
    let mut cipher = cipher(nonce)?;
    match framing {
        Framing::Unchunked => cipher.open_into(b"", sealed, out),
        Framing::Chunked => {
            ChunkOpener::new(cipher, MAX_CHUNK_PLAINTEXT).open_stream_into(sealed, out)
        }
    }
    .map_err(Error::from)
}
