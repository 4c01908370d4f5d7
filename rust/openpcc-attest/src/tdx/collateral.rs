//! Quote collateral: the input format, Intel's TCB info and QE identity documents, and TCB-level
//! matching.
//!
//! # Input format
//! One JSON object (the shape `dcap-qvl` and Intel PCCS use):
//!
//! | key | content |
//! |---|---|
//! | `tcb_info` | the signed TCB-info JSON text: either the exact inner object (then `tcb_info_signature` is required) or the whole Intel PCS response body `{"tcbInfo":{…},"signature":"…"}` |
//! | `tcb_info_signature` | optional: hex r‖s, ECDSA P-256/SHA-256 over the exact bytes of the inner object |
//! | `tcb_info_issuer_chain` | PEM: TCB signing certificate, then the Intel SGX Root CA |
//! | `qe_identity`, `qe_identity_signature`, `qe_identity_issuer_chain` | the same for the QE identity (`{"enclaveIdentity":{…},"signature":"…"}`) |
//! | `pck_crl` | hex DER: the CRL of the PCK's issuer (Platform or Processor CA) |
//! | `root_ca_crl` | hex DER: the Intel SGX Root CA's CRL |
//! | `pck_crl_issuer_chain` | optional PEM; the PCK CRL is checked against the quote's own (verified) intermediate |
//!
//! Unknown keys are ignored.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::TdxError;

#[derive(Deserialize)]
struct CollateralJson {
    tcb_info: String,
    tcb_info_signature: Option<String>,
    tcb_info_issuer_chain: String,
    qe_identity: String,
    qe_identity_signature: Option<String>,
    qe_identity_issuer_chain: String,
    pck_crl: String,
    root_ca_crl: String,
}

/// A signed Intel document: the exact signed bytes and the raw signature.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The exact bytes the signature covers.
    pub text: String,
    /// r‖s, 64 bytes.
    pub signature: Vec<u8>,
}

/// Parsed collateral, signatures not yet checked.
#[derive(Clone, Debug)]
pub struct Collateral {
    /// TCB info document.
    pub tcb_info_signed: Signed,
    /// Parsed TCB info.
    pub tcb_info: TcbInfo,
    /// TCB signing chain PEM.
    pub tcb_info_chain: Vec<u8>,
    /// QE identity document.
    pub qe_identity_signed: Signed,
    /// Parsed QE identity.
    pub qe_identity: QeIdentity,
    /// QE identity signing chain PEM.
    pub qe_identity_chain: Vec<u8>,
    /// PCK CRL DER.
    pub pck_crl: Vec<u8>,
    /// Root CA CRL DER.
    pub root_ca_crl: Vec<u8>,
}

#[derive(Deserialize)]
struct PcsBody<'a> {
    #[serde(borrow, alias = "tcbInfo", alias = "enclaveIdentity")]
    body: &'a RawValue,
    signature: String,
}

fn signed(text: &str, signature: Option<&str>, what: &'static str) -> Result<Signed, TdxError> {
    let (text, sig_hex) = if let Some(sig) = signature {
        (text.to_owned(), sig.to_owned())
    } else {
        let body: PcsBody<'_> =
            serde_json::from_str(text).map_err(|_| TdxError::Collateral(what))?;
        (body.body.get().to_owned(), body.signature)
    };
    let signature = decode_hex(sig_hex.trim()).ok_or(TdxError::Collateral(what))?;
    Ok(Signed { text, signature })
}

fn hex_der(text: &str, what: &'static str) -> Result<Vec<u8>, TdxError> {
    decode_hex(text.trim().trim_start_matches("0x")).ok_or(TdxError::Collateral(what))
}

/// Hex (either case) to bytes.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    base16ct::mixed::decode_vec(text).ok()
}

