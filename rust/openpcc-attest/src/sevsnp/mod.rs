//! AMD SEV-SNP: attestation reports (versions 2 to 5, bare or in Azure's HCL wrapper), their
//! P-384 signature by a VCEK or VLEK, the chain VCEK/VLEK → ASK/ASVK → ARK for Milan, Genoa and
//! Turin (AMD roots built in, overridable), the ARK's CRL when given, validity windows at an
//! explicit instant, and the match of the reported TCB and chip id against the VCEK.
//!
//! Check names: `sevsnp.report.parse`, `sevsnp.hcl.parse`, `sevsnp.hcl.report_data`,
//! `sevsnp.vcek`, `sevsnp.chain.ark`, `sevsnp.chain.ask`, `sevsnp.chain.vcek`, `sevsnp.chain.path`,
//! `sevsnp.crl`,
//! `sevsnp.chain.validity`, `sevsnp.report.signing_key`, `sevsnp.report.signature`,
//! `sevsnp.tcb.match`, `sevsnp.chip_id.match`.

pub mod hcl;
pub mod report;
mod vcek;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use crate::verdict::{Check, Verdict};
use crate::x509::{self, Cert, PublicKey, RevocationList};
pub use report::{Generation, Report, SigningKey, Tcb};
use vcek::VcekInfo;

/// Why SEV-SNP evidence could not be parsed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SevSnpError {
    /// The report is not 1184 bytes.
    #[error("report is {0} bytes, expected 1184")]
    ReportSize(usize),
    /// The report version is not 2 to 5.
    #[error("unsupported report version {0} (2 to 5 are supported)")]
    UnsupportedVersion(u32),
    /// The Azure HCL wrapper is malformed.
    #[error("hcl report: {0}")]
    Hcl(&'static str),
    /// A root certificate given as an override is malformed.
    #[error("roots: {0}")]
    Roots(#[from] x509::X509Error),
}

const BUILTIN_ARKS: [&str; 3] = [
    include_str!("roots/milan_ark.pem"),
    include_str!("roots/genoa_ark.pem"),
    include_str!("roots/turin_ark.pem"),
];
const BUILTIN_INTERMEDIATES: [&str; 6] = [
    include_str!("roots/milan_ask.pem"),
    include_str!("roots/genoa_ask.pem"),
    include_str!("roots/turin_ask.pem"),
    include_str!("roots/milan_asvk.pem"),
    include_str!("roots/genoa_asvk.pem"),
    include_str!("roots/turin_asvk.pem"),
];

/// The trusted AMD root keys (ARKs) and the intermediates (ASK, ASVK) used when the caller
/// gives no chain.
#[derive(Clone, Debug)]
pub struct Roots {
    arks: Vec<Cert>,
    intermediates: Vec<Cert>,
}

impl Roots {
    /// AMD's ARK, ASK and ASVK for Milan, Genoa and Turin (public certificates, built in).
    #[must_use]
    pub fn builtin() -> Self {
        let parse = |pems: &[&str]| -> Vec<Cert> {
            pems.iter()
                .filter_map(|p| Cert::from_der_or_pem(p.as_bytes()).ok())
                .collect()
        };
        Self {
            arks: parse(&BUILTIN_ARKS),
            intermediates: parse(&BUILTIN_INTERMEDIATES),
        }
    }

    /// Trust exactly these ARKs (PEM bundle or one DER). No built-in intermediates are offered:
    /// the caller then gives the chain.
    pub fn from_arks(bytes: &[u8]) -> Result<Self, SevSnpError> {
        Ok(Self {
            arks: x509::certs_from_der_or_pem(bytes)?,
            intermediates: Vec::new(),
        })
    }
}

impl Default for Roots {
    fn default() -> Self {
        Self::builtin()
    }
}

/// The inputs of one verification.
#[derive(Clone, Copy, Debug)]
pub struct Evidence<'a> {
    /// A bare report, or Azure's HCL report.
    pub report: &'a [u8],
    /// The VCEK or VLEK, DER or PEM.
    pub vcek: Option<&'a [u8]>,
    /// ASK/ASVK and ARK, PEM, any order. When absent the built-in intermediates are used.
    pub chain: Option<&'a [u8]>,
    /// The ARK's CRL, DER or PEM.
    pub crl: Option<&'a [u8]>,
    /// The instant certificates and the CRL are judged at, seconds since the Unix epoch.
    pub at: u64,
}

/// What the chain checks concluded, independent of the report and of the instant.
#[derive(Debug)]
struct ChainOutcome {
    checks: Vec<Check>,
    /// (what, notBefore, notAfter) of every certificate and the CRL.
    windows: Vec<(String, u64, u64)>,
    vcek: Option<VcekInfo>,
}

