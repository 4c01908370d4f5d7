//! `TPMS_ATTEST` (what the TPM signs) and its `TPM2B_ATTEST` wrapper.

use serde_json::{json, Value};

use super::codec::Reader;
use super::pcr::{read_selection_list, PcrSelection};
use super::TpmError;
use crate::to_hex as hex;

/// `TPM_GENERATED_VALUE`: every TPM-made attestation starts with it, so a restricted key never
/// signs outside data that could pass for one.
pub const TPM_GENERATED: u32 = 0xFF54_4347;
/// `TPM_ST_ATTEST_CERTIFY`.
pub const ST_ATTEST_CERTIFY: u16 = 0x8017;
/// `TPM_ST_ATTEST_QUOTE`.
pub const ST_ATTEST_QUOTE: u16 = 0x8018;
/// `TPM_ST_ATTEST_CREATION`.
pub const ST_ATTEST_CREATION: u16 = 0x801A;

/// `TPMS_CLOCK_INFO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockInfo {
    /// Milliseconds the TPM has been powered since its last clear.
    pub clock: u64,
    /// TPM resets (reboots) since the last clear.
    pub reset_count: u32,
    /// TPM restarts/resumes since the last reset.
    pub restart_count: u32,
    /// Whether `clock` is known not to have gone backwards.
    pub safe: bool,
}

/// The type-specific body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attested {
    /// `TPMS_QUOTE_INFO`.
    Quote {
        /// The PCRs covered, in the order their values are hashed.
        pcr_select: Vec<PcrSelection>,
        /// Hash (with the signing scheme's hash) of the selected PCR values.
        pcr_digest: Vec<u8>,
    },
    /// `TPMS_CREATION_INFO` (from `TPM2_CertifyCreation`).
    Creation {
        /// Name of the certified object.
        object_name: Vec<u8>,
        /// The creation hash the TPM was handed with its ticket.
        creation_hash: Vec<u8>,
    },
    /// `TPMS_CERTIFY_INFO` (from `TPM2_Certify`).
    Certify {
        /// Name of the certified object.
        name: Vec<u8>,
        /// Its qualified name.
        qualified_name: Vec<u8>,
    },
}

/// A parsed `TPMS_ATTEST`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmsAttest {
    /// `TPM_ST_ATTEST_*`.
    pub attest_type: u16,
    /// Qualified name of the signing key.
    pub qualified_signer: Vec<u8>,
    /// Caller-supplied qualifying data: the nonce.
    pub extra_data: Vec<u8>,
    /// TPM clock state when signing.
    pub clock_info: ClockInfo,
    /// Vendor firmware version.
    pub firmware_version: u64,
    /// The body.
    pub attested: Attested,
}

impl TpmsAttest {
    /// Parses a `TPMS_ATTEST` (the bytes a TPM signs), rejecting trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TpmError> {
        let mut r = Reader::new(bytes);
        let magic = r.u32("attest magic")?;
        if magic != TPM_GENERATED {
            return Err(TpmError::BadMagic);
        }
        let attest_type = r.u16("attest type")?;
        let qualified_signer = r.tpm2b("attest qualifiedSigner")?.to_vec();
        let extra_data = r.tpm2b("attest extraData")?.to_vec();
        let clock_info = ClockInfo {
            clock: r.u64("attest clock")?,
            reset_count: r.u32("attest resetCount")?,
            restart_count: r.u32("attest restartCount")?,
            safe: match r.u8("attest safe")? {
                0 => false,
                1 => true,
                _ => return Err(TpmError::Invalid("attest safe is not a boolean")),
            },
        };
        let firmware_version = r.u64("attest firmwareVersion")?;
        let attested = match attest_type {
            ST_ATTEST_QUOTE => Attested::Quote {
                pcr_select: read_selection_list(&mut r)?,
                pcr_digest: r.tpm2b("quote pcrDigest")?.to_vec(),
            },
            ST_ATTEST_CREATION => Attested::Creation {
                object_name: r.tpm2b("creation objectName")?.to_vec(),
                creation_hash: r.tpm2b("creation creationHash")?.to_vec(),
            },
            ST_ATTEST_CERTIFY => Attested::Certify {
                name: r.tpm2b("certify name")?.to_vec(),
                qualified_name: r.tpm2b("certify qualifiedName")?.to_vec(),
            },
            other => return Err(TpmError::UnsupportedAttestType(other)),
        };
        r.finish()?;
        Ok(Self {
            attest_type,
            qualified_signer,
            extra_data,
            clock_info,
            firmware_version,
            attested,
        })
    }

    /// Parses a `TPM2B_ATTEST` (16-bit size, then exactly one `TPMS_ATTEST`) and returns the
    /// structure with the inner bytes, which are what the signature covers.
    pub fn decode_2b(bytes: &[u8]) -> Result<(Self, &[u8]), TpmError> {
        let mut r = Reader::new(bytes);
        let inner = r.tpm2b("tpm2b_attest")?;
        r.finish()?;
        Ok((Self::decode(inner)?, inner))
    }

    /// The fields as JSON claims.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let body = match &self.attested {
            Attested::Quote {
                pcr_select,
                pcr_digest,
            } => json!({
                "pcrSelect": pcr_select.iter().map(|s| json!({"hash": s.hash, "pcrs": s.pcrs})).collect::<Vec<_>>(),
                "pcrDigest": hex(pcr_digest),
            }),
            Attested::Creation {
                object_name,
                creation_hash,
            } => json!({
                "objectName": hex(object_name), "creationHash": hex(creation_hash),
            }),
            Attested::Certify {
                name,
                qualified_name,
            } => json!({
                "name": hex(name), "qualifiedName": hex(qualified_name),
            }),
        };
        json!({
            "type": self.attest_type,
            "qualifiedSigner": hex(&self.qualified_signer),
            "extraData": hex(&self.extra_data),
            "clock": self.clock_info.clock,
            "resetCount": self.clock_info.reset_count,
            "restartCount": self.clock_info.restart_count,
            "safe": self.clock_info.safe,
            "firmwareVersion": format!("{:#018x}", self.firmware_version),
            "attested": body,
        })
    }
}