impl Collateral {
    /// Parses the collateral JSON described in the module documentation.
    pub fn parse(bytes: &[u8]) -> Result<Self, TdxError> {
        let raw: CollateralJson =
            serde_json::from_slice(bytes).map_err(|_| TdxError::Collateral("collateral json"))?;
        let tcb_info_signed = signed(&raw.tcb_info, raw.tcb_info_signature.as_deref(), "tcb_info")?;
        let tcb_info: TcbInfo = serde_json::from_str(&tcb_info_signed.text)
            .map_err(|_| TdxError::Collateral("tcb_info content"))?;
        let qe_identity_signed = signed(
            &raw.qe_identity,
            raw.qe_identity_signature.as_deref(),
            "qe_identity",
        )?;
        let qe_identity: QeIdentity = serde_json::from_str(&qe_identity_signed.text)
            .map_err(|_| TdxError::Collateral("qe_identity content"))?;
        Ok(Self {
            tcb_info_signed,
            tcb_info,
            tcb_info_chain: raw.tcb_info_issuer_chain.into_bytes(),
            qe_identity_signed,
            qe_identity,
            qe_identity_chain: raw.qe_identity_issuer_chain.into_bytes(),
            pck_crl: hex_der(&raw.pck_crl, "pck_crl")?,
            root_ca_crl: hex_der(&raw.root_ca_crl, "root_ca_crl")?,
        })
    }
}

/// Intel TCB info (versions 2 and 3; only the fields appraisal needs).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcbInfo {
    /// `SGX` or `TDX` (absent in version 2: SGX).
    pub id: Option<String>,
    /// Format version.
    pub version: u32,
    /// Issue date (RFC 3339).
    pub issue_date: String,
    /// Next update (RFC 3339).
    pub next_update: String,
    /// FMSPC, hex.
    pub fmspc: String,
    /// PCE-ID, hex.
    pub pce_id: String,
    /// TDX module identity (TDX).
    pub tdx_module: Option<TdxModule>,
    /// TDX module identities by module version (TDX, version 3).
    #[serde(default)]
    pub tdx_module_identities: Vec<TdxModuleIdentity>,
    /// Levels, highest first.
    pub tcb_levels: Vec<TcbLevel>,
}

/// The SEAM module signer and attributes.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TdxModule {
    /// MRSIGNERSEAM, hex.
    pub mrsigner: String,
    /// SEAMATTRIBUTES, hex.
    pub attributes: String,
    /// Mask applied to SEAMATTRIBUTES, hex.
    pub attributes_mask: String,
}

/// A TDX module identity (`TDX_01`, `TDX_03`...).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TdxModuleIdentity {
    /// `TDX_<major version, 2 hex digits>`.
    pub id: String,
    /// MRSIGNERSEAM, hex.
    pub mrsigner: String,
    /// SEAMATTRIBUTES, hex.
    pub attributes: String,
    /// Mask, hex.
    pub attributes_mask: String,
    /// Levels by module ISVSVN.
    pub tcb_levels: Vec<IsvLevel>,
}

/// A platform TCB level.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcbLevel {
    /// Components.
    pub tcb: LevelTcb,
    /// Date of the level.
    pub tcb_date: String,
    /// Status name.
    pub tcb_status: String,
    /// Advisories.
    #[serde(rename = "advisoryIDs", default)]
    pub advisory_ids: Vec<String>,
}

/// One SVN.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Svn {
    /// The value.
    pub svn: u8,
}

/// The components of a level.
#[derive(Clone, Debug, Deserialize)]
pub struct LevelTcb {
    /// 16 SGX components.
    pub sgxtcbcomponents: Vec<Svn>,
    /// PCE SVN.
    pub pcesvn: u16,
    /// 16 TDX components (TDX).
    #[serde(default)]
    pub tdxtcbcomponents: Vec<Svn>,
}

/// A level keyed by an ISV SVN (QE identity, TDX module identity).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsvLevel {
    /// `{ "isvsvn": n }`.
    pub tcb: IsvSvn,
    /// Date.
    pub tcb_date: String,
    /// Status name.
    pub tcb_status: String,
    /// Advisories.
    #[serde(rename = "advisoryIDs", default)]
    pub advisory_ids: Vec<String>,
}

/// ISV SVN.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct IsvSvn {
    /// The value.
    pub isvsvn: u16,
}

