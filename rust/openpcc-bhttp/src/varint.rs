//! QUIC variable-length integers (RFC 9000 §16), the length and number encoding of RFC 9292.
//!
//! The two top bits of the first byte give the length (1, 2, 4 or 8 bytes), the rest is a
//! big-endian number. Encoders emit the shortest form, as the reference does; decoders accept any
//! form, because RFC 9000 does not require the shortest one.

/// The largest value a varint can carry, 2^62 - 1.
pub const MAX: u64 = (1 << 62) - 1;

/// The number of bytes the shortest encoding of `value` takes. Values above [`MAX`] report 8;
/// [`write()`] refuses them.
#[must_use]
pub fn encoded_len(value: u64) -> usize {
    match value {
        0..=63 => 1,
        64..=16_383 => 2,
        16_384..=1_073_741_823 => 4,
        _ => 8,
    }
}

/// Appends the shortest encoding of `value`. Returns `false` (and writes nothing) above [`MAX`].
#[must_use]
pub fn write(out: &mut Vec<u8>, value: u64) -> bool {
    match encoded_len(value) {
        1 => out.push(low_byte(value)),
        2 => out.extend_from_slice(&(u16::try_from(value).unwrap_or(0) | 0x4000).to_be_bytes()),
        4 => {
            out.extend_from_slice(&(u32::try_from(value).unwrap_or(0) | 0x8000_0000).to_be_bytes());
        }
        _ if value <= MAX => out.extend_from_slice(&(value | 0xC000_0000_0000_0000).to_be_bytes()),
        _ => return false,
    }
    true
}

fn low_byte(value: u64) -> u8 {
    value.to_be_bytes()[7]
}

/// Reads one varint at the start of `input`: `Some((value, bytes used))`, or `None` when the input
/// ends inside it. Every byte pattern is a valid varint, so there is no error case.
#[must_use]
pub fn read(input: &[u8]) -> Option<(u64, usize)> {
    let first = *input.first()?;
    let len = 1usize << (first >> 6);
    let bytes = input.get(..len)?;
    let mut value = u64::from(first & 0x3F);
    for &b in bytes.get(1..).unwrap_or_default() {
        value = (value << 8) | u64::from(b);
    }
    Some((value, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 9000 Appendix A.1 examples.
    #[test]
    fn rfc9000_examples() {
        let cases: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, value) in cases {
            assert_eq!(read(bytes), Some((value, bytes.len())));
            let mut out = Vec::new();
            assert!(write(&mut out, value));
            assert_eq!(out, bytes);
        }
        // The non-shortest two-byte form of 37 is accepted on decode.
        assert_eq!(read(&[0x40, 0x25]), Some((37, 2)));
    }

    #[test]
    fn boundaries() {
        for (value, len) in [
            (0, 1),
            (63, 1),
            (64, 2),
            (16_383, 2),
            (16_384, 4),
            (1_073_741_823, 4),
            (1_073_741_824, 8),
            (MAX, 8),
        ] {
            let mut out = Vec::new();
            assert!(write(&mut out, value));
            assert_eq!(out.len(), len, "{value}");
            assert_eq!(encoded_len(value), len);
            assert_eq!(read(&out), Some((value, len)));
            assert_eq!(read(&out[..len - 1]), None);
        }
        assert!(!write(&mut Vec::new(), MAX + 1));
        assert_eq!(read(&[]), None);
    }
}
