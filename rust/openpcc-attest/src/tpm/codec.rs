//! Big-endian TPM 2.0 wire reader: every read is bounds-checked and names the field it reads.

use super::TpmError;

/// A cursor over TPM-marshalled bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn consumed(&self) -> &'a [u8] {
        self.buf.get(..self.pos).unwrap_or_default()
    }

    pub(crate) fn bytes(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], TpmError> {
        let end = self
            .pos
            .checked_add(len)
            .ok_or(TpmError::Truncated(field))?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or(TpmError::Truncated(field))?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], TpmError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, TpmError> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, TpmError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, TpmError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, TpmError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A `TPM2B_*`: a 16-bit size, then that many bytes.
    pub(crate) fn tpm2b(&mut self, field: &'static str) -> Result<&'a [u8], TpmError> {
        let len = self.u16(field)?;
        self.bytes(usize::from(len), field)
    }

    /// Fails when bytes remain: every TPM structure here has an exact length.
    pub(crate) fn finish(self) -> Result<(), TpmError> {
        let left = self.buf.len().saturating_sub(self.pos);
        if left == 0 {
            Ok(())
        } else {
            Err(TpmError::TrailingBytes(left))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_rejects_short_and_trailing() {
        let mut r = Reader::new(&[0, 2, 0xaa, 0xbb, 1]);
        assert_eq!(r.tpm2b("x").unwrap(), &[0xaa, 0xbb]);
        assert_eq!(r.u16("y"), Err(TpmError::Truncated("y")));
        let mut r = Reader::new(&[0, 2, 0xaa, 0xbb, 1]);
        r.tpm2b("x").unwrap();
        assert_eq!(r.finish(), Err(TpmError::TrailingBytes(1)));
    }
}
