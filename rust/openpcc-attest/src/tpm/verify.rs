//! Quote, certify-creation and request-encryption-key verification, each giving a [`Verdict`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use x509_cert::Certificate;

use super::alg::{HashAlg, ALG_ECC, ECC_NIST_P256};
use super::attest::{Attested, TpmsAttest, ST_ATTEST_CREATION, ST_ATTEST_QUOTE, TPM_GENERATED};
use super::chain::{certificate_key, parse_certificate, verify_chain};
use super::keys::VerifyKey;
use super::pcr::policy_pcr_digest;
use super::public::{attr, PublicKey, TpmtPublic};
use super::signature::TpmtSignature;
use super::TpmError;
use crate::to_hex as hex;
use crate::Verdict;

/// The PCRs the reference binds the request-encryption key to (spec §5.4), SHA-256 bank.
pub const REFERENCE_PCRS: [u32; 9] = [0, 1, 2, 3, 4, 5, 7, 8, 12];

/// What the caller expects in a quote's `extraData`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness<'a> {
    /// `extraData` must equal these bytes.
    Nonce(&'a [u8]),
    /// The caller explicitly accepts a quote without a nonce (replayable evidence).
    NotRequired,
    /// The caller gave no nonce: freshness is reported as unproven (a failed check).
    Unspecified,
}

/// PCR values of one bank, keyed by index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrValues {
    /// The bank.
    pub bank: HashAlg,
    /// Index → value.
    pub values: BTreeMap<u32, Vec<u8>>,
}

impl PcrValues {
    // Built field by field: `json!` would serialize the values map a second time.
    fn to_json(&self) -> Value {
        let values: serde_json::Map<String, Value> = self
            .values
            .iter()
            .map(|(i, v)| (i.to_string(), Value::String(hex(v))))
            .collect();
        let mut out = serde_json::Map::new();
        out.insert("bank".into(), Value::String(self.bank.name().into()));
        out.insert("values".into(), Value::Object(values));
        Value::Object(out)
    }
}

/// Where the attestation key comes from and how to trust it.
#[derive(Clone, Debug, Default)]
pub struct AkSource<'a> {
    /// `TPMT_PUBLIC`, `TPM2B_PUBLIC`, or a DER/PEM X.509 AK certificate.
    pub ak: &'a [u8],
    /// Intermediate certificates (DER or PEM) for an AK certificate.
    pub intermediates: &'a [Vec<u8>],
    /// Instant (Unix seconds) to judge certificate validity at.
    pub at_unix: u64,
    /// Accept an RSA AK under 2048 bits and SHA-1 signatures (refused by default).
    pub allow_weak: bool,
}

/// The attestation key once loaded.
struct LoadedAk {
    key: VerifyKey,
    allow_weak: bool,
}

/// RSA moduli under this many bits are refused for AKs unless the caller allows weak keys.
const MIN_RSA_BITS: usize = 2048;

/// Why an AK signature is too weak to count, if it is (RSA under 2048 bits, SHA-1).
fn weakness(key: &VerifyKey, sig: &TpmtSignature) -> Option<String> {
    if let Some(bits) = key.rsa_bits().filter(|b| *b < MIN_RSA_BITS) {
        return Some(format!(
            "the ak is RSA-{bits}, under {MIN_RSA_BITS} bits (a policy may allow weak AKs)"
        ));
    }
    (sig.hash() == crate::tpm::HashAlg::Sha1)
        .then(|| "the signature uses SHA-1 (a policy may allow weak AKs)".to_owned())
}

