//! QUIC variable-length integers (RFC 9000 §16), the chunk length prefix of chunked OHTTP.

use crate::Error;

/// The largest value a varint can hold (2^62 - 1).
pub const MAX: u64 = (1 << 62) - 1;

/// Number of bytes of the shortest encoding of `v` (values above [`MAX`] count as 8; `encode` rejects them).
#[must_use]
pub fn encoded_len(v: u64) -> usize {
    match v {
        0..=0x3f => 1,
        0x40..=0x3fff => 2,
        0x4000..=0x3fff_ffff => 4,
        _ => 8,
    }
}

/// Appends the shortest encoding of `v`.
///
/// # Panics
/// Never for `v <= MAX`; larger values are a caller bug (chunk lengths are far below it) and are
/// clamped by a debug assertion only.
pub fn encode(v: u64, out: &mut Vec<u8>) {
    debug_assert!(v <= MAX, "varint out of range");
    let v = v & MAX;
    match encoded_len(v) {
        1 => out.push(v.to_be_bytes()[7]),
        2 => out.extend_from_slice(&(u16::try_from(v).unwrap_or(0) | 0x4000).to_be_bytes()),
        4 => out.extend_from_slice(&(u32::try_from(v).unwrap_or(0) | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

/// Decodes one varint from the start of `buf`.
///
/// `Ok(None)` when `buf` holds too few bytes yet; `Ok(Some((value, consumed)))` otherwise.
/// Non-shortest encodings are accepted, as RFC 9000 allows.
pub fn decode(buf: &[u8]) -> Result<Option<(u64, usize)>, Error> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let len = 1usize << (first >> 6);
    let Some(bytes) = buf.get(..len) else {
        return Ok(None);
    };
    let mut value = u64::from(first & 0x3f);
    for &b in bytes.iter().skip(1) {
        value = (value << 8) | u64::from(b);
    }
    Ok(Some((value, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out);
        out
    }

    #[test]
    fn rfc9000_examples() {
        // RFC 9000 Appendix A.1 sample encodings.
        let cases: [(&str, u64); 4] = [
            ("c2197c5eff14e88c", 151_288_809_941_952_652),
            ("9d7f3e7d", 494_878_333),
            ("7bbd", 15_293),
            ("25", 37),
        ];
        for (hex_str, v) in cases {
            let bytes = hex::decode(hex_str).unwrap();
            assert_eq!(decode(&bytes).unwrap(), Some((v, bytes.len())));
            assert_eq!(enc(v), bytes);
        }
        // Non-shortest form of 37 decodes too.
        assert_eq!(decode(&[0x40, 0x25]).unwrap(), Some((37, 2)));
    }

    #[test]
    fn boundaries_round_trip() {
        for v in [0, 63, 64, 16383, 16384, (1 << 30) - 1, 1 << 30, MAX] {
            let bytes = enc(v);
            assert_eq!(bytes.len(), encoded_len(v));
            assert_eq!(decode(&bytes).unwrap(), Some((v, bytes.len())));
        }
    }

    #[test]
    fn short_input_needs_more() {
        assert_eq!(decode(&[]).unwrap(), None);
        assert_eq!(decode(&[0x40]).unwrap(), None);
        assert_eq!(decode(&[0x80, 0, 0]).unwrap(), None);
        assert_eq!(decode(&[0xc0, 0, 0, 0, 0, 0, 0]).unwrap(), None);
    }
}
