//! Azure TDX confidential VMs: the HCL report (see [`crate::sevsnp::hcl`]) wraps a TDREPORT, which
//! the TDX module MACs but nobody signs. It is trusted through the signed quote of the same TD:
//! the TDREPORT's `REPORTDATA` binds the runtime data (the vTPM keys), its two hashes bind its own
//! `TEE_TCB_INFO` and `TDINFO`, and `MRTD`, the RTMRs and `REPORTDATA` must equal the quote's.
//!
//! TDREPORT layout (TDX module ABI, `TDREPORT_STRUCT`): `REPORTMACSTRUCT` (256 bytes: type 8,
//! reserved 8, `CPUSVN` 16, `TEE_TCB_INFO_HASH` 48, `TEE_INFO_HASH` 48, `REPORTDATA` 64, reserved
//! 32, MAC 32), `TEE_TCB_INFO` (239 bytes) and 17 reserved, `TDINFO` (512 bytes: `ATTRIBUTES` 8,
//! `XFAM` 8, `MRTD` 48, `MRCONFIGID` 48, `MROWNER` 48, `MROWNERCONFIG` 48, `RTMR0-3` 4×48,
//! `SERVTD_HASH` 48, reserved).

use sha2::{Digest as _, Sha384};

use super::quote::{BodyKind, Quote};
use crate::sevsnp::hcl;
use crate::verdict::Verdict;

const TDREPORT_LEN: usize = 1024;
const TEE_TCB_INFO: (usize, usize) = (256, 239);
const TDINFO: (usize, usize) = (512, 512);
const REPORT_DATA: (usize, usize) = (128, 64);
/// TDINFO offsets of MRTD and RTMR0, relative to the TDREPORT.
const MRTD: usize = 512 + 16;
const RTMR0: usize = 512 + 16 + 4 * 48;

fn part(report: &[u8], (at, len): (usize, usize)) -> &[u8] {
    report.get(at..at + len).unwrap_or_default()
}

/// Checks an Azure TDX HCL report and, when given, its match with the TD's quote (whose own
/// verification is [`super::verify_quote`]'s job).
#[must_use]
pub fn verify_azure_hcl(bytes: &[u8], quote: Option<&[u8]>) -> Verdict {
    let mut v = Verdict::new();
    let h = match hcl::parse(bytes) {
        Ok(h) if h.report_type == hcl::REPORT_TYPE_TDX => h,
        Ok(h) => {
            v.fail(
                "tdx.hcl.parse",
                format!("HCL report type {} is not TDX (4)", h.report_type),
            );
            return v;
        }
        Err(e) => {
            v.fail("tdx.hcl.parse", e.to_string());
            return v;
        }
    };
    let (report, padding) = h
        .report_area
        .split_at(TDREPORT_LEN.min(h.report_area.len()));
    if report.len() != TDREPORT_LEN || padding.iter().any(|b| *b != 0) {
        v.fail(
            "tdx.hcl.parse",
            "hardware report area is not a TDREPORT followed by zeros",
        );
        return v;
    }
    v.pass(
        "tdx.hcl.parse",
        format!(
            "Azure HCL report with a TDREPORT, {}-byte runtime data",
            h.runtime_data.len()
        ),
    );
    record_claims(&mut v, report);
    v.claim("hcl_runtime_data", h.runtime_data_claim());
    match h.check_binding(part(report, REPORT_DATA)) {
        Ok(d) => v.pass("tdx.hcl.report_data", d),
        Err(d) => v.fail("tdx.hcl.report_data", d),
    }
    check_inner_hashes(&mut v, report);
    if let Some(quote) = quote {
        check_quote_match(&mut v, report, quote);
    }
    v
}

fn record_claims(v: &mut Verdict, report: &[u8]) {
    let hx = |at: usize, len: usize| crate::to_hex(part(report, (at, len)));
    v.claim("report_data", hx(REPORT_DATA.0, REPORT_DATA.1));
    v.claim("td_attributes", hx(512, 8));
    v.claim("xfam", hx(520, 8));
    v.claim("mrtd", hx(MRTD, 48));
    for i in 0..4 {
        v.claim(&format!("rtmr{i}"), hx(RTMR0 + 48 * i, 48));
    }
}

fn check_inner_hashes(v: &mut Verdict, report: &[u8]) {
    const NAME: &str = "tdx.hcl.tdreport_hashes";
    let tcb_ok = Sha384::digest(part(report, TEE_TCB_INFO)).as_slice() == part(report, (32, 48));
    let info_ok = Sha384::digest(part(report, TDINFO)).as_slice() == part(report, (80, 48));
    match (tcb_ok, info_ok) {
        (true, true) => v.pass(
            NAME,
            "TEE_TCB_INFO_HASH and TEE_INFO_HASH match their structures",
        ),
        (false, _) => v.fail(NAME, "TEE_TCB_INFO_HASH is not SHA-384 of TEE_TCB_INFO"),
        (true, false) => v.fail(NAME, "TEE_INFO_HASH is not SHA-384 of TDINFO"),
    }
}

fn check_quote_match(v: &mut Verdict, report: &[u8], quote: &[u8]) {
    const NAME: &str = "tdx.hcl.quote_match";
    let q = match Quote::parse(quote) {
        Ok(q) if q.body_kind != BodyKind::Sgx => q,
        Ok(_) => return v.fail(NAME, "the quote is an SGX quote"),
        Err(e) => return v.fail(NAME, format!("quote does not parse: {e}")),
    };
    // Quote TD body offsets: MRTD 136, RTMR0 328, REPORTDATA 520.
    let body = |at: usize, len: usize| q.body.get(at..at + len).unwrap_or_default();
    let pairs = [
        ("MRTD", body(136, 48), part(report, (MRTD, 48))),
        ("RTMRs", body(328, 192), part(report, (RTMR0, 192))),
        ("REPORTDATA", body(520, 64), part(report, REPORT_DATA)),
    ];
    match pairs.iter().find(|(_, a, b)| a != b) {
        None => v.pass(NAME, "MRTD, RTMR0-3 and REPORTDATA equal the quote's"),
        Some((what, _, _)) => v.fail(NAME, format!("{what} differs from the quote's")),
    }
}
