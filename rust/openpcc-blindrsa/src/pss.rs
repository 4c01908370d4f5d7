//! EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with SHA-384 and MGF1-SHA-384, taking the salt as an argument.
//!
//! The `rsa` crate encodes with a salt it draws itself; blind signing needs the encoding on its own
//! (RFC 9474 §4.2 step 1), with the salt fixed for the reference's zero-salt variant and for vectors.
//! Verification uses the `rsa` crate's RSASSA-PSS verifier.

use sha2::{Digest, Sha384};

use crate::Error;

/// SHA-384 output length, also the PSS salt length of the PSS variants.
pub(crate) const HASH_LEN: usize = 48;

/// `EMSA-PSS-ENCODE(msg, em_bits)` with the given salt.
pub(crate) fn encode(msg: &[u8], em_bits: usize, salt: &[u8]) -> Result<Vec<u8>, Error> {
    let em_len = em_bits.div_ceil(8);
    if em_len < HASH_LEN + salt.len() + 2 {
        return Err(Error::Encoding("modulus too small for the PSS encoding"));
    }
    let m_hash = Sha384::digest(msg);
    let h = Sha384::new()
        .chain_update([0u8; 8])
        .chain_update(m_hash)
        .chain_update(salt)
        .finalize();

    let db_len = em_len - HASH_LEN - 1;
    let mut em = vec![0u8; em_len];
    em[db_len - salt.len() - 1] = 0x01;
    em[db_len - salt.len()..db_len].copy_from_slice(salt);
    mgf1_xor(&mut em[..db_len], &h);
    em[0] &= 0xff >> (8 * em_len - em_bits);
    em[db_len..em_len - 1].copy_from_slice(&h);
    em[em_len - 1] = 0xbc;
    Ok(em)
}

/// XORs `MGF1-SHA-384(seed, out.len())` into `out`.
fn mgf1_xor(out: &mut [u8], seed: &[u8]) {
    for (counter, block) in (0u32..).zip(out.chunks_mut(HASH_LEN)) {
        let mask = Sha384::new()
            .chain_update(seed)
            .chain_update(counter.to_be_bytes())
            .finalize();
        for (byte, m) in block.iter_mut().zip(mask.iter()) {
            *byte ^= m;
        }
    }
}
