//! SPDM 1.1 `GET_MEASUREMENTS` request and `MEASUREMENTS` response, as NVIDIA GPUs and `NVSwitches`
//! return them (DSP0274 v1.1, §10.11).

use crate::eventlog::reader::Reader;

use super::NvidiaError;

const SPDM_1_1: u8 = 0x11;
const GET_MEASUREMENTS: u8 = 0xE0;
const MEASUREMENTS: u8 = 0x60;
const NONCE_LEN: usize = 32;
/// ECDSA P-384: r || s, 48 bytes each (`TPM_ALG_ECDSA_ECC_NIST_P384` in SPDM terms).
pub const SIGNATURE_LEN: usize = 96;
const REQUEST_LEN: usize = 4 + NONCE_LEN + 1;
/// Bit 0 of `MeasurementSpecification`: the DMTF measurement format.
const DMTF_SPEC: u8 = 0x01;

/// The requester's `GET_MEASUREMENTS` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Param1: bit 0 set when a signature is requested.
    pub attributes: u8,
    /// Param2: 0xFF for all measurements.
    pub operation: u8,
    /// The requester's fresh nonce.
    pub nonce: [u8; NONCE_LEN],
    /// `SlotIDParam`: the certificate slot that signs.
    pub slot: u8,
}

/// One measurement block in DMTF format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeasurementBlock<'a> {
    /// Block index (1-based in practice).
    pub index: u8,
    /// `DMTFSpecMeasurementValueType` (bit 7 set: raw bit stream rather than a digest).
    pub value_type: u8,
    /// The measurement value (a SHA-384 digest on NVIDIA devices).
    pub value: &'a [u8],
}

/// The responder's `MEASUREMENTS` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// Param2: slot id of the signing certificate chain (low 4 bits).
    pub slot: u8,
    /// Measurement blocks in order.
    pub blocks: Vec<MeasurementBlock<'a>>,
    /// The responder's nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Opaque data (NVIDIA: type-length-value records).
    pub opaque: &'a [u8],
    /// Raw signature r || s.
    pub signature: &'a [u8],
}

/// A request and its response, and the bytes the device signed.
#[derive(Clone, Debug)]
pub struct Exchange<'a> {
    /// Parsed request.
    pub request: Request,
    /// Parsed response.
    pub response: Response<'a>,
    /// `request || response` up to (not including) the signature: what the signature covers.
    pub signed: &'a [u8],
}

/// Parses `request || response` as one buffer. The signature must end the buffer exactly.
pub fn parse_exchange(raw: &[u8]) -> Result<Exchange<'_>, NvidiaError> {
    let request_bytes = raw
        .get(..REQUEST_LEN)
        .ok_or(NvidiaError::Truncated("request"))?;
    let request = parse_request(request_bytes)?;
    let response_bytes = raw.get(REQUEST_LEN..).unwrap_or_default();
    let response = parse_response(response_bytes)?;
    if response.slot != request.slot & 0x0F {
        return Err(NvidiaError::BadMeasurement(
            "response names another certificate slot than the request",
        ));
    }
    let signed_len = raw
        .len()
        .checked_sub(SIGNATURE_LEN)
        .ok_or(NvidiaError::Truncated("signature"))?;
    let signed = raw
        .get(..signed_len)
        .ok_or(NvidiaError::Truncated("signature"))?;
    Ok(Exchange {
        request,
        response,
        signed,
    })
}

fn parse_request(raw: &[u8]) -> Result<Request, NvidiaError> {
    let mut r = Reader::new(raw);
    let short = |_| NvidiaError::Truncated("request");
    let version = r.u8().map_err(short)?;
    let code = r.u8().map_err(short)?;
    if version != SPDM_1_1 {
        return Err(NvidiaError::UnsupportedVersion(version));
    }
    if code != GET_MEASUREMENTS {
        return Err(NvidiaError::UnexpectedCode {
            what: "request",
            code,
        });
    }
    let attributes = r.u8().map_err(short)?;
    let operation = r.u8().map_err(short)?;
    let nonce = r.array().map_err(short)?;
    let slot = r.u8().map_err(short)?;
    Ok(Request {
        attributes,
        operation,
        nonce,
        slot,
    })
}

