//! Evidence containers and the per-device verdict.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use x509_cert::Certificate;

use super::chain::{default_roots, leaf_fwids, parse_pem_chain, verify_chain, verify_fixed_p384};
use super::spdm::{
    driver_version, opaque_fwid, parse_exchange, parse_opaque, vbios_version, Exchange,
    ALL_MEASUREMENTS,
};
use super::NvidiaError;
use crate::Verdict;

/// No host has more than a few dozen GPUs and switches.
const MAX_ITEMS: usize = 64;

/// What to check the evidence against.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// The nonce the verifier sent; when absent, the nonce recorded in the evidence file (if any)
    /// is compared instead, which proves consistency but not freshness.
    pub nonce: Option<Vec<u8>>,
    /// The instant (seconds since the Unix epoch) to judge certificate validity at.
    pub at_unix: u64,
    /// PEM trust anchors replacing the built-in NVIDIA Device Identity CA.
    pub roots_pem: Option<Vec<u8>>,
    /// A PEM chain given apart from the evidence (for raw hex evidence).
    pub chain_pem: Option<Vec<u8>>,
}

/// One device's evidence, decoded from its container.
struct Item {
    arch: Option<String>,
    raw: Vec<u8>,
    chain_pem: Option<Vec<u8>>,
    file_nonce: Option<Vec<u8>>,
    driver_version: Option<String>,
    vbios_version: Option<String>,
}

#[derive(Deserialize)]
struct JsonItem {
    arch: Option<String>,
    certificate: Option<String>,
    evidence: String,
    nonce: Option<String>,
    driver_version: Option<String>,
    vbios_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonEvidence {
    List(Vec<JsonItem>),
    One(JsonItem),
}

/// Verifies every device in `data`. Never panics: a malformed container is a failed
/// `nvidia.format` check, a malformed device report a failed `nvidia.<i>.spdm` check.
#[must_use]
pub fn verify_evidence(data: &[u8], opts: &VerifyOptions) -> Verdict {
    let mut verdict = Verdict::new();
    let roots = match opts
        .roots_pem
        .as_deref()
        .map_or_else(default_roots, parse_pem_chain)
    {
        Ok(roots) => roots,
        Err(e) => {
            verdict.fail("nvidia.roots", e.to_string());
            return verdict;
        }
    };
    let items = match decode_items(data, opts.chain_pem.as_deref()) {
        Ok(items) => items,
        Err(e) => {
            verdict.fail("nvidia.format", e.to_string());
            return verdict;
        }
    };
    verdict.pass("nvidia.format", format!("{} device report(s)", items.len()));
    let devices: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| verify_item(&mut verdict, i, item, &roots, opts))
        .collect();
    verdict.claim("devices", Value::Array(devices));
    verdict
}

fn decode_items(data: &[u8], chain_pem: Option<&[u8]>) -> Result<Vec<Item>, NvidiaError> {
    let text = std::str::from_utf8(data).map_err(|_| NvidiaError::Format("not utf-8 text"))?;
    let trimmed = text.trim_start();
    let items = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        decode_json(trimmed)?
    } else {
        vec![decode_hex_and_pem(trimmed)?]
    };
    if items.is_empty() {
        return Err(NvidiaError::Format("no evidence items"));
    }
    if items.len() > MAX_ITEMS {
        return Err(NvidiaError::Format("too many evidence items"));
    }
    Ok(items
        .into_iter()
        .map(|mut item| {
            if item.chain_pem.is_none() {
                item.chain_pem = chain_pem.map(<[u8]>::to_vec);
            }
            item
        })
        .collect())
}

fn decode_json(text: &str) -> Result<Vec<Item>, NvidiaError> {
    let parsed: JsonEvidence =
        serde_json::from_str(text).map_err(|_| NvidiaError::Format("json does not match"))?;
    let list = match parsed {
        JsonEvidence::List(list) => list,
        JsonEvidence::One(one) => vec![one],
    };
    list.into_iter().map(item_from_json).collect()
}

fn item_from_json(j: JsonItem) -> Result<Item, NvidiaError> {
    let raw = BASE64
        .decode(j.evidence.trim())
        .map_err(|_| NvidiaError::Format("evidence is not base64"))?;
    let chain_pem = j
        .certificate
        .map(|c| {
            BASE64
                .decode(c.trim())
                .map_err(|_| NvidiaError::Format("certificate is not base64"))
        })
        .transpose()?;
    let file_nonce = j
        .nonce
        .map(|n| hex::decode(n.trim()).map_err(|_| NvidiaError::Format("nonce is not hex")))
        .transpose()?;
    Ok(Item {
        arch: j.arch,
        raw,
        chain_pem,
        file_nonce,
        driver_version: j.driver_version,
        vbios_version: j.vbios_version,
    })
}