/// A verifier that caches chain verification by the SHA-256 of (VCEK, chain, CRL): with a
/// cached chain a report costs one P-384 verification.
#[derive(Debug)]
pub struct SevSnpVerifier {
    roots: Roots,
    cache: Mutex<HashMap<[u8; 32], Arc<ChainOutcome>>>,
}

/// The cache holds at most this many chains; past it, it is cleared (VCEKs are per chip and TCB,
/// so a verifier sees few).
const CACHE_LIMIT: usize = 1024;

impl SevSnpVerifier {
    /// A verifier trusting `roots`.
    #[must_use]
    pub fn new(roots: Roots) -> Self {
        Self {
            roots,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies, reusing a cached chain outcome when the same VCEK/chain/CRL was seen.
    pub fn verify(&self, ev: &Evidence<'_>) -> Verdict {
        let Some(vcek) = ev.vcek else {
            return verify_with_chain(ev, &chain_outcome(&self.roots, ev));
        };
        let key = cache_key(vcek, ev.chain, ev.crl);
        let cached = self.cache.lock().ok().and_then(|c| c.get(&key).cloned());
        let outcome = cached.unwrap_or_else(|| {
            let fresh = Arc::new(chain_outcome(&self.roots, ev));
            if let Ok(mut cache) = self.cache.lock() {
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(key, Arc::clone(&fresh));
            }
            fresh
        });
        verify_with_chain(ev, &outcome)
    }
}

impl Default for SevSnpVerifier {
    fn default() -> Self {
        Self::new(Roots::builtin())
    }
}

fn cache_key(vcek: &[u8], chain: Option<&[u8]>, crl: Option<&[u8]>) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [Some(vcek), chain, crl] {
        let part = part.unwrap_or_default();
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// Verifies one report against `roots` without caching.
#[must_use]
pub fn verify_report(ev: &Evidence<'_>, roots: &Roots) -> Verdict {
    verify_with_chain(ev, &chain_outcome(roots, ev))
}

/// Parses a report (bare or HCL) and returns its claims, with one check per layer parsed.
#[must_use]
pub fn parse_report(bytes: &[u8]) -> Verdict {
    let mut v = Verdict::new();
    let _ = unwrap_report(bytes, &mut v, None);
    v
}

/// Unwraps an HCL report if needed, parses the SNP report and records claims. The VCEK's
/// product, when known, picks the TCB layout; else the report's CPUID fields do.
fn unwrap_report<'a>(
    bytes: &'a [u8],
    v: &mut Verdict,
    product: Option<Generation>,
) -> Option<Report<'a>> {
    let mut report_bytes = bytes;
    let mut wrapper = None;
    if hcl::is_hcl(bytes) {
        match hcl::parse(bytes) {
            Ok(h) if h.report_type == hcl::REPORT_TYPE_SNP => {
                v.pass(
                    "sevsnp.hcl.parse",
                    format!(
                        "Azure HCL report, {}-byte runtime data",
                        h.runtime_data.len()
                    ),
                );
                report_bytes = h.report_area;
                wrapper = Some(h);
            }
            Ok(h) => {
                v.fail(
                    "sevsnp.hcl.parse",
                    format!("HCL report type {} is not SNP (2)", h.report_type),
                );
                return None;
            }
            Err(e) => {
                v.fail("sevsnp.hcl.parse", e.to_string());
                return None;
            }
        }
    }
    let report = match Report::parse(report_bytes) {
        Ok(r) => r,
        Err(e) => {
            v.fail("sevsnp.report.parse", e.to_string());
            return None;
        }
    };
    let generation = product.or_else(|| report.cpuid_generation());
    v.pass(
        "sevsnp.report.parse",
        format!("SNP report version {}", report.version()),
    );
    v.claims.extend(report.claims(generation));
    if let Some(h) = wrapper {
        v.claim("hcl_runtime_data", h.runtime_data_claim());
        match h.check_binding(report.report_data()) {
            Ok(d) => v.pass("sevsnp.hcl.report_data", d),
            Err(d) => v.fail("sevsnp.hcl.report_data", d),
        }
    }
    Some(report)
}

fn verify_with_chain(ev: &Evidence<'_>, chain: &ChainOutcome) -> Verdict {
    let mut v = Verdict::new();
    let product = chain.vcek.as_ref().and_then(|k| k.generation);
    let report = unwrap_report(ev.report, &mut v, product);
    v.checks.extend(chain.checks.iter().cloned());
    if !chain.windows.is_empty() {
        check_windows(&mut v, &chain.windows, ev.at);
    }
    let (Some(report), Some(vcek)) = (report, chain.vcek.as_ref()) else {
        return v;
    };
    check_signing_key(&mut v, &report, vcek);
    check_signature(&mut v, &report, vcek);
    check_tcb(&mut v, &report, vcek);
    check_chip_id(&mut v, &report, vcek);
    v
}

fn check_windows(v: &mut Verdict, windows: &[(String, u64, u64)], at: u64) {
    let at_text = x509::fmt_unix(at);
    for (what, nb, na) in windows {
        if at < *nb {
            v.fail(
                "sevsnp.chain.validity",
                format!(
                    "{what} not valid before {} (instant {at_text})",
                    x509::fmt_unix(*nb)
                ),
            );
            return;
        }
        if at > *na {
            v.fail(
                "sevsnp.chain.validity",
                format!("{what} expired {} (instant {at_text})", x509::fmt_unix(*na)),
            );
            return;
        }
    }
    v.pass(
        "sevsnp.chain.validity",
        format!("every certificate (and CRL) valid at {at_text}"),
    );
}

fn check_signing_key(v: &mut Verdict, report: &Report<'_>, key: &VcekInfo) {
    let expected = if key.is_vlek {
        SigningKey::Vlek
    } else {
        SigningKey::Vcek
    };
    if report.signing_key() == expected {
        v.pass(
            "sevsnp.report.signing_key",
            format!("report signed by a {}", key.kind()),
        );
    } else {
        v.fail(
            "sevsnp.report.signing_key",
            format!(
                "report says {:?} signed it but the certificate is a {}",
                report.signing_key(),
                key.kind()
            ),
        );
    }
}

fn check_signature(v: &mut Verdict, report: &Report<'_>, key: &VcekInfo) {
    const NAME: &str = "sevsnp.report.signature";
    if report.signature_algo() != 1 {
        v.fail(
            NAME,
            format!(
                "signature algorithm {} is not ECDSA P-384 SHA-384 (1)",
                report.signature_algo()
            ),
        );
        return;
    }
    let Some((r, s)) = report.signature_scalars() else {
        v.fail(NAME, "signature r or s has non-zero bytes above 48");
        return;
    };
    // Unsigned bytes that could be changed freely: AMD writes zeros, so anything else is refused.
    if !report.signature_reserved_is_zero() {
        v.fail(
            NAME,
            "the reserved bytes 0x330..0x4A0 after the signature are not zero",
        );
        return;
    }
    let mut fixed = [0u8; 96];
    fixed[..48].copy_from_slice(&r);
    fixed[48..].copy_from_slice(&s);
    match key.key.verify_sig(report.signed_bytes(), &fixed) {
        Ok(()) => v.pass(
            NAME,
            format!(
                "ECDSA P-384 signature over [0, 0x2A0) verifies with the {}",
                key.kind()
            ),
        ),
        Err(_) => v.fail(
            NAME,
            format!(
                "ECDSA P-384 signature does not verify with the {}",
                key.kind()
            ),
        ),
    }
}

fn check_tcb(v: &mut Verdict, report: &Report<'_>, key: &VcekInfo) {
    const NAME: &str = "sevsnp.tcb.match";
    let cpuid = report.cpuid_generation();
    let Some(generation) = key.generation.or(cpuid) else {
        v.fail(NAME, "unknown processor generation: cannot decode the TCB");
        return;
    };
    if let (Some(from_cert), Some(from_cpuid)) = (key.generation, cpuid) {
        if from_cert != from_cpuid {
            v.fail(
                NAME,
                format!(
                    "report CPUID says {} but the certificate is for {}",
                    from_cpuid.name(),
                    from_cert.name()
                ),
            );
            return;
        }
    }
    let reported = Tcb::decode(report.reported_tcb(), generation);
    match key.tcb_mismatch(reported) {
        None => v.pass(
            NAME,
            format!(
                "reported TCB {} equals the certificate's SPLs",
                tcb_text(reported)
            ),
        ),
        Some(why) => v.fail(NAME, why),
    }
}

fn tcb_text(t: Tcb) -> String {
    let fmc = t.fmc.map(|f| format!("fmc={f} ")).unwrap_or_default();
    format!(
        "{fmc}bl={} tee={} snp={} ucode={}",
        t.bootloader, t.tee, t.snp, t.microcode
    )
}

fn check_chip_id(v: &mut Verdict, report: &Report<'_>, key: &VcekInfo) {
    const NAME: &str = "sevsnp.chip_id.match";
    let Some(hwid) = key.hwid.as_deref() else {
        if key.is_vlek {
            v.pass(NAME, "VLEK: not bound to one chip");
        } else {
            v.fail(NAME, "VCEK has no hwID extension");
        }
        return;
    };
    if report.chip_id_masked() {
        v.fail(
            NAME,
            "report masks CHIP_ID, so it cannot be matched to the VCEK",
        );
        return;
    }
    // Turin VCEKs carry an 8-byte hwID: the first 8 bytes of CHIP_ID, the rest zero.
    let chip = report.chip_id();
    let (head, tail) = chip.split_at(hwid.len().min(chip.len()));
    if head == hwid && tail.iter().all(|b| *b == 0) {
        v.pass(
            NAME,
            format!("CHIP_ID equals the VCEK hwID ({} bytes)", hwid.len()),
        );
    } else {
        v.fail(
            NAME,
            "CHIP_ID differs from the VCEK hwID: the VCEK is for another chip",
        );
    }
}

/// Verifies VCEK/VLEK → ASK/ASVK → ARK (and the CRL). Never depends on the instant.
fn chain_outcome(roots: &Roots, ev: &Evidence<'_>) -> ChainOutcome {
    let mut out = ChainOutcome {
        checks: Vec::new(),
        windows: Vec::new(),
        vcek: None,
    };
    let mut v = Verdict::new();
    let Some(vcek_bytes) = ev.vcek else {
        v.fail("sevsnp.vcek", "VCEK unavailable: a VCEK or VLEK certificate is required to verify the signature (none given; openpcc never fetches one)");
        out.checks = v.checks;
        return out;
    };
    let parsed = Cert::from_der_or_pem(vcek_bytes)
        .map_err(|e| e.to_string())
        .and_then(|c| VcekInfo::from_cert(&c).map(|i| (c, i)));
    let (leaf, info) = match parsed {
        Ok(pair) => pair,
        Err(e) => {
            v.fail("sevsnp.vcek", format!("VCEK does not parse: {e}"));
            out.checks = v.checks;
            return out;
        }
    };
    let product = info.product.as_deref().unwrap_or("unknown product");
    v.pass("sevsnp.vcek", format!("{} for {product}", info.kind()));
    out.windows.push(window(info.kind().to_owned(), &leaf));
    if let Some((ask, ark)) = chain_path(roots, ev, &leaf, &mut v) {
        out.windows.push(window(ask.subject(), &ask));
        out.windows.push(window(ark.subject(), &ark));
        if let Some(crl) = ev.crl {
            if let Some(w) = check_crl(&mut v, crl, &ask, &ark) {
                out.windows.push(w);
            }
        }
    }
    out.vcek = Some(info);
    out.checks = v.checks;
    out
}

fn window(what: String, cert: &Cert) -> (String, u64, u64) {
    let (not_before, not_after) = cert.validity_unix();
    (what, not_before, not_after)
}

/// Finds and verifies the ASK (or ASVK) that signed the leaf and the ARK that signed it.
fn chain_path(
    roots: &Roots,
    ev: &Evidence<'_>,
    leaf: &Cert,
    v: &mut Verdict,
) -> Option<(Cert, Cert)> {
    let (intermediates, chain_arks) = match ev.chain {
        Some(bytes) => match x509::certs_from_der_or_pem(bytes) {
            Ok(certs) => certs
                .into_iter()
                .partition::<Vec<Cert>, _>(|c| !c.issued_by_name(c)),
            Err(e) => {
                v.fail("sevsnp.chain.ask", format!("chain does not parse: {e}"));
                return None;
            }
        },
        None => (roots.intermediates.clone(), Vec::new()),
    };
    // A self-signed certificate in the given chain is only accepted if it is a trusted ARK.
    for ark in &chain_arks {
        if !roots.arks.iter().any(|r| r.der() == ark.der()) {
            v.fail(
                "sevsnp.chain.ark",
                format!("{} in the chain is not a trusted AMD root", ark.subject()),
            );
            return None;
        }
    }
    let ask = find_issuer(leaf, &intermediates, "sevsnp.chain.vcek", v)?;
    // The issuer must be a CA before anything is built on it (a VCEK "issuing" a VCEK stops here).
    let below_ask = x509::check_end_entity(leaf.certificate())
        .and_then(|()| x509::check_issuer(ask.certificate(), 0))
        .and_then(|()| check_leaf_issuer(leaf, &ask));
    if let Err(why) = below_ask {
        v.fail("sevsnp.chain.path", why);
        return None;
    }
    let ark = find_issuer(&ask, &roots.arks, "sevsnp.chain.ask", v)?;
    if let Err(why) = x509::check_path(&[leaf.certificate(), ask.certificate(), ark.certificate()])
    {
        v.fail("sevsnp.chain.path", why);
        return None;
    }
    v.pass(
        "sevsnp.chain.path",
        format!(
            "{} → {} → {}: issuers are CAs allowed to sign certificates, path lengths hold",
            leaf.common_name().unwrap_or_default(),
            ask.common_name().unwrap_or_default(),
            ark.common_name().unwrap_or_default()
        ),
    );
    match ark.public_key().and_then(|k| ark.verify_signed_by(&k)) {
        Ok(()) => v.pass(
            "sevsnp.chain.ark",
            format!("{} is a trusted root and self-signed", ark.subject()),
        ),
        Err(e) => {
            v.fail(
                "sevsnp.chain.ark",
                format!("{} self-signature: {e}", ark.subject()),
            );
            return None;
        }
    }
    Some((ask, ark))
}

/// AMD's shape: a VCEK is issued by the ASK (`SEV-<product>`), a VLEK by the ASVK
/// (`SEV-VLEK-<product>`); a VLEK signed by an ASK, or the reverse, is not a key AMD issued.
fn check_leaf_issuer(leaf: &Cert, issuer: &Cert) -> Result<(), String> {
    let leaf_is_vlek = leaf
        .common_name()
        .is_some_and(|n| n.starts_with("SEV-VLEK"));
    let issuer_name = issuer.common_name().unwrap_or_default();
    let issuer_is_asvk = issuer_name.starts_with("SEV-VLEK-");
    match (leaf_is_vlek, issuer_is_asvk) {
        (false, false) | (true, true) if issuer_name.starts_with("SEV-") => Ok(()),
        (true, _) => Err(format!(
            "a VLEK must be issued by an ASVK (SEV-VLEK-…), not {issuer_name}"
        )),
        (false, _) => Err(format!(
            "a VCEK must be issued by an ASK (SEV-…), not {issuer_name}"
        )),
    }
}

/// The candidate whose subject is `child`'s issuer and whose key verifies `child`.
fn find_issuer(child: &Cert, candidates: &[Cert], name: &str, v: &mut Verdict) -> Option<Cert> {
    let named: Vec<&Cert> = candidates
        .iter()
        .filter(|c| child.issued_by_name(c))
        .collect();
    if named.is_empty() {
        v.fail(
            name,
            format!(
                "no certificate in the chain or roots is the issuer {} of {}",
                child.issuer(),
                child.subject()
            ),
        );
        return None;
    }
    for issuer in &named {
        let verified = issuer
            .public_key()
            .and_then(|k: PublicKey| child.verify_signed_by(&k));
        if verified.is_ok() {
            v.pass(
                name,
                format!("{} is signed by {}", child.subject(), issuer.subject()),
            );
            return Some((*issuer).clone());
        }
    }
    v.fail(
        name,
        format!(
            "signature of {} by {} does not verify",
            child.subject(),
            child.issuer()
        ),
    );
    None
}

fn check_crl(v: &mut Verdict, bytes: &[u8], ask: &Cert, ark: &Cert) -> Option<(String, u64, u64)> {
    const NAME: &str = "sevsnp.crl";
    let crl = match RevocationList::from_der_or_pem(bytes) {
        Ok(c) => c,
        Err(e) => {
            v.fail(NAME, format!("CRL does not parse: {e}"));
            return None;
        }
    };
    if !crl.issued_by_name(ark) {
        v.fail(
            NAME,
            format!("CRL issuer {} is not {}", crl.issuer(), ark.subject()),
        );
        return None;
    }
    if let Err(e) = x509::check_crl_issuer(ark.certificate()) {
        v.fail(NAME, e);
        return None;
    }
    if let Err(e) = ark.public_key().and_then(|k| crl.verify_signed_by(&k)) {
        v.fail(NAME, format!("CRL signature by {}: {e}", ark.subject()));
        return None;
    }
    if crl.revokes(&ask.serial()) {
        v.fail(
            NAME,
            format!(
                "{} (serial {}) is revoked",
                ask.subject(),
                crate::to_hex(&ask.serial())
            ),
        );
        return None;
    }
    v.pass(
        NAME,
        format!(
            "CRL signed by {}, {} entries, {} not revoked",
            ark.subject(),
            crl.entries(),
            ask.subject()
        ),
    );
    let (this_update, next_update) = crl.window();
    Some((
        format!("CRL of {}", ark.subject()),
        this_update,
        next_update,
    ))
}