fn parse_response(raw: &[u8]) -> Result<Response<'_>, NvidiaError> {
    let mut r = Reader::new(raw);
    let short = |what| move |_| NvidiaError::Truncated(what);
    let version = r.u8().map_err(short("response header"))?;
    let code = r.u8().map_err(short("response header"))?;
    if version != SPDM_1_1 {
        return Err(NvidiaError::UnsupportedVersion(version));
    }
    if code != MEASUREMENTS {
        return Err(NvidiaError::UnexpectedCode {
            what: "response",
            code,
        });
    }
    let _reserved = r.u8().map_err(short("response header"))?;
    let slot = r.u8().map_err(short("response header"))? & 0x0F;
    let count = r.u8().map_err(short("block count"))?;
    let record_len = r.u24_le().map_err(short("record length"))?;
    let record = r
        .take_u64_len(u64::from(record_len))
        .map_err(short("measurement record"))?;
    let blocks = parse_blocks(record, count)?;
    let nonce = r.array().map_err(short("responder nonce"))?;
    let opaque_len = r.u16_le().map_err(short("opaque length"))?;
    let opaque = r
        .take(usize::from(opaque_len))
        .map_err(short("opaque data"))?;
    let signature = r.take(SIGNATURE_LEN).map_err(short("signature"))?;
    if !r.is_empty() {
        return Err(NvidiaError::TrailingBytes(r.remaining()));
    }
    Ok(Response {
        slot,
        blocks,
        nonce,
        opaque,
        signature,
    })
}

/// The record must hold exactly `count` blocks.
fn parse_blocks(record: &[u8], count: u8) -> Result<Vec<MeasurementBlock<'_>>, NvidiaError> {
    let mut r = Reader::new(record);
    let short = |_| NvidiaError::Truncated("measurement block");
    let mut blocks = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let index = r.u8().map_err(short)?;
        let spec = r.u8().map_err(short)?;
        let size = r.u16_le().map_err(short)?;
        let body = r.take(usize::from(size)).map_err(short)?;
        if spec & DMTF_SPEC == 0 {
            return Err(NvidiaError::BadMeasurement("not in dmtf format"));
        }
        let mut b = Reader::new(body);
        let value_type = b.u8().map_err(short)?;
        let value_size = b.u16_le().map_err(short)?;
        let value = b.take(usize::from(value_size)).map_err(short)?;
        if !b.is_empty() {
            return Err(NvidiaError::BadMeasurement(
                "dmtf value size disagrees with block size",
            ));
        }
        if blocks
            .iter()
            .any(|x: &MeasurementBlock<'_>| x.index == index)
        {
            return Err(NvidiaError::BadMeasurement("repeated block index"));
        }
        blocks.push(MeasurementBlock {
            index,
            value_type,
            value,
        });
    }
    if !r.is_empty() {
        return Err(NvidiaError::BadMeasurement(
            "measurement record longer than its blocks",
        ));
    }
    Ok(blocks)
}

/// NVIDIA opaque data: `type: u16, length: u16, value` records filling the field exactly.
pub fn parse_opaque(opaque: &[u8]) -> Result<Vec<(u16, &[u8])>, NvidiaError> {
    let mut r = Reader::new(opaque);
    let short = |_| NvidiaError::Truncated("opaque record");
    let mut out = Vec::new();
    while !r.is_empty() {
        let kind = r.u16_le().map_err(short)?;
        let len = r.u16_le().map_err(short)?;
        out.push((kind, r.take(usize::from(len)).map_err(short)?));
    }
    Ok(out)
}

/// Opaque record types NVIDIA drivers emit (nvtrust local verifier's `OpaqueDataType`).
pub(super) const OPAQUE_DRIVER_VERSION: u16 = 3;
/// VBIOS version, 8 bytes.
pub(super) const OPAQUE_VBIOS_VERSION: u16 = 6;
/// The firmware id (SHA-384) of the code that signed the measurements; GPUs send it, `NVSwitches` do not.
pub(super) const OPAQUE_FWID: u16 = 20;
/// `GET_MEASUREMENTS` param2 asking for every measurement block.
pub const ALL_MEASUREMENTS: u8 = 0xFF;

/// The FWID record of the opaque data, if any.
#[must_use]
pub fn opaque_fwid<'a>(records: &[(u16, &'a [u8])]) -> Option<&'a [u8]> {
    records
        .iter()
        .find(|(k, _)| *k == OPAQUE_FWID)
        .map(|(_, v)| *v)
}

/// The driver version string from the opaque data.
#[must_use]
pub fn driver_version(records: &[(u16, &[u8])]) -> Option<String> {
    let raw = records.iter().find(|(k, _)| *k == OPAQUE_DRIVER_VERSION)?.1;
    let text = raw.split(|b| *b == 0).next()?;
    std::str::from_utf8(text).ok().map(str::to_owned)
}

/// The VBIOS version as NVIDIA prints it: bytes 3, 2, 1, 0, 4 in upper-case hex, dot-separated.
#[must_use]
pub fn vbios_version(records: &[(u16, &[u8])]) -> Option<String> {
    let raw = records.iter().find(|(k, _)| *k == OPAQUE_VBIOS_VERSION)?.1;
    let b: &[u8; 8] = raw.try_into().ok()?;
    Some(format!(
        "{:02X}.{:02X}.{:02X}.{:02X}.{:02X}",
        b[3], b[2], b[1], b[0], b[4]
    ))
}
