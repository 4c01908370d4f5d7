//! Multi-recipient compute requests (spec §4.2): the body sealed once under a fresh 32-byte data key (DEK),
//! and the DEK wrapped for each candidate node with HPKE.

use openpcc_hpke::{
    Aead, Kdf, Kem, RecipientContext, SecretKey, SenderContext, SenderOptions, Suite,
};
use openpcc_twoway::{AeadKey, ChunkCipher, ChunkSealer, CounterNonceAead};
use zeroize::Zeroizing;

use crate::incremental::NoncedOpener;
use crate::media::{Framing, MAX_CHUNK_PLAINTEXT};
use crate::response::{ResponseOpener, ResponseSealer, ResponseSecret, RESPONSE_NONCE_LEN};
use crate::Error;

/// The compute nodes' suite: DHKEM(P-256), HKDF-SHA256, AES-128-GCM.
pub const SUITE: Suite = Suite::new(Kem::P256, Kdf::HkdfSha256, Aead::Aes128Gcm);
/// `key_id (always 0) || kem || kdf || aead`, big-endian.
pub const HEADER: [u8; 7] = [0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x01];
/// Length of a P-256 `enc` (uncompressed point).
pub const ENC_LEN: usize = 65;
/// `HEADER (7) || enc (65) || HPKE-Seal(DEK) (32 + 16)`.
pub const ENCAPSULATED_KEY_LEN: usize = HEADER.len() + ENC_LEN + DEK_LEN + TAG_LEN;
/// The data key is always 32 bytes, hence AES-256-GCM for the body whatever the suite says.
pub const DEK_LEN: usize = 32;
const MULTI_ENCAP_AAD: &[u8] = b"multi-encap-key";
/// Body nonce length (`Nn`).
pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The body cipher: a 32-byte DEK means AES-256-GCM, whatever the suite says (circl keys AES by length).
fn body_cipher(dek: &[u8; DEK_LEN], body_nonce: [u8; NONCE_LEN]) -> CounterNonceAead {
    CounterNonceAead::new(AeadKey::Aes256Gcm(Zeroizing::new(*dek)), body_nonce)
}

/// Seals every piece as one or more non-final chunks of at most 514 bytes.
pub(crate) fn seal_pieces(
    sealer: &mut ChunkSealer<CounterNonceAead>,
    piece: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    for chunk in piece.chunks(MAX_CHUNK_PLAINTEXT) {
        sealer.seal_chunk(chunk, out)?;
    }
    Ok(())
}

/// `info = media type || 0x00 || HEADER`.
fn info(framing: Framing) -> Vec<u8> {
    let media = framing.request_media_type().as_bytes();
    let mut info = Vec::with_capacity(media.len() + 1 + HEADER.len());
    info.extend_from_slice(media);
    info.push(0);
    info.extend_from_slice(&HEADER);
    info
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| Error::Rng)?;
    Ok(out)
}

/// Client side: a request body sealed under its DEK, ready to have the DEK wrapped for candidates.
pub struct SealedRequest {
    framing: Framing,
    dek: Zeroizing<[u8; DEK_LEN]>,
    body: Vec<u8>,
}

