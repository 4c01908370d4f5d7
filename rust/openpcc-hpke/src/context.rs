//! The key schedule (RFC 9180 §5.1) and the sender/recipient contexts (§5.2, §5.3).

use core::fmt;

use zeroize::Zeroizing;

use crate::aead::{Cipher, NONCE_LEN, TAG_LEN};
use crate::{Error, Suite};

/// The HPKE modes (RFC 9180 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Base = 0,
    Psk = 1,
    Auth = 2,
    AuthPsk = 3,
}

impl Mode {
    pub(crate) fn new(psk: bool, auth: bool) -> Self {
        match (psk, auth) {
            (false, false) => Mode::Base,
            (true, false) => Mode::Psk,
            (false, true) => Mode::Auth,
            (true, true) => Mode::AuthPsk,
        }
    }
}

/// State shared by both directions: the keyed AEAD, base nonce, sequence number and exporter secret.
struct Context {
    suite: Suite,
    cipher: Option<Cipher>,
    base_nonce: Zeroizing<[u8; NONCE_LEN]>,
    seq: u64,
    exporter_secret: Zeroizing<Vec<u8>>,
}

/// `KeySchedule<ROLE>(mode, shared_secret, info, psk, psk_id)`.
fn key_schedule(
    suite: Suite,
    mode: Mode,
    shared_secret: &[u8],
    info: &[u8],
    psk: Option<(&[u8], &[u8])>,
) -> Result<Context, Error> {
    let (psk, psk_id) = psk.unwrap_or((b"", b""));
    // VerifyPSKInputs: the psk and its id come together, and only in the psk modes.
    if psk.is_empty() != psk_id.is_empty() {
        return Err(Error::InvalidInput("psk and psk_id must both be given"));
    }
    if psk.is_empty() == matches!(mode, Mode::Psk | Mode::AuthPsk) {
        return Err(Error::InvalidInput("psk is empty"));
    }
    let kdf = suite.kdf;
    let suite_id = suite.suite_id();
    let psk_id_hash = kdf.labeled_extract(&suite_id, b"", b"psk_id_hash", &[psk_id]);
    let info_hash = kdf.labeled_extract(&suite_id, b"", b"info_hash", &[info]);
    let context = [&[mode as u8][..], &psk_id_hash, &info_hash].concat();
    let secret = kdf.labeled_extract(&suite_id, shared_secret, b"secret", &[psk]);

    let key = kdf.labeled_expand(&suite_id, &secret, b"key", &context, suite.aead.key_len())?;
    let mut base_nonce = Zeroizing::new([0u8; NONCE_LEN]);
    if suite.aead.nonce_len() == NONCE_LEN {
        kdf.labeled_expand_into(
            &suite_id,
            &secret,
            b"base_nonce",
            &context,
            base_nonce.as_mut(),
        )?;
    }
    let exporter_secret =
        kdf.labeled_expand(&suite_id, &secret, b"exp", &context, kdf.hash_len())?;
    Ok(Context {
        suite,
        cipher: Cipher::new(suite.aead, &key)?,
        base_nonce,
        seq: 0,
        exporter_secret,
    })
}

impl Context {
    /// `ComputeNonce(seq)`: the base nonce XOR the big-endian sequence number.
    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = *self.base_nonce;
        for (byte, seq_byte) in nonce[NONCE_LEN - 8..]
            .iter_mut()
            .zip(self.seq.to_be_bytes())
        {
            *byte ^= seq_byte;
        }
        nonce
    }

    fn cipher(&self) -> Result<&Cipher, Error> {
        self.cipher
            .as_ref()
            .ok_or(Error::Unsupported("the suite's aead is export-only"))
    }

    // The RFC limit is 2^96 - 1 messages; a u64 counter caps at 2^64 - 1, still unreachable in practice.
    fn check_seq(&self) -> Result<(), Error> {
        if self.seq == u64::MAX {
            Err(Error::MessageLimit)
        } else {
            Ok(())
        }
    }

    fn seal_into(&mut self, aad: &[u8], pt: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let cipher = self.cipher()?;
        self.check_seq()?;
        cipher.seal_into(&self.nonce(), aad, pt, out)?;
        self.seq += 1;
        Ok(())
    }

    fn open_into(&mut self, aad: &[u8], ct: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let cipher = self.cipher()?;
        self.check_seq()?;
        cipher.open_into(&self.nonce(), aad, ct, out)?;
        self.seq += 1;
        Ok(())
    }

    /// Suite and sequence number only: the keys stay out of `Debug`.
    fn debug_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("suite", &self.suite)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }

    fn export_into(&self, exporter_context: &[u8], out: &mut [u8]) -> Result<(), Error> {
        if out.len() > self.suite.kdf.max_expand_len() {
            return Err(Error::InvalidInput("export length too large"));
        }
        self.suite.kdf.labeled_expand_into(
            &self.suite.suite_id(),
            &self.exporter_secret,
            b"sec",
            exporter_context,
            out,
        )
    }
}