/// Hex of `request‖response`, optionally followed by the PEM chain.
fn decode_hex_and_pem(text: &str) -> Result<Item, NvidiaError> {
    let (hex_part, pem_part) = match text.find("-----BEGIN") {
        Some(at) => (text.get(..at).unwrap_or_default(), text.get(at..)),
        None => (text, None),
    };
    let compact: String = hex_part
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let raw = hex::decode(compact).map_err(|_| NvidiaError::Format("report is not hex"))?;
    if raw.is_empty() {
        return Err(NvidiaError::Format("empty evidence"));
    }
    Ok(Item {
        arch: None,
        raw,
        chain_pem: pem_part.map(|p| p.as_bytes().to_vec()),
        file_nonce: None,
        driver_version: None,
        vbios_version: None,
    })
}

fn verify_item(
    verdict: &mut Verdict,
    i: usize,
    item: &Item,
    roots: &[Certificate],
    opts: &VerifyOptions,
) -> Value {
    let prefix = format!("nvidia.{i}");
    let mut claims = Map::new();
    claims.insert("arch".into(), json!(item.arch));
    let exchange = match parse_exchange(&item.raw) {
        Ok(x) => x,
        Err(e) => {
            verdict.fail(&format!("{prefix}.spdm"), e.to_string());
            return Value::Object(claims);
        }
    };
    verdict.pass(
        &format!("{prefix}.spdm"),
        format!(
            "SPDM 1.1 measurements, {} blocks, {} bytes of opaque data",
            exchange.response.blocks.len(),
            exchange.response.opaque.len()
        ),
    );
    add_exchange_claims(&mut claims, &exchange);
    check_all_blocks_requested(verdict, &prefix, &exchange);
    let leaf = check_chain(verdict, &prefix, item, roots, opts.at_unix, &mut claims);
    check_signature(verdict, &prefix, &exchange, leaf.as_ref());
    check_nonce(verdict, &prefix, &exchange, item, opts);
    let records = match parse_opaque(exchange.response.opaque) {
        Ok(records) => records,
        Err(e) => {
            verdict.fail(&format!("{prefix}.opaque"), e.to_string());
            return Value::Object(claims);
        }
    };
    check_versions(verdict, &prefix, &records, item, &mut claims);
    check_fwid(verdict, &prefix, &records, leaf.as_ref());
    Value::Object(claims)
}

fn add_exchange_claims(claims: &mut Map<String, Value>, x: &Exchange<'_>) {
    let measurements: Map<String, Value> = x
        .response
        .blocks
        .iter()
        .map(|b| (b.index.to_string(), Value::String(crate::to_hex(b.value))))
        .collect();
    claims.insert("measurements".into(), Value::Object(measurements));
    claims.insert(
        "request_nonce".into(),
        json!(crate::to_hex(&x.request.nonce)),
    );
    claims.insert(
        "responder_nonce".into(),
        json!(crate::to_hex(&x.response.nonce)),
    );
    claims.insert("slot".into(), json!(x.request.slot));
}

fn check_chain(
    verdict: &mut Verdict,
    prefix: &str,
    item: &Item,
    roots: &[Certificate],
    at_unix: u64,
    claims: &mut Map<String, Value>,
) -> Option<Certificate> {
    let name = format!("{prefix}.chain");
    let Some(pem) = &item.chain_pem else {
        verdict.fail(&name, "no certificate chain given");
        return None;
    };
    let chain = match parse_pem_chain(pem) {
        Ok(chain) => chain,
        Err(e) => {
            verdict.fail(&name, e.to_string());
            return None;
        }
    };
    let leaf = chain.first().cloned();
    if let Some(leaf) = &leaf {
        claims.insert(
            "leaf_subject".into(),
            json!(leaf.tbs_certificate().subject().to_string()),
        );
    }
    match verify_chain(&chain, roots, at_unix) {
        Ok(detail) => {
            verdict.pass(&name, detail);
            leaf
        }
        Err(e) => {
            verdict.fail(&name, e.to_string());
            None
        }
    }
}

