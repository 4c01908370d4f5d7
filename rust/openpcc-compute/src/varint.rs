//! QUIC variable-length integers (RFC 9000 §16), as twoway and BHTTP frame their lengths.

use crate::Error;

/// Largest value a varint can carry.
pub const MAX: u64 = (1 << 62) - 1;

/// Appends `v` in its shortest form. `v` must be at most [`MAX`] (every length here is far below it).
#[allow(clippy::cast_possible_truncation)] // each arm's value fits the width `encoded_len` chose
pub fn encode(v: u64, out: &mut Vec<u8>) {
    match encoded_len(v) {
        1 => out.push(v as u8),
        2 => out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes()),
        4 => out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(v | 0xC000_0000_0000_0000).to_be_bytes()),
    }
}

/// Appends `v` in a fixed `len`-byte form (1, 2, 4 or 8), shortest or not.
pub(crate) fn encode_with_len(v: u64, len: usize, out: &mut Vec<u8>) {
    let prefix: u64 = match len {
        1 => 0,
        2 => 0b01,
        4 => 0b10,
        _ => 0b11,
    };
    let all = (prefix << (8 * len - 2)) | v;
    out.extend_from_slice(&all.to_be_bytes()[8 - len..]);
}

/// Bytes of the shortest form of `v`.
#[must_use]
pub fn encoded_len(v: u64) -> usize {
    match v {
        0..=63 => 1,
        64..=16_383 => 2,
        16_384..=1_073_741_823 => 4,
        _ => 8,
    }
}

/// A decoded varint: its value, how many bytes it took, and whether that was the shortest form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The value.
    pub value: u64,
    /// Bytes consumed.
    pub len: usize,
    /// True when `len` is the shortest encoding of `value`.
    pub minimal: bool,
}

/// Decodes a varint at the start of `buf`; `Ok(None)` when `buf` holds too few bytes yet.
pub fn decode(buf: &[u8]) -> Result<Option<Decoded>, Error> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let len = 1usize << (first >> 6);
    let Some(bytes) = buf.get(..len) else { return Ok(None) };
    let mut value = u64::from(first & 0x3F);
    for &b in bytes.get(1..).unwrap_or_default() {
        value = (value << 8) | u64::from(b);
    }
    Ok(Some(Decoded { value, len, minimal: encoded_len(value) == len }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9000_examples() {
        for (hex_in, v) in [("c2197c5eff14e88c", 151_288_809_941_952_652u64), ("9d7f3e7d", 494_878_333), ("7bbd", 15_293), ("25", 37)] {
            let bytes = hex::decode(hex_in).unwrap();
            let d = decode(&bytes).unwrap().unwrap();
            assert_eq!((d.value, d.len, d.minimal), (v, bytes.len(), true));
            let mut out = Vec::new();
            encode(v, &mut out);
            assert_eq!(out, bytes);
        }
        // RFC 9000 §A.1: 0x4025 is 37 in a two-byte, non-minimal form.
        let d = decode(&[0x40, 0x25]).unwrap().unwrap();
        assert_eq!((d.value, d.len, d.minimal), (37, 2, false));
        assert_eq!(decode(&[0x40]).unwrap(), None);
        let mut out = Vec::new();
        encode_with_len(37, 2, &mut out);
        assert_eq!(out, [0x40, 0x25]);
    }
}
