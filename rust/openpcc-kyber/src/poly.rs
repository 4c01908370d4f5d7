//! Polynomials of R_q = Z_q[X]/(X^256 + 1): the number-theoretic transform, the pointwise product
//! in the NTT domain, centered binomial sampling, compression and bit packing.
//!
//! Coefficients are always canonical (`[0, q)`). Loops run over fixed bounds only, so the
//! running time does not depend on coefficient values.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::field::{self, Q};

/// Coefficients per polynomial.
pub(crate) const N: usize = 256;
/// Bytes of a polynomial packed at 12 bits per coefficient.
pub(crate) const POLY_BYTES: usize = 384;

/// zeta = 17 is a primitive 256th root of unity mod q.
const ZETA: u16 = 17;
/// round(q / 2) = Decompress_1(1): how a message bit 1 is encoded.
const HALF_Q_ROUNDED: u16 = 1665;
/// 128^-1 mod q, the scale factor of the inverse transform.
const INV_128: u16 = 3303;

#[allow(clippy::cast_possible_truncation, reason = "i < 128")]
const fn bit_reverse_7(i: usize) -> u32 {
    ((i as u8).reverse_bits() >> 1) as u32
}

/// ZETAS[i] = 17^bitrev7(i): the twiddle factors, in the order the butterflies use them.
const ZETAS: [u16; 128] = {
    let mut table = [0u16; 128];
    let mut i = 0;
    while i < 128 {
        table[i] = field::const_pow(ZETA, bit_reverse_7(i));
        i += 1;
    }
    table
};

/// GAMMAS[i] = 17^(2 bitrev7(i) + 1): the NTT splits R_q into 128 factors Z_q[X]/(X^2 - GAMMAS[i]).
const GAMMAS: [u16; 128] = {
    let mut table = [0u16; 128];
    let mut i = 0;
    while i < 128 {
        table[i] = field::const_pow(ZETA, 2 * bit_reverse_7(i) + 1);
        i += 1;
    }
    table
};

/// A polynomial, in the normal or the NTT domain (the type does not say which; callers do).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Poly {
    pub(crate) coeffs: [u16; N],
}

impl Poly {
    pub(crate) const fn zero() -> Self {
        Self { coeffs: [0; N] }
    }

    pub(crate) fn add_assign(&mut self, other: &Self) {
        for (a, b) in self.coeffs.iter_mut().zip(&other.coeffs) {
            *a = field::add(*a, *b);
        }
    }

    pub(crate) fn sub_assign(&mut self, other: &Self) {
        for (a, b) in self.coeffs.iter_mut().zip(&other.coeffs) {
            *a = field::sub(*a, *b);
        }
    }

    /// Forward NTT (Cooley-Tukey butterflies), output in bit-reversed order.
    pub(crate) fn ntt(&mut self) {
        let mut zetas = ZETAS.iter().skip(1);
        let mut len = N / 2;
        while len >= 2 {
            for block in self.coeffs.chunks_exact_mut(2 * len) {
                let zeta = zetas.next().copied().unwrap_or(0);
                let (low, high) = block.split_at_mut(len);
                for (a, b) in low.iter_mut().zip(high.iter_mut()) {
                    let t = field::mul(zeta, *b);
                    *b = field::sub(*a, t);
                    *a = field::add(*a, t);
                }
            }
            len /= 2;
        }
    }

    /// Inverse NTT (Gentleman-Sande butterflies), including the 1/128 scaling.
    pub(crate) fn inverse_ntt(&mut self) {
        let mut zetas = ZETAS.iter().skip(1).rev();
        let mut len = 2;
        while len <= N / 2 {
            for block in self.coeffs.chunks_exact_mut(2 * len) {
                let zeta = zetas.next().copied().unwrap_or(0);
                let (low, high) = block.split_at_mut(len);
                for (a, b) in low.iter_mut().zip(high.iter_mut()) {
                    let t = *a;
                    *a = field::add(t, *b);
                    *b = field::mul(zeta, field::sub(*b, t));
                }
            }
            len *= 2;
        }
        for c in &mut self.coeffs {
            *c = field::mul(*c, INV_128);
        }
    }

