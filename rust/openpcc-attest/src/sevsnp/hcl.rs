//! The Azure confidential-VM "HCL report" (read from the vTPM NV index 0x01400001): a 32-byte
//! header with magic `HCLA`, the hardware report in a fixed 1184-byte area at 0x20 (an SNP report,
//! or a 1024-byte TDREPORT followed by zeros), then the runtime-data header at 0x4C0
//! (`data_size, version, report_type, hash_type, variable_data_size`, u32 LE) and the runtime
//! data (a JSON document). The hardware report's `REPORT_DATA` starts with the hash of that
//! runtime data; the rest of `REPORT_DATA` is zero.

use sha2::{Digest as _, Sha256, Sha384, Sha512};

use super::SevSnpError;

/// Magic at offset 0.
pub const MAGIC: &[u8; 4] = b"HCLA";
const REPORT_OFFSET: usize = 0x20;
const REPORT_AREA_LEN: usize = 0x4A0;
const RUNTIME_HEADER_OFFSET: usize = REPORT_OFFSET + REPORT_AREA_LEN;
const RUNTIME_HEADER_LEN: usize = 20;
/// Bound on the runtime data (Azure's NV index is 2600 bytes in total).
const MAX_RUNTIME_DATA: usize = 1 << 16;

/// `report_type` of an SNP report.
pub const REPORT_TYPE_SNP: u32 = 2;
/// `report_type` of a TDX TDREPORT.
pub const REPORT_TYPE_TDX: u32 = 4;

/// A parsed HCL report.
#[derive(Clone, Debug)]
pub struct HclReport<'a> {
    /// The 1184-byte hardware report area.
    pub report_area: &'a [u8],
    /// 2 = SNP, 4 = TDX.
    pub report_type: u32,
    /// 1 = SHA-256, 2 = SHA-384, 3 = SHA-512.
    pub hash_type: u32,
    /// The runtime data (JSON) the report data binds.
    pub runtime_data: &'a [u8],
}

/// Whether the bytes start with the HCL magic.
#[must_use]
pub fn is_hcl(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, SevSnpError> {
    let b = bytes
        .get(at..at + 4)
        .ok_or(SevSnpError::Hcl("truncated runtime header"))?;
    let mut x = [0u8; 4];
    x.copy_from_slice(b);
    Ok(u32::from_le_bytes(x))
}

/// Parses the wrapper. Bytes after the runtime data must be zero (NV-index padding).
pub fn parse(bytes: &[u8]) -> Result<HclReport<'_>, SevSnpError> {
    if !is_hcl(bytes) {
        return Err(SevSnpError::Hcl("missing HCLA magic"));
    }
    let report_area = bytes
        .get(REPORT_OFFSET..RUNTIME_HEADER_OFFSET)
        .ok_or(SevSnpError::Hcl("truncated hardware report"))?;
    let data_size = u32_at(bytes, RUNTIME_HEADER_OFFSET)?;
    let report_type = u32_at(bytes, RUNTIME_HEADER_OFFSET + 8)?;
    let hash_type = u32_at(bytes, RUNTIME_HEADER_OFFSET + 12)?;
    let var_size = usize::try_from(u32_at(bytes, RUNTIME_HEADER_OFFSET + 16)?)
        .map_err(|_| SevSnpError::Hcl("runtime data too large"))?;
    if var_size > MAX_RUNTIME_DATA {
        return Err(SevSnpError::Hcl("runtime data too large"));
    }
    if usize::try_from(data_size).ok() != Some(var_size + RUNTIME_HEADER_LEN) {
        return Err(SevSnpError::Hcl("runtime data size fields disagree"));
    }
    let start = RUNTIME_HEADER_OFFSET + RUNTIME_HEADER_LEN;
    let runtime_data = bytes
        .get(start..start + var_size)
        .ok_or(SevSnpError::Hcl("truncated runtime data"))?;
    if bytes
        .get(start + var_size..)
        .unwrap_or_default()
        .iter()
        .any(|b| *b != 0)
    {
        return Err(SevSnpError::Hcl("non-zero bytes after the runtime data"));
    }
    Ok(HclReport {
        report_area,
        report_type,
        hash_type,
        runtime_data,
    })
}

impl HclReport<'_> {
    /// Hash of the runtime data with the declared algorithm.
    pub fn runtime_data_hash(&self) -> Result<Vec<u8>, SevSnpError> {
        match self.hash_type {
            1 => Ok(Sha256::digest(self.runtime_data).to_vec()),
            2 => Ok(Sha384::digest(self.runtime_data).to_vec()),
            3 => Ok(Sha512::digest(self.runtime_data).to_vec()),
            _ => Err(SevSnpError::Hcl("unknown runtime data hash type")),
        }
    }

    /// Checks that `REPORT_DATA` is the runtime-data hash followed by zeros.
    pub fn check_binding(&self, report_data: &[u8]) -> Result<String, String> {
        let hash = self.runtime_data_hash().map_err(|e| e.to_string())?;
        let (head, tail) = report_data.split_at(hash.len().min(report_data.len()));
        if head != hash.as_slice() {
            return Err(format!(
                "report_data[0:{}] is not the hash of the {}-byte runtime data",
                hash.len(),
                self.runtime_data.len()
            ));
        }
        if tail.iter().any(|b| *b != 0) {
            return Err(format!("report_data[{}:] is not zero", hash.len()));
        }
        Ok(format!(
            "report_data[0:{}] = hash of the {}-byte runtime data, rest zero",
            hash.len(),
            self.runtime_data.len()
        ))
    }

    /// The runtime data as JSON when it parses, else hex.
    #[must_use]
    pub fn runtime_data_claim(&self) -> serde_json::Value {
        serde_json::from_slice(self.runtime_data)
            .unwrap_or_else(|_| serde_json::Value::String(crate::to_hex(self.runtime_data)))
    }
}
