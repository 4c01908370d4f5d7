//! Refunds where the reference puts them (spec §1.3, §1.4, §5.3–§5.4): the node reports the unused credit as
//! the plaintext trailer `X-Refund-Amount: b64(Currency proto)` of its *outer* HTTP response, which the router
//! reads, strips and turns into an `X-Refund` credit for the client. Never inside the encrypted response:
//! no router could read it there.
//!
//! The amount is rounded **down** to a coarse step so that it tells the router little about how many tokens
//! were used (the router knows the credit amount, so `credit − refund` is the usage): at most
//! `significant_bits` leading bits of the amount are kept (5 = the currency's own representable values,
//! spec §8.1; fewer = coarser). Rounding down means a node never reports more than it owes.
//! What the router still learns is described in `docs/refunds.md`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use prost::Message as _;

use crate::proto::Currency;
use crate::Error;

/// The node's outer trailer (announce it with `Trailer: X-Refund-Amount` in the outer response head).
pub const REFUND_AMOUNT_TRAILER: &str = "X-Refund-Amount";
/// The largest currency amount: `E = 31`, `M = 15` → `31 × 2^30`.
pub const MAX_AMOUNT: u64 = 31 << 30;
/// Significant bits of a currency value (a 4-bit mantissa plus its implicit leading bit).
pub const CURRENCY_SIGNIFICANT_BITS: u32 = 5;

/// A non-special currency value (spec §8.1): a 9-bit number, 5-bit biased exponent and 4-bit mantissa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencyValue(u16);

impl CurrencyValue {
    /// The value of `amount` if it is representable exactly (`< 16`, or at most 5 significant bits).
    pub fn exact(amount: u64) -> Result<Self, Error> {
        if amount > MAX_AMOUNT {
            return Err(Error::InvalidArgument("currency amount above the maximum"));
        }
        if amount < 16 {
            return Ok(Self(u16::try_from(amount).unwrap_or_default()));
        }
        let bits = bit_len(amount);
        if bits - amount.trailing_zeros() > CURRENCY_SIGNIFICANT_BITS {
            return Err(Error::InvalidArgument(
                "currency amount has more than 5 significant bits",
            ));
        }
        let exponent = u16::try_from(bits - 4).unwrap_or_default(); // bits <= 35: 1..=31
        let mantissa = u16::try_from((amount >> (bits - 5)) & 0xF).unwrap_or_default();
        Ok(Self((exponent << 4) | mantissa))
    }

    /// Parses the two "blind bytes" of the wire form; special values (shift flag set) are refused.
    pub fn from_blind_bytes(bytes: &[u8]) -> Result<Self, Error> {
        match *bytes {
            [hi @ (0 | 2), lo] => Ok(Self((u16::from(hi) << 7) | u16::from(lo))),
            [1 | 3, _] => Err(Error::Malformed("currency: special value, not an amount")),
            _ => Err(Error::Malformed("currency blind bytes")),
        }
    }

    /// The amount this value stands for.
    #[must_use]
    pub fn amount(self) -> u64 {
        let exponent = u64::from(self.0 >> 4);
        let mantissa = u64::from(self.0 & 0xF);
        if exponent == 0 {
            mantissa
        } else {
            (mantissa | 0x10) << (exponent - 1)
        }
    }

    /// The wire form: `(bit 8 << 1) | shift`, then the low 8 bits.
    #[must_use]
    pub fn blind_bytes(self) -> [u8; 2] {
        let [hi, lo] = self.0.to_be_bytes();
        [hi << 1, lo]
    }
}

fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

/// `amount` rounded down to at most `significant_bits` (1..=5) leading bits, and to [`MAX_AMOUNT`].
pub fn round_down(amount: u64, significant_bits: u32) -> Result<u64, Error> {
    if !(1..=CURRENCY_SIGNIFICANT_BITS).contains(&significant_bits) {
        return Err(Error::InvalidArgument("significant bits must be 1..=5"));
    }
    let amount = amount.min(MAX_AMOUNT);
    let drop = bit_len(amount).saturating_sub(significant_bits);
    Ok((amount >> drop) << drop)
}