    /// `sum_i a[i] * b[i]` in the NTT domain. Each factor of the NTT splitting is
    /// Z_q[X]/(X^2 - gamma), so a pair (c0, c1) takes a0 b0 + a1 b1 gamma and a0 b1 + a1 b0.
    /// Sums stay unreduced (each term is below 2 q^2) and are reduced once at the end.
    pub(crate) fn ntt_inner_product<const L: usize>(a: &[Self; L], b: &[Self; L]) -> Self {
        const { assert!(L <= 64, "unreduced sums must fit in u32") };
        let mut sums = [0u32; N];
        for (x, y) in a.iter().zip(b) {
            let pairs = sums
                .chunks_exact_mut(2)
                .zip(x.coeffs.chunks_exact(2))
                .zip(y.coeffs.chunks_exact(2))
                .zip(GAMMAS);
            for (((sum, x), y), gamma) in pairs {
                if let ([s0, s1], &[x0, x1], &[y0, y1]) = (sum, x, y) {
                    let (x0, x1, y0, y1) =
                        (u32::from(x0), u32::from(x1), u32::from(y0), u32::from(y1));
                    *s0 += x0 * y0 + u32::from(field::reduce(x1 * y1)) * u32::from(gamma);
                    *s1 += x0 * y1 + x1 * y0;
                }
            }
        }
        let mut product = Self::zero();
        for (coeff, sum) in product.coeffs.iter_mut().zip(&sums) {
            *coeff = field::reduce(*sum);
        }
        sums.zeroize();
        product
    }

    /// CBD with eta = 2 from 128 bytes of PRF output: each nibble `b0 b1 b2 b3` (low bit first)
    /// gives the coefficient `b0 + b1 - b2 - b3`.
    pub(crate) fn sample_cbd2(bytes: &[u8; 2 * N / 4]) -> Self {
        let mut poly = Self::zero();
        for (pair, byte) in poly.coeffs.chunks_exact_mut(2).zip(bytes) {
            for (coeff, nibble) in pair.iter_mut().zip([byte & 0x0f, byte >> 4]) {
                let plus = u16::from((nibble & 1) + ((nibble >> 1) & 1));
                let minus = u16::from(((nibble >> 2) & 1) + ((nibble >> 3) & 1));
                *coeff = field::sub(plus, minus);
            }
        }
        poly
    }

    /// Compress_d then pack at `d` bits per coefficient into `out` (32 d bytes).
    pub(crate) fn compress_into(&self, d: u32, out: &mut [u8]) {
        let compressed = self.coeffs.map(|c| compress(c, d));
        pack_bits(&compressed, d, out);
    }

    /// Unpack `d`-bit values from `bytes` (32 d bytes) then Decompress_d.
    pub(crate) fn decompress_from(bytes: &[u8], d: u32) -> Self {
        let mut poly = Self {
            coeffs: unpack_bits(bytes, d),
        };
        for c in &mut poly.coeffs {
            *c = decompress(*c, d);
        }
        poly
    }

    /// Encode_12 of canonical coefficients into 384 bytes.
    pub(crate) fn to_bytes(&self, out: &mut [u8]) {
        pack_bits(&self.coeffs, 12, out);
    }

    /// Decode_12 of 384 bytes, or `None` if a coefficient is not below q (public inputs only).
    pub(crate) fn from_canonical_bytes(bytes: &[u8]) -> Option<Self> {
        let poly = Self {
            coeffs: unpack_bits(bytes, 12),
        };
        poly.coeffs.iter().all(|&c| c < Q).then_some(poly)
    }

