//! AK certificate chains: a vTPM's AK certificate up to the GCE or Azure root built into the crate.

use std::sync::OnceLock;

use base64ct::Encoding as _;
use der::{Decode, DecodePem, Encode, Header, SliceReader};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;

use super::keys::VerifyKey;
use super::TpmError;

/// Longest chain followed (leaf, intermediates, root); longer paths are refused as loops.
const MAX_DEPTH: usize = 5;

/// A trust anchor or intermediate the crate carries, with a label for reasons and claims.
struct Embedded {
    label: &'static str,
    pem: &'static str,
}

const ROOTS: &[Embedded] = &[
    Embedded {
        label: "gce-ek-ak-root",
        pem: include_str!("roots/gce_ek_ak_root.pem"),
    },
    Embedded {
        label: "azure-vtpm-root-2023",
        pem: include_str!("roots/azure_tpm_root_2023.pem"),
    },
];

/// The Azure vTPM CAs: Azure does not ship its intermediate with the AK certificate.
const INTERMEDIATES: &[Embedded] = &[
    Embedded {
        label: "azure-vtpm-ca-01",
        pem: include_str!("roots/azure_tpm_intermediate_01.pem"),
    },
    Embedded {
        label: "azure-vtpm-ca-03",
        pem: include_str!("roots/azure_tpm_intermediate_03.pem"),
    },
];

fn parse_embedded(list: &'static [Embedded]) -> Vec<(&'static str, Certificate)> {
    list.iter()
        .filter_map(|e| {
            Certificate::from_pem(e.pem.as_bytes())
                .ok()
                .map(|c| (e.label, c))
        })
        .collect()
}

fn roots() -> &'static [(&'static str, Certificate)] {
    static CELL: OnceLock<Vec<(&'static str, Certificate)>> = OnceLock::new();
    CELL.get_or_init(|| parse_embedded(ROOTS))
}

fn embedded_intermediates() -> &'static [(&'static str, Certificate)] {
    static CELL: OnceLock<Vec<(&'static str, Certificate)>> = OnceLock::new();
    CELL.get_or_init(|| parse_embedded(INTERMEDIATES))
}

/// Labels of the built-in trust anchors.
#[must_use]
pub fn root_labels() -> Vec<&'static str> {
    ROOTS.iter().map(|e| e.label).collect()
}

/// Parses one certificate from DER or PEM. DER read from a vTPM NV index comes zero-padded to
/// the index size (Azure), so zero bytes after the DER are accepted; anything else is not.
pub fn parse_certificate(bytes: &[u8]) -> Result<Certificate, TpmError> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") || trimmed.starts_with(b"#") {
        let start = find(trimmed, b"-----BEGIN").ok_or(TpmError::Certificate("no pem block"))?;
        let block = trimmed.get(start..).unwrap_or_default();
        return parse_der_certificate(&pem_body(block)?);
    }
    parse_der_certificate(bytes)
}

fn parse_der_certificate(bytes: &[u8]) -> Result<Certificate, TpmError> {
    let der = der_prefix(bytes)?;
    let rest = bytes.get(der.len()..).unwrap_or_default();
    if rest.iter().any(|&b| b != 0) {
        return Err(TpmError::TrailingBytes(rest.len()));
    }
    let cert =
        Certificate::from_der(der).map_err(|_| TpmError::Certificate("bad der certificate"))?;
    if !crate::x509::algorithms_agree(&cert) {
        return Err(TpmError::Certificate(
            "signature algorithm differs from the signed one",
        ));
    }
    Ok(cert)
}

