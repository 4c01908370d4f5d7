//! Intel TDX (and SGX) DCAP quotes: parsing (v3, v4, v5; SGX, TD 1.0 and TD 1.5 bodies), the
//! quote's ECDSA P-256 signature by the attestation key, the QE report's binding to that key and
//! its signature by the PCK, the PCK chain to the built-in Intel SGX Root CA, and appraisal
//! against collateral (TCB info, QE identity, CRLs) at an explicit instant, giving Intel's TCB
//! status.
//!
//! Check names: `tdx.quote.parse`, `tdx.quote.signature`, `tdx.qe_report.binding`,
//! `tdx.pck_chain`, `tdx.qe_report.signature`, `tdx.pck_chain.validity`, `tdx.pck.extension`,
//! `tdx.collateral.parse`, `tdx.collateral.tcb_info`, `tdx.collateral.qe_identity`,
//! `tdx.collateral.crl`, `tdx.collateral.freshness`, `tdx.collateral.kind`, `tdx.qe_identity.match`,
//! `tdx.module_identity`, `tdx.tcb.status`.
//!
//! The collateral input format is documented in [`collateral`].

mod azure;
pub mod collateral;
mod pck;
pub mod quote;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use crate::to_hex;
use crate::verdict::Verdict;
use crate::x509::{self, Cert, KeyKind, PublicKey, RevocationList};
pub use azure::verify_azure_hcl;
use collateral::{Collateral, Status};
pub use pck::PckInfo;
pub use quote::{BodyKind, Quote};

/// Why a quote or its collateral could not be parsed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TdxError {
    /// The input ends inside a field.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// A length field is inconsistent with what it frames.
    #[error("inconsistent {0}")]
    Length(&'static str),
    /// Not quote version 3, 4 or 5.
    #[error("unsupported quote version {0}")]
    UnsupportedVersion(u16),
    /// Not ECDSA-256-with-P-256.
    #[error("unsupported attestation key type {0}")]
    AttestationKeyType(u16),
    /// A TEE type that does not fit the version or body.
    #[error("unsupported tee type {0:#x}")]
    TeeType(u32),
    /// An unknown v5 body type.
    #[error("unsupported body type {0}")]
    BodyType(u16),
    /// Certification data of an unexpected type.
    #[error("unexpected certification data type")]
    CertificationType,
    /// Collateral JSON malformed.
    #[error("malformed collateral: {0}")]
    Collateral(&'static str),
}

const INTEL_ROOT_PEM: &str = include_str!("intel_sgx_root_ca.pem");
/// A PCK chain longer than this is rejected (Intel's is 3).
const MAX_CHAIN: usize = 5;
/// The CAs Intel issues PCK certificates from (Intel PCK certificate profile).
const PCK_CA_NAMES: [&str; 2] = ["Intel SGX PCK Platform CA", "Intel SGX PCK Processor CA"];
/// The certificate that signs TCB info and QE identity documents.
const TCB_SIGNING_NAME: &str = "Intel SGX TCB Signing";

/// The trusted Intel SGX Root CA.
#[derive(Clone, Debug)]
pub struct TdxRoot {
    root: Arc<Cert>,
    key: PublicKey,
}

impl TdxRoot {
    /// The built-in Intel SGX Root CA.
    ///
    /// # Panics
    /// Never: the embedded certificate is tested to parse.
    #[must_use]
    #[allow(clippy::missing_panics_doc)]
    pub fn builtin() -> Self {
        #[allow(clippy::expect_used)]
        Self::from_der_or_pem(INTEL_ROOT_PEM.as_bytes()).expect("embedded Intel root parses")
    }

    /// A different root (for tests or another trust anchor), DER or PEM.
    pub fn from_der_or_pem(bytes: &[u8]) -> Result<Self, x509::X509Error> {
        let root = Cert::from_der_or_pem(bytes)?;
        let key = root.public_key()?;
        Ok(Self {
            root: Arc::new(root),
            key,
        })
    }
}

impl Default for TdxRoot {
    fn default() -> Self {
        Self::builtin()
    }
}

/// Parses a quote and returns its claims (one `tdx.quote.parse` check).
#[must_use]
pub fn parse_quote(bytes: &[u8]) -> Verdict {
    let mut v = Verdict::new();
    if let Some(q) = parse_into(bytes, &mut v) {
        if let Some(info) = Cert::from_der_or_pem(q.pck_chain)
            .ok()
            .as_ref()
            .and_then(PckInfo::from_cert)
        {
            pck_claims(&mut v, &info);
        }
    }
    v
}

fn parse_into<'a>(bytes: &'a [u8], v: &mut Verdict) -> Option<Quote<'a>> {
    match Quote::parse(bytes) {
        Ok(q) => {
            let extra = if q.trailing > 0 {
                format!(", {} bytes after it ignored", q.trailing)
            } else {
                String::new()
            };
            v.pass(
                "tdx.quote.parse",
                format!(
                    "quote v{} with a {} body{extra}",
                    q.version,
                    q.body_kind.name()
                ),
            );
            v.claims.extend(q.claims());
            v.claim("qe_report", q.qe_report_claims());
            Some(q)
        }
        Err(e) => {
            v.fail("tdx.quote.parse", e.to_string());
            None
        }
    }
}

