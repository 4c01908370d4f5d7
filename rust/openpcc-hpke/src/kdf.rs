//! HKDF with the RFC 9180 labels (`LabeledExtract`, `LabeledExpand`).

use hkdf::{GenericHkdf, GenericHkdfExtract, HmacImpl};
use hmac::Hmac;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::{Error, Kdf};

const VERSION_LABEL: &[u8] = b"HPKE-v1";

/// A pseudorandom key (an HKDF-Extract output); zeroized on drop.
pub(crate) type Prk = Zeroizing<Vec<u8>>;

impl Kdf {
    /// `LabeledExtract(salt, label, ikm)`; `ikm` is given in pieces that are hashed as their concatenation.
    pub(crate) fn labeled_extract(
        self,
        suite_id: &[u8],
        salt: &[u8],
        label: &[u8],
        ikm: &[&[u8]],
    ) -> Prk {
        match self {
            Kdf::HkdfSha256 => extract::<Hmac<Sha256>>(suite_id, salt, label, ikm),
            Kdf::HkdfSha384 => extract::<Hmac<Sha384>>(suite_id, salt, label, ikm),
            Kdf::HkdfSha512 => extract::<Hmac<Sha512>>(suite_id, salt, label, ikm),
        }
    }

    /// `LabeledExpand(prk, label, info, out.len())` into `out`.
    pub(crate) fn labeled_expand_into(
        self,
        suite_id: &[u8],
        prk: &[u8],
        label: &[u8],
        info: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        match self {
            Kdf::HkdfSha256 => expand::<Hmac<Sha256>>(suite_id, prk, label, info, out),
            Kdf::HkdfSha384 => expand::<Hmac<Sha384>>(suite_id, prk, label, info, out),
            Kdf::HkdfSha512 => expand::<Hmac<Sha512>>(suite_id, prk, label, info, out),
        }
    }

    /// `LabeledExpand(prk, label, info, len)` as a zeroizing buffer.
    pub(crate) fn labeled_expand(
        self,
        suite_id: &[u8],
        prk: &[u8],
        label: &[u8],
        info: &[u8],
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut out = Zeroizing::new(vec![0u8; len]);
        self.labeled_expand_into(suite_id, prk, label, info, &mut out)?;
        Ok(out)
    }

    /// The largest output `LabeledExpand` can produce: 255 hash blocks.
    pub(crate) const fn max_expand_len(self) -> usize {
        255 * self.hash_len()
    }
}

fn extract<H: HmacImpl>(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[&[u8]]) -> Prk {
    // RFC 9180 §4: an empty salt means HashLen zero bytes, which HMAC treats the same as "".
    let mut ctx = GenericHkdfExtract::<H>::new(Some(salt));
    ctx.input_ikm(VERSION_LABEL);
    ctx.input_ikm(suite_id);
    ctx.input_ikm(label);
    for piece in ikm {
        ctx.input_ikm(piece);
    }
    let (prk, _) = ctx.finalize();
    Zeroizing::new(prk.to_vec())
}

fn expand<H: HmacImpl>(
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let len = u16::try_from(out.len()).map_err(|_| Error::InvalidInput("length too large"))?;
    let hkdf = GenericHkdf::<H>::from_prk(prk).map_err(|_| Error::InvalidInput("prk too short"))?;
    hkdf.expand_multi_info(
        &[&len.to_be_bytes(), VERSION_LABEL, suite_id, label, info],
        out,
    )
    .map_err(|_| Error::InvalidInput("length too large"))
}
