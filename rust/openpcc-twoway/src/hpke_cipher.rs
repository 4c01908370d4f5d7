//! HPKE contexts as chunk ciphers: the context's own sequence number makes each chunk's nonce
//! (chunked OHTTP requests).

use openpcc_hpke::{RecipientContext, SenderContext};

use crate::{ChunkCipher, Error};

/// Every HPKE AEAD that can seal (AES-GCM, ChaCha20-Poly1305) has a 16-byte tag.
const HPKE_TAG_LEN: usize = 16;

impl ChunkCipher for SenderContext {
    fn seal(&mut self, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(SenderContext::seal(self, aad, pt)?)
    }
    fn open(&mut self, _aad: &[u8], _ct: &[u8]) -> Result<Vec<u8>, Error> {
        Err(Error::Usage("an hpke sender context cannot open"))
    }
    fn tag_len(&self) -> usize {
        HPKE_TAG_LEN
    }
}

impl ChunkCipher for RecipientContext {
    fn seal(&mut self, _aad: &[u8], _pt: &[u8]) -> Result<Vec<u8>, Error> {
        Err(Error::Usage("an hpke recipient context cannot seal"))
    }
    fn open(&mut self, aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(RecipientContext::open(self, aad, ct)?)
    }
    fn open_into(&mut self, aad: &[u8], ct: &[u8], out: &mut [u8]) -> Result<(), Error> {
        Ok(RecipientContext::open_into(self, aad, ct, out)?)
    }
    fn tag_len(&self) -> usize {
        HPKE_TAG_LEN
    }
}

#[cfg(test)]
mod tests {
    use openpcc_hpke::{Aead, Kdf, Kem, Suite};

    use crate::{ChunkCipher, ChunkOpener, ChunkSealer, Error};

    #[test]
    fn hpke_contexts_seal_and_open_chunk_streams() {
        let suite = Suite::new(Kem::X25519, Kdf::HkdfSha256, Aead::Aes128Gcm);
        let (sk, pk) = suite.derive_key_pair(&[7; 32]).unwrap();
        let (enc, sender) = suite.setup_base_sender(&pk, b"info").unwrap();
        let mut recipient = suite.setup_base_recipient(&enc, &sk, b"info").unwrap();
        assert!(matches!(
            ChunkCipher::seal(&mut recipient, b"", b"x"),
            Err(Error::Usage(_))
        ));

        let mut sealer = ChunkSealer::new(sender);
        let mut wire = Vec::new();
        sealer.seal_chunk(b"hello", &mut wire).unwrap();
        sealer.seal_chunk(b"world", &mut wire).unwrap();
        sealer.seal_final(b"!", &mut wire).unwrap();

        let mut opener = ChunkOpener::new(recipient, 4096);
        assert_eq!(
            opener.push(&wire).unwrap(),
            [b"hello".to_vec(), b"world".to_vec()]
        );
        assert_eq!(opener.finish().unwrap(), b"!");
    }
}