fn pck_claims(v: &mut Verdict, info: &PckInfo) {
    v.claim("fmspc", to_hex(&info.fmspc));
    v.claim("pce_id", to_hex(&info.pce_id));
    v.claim("pck_pce_svn", info.pce_svn);
    v.claim("pck_cpusvn", to_hex(&info.sgx_comps));
}

/// The TCB statuses a relying party accepts besides `UpToDate` (Intel leaves this to the relying
/// party: `SWHardeningNeeded`, `ConfigurationNeeded`, `OutOfDate`… each mean a known weakness the
/// platform has not fixed). `Revoked` and unknown statuses are never accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedTcb {
    statuses: Vec<String>,
}

impl AcceptedTcb {
    /// `UpToDate` only: the default.
    #[must_use]
    pub fn up_to_date_only() -> Self {
        Self::new(["UpToDate"])
    }

    /// These statuses (`UpToDate` is always accepted).
    #[must_use]
    pub fn new<S: AsRef<str>>(statuses: impl IntoIterator<Item = S>) -> Self {
        let mut statuses: Vec<String> = statuses
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .filter(|s| s != "Revoked")
            .collect();
        statuses.push("UpToDate".into());
        statuses.sort();
        statuses.dedup();
        Self { statuses }
    }

    fn accepts(&self, status: &str) -> bool {
        self.statuses.iter().any(|s| s == status)
    }
}

impl Default for AcceptedTcb {
    fn default() -> Self {
        Self::up_to_date_only()
    }
}

/// Verifies a quote with its collateral at `at` (seconds since the Unix epoch), accepting only
/// the `UpToDate` TCB status.
#[must_use]
pub fn verify_quote(bytes: &[u8], collateral: Option<&[u8]>, at: u64, root: &TdxRoot) -> Verdict {
    verify_quote_accepting(bytes, collateral, at, root, &AcceptedTcb::default())
}

/// [`verify_quote`] accepting the TCB statuses in `accepted`.
#[must_use]
pub fn verify_quote_accepting(
    bytes: &[u8],
    collateral: Option<&[u8]>,
    at: u64,
    root: &TdxRoot,
    accepted: &AcceptedTcb,
) -> Verdict {
    verify_staged(
        bytes,
        at,
        accepted,
        |chain| Arc::new(chain_stage(chain, root)),
        |chain| Arc::new(collateral_stage(collateral, chain, root)),
    )
}

/// A verifier that caches the instant-independent parts: the PCK chain (by its bytes) and the
/// collateral's signatures, chains and CRLs (by collateral and PCK chain). A quote whose chain
/// and collateral were seen costs its two P-256 signature checks and the TCB matching.
#[derive(Debug)]
pub struct TdxVerifier {
    root: TdxRoot,
    chains: Mutex<HashMap<[u8; 32], Arc<ChainStage>>>,
    collaterals: Mutex<HashMap<[u8; 32], Arc<CollateralStage>>>,
}

/// Past this many entries a cache is cleared.
const CACHE_LIMIT: usize = 1024;

fn cached<T>(
    cache: &Mutex<HashMap<[u8; 32], Arc<T>>>,
    key: [u8; 32],
    make: impl FnOnce() -> T,
) -> Arc<T> {
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return hit;
    }
    let fresh = Arc::new(make());
    if let Ok(mut c) = cache.lock() {
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(key, Arc::clone(&fresh));
    }
    fresh
}

impl TdxVerifier {
    /// A verifier trusting `root`.
    #[must_use]
    pub fn new(root: TdxRoot) -> Self {
        Self {
            root,
            chains: Mutex::new(HashMap::new()),
            collaterals: Mutex::new(HashMap::new()),
        }
    }

    /// Same verdict as [`verify_quote`], reusing cached chain and collateral checks.
    pub fn verify(&self, bytes: &[u8], collateral: Option<&[u8]>, at: u64) -> Verdict {
        self.verify_accepting(bytes, collateral, at, &AcceptedTcb::default())
    }

    /// Same verdict as [`verify_quote_accepting`], reusing cached chain and collateral checks.
    pub fn verify_accepting(
        &self,
        bytes: &[u8],
        collateral: Option<&[u8]>,
        at: u64,
        accepted: &AcceptedTcb,
    ) -> Verdict {
        let chain_key = std::cell::Cell::new([0u8; 32]);
        verify_staged(
            bytes,
            at,
            accepted,
            |chain| {
                chain_key.set(Sha256::digest(chain).into());
                cached(&self.chains, chain_key.get(), || {
                    chain_stage(chain, &self.root)
                })
            },
            |chain| {
                let mut h = Sha256::new();
                h.update(chain_key.get());
                h.update(collateral.unwrap_or_default());
                h.update([u8::from(collateral.is_some())]);
                cached(&self.collaterals, h.finalize().into(), || {
                    collateral_stage(collateral, chain, &self.root)
                })
            },
        )
    }
}

impl Default for TdxVerifier {
    fn default() -> Self {
        Self::new(TdxRoot::builtin())
    }
}

