//! Device certificate chains: leaf first, each certificate signed by the next, anchored at a
//! built-in or caller-given root. NVIDIA device chains are ECDSA P-384 with SHA-384 throughout.

use std::collections::HashSet;
use std::sync::Mutex;

use der::Encode;
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::Certificate;

use super::NvidiaError;
use crate::x509::{KeyKind, PublicKey, X509Error, ECDSA_SHA384, EC_PUBLIC_KEY, SECP384R1};

/// "NVIDIA Device Identity CA", the anchor of GPU and `NVSwitch` device chains (from nvtrust's
/// local GPU verifier, `verifier_device_root.pem`).
pub const DEVICE_ROOT_PEM: &str = include_str!("verifier_device_root.pem");

/// Real chains have five certificates; anything much longer is not a device chain.
const MAX_CHAIN: usize = 10;

/// Parses concatenated PEM certificates.
pub fn parse_pem_chain(pem: &[u8]) -> Result<Vec<Certificate>, NvidiaError> {
    let certs = Certificate::load_pem_chain(pem)
        .map_err(|_| NvidiaError::BadCertificate("pem chain does not parse"))?;
    if certs.is_empty() {
        return Err(NvidiaError::BadCertificate("no certificate"));
    }
    if certs.len() > MAX_CHAIN {
        return Err(NvidiaError::BadCertificate("chain too long"));
    }
    if !certs.iter().all(crate::x509::algorithms_agree) {
        return Err(NvidiaError::BadCertificate(
            "signature algorithm differs from the signed one",
        ));
    }
    Ok(certs)
}

/// The built-in device root.
pub fn default_roots() -> Result<Vec<Certificate>, NvidiaError> {
    parse_pem_chain(DEVICE_ROOT_PEM.as_bytes())
}

/// The P-384 point of a certificate, as the shared X.509 code verifies with (aws-lc). NVIDIA
/// chains allow no other key type, so anything else is refused here before any parsing.
fn p384_point(cert: &Certificate) -> Result<&[u8], NvidiaError> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok());
    if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(SECP384R1) {
        return Err(NvidiaError::BadCertificate("key is not ecdsa p-384"));
    }
    Ok(spki.subject_public_key.raw_bytes())
}

/// The validated P-384 key of a certificate, for DER (X.509) signatures.
fn p384_key(cert: &Certificate) -> Result<PublicKey, NvidiaError> {
    PublicKey::new(KeyKind::P384, p384_point(cert)?)
        .map_err(|_| NvidiaError::BadCertificate("p-384 point is invalid"))
}

/// Verifies a raw r‖s P-384 / SHA-384 signature (SPDM) with the certificate's key.
pub(super) fn verify_fixed_p384(
    cert: &Certificate,
    msg: &[u8],
    signature: &[u8],
) -> Result<(), NvidiaError> {
    // One parse, for the raw encoding only: the key is validated as it is first used.
    let key = PublicKey::for_fixed_signatures(KeyKind::P384, p384_point(cert)?);
    key.verify_fixed(msg, signature).map_err(|e| match e {
        X509Error::PublicKey => NvidiaError::BadCertificate("p-384 point is invalid"),
        _ => NvidiaError::Chain("signature does not verify"),
    })
}

/// (certificate, issuer) pairs whose signature already verified, keyed by a hash of both DER
/// encodings. A signature's validity does not depend on time, so reusing it is safe; validity
/// windows, CA flags and names are still checked on every call. Cleared when full.
static VERIFIED_PAIRS: Mutex<Option<HashSet<[u8; 32]>>> = Mutex::new(None);
const MAX_CACHED_PAIRS: usize = 4096;

fn pair_key(cert: &Certificate, issuer: &Certificate) -> Option<[u8; 32]> {
    let cert_der = cert.to_der().ok()?;
    let issuer_der = issuer.to_der().ok()?;
    let len = u64::try_from(cert_der.len()).ok()?.to_be_bytes();
    Some(
        Sha256::new()
            .chain_update(len)
            .chain_update(&cert_der)
            .chain_update(&issuer_der)
            .finalize()
            .into(),
    )
}