/// Intel QE identity (version 2).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QeIdentity {
    /// `QE` (SGX) or `TD_QE` (TDX).
    pub id: String,
    /// Issue date.
    pub issue_date: String,
    /// Next update.
    pub next_update: String,
    /// MISCSELECT, hex.
    pub miscselect: String,
    /// Mask, hex.
    pub miscselect_mask: String,
    /// ATTRIBUTES, hex.
    pub attributes: String,
    /// Mask, hex.
    pub attributes_mask: String,
    /// MRSIGNER, hex.
    pub mrsigner: String,
    /// ISVPRODID.
    pub isvprodid: u16,
    /// Levels by QE ISVSVN.
    pub tcb_levels: Vec<IsvLevel>,
}

/// TCB status plus advisories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Intel's status name.
    pub status: String,
    /// Advisory ids, deduplicated.
    pub advisory_ids: Vec<String>,
    /// Date of the matched level.
    pub tcb_date: String,
}

const KNOWN_STATUSES: [&str; 9] = [
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "Revoked",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
];

impl Status {
    fn from_isv(level: &IsvLevel) -> Self {
        Self {
            status: level.tcb_status.clone(),
            advisory_ids: level.advisory_ids.clone(),
            tcb_date: level.tcb_date.clone(),
        }
    }

    /// Converges a platform status with a component (QE, TDX module) status as Intel's QVL
    /// does: only a Revoked or `OutOfDate` component lowers the platform status.
    pub fn converge(&mut self, component: &Status) {
        let next = match (component.status.as_str(), self.status.as_str()) {
            ("Revoked", _) => "Revoked",
            ("OutOfDate", "UpToDate" | "SWHardeningNeeded") => "OutOfDate",
            ("OutOfDate", "ConfigurationNeeded" | "ConfigurationAndSWHardeningNeeded") => {
                "OutOfDateConfigurationNeeded"
            }
            _ => return self.merge_advisories(component),
        };
        next.clone_into(&mut self.status);
        self.merge_advisories(component);
    }

    /// Combines a TD 1.5's launch status (`self`) with its current status as Intel's QVL does:
    /// an out-of-date launch with a current TCB that is not out of date asks for a relaunch.
    pub fn relaunch(&mut self, current: &Status) {
        let needs_config = |s: &str| {
            matches!(
                s,
                "ConfigurationNeeded"
                    | "OutOfDateConfigurationNeeded"
                    | "ConfigurationAndSWHardeningNeeded"
                    | "TDRelaunchAdvisedConfigurationNeeded"
            )
        };
        let launch_out_of_date = matches!(
            self.status.as_str(),
            "OutOfDate" | "OutOfDateConfigurationNeeded"
        );
        let current_fine = matches!(
            current.status.as_str(),
            "UpToDate"
                | "SWHardeningNeeded"
                | "ConfigurationNeeded"
                | "ConfigurationAndSWHardeningNeeded"
        );
        if launch_out_of_date && current_fine {
            let next = if needs_config(&self.status) || needs_config(&current.status) {
                "TDRelaunchAdvisedConfigurationNeeded"
            } else {
                "TDRelaunchAdvised"
            };
            next.clone_into(&mut self.status);
        }
    }

    fn merge_advisories(&mut self, other: &Status) {
        for id in &other.advisory_ids {
            if !self.advisory_ids.contains(id) {
                self.advisory_ids.push(id.clone());
            }
        }
    }
}

/// Whether `status` is a status Intel defines.
#[must_use]
pub fn known_status(status: &str) -> bool {
    KNOWN_STATUSES.contains(&status)
}

/// The first level (highest first) the platform meets. For a TD, TDX components are compared
/// too; when `TEE_TCB_SVN`[1] (the module's major version) is non-zero its first two bytes are the
/// module's and are judged by the module identity instead.
#[must_use]
pub fn match_platform<'a>(
    info: &'a TcbInfo,
    sgx_comps: &[u8; 16],
    pce_svn: u16,
    tee_tcb_svn: Option<&[u8; 16]>,
) -> Option<&'a TcbLevel> {
    info.tcb_levels.iter().find(|level| {
        let t = &level.tcb;
        if t.sgxtcbcomponents.len() != 16 || pce_svn < t.pcesvn {
            return false;
        }
        if sgx_comps
            .iter()
            .zip(&t.sgxtcbcomponents)
            .any(|(have, need)| *have < need.svn)
        {
            return false;
        }
        match tee_tcb_svn {
            None => true,
            Some(tee) => {
                let skip = if tee[1] > 0 { 2 } else { 0 };
                t.tdxtcbcomponents.len() == 16
                    && tee
                        .iter()
                        .zip(&t.tdxtcbcomponents)
                        .skip(skip)
                        .all(|(have, need)| *have >= need.svn)
            }
        }
    })
}