/// Loads the AK and records `tpm.ak.*` checks. A `TPMT_PUBLIC` AK is only checked for being a
/// restricted signing key (it is not authenticated); a certificate is chained to a built-in root.
fn load_ak(v: &mut Verdict, src: &AkSource<'_>) -> Option<LoadedAk> {
    if looks_like_certificate(src.ak) {
        return load_ak_certificate(v, src);
    }
    let public = TpmtPublic::decode(src.ak)
        .or_else(|first| TpmtPublic::decode_2b(src.ak).map_err(|_| first));
    let public = match public {
        Ok(p) => p,
        Err(e) => {
            v.fail(
                "tpm.ak.parse",
                format!("ak is neither a TPMT_PUBLIC, a TPM2B_PUBLIC nor a certificate: {e}"),
            );
            return None;
        }
    };
    let key = match VerifyKey::from_tpmt(&public) {
        Ok(k) => k,
        Err(e) => {
            v.fail("tpm.ak.parse", format!("ak public area: {e}"));
            return None;
        }
    };
    v.pass(
        "tpm.ak.parse",
        format!(
            "TPMT_PUBLIC {} key (not authenticated by a certificate)",
            key.describe()
        ),
    );
    let restricted_signer = public.has(attr::RESTRICTED | attr::SIGN_ENCRYPT | attr::FIXED_TPM);
    v.check(
        "tpm.ak.attributes",
        restricted_signer,
        format!(
            "ak attributes {:?}; required fixedTPM, restricted, sign",
            attr::names(public.object_attributes)
        ),
    );
    v.claim(
        "ak_name",
        public.name().map(|n| hex(&n)).unwrap_or_default(),
    );
    v.claim("ak_source", "tpmt_public");
    Some(LoadedAk {
        key,
        allow_weak: src.allow_weak,
    })
}

fn looks_like_certificate(ak: &[u8]) -> bool {
    let t = ak.trim_ascii_start();
    t.starts_with(b"-----BEGIN") || t.starts_with(b"#") || ak.first() == Some(&0x30)
}

fn load_ak_certificate(v: &mut Verdict, src: &AkSource<'_>) -> Option<LoadedAk> {
    let cert = match parse_certificate(src.ak) {
        Ok(c) => c,
        Err(e) => {
            v.fail("tpm.ak.parse", format!("ak certificate: {e}"));
            return None;
        }
    };
    let key = match certificate_key(&cert) {
        Ok(k) => k,
        Err(e) => {
            v.fail("tpm.ak.parse", format!("ak certificate key: {e}"));
            return None;
        }
    };
    v.pass(
        "tpm.ak.parse",
        format!("X.509 certificate with a {} key", key.describe()),
    );
    let mut intermediates: Vec<Certificate> = Vec::new();
    for (i, raw) in src.intermediates.iter().enumerate() {
        match parse_certificate(raw) {
            Ok(c) => intermediates.push(c),
            Err(e) => {
                v.fail("tpm.ak.chain", format!("intermediate {i}: {e}"));
                return Some(LoadedAk {
                    key,
                    allow_weak: src.allow_weak,
                });
            }
        }
    }
    match verify_chain(&cert, &intermediates, src.at_unix) {
        Ok(path) => {
            v.pass("tpm.ak.chain", format!("chains to {}", path.join(" <- ")));
            v.claim("ak_chain", path);
        }
        Err(reason) => v.fail("tpm.ak.chain", reason),
    }
    v.claim("ak_source", "certificate");
    v.claim("ak_subject", cert.tbs_certificate().subject().to_string());
    Some(LoadedAk {
        key,
        allow_weak: src.allow_weak,
    })
}

/// Checks an attestation key on its own: parse, attributes (public area) or chain (certificate).
#[must_use]
pub fn verify_ak(src: &AkSource<'_>) -> Verdict {
    let mut v = Verdict::new();
    load_ak(&mut v, src);
    v
}

/// Accepts a `TPMS_ATTEST` or a `TPM2B_ATTEST` and returns the parsed body and the signed bytes.
fn parse_attest<'a>(
    v: &mut Verdict,
    prefix: &str,
    bytes: &'a [u8],
) -> Option<(TpmsAttest, &'a [u8])> {
    let wrapped = bytes.get(2..6) == Some(&TPM_GENERATED.to_be_bytes()[..]);
    let parsed = if wrapped {
        TpmsAttest::decode_2b(bytes)
    } else {
        TpmsAttest::decode(bytes).map(|a| (a, bytes))
    };
    match parsed {
        Ok(ok) => {
            v.pass(
                &format!("{prefix}.parse"),
                format!("TPMS_ATTEST of {} bytes", ok.1.len()),
            );
            Some(ok)
        }
        Err(TpmError::BadMagic) => {
            v.fail(
                &format!("{prefix}.magic"),
                "magic is not TPM_GENERATED_VALUE (0xff544347)",
            );
            None
        }
        Err(e) => {
            v.fail(&format!("{prefix}.parse"), format!("TPMS_ATTEST: {e}"));
            None
        }
    }
}

