//! Protobuf messages: explicit presence, exact bytes for the layouts the spec shows, JSON round trips.

use openpcc_compute::proto::{
    self, ComputeCandidate, ComputeManifestRequest, ComputeRequestInfo, Credit, Currency,
    Heartbeat, NodeEvent, Nonce,
};
use prost::Message;

#[test]
fn compute_request_info_bytes() {
    let info = ComputeRequestInfo {
        candidates: vec![ComputeCandidate {
            id: Some("n1".into()),
            encapsulated_key: Some(vec![7; 3]),
            ..Default::default()
        }],
    };
    // candidates(1): { id(1) "n1", encapsulated_key(4) 07 07 07 }
    assert_eq!(
        info.encode_to_vec(),
        hex::decode("0a090a026e3122 03070707".replace(' ', "")).unwrap()
    );
    assert_eq!(
        ComputeRequestInfo::decode(info.encode_to_vec().as_slice()).unwrap(),
        info
    );
}

#[test]
fn explicit_presence_serializes_zero_values() {
    let req = ComputeManifestRequest {
        tags: vec!["llm".into()],
        limit: Some(0),
        client_nonce: None,
    };
    assert_eq!(req.encode_to_vec(), hex::decode("0a036c6c6d1000").unwrap());
    assert_eq!(
        ComputeManifestRequest {
            tags: vec![],
            limit: None,
            client_nonce: None,
        }
        .encode_to_vec(),
        Vec::<u8>::new()
    );
}

#[test]
fn credit_layout_of_appendix_a() {
    // {1: Currency{1: 2 bytes}, 2: Nonce{1: Timestamp{1: secs}, 2: 16 bytes}, 3: sig}
    let credit = Credit {
        value: Some(Currency {
            currency: Some(vec![0x01, 0x02]),
        }),
        nonce: Some(Nonce {
            timestamp: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            nonce: Some(vec![0xAA; 16]),
        }),
        signature: Some(vec![0x55; 4]),
    };
    let bytes = credit.encode_to_vec();
    let expected = [
        "0a04",
        "0a020102", // value
        "121a",
        "0a06",
        "0880e2cfaa06",
        "1210",
        &"aa".repeat(16), // nonce
        "1a04",
        "55555555", // signature
    ]
    .concat();
    assert_eq!(hex::encode(&bytes), expected);
}

#[test]
fn node_event_oneof_and_json_round_trip() {
    let ev = NodeEvent {
        node_id: Some("01936e5a-0000-7000-8000-000000000001".into()),
        event_index: Some(0),
        timestamp: None,
        payload: Some(proto::node_event::Payload::Heartbeat(Heartbeat {
            payload: Some(proto::heartbeat::Payload::RoutingInfoUrl("http://n".into())),
        })),
    };
    let bytes = ev.encode_to_vec();
    let json = proto::decode_json("csprotos.NodeEvent", &bytes).unwrap();
    assert!(json.contains("\"eventIndex\":\"0\""), "{json}"); // present although zero
    assert_eq!(
        proto::encode_json("csprotos.NodeEvent", &json).unwrap(),
        bytes
    );
    assert!(proto::message_names()
        .unwrap()
        .contains(&"csprotos.RouterState".to_owned()));
    assert!(proto::encode_json("csprotos.Nope", "{}").is_err());
    assert!(proto::decode_json("csprotos.NodeEvent", &[0x0a, 0x05]).is_err());
}