/// The value of the outer `X-Refund-Amount` trailer for a refund of `amount` (the unused credit the node
/// computed), rounded down to `significant_bits` (5: the currency's own steps; fewer: coarser). Returns the
/// rounded amount and the trailer value; an amount that rounds to 0 gives an empty value, which the router
/// reads as "no refund".
pub fn refund_amount_trailer(amount: u64, significant_bits: u32) -> Result<(u64, String), Error> {
    let rounded = round_down(amount, significant_bits)?;
    if rounded == 0 {
        return Ok((0, String::new()));
    }
    let currency = Currency {
        currency: Some(CurrencyValue::exact(rounded)?.blind_bytes().to_vec()),
    };
    Ok((rounded, STANDARD.encode(currency.encode_to_vec())))
}

/// Router side (and tests): the refund amount an `X-Refund-Amount` trailer value carries, 0 when empty.
pub fn parse_refund_amount_trailer(value: &str) -> Result<u64, Error> {
    if value.is_empty() {
        return Ok(0);
    }
    let bytes = STANDARD
        .decode(value)
        .map_err(|_| Error::Malformed("refund trailer: not base64"))?;
    let currency = Currency::decode(bytes.as_slice())
        .map_err(|_| Error::Malformed("refund trailer: not a Currency"))?;
    let blind = currency
        .currency
        .ok_or(Error::Malformed("refund trailer: empty Currency"))?;
    Ok(CurrencyValue::from_blind_bytes(&blind)?.amount())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_worked_values() {
        // spec §8.1 table
        for (amount, bytes) in [
            (10u64, [0x00, 0x0a]),
            (16, [0x00, 0x10]),
            (262_144, [0x00, 0xf0]),
            (2_621_440, [0x02, 0x24]),
        ] {
            let v = CurrencyValue::exact(amount).unwrap();
            assert_eq!(v.blind_bytes(), bytes, "{amount}");
            assert_eq!(
                CurrencyValue::from_blind_bytes(&bytes).unwrap().amount(),
                amount
            );
        }
        assert_eq!(
            CurrencyValue::exact(MAX_AMOUNT).unwrap().amount(),
            MAX_AMOUNT
        );
        assert!(CurrencyValue::exact(33).is_err());
        assert!(CurrencyValue::exact(MAX_AMOUNT + 1).is_err());
        assert!(CurrencyValue::from_blind_bytes(&[1, 0]).is_err());
        assert!(CurrencyValue::from_blind_bytes(&[4, 0]).is_err());
    }

    #[test]
    fn every_value_round_trips_through_its_blind_bytes() {
        for raw in 0u16..512 {
            let v = CurrencyValue(raw);
            let bytes = v.blind_bytes();
            assert_eq!(CurrencyValue::from_blind_bytes(&bytes).unwrap(), v);
            if raw >= 16 {
                assert_eq!(CurrencyValue::exact(v.amount()).unwrap(), v, "{raw}");
            }
        }
    }

    #[test]
    fn rounding_is_down_to_a_representable_value() {
        for amount in (0..5000u64).chain([262_143, 1 << 40]) {
            for bits in 1..=5 {
                let r = round_down(amount, bits).unwrap();
                assert!(r <= amount);
                assert!(CurrencyValue::exact(r).is_ok(), "{amount} {bits}");
                // the largest such value: the next step up would exceed the amount
                let step = 1u64 << bit_len(r).saturating_sub(bits);
                assert!(r + step > amount.min(MAX_AMOUNT), "{amount} {bits}");
            }
        }
        assert_eq!(round_down(31, 5).unwrap(), 31);
        assert_eq!(round_down(33, 5).unwrap(), 32);
        assert_eq!(round_down(261_144, 5).unwrap(), 253_952);
        assert_eq!(round_down(261_144, 1).unwrap(), 131_072);
        assert!(round_down(1, 0).is_err() && round_down(1, 6).is_err());
    }

    #[test]
    fn trailer_values() {
        assert_eq!(refund_amount_trailer(0, 5).unwrap(), (0, String::new()));
        // Currency{currency: 00 f0} = 0a 02 00 f0
        assert_eq!(
            refund_amount_trailer(262_150, 5).unwrap(),
            (262_144, "CgIA8A==".to_owned())
        );
        let (rounded, value) = refund_amount_trailer(1000, 3).unwrap();
        assert_eq!(rounded, 896);
        assert_eq!(parse_refund_amount_trailer(&value).unwrap(), 896);
        assert_eq!(parse_refund_amount_trailer("").unwrap(), 0);
        assert!(parse_refund_amount_trailer("!!").is_err());
        assert!(parse_refund_amount_trailer("CgIBAA==").is_err()); // special value 01 00
    }
}