/// What the PCK chain checks concluded; independent of the quote's other bytes and the instant.
#[derive(Debug)]
pub struct ChainStage {
    verdict: Verdict,
    chain: Vec<Arc<Cert>>,
    /// The key of the PCK's issuer (it signs the PCK CRL).
    issuer_key: Option<PublicKey>,
    windows: Vec<Window>,
    leaf_key: Option<PublicKey>,
    info: Option<PckInfo>,
}

/// What the collateral checks concluded for one PCK chain; independent of the instant.
#[derive(Debug)]
pub struct CollateralStage {
    verdict: Verdict,
    windows: Vec<Window>,
    col: Option<Collateral>,
}

fn verify_staged(
    bytes: &[u8],
    at: u64,
    accepted: &AcceptedTcb,
    chain_of: impl FnOnce(&[u8]) -> Arc<ChainStage>,
    collateral_of: impl FnOnce(&ChainStage) -> Arc<CollateralStage>,
) -> Verdict {
    let mut v = Verdict::new();
    let Some(q) = parse_into(bytes, &mut v) else {
        return v;
    };
    check_quote_signature(&mut v, &q);
    check_qe_binding(&mut v, &q);
    let chain = chain_of(q.pck_chain);
    absorb(&mut v, &chain.verdict);
    let (Some(leaf_key), Some(info)) = (&chain.leaf_key, &chain.info) else {
        return v;
    };
    check_qe_report_signature(&mut v, &q, leaf_key);
    check_windows(&mut v, "tdx.pck_chain.validity", &chain.windows, at);
    let stage = collateral_of(&chain);
    absorb(&mut v, &stage.verdict);
    let Some(col) = &stage.col else { return v };
    check_windows(&mut v, "tdx.collateral.freshness", &stage.windows, at);
    let is_td = q.body_kind != BodyKind::Sgx;
    check_collateral_kind(&mut v, col, is_td);
    let qe_status = check_qe_identity_match(&mut v, &q, &col.qe_identity);
    let module_status = if is_td {
        check_module_identity(&mut v, &q, &col.tcb_info)
    } else {
        Module::NotApplicable
    };
    check_tcb_status(
        &mut v,
        &q,
        info,
        &col.tcb_info,
        qe_status.as_ref(),
        &module_status,
        accepted,
    );
    v
}

fn absorb(v: &mut Verdict, stage: &Verdict) {
    v.checks.extend(stage.checks.iter().cloned());
    v.claims
        .extend(stage.claims.iter().map(|(k, x)| (k.clone(), x.clone())));
}

fn chain_stage(pck_chain: &[u8], root: &TdxRoot) -> ChainStage {
    let mut v = Verdict::new();
    let mut stage = ChainStage {
        verdict: Verdict::new(),
        chain: Vec::new(),
        issuer_key: None,
        windows: Vec::new(),
        leaf_key: None,
        info: None,
    };
    if let Some((chain, issuer_key)) = check_pck_chain(&mut v, pck_chain, root) {
        if let Some(leaf) = chain.first() {
            match leaf.public_key() {
                Ok(k) if k.kind() == KeyKind::P256 => stage.leaf_key = Some(k),
                _ => v.fail("tdx.qe_report.signature", "PCK key is not P-256"),
            }
            match PckInfo::from_cert(leaf) {
                Some(info) => {
                    v.pass(
                        "tdx.pck.extension",
                        format!("FMSPC {}, PCE SVN {}", to_hex(&info.fmspc), info.pce_svn),
                    );
                    pck_claims(&mut v, &info);
                    stage.info = Some(info);
                }
                None => v.fail(
                    "tdx.pck.extension",
                    "PCK certificate lacks a well-formed SGX extension (FMSPC, TCB)",
                ),
            }
        }
        stage.windows = chain.iter().map(cert_window).collect();
        stage.chain = chain;
        stage.issuer_key = issuer_key;
    }
    stage.verdict = v;
    stage
}

fn collateral_stage(
    collateral: Option<&[u8]>,
    chain: &ChainStage,
    root: &TdxRoot,
) -> CollateralStage {
    let mut v = Verdict::new();
    let mut stage = CollateralStage {
        verdict: Verdict::new(),
        windows: Vec::new(),
        col: None,
    };
    let Some(info) = &chain.info else {
        return stage;
    };
    let Some(collateral) = collateral else {
        v.fail(
            "tdx.collateral.parse",
            "collateral is required to appraise the TCB (none given; openpcc never fetches it)",
        );
        stage.verdict = v;
        return stage;
    };
    match Collateral::parse(collateral) {
        Ok(col) => {
            v.pass(
                "tdx.collateral.parse",
                "TCB info, QE identity and CRLs parsed",
            );
            stage.windows = check_collateral_docs(&mut v, chain, info, &col, root);
            stage.col = Some(col);
        }
        Err(e) => v.fail("tdx.collateral.parse", e.to_string()),
    }
    stage.verdict = v;
    stage
}

fn check_quote_signature(v: &mut Verdict, q: &Quote<'_>) {
    const NAME: &str = "tdx.quote.signature";
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend_from_slice(q.attestation_key);
    let key = PublicKey::for_fixed_signatures(KeyKind::P256, &sec1);
    match key.verify_fixed(q.signed, q.signature) {
        Err(x509::X509Error::PublicKey) => v.fail(NAME, "attestation key is not a P-256 point"),
        Ok(()) => v.pass(NAME, format!("ECDSA P-256 signature over the {}-byte header and body verifies with the attestation key", q.signed.len())),
        Err(_) => v.fail(NAME, "ECDSA P-256 signature over header and body does not verify with the attestation key"),
    }
}

