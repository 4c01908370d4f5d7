//! Arithmetic in Z_q, q = 3329, on canonical representatives in `[0, q)`.
//!
//! Every operation here may see secret values, so none uses a branch, a table lookup or a
//! division instruction on its operands (the KyberSlash timing leak came from `/ q`):
//! reduction is Barrett-style multiply-and-shift followed by a masked conditional subtraction.

/// The Kyber modulus.
pub(crate) const Q: u16 = 3329;
const Q32: u32 = Q as u32;
/// floor(2^32 / q): `(x * BARRETT) >> 32` is floor(x / q) or one less, for every u32 `x`.
const BARRETT: u64 = (1u64 << 32) / Q as u64;

/// Returns `(x / q, x mod q)` for any `x`, in constant time.
#[allow(
    clippy::cast_possible_truncation,
    reason = "x * BARRETT < 2^53, so the shifted product fits in 32 bits"
)]
pub(crate) fn divmod_q(x: u32) -> (u32, u32) {
    let quotient = ((u64::from(x) * BARRETT) >> 32) as u32;
    let remainder = x - quotient * Q32; // in [0, 2q) because the estimate is at most one short
    let fix = (Q32 - 1).wrapping_sub(remainder) >> 31; // 1 exactly when remainder >= q
    (quotient + fix, remainder - fix * Q32)
}

/// Maps `x` in `[0, 2q)` to `[0, q)`.
#[allow(clippy::cast_possible_truncation, reason = "the result is below q")]
fn subtract_q_if_needed(x: u32) -> u16 {
    let t = x.wrapping_sub(Q32);
    let borrow_mask = 0u32.wrapping_sub(t >> 31); // all ones when x < q
    t.wrapping_add(borrow_mask & Q32) as u16
}

/// Reduces any u32 to `[0, q)`.
#[allow(
    clippy::cast_possible_truncation,
    reason = "a remainder mod q is below q"
)]
pub(crate) fn reduce(x: u32) -> u16 {
    divmod_q(x).1 as u16
}

pub(crate) fn add(a: u16, b: u16) -> u16 {
    subtract_q_if_needed(u32::from(a) + u32::from(b))
}

pub(crate) fn sub(a: u16, b: u16) -> u16 {
    subtract_q_if_needed(u32::from(a) + Q32 - u32::from(b))
}

pub(crate) fn mul(a: u16, b: u16) -> u16 {
    reduce(u32::from(a) * u32::from(b))
}

/// `base^exponent mod q`, for building the constant tables at compile time.
#[allow(clippy::cast_possible_truncation, reason = "values stay below q")]
pub(crate) const fn const_pow(base: u16, mut exponent: u32) -> u16 {
    let mut result: u32 = 1;
    let mut square = base as u32 % Q32;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = result * square % Q32;
        }
        square = square * square % Q32;
        exponent >>= 1;
    }
    result as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divmod_matches_integer_division_at_the_edges_and_on_a_sweep() {
        let edges = [
            0,
            1,
            3328,
            3329,
            3330,
            6657,
            6658,
            u32::MAX,
            u32::MAX - 1,
            1 << 31,
        ];
        let sweep = (0..2_000_000u32).map(|i| i.wrapping_mul(2_654_435_761));
        for x in edges.into_iter().chain(sweep) {
            assert_eq!(divmod_q(x), (x / Q32, x % Q32), "x = {x}");
        }
    }

    #[test]
    fn add_sub_mul_agree_with_plain_modular_arithmetic() {
        for a in (0..Q).step_by(7) {
            for b in (0..Q).step_by(13) {
                let (wa, wb) = (u32::from(a), u32::from(b));
                assert_eq!(u32::from(add(a, b)), (wa + wb) % Q32);
                assert_eq!(u32::from(sub(a, b)), (wa + Q32 - wb) % Q32);
                assert_eq!(u32::from(mul(a, b)), wa * wb % Q32);
            }
        }
    }
}
