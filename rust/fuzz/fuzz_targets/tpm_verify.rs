//! Arbitrary bytes as TPM 2.0 evidence: every parser and verifier returns an error or a verdict,
//! never panics, and nothing built from noise verifies.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use openpcc_attest::tpm::{
    check_rek, parse_certificate, verify_ak, verify_certify_creation, verify_quote, AkSource,
    CreationInput, Freshness, HashAlg, PcrValues, QuoteInput, TpmsAttest, TpmtPublic,
    TpmtSignature, REFERENCE_PCRS,
};

fuzz_target!(|data: &[u8]| {
    let _ = TpmsAttest::decode(data);
    let _ = TpmsAttest::decode_2b(data);
    let _ = TpmtSignature::decode(data);
    let _ = parse_certificate(data);
    if let Ok(public) = TpmtPublic::decode(data) {
        let _ = public.name();
        let _ = public.to_json();
    }
    // Split the input into attest | signature | ak at two positions taken from its first bytes.
    let (Some(&a), Some(&b)) = (data.first(), data.get(1)) else {
        return;
    };
    let rest = data.get(2..).unwrap_or_default();
    let cut1 = usize::from(a).min(rest.len());
    let cut2 = (cut1 + usize::from(b) * 4).min(rest.len());
    let (attest, tail) = rest.split_at(cut1);
    let (signature, ak) = tail.split_at(cut2 - cut1);
    let pcrs = PcrValues {
        bank: HashAlg::Sha256,
        values: (0..24)
            .map(|i| (i, vec![0u8; 32]))
            .collect::<BTreeMap<_, _>>(),
    };
    let src = AkSource {
        ak,
        intermediates: &[],
        at_unix: 1_767_225_600,
        allow_weak: false,
    };
    let v = verify_quote(&QuoteInput {
        attest,
        signature,
        ak: src.clone(),
        nonce: Freshness::NotRequired,
        pcrs: Some(&pcrs),
    });
    assert!(!v.valid() || !v.checks.is_empty());
    let _ = verify_certify_creation(&CreationInput {
        attest,
        signature,
        ak: src.clone(),
        object_public: Some(ak),
    });
    let _ = verify_ak(&src);
    let _ = check_rek(ak, Some(&pcrs), &REFERENCE_PCRS);
});
