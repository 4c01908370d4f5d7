//! A bounds-checked little cursor over untrusted bytes, shared by the binary evidence parsers.

/// Why a read failed: the input ended before the field did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShortRead {
    /// Offset in the input where the field started.
    pub(crate) offset: usize,
    /// How many bytes the field needed.
    pub(crate) wanted: usize,
}

/// Reads fields front to back; every read checks the remaining length first, so a declared
/// size larger than the input fails without allocating.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], ShortRead> {
        let short = ShortRead {
            offset: self.pos,
            wanted: len,
        };
        let end = self.pos.checked_add(len).ok_or(short)?;
        let out = self.data.get(self.pos..end).ok_or(short)?;
        self.pos = end;
        Ok(out)
    }

    /// Takes `len` bytes where `len` came from the input as a wider integer.
    pub(crate) fn take_u64_len(&mut self, len: u64) -> Result<&'a [u8], ShortRead> {
        let short = ShortRead {
            offset: self.pos,
            wanted: usize::MAX,
        };
        let len = usize::try_from(len).map_err(|_| short)?;
        self.take(len)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ShortRead> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ShortRead> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16_le(&mut self) -> Result<u16, ShortRead> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, ShortRead> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, ShortRead> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn u24_le(&mut self) -> Result<u32, ShortRead> {
        let [a, b, c] = self.array::<3>()?;
        Ok(u32::from_le_bytes([a, b, c, 0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_lengths_fail_without_allocating() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(r.take(usize::MAX).is_err());
        assert!(r.take_u64_len(u64::MAX).is_err());
        assert_eq!(r.take(2).unwrap(), &[1, 2]);
        assert_eq!(r.remaining(), 1);
    }
}
