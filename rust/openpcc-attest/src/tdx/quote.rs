//! Intel DCAP ECDSA quotes: version 3 (SGX), 4 (SGX or TD 1.0) and 5 (SGX, TD 1.0 or TD 1.5 body,
//! with an explicit body type and size), and their ECDSA signature data with the QE report and
//! the PCK certificate chain (certification data type 5, nested in type 6 from version 4 on).
//!
//! The quote ends where its signature-data length says; bytes after it are reported, not parsed
//! (configfs-tsm and GCE pad quotes with zeros).

use serde_json::{Map, Value};

use super::TdxError;

const HEADER_LEN: usize = 48;
const SGX_BODY_LEN: usize = 384;
const TD10_BODY_LEN: usize = 584;
const TD15_BODY_LEN: usize = 648;
const QE_REPORT_LEN: usize = 384;
const ATT_KEY_TYPE_ECDSA_P256: u16 = 2;
/// TEE type of a TD quote (0 = SGX).
pub const TEE_TYPE_TDX: u32 = 0x81;
const CERT_TYPE_PCK_CHAIN: u16 = 5;
const CERT_TYPE_QE_REPORT: u16 = 6;
/// Sanity bound on the signature data (a real one is about 4.3 KiB).
const MAX_SIG_DATA: usize = 1 << 16;

/// Which report body the quote carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// SGX enclave report (384 bytes).
    Sgx,
    /// TD 1.0 report (584 bytes).
    Td10,
    /// TD 1.5 report (648 bytes: TD 1.0 plus `TEE_TCB_SVN2` and MRSERVICETD).
    Td15,
}

impl BodyKind {
    /// Name as used in claims.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sgx => "sgx",
            Self::Td10 => "td10",
            Self::Td15 => "td15",
        }
    }
}

/// A parsed quote; byte fields borrow the caller's buffer.
#[derive(Clone, Debug)]
pub struct Quote<'a> {
    /// Quote version (3, 4 or 5).
    pub version: u16,
    /// TEE type (0 = SGX, 0x81 = TDX).
    pub tee_type: u32,
    /// The 48-byte header.
    pub header: &'a [u8],
    /// Body kind.
    pub body_kind: BodyKind,
    /// The report body.
    pub body: &'a [u8],
    /// Bytes the quote signature covers (header, v5 body descriptor, body).
    pub signed: &'a [u8],
    /// ECDSA P-256 signature r‖s.
    pub signature: &'a [u8],
    /// Attestation public key x‖y.
    pub attestation_key: &'a [u8],
    /// The QE's SGX report (384 bytes).
    pub qe_report: &'a [u8],
    /// The PCK's signature over the QE report, r‖s.
    pub qe_report_signature: &'a [u8],
    /// QE authentication data.
    pub qe_auth_data: &'a [u8],
    /// The PCK certificate chain (PEM, leaf first).
    pub pck_chain: &'a [u8],
    /// Bytes after the quote.
    pub trailing: usize,
}

