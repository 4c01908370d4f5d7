//! The symmetric primitives of Kyber round 3: H = SHA3-256, G = SHA3-512, PRF = SHAKE-256,
//! XOF = SHAKE-128, KDF = SHAKE-256 (the KDF step is what FIPS 203 removed).

use sha3::digest::{Digest, ExtendableOutput, Update, XofReader};
use sha3::{Sha3_256, Sha3_512, Shake128, Shake128Reader, Shake256};
use zeroize::Zeroizing;

/// H(parts[0] || parts[1] || ...) with SHA3-256.
pub(crate) fn hash_h(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha3_256::new();
    for part in parts {
        Digest::update(&mut hasher, part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&hasher.finalize());
    out
}

/// G(parts...) with SHA3-512; both halves are usually secret.
pub(crate) fn hash_g(parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    let mut hasher = Sha3_512::new();
    for part in parts {
        Digest::update(&mut hasher, part);
    }
    let mut out = Zeroizing::new([0u8; 64]);
    let mut digest = hasher.finalize();
    out.copy_from_slice(&digest);
    zeroize::Zeroize::zeroize(digest.as_mut_slice());
    out
}

/// KDF(parts...) = SHAKE-256 truncated to 32 bytes: the shared secret.
pub(crate) fn kdf(parts: &[&[u8]]) -> [u8; 32] {
    let mut xof = Shake256::default();
    for part in parts {
        xof.update(part);
    }
    let mut out = [0u8; 32];
    xof.finalize_xof().read(&mut out);
    out
}

/// PRF(seed, nonce) = SHAKE-256(seed || nonce), 128 bytes: the input of one CBD_2 sample.
pub(crate) fn prf(seed: &[u8; 32], nonce: u8) -> Zeroizing<[u8; 128]> {
    let mut xof = Shake256::default();
    xof.update(seed);
    xof.update(&[nonce]);
    let mut out = Zeroizing::new([0u8; 128]);
    xof.finalize_xof().read(out.as_mut_slice());
    out
}

/// XOF(rho, x, y) = SHAKE-128(rho || x || y), read by the matrix sampler.
pub(crate) fn xof(rho: &[u8; 32], x: u8, y: u8) -> Shake128Reader {
    let mut xof = Shake128::default();
    xof.update(rho);
    xof.update(&[x, y]);
    xof.finalize_xof()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_match_published_empty_string_digests() {
        let empty: &[&[u8]] = &[];
        assert_eq!(
            hex::encode(hash_h(empty)),
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        );
        assert!(hex::encode(hash_g(empty)).starts_with("a69f73cca23a9ac5c8b567dc185a756e"));
        assert_eq!(
            hex::encode(kdf(empty)),
            "46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762f"
        );
    }
}