/// Decodes the first `CERTIFICATE` PEM block. Line length is not enforced: Azure's vTPM
/// tooling writes 76-column base64, which strict RFC 7468 parsers refuse.
fn pem_body(block: &[u8]) -> Result<Vec<u8>, TpmError> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let body = block
        .strip_prefix(BEGIN)
        .ok_or(TpmError::Certificate("pem block is not a certificate"))?;
    let end = find(body, END).ok_or(TpmError::Certificate("pem block has no end line"))?;
    let text: Vec<u8> = body
        .get(..end)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64ct::Base64::decode_vec(
        std::str::from_utf8(&text).map_err(|_| TpmError::Certificate("bad pem"))?,
    )
    .map_err(|_| TpmError::Certificate("bad pem base64"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The bytes of the first DER element, by its encoded length.
fn der_prefix(bytes: &[u8]) -> Result<&[u8], TpmError> {
    let mut reader = SliceReader::new(bytes).map_err(|_| TpmError::Certificate("bad der"))?;
    let header =
        Header::decode(&mut reader).map_err(|_| TpmError::Certificate("bad der header"))?;
    let total = header
        .encoded_len()
        .and_then(|h| h + header.length())
        .map_err(|_| TpmError::Certificate("bad der length"))?;
    let total =
        usize::try_from(u32::from(total)).map_err(|_| TpmError::Certificate("bad der length"))?;
    bytes.get(..total).ok_or(TpmError::Truncated("certificate"))
}

/// The key certified by a certificate.
pub fn certificate_key(cert: &Certificate) -> Result<VerifyKey, TpmError> {
    VerifyKey::from_spki(cert.tbs_certificate().subject_public_key_info())
}

fn subject_text(cert: &Certificate) -> String {
    cert.tbs_certificate().subject().to_string()
}

fn valid_at(cert: &Certificate, at_unix: u64) -> bool {
    let validity = cert.tbs_certificate().validity();
    let from = validity.not_before.to_unix_duration().as_secs();
    let to = validity.not_after.to_unix_duration().as_secs();
    from <= at_unix && at_unix <= to
}

fn is_ca(cert: &Certificate) -> bool {
    matches!(cert.tbs_certificate().get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca)
}

fn signed_by(child: &Certificate, issuer: &Certificate) -> bool {
    if child.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return false;
    }
    let Ok(key) = certificate_key(issuer) else {
        return false;
    };
    let Ok(tbs) = child.tbs_certificate().to_der() else {
        return false;
    };
    let Some(sig) = child.signature().as_bytes() else {
        return false;
    };
    key.verify_x509(&child.signature_algorithm().oid, &tbs, sig)
        .is_ok()
}

/// Follows `leaf` up through `intermediates` (and the built-in Azure CAs) to a built-in root,
/// checking every signature and validity window at `at_unix`, then the shared path rules
/// ([`crate::x509::check_path`]: issuers are CAs with keyCertSign, path lengths hold, the AK
/// certificate is no CA and may sign). Returns the subjects on
/// the path, leaf first, ending with the root's label.
pub fn verify_chain(
    leaf: &Certificate,
    intermediates: &[Certificate],
    at_unix: u64,
) -> Result<Vec<String>, String> {
    let mut offered: Vec<Certificate> = intermediates.to_vec();
    offered.extend(embedded_intermediates().iter().map(|(_, c)| c.clone()));
    verify_chain_to(leaf, &offered, roots(), at_unix)
}

/// [`verify_chain`] to the given trust anchors (label, certificate), offering only
/// `intermediates`: the same walk and rules, for anchors other than the built-in vendor roots.
pub fn verify_chain_to(
    leaf: &Certificate,
    intermediates: &[Certificate],
    anchors: &[(&str, Certificate)],
    at_unix: u64,
) -> Result<Vec<String>, String> {
    let mut path = vec![subject_text(leaf)];
    if !valid_at(leaf, at_unix) {
        return Err(format!(
            "certificate {} is outside its validity window",
            path[0]
        ));
    }
    let mut current = leaf.clone();
    let mut certs = vec![leaf.clone()];
    for _ in 0..MAX_DEPTH {
        if let Some((label, root)) = anchors.iter().find(|(_, r)| signed_by(&current, r)) {
            if !valid_at(root, at_unix) {
                return Err(format!("root {label} is outside its validity window"));
            }
            certs.push(root.clone());
            crate::x509::check_path(&certs.iter().collect::<Vec<_>>())?;
            path.push((*label).to_owned());
            return Ok(path);
        }
        let Some(issuer) = intermediates
            .iter()
            .filter(|c| is_ca(c))
            .find(|c| signed_by(&current, c))
        else {
            return Err(format!(
                "no known issuer signed {} (issuer {})",
                subject_text(&current),
                current.tbs_certificate().issuer()
            ));
        };
        if !valid_at(issuer, at_unix) {
            return Err(format!(
                "intermediate {} is outside its validity window",
                subject_text(issuer)
            ));
        }
        path.push(subject_text(issuer));
        certs.push(issuer.clone());
        current = issuer.clone();
    }
    Err("chain too long or looping".into())
}