/// ECDSA P-384 / SHA-384 over request‖response-without-signature, signature as raw r‖s.
fn check_signature(
    verdict: &mut Verdict,
    prefix: &str,
    x: &Exchange<'_>,
    leaf: Option<&Certificate>,
) {
    let name = format!("{prefix}.signature");
    let Some(leaf) = leaf else {
        verdict.fail(&name, "no trusted device key to check the signature with");
        return;
    };
    if x.request.attributes & 0x01 == 0 {
        verdict.fail(&name, "the request did not ask for a signature");
        return;
    }
    match verify_fixed_p384(leaf, x.signed, x.response.signature) {
        Ok(()) => verdict.pass(
            &name,
            "ECDSA P-384 signature over request and response verifies with the leaf key",
        ),
        Err(e) => verdict.fail(&name, e.to_string()),
    }
}

fn check_nonce(
    verdict: &mut Verdict,
    prefix: &str,
    x: &Exchange<'_>,
    item: &Item,
    opts: &VerifyOptions,
) {
    let name = format!("{prefix}.nonce");
    let (expected, source) = match (&opts.nonce, &item.file_nonce) {
        (Some(n), _) => (n, "the expected nonce"),
        (None, Some(n)) => (
            n,
            "the nonce recorded with the evidence (freshness not checked)",
        ),
        (None, None) => return,
    };
    if expected.as_slice() == x.request.nonce {
        verdict.pass(&name, format!("request nonce equals {source}"));
    } else {
        verdict.fail(&name, format!("request nonce differs from {source}"));
    }
}

/// A request for fewer than all blocks lets a device leave measurements out unnoticed.
fn check_all_blocks_requested(verdict: &mut Verdict, prefix: &str, x: &Exchange<'_>) {
    let name = format!("{prefix}.measurements_requested");
    if x.request.operation == ALL_MEASUREMENTS {
        verdict.pass(
            &name,
            format!("all blocks requested; {} returned", x.response.blocks.len()),
        );
    } else {
        verdict.fail(
            &name,
            format!(
                "the request asked for block {:#04x} only, not all blocks (0xff)",
                x.request.operation
            ),
        );
    }
}

/// The opaque data's FWID (signed with the measurements) must be one the leaf certificate names.
fn check_fwid(
    verdict: &mut Verdict,
    prefix: &str,
    records: &[(u16, &[u8])],
    leaf: Option<&Certificate>,
) {
    let name = format!("{prefix}.fwid");
    let Some(fwid) = opaque_fwid(records) else {
        verdict.pass(
            &name,
            "no FWID record in the opaque data (NVSwitch evidence carries none)",
        );
        return;
    };
    // Without a trusted leaf the chain and signature checks have failed already.
    let Some(leaf) = leaf else { return };
    let named = leaf_fwids(leaf);
    if named.iter().any(|f| f.as_slice() == fwid) {
        verdict.pass(
            &name,
            "the opaque data's FWID is the one in the leaf certificate's DICE TcbInfo",
        );
    } else if named.is_empty() {
        verdict.fail(
            &name,
            "the leaf certificate names no SHA-384 FWID to compare the opaque data's FWID with",
        );
    } else {
        verdict.fail(
            &name,
            "the opaque data's FWID differs from the leaf certificate's",
        );
    }
}

fn check_versions(
    verdict: &mut Verdict,
    prefix: &str,
    records: &[(u16, &[u8])],
    item: &Item,
    claims: &mut Map<String, Value>,
) {
    let signed_driver = driver_version(records);
    let signed_vbios = vbios_version(records);
    claims.insert("driver_version".into(), json!(signed_driver));
    claims.insert("vbios_version".into(), json!(signed_vbios));
    let opaque: Map<String, Value> = records
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(crate::to_hex(v))))
        .collect();
    claims.insert("opaque".into(), Value::Object(opaque));
    for (what, claimed, signed) in [
        ("driver_version", &item.driver_version, signed_driver),
        ("vbios_version", &item.vbios_version, signed_vbios),
    ] {
        let Some(claimed) = claimed else { continue };
        let name = format!("{prefix}.{what}");
        if signed.as_deref() == Some(claimed.as_str()) {
            verdict.pass(&name, format!("{claimed} as in the signed opaque data"));
        } else {
            verdict.fail(
                &name,
                "the file's value differs from the signed opaque data",
            );
        }
    }
}
