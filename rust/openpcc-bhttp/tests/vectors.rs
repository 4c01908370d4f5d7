//! RFC 9292 examples from the repository's vectors (`tests/data/vectors/bhttp`, or `$OPENPCC_VECTORS/bhttp`).
//! Skipped with a message when the file is missing, and failed when `CI` is set.

#[path = "../../test-support/prerequisites.rs"]
mod prerequisites;

use openpcc_bhttp::{decode, encode, EncodeOptions, Event, Field, Framing, Message, StreamDecoder};
use serde_json::Value;

fn cases() -> Option<Vec<Value>> {
    let path = prerequisites::vector_file("bhttp", "rfc9292-examples.json")?;
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    Some(doc["cases"].as_array().unwrap().clone())
}

fn latin1(v: &Value) -> Vec<u8> {
    v.as_str()
        .unwrap()
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect()
}

fn fields(v: &Value) -> Vec<Field> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| Field::new(latin1(&p[0]), latin1(&p[1])))
        .collect()
}

fn check_decoded(name: &str, message: &Message, want: &Value) {
    match message {
        Message::Request(r) => {
            assert_eq!(r.method, latin1(&want["method"]), "{name}");
            assert_eq!(r.scheme, latin1(&want["scheme"]), "{name}");
            assert_eq!(r.authority, latin1(&want["authority"]), "{name}");
            assert_eq!(r.path, latin1(&want["path"]), "{name}");
            assert_eq!(r.headers, fields(&want["header_fields"]), "{name}");
            assert_eq!(r.content, latin1(&want["content"]), "{name}");
            assert_eq!(r.trailers, fields(&want["trailer_fields"]), "{name}");
        }
        Message::Response(r) => {
            let info = want["informational"].as_array().unwrap();
            assert_eq!(r.informational.len(), info.len(), "{name}");
            for (got, want) in r.informational.iter().zip(info) {
                assert_eq!(
                    u64::from(got.status),
                    want["status"].as_u64().unwrap(),
                    "{name}"
                );
                assert_eq!(got.fields, fields(&want["fields"]), "{name}");
            }
            assert_eq!(
                u64::from(r.status),
                want["status"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(r.headers, fields(&want["header_fields"]), "{name}");
            assert_eq!(r.content, latin1(&want["content"]), "{name}");
            assert_eq!(r.trailers, fields(&want["trailer_fields"]), "{name}");
        }
    }
}

#[test]
fn every_example_decodes_and_reencodes() {
    let Some(cases) = cases() else { return };
    assert_eq!(cases.len(), 8);
    let by_name = |n: &str| cases.iter().find(|c| c["name"] == n).unwrap().clone();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let encoded = hex::decode(case["encoded"].as_str().unwrap()).unwrap();
        let want = &case["decoded"];
        let decoded = decode(&encoded).unwrap_or_else(|e| panic!("{name}: {e}"));
        let indicator = want["framing_indicator"].as_u64().unwrap();
        assert_eq!(
            decoded.framing == Framing::Indeterminate,
            indicator >= 2,
            "{name}"
        );
        assert_eq!(
            matches!(decoded.message, Message::Response(_)),
            indicator % 2 == 1,
            "{name}"
        );
        assert_eq!(
            decoded.padding_len,
            want["padding_bytes"].as_u64().unwrap(),
            "{name}"
        );
        check_decoded(name, &decoded.message, want);

        // Re-encode with the same framing. Compare with the untruncated original where there is
        // one; the RFC 9458 messages are compared after restoring the empty sections they omit.
        let indeterminate = indicator >= 2;
        let reencoded = encode(&decoded.message, &EncodeOptions::new(indeterminate, None)).unwrap();
        let reference = match case["equivalent_to"].as_str() {
            Some(original) => hex::decode(by_name(original)["encoded"].as_str().unwrap()).unwrap(),
            None => encoded.clone(),
        };
        let padding = usize::try_from(decode(&reference).unwrap().padding_len).unwrap();
        let unpadded = &reference[..reference.len() - padding];
        match name {
            "rfc9458-request" | "rfc9458-response" => {
                assert_eq!(reencoded, [unpadded, &[0, 0, 0]].concat());
            }
            _ => assert_eq!(reencoded, unpadded, "{name}"),
        }
        // With the example's padding restored, the bytes are identical.
        if padding > 0 {
            let padded = encode(
                &decoded.message,
                &EncodeOptions::new(indeterminate, Some(reference.len())),
            )
            .unwrap();
            assert_eq!(padded, reference, "{name}");
        }
    }
}

#[test]
fn every_example_decodes_byte_by_byte() {
    let Some(cases) = cases() else { return };
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let encoded = hex::decode(case["encoded"].as_str().unwrap()).unwrap();
        let whole = decode(&encoded).unwrap();
        let mut decoder = StreamDecoder::default();
        let mut events = Vec::new();
        for byte in &encoded {
            events.extend(decoder.feed(std::slice::from_ref(byte)).unwrap());
        }
        events.extend(decoder.finish().unwrap());
        let mut assembler = openpcc_bhttp::MessageAssembler::default();
        let ends = events.iter().filter(|e| matches!(e, Event::End)).count();
        assert_eq!(ends, 1, "{name}");
        for e in events {
            assembler.push(e);
        }
        assert_eq!(assembler.into_message().unwrap(), whole.message, "{name}");
        assert_eq!(decoder.padding_len(), whole.padding_len, "{name}");
    }
}