impl std::fmt::Debug for SealedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedRequest")
            .field("framing", &self.framing)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl SealedRequest {
    /// Seals `plaintext` (a BHTTP request) under a fresh DEK and body nonce; chunked bodies are cut into
    /// 514-byte chunks.
    pub fn seal(framing: Framing, plaintext: &[u8]) -> Result<Self, Error> {
        Self::seal_pieces(framing, &[plaintext])
    }

    /// As [`SealedRequest::seal`], with one chunk per piece (pieces over 514 bytes are cut) when chunked.
    pub fn seal_pieces(framing: Framing, pieces: &[&[u8]]) -> Result<Self, Error> {
        let dek = Zeroizing::new(random::<DEK_LEN>()?);
        let nonce = random::<NONCE_LEN>()?;
        Self::seal_with(framing, pieces, &dek, nonce)
    }

    /// Test seam: a caller-chosen DEK and body nonce (reusing either destroys confidentiality).
    #[doc(hidden)]
    pub fn seal_with(
        framing: Framing,
        pieces: &[&[u8]],
        dek: &[u8; DEK_LEN],
        body_nonce: [u8; NONCE_LEN],
    ) -> Result<Self, Error> {
        let mut cipher = body_cipher(dek, body_nonce);
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        let mut body = Vec::with_capacity(
            NONCE_LEN + total + TAG_LEN * (1 + total / MAX_CHUNK_PLAINTEXT) + 64,
        );
        body.extend_from_slice(&body_nonce);
        match framing {
            Framing::Unchunked => match pieces {
                [one] => cipher.seal_into(b"", one, &mut body)?,
                _ => cipher.seal_into(b"", &Zeroizing::new(pieces.concat()), &mut body)?,
            },
            Framing::Chunked => {
                let mut sealer = ChunkSealer::new(cipher);
                for piece in pieces {
                    seal_pieces(&mut sealer, piece, &mut body)?;
                }
                sealer.seal_final(b"", &mut body)?;
            }
        }
        Ok(Self {
            framing,
            dek: Zeroizing::new(*dek),
            body,
        })
    }

    /// The request media type (`Content-Type` towards the router).
    #[must_use]
    pub fn media_type(&self) -> &'static str {
        self.framing.request_media_type()
    }

    /// The request framing.
    #[must_use]
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The sealed body, identical for every candidate.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Wraps the DEK for one candidate's request-encryption key: the 120-byte encapsulated key, and the
    /// context that will open that candidate's response.
    pub fn encapsulate_key(&self, public_key: &[u8]) -> Result<(Vec<u8>, ClientContext), Error> {
        self.encapsulate(public_key, &SenderOptions::default())
    }

    /// Test seam: a deterministic ephemeral key (`DeriveKeyPair(ikm_e)`, as circl does from its RNG).
    #[doc(hidden)]
    pub fn encapsulate_key_with(
        &self,
        public_key: &[u8],
        ikm_e: &[u8],
    ) -> Result<(Vec<u8>, ClientContext), Error> {
        self.encapsulate(
            public_key,
            &SenderOptions {
                ikm_e: Some(ikm_e),
                ..SenderOptions::default()
            },
        )
    }

    fn encapsulate(
        &self,
        public_key: &[u8],
        opts: &SenderOptions<'_>,
    ) -> Result<(Vec<u8>, ClientContext), Error> {
        let (enc, mut ctx) = SUITE.setup_sender(public_key, &info(self.framing), opts)?;
        let wrapped = ctx.seal(MULTI_ENCAP_AAD, self.dek.as_ref())?;
        let mut out = Vec::with_capacity(ENCAPSULATED_KEY_LEN);
        out.extend_from_slice(&HEADER);
        out.extend_from_slice(&enc);
        out.extend_from_slice(&wrapped);
        Ok((out, ClientContext { ctx, enc }))
    }
}

/// Client side: the HPKE context made for one candidate, kept to open that node's response.
pub struct ClientContext {
    ctx: SenderContext,
    enc: Vec<u8>,
}

impl std::fmt::Debug for ClientContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientContext(..)")
    }
}

impl ClientContext {
    /// An opener for this candidate's response of the given media type.
    pub fn response_opener(&self, response_media_type: &str) -> Result<ResponseOpener, Error> {
        let framing = Framing::of_response(response_media_type)?;
        let secret = ResponseSecret::new(|c, l| self.ctx.export(c, l), &self.enc, framing)?;
        Ok(ResponseOpener::new(secret, framing))
    }
}

/// Splits an encapsulated key into `(enc, wrapped DEK)` after checking its header.
fn split_encapsulated_key(encapsulated_key: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let header = encapsulated_key
        .get(..HEADER.len())
        .ok_or(Error::Truncated)?;
    if header != HEADER {
        return Err(Error::HeaderMismatch);
    }
    if encapsulated_key.len() < ENCAPSULATED_KEY_LEN {
        return Err(Error::Truncated);
    }
    if encapsulated_key.len() > ENCAPSULATED_KEY_LEN {
        return Err(Error::TrailingData);
    }
    let rest = encapsulated_key
        .get(HEADER.len()..)
        .ok_or(Error::Truncated)?;
    Ok(rest.split_at(ENC_LEN))
}

/// `enc` comes from the peer: a point that does not validate is malformed input, not a caller mistake.
fn peer_key_error(e: openpcc_hpke::Error) -> Error {
    match e {
        openpcc_hpke::Error::InvalidKey => {
            Error::Malformed("encapsulated key: enc is not a valid P-256 point")
        }
        other => other.into(),
    }
}

/// Node side: the unwrapped DEK of one request and the HPKE context its response is keyed from.
pub struct NodeRequest {
    framing: Framing,
    dek: Zeroizing<[u8; DEK_LEN]>,
    ctx: RecipientContext,
    enc: Vec<u8>,
}

impl std::fmt::Debug for NodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRequest")
            .field("framing", &self.framing)
            .finish_non_exhaustive()
    }
}

impl NodeRequest {
    /// Unwraps the DEK with the node's request-encryption key held in software.
    pub fn unwrap(
        request_media_type: &str,
        encapsulated_key: &[u8],
        secret_key: &SecretKey,
    ) -> Result<Self, Error> {
        let framing = Framing::of_request(request_media_type)?;
        let (enc, wrapped) = split_encapsulated_key(encapsulated_key)?;
        let ctx = SUITE
            .setup_base_recipient(enc, secret_key, &info(framing))
            .map_err(peer_key_error)?;
        Self::finish_unwrap(framing, ctx, enc, wrapped)
    }