    /// Decode_12 of 384 bytes with every coefficient reduced mod q, as FIPS 203's ByteDecode_12
    /// does; used for the secret vector, which must not be inspected with branches.
    pub(crate) fn from_bytes_reduced(bytes: &[u8]) -> Self {
        let mut poly = Self {
            coeffs: unpack_bits(bytes, 12),
        };
        for c in &mut poly.coeffs {
            *c = field::reduce(u32::from(*c));
        }
        poly
    }

    /// Decompress_1 of a 32-byte message: bit 1 becomes round(q/2) = 1665.
    pub(crate) fn from_message(message: &[u8; 32]) -> Self {
        let mut poly = Self {
            coeffs: unpack_bits(message, 1),
        };
        for c in &mut poly.coeffs {
            *c = 0u16.wrapping_sub(*c) & HALF_Q_ROUNDED;
        }
        poly
    }

    /// Compress_1 into a 32-byte message.
    pub(crate) fn to_message(&self, out: &mut [u8; 32]) {
        self.compress_into(1, out);
    }
}

/// Compress_d(x) = round(2^d x / q) mod 2^d, as floor((2^d x + (q-1)/2) / q), division-free.
#[allow(clippy::cast_possible_truncation, reason = "masked to d <= 12 bits")]
fn compress(x: u16, d: u32) -> u16 {
    let numerator = (u32::from(x) << d) + u32::from(Q / 2);
    (field::divmod_q(numerator).0 & ((1 << d) - 1)) as u16
}

/// Decompress_d(y) = round(q y / 2^d).
#[allow(clippy::cast_possible_truncation, reason = "the result is below q")]
fn decompress(y: u16, d: u32) -> u16 {
    ((u32::from(y) * u32::from(Q) + (1 << (d - 1))) >> d) as u16
}

/// Packs 256 values of `d` bits each, least significant bit first, into `out` (32 d bytes).
#[allow(
    clippy::cast_possible_truncation,
    reason = "one byte is taken at a time"
)]
fn pack_bits(values: &[u16; N], d: u32, out: &mut [u8]) {
    let mut out_bytes = out.iter_mut();
    let (mut buffer, mut buffered_bits) = (0u32, 0u32);
    for &value in values {
        buffer |= u32::from(value) << buffered_bits;
        buffered_bits += d;
        while buffered_bits >= 8 {
            if let Some(byte) = out_bytes.next() {
                *byte = buffer as u8;
            }
            buffer >>= 8;
            buffered_bits -= 8;
        }
    }
    buffer.zeroize();
}