fn cached(key: &[u8; 32]) -> bool {
    VERIFIED_PAIRS
        .lock()
        .ok()
        .is_some_and(|set| set.as_ref().is_some_and(|s| s.contains(key)))
}

fn remember(key: [u8; 32]) {
    if let Ok(mut guard) = VERIFIED_PAIRS.lock() {
        let set = guard.get_or_insert_with(HashSet::new);
        if set.len() >= MAX_CACHED_PAIRS {
            set.clear();
        }
        set.insert(key);
    }
}

/// Forgets every cached certificate signature (for cold-path measurements and tests).
pub fn clear_signature_cache() {
    if let Ok(mut guard) = VERIFIED_PAIRS.lock() {
        *guard = None;
    }
}

/// Verifies `cert`'s signature with `issuer`'s key, or finds the pair already verified.
fn verify_signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), NvidiaError> {
    let key = pair_key(cert, issuer);
    check_signed_by(cert, issuer, key.as_ref().is_some_and(cached))?;
    if let Some(key) = key {
        remember(key);
    }
    Ok(())
}

fn check_signed_by(
    cert: &Certificate,
    issuer: &Certificate,
    signature_known_good: bool,
) -> Result<(), NvidiaError> {
    if cert.signature_algorithm().oid != ECDSA_SHA384 {
        return Err(NvidiaError::BadCertificate(
            "signature algorithm is not ecdsa-with-sha384",
        ));
    }
    if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Err(NvidiaError::Chain(
            "issuer name does not match the next certificate",
        ));
    }
    if signature_known_good {
        // The same issuer DER verified this pair before, so its key is a valid P-384 point.
        return p384_point(issuer).map(drop);
    }
    let key = p384_key(issuer)?;
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|_| NvidiaError::BadCertificate("tbs does not encode"))?;
    let sig_der = cert
        .signature()
        .as_bytes()
        .ok_or(NvidiaError::BadCertificate("signature bit string"))?;
    // aws-lc parses the DER ECDSA-Sig-Value strictly; a malformed one fails like a wrong one.
    key.verify_der(&tbs, sig_der)
        .map_err(|_| NvidiaError::Chain("certificate signature does not verify"))
}

fn is_ca(cert: &Certificate) -> bool {
    matches!(cert.tbs_certificate().get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca)
}

/// RFC 5280 §4.2.1.3: a key usage extension, when present, must allow the use.
fn usage_allows(cert: &Certificate, usage: KeyUsages) -> Result<bool, NvidiaError> {
    match cert.tbs_certificate().get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) => Ok(ku.0.contains(usage)),
        Ok(None) => Ok(true),
        Err(_) => Err(NvidiaError::BadCertificate(
            "key usage extension does not parse",
        )),
    }
}

/// The leaf signs SPDM transcripts: it must not be a CA and may sign (digitalSignature).
fn check_leaf(leaf: &Certificate) -> Result<(), NvidiaError> {
    if is_ca(leaf) {
        return Err(NvidiaError::Chain("the device leaf is a ca certificate"));
    }
    if !usage_allows(leaf, KeyUsages::DigitalSignature)? {
        return Err(NvidiaError::Chain(
            "the device leaf's key usage does not allow digital signatures",
        ));
    }
    Ok(())
}

/// TCG DICE `TcbInfo` (2.23.133.5.4.1): NVIDIA leaves carry the firmware id there.
const DICE_TCB_INFO: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("2.23.133.5.4.1");
/// DER of `OID sha-384` followed by the header of a 48-byte OCTET STRING: how an FWID is encoded.
const SHA384_FWID_PREFIX: [u8; 13] = [
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x04, 0x30,
];