fn check_qe_binding(v: &mut Verdict, q: &Quote<'_>) {
    const NAME: &str = "tdx.qe_report.binding";
    let mut h = Sha256::new();
    h.update(q.attestation_key);
    h.update(q.qe_auth_data);
    let digest = h.finalize();
    let data = q.qe_report.get(320..384).unwrap_or_default();
    let (head, tail) = data.split_at(32.min(data.len()));
    if head == digest.as_slice() && tail.iter().all(|b| *b == 0) {
        v.pass(
            NAME,
            "QE report data = SHA-256(attestation key || QE auth data), rest zero",
        );
    } else {
        v.fail(
            NAME,
            "QE report data does not bind the attestation key and QE auth data",
        );
    }
}

/// Parses a PEM bundle (or one DER certificate). A certificate identical to the pinned root is
/// not parsed again: the pinned root's parse is used (same bytes, same result).
fn parse_chain(bytes: &[u8], root: &TdxRoot) -> Result<Vec<Arc<Cert>>, x509::X509Error> {
    let parse = |der: &[u8]| {
        if der == root.root.der() {
            Ok(Arc::clone(&root.root))
        } else {
            Cert::from_der(der).map(Arc::new)
        }
    };
    if x509::looks_like_pem(bytes) {
        x509::public_pem_blocks(bytes, "CERTIFICATE")?
            .iter()
            .map(|der| parse(der))
            .collect()
    } else {
        Ok(vec![parse(bytes)?])
    }
}

/// The public key of a chain certificate (the pinned root's is already parsed).
fn key_of(cert: &Arc<Cert>, root: &TdxRoot) -> Result<PublicKey, x509::X509Error> {
    if Arc::ptr_eq(cert, &root.root) {
        Ok(root.key.clone())
    } else {
        cert.public_key()
    }
}

/// A verified chain (leaf first) and the key of the leaf's issuer, if the chain has one.
type VerifiedChain = (Vec<Arc<Cert>>, Option<PublicKey>);

/// Parses and verifies the PCK chain up to the pinned root.
fn check_pck_chain(v: &mut Verdict, pck_chain: &[u8], root: &TdxRoot) -> Option<VerifiedChain> {
    const NAME: &str = "tdx.pck_chain";
    let chain = match parse_chain(pck_chain, root) {
        Ok(c) if (1..=MAX_CHAIN).contains(&c.len()) => c,
        Ok(c) => {
            v.fail(NAME, format!("PCK chain has {} certificates", c.len()));
            return None;
        }
        Err(e) => {
            v.fail(NAME, format!("PCK chain does not parse: {e}"));
            return None;
        }
    };
    match verify_to_root(&chain, root).and_then(|k| check_pck_shape(&chain, root).map(|()| k)) {
        Ok(issuer_key) => {
            v.pass(
                NAME,
                format!(
                    "{} → Intel SGX Root CA verifies",
                    chain
                        .iter()
                        .map(|c| c.subject())
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            );
            Some((chain, issuer_key))
        }
        Err(why) => {
            v.fail(NAME, why);
            None
        }
    }
}

/// Each certificate is signed by the next; the last is the pinned root itself or signed by it;
/// then the shared path rules ([`x509::check_path`]) hold over the whole path, root included.
/// Returns the key of the first certificate's issuer when the chain holds it.
fn verify_to_root(chain: &[Arc<Cert>], root: &TdxRoot) -> Result<Option<PublicKey>, String> {
    let Some((last, _)) = chain.split_last() else {
        return Err("empty chain".into());
    };
    let mut issuer_key = None;
    for pair in chain.windows(2) {
        let [child, parent] = pair else { continue };
        if !child.issued_by_name(parent) {
            return Err(format!(
                "{} is not issued by {}",
                child.subject(),
                parent.subject()
            ));
        }
        if parent.der() == child.der() {
            return Err(format!("chain repeats {}", child.subject()));
        }
        let key = key_of(parent, root)
            .and_then(|k| child.verify_signed_by(&k).map(|()| k))
            .map_err(|e| {
                format!(
                    "signature of {} by {}: {e}",
                    child.subject(),
                    parent.subject()
                )
            })?;
        issuer_key.get_or_insert(key);
    }
    if !Arc::ptr_eq(last, &root.root) {
        if last.issued_by_name(last) {
            return Err(format!(
                "chain ends in {}, not the trusted Intel SGX Root CA",
                last.subject()
            ));
        }
        last.verify_signed_by(&root.key).map_err(|_| {
            format!(
                "{} is not signed by the trusted Intel SGX Root CA",
                last.subject()
            )
        })?;
    }
    let mut path: Vec<&x509_cert::Certificate> = chain.iter().map(|c| c.certificate()).collect();
    if !Arc::ptr_eq(last, &root.root) {
        path.push(root.root.certificate());
    }
    x509::check_path(&path)?;
    Ok(issuer_key)
}

/// The certificates of a verified chain below the root (the root, when included, is last).
fn below_root<'c>(chain: &'c [Arc<Cert>], root: &TdxRoot) -> &'c [Arc<Cert>] {
    match chain.split_last() {
        Some((last, rest)) if Arc::ptr_eq(last, &root.root) => rest,
        _ => chain,
    }
}