/// Unpacks 256 values of `d` bits each from `bytes` (32 d bytes), the inverse of [`pack_bits`].
#[allow(clippy::cast_possible_truncation, reason = "masked to d <= 12 bits")]
fn unpack_bits(bytes: &[u8], d: u32) -> [u16; N] {
    let mut values = [0u16; N];
    let mut slots = values.iter_mut();
    let (mut buffer, mut buffered_bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer |= u32::from(byte) << buffered_bits;
        buffered_bits += 8;
        while buffered_bits >= d {
            if let Some(slot) = slots.next() {
                *slot = (buffer & ((1 << d) - 1)) as u16;
            }
            buffer >>= d;
            buffered_bits -= d;
        }
    }
    buffer.zeroize();
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random_poly(seed: u32) -> Poly {
        let mut poly = Poly::zero();
        let mut state = seed;
        for c in &mut poly.coeffs {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *c = field::reduce(state >> 8);
        }
        poly
    }

    /// Schoolbook multiplication in Z_q[X]/(X^256 + 1), the reference the NTT path must match.
    fn schoolbook(a: &Poly, b: &Poly) -> Poly {
        let mut out = Poly::zero();
        for (i, &ai) in a.coeffs.iter().enumerate() {
            for (j, &bj) in b.coeffs.iter().enumerate() {
                let product = field::mul(ai, bj);
                let k = (i + j) % N;
                out.coeffs[k] = if i + j < N {
                    field::add(out.coeffs[k], product)
                } else {
                    field::sub(out.coeffs[k], product)
                };
            }
        }
        out
    }

    #[test]
    fn twiddle_tables_start_where_the_spec_says() {
        assert_eq!(&ZETAS[..4], &[1, 1729, 2580, 3289]);
        assert_eq!(&GAMMAS[..4], &[17, 3312, 2761, 568]);
    }

    #[test]
    fn inverse_ntt_undoes_ntt() {
        let original = pseudo_random_poly(7);
        let mut poly = original.clone();
        poly.ntt();
        assert_ne!(poly.coeffs, original.coeffs);
        poly.inverse_ntt();
        assert_eq!(poly.coeffs, original.coeffs);
    }

    #[test]
    fn ntt_product_is_negacyclic_multiplication() {
        let (a, b) = (pseudo_random_poly(1), pseudo_random_poly(2));
        let (mut a_hat, mut b_hat) = (a.clone(), b.clone());
        a_hat.ntt();
        b_hat.ntt();
        let mut product = Poly::ntt_inner_product(&[a_hat], &[b_hat]);
        product.inverse_ntt();
        assert_eq!(product.coeffs, schoolbook(&a, &b).coeffs);
    }

    #[test]
    fn ntt_inner_product_is_the_sum_of_products() {
        let a = [10, 11, 12].map(pseudo_random_poly);
        let b = [20, 21, 22].map(pseudo_random_poly);
        let mut expected = Poly::zero();
        for (x, y) in a.iter().zip(&b) {
            expected.add_assign(&schoolbook(x, y));
        }
        let (mut a_hat, mut b_hat) = (a.clone(), b.clone());
        a_hat.iter_mut().chain(b_hat.iter_mut()).for_each(Poly::ntt);
        let mut product = Poly::ntt_inner_product(&a_hat, &b_hat);
        product.inverse_ntt();
        assert_eq!(product.coeffs, expected.coeffs);
    }

    #[test]
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "small positive"
    )]
    fn compression_rounds_to_nearest_and_decompression_inverts_it_within_bound() {
        for d in [1u32, 4, 10, 11] {
            for x in 0..Q {
                let exact = f64::from(x) * f64::from(1u32 << d) / f64::from(Q);
                let expected = (exact + 0.5).floor() as u32 % (1 << d);
                let y = compress(x, d);
                assert_eq!(u32::from(y), expected, "compress({x}, {d})");
                let back = i32::from(decompress(y, d));
                let distance = (back - i32::from(x)).rem_euclid(i32::from(Q));
                let distance = distance.min(i32::from(Q) - distance);
                assert!(
                    distance <= (i32::from(Q) + (1 << (d + 1)) - 1) >> (d + 1),
                    "d={d} x={x}"
                );
            }
        }
    }

    #[test]
    fn bit_packing_round_trips() {
        for d in [1u32, 4, 10, 12] {
            let values = pseudo_random_poly(d).coeffs.map(|c| c & ((1 << d) - 1));
            let mut bytes = vec![0u8; 32 * d as usize];
            pack_bits(&values, d, &mut bytes);
            assert_eq!(unpack_bits(&bytes, d), values);
        }
    }

    #[test]
    fn canonical_decoding_rejects_a_coefficient_equal_to_q() {
        let mut bytes = [0u8; POLY_BYTES];
        bytes[0] = 0x01; // first coefficient 3329 = 0xd01
        bytes[1] = 0x0d;
        assert!(Poly::from_canonical_bytes(&bytes).is_none());
        assert_eq!(Poly::from_bytes_reduced(&bytes).coeffs[0], 0);
        bytes[0] = 0x00; // 3328 is fine
        bytes[1] = 0x0d;
        assert!(Poly::from_canonical_bytes(&bytes).is_some());
    }
}