fn parse_signature(v: &mut Verdict, prefix: &str, bytes: &[u8]) -> Option<TpmtSignature> {
    match TpmtSignature::decode(bytes) {
        Ok(sig) => Some(sig),
        Err(e) => {
            v.fail(
                &format!("{prefix}.signature"),
                format!("TPMT_SIGNATURE: {e}"),
            );
            None
        }
    }
}

fn check_signature(
    v: &mut Verdict,
    prefix: &str,
    ak: &LoadedAk,
    sig: &TpmtSignature,
    signed: &[u8],
) -> bool {
    let name = format!("{prefix}.signature");
    if !ak.allow_weak {
        if let Some(why) = weakness(&ak.key, sig) {
            return v.check(&name, false, why);
        }
    }
    match ak.key.verify_tpm(sig, signed) {
        Ok(()) => v.check(
            &name,
            true,
            format!(
                "{}-{} under the {} ak",
                sig.scheme_name(),
                sig.hash().name(),
                ak.key.describe()
            ),
        ),
        Err(e) => v.check(
            &name,
            false,
            format!("{}-{}: {e}", sig.scheme_name(), sig.hash().name()),
        ),
    }
}

fn check_nonce(v: &mut Verdict, name: &str, extra_data: &[u8], freshness: Freshness<'_>) {
    match freshness {
        Freshness::Nonce(expected) => {
            let same = expected.len() == extra_data.len() && bool::from(expected.ct_eq(extra_data));
            let detail = if same {
                format!(
                    "extraData equals the expected {}-byte nonce",
                    expected.len()
                )
            } else {
                format!(
                    "extraData ({} bytes) differs from the expected nonce ({} bytes)",
                    extra_data.len(),
                    expected.len()
                )
            };
            v.check(name, same, detail);
        }
        Freshness::NotRequired => {
            v.pass(
                name,
                format!(
                    "caller accepted evidence without a nonce (extraData {} bytes)",
                    extra_data.len()
                ),
            );
        }
        Freshness::Unspecified => {
            v.fail(name, "no expected nonce given: freshness unproven (pass a nonce, or say none is required)");
        }
    }
}

fn attest_claims(v: &mut Verdict, a: &TpmsAttest) {
    v.claim("nonce", hex(&a.extra_data));
    v.claim("signer", hex(&a.qualified_signer));
    v.claim(
        "clock",
        json!({
            "clock": a.clock_info.clock,
            "resetCount": a.clock_info.reset_count,
            "restartCount": a.clock_info.restart_count,
            "safe": a.clock_info.safe,
        }),
    );
    v.claim("firmware", format!("{:#018x}", a.firmware_version));
}

/// Inputs of [`verify_quote`].
#[derive(Clone, Debug)]
pub struct QuoteInput<'a> {
    /// `TPMS_ATTEST` (or `TPM2B_ATTEST`) of type quote.
    pub attest: &'a [u8],
    /// `TPMT_SIGNATURE` over it.
    pub signature: &'a [u8],
    /// The attestation key.
    pub ak: AkSource<'a>,
    /// Expected `extraData`.
    pub nonce: Freshness<'a>,
    /// The PCR values the quote claims to cover; `None` leaves the digest unmatched (a failure).
    pub pcrs: Option<&'a PcrValues>,
}

