//! Exact bytes of the currency, bank, nonce-locking and auth messages (spec §8.4, §8.9, §11).

use openpcc_proto::prost::Message as _;
use openpcc_proto::{
    decode_json, encode_json, message_names, AuthWithdrawalRequest, Badge, BatchWithdrawRequest,
    BlindSignRequest, Credentials, Credit, Currency, LockRequest, Nonce, ProtoError,
};

#[test]
fn badge_credentials_bytes_match_the_spec_vector() {
    // Spec §8.9: models ["my-model:1b"] → `0a 0f 0b000000 6d792d6d6f64656c3a3162`.
    let mut models = 11u32.to_le_bytes().to_vec();
    models.extend_from_slice(b"my-model:1b");
    let credentials = Credentials {
        models: Some(models),
    };
    assert_eq!(
        hex::encode(credentials.encode_to_vec()),
        "0a0f0b0000006d792d6d6f64656c3a3162"
    );
    let signature = hex::decode("47529d714543541f867f10ac88d046279ffa398453572f01722eb43af9e9beb756ccf71d393b21da960183105fba234d8d482dce75f083165377dcc76dfaa009").unwrap();
    let badge = Badge {
        credentials: Some(credentials),
        signature: Some(signature),
    };
    // The header value of spec §8.9, base64-decoded.
    let expected = "0a110a0f0b0000006d792d6d6f64656c3a3162124047529d714543541f867f10ac88d046279ffa398453572f01722eb43af9e9beb756ccf71d393b21da960183105fba234d8d482dce75f083165377dcc76dfaa009";
    assert_eq!(hex::encode(badge.encode_to_vec()), expected);
}

#[test]
fn credit_and_requests_have_the_reference_layout() {
    let nonce = Nonce {
        timestamp: Some(openpcc_proto::prost_types::Timestamp {
            seconds: 3600,
            nanos: 0,
        }),
        nonce: Some(vec![7; 16]),
    };
    let credit = Credit {
        value: Some(Currency {
            currency: Some(vec![0x02, 0x24]),
        }),
        nonce: Some(nonce.clone()),
        signature: Some(vec![0xaa; 4]),
    };
    let bytes = credit.encode_to_vec();
    // value | nonce (timestamp 3600, 16 bytes) | signature
    let expected = format!(
        "0a040a02022412170a0308901c1210{}1a04aaaaaaaa",
        "07".repeat(16)
    );
    assert_eq!(hex::encode(&bytes), expected);
    assert_eq!(Credit::decode(bytes.as_slice()).unwrap(), credit);

    let request = BlindSignRequest {
        value: Some(Currency {
            currency: Some(vec![0x00, 0xf0]),
        }),
        blinded_message: Some(vec![1, 2]),
    };
    assert_eq!(hex::encode(request.encode_to_vec()), "12040a0200f01a020102");
    let batch = BatchWithdrawRequest {
        requests: vec![request.clone(), request],
        account_token: Some(vec![9; 32]),
    };
    assert_eq!(
        BatchWithdrawRequest::decode(batch.encode_to_vec().as_slice()).unwrap(),
        batch
    );

    let lock = LockRequest { nonce: Some(nonce) };
    assert_eq!(
        LockRequest::decode(lock.encode_to_vec().as_slice()).unwrap(),
        lock
    );
    // Explicit presence: an empty API key is still serialized.
    let withdrawal = AuthWithdrawalRequest {
        api_key: Some(String::new()),
        value: None,
        blinded_message: None,
    };
    assert_eq!(withdrawal.encode_to_vec(), vec![0x0a, 0x00]);
}

#[test]
fn every_new_message_is_reachable_by_name() {
    let names = message_names().unwrap();
    for name in [
        "csprotos.BlindSignRequest",
        "csprotos.DepositRequest",
        "csprotos.BatchWithdrawResponse",
        "csprotos.WithdrawFullUnblindedResponse",
        "csprotos.UnlockRequest",
        "csprotos.AuthWithdrawalResponse",
        "csprotos.AuthConfigResponse",
        "csprotos.APIKeyInfo",
        "csprotos.ComputeRequestInfo",
    ] {
        assert!(names.iter().any(|n| n == name), "{name}");
    }
    let bytes = encode_json("csprotos.DepositResponse", r#"{"balance": "0"}"#).unwrap();
    assert_eq!(bytes, vec![0x08, 0x00]);
    assert_eq!(
        decode_json("csprotos.DepositResponse", &bytes).unwrap(),
        r#"{"balance":"0"}"#
    );
    assert_eq!(
        encode_json("csprotos.Nope", "{}"),
        Err(ProtoError::UnknownMessage)
    );
    assert!(matches!(
        decode_json("csprotos.Credit", &[0xff]),
        Err(ProtoError::Malformed(_))
    ));
}