macro_rules! common_context_methods {
    () => {
        pub(crate) fn new(
            suite: Suite,
            mode: Mode,
            shared_secret: &[u8],
            info: &[u8],
            psk: Option<(&[u8], &[u8])>,
        ) -> Result<Self, Error> {
            key_schedule(suite, mode, shared_secret, info, psk).map(Self)
        }

        /// `Export(exporter_context, L)` (RFC 9180 §5.3); `len` is at most 255 × the KDF's hash length.
        pub fn export(&self, exporter_context: &[u8], len: usize) -> Result<Vec<u8>, Error> {
            let mut out = vec![0u8; len.min(self.0.suite.kdf.max_expand_len() + 1)];
            self.0.export_into(exporter_context, &mut out)?;
            Ok(out)
        }

        /// `Export` into a caller-provided buffer of the wanted length.
        pub fn export_into(&self, exporter_context: &[u8], out: &mut [u8]) -> Result<(), Error> {
            self.0.export_into(exporter_context, out)
        }

        /// The number of messages processed so far (the next message's sequence number).
        #[must_use]
        pub fn seq(&self) -> u64 {
            self.0.seq
        }

        /// The suite of this context.
        #[must_use]
        pub fn suite(&self) -> Suite {
            self.0.suite
        }

        /// Sets the sequence number. Only for tests of the message limit.
        #[doc(hidden)]
        pub fn set_seq_for_tests(&mut self, seq: u64) {
            self.0.seq = seq;
        }
    };
}

/// The sender's context: seals messages in order and exports secrets.
pub struct SenderContext(Context);

/// The recipient's context: opens messages in order and exports secrets.
pub struct RecipientContext(Context);

impl SenderContext {
    /// `Seal(aad, pt)`: returns ciphertext || tag and advances the sequence number.
    pub fn seal(&mut self, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, Error> {
        let len = pt
            .len()
            .checked_add(TAG_LEN)
            .ok_or(Error::InvalidInput("message too long"))?;
        let mut out = vec![0u8; len];
        self.seal_into(aad, pt, &mut out)?;
        Ok(out)
    }

    /// `Seal` into `out`, which must be exactly `pt.len() + 16` bytes (no allocation).
    pub fn seal_into(&mut self, aad: &[u8], pt: &[u8], out: &mut [u8]) -> Result<(), Error> {
        self.0.seal_into(aad, pt, out)
    }

    /// `Seal` in place: `buf` holds the plaintext on entry and ciphertext || tag on success.
    pub fn seal_in_place(&mut self, aad: &[u8], buf: &mut Vec<u8>) -> Result<(), Error> {
        let pt_len = buf.len();
        let pt = core::mem::take(buf);
        let mut out = vec![0u8; pt_len + TAG_LEN];
        let result = self.0.seal_into(aad, &pt, &mut out);
        *buf = if result.is_ok() { out } else { pt };
        result
    }

    common_context_methods!();
}

impl RecipientContext {
    /// `Open(aad, ct)`: returns the plaintext and advances the sequence number; a failure leaves it unchanged.
    pub fn open(&mut self, aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = vec![0u8; ct.len().saturating_sub(TAG_LEN)];
        self.open_into(aad, ct, &mut out)?;
        Ok(out)
    }

    /// `Open` into `out`, which must be exactly `ct.len() - 16` bytes (no allocation).
    pub fn open_into(&mut self, aad: &[u8], ct: &[u8], out: &mut [u8]) -> Result<(), Error> {
        self.0.open_into(aad, ct, out)
    }

    common_context_methods!();
}

impl fmt::Debug for SenderContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug_as("SenderContext", f)
    }
}

impl fmt::Debug for RecipientContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug_as("RecipientContext", f)
    }
}
