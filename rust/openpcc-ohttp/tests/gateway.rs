//! Gateway checks, bad input, and the reference's fixed 532-byte chunk layout.
#![allow(clippy::similar_names, clippy::unwrap_used)]

use openpcc_ohttp::chunked::{
    ChunkedRequestOpener, ChunkedRequestSealer, ChunkedResponseOpener, ChunkedResponseSealer,
    SealerOptions,
};
use openpcc_ohttp::{
    encapsulate_request, Aead, Ephemeral, Error, GatewayKey, Kdf, Kem, KeyConfig, SymmetricSuite,
};

fn suites() -> Vec<SymmetricSuite> {
    vec![SymmetricSuite {
        kdf: Kdf::HkdfSha256,
        aead: Aead::Aes128Gcm,
    }]
}

fn key() -> GatewayKey {
    GatewayKey::from_seed(7, Kem::X25519, &[1; 32], suites()).unwrap()
}

#[test]
fn round_trip_and_header_checks() {
    let key = key();
    let (req, client) = encapsulate_request(key.key_config(), b"ping").unwrap();
    assert_eq!(req.len(), 7 + 32 + 4 + 16);
    let (msg, ctx) = key.decapsulate_request(&req).unwrap();
    assert_eq!(msg, b"ping");
    let resp = ctx.encapsulate_response(b"pong").unwrap();
    assert_eq!(resp.len(), 16 + 4 + 16);
    assert_eq!(client.decapsulate_response(&resp).unwrap(), b"pong");

    let mut wrong_id = req.clone();
    wrong_id[0] ^= 1;
    assert!(matches!(
        key.decapsulate_request(&wrong_id),
        Err(Error::KeyIdMismatch(6))
    ));
    let mut wrong_aead = req.clone();
    wrong_aead[6] = 2; // AES-256-GCM: known, but not offered
    assert!(matches!(
        key.decapsulate_request(&wrong_aead),
        Err(Error::SuiteMismatch)
    ));
    let mut unknown_aead = req.clone();
    unknown_aead[6] = 9;
    assert!(matches!(
        key.decapsulate_request(&unknown_aead),
        Err(Error::Unsupported("aead", 9))
    ));
    let mut wrong_kem = req.clone();
    wrong_kem[2] = 0x10; // P-256
    assert!(matches!(
        key.decapsulate_request(&wrong_kem),
        Err(Error::SuiteMismatch)
    ));

    for cut in [0, 6, 7, 38, 39, 39 + 15] {
        assert!(
            matches!(
                key.decapsulate_request(&req[..cut]),
                Err(Error::Malformed(_))
            ),
            "cut {cut}"
        );
    }
    for i in 7..req.len() {
        let mut flipped = req.clone();
        flipped[i] ^= 0x80;
        assert!(key.decapsulate_request(&flipped).is_err(), "flip {i}");
    }
    let mut long = req.clone();
    long.push(0);
    assert!(matches!(
        key.decapsulate_request(&long),
        Err(Error::Decrypt)
    ));
    assert!(matches!(
        client.decapsulate_response(&resp[..31]),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        client.decapsulate_response(&resp[..32]),
        Err(Error::Decrypt)
    ));
}

#[test]
fn reference_fixed_chunks_are_550_bytes_with_a_17_byte_final() {
    let key = key();
    let body = vec![0x5a; 1000];
    let (mut sealer, client) = ChunkedRequestSealer::new(
        key.key_config(),
        SealerOptions::reference(),
        Ephemeral::Random,
    )
    .unwrap();
    let mut wire = Vec::new();
    for piece in body.chunks(77) {
        sealer.push(piece, &mut wire).unwrap();
    }
    assert_eq!(wire.len(), 2, "header and one full chunk so far");
    sealer.finish(&mut wire).unwrap();
    let sizes: Vec<usize> = wire.iter().map(Vec::len).collect();
    assert_eq!(sizes, [7 + 32, 550, 550, 17]);

    let mut opener = ChunkedRequestOpener::new(key.clone(), 4096);
    let mut out = Vec::new();
    opener.push(&wire.concat(), &mut out).unwrap();
    out.push(opener.finish().unwrap());
    let opened = out.concat();
    assert_eq!(opened.len(), 2 * 532);
    assert_eq!(&opened[..1000], body.as_slice());
    assert!(
        opened[1000..].iter().all(|&b| b == 0),
        "tail is zero padding"
    );

    let mut sealer = ChunkedResponseSealer::new(
        opener.response_context().unwrap(),
        SealerOptions::reference(),
        None,
    )
    .unwrap();
    let mut wire = Vec::new();
    sealer.push(&[1; 532], &mut wire).unwrap();
    sealer.finish(&mut wire).unwrap();
    assert_eq!(wire.iter().map(Vec::len).collect::<Vec<_>>(), [16, 550, 17]);
    let mut opener = ChunkedResponseOpener::new(client, 16384);
    let mut out = Vec::new();
    opener.push(&wire.concat(), &mut out).unwrap();
    assert_eq!(out, [vec![1; 532]]);
    assert_eq!(opener.finish().unwrap(), b"");
}

#[test]
fn chunked_stream_errors() {
    let key = key();
    let (mut sealer, _client) = ChunkedRequestSealer::new(
        key.key_config(),
        SealerOptions::default(),
        Ephemeral::Random,
    )
    .unwrap();
    let mut wire = Vec::new();
    sealer.push(&[3; 100], &mut wire).unwrap();
    sealer.finish(&mut wire).unwrap();
    assert!(matches!(sealer.push(b"x", &mut wire), Err(Error::Usage(_))));
    let stream = wire.concat();

    // Truncated before the final chunk, at every point.
    for cut in 0..stream.len() - 17 {
        let mut opener = ChunkedRequestOpener::new(key.clone(), 4096);
        let mut out = Vec::new();
        opener.push(&stream[..cut], &mut out).unwrap();
        assert!(
            matches!(opener.finish(), Err(Error::Truncated)),
            "cut {cut}"
        );
    }
    // A chunk larger than the opener's maximum.
    let mut opener = ChunkedRequestOpener::new(key.clone(), 99);
    assert!(matches!(
        opener.push(&stream, &mut Vec::new()),
        Err(Error::ChunkTooLarge)
    ));
    // Data after the final chunk.
    let mut long = stream.clone();
    long.push(0);
    let mut opener = ChunkedRequestOpener::new(key.clone(), 4096);
    opener.push(&long, &mut Vec::new()).unwrap();
    assert!(matches!(opener.finish(), Err(Error::Decrypt)));
    // The header is judged as soon as it arrives.
    let mut bad = stream.clone();
    bad[0] = 9;
    let mut opener = ChunkedRequestOpener::new(key.clone(), 4096);
    assert!(matches!(
        opener.push(&bad[..7], &mut Vec::new()),
        Err(Error::KeyIdMismatch(9))
    ));
    assert!(matches!(
        opener.push(&bad[7..], &mut Vec::new()),
        Err(Error::Usage(_))
    ));
}

#[test]
fn key_config_of_gateway_round_trips() {
    let key = key();
    let bytes = key.key_config().to_bytes();
    assert_eq!(KeyConfig::decode(&bytes).unwrap(), *key.key_config());
    assert!(matches!(
        GatewayKey::from_secret_key(1, Kem::X25519, &[0; 31], suites()),
        Err(Error::InvalidKey(_))
    ));
}
