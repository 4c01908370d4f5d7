//! Exchanges recorded from the reference (`github.com/openpcc/ohttp` v0.0.80: its `Transport` client
//! against its `Middleware` gateway over loopback HTTP; `tests/interop/ohttp-vectors.json`), all four
//! request/response pairings on 0x0030 and 0x0020, with the module's default configuration and with
//! `OpenPCC`'s (fixed 532-byte chunks, padded messages). Byte for byte, without Go:
//! * our gateway opens the reference client's requests, and re-seals the reference gateway's
//!   responses identically (same nonce, same chunk boundaries);
//! * our client, with the reference client's RNG bytes as its ephemeral input, re-seals the same
//!   requests identically and opens the reference gateway's responses by their media type.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use openpcc_ohttp::chunked::{ChunkedRequestSealer, SealerOptions};
use openpcc_ohttp::stream::{RequestOpener, ResponseOpener, ResponseSealer};
use openpcc_ohttp::{
    encapsulate_request_with, Aead, Ephemeral, Form, GatewayKey, Kdf, Kem, SymmetricSuite,
    DEFAULT_MAX_REQUEST_CHUNK, DEFAULT_MAX_RESPONSE_CHUNK,
};
use serde_json::Value;

fn vectors() -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/ohttp-vectors.json");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|err| panic!("{} (committed in the repository): {err}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

fn hex_field(v: &Value, name: &str) -> Vec<u8> {
    hex::decode(v[name].as_str().unwrap()).unwrap()
}

fn int(v: &Value, name: &str) -> u16 {
    u16::try_from(v[name].as_u64().unwrap()).unwrap()
}

fn gateway_key(v: &Value, key_id: u16) -> GatewayKey {
    let entry = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| int(k, "key_id") == key_id)
        .unwrap();
    let kem = Kem::try_from(int(entry, "kem")).unwrap();
    let suites = vec![SymmetricSuite {
        kdf: Kdf::HkdfSha256,
        aead: Aead::Aes128Gcm,
    }];
    let key = GatewayKey::from_seed(
        u8::try_from(key_id).unwrap(),
        kem,
        &hex_field(entry, "seed"),
        suites,
    )
    .unwrap();
    assert_eq!(
        key.key_config().to_bytes(),
        hex_field(entry, "key_config"),
        "key derived from the seed as circl does"
    );
    key
}

/// The plaintext of each chunk an opener gave (`out`, then `last` from `finish`): one piece for a
/// plain message.
fn pieces(mut out: Vec<Vec<u8>>, last: Vec<u8>) -> Vec<Vec<u8>> {
    assert!(
        out.is_empty() || last.is_empty(),
        "the reference's final chunk is empty"
    );
    if out.is_empty() {
        out.push(last);
    }
    out
}

fn check_case(v: &Value, case: &Value) {
    let name = format!(
        "{} key {} {} {}",
        case["config"], case["key_id"], case["request_form"], case["path"]
    );
    let key = gateway_key(v, int(case, "key_id"));
    let request_form =
        Form::from_request_media_type(case["request_media_type"].as_str().unwrap()).unwrap();
    let response_type = case["response_media_type"].as_str().unwrap();
    let response_form = Form::from_response_media_type(response_type).unwrap();
    let expected_response_form = if case["path"] == "/chunked" {
        Form::Chunked
    } else {
        Form::Plain
    };
    assert_eq!(
        response_form, expected_response_form,
        "{name}: the reference picks the form from the response"
    );
    let (request, response) = (
        hex_field(case, "encapsulated_request"),
        hex_field(case, "encapsulated_response"),
    );

    // Our gateway opens the reference client's request.
    let mut opener = RequestOpener::new(key.clone(), request_form, DEFAULT_MAX_REQUEST_CHUNK);
    let mut out = Vec::new();
    opener.push(&request, &mut out).unwrap();
    let request_chunks = pieces(out, opener.finish().unwrap());
    assert_eq!(
        request_chunks.concat(),
        hex_field(case, "request_plaintext"),
        "{name}"
    );

    // Our client, fed the reference client's RNG bytes, seals the identical request.
    let rng = hex_field(case, "client_rng");
    let (resealed, client) = match request_form {
        Form::Plain => {
            encapsulate_request_with(key.key_config(), &request_chunks[0], Ephemeral::Ikm(&rng))
                .unwrap()
        }
        Form::Chunked => {
            let options = SealerOptions {
                max_chunk_len: DEFAULT_MAX_REQUEST_CHUNK,
                fixed_chunk_len: None,
            };
            let (mut sealer, client) =
                ChunkedRequestSealer::new(key.key_config(), options, Ephemeral::Ikm(&rng)).unwrap();
            let mut wire = Vec::new();
            for chunk in &request_chunks {
                sealer.push(chunk, &mut wire).unwrap();
            }
            sealer.finish(&mut wire).unwrap();
            (wire.concat(), client)
        }
    };
    assert_eq!(
        resealed, request,
        "{name}: our sealer reproduces the reference client's request"
    );

    // Our client opens the reference gateway's response by its media type.
    let mut reply =
        ResponseOpener::for_media_type(client, response_type, DEFAULT_MAX_RESPONSE_CHUNK).unwrap();
    let mut out = Vec::new();
    reply.push(&response, &mut out).unwrap();
    let response_chunks = pieces(out, reply.finish().unwrap());
    assert_eq!(
        response_chunks.concat(),
        hex_field(case, "response_plaintext"),
        "{name}"
    );

    // Our gateway, given the reference's nonce, seals the identical response.
    let context = opener.response_context().unwrap();
    let options = SealerOptions {
        max_chunk_len: DEFAULT_MAX_RESPONSE_CHUNK,
        fixed_chunk_len: None,
    };
    let nonce = &response[..context.response_nonce_len()];
    let mut sealer = ResponseSealer::new(context, response_form, options, Some(nonce)).unwrap();
    let mut wire = Vec::new();
    for chunk in &response_chunks {
        sealer.push(chunk, &mut wire).unwrap();
    }
    sealer.finish(&mut wire).unwrap();
    assert_eq!(
        wire.concat(),
        response,
        "{name}: our sealer reproduces the reference gateway's response"
    );
}

#[test]
fn reference_exchanges_all_pairings_both_suites() {
    let v = vectors();
    let cases = v["cases"].as_array().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for case in cases {
        check_case(&v, case);
        let pairing = (
            case["request_media_type"].to_string(),
            case["response_media_type"].to_string(),
        );
        seen.insert((case["config"].to_string(), int(case, "kem"), pairing));
    }
    assert_eq!(
        seen.len(),
        16,
        "2 configurations x 2 suites x 2 request forms x 2 response forms"
    );
}