/// Intel's PCK certificate profile: PCK leaf → Intel SGX PCK Platform CA or Processor CA → root.
fn check_pck_shape(chain: &[Arc<Cert>], root: &TdxRoot) -> Result<(), String> {
    let names: Vec<String> = below_root(chain, root)
        .iter()
        .map(|c| c.common_name().unwrap_or_default())
        .collect();
    match names.as_slice() {
        [_, ca] if PCK_CA_NAMES.contains(&ca.as_str()) => Ok(()),
        [_, ca] => Err(format!(
            "the PCK's issuer is {ca:?}, not an Intel SGX PCK Platform or Processor CA"
        )),
        _ => Err(format!(
            "a PCK chain is PCK → PCK Platform/Processor CA → Intel SGX Root CA; this one has {} certificate(s) below the root",
            names.len()
        )),
    }
}

/// Intel's collateral signer profile: the TCB Signing certificate directly under the root.
fn check_signer_shape(chain: &[Arc<Cert>], root: &TdxRoot) -> Result<(), String> {
    match below_root(chain, root) {
        [signer] if signer.common_name().as_deref() == Some(TCB_SIGNING_NAME) => Ok(()),
        [signer] => Err(format!(
            "collateral signed by {}, not the {TCB_SIGNING_NAME} certificate",
            signer.subject()
        )),
        below => Err(format!(
            "the {TCB_SIGNING_NAME} certificate sits directly under the Intel SGX Root CA; this chain has {} certificate(s) below the root",
            below.len()
        )),
    }
}

fn check_qe_report_signature(v: &mut Verdict, q: &Quote<'_>, key: &PublicKey) {
    const NAME: &str = "tdx.qe_report.signature";
    match key.verify_fixed(q.qe_report, q.qe_report_signature) {
        Ok(()) => v.pass(NAME, "QE report signature verifies with the PCK key"),
        Err(_) => v.fail(NAME, "QE report signature does not verify with the PCK key"),
    }
}