/// Verifies a `TPM2_Quote`: AK, signature, nonce, PCR selection against the supplied indices
/// (spec §12.2 item 6) and `pcrDigest`.
#[must_use]
pub fn verify_quote(input: &QuoteInput<'_>) -> Verdict {
    let mut v = Verdict::new();
    let ak = load_ak(&mut v, &input.ak);
    let Some((attest, signed)) = parse_attest(&mut v, "tpm.attest", input.attest) else {
        return v;
    };
    attest_claims(&mut v, &attest);
    let Attested::Quote {
        pcr_select,
        pcr_digest,
    } = &attest.attested
    else {
        v.fail(
            "tpm.attest.type",
            format!(
                "attestation type {:#06x} is not a quote ({ST_ATTEST_QUOTE:#06x})",
                attest.attest_type
            ),
        );
        return v;
    };
    v.pass("tpm.attest.type", "TPM_ST_ATTEST_QUOTE");
    let sig = parse_signature(&mut v, "tpm.quote", input.signature);
    if let (Some(ak), Some(sig)) = (&ak, &sig) {
        check_signature(&mut v, "tpm.quote", ak, sig, signed);
    }
    check_nonce(&mut v, "tpm.quote.nonce", &attest.extra_data, input.nonce);
    let selected: Vec<(u16, Vec<u32>)> = pcr_select
        .iter()
        .filter(|s| !s.pcrs.is_empty())
        .map(|s| (s.hash, s.pcrs.clone()))
        .collect();
    v.claim(
        "pcr_selection",
        selected
            .iter()
            .map(|(h, p)| selection_json(*h, p))
            .collect::<Vec<_>>(),
    );
    let Some(pcrs) = input.pcrs else {
        v.fail(
            "tpm.quote.pcr_digest",
            "no PCR values given: the quoted pcrDigest cannot be matched",
        );
        return v;
    };
    v.claim("pcrs", pcrs.to_json());
    check_pcr_selection(&mut v, &selected, pcrs);
    // The TPM hashes the selected values with the signing scheme's hash, whatever the bank.
    let Some(sig) = sig else { return v };
    let digest = sig
        .hash()
        .digest_parts(pcrs.values.values().map(Vec::as_slice));
    let same = digest.len() == pcr_digest.len() && bool::from(digest.ct_eq(pcr_digest));
    v.check(
        "tpm.quote.pcr_digest",
        same,
        if same {
            format!(
                "{}(concat of {} PCR values) equals pcrDigest",
                sig.hash().name(),
                pcrs.values.len()
            )
        } else {
            "pcrDigest differs from the hash of the given PCR values".to_owned()
        },
    );
    v
}

fn selection_json(hash: u16, pcrs: &[u32]) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("hash".into(), Value::from(hash));
    out.insert(
        "pcrs".into(),
        Value::Array(pcrs.iter().map(|&i| Value::from(i)).collect()),
    );
    Value::Object(out)
}

fn check_pcr_selection(v: &mut Verdict, selected: &[(u16, Vec<u32>)], pcrs: &PcrValues) {
    let wrong_size: Vec<u32> = pcrs
        .values
        .iter()
        .filter(|(_, val)| val.len() != pcrs.bank.size())
        .map(|(i, _)| *i)
        .collect();
    v.check(
        "tpm.quote.pcr_values",
        wrong_size.is_empty(),
        if wrong_size.is_empty() {
            format!(
                "{} {} values of {} bytes",
                pcrs.values.len(),
                pcrs.bank.name(),
                pcrs.bank.size()
            )
        } else {
            format!(
                "PCR values [{}] are not {} bytes long",
                index_ranges(&wrong_size),
                pcrs.bank.size()
            )
        },
    );
    let given: Vec<u32> = pcrs.values.keys().copied().collect();
    let ok = match selected {
        [(hash, indices)] => *hash == pcrs.bank.id() && *indices == given,
        _ => false,
    };
    let quoted: Vec<String> = selected
        .iter()
        .map(|(h, p)| format!("{}:[{}]", bank_name(*h), index_ranges(p)))
        .collect();
    v.check(
        "tpm.quote.pcr_selection",
        ok,
        format!(
            "quote selects [{}]; values given for {}:[{}]",
            quoted.join(", "),
            pcrs.bank.name(),
            index_ranges(&given)
        ),
    );
}

/// Ascending PCR indices for humans: runs of three or more as `a-b`, e.g. `0-5,7,8,12`.
fn index_ranges(indices: &[u32]) -> String {
    let mut out = String::new();
    let mut rest = indices;
    while let Some((&first, _)) = rest.split_first() {
        let run = 1 + rest
            .windows(2)
            .take_while(|w| w[0].checked_add(1) == Some(w[1]))
            .count();
        if !out.is_empty() {
            out.push(',');
        }
        let last = rest.get(run - 1).copied().unwrap_or(first);
        if run >= 3 {
            let _ = write!(out, "{first}-{last}");
        } else {
            let items: Vec<String> = rest.iter().take(run).map(u32::to_string).collect();
            out.push_str(&items.join(","));
        }
        rest = rest.get(run..).unwrap_or_default();
    }
    out
}

fn bank_name(id: u16) -> String {
    HashAlg::from_id(id).map_or_else(|| format!("{id:#06x}"), |h| h.name().to_owned())
}

/// Inputs of [`verify_certify_creation`].
#[derive(Clone, Debug)]
pub struct CreationInput<'a> {
    /// `TPM2B_ATTEST` (as in the reference's `CertifyRekCreation` piece) or bare `TPMS_ATTEST`.
    pub attest: &'a [u8],
    /// `TPMT_SIGNATURE` over it.
    pub signature: &'a [u8],
    /// The attestation key.
    pub ak: AkSource<'a>,
    /// The certified object's `TPMT_PUBLIC`; its name must be the certified `objectName`.
    pub object_public: Option<&'a [u8]>,
}

