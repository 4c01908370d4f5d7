//! Kyber.CPAPKE for k = 3 (Kyber768), round-3 specification: key generation, encryption and
//! decryption. Byte layouts: public key = Encode_12(t_hat) || rho, secret key = Encode_12(s_hat),
//! ciphertext = Compress_10(u) || Compress_4(v).

use sha3::digest::XofReader;
use zeroize::Zeroizing;

use crate::field::Q;
use crate::poly::{Poly, N, POLY_BYTES};
use crate::symmetric::{hash_g, prf, xof};

/// Module rank of Kyber768.
const K: usize = 3;
/// K as a PRF nonce offset: the second noise vector starts at nonce K, e2 uses nonce 2K.
const K_NONCE: u8 = 3;
/// Bits per coefficient of the compressed u and v.
const DU: u32 = 10;
const DV: u32 = 4;
const U_POLY_BYTES: usize = 32 * DU as usize;
const U_BYTES: usize = K * U_POLY_BYTES;
const VECTOR_BYTES: usize = K * POLY_BYTES;

pub(crate) const PUBLIC_KEY_LEN: usize = VECTOR_BYTES + 32;
pub(crate) const SECRET_KEY_LEN: usize = VECTOR_BYTES;
pub(crate) const CIPHERTEXT_LEN: usize = U_BYTES + 32 * DV as usize;

type PolyVec = [Poly; K];
type Matrix = [PolyVec; K];

/// Bytes squeezed from SHAKE-128 per round: its rate, a multiple of the 3-byte sampling unit.
const XOF_BLOCK: usize = 168;

/// Parse(XOF(rho, x, y)): uniform coefficients in the NTT domain by rejection sampling.
/// Works on public data only, so the data-dependent loop is fine.
fn sample_ntt(rho: &[u8; 32], x: u8, y: u8) -> Poly {
    let mut reader = xof(rho, x, y);
    let mut poly = Poly::zero();
    let mut filled = 0;
    let mut block = [0u8; XOF_BLOCK];
    while filled < N {
        reader.read(&mut block);
        for triple in block.chunks_exact(3) {
            if let [b0, b1, b2] = *triple {
                let d1 = u16::from(b0) | (u16::from(b1 & 0x0f) << 8);
                let d2 = u16::from(b1 >> 4) | (u16::from(b2) << 4);
                for candidate in [d1, d2] {
                    if candidate < Q {
                        if let Some(slot) = poly.coeffs.get_mut(filled) {
                            *slot = candidate;
                            filled += 1;
                        }
                    }
                }
            }
        }
    }
    poly
}

/// The matrix A (entry (i, j) from XOF(rho, j, i)) or, if `transposed`, A^T (from XOF(rho, i, j)).
#[allow(clippy::cast_possible_truncation, reason = "indices are below K = 3")]
fn sample_matrix(rho: &[u8; 32], transposed: bool) -> Matrix {
    core::array::from_fn(|i| {
        core::array::from_fn(|j| {
            let (x, y) = if transposed { (i, j) } else { (j, i) };
            sample_ntt(rho, x as u8, y as u8)
        })
    })
}

/// K noise polynomials CBD_2(PRF(seed, first_nonce + i)).
#[allow(clippy::cast_possible_truncation, reason = "nonces stay below 7")]
fn sample_noise_vector(seed: &[u8; 32], first_nonce: u8) -> PolyVec {
    core::array::from_fn(|i| Poly::sample_cbd2(&prf(seed, first_nonce + i as u8)))
}

fn ntt_vector(vector: &mut PolyVec) {
    vector.iter_mut().for_each(Poly::ntt);
}

fn vector_to_bytes(vector: &PolyVec, out: &mut [u8]) {
    for (poly, chunk) in vector.iter().zip(out.chunks_exact_mut(POLY_BYTES)) {
        poly.to_bytes(chunk);
    }
}