/// Reads consecutive fields, failing with the field's name when the input is short.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], TdxError> {
        let end = self.at.checked_add(n).ok_or(TdxError::Truncated(what))?;
        let out = self
            .bytes
            .get(self.at..end)
            .ok_or(TdxError::Truncated(what))?;
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, TdxError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, TdxError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len32(&mut self, what: &'static str) -> Result<usize, TdxError> {
        let n = usize::try_from(self.u32(what)?).map_err(|_| TdxError::Length(what))?;
        if n > MAX_SIG_DATA {
            return Err(TdxError::Length(what));
        }
        Ok(n)
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

impl<'a> Quote<'a> {
    /// Parses a quote; trailing bytes after the signature data are allowed and counted.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, TdxError> {
        let mut c = Cursor { bytes, at: 0 };
        let header = c.take(HEADER_LEN, "header")?;
        let version = u16::from_le_bytes([header[0], header[1]]);
        let att_key_type = u16::from_le_bytes([header[2], header[3]]);
        let tee_type = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if !(3..=5).contains(&version) {
            return Err(TdxError::UnsupportedVersion(version));
        }
        if att_key_type != ATT_KEY_TYPE_ECDSA_P256 {
            return Err(TdxError::AttestationKeyType(att_key_type));
        }
        let body_kind = match (version, tee_type) {
            (3 | 4, 0) => BodyKind::Sgx,
            (4, TEE_TYPE_TDX) => BodyKind::Td10,
            (5, 0 | TEE_TYPE_TDX) => {
                let (kind, size) = match c.u16("body type")? {
                    1 => (BodyKind::Sgx, SGX_BODY_LEN),
                    2 => (BodyKind::Td10, TD10_BODY_LEN),
                    3 => (BodyKind::Td15, TD15_BODY_LEN),
                    other => return Err(TdxError::BodyType(other)),
                };
                if c.len32("body size")? != size {
                    return Err(TdxError::Length("body size"));
                }
                if (kind == BodyKind::Sgx) != (tee_type == 0) {
                    return Err(TdxError::TeeType(tee_type));
                }
                kind
            }
            _ => return Err(TdxError::TeeType(tee_type)),
        };
        let body_len = match body_kind {
            BodyKind::Sgx => SGX_BODY_LEN,
            BodyKind::Td10 => TD10_BODY_LEN,
            BodyKind::Td15 => TD15_BODY_LEN,
        };
        let body = c.take(body_len, "report body")?;
        let signed = bytes
            .get(..c.at)
            .ok_or(TdxError::Truncated("report body"))?;
        let sig_len = c.len32("signature data length")?;
        let sig_data = c.take(sig_len, "signature data")?;
        let trailing = bytes.len() - c.at;
        let mut s = Cursor {
            bytes: sig_data,
            at: 0,
        };
        let signature = s.take(64, "quote signature")?;
        let attestation_key = s.take(64, "attestation key")?;
        let (qe, rest_is_qe_data) = if version == 3 {
            (s, true)
        } else {
            if s.u16("certification data type")? != CERT_TYPE_QE_REPORT {
                return Err(TdxError::CertificationType);
            }
            let n = s.len32("certification data size")?;
            let inner = s.take(n, "QE report certification data")?;
            if !s.done() {
                return Err(TdxError::Length("signature data length"));
            }
            (
                Cursor {
                    bytes: inner,
                    at: 0,
                },
                false,
            )
        };
        let mut qe = qe;
        let qe_report = qe.take(QE_REPORT_LEN, "QE report")?;
        let qe_report_signature = qe.take(64, "QE report signature")?;
        let auth_len = usize::from(qe.u16("QE auth data size")?);
        let qe_auth_data = qe.take(auth_len, "QE auth data")?;
        if qe.u16("PCK certification data type")? != CERT_TYPE_PCK_CHAIN {
            return Err(TdxError::CertificationType);
        }
        let n = qe.len32("PCK certification data size")?;
        let pck_chain = qe.take(n, "PCK certificate chain")?;
        if !qe.done() {
            return Err(TdxError::Length(if rest_is_qe_data {
                "signature data length"
            } else {
                "certification data size"
            }));
        }
        Ok(Self {
            version,
            tee_type,
            header,
            body_kind,
            body,
            signed,
            signature,
            attestation_key,
            qe_report,
            qe_report_signature,
            qe_auth_data,
            pck_chain,
            trailing,
        })
    }

    /// A body field (offsets inside the fixed-size body; cannot fail for a parsed quote).
    fn body_field(&self, at: usize, len: usize) -> &'a [u8] {
        self.body.get(at..at + len).unwrap_or_default()
    }

    /// `TEE_TCB_SVN` (TD bodies).
    #[must_use]
    pub fn tee_tcb_svn(&self) -> Option<[u8; 16]> {
        (self.body_kind != BodyKind::Sgx)
            .then(|| self.body_field(0, 16).try_into().unwrap_or([0; 16]))
    }

    /// `TEE_TCB_SVN2` (TD 1.5 bodies).
    #[must_use]
    pub fn tee_tcb_svn2(&self) -> Option<[u8; 16]> {
        (self.body_kind == BodyKind::Td15)
            .then(|| self.body_field(584, 16).try_into().unwrap_or([0; 16]))
    }

    /// MRSIGNERSEAM (TD bodies).
    #[must_use]
    pub fn mr_signer_seam(&self) -> Option<&'a [u8]> {
        (self.body_kind != BodyKind::Sgx).then(|| self.body_field(64, 48))
    }

    /// SEAMATTRIBUTES (TD bodies).
    #[must_use]
    pub fn seam_attributes(&self) -> Option<&'a [u8]> {
        (self.body_kind != BodyKind::Sgx).then(|| self.body_field(112, 8))
    }

    /// `REPORT_DATA` of the body.
    #[must_use]
    pub fn report_data(&self) -> &'a [u8] {
        match self.body_kind {
            BodyKind::Sgx => self.body_field(320, 64),
            BodyKind::Td10 | BodyKind::Td15 => self.body_field(520, 64),
        }
    }

    /// Header and body fields as claims.
    #[must_use]
    pub fn claims(&self) -> Map<String, Value> {
        let hx = |b: &[u8]| Value::String(crate::to_hex(b));
        let h = |at: usize, len: usize| hx(self.header.get(at..at + len).unwrap_or_default());
        let b = |at: usize, len: usize| hx(self.body_field(at, len));
        let mut c = Map::new();
        c.insert("version".into(), self.version.into());
        c.insert("tee_type".into(), format!("{:#x}", self.tee_type).into());
        c.insert("att_key_type".into(), le16(h_raw(self.header, 2)).into());
        c.insert("qe_svn".into(), le16(h_raw(self.header, 8)).into());
        c.insert("pce_svn".into(), le16(h_raw(self.header, 10)).into());
        c.insert("qe_vendor_id".into(), h(12, 16));
        c.insert("user_data".into(), h(28, 20));
        c.insert("body_kind".into(), self.body_kind.name().into());
        c.insert("trailing_bytes".into(), self.trailing.into());
        match self.body_kind {
            BodyKind::Sgx => {
                c.insert("cpusvn".into(), b(0, 16));
                c.insert("miscselect".into(), b(16, 4));
                c.insert("attributes".into(), b(48, 16));
                c.insert("mrenclave".into(), b(64, 32));
                c.insert("mrsigner".into(), b(128, 32));
                c.insert("isvprodid".into(), le16(self.body_field(256, 2)).into());
                c.insert("isvsvn".into(), le16(self.body_field(258, 2)).into());
                c.insert(
                    "debug".into(),
                    (self.body_field(48, 1).first().copied().unwrap_or(0) & 0b10 != 0).into(),
                );
                c.insert("report_data".into(), b(320, 64));
            }
            BodyKind::Td10 | BodyKind::Td15 => {
                for (name, at, len) in [
                    ("tee_tcb_svn", 0, 16),
                    ("mrseam", 16, 48),
                    ("mrsignerseam", 64, 48),
                    ("seam_attributes", 112, 8),
                    ("td_attributes", 120, 8),
                    ("xfam", 128, 8),
                    ("mrtd", 136, 48),
                    ("mrconfigid", 184, 48),
                    ("mrowner", 232, 48),
                    ("mrownerconfig", 280, 48),
                    ("rtmr0", 328, 48),
                    ("rtmr1", 376, 48),
                    ("rtmr2", 424, 48),
                    ("rtmr3", 472, 48),
                    ("report_data", 520, 64),
                ] {
                    c.insert(name.into(), b(at, len));
                }
                if self.body_kind == BodyKind::Td15 {
                    c.insert("tee_tcb_svn2".into(), b(584, 16));
                    c.insert("mrservicetd".into(), b(600, 48));
                }
                // TD_ATTRIBUTES bit 0 is DEBUG (TDX module ABI, TDINFO_STRUCT).
                let attrs = self.body_field(120, 1).first().copied().unwrap_or(0);
                c.insert("debug".into(), (attrs & 1 != 0).into());
            }
        }
        c
    }

    /// QE report fields as claims.
    #[must_use]
    pub fn qe_report_claims(&self) -> Value {
        let f = |at: usize, len: usize| {
            crate::to_hex(self.qe_report.get(at..at + len).unwrap_or_default())
        };
        serde_json::json!({
            "mrenclave": f(64, 32),
            "mrsigner": f(128, 32),
            "isvprodid": le16(self.qe_report.get(256..258).unwrap_or_default()),
            "isvsvn": le16(self.qe_report.get(258..260).unwrap_or_default()),
            "report_data": f(320, 64),
        })
    }
}

fn h_raw(header: &[u8], at: usize) -> &[u8] {
    header.get(at..at + 2).unwrap_or_default()
}

/// Little-endian u16 of a 2-byte slice (0 if shorter).
#[must_use]
pub fn le16(b: &[u8]) -> u16 {
    match b {
        [lo, hi, ..] => u16::from_le_bytes([*lo, *hi]),
        _ => 0,
    }
}