/// Verifies a `TPM2_CertifyCreation`: the AK signed that the TPM created the object named in it.
#[must_use]
pub fn verify_certify_creation(input: &CreationInput<'_>) -> Verdict {
    let mut v = Verdict::new();
    let ak = load_ak(&mut v, &input.ak);
    let Some((attest, signed)) = parse_attest(&mut v, "tpm.creation", input.attest) else {
        return v;
    };
    let Attested::Creation {
        object_name,
        creation_hash,
    } = &attest.attested
    else {
        v.fail(
            "tpm.creation.type",
            format!(
                "attestation type {:#06x} is not creation ({ST_ATTEST_CREATION:#06x})",
                attest.attest_type
            ),
        );
        return v;
    };
    v.pass("tpm.creation.type", "TPM_ST_ATTEST_CREATION");
    v.claim("object_name", hex(object_name));
    v.claim("creation_hash", hex(creation_hash));
    v.claim("signer", hex(&attest.qualified_signer));
    if let (Some(ak), Some(sig)) = (
        &ak,
        parse_signature(&mut v, "tpm.creation", input.signature),
    ) {
        check_signature(&mut v, "tpm.creation", ak, &sig, signed);
    }
    if let Some(public) = input.object_public {
        match TpmtPublic::decode(public).and_then(|p| p.name()) {
            Ok(name) => {
                let same = name == *object_name;
                v.check(
                    "tpm.creation.object_name",
                    same,
                    if same {
                        "certified objectName is the name of the given key"
                    } else {
                        "certified objectName is not the name of the given key"
                    },
                );
            }
            Err(e) => v.fail(
                "tpm.creation.object_name",
                format!("certified key TPMT_PUBLIC: {e}"),
            ),
        }
    }
    v
}

/// Checks a request-encryption key (REK) `TPMT_PUBLIC`: a TPM-generated P-256 decryption key that
/// never leaves its TPM and is usable only under `PolicyPCR` over `pcrs` (spec §5.4, §12.2 item 6).
/// `pcrs` gives the golden values; only `policy_pcrs` of them enter the policy.
#[must_use]
pub fn check_rek(rek_public: &[u8], pcrs: Option<&PcrValues>, policy_pcrs: &[u32]) -> Verdict {
    let mut v = Verdict::new();
    let public = match TpmtPublic::decode(rek_public) {
        Ok(p) => p,
        Err(e) => {
            v.fail("tpm.rek.parse", format!("TPMT_PUBLIC: {e}"));
            return v;
        }
    };
    v.pass("tpm.rek.parse", "TPMT_PUBLIC");
    let point = rek_point(&public);
    v.check(
        "tpm.rek.type",
        point.is_some(),
        "REK must be an ECC NIST P-256 key with 32-byte coordinates",
    );
    if let Some(point) = point {
        v.claim("rek_public_key", hex(&point));
    }
    v.claim(
        "rek_name",
        public.name().map(|n| hex(&n)).unwrap_or_default(),
    );
    check_rek_attributes(&mut v, public.object_attributes);
    check_rek_policy(&mut v, &public.auth_policy, pcrs, policy_pcrs);
    v
}

/// The uncompressed SEC1 point (65 bytes) of a P-256 `TPMT_PUBLIC`.
fn rek_point(public: &TpmtPublic) -> Option<Vec<u8>> {
    match &public.key {
        PublicKey::Ecc {
            curve: ECC_NIST_P256,
            x,
            y,
            ..
        } if public.alg == ALG_ECC && x.len() == 32 && y.len() == 32 => {
            let mut p = vec![0x04];
            p.extend_from_slice(x);
            p.extend_from_slice(y);
            p256::PublicKey::from_sec1_bytes(&p).ok().map(|_| p)
        }
        _ => None,
    }
}

fn check_rek_attributes(v: &mut Verdict, bits: u32) {
    let required =
        attr::FIXED_TPM | attr::FIXED_PARENT | attr::SENSITIVE_DATA_ORIGIN | attr::DECRYPT;
    let forbidden = attr::USER_WITH_AUTH | attr::SIGN_ENCRYPT | attr::RESTRICTED;
    let missing = attr::names(required & !bits);
    let present = attr::names(forbidden & bits);
    v.check(
        "tpm.rek.attributes",
        missing.is_empty() && present.is_empty(),
        format!(
            "attributes {:?}; missing {missing:?}; forbidden but set {present:?}",
            attr::names(bits)
        ),
    );
}

