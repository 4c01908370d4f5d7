//! AEAD with a per-chunk counter nonce (twoway `internal/chunks/aead.go`).

use zeroize::Zeroizing;

use crate::{ChunkCipher, Error};

/// Tag length of every AEAD here.
const TAG_LEN: usize = 16;

/// A symmetric AEAD key. The bytes are zeroized on drop.
pub enum AeadKey {
    /// AES-128-GCM (HPKE AEAD 0x0001).
    Aes128Gcm(Zeroizing<[u8; 16]>),
    /// AES-256-GCM (HPKE AEAD 0x0002).
    Aes256Gcm(Zeroizing<[u8; 32]>),
    /// ChaCha20-Poly1305 (HPKE AEAD 0x0003).
    ChaCha20Poly1305(Zeroizing<[u8; 32]>),
}

impl AeadKey {
    /// Builds a key for `aead` from raw bytes of exactly its key length.
    pub fn from_slice(aead: openpcc_hpke::Aead, key: &[u8]) -> Result<Self, Error> {
        let bad_len = || Error::Malformed("aead key length");
        Ok(match aead {
            openpcc_hpke::Aead::Aes128Gcm => {
                Self::Aes128Gcm(Zeroizing::new(key.try_into().map_err(|_| bad_len())?))
            }
            openpcc_hpke::Aead::Aes256Gcm => {
                Self::Aes256Gcm(Zeroizing::new(key.try_into().map_err(|_| bad_len())?))
            }
            openpcc_hpke::Aead::ChaCha20Poly1305 => {
                Self::ChaCha20Poly1305(Zeroizing::new(key.try_into().map_err(|_| bad_len())?))
            }
            other @ openpcc_hpke::Aead::ExportOnly => return Err(Error::Unsupported(other.id())),
        })
    }
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::Aes128Gcm(_) => "Aes128Gcm",
            Self::Aes256Gcm(_) => "Aes256Gcm",
            Self::ChaCha20Poly1305(_) => "ChaCha20Poly1305",
        };
        write!(f, "AeadKey::{name}(..)")
    }
}

impl AeadKey {
    fn algorithm_and_bytes(&self) -> (openpcc_hpke::Aead, &[u8]) {
        match self {
            Self::Aes128Gcm(k) => (openpcc_hpke::Aead::Aes128Gcm, k.as_slice()),
            Self::Aes256Gcm(k) => (openpcc_hpke::Aead::Aes256Gcm, k.as_slice()),
            Self::ChaCha20Poly1305(k) => (openpcc_hpke::Aead::ChaCha20Poly1305, k.as_slice()),
        }
    }
}

/// An AEAD whose `i`-th use (0-based, seal or open) takes nonce `base_nonce XOR I2OSP(i, 12)`.
///
/// Used for chunked OHTTP responses and for compute request bodies and responses. The counter refuses
/// to wrap: after 2^64 - 1 chunks every call fails with [`Error::SequenceOverflow`].
pub struct CounterNonceAead {
    /// The project's one AEAD backend (the HPKE crate's), keyed once.
    cipher: openpcc_hpke::AeadKey,
    base_nonce: [u8; 12],
    counter: u64,
}

impl CounterNonceAead {
    /// A fresh stream at counter 0.
    #[must_use]
    #[allow(clippy::needless_pass_by_value)] // taking the key ends its life here: it is zeroized on return
    pub fn new(key: AeadKey, base_nonce: [u8; 12]) -> Self {
        let (aead, bytes) = key.algorithm_and_bytes();
        // Cannot fail: every `AeadKey` variant holds a key of its algorithm's exact length.
        let cipher = openpcc_hpke::AeadKey::new(aead, bytes)
            .unwrap_or_else(|_| unreachable!("aead key length"));
        Self {
            cipher,
            base_nonce,
            counter: 0,
        }
    }

    /// The number of chunks sealed or opened so far.
    #[must_use]
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Opens the next chunk in place: `buf` (ciphertext || tag) becomes its plaintext, so a large
    /// buffered message needs no second buffer. On failure the plaintext part is zeroed.
    pub fn open_in_place(&mut self, aad: &[u8], buf: &mut Vec<u8>) -> Result<(), Error> {
        let nonce = self.next_nonce()?;
        let len = self.cipher.open_in_place(&nonce, aad, buf)?;
        buf.truncate(len);
        self.counter += 1;
        Ok(())
    }

    fn next_nonce(&self) -> Result<[u8; 12], Error> {
        if self.counter == u64::MAX {
            return Err(Error::SequenceOverflow);
        }
        let mut nonce = self.base_nonce;
        for (n, c) in nonce.iter_mut().skip(4).zip(self.counter.to_be_bytes()) {
            *n ^= c;
        }
        Ok(nonce)
    }
}

