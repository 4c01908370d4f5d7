//! Token streams and refunds against what the Go reference made of them (`tests/interop/stream-vectors.json`,
//! recorded by `python -m tests.support.stream_interop`): our node must still send the recorded bytes, so the
//! recorded reference output still applies.

use std::time::Duration;

use openpcc_compute::{
    media, refund, take_padding_request, NodeRequest, Padding, TokenStreamSealer, SUITE,
};
use openpcc_hpke::SecretKey;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/interop/stream-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn field(name: &str, value: &str) -> (Vec<u8>, Vec<u8>) {
    (name.as_bytes().to_vec(), value.as_bytes().to_vec())
}

/// The stream `tests/support/stream_interop.py` makes: tokens 30 ms apart, one announced trailer.
fn stream(node: &NodeRequest, nonce: [u8; 16], padding: Padding, tokens: &[Vec<u8>]) -> Vec<u8> {
    let ms = Duration::from_millis;
    let sealer = node
        .response_sealer_with(openpcc_compute::Framing::Chunked, nonce)
        .unwrap();
    let headers = [
        field("content-type", "application/x-ndjson"),
        field("trailer", "x-example"),
    ];
    let mut s = TokenStreamSealer::new(sealer, 200, &headers, padding, ms(0)).unwrap();
    let mut wire = nonce.to_vec();
    wire.extend(s.start().unwrap().concat());
    let mut t = ms(0);
    for tok in tokens {
        t += ms(30);
        wire.extend(s.poll(t).unwrap().concat());
        wire.extend(s.push(tok, t).unwrap().concat());
    }
    wire.extend(s.poll(t + ms(30)).unwrap().concat());
    wire.extend(s.finish(&[field("x-example", "done")]).unwrap().concat());
    wire
}

#[test]
fn our_node_still_sends_what_the_reference_read() {
    let v = vectors();
    let sk = SecretKey::from_bytes(SUITE.kem, &hx(&v["node"]["sk"])).unwrap();
    let tokens: Vec<Vec<u8>> = v["tokens"].as_array().unwrap().iter().map(hx).collect();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let node =
            NodeRequest::unwrap(media::REQUEST, &hx(&case["encapsulated_key"]), &sk).unwrap();
        let plaintext = node.open_body(&hx(&case["request_body"])).unwrap();
        assert_eq!(plaintext, hx(&case["request_plaintext"]));
        let request =
            openpcc_bhttp::decode_request(&plaintext, &openpcc_bhttp::DecoderConfig::default())
                .unwrap();
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = request
            .headers
            .into_iter()
            .map(|f| (f.name, f.value))
            .collect();
        let padding = take_padding_request(&mut headers).unwrap();
        let asks = case["asks_padding"].as_bool().unwrap();
        assert_eq!(padding == Padding::default(), asks);
        assert_eq!(padding == Padding::PerPiece, !asks);
        assert_eq!(headers, [field("content-type", "application/json")]);

        let recorded = hx(&case["wire"]);
        let nonce: [u8; 16] = recorded[..16].try_into().unwrap();
        assert_eq!(
            stream(&node, nonce, padding, &tokens),
            recorded,
            "{}",
            case["name"]
        );

        let reference = &case["reference_client"];
        let text = String::from_utf8(tokens.concat()).unwrap();
        let body = reference["body"].as_str().unwrap();
        if asks {
            assert_eq!(body.replace(' ', ""), text.replace(' ', "")); // filler reads as spaces
            assert_ne!(body, text);
        } else {
            assert_eq!(body, text);
            assert_eq!(body, case["reference_node"]["body"].as_str().unwrap());
        }
        assert_eq!(reference["trailer"]["X-Example"][0], "done");

        let unused = v["credit"].as_u64().unwrap() - v["used"].as_u64().unwrap();
        let (rounded, value) =
            refund::refund_amount_trailer(unused, refund::CURRENCY_SIGNIFICANT_BITS).unwrap();
        assert_eq!(value, case["outer_trailer"].as_str().unwrap());
        assert_eq!(reference["refund_amount"].as_u64().unwrap(), rounded);
        assert!(rounded <= unused);
    }
}