fn check_rek_policy(
    v: &mut Verdict,
    auth_policy: &[u8],
    pcrs: Option<&PcrValues>,
    policy_pcrs: &[u32],
) {
    let Some(pcrs) = pcrs else {
        v.fail(
            "tpm.rek.policy",
            "no PCR values given to recompute the PolicyPCR digest",
        );
        return;
    };
    let mut values = Vec::new();
    for index in policy_pcrs {
        let Some(value) = pcrs.values.get(index) else {
            v.fail(
                "tpm.rek.policy",
                format!("PCR {index} of the policy set has no value"),
            );
            return;
        };
        values.push(value.as_slice());
    }
    let expected = policy_pcr_digest(pcrs.bank, policy_pcrs, &values);
    let same = bool::from(expected.as_slice().ct_eq(auth_policy));
    v.check(
        "tpm.rek.policy",
        same,
        if same {
            format!(
                "authPolicy is PolicyPCR over {} PCRs {policy_pcrs:?}",
                pcrs.bank.name()
            )
        } else {
            format!(
                "authPolicy is not PolicyPCR over {} PCRs {policy_pcrs:?} with the quoted values",
                pcrs.bank.name()
            )
        },
    );
}

/// Everything a compute node's TPM identity consists of (spec §6.1 pieces 1, 3, 11 and the AK).
#[derive(Clone, Debug)]
pub struct IdentityInput<'a> {
    /// The quote (`TPMS_ATTEST`) and its signature.
    pub quote: &'a [u8],
    /// `TPMT_SIGNATURE` over the quote.
    pub quote_signature: &'a [u8],
    /// The quoted PCR values.
    pub pcrs: &'a PcrValues,
    /// `CertifyCreation` of the REK (`TPM2B_ATTEST`) and its signature.
    pub creation: &'a [u8],
    /// `TPMT_SIGNATURE` over it.
    pub creation_signature: &'a [u8],
    /// REK `TPMT_PUBLIC`.
    pub rek_public: &'a [u8],
    /// The attestation key.
    pub ak: AkSource<'a>,
    /// Client nonce expected in the quote.
    pub nonce: Freshness<'a>,
    /// PCRs the REK policy covers.
    pub policy_pcrs: &'a [u32],
}

/// Verifies quote, certify-creation and REK together; the REK's public key is claimed as
/// `rek_public_key` only when everything passed.
#[must_use]
pub fn verify_identity(input: &IdentityInput<'_>) -> Verdict {
    let mut v = verify_quote(&QuoteInput {
        attest: input.quote,
        signature: input.quote_signature,
        ak: input.ak.clone(),
        nonce: input.nonce,
        pcrs: Some(input.pcrs),
    });
    let creation = verify_certify_creation(&CreationInput {
        attest: input.creation,
        signature: input.creation_signature,
        ak: input.ak.clone(),
        object_public: Some(input.rek_public),
    });
    // The AK checks were already recorded by the quote.
    let creation_checks = creation
        .checks
        .into_iter()
        .filter(|c| !c.name.starts_with("tpm.ak."))
        .collect();
    v.merge(
        "creation_",
        Verdict {
            checks: creation_checks,
            claims: creation.claims,
        },
    );
    let rek = check_rek(input.rek_public, Some(input.pcrs), input.policy_pcrs);
    v.merge("", rek);
    if !v.valid() {
        v.claims.remove("rek_public_key");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::index_ranges;

    #[test]
    fn index_ranges_compacts_runs_of_three_or_more() {
        assert_eq!(index_ranges(&[]), "");
        assert_eq!(index_ranges(&[0, 1, 2, 3, 4, 5, 7, 8, 12]), "0-5,7,8,12");
        assert_eq!(index_ranges(&[3]), "3");
        assert_eq!(index_ranges(&[0, 2, 3, 4, 23]), "0,2-4,23");
        let top = format!("{}-{}", u32::MAX - 2, u32::MAX);
        assert_eq!(index_ranges(&[u32::MAX - 2, u32::MAX - 1, u32::MAX]), top);
    }
}
