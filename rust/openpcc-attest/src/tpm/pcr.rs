//! `TPML_PCR_SELECTION`: which PCRs of which banks a quote or policy covers.

use super::alg::HashAlg;
use super::codec::Reader;
use super::TpmError;

/// More selections than banks exist is malformed; real TPMs have at most a handful.
const MAX_SELECTIONS: u32 = 16;
/// `sizeofSelect` is 3 on PC-client TPMs (24 PCRs); anything above 32 bytes is refused.
const MAX_SELECT_BYTES: u8 = 32;

/// One `TPMS_PCR_SELECTION`: a bank and the ascending PCR indices selected in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrSelection {
    /// The bank's hash `TPM_ALG_ID` (kept raw: a selection may name a bank openpcc cannot hash).
    pub hash: u16,
    /// `sizeofSelect`, kept so re-encoding is byte-exact.
    pub size_of_select: u8,
    /// Selected indices, ascending.
    pub pcrs: Vec<u32>,
}

impl PcrSelection {
    /// A selection of `pcrs` in `bank` with the PC-client bitmap size (3 bytes, or more when needed).
    #[must_use]
    pub fn new(bank: HashAlg, pcrs: &[u32]) -> Self {
        let highest = pcrs.iter().copied().max().unwrap_or(0);
        let needed = u8::try_from(highest / 8 + 1).unwrap_or(MAX_SELECT_BYTES);
        let mut sorted = pcrs.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        Self {
            hash: bank.id(),
            size_of_select: needed.max(3),
            pcrs: sorted,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hash.to_be_bytes());
        out.push(self.size_of_select);
        let mut bitmap = vec![0u8; usize::from(self.size_of_select)];
        for &pcr in &self.pcrs {
            if let Some(byte) = bitmap.get_mut((pcr / 8) as usize) {
                *byte |= 1 << (pcr % 8);
            }
        }
        out.extend_from_slice(&bitmap);
    }
}

/// Reads a `TPML_PCR_SELECTION`.
pub(crate) fn read_selection_list(r: &mut Reader<'_>) -> Result<Vec<PcrSelection>, TpmError> {
    let count = r.u32("pcr selection count")?;
    if count > MAX_SELECTIONS {
        return Err(TpmError::Invalid("pcr selection count too large"));
    }
    let mut out = Vec::new();
    for _ in 0..count {
        let hash = r.u16("pcr selection hash")?;
        let size_of_select = r.u8("pcr selection size")?;
        if size_of_select > MAX_SELECT_BYTES {
            return Err(TpmError::Invalid("pcr selection bitmap too large"));
        }
        let bitmap = r.bytes(usize::from(size_of_select), "pcr selection bitmap")?;
        let pcrs = (0u32..)
            .zip(
                bitmap
                    .iter()
                    .flat_map(|byte| (0..8).map(move |bit| byte & (1 << bit) != 0)),
            )
            .filter_map(|(index, set)| set.then_some(index))
            .collect();
        out.push(PcrSelection {
            hash,
            size_of_select,
            pcrs,
        });
    }
    Ok(out)
}

/// Encodes a `TPML_PCR_SELECTION`.
#[must_use]
pub fn encode_selection_list(selections: &[PcrSelection]) -> Vec<u8> {
    let mut out = Vec::new();
    let count = u32::try_from(selections.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for s in selections {
        s.encode(&mut out);
    }
    out
}

/// `TPM_CC_PolicyPCR`.
const CC_POLICY_PCR: u32 = 0x0000_017F;

/// The policy digest a fresh SHA-256 policy session reaches after `TPM2_PolicyPCR` over `pcrs` of
/// one bank with these `values` (ascending index order):
/// `SHA256(0^32 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || SHA256(concat values))`.
#[must_use]
pub fn policy_pcr_digest(bank: HashAlg, pcrs: &[u32], values: &[&[u8]]) -> Vec<u8> {
    let selection = encode_selection_list(&[PcrSelection::new(bank, pcrs)]);
    let pcr_digest = HashAlg::Sha256.digest_parts(values.iter().copied());
    HashAlg::Sha256.digest_parts([
        &[0u8; 32][..],
        &CC_POLICY_PCR.to_be_bytes(),
        &selection,
        &pcr_digest,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_round_trip() {
        let sel = PcrSelection::new(HashAlg::Sha256, &[0, 1, 2, 3, 4, 5, 7, 8, 12]);
        let bytes = encode_selection_list(std::slice::from_ref(&sel));
        assert_eq!(bytes, [0, 0, 0, 1, 0, 0x0b, 3, 0xbf, 0x11, 0]);
        let mut r = Reader::new(&bytes);
        assert_eq!(read_selection_list(&mut r).unwrap(), vec![sel]);
        r.finish().unwrap();
    }
}