/// CPAPKE key generation from the 32-byte seed d: (rho, sigma) = G(d), round 3 (no k byte).
pub(crate) fn generate(d: &[u8; 32]) -> ([u8; PUBLIC_KEY_LEN], Zeroizing<[u8; SECRET_KEY_LEN]>) {
    let rho_sigma = hash_g(&[d]);
    let (rho_bytes, sigma_bytes) = rho_sigma.split_at(32);
    let mut rho = [0u8; 32];
    rho.copy_from_slice(rho_bytes);
    let mut sigma = Zeroizing::new([0u8; 32]);
    sigma.copy_from_slice(sigma_bytes);

    let a = sample_matrix(&rho, false);
    let mut s_hat = sample_noise_vector(&sigma, 0);
    let mut e_hat = sample_noise_vector(&sigma, K_NONCE);
    ntt_vector(&mut s_hat);
    ntt_vector(&mut e_hat);

    let mut public_key = [0u8; PUBLIC_KEY_LEN];
    let (t_bytes, rho_out) = public_key.split_at_mut(VECTOR_BYTES);
    for ((row, e), chunk) in a
        .iter()
        .zip(&e_hat)
        .zip(t_bytes.chunks_exact_mut(POLY_BYTES))
    {
        let mut t = Poly::ntt_inner_product(row, &s_hat);
        t.add_assign(e);
        t.to_bytes(chunk);
    }
    rho_out.copy_from_slice(&rho);

    let mut secret_key = Zeroizing::new([0u8; SECRET_KEY_LEN]);
    vector_to_bytes(&s_hat, secret_key.as_mut_slice());
    (public_key, secret_key)
}

/// A parsed CPAPKE public key: t_hat and the matrix A^T that encryption needs.
pub(crate) struct PublicKey {
    t_hat: PolyVec,
    a_transposed: Matrix,
}

impl PublicKey {
    /// Parses a public key; `None` if any coefficient of t_hat is not below q (the modulus check
    /// FIPS 203 added; round-3 keys produced honestly always pass it).
    pub(crate) fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Option<Self> {
        let (t_bytes, rho_bytes) = bytes.split_at(VECTOR_BYTES);
        let mut t_polys = t_bytes
            .chunks_exact(POLY_BYTES)
            .map(Poly::from_canonical_bytes);
        let t_hat = [t_polys.next()??, t_polys.next()??, t_polys.next()??];
        let mut rho = [0u8; 32];
        rho.copy_from_slice(rho_bytes);
        Some(Self {
            t_hat,
            a_transposed: sample_matrix(&rho, true),
        })
    }

    /// Enc(pk, m, r): deterministic given the 32-byte coins `r`.
    pub(crate) fn encrypt(&self, message: &[u8; 32], coins: &[u8; 32]) -> [u8; CIPHERTEXT_LEN] {
        let mut r_hat = sample_noise_vector(coins, 0);
        let e1 = sample_noise_vector(coins, K_NONCE);
        let e2 = Poly::sample_cbd2(&prf(coins, 2 * K_NONCE));
        ntt_vector(&mut r_hat);

        let mut ciphertext = [0u8; CIPHERTEXT_LEN];
        let (u_bytes, v_bytes) = ciphertext.split_at_mut(U_BYTES);
        for ((row, e), chunk) in self
            .a_transposed
            .iter()
            .zip(&e1)
            .zip(u_bytes.chunks_exact_mut(U_POLY_BYTES))
        {
            let mut u = Poly::ntt_inner_product(row, &r_hat);
            u.inverse_ntt();
            u.add_assign(e);
            u.compress_into(DU, chunk);
        }
        let mut v = Poly::ntt_inner_product(&self.t_hat, &r_hat);
        v.inverse_ntt();
        v.add_assign(&e2);
        v.add_assign(&Poly::from_message(message));
        v.compress_into(DV, v_bytes);
        ciphertext
    }
}

/// The CPAPKE secret vector s_hat, decoded with reduction mod q like FIPS 203's ByteDecode_12.
pub(crate) struct SecretVector(PolyVec);

impl SecretVector {
    pub(crate) fn from_bytes(bytes: &[u8; SECRET_KEY_LEN]) -> Self {
        let mut polys = bytes.chunks_exact(POLY_BYTES).map(Poly::from_bytes_reduced);
        Self(core::array::from_fn(|_| {
            polys.next().unwrap_or_else(Poly::zero)
        }))
    }

    /// Dec(sk, c) = Compress_1(v - NTT^-1(s_hat . NTT(u))).
    pub(crate) fn decrypt(&self, ciphertext: &[u8; CIPHERTEXT_LEN]) -> Zeroizing<[u8; 32]> {
        let (u_bytes, v_bytes) = ciphertext.split_at(U_BYTES);
        let mut u_polys = u_bytes
            .chunks_exact(U_POLY_BYTES)
            .map(|c| Poly::decompress_from(c, DU));
        let mut u_hat: PolyVec =
            core::array::from_fn(|_| u_polys.next().unwrap_or_else(Poly::zero));
        ntt_vector(&mut u_hat);
        let mut w = Poly::ntt_inner_product(&self.0, &u_hat);
        w.inverse_ntt();
        let mut difference = Poly::decompress_from(v_bytes, DV);
        difference.sub_assign(&w);
        let mut message = Zeroizing::new([0u8; 32]);
        difference.to_message(&mut message);
        message
    }
}