impl std::fmt::Debug for CounterNonceAead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterNonceAead")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl ChunkCipher for CounterNonceAead {
    fn seal(&mut self, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(pt.len() + TAG_LEN);
        self.seal_into(aad, pt, &mut out)?;
        Ok(out)
    }

    fn seal_into(&mut self, aad: &[u8], pt: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let nonce = self.next_nonce()?;
        let start = out.len();
        out.resize(start + pt.len() + TAG_LEN, 0);
        let sealed = match out.get_mut(start..) {
            Some(region) => self
                .cipher
                .seal_into(&nonce, aad, pt, region)
                .map_err(Error::from),
            None => Err(Error::Usage("seal offset")),
        };
        if let Err(err) = sealed {
            out.truncate(start);
            return Err(err);
        }
        self.counter += 1;
        Ok(())
    }

    fn open(&mut self, aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, Error> {
        let body_len = ct.len().checked_sub(TAG_LEN).ok_or(Error::Decrypt)?;
        let mut pt = vec![0u8; body_len];
        self.open_into(aad, ct, &mut pt)?;
        Ok(pt)
    }

    fn open_into(&mut self, aad: &[u8], ct: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let nonce = self.next_nonce()?;
        let body_len = ct.len().checked_sub(TAG_LEN).ok_or(Error::Decrypt)?;
        if out.len() != body_len {
            return Err(Error::Usage("output buffer has the wrong length"));
        }
        self.cipher.open_into(&nonce, aad, ct, out)?;
        self.counter += 1;
        Ok(())
    }

    fn tag_len(&self) -> usize {
        TAG_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_base_xor_counter() {
        let mut aead =
            CounterNonceAead::new(AeadKey::Aes128Gcm(Zeroizing::new([7; 16])), [0xff; 12]);
        assert_eq!(aead.next_nonce().unwrap(), [0xff; 12]);
        aead.counter = 0x0102;
        let mut want = [0xff; 12];
        want[10] = 0xfe;
        want[11] = 0xfd;
        assert_eq!(aead.next_nonce().unwrap(), want);
    }

    #[test]
    fn refuses_to_wrap() {
        let mut aead = CounterNonceAead::new(AeadKey::Aes256Gcm(Zeroizing::new([1; 32])), [0; 12]);
        aead.counter = u64::MAX - 1;
        aead.seal(b"", b"x").unwrap();
        assert!(matches!(aead.seal(b"", b"x"), Err(Error::SequenceOverflow)));
        assert!(matches!(
            aead.open(b"", &[0; 17]),
            Err(Error::SequenceOverflow)
        ));
    }

    #[test]
    fn seal_open_each_algorithm() {
        use openpcc_hpke::Aead;
        for (aead, key) in [
            (Aead::Aes128Gcm, vec![1; 16]),
            (Aead::Aes256Gcm, vec![2; 32]),
            (Aead::ChaCha20Poly1305, vec![3; 32]),
        ] {
            let mut sealer =
                CounterNonceAead::new(AeadKey::from_slice(aead, &key).unwrap(), [9; 12]);
            let first = sealer.seal(b"a", b"hello").unwrap();
            let second = sealer.seal(b"a", b"hello").unwrap();
            assert_ne!(first, second, "counter must change the nonce");
            let mut opener =
                CounterNonceAead::new(AeadKey::from_slice(aead, &key).unwrap(), [9; 12]);
            assert_eq!(opener.open(b"a", &first).unwrap(), b"hello");
            assert!(matches!(opener.open(b"b", &second), Err(Error::Decrypt)));
        }
        assert!(matches!(
            AeadKey::from_slice(Aead::Aes128Gcm, &[0; 32]),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn open_in_place_matches_open() {
        let mut sealer =
            CounterNonceAead::new(AeadKey::Aes256Gcm(Zeroizing::new([4; 32])), [2; 12]);
        let first = sealer.seal(b"", b"first").unwrap();
        let second = sealer.seal(b"", b"second").unwrap();
        let mut opener =
            CounterNonceAead::new(AeadKey::Aes256Gcm(Zeroizing::new([4; 32])), [2; 12]);
        let mut buf = first.clone();
        opener.open_in_place(b"", &mut buf).unwrap();
        assert_eq!(buf, b"first");
        assert_eq!(opener.counter(), 1);
        let mut buf = second.clone();
        assert!(matches!(
            opener.open_in_place(b"x", &mut buf),
            Err(Error::Decrypt)
        ));
        assert_eq!(
            opener.counter(),
            1,
            "a failed open does not advance the counter"
        );
        assert!(matches!(
            opener.open_in_place(b"", &mut vec![0; 15]),
            Err(Error::Decrypt)
        ));
        let mut buf = second;
        opener.open_in_place(b"", &mut buf).unwrap();
        assert_eq!(buf, b"second");
    }

    #[test]
    fn aes128gcm_known_answer() {
        // NIST GCM test case 2 (zero key, zero nonce, 16 zero bytes).
        let mut aead = CounterNonceAead::new(AeadKey::Aes128Gcm(Zeroizing::new([0; 16])), [0; 12]);
        let ct = aead.seal(b"", &[0; 16]).unwrap();
        assert_eq!(
            hex::encode(ct),
            "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"
        );
    }
}