/// The TDX module identity for `TEE_TCB_SVN`[1] (`None` for module version 0).
#[must_use]
pub fn module_identity<'a>(
    info: &'a TcbInfo,
    tee_tcb_svn: &[u8; 16],
) -> Option<Result<&'a TdxModuleIdentity, String>> {
    if tee_tcb_svn[1] == 0 {
        return None;
    }
    let wanted = format!("TDX_{:02X}", tee_tcb_svn[1]);
    Some(
        info.tdx_module_identities
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| format!("TCB info has no TDX module identity {wanted}")),
    )
}

/// The module level met by the module ISVSVN (`TEE_TCB_SVN`[0]).
#[must_use]
pub fn match_module_level(identity: &TdxModuleIdentity, tee_tcb_svn: &[u8; 16]) -> Option<Status> {
    identity
        .tcb_levels
        .iter()
        .find(|l| u16::from(tee_tcb_svn[0]) >= l.tcb.isvsvn)
        .map(Status::from_isv)
}

/// The QE level met by the QE's ISVSVN.
#[must_use]
pub fn match_qe_level(identity: &QeIdentity, isvsvn: u16) -> Option<Status> {
    identity
        .tcb_levels
        .iter()
        .find(|l| isvsvn >= l.tcb.isvsvn)
        .map(Status::from_isv)
}

/// The platform level as a status.
#[must_use]
pub fn level_status(level: &TcbLevel) -> Status {
    Status {
        status: level.tcb_status.clone(),
        advisory_ids: level.advisory_ids.clone(),
        tcb_date: level.tcb_date.clone(),
    }
}

/// Compares `value & mask` with `expected & mask`, all hex; `None` if any hex is malformed or
/// lengths differ.
#[must_use]
pub fn masked_equal(value: &[u8], expected_hex: &str, mask_hex: &str) -> Option<bool> {
    let expected = decode_hex(expected_hex)?;
    let mask = decode_hex(mask_hex)?;
    if expected.len() != value.len() || mask.len() != value.len() {
        return None;
    }
    Some(
        value
            .iter()
            .zip(&expected)
            .zip(&mask)
            .all(|((v, e), m)| v & m == e & m),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(s: &str) -> Status {
        Status {
            status: s.into(),
            advisory_ids: vec![],
            tcb_date: String::new(),
        }
    }

    #[test]
    fn converge_lowers_only_for_out_of_date_or_revoked_components() {
        let mut s = st("UpToDate");
        s.converge(&st("SWHardeningNeeded"));
        assert_eq!(s.status, "UpToDate");
        s.converge(&st("OutOfDate"));
        assert_eq!(s.status, "OutOfDate");
        let mut s = st("ConfigurationNeeded");
        s.converge(&st("OutOfDate"));
        assert_eq!(s.status, "OutOfDateConfigurationNeeded");
        s.converge(&st("Revoked"));
        assert_eq!(s.status, "Revoked");
    }

    #[test]
    fn relaunch_advised_when_only_the_launch_tcb_is_out_of_date() {
        let mut s = st("OutOfDate");
        s.relaunch(&st("UpToDate"));
        assert_eq!(s.status, "TDRelaunchAdvised");
        let mut s = st("OutOfDate");
        s.relaunch(&st("ConfigurationNeeded"));
        assert_eq!(s.status, "TDRelaunchAdvisedConfigurationNeeded");
        let mut s = st("OutOfDate");
        s.relaunch(&st("OutOfDate"));
        assert_eq!(s.status, "OutOfDate");
        let mut s = st("UpToDate");
        s.relaunch(&st("OutOfDate"));
        assert_eq!(s.status, "UpToDate");
    }
}