/// The SHA-384 firmware ids in the leaf's DICE `TcbInfo` extension (none if it has no such extension).
#[must_use]
pub fn leaf_fwids(leaf: &Certificate) -> Vec<Vec<u8>> {
    let Some(value) = leaf
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == DICE_TCB_INFO)
        .map(|e| e.extn_value.as_bytes())
    else {
        return Vec::new();
    };
    let mut fwids = Vec::new();
    let mut rest = value;
    while let Some(at) = rest
        .windows(SHA384_FWID_PREFIX.len())
        .position(|w| w == SHA384_FWID_PREFIX)
    {
        let start = at + SHA384_FWID_PREFIX.len();
        if let Some(fwid) = rest.get(start..start + 48) {
            fwids.push(fwid.to_vec());
        }
        rest = rest.get(start..).unwrap_or_default();
    }
    fwids
}

fn check_validity(cert: &Certificate, at_unix: u64) -> Result<(), NvidiaError> {
    let validity = cert.tbs_certificate().validity();
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    if at_unix < not_before {
        return Err(NvidiaError::Chain("a certificate is not yet valid"));
    }
    if at_unix > not_after {
        return Err(NvidiaError::Chain("a certificate has expired"));
    }
    Ok(())
}

/// The shared path rules over the whole path, anchor included: NVIDIA's own checks above already
/// cover the CA flags and key usages (a missing keyUsage allowed, as NVIDIA issues them); this
/// adds the path length constraints.
fn check_path_lengths(
    chain: &[Certificate],
    anchor: Option<&Certificate>,
) -> Result<(), NvidiaError> {
    let path: Vec<&Certificate> = chain.iter().chain(anchor).collect();
    for (below, issuer) in path.iter().skip(1).enumerate() {
        crate::x509::check_path_length(issuer, below).map_err(NvidiaError::Path)?;
    }
    Ok(())
}

fn der_of(cert: &Certificate) -> Result<Vec<u8>, NvidiaError> {
    cert.to_der()
        .map_err(|_| NvidiaError::BadCertificate("certificate does not encode"))
}

/// Verifies `chain` (leaf first) at `at_unix`: each certificate within its validity window and
/// signed by the next; the leaf not a CA and allowed to sign; every issuer a CA allowed to sign
/// certificates; no certificate repeated; the last certificate either is
/// one of `roots` or is signed by one. Returns how the chain was anchored.
pub fn verify_chain(
    chain: &[Certificate],
    roots: &[Certificate],
    at_unix: u64,
) -> Result<String, NvidiaError> {
    let ders: Vec<Vec<u8>> = chain.iter().map(der_of).collect::<Result<_, _>>()?;
    for (i, der) in ders.iter().enumerate() {
        if ders.iter().skip(i + 1).any(|other| other == der) {
            return Err(NvidiaError::Chain("a certificate repeats (loop)"));
        }
    }
    for cert in chain {
        check_validity(cert, at_unix)?;
    }
    check_leaf(
        chain
            .first()
            .ok_or(NvidiaError::BadCertificate("no certificate"))?,
    )?;
    for pair in chain.windows(2) {
        let [cert, issuer] = pair else { continue };
        if !is_ca(issuer) {
            return Err(NvidiaError::Chain("an issuing certificate is not a ca"));
        }
        if !usage_allows(issuer, KeyUsages::KeyCertSign)? {
            return Err(NvidiaError::Chain(
                "an issuing certificate's key usage does not allow certificate signing",
            ));
        }
        verify_signed_by(cert, issuer)?;
    }
    let last = chain
        .last()
        .ok_or(NvidiaError::BadCertificate("no certificate"))?;
    let last_der = ders
        .last()
        .ok_or(NvidiaError::BadCertificate("no certificate"))?;
    for root in roots {
        if der_of(root)? == *last_der {
            check_path_lengths(chain, None)?;
            return Ok(format!(
                "{} certificates, ending at the trusted root",
                chain.len()
            ));
        }
    }
    for root in roots {
        if verify_signed_by(last, root).is_ok() && is_ca(root) {
            check_validity(root, at_unix)?;
            check_path_lengths(chain, Some(root))?;
            return Ok(format!(
                "{} certificates, issued by the trusted root",
                chain.len()
            ));
        }
    }
    Err(NvidiaError::Chain("chain does not end at a trusted root"))
}