    /// Unwraps the DEK when the KEM's Diffie-Hellman runs elsewhere (a TPM's `ECDH_ZGen` on the REK): `dh`
    /// gets the 65-byte ephemeral public key and returns the 32-byte x-coordinate of the shared point.
    pub fn unwrap_external<F>(
        request_media_type: &str,
        encapsulated_key: &[u8],
        public_key: &[u8],
        dh: F,
    ) -> Result<Self, Error>
    where
        F: FnOnce(&[u8]) -> Result<Vec<u8>, openpcc_hpke::Error>,
    {
        let framing = Framing::of_request(request_media_type)?;
        let (enc, wrapped) = split_encapsulated_key(encapsulated_key)?;
        let ctx = SUITE
            .setup_base_recipient_external(enc, public_key, &info(framing), dh)
            .map_err(peer_key_error)?;
        Self::finish_unwrap(framing, ctx, enc, wrapped)
    }

    fn finish_unwrap(
        framing: Framing,
        mut ctx: RecipientContext,
        enc: &[u8],
        wrapped: &[u8],
    ) -> Result<Self, Error> {
        // A key for another node (or for the other media type) derives another context: the open fails.
        let dek = Zeroizing::new(
            ctx.open(MULTI_ENCAP_AAD, wrapped)
                .map_err(|_| Error::UnwrapFailed)?,
        );
        let dek: [u8; DEK_LEN] = dek
            .as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("data key length"))?;
        Ok(Self {
            framing,
            dek: Zeroizing::new(dek),
            ctx,
            enc: enc.to_vec(),
        })
    }

    /// The request framing (from its media type).
    #[must_use]
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Opens the whole request body. Nothing is returned unless every part authenticates.
    pub fn open_body(&self, body: &[u8]) -> Result<Vec<u8>, Error> {
        let Some(len) = self.body_plaintext_len(body) else {
            return self.open_body_incrementally(body);
        };
        let mut out = vec![0u8; len];
        self.open_body_into(body, &mut out)?;
        Ok(out)
    }

    /// The length [`NodeRequest::open_body`] would return for `body`, or `None` if `body` is malformed
    /// (then `open_body` says how).
    #[must_use]
    pub fn body_plaintext_len(&self, body: &[u8]) -> Option<usize> {
        crate::whole::plaintext_len(self.framing, body, NONCE_LEN)
    }

    /// Opens the whole request body into `out`, exactly [`NodeRequest::body_plaintext_len`] bytes, with no
    /// intermediate buffer (for callers that own the output, e.g. a Python `bytes`). Zeroed on failure.
    pub fn open_body_into(&self, body: &[u8], out: &mut [u8]) -> Result<(), Error> {
        crate::whole::open_into(self.framing, body, out, |nonce| {
            Ok(body_cipher(&self.dek, *nonce))
        })
    }

    fn open_body_incrementally(&self, body: &[u8]) -> Result<Vec<u8>, Error> {
        let mut opener = self.body_opener()?;
        let mut chunks = opener.push(body)?;
        chunks.push(opener.finish()?);
        let out = chunks.concat();
        chunks.iter_mut().for_each(zeroize::Zeroize::zeroize);
        Ok(out)
    }

    /// An incremental opener of the request body.
    pub fn body_opener(&self) -> Result<BodyOpener, Error> {
        Ok(BodyOpener {
            dek: self.dek.clone(),
            inner: NoncedOpener::new(
                self.framing,
                MAX_UNCHUNKED_REQUEST,
                "unchunked request size",
            ),
        })
    }

    /// A sealer for the response, with a fresh 16-byte response nonce.
    pub fn response_sealer(&self, framing: Framing) -> Result<ResponseSealer, Error> {
        self.response_sealer_with(framing, random::<RESPONSE_NONCE_LEN>()?)
    }

    /// Test seam: a caller-chosen response nonce.
    #[doc(hidden)]
    pub fn response_sealer_with(
        &self,
        framing: Framing,
        response_nonce: [u8; RESPONSE_NONCE_LEN],
    ) -> Result<ResponseSealer, Error> {
        let secret = ResponseSecret::new(|c, l| self.ctx.export(c, l), &self.enc, framing)?;
        ResponseSealer::new(&secret, framing, response_nonce)
    }
}

/// Opens a request body incrementally (chunked bodies release each chunk once it authenticates).
pub struct BodyOpener {
    dek: Zeroizing<[u8; DEK_LEN]>,
    inner: NoncedOpener<NONCE_LEN>,
}

impl std::fmt::Debug for BodyOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyOpener")
            .field("framing", &self.inner.framing())
            .finish_non_exhaustive()
    }
}

/// Largest unchunked request body buffered (the node's own limit on the decoded request is 1 MiB).
pub const MAX_UNCHUNKED_REQUEST: usize = 16 << 20;

impl BodyOpener {
    /// Feeds body bytes; returns the plaintext of the chunks they complete (always empty when unchunked).
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let dek = &self.dek;
        self.inner.push(data, |nonce| Ok(body_cipher(dek, *nonce)))
    }

    /// End of body: the unchunked plaintext, or the final chunk's plaintext.
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        self.inner.finish()
    }
}