/// What a validity window belongs to; named only when the window fails (formatting a
/// certificate's subject costs more than checking the window).
#[derive(Clone, Debug)]
enum Label {
    Cert(Arc<Cert>),
    Text(&'static str),
}

impl Label {
    fn text(&self) -> String {
        match self {
            Self::Cert(c) => c.subject(),
            Self::Text(t) => (*t).to_owned(),
        }
    }
}

type Window = (Label, u64, u64);

fn cert_window(c: &Arc<Cert>) -> Window {
    let (nb, na) = c.validity_unix();
    (Label::Cert(Arc::clone(c)), nb, na)
}

fn check_windows(v: &mut Verdict, name: &str, windows: &[Window], at: u64) {
    let t = x509::fmt_unix(at);
    let failure = windows.iter().find_map(|(label, nb, na)| {
        if at < *nb {
            Some(format!(
                "{} not valid before {} (instant {t})",
                label.text(),
                x509::fmt_unix(*nb)
            ))
        } else if at > *na {
            Some(format!(
                "{} expired or stale since {} (instant {t})",
                label.text(),
                x509::fmt_unix(*na)
            ))
        } else {
            None
        }
    });
    match failure {
        Some(why) => v.fail(name, why),
        None => v.pass(name, format!("all valid at {t}")),
    }
}

/// A collateral signing certificate, chained to the pinned root, and its P-256 key.
#[derive(Clone)]
struct Signer {
    cert: Arc<Cert>,
    key: PublicKey,
}

/// Parses and verifies a collateral issuer chain (signing certificate, root).
fn verify_signer_chain(chain_pem: &[u8], root: &TdxRoot) -> Result<Signer, String> {
    let chain = parse_chain(chain_pem, root).map_err(|e| format!("issuer chain: {e}"))?;
    if chain.is_empty() || chain.len() > MAX_CHAIN {
        return Err("issuer chain length".into());
    }
    verify_to_root(&chain, root)?;
    check_signer_shape(&chain, root)?;
    let cert = Arc::clone(chain.first().ok_or("empty issuer chain")?);
    let key = key_of(&cert, root).map_err(|e| e.to_string())?;
    if key.kind() != KeyKind::P256 {
        return Err("signing key is not P-256".into());
    }
    Ok(Signer { cert, key })
}

/// Verifies a document's signature by its (already verified) signer.
fn check_signed_doc(
    signer: &Result<Signer, String>,
    doc: &collateral::Signed,
) -> Result<Arc<Cert>, String> {
    let signer = signer.as_ref().map_err(Clone::clone)?;
    signer
        .key
        .verify_fixed(doc.text.as_bytes(), &doc.signature)
        .map_err(|_| format!("signature by {} does not verify", signer.cert.subject()))?;
    Ok(Arc::clone(&signer.cert))
}

/// Signatures, chains and CRLs of the collateral; returns the freshness windows to judge.
fn check_collateral_docs(
    v: &mut Verdict,
    chain: &ChainStage,
    info: &PckInfo,
    col: &Collateral,
    root: &TdxRoot,
) -> Vec<Window> {
    let tcb_chain = verify_signer_chain(&col.tcb_info_chain, root);
    // Intel serves one chain for both documents: identical bytes are verified once per call.
    let qe_chain = if col.qe_identity_chain == col.tcb_info_chain {
        tcb_chain.clone()
    } else {
        verify_signer_chain(&col.qe_identity_chain, root)
    };
    let tcb_signer = check_tcb_info_doc(v, col, info, &tcb_chain);
    let qe_signer = check_qe_identity_doc(v, col, &qe_chain);
    let mut signers: Vec<Arc<Cert>> = tcb_signer.into_iter().collect();
    if let Some(qe) = qe_signer {
        if !signers.iter().any(|s| Arc::ptr_eq(s, &qe)) {
            signers.push(qe);
        }
    }
    let mut windows: Vec<Window> = signers.iter().map(cert_window).collect();
    check_crls(v, col, chain, &signers, root, &mut windows);
    for (what, unreadable, issue, next) in [
        (
            "TCB info",
            "TCB info (unreadable dates)",
            &col.tcb_info.issue_date,
            &col.tcb_info.next_update,
        ),
        (
            "QE identity",
            "QE identity (unreadable dates)",
            &col.qe_identity.issue_date,
            &col.qe_identity.next_update,
        ),
    ] {
        match (
            x509::parse_rfc3339_utc(issue),
            x509::parse_rfc3339_utc(next),
        ) {
            (Some(a), Some(b)) => windows.push((Label::Text(what), a, b)),
            _ => windows.push((Label::Text(unreadable), u64::MAX, 0)),
        }
    }
    windows
}

/// The collateral must be for this kind of quote: TDX TCB info v3 and a `TD_QE` identity for a
/// TD, SGX and QE for an enclave.
fn check_collateral_kind(v: &mut Verdict, col: &Collateral, is_td: bool) {
    const NAME: &str = "tdx.collateral.kind";
    let tcb_id = col.tcb_info.id.as_deref().unwrap_or("SGX");
    let (want_tcb, want_qe) = if is_td {
        ("TDX", "TD_QE")
    } else {
        ("SGX", "QE")
    };
    if tcb_id != want_tcb {
        v.fail(
            NAME,
            format!("TCB info is for {tcb_id}, the quote needs {want_tcb}"),
        );
    } else if col.qe_identity.id != want_qe {
        v.fail(
            NAME,
            format!(
                "QE identity is {}, the quote needs {want_qe}",
                col.qe_identity.id
            ),
        );
    } else if is_td && col.tcb_info.version < 3 {
        v.fail(NAME, "TDX needs TCB info version 3");
    } else {
        v.pass(NAME, format!("{want_tcb} TCB info and {want_qe} identity"));
    }
}

fn check_tcb_info_doc(
    v: &mut Verdict,
    col: &Collateral,
    info: &PckInfo,
    signer: &Result<Signer, String>,
) -> Option<Arc<Cert>> {
    const NAME: &str = "tdx.collateral.tcb_info";
    let signer = match check_signed_doc(signer, &col.tcb_info_signed) {
        Ok(s) => s,
        Err(e) => {
            v.fail(NAME, format!("TCB info: {e}"));
            return None;
        }
    };
    let t = &col.tcb_info;
    let id = t.id.as_deref().unwrap_or("SGX");
    if !t.fmspc.eq_ignore_ascii_case(&to_hex(&info.fmspc)) {
        v.fail(
            NAME,
            format!(
                "TCB info FMSPC {} is not the PCK's {}",
                t.fmspc,
                to_hex(&info.fmspc)
            ),
        );
    } else if !t.pce_id.eq_ignore_ascii_case(&to_hex(&info.pce_id)) {
        v.fail(NAME, "TCB info PCE-ID is not the PCK's");
    } else {
        v.pass(
            NAME,
            format!(
                "{id} TCB info v{} for FMSPC {} signed by {}",
                t.version,
                t.fmspc,
                signer.subject()
            ),
        );
        v.claim("tcb_info_issue_date", t.issue_date.clone());
    }
    Some(signer)
}

fn check_qe_identity_doc(
    v: &mut Verdict,
    col: &Collateral,
    signer: &Result<Signer, String>,
) -> Option<Arc<Cert>> {
    const NAME: &str = "tdx.collateral.qe_identity";
    let signer = match check_signed_doc(signer, &col.qe_identity_signed) {
        Ok(s) => s,
        Err(e) => {
            v.fail(NAME, format!("QE identity: {e}"));
            return None;
        }
    };
    v.pass(
        NAME,
        format!(
            "{} identity signed by {}",
            col.qe_identity.id,
            signer.subject()
        ),
    );
    Some(signer)
}

fn check_crls(
    v: &mut Verdict,
    col: &Collateral,
    chain: &ChainStage,
    signers: &[Arc<Cert>],
    root: &TdxRoot,
    windows: &mut Vec<Window>,
) {
    const NAME: &str = "tdx.collateral.crl";
    let result = (|| -> Result<String, String> {
        let root_crl = RevocationList::from_der_or_pem(&col.root_ca_crl)
            .map_err(|e| format!("root CA CRL: {e}"))?;
        if !root_crl.issued_by_name(&root.root) {
            return Err("root CA CRL is not issued by the Intel SGX Root CA".into());
        }
        root_crl
            .verify_signed_by(&root.key)
            .map_err(|e| format!("root CA CRL: {e}"))?;
        let (leaf, intermediates) = chain.chain.split_first().ok_or("empty PCK chain")?;
        let pck_issuer = intermediates.first().ok_or("PCK chain has no issuing CA")?;
        let pck_crl =
            RevocationList::from_der_or_pem(&col.pck_crl).map_err(|e| format!("PCK CRL: {e}"))?;
        x509::check_crl_issuer(root.root.certificate()).map_err(|e| format!("root CA CRL: {e}"))?;
        x509::check_crl_issuer(pck_issuer.certificate()).map_err(|e| format!("PCK CRL: {e}"))?;
        if !pck_crl.issued_by_name(pck_issuer) {
            return Err(format!(
                "PCK CRL issuer {} is not the PCK's issuer {}",
                pck_crl.issuer(),
                pck_issuer.subject()
            ));
        }
        let key = chain
            .issuer_key
            .as_ref()
            .ok_or("PCK chain has no issuing CA")?;
        pck_crl
            .verify_signed_by(key)
            .map_err(|e| format!("PCK CRL: {e}"))?;
        if pck_crl.revokes(&leaf.serial()) {
            return Err("the PCK certificate is revoked".into());
        }
        for cert in intermediates.iter().chain(signers) {
            if cert.der() != root.root.der() && root_crl.revokes(&cert.serial()) {
                return Err(format!("{} is revoked by the root CA CRL", cert.subject()));
            }
        }
        for (what, crl) in [("root CA CRL", &root_crl), ("PCK CRL", &pck_crl)] {
            let (a, b) = crl.window();
            windows.push((Label::Text(what), a, b));
        }
        Ok(format!(
            "CRLs verify; PCK not among {} revoked entries",
            pck_crl.entries()
        ))
    })();
    match result {
        Ok(d) => v.pass(NAME, d),
        Err(d) => v.fail(NAME, d),
    }
}

/// Checks the QE report against the QE identity; returns the QE's level status.
fn check_qe_identity_match(
    v: &mut Verdict,
    q: &Quote<'_>,
    id: &collateral::QeIdentity,
) -> Option<Status> {
    const NAME: &str = "tdx.qe_identity.match";
    let r = q.qe_report;
    let field = |at: usize, len: usize| r.get(at..at + len).unwrap_or_default();
    let mrsigner_ok = collateral::decode_hex(&id.mrsigner).is_some_and(|m| m == field(128, 32));
    let prod_ok = quote::le16(field(256, 2)) == id.isvprodid;
    let misc_ok =
        collateral::masked_equal(field(16, 4), &id.miscselect, &id.miscselect_mask) == Some(true);
    let attr_ok =
        collateral::masked_equal(field(48, 16), &id.attributes, &id.attributes_mask) == Some(true);
    let failed: Vec<&str> = [
        ("MRSIGNER", mrsigner_ok),
        ("ISVPRODID", prod_ok),
        ("MISCSELECT", misc_ok),
        ("ATTRIBUTES", attr_ok),
    ]
    .into_iter()
    .filter_map(|(n, ok)| (!ok).then_some(n))
    .collect();
    if !failed.is_empty() {
        v.fail(
            NAME,
            format!(
                "QE report differs from the QE identity in {}",
                failed.join(", ")
            ),
        );
        return None;
    }
    let isvsvn = quote::le16(field(258, 2));
    match collateral::match_qe_level(id, isvsvn) {
        Some(s) if s.status != "Revoked" && collateral::known_status(&s.status) => {
            v.pass(
                NAME,
                format!("QE identity matches; QE ISVSVN {isvsvn} is {}", s.status),
            );
            v.claim("qe_tcb_status", s.status.clone());
            Some(s)
        }
        Some(s) => {
            v.fail(NAME, format!("QE ISVSVN {isvsvn} status {}", s.status));
            None
        }
        None => {
            v.fail(
                NAME,
                format!("QE ISVSVN {isvsvn} is below every QE identity level"),
            );
            None
        }
    }
}

/// What the TDX module check concluded.
enum Module {
    /// The check failed (recorded in the verdict).
    Failed,
    /// SGX quote, or module version 0: no module level applies.
    NotApplicable,
    /// The module's level status.
    Level(Status),
}

/// Checks the SEAM module's signer and attributes and finds the module's level.
fn check_module_identity(v: &mut Verdict, q: &Quote<'_>, info: &collateral::TcbInfo) -> Module {
    const NAME: &str = "tdx.module_identity";
    let (Some(tee), Some(signer), Some(attrs)) =
        (q.tee_tcb_svn(), q.mr_signer_seam(), q.seam_attributes())
    else {
        return Module::NotApplicable;
    };
    let (want_signer, want_attrs, mask, identity) = match collateral::module_identity(info, &tee) {
        Some(Ok(m)) => (&m.mrsigner, &m.attributes, &m.attributes_mask, Some(m)),
        Some(Err(e)) => {
            v.fail(NAME, e);
            return Module::Failed;
        }
        None => {
            if let Some(m) = &info.tdx_module {
                (&m.mrsigner, &m.attributes, &m.attributes_mask, None)
            } else {
                v.fail(NAME, "TCB info has no tdxModule");
                return Module::Failed;
            }
        }
    };
    if collateral::decode_hex(want_signer).is_none_or(|w| w != signer) {
        v.fail(NAME, "MRSIGNERSEAM differs from the TDX module identity");
        return Module::Failed;
    }
    if collateral::masked_equal(attrs, want_attrs, mask) != Some(true) {
        v.fail(NAME, "SEAMATTRIBUTES differ from the TDX module identity");
        return Module::Failed;
    }
    let Some(identity) = identity else {
        v.pass(
            NAME,
            "TDX module signer and attributes match (module version 0)",
        );
        return Module::NotApplicable;
    };
    match collateral::match_module_level(identity, &tee) {
        Some(s) if s.status != "Revoked" && collateral::known_status(&s.status) => {
            v.pass(
                NAME,
                format!("{} ISVSVN {} is {}", identity.id, tee[0], s.status),
            );
            v.claim("tdx_module_tcb_status", s.status.clone());
            Module::Level(s)
        }
        Some(s) => {
            v.fail(
                NAME,
                format!("{} ISVSVN {} status {}", identity.id, tee[0], s.status),
            );
            Module::Failed
        }
        None => {
            v.fail(
                NAME,
                format!(
                    "{} ISVSVN {} is below every module level",
                    identity.id, tee[0]
                ),
            );
            Module::Failed
        }
    }
}

/// The status of a TD 1.5 current TCB (`TEE_TCB_SVN2`), converged with its module and the QE.
fn current_td_status(
    tcb: &collateral::TcbInfo,
    info: &PckInfo,
    svn2: &[u8; 16],
    qe: Option<&Status>,
) -> Result<Status, String> {
    let level = collateral::match_platform(tcb, &info.sgx_comps, info.pce_svn, Some(svn2))
        .ok_or("current TCB (TEE_TCB_SVN2) matches no TCB level")?;
    let mut status = collateral::level_status(level);
    if let Some(identity) = collateral::module_identity(tcb, svn2) {
        let identity = identity?;
        let module = collateral::match_module_level(identity, svn2)
            .ok_or("current TDX module ISVSVN is below every module level")?;
        status.converge(&module);
    }
    if let Some(qe) = qe {
        status.converge(qe);
    }
    Ok(status)
}

fn check_tcb_status(
    v: &mut Verdict,
    q: &Quote<'_>,
    info: &PckInfo,
    tcb: &collateral::TcbInfo,
    qe: Option<&Status>,
    module: &Module,
    accepted: &AcceptedTcb,
) {
    const NAME: &str = "tdx.tcb.status";
    let tee = q.tee_tcb_svn();
    let Some(level) = collateral::match_platform(tcb, &info.sgx_comps, info.pce_svn, tee.as_ref())
    else {
        v.claim("tcb_status", "NoMatch");
        v.fail(
            NAME,
            format!(
                "no TCB level matches the platform (CPUSVN {}, PCE SVN {})",
                to_hex(&info.sgx_comps),
                info.pce_svn
            ),
        );
        return;
    };
    let mut status = collateral::level_status(level);
    if let Module::Level(m) = module {
        status.converge(m);
    }
    if let Some(qe) = qe {
        status.converge(qe);
    }
    if let Some(svn2) = q.tee_tcb_svn2() {
        // TD 1.5: the current TCB (after TD-preserving module updates) must be appraisable too;
        // an out-of-date launch TCB with a current one that is not becomes "relaunch advised".
        match current_td_status(tcb, info, &svn2, qe) {
            Ok(current) if current.status != "Revoked" => {
                v.claim("current_tcb_status", current.status.clone());
                status.relaunch(&current);
            }
            Ok(_) => {
                v.claim("tcb_status", "Revoked");
                v.fail(NAME, "current TCB (TEE_TCB_SVN2) is Revoked");
                return;
            }
            Err(why) => {
                v.claim("tcb_status", "NoMatch");
                v.fail(NAME, why);
                return;
            }
        }
    }
    v.claim("tcb_status", status.status.clone());
    v.claim("advisory_ids", status.advisory_ids.clone());
    v.claim("tcb_date", status.tcb_date.clone());
    if !collateral::known_status(&status.status) {
        v.fail(NAME, format!("unknown TCB status {}", status.status));
    } else if status.status == "Revoked" {
        v.fail(NAME, "TCB status Revoked");
    } else if qe.is_none() || matches!(module, Module::Failed) {
        v.fail(
            NAME,
            format!(
                "platform level {} but the QE or TDX module check failed",
                status.status
            ),
        );
    } else {
        let adv = if status.advisory_ids.is_empty() {
            String::new()
        } else {
            format!(" ({})", status.advisory_ids.join(", "))
        };
        if accepted.accepts(&status.status) {
            v.pass(NAME, format!("TCB status {}{adv}", status.status));
        } else {
            v.fail(
                NAME,
                format!(
                    "TCB status {}{adv} is not accepted (accepted: {}); a relying party may accept it explicitly",
                    status.status,
                    accepted.statuses.join(", ")
                ),
            );
        }
    }
}
