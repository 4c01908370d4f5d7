//! RFC 9458 Appendix A and the chunked-OHTTP draft example, byte for byte, from `tests/data/vectors/ohttp`.
//! Skipped (with a message) when the vectors are not present, and failed when `CI` is set.
#![allow(clippy::similar_names, clippy::unwrap_used)]

#[path = "../../test-support/prerequisites.rs"]
mod prerequisites;

use openpcc_ohttp::chunked::{
    ChunkedRequestOpener, ChunkedRequestSealer, ChunkedResponseOpener, ChunkedResponseSealer,
    SealerOptions,
};
use openpcc_ohttp::{encapsulate_request_with, Ephemeral, GatewayKey, KeyConfig};
use serde_json::Value;

fn load(name: &str) -> Option<Value> {
    let path = prerequisites::vector_file("ohttp", name)?;
    Some(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
}

fn hex_field(v: &Value, name: &str) -> Vec<u8> {
    hex::decode(v[name].as_str().unwrap()).unwrap()
}

fn gateway(v: &Value) -> GatewayKey {
    let config = KeyConfig::decode(&hex_field(v, "key_config")).unwrap();
    let key = GatewayKey::from_secret_key(
        config.key_id(),
        config.kem(),
        &hex_field(v, "server_sk_x25519"),
        config.symmetric().to_vec(),
    )
    .unwrap();
    assert_eq!(
        key.key_config(),
        &config,
        "public key must be X25519(server_sk)"
    );
    key
}

#[test]
fn rfc9458_appendix_a() {
    let Some(v) = load("rfc9458-appendix-a.json") else {
        return;
    };
    let key = gateway(&v);
    let request = hex_field(&v, "request_bhttp");
    let eph = hex_field(&v, "client_ephemeral_sk");
    let (encapsulated, client) =
        encapsulate_request_with(key.key_config(), &request, Ephemeral::SecretKey(&eph)).unwrap();
    assert_eq!(encapsulated, hex_field(&v, "encapsulated_request"));

    let (opened, response_ctx) = key.decapsulate_request(&encapsulated).unwrap();
    assert_eq!(opened, request);
    let response = response_ctx
        .encapsulate_response_with_nonce(
            &hex_field(&v, "response_bhttp"),
            &hex_field(&v, "response_nonce"),
        )
        .unwrap();
    assert_eq!(response, hex_field(&v, "encapsulated_response"));
    assert_eq!(
        client.decapsulate_response(&response).unwrap(),
        hex_field(&v, "response_bhttp")
    );
}

fn parts(v: &Value, name: &str) -> Vec<Vec<u8>> {
    v[name]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| hex::decode(p.as_str().unwrap()).unwrap())
        .collect()
}

fn lengths(v: &Value, name: &str) -> Vec<usize> {
    v[name]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| usize::try_from(n.as_u64().unwrap()).unwrap())
        .collect()
}

#[test]
fn chunked_draft_example() {
    let Some(v) = load("chunked-ohttp-draft-example.json") else {
        return;
    };
    let key = gateway(&v);
    let request = hex_field(&v, "request_bhttp");
    let eph = hex_field(&v, "client_ephemeral_sk");
    let want_request = parts(&v, "encapsulated_request_parts");

    // Client: seal in the example's chunk sizes (the final one is empty).
    let (mut sealer, client) = ChunkedRequestSealer::new(
        key.key_config(),
        SealerOptions::default(),
        Ephemeral::SecretKey(&eph),
    )
    .unwrap();
    let mut wire = Vec::new();
    let mut rest = request.as_slice();
    for len in lengths(&v, "request_chunk_plaintext_lengths")
        .into_iter()
        .filter(|&n| n > 0)
    {
        let (chunk, tail) = rest.split_at(len);
        sealer.push(chunk, &mut wire).unwrap();
        rest = tail;
    }
    sealer.finish(&mut wire).unwrap();
    let hdr_enc: Vec<u8> = want_request[..2].concat();
    assert_eq!(wire[0], hdr_enc);
    assert_eq!(wire[1..], want_request[2..]);
    assert_eq!(wire.concat(), hex_field(&v, "encapsulated_request"));

    // Gateway: the whole stream at once.
    let mut opener = ChunkedRequestOpener::new(key.clone(), 4096);
    let mut opened = Vec::new();
    opener
        .push(&hex_field(&v, "encapsulated_request"), &mut opened)
        .unwrap();
    opened.push(opener.finish().unwrap());
    assert_eq!(opened.concat(), request);

    // Gateway answers in the example's chunk sizes with the example's nonce.
    let response = hex_field(&v, "response_bhttp");
    let mut sealer = ChunkedResponseSealer::new(
        opener.response_context().unwrap(),
        SealerOptions::default(),
        Some(&hex_field(&v, "response_nonce")),
    )
    .unwrap();
    let mut wire = Vec::new();
    let mut rest = response.as_slice();
    for len in lengths(&v, "response_chunk_plaintext_lengths")
        .into_iter()
        .filter(|&n| n > 0)
    {
        let (chunk, tail) = rest.split_at(len);
        sealer.push(chunk, &mut wire).unwrap();
        rest = tail;
    }
    sealer.finish(&mut wire).unwrap();
    assert_eq!(wire, parts(&v, "encapsulated_response_parts"));

    // Client opens it byte by byte.
    let mut opener = ChunkedResponseOpener::new(client, 16384);
    let mut opened = Vec::new();
    for byte in hex_field(&v, "encapsulated_response") {
        opener.push(&[byte], &mut opened).unwrap();
    }
    opened.push(opener.finish().unwrap());
    assert_eq!(opened.concat(), response);
}
