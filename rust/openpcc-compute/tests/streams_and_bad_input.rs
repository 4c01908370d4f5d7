//! Token streams (length hiding, incremental release) and bad input through the public API.
#![allow(clippy::cast_possible_truncation)] // the test PRNG is cut down to bytes on purpose

use std::time::Duration;

use openpcc_compute::{
    media, ComputeRequest, Error, Framing, NodeRequest, Padding, TokenStreamOpener,
    TokenStreamSealer, SUITE,
};
use openpcc_hpke::SecretKey;

const NODE: &str = "01936e5a-0000-7000-8000-000000000001";

fn setup() -> (ComputeRequest, NodeRequest) {
    let (sk, pk): (SecretKey, Vec<u8>) = SUITE.generate_key_pair().unwrap();
    let req = ComputeRequest::seal(Framing::Unchunked, b"prompt", [(NODE, pk.as_slice())]).unwrap();
    let key = req.encapsulated_keys().next().unwrap().1.to_vec();
    let node = NodeRequest::unwrap(req.media_type(), &key, &sk).unwrap();
    (req, node)
}

/// Streams `tokens` 30 ms apart; returns chunk sizes and the wire.
fn stream(node: &NodeRequest, tokens: &[Vec<u8>], padding: Padding) -> (Vec<usize>, Vec<u8>) {
    let ms = Duration::from_millis;
    let sealer = node.response_sealer(Framing::Chunked).unwrap();
    let headers = vec![(b"content-type".to_vec(), b"application/x-ndjson".to_vec())];
    let mut s = TokenStreamSealer::new(sealer, 200, &headers, padding, ms(0)).unwrap();
    let mut chunks = s.start().unwrap();
    let mut t = ms(0);
    for tok in tokens {
        t += ms(30);
        chunks.extend(s.poll(t).unwrap());
        chunks.extend(s.push(tok, t).unwrap());
    }
    chunks.extend(s.poll(t + ms(30)).unwrap());
    chunks.extend(s.finish(&[]).unwrap());
    let mut wire = s.response_nonce().to_vec();
    wire.extend(chunks.concat());
    (chunks.iter().map(Vec::len).collect(), wire)
}

fn open(req: &ComputeRequest, wire: &[u8]) -> Vec<u8> {
    let mut o = TokenStreamOpener::new(req.response_opener(NODE, media::CHUNKED_RESPONSE).unwrap())
        .unwrap();
    // Feed byte by byte: the opener must cope with any split.
    let mut body = Vec::new();
    for b in wire {
        body.extend(o.push(std::slice::from_ref(b)).unwrap());
    }
    body.extend(o.finish().unwrap().body);
    body
}

#[test]
fn fixed_padding_sizes_do_not_depend_on_token_lengths() {
    let (req, node) = setup();
    let mut seen = None;
    for seed in 0u8..20 {
        // Same count, lengths 1..=300 varying with the seed (some pieces fill most of a frame).
        let tokens: Vec<Vec<u8>> = (0..12u16)
            .map(|i| vec![b'a' + seed % 26; 1 + usize::from((u16::from(seed) * 37 + i * 91) % 300)])
            .collect();
        let (sizes, wire) = stream(&node, &tokens, Padding::default());
        assert_eq!(open(&req, &wire), tokens.concat());
        match &seen {
            None => seen = Some(sizes),
            Some(first) => assert_eq!(&sizes, first, "seed {seed}"),
        }
    }
}

#[test]
fn per_piece_padding_leaks_lengths() {
    let (req, node) = setup();
    let a: Vec<Vec<u8>> = vec![b"x".to_vec(), b"yy".to_vec()];
    let b: Vec<Vec<u8>> = vec![b"xxx".to_vec(), b"y".to_vec()];
    let (sa, wa) = stream(&node, &a, Padding::PerPiece);
    let (sb, _) = stream(&node, &b, Padding::PerPiece);
    assert_ne!(sa, sb);
    assert_eq!(open(&req, &wa), a.concat());
}

#[test]
fn tampered_stream_chunk_is_not_released() {
    let (req, node) = setup();
    let tokens = vec![b"first".to_vec(), b"second".to_vec()];
    let (sizes, mut wire) = stream(&node, &tokens, Padding::default());
    // Chunk 0 is the head alone (flushed 20 ms after the start), chunk 1 carries "first", chunk 2 "second".
    let second_chunk_start = 16 + sizes[0] + sizes[1];
    wire[second_chunk_start + 5] ^= 1;
    let mut o = TokenStreamOpener::new(req.response_opener(NODE, media::CHUNKED_RESPONSE).unwrap())
        .unwrap();
    let first = o.push(&wire[..second_chunk_start]).unwrap();
    assert_eq!(first, b"first");
    assert_eq!(o.push(&wire[second_chunk_start..]), Err(Error::Decrypt));
    assert_eq!(o.push(b""), Err(Error::Finished));
}

#[test]
fn unknown_node_and_wrong_media_types() {
    let (req, node) = setup();
    assert_eq!(
        req.response_opener("other", media::CHUNKED_RESPONSE).err(),
        Some(Error::UnknownNode)
    );
    assert_eq!(
        req.response_opener(NODE, media::REQUEST).err(),
        Some(Error::UnsupportedMediaType)
    );
    let unchunked = req.response_opener(NODE, media::RESPONSE).unwrap();
    assert_eq!(
        TokenStreamOpener::new(unchunked).err(),
        Some(Error::UnsupportedMediaType)
    );
    let sealer = node.response_sealer(Framing::Unchunked).unwrap();
    assert!(matches!(
        TokenStreamSealer::new(sealer, 200, &[], Padding::default(), Duration::ZERO),
        Err(Error::InvalidArgument(_))
    ));
}

/// A malicious node controls the plaintext inside authentic chunks: arbitrary BHTTP bytes must give a
/// typed result, never a panic or a hang.
#[test]
fn arbitrary_plaintext_from_the_node_never_panics() {
    let (req, node) = setup();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..300 {
        let mut sealer = node.response_sealer(Framing::Chunked).unwrap();
        let mut wire = sealer.response_nonce().to_vec();
        let chunks = next() % 6;
        for _ in 0..chunks {
            let len = 1 + (next() % 64) as usize;
            // Mostly small values so the parser gets deep into the message structure.
            let pt: Vec<u8> = (0..len)
                .map(|_| {
                    if next() % 3 == 0 {
                        (next() % 256) as u8
                    } else {
                        (next() % 8) as u8
                    }
                })
                .collect();
            wire.extend(sealer.seal_chunk(&pt).unwrap());
        }
        wire.extend(sealer.seal_final(b"").unwrap());
        let mut o =
            TokenStreamOpener::new(req.response_opener(NODE, media::CHUNKED_RESPONSE).unwrap())
                .unwrap();
        let result = match o.push(&wire) {
            Ok(_) => o.finish().map(|_| ()),
            Err(e) => Err(e),
        };
        if round == 0 {
            assert!(result.is_err()); // no chunks at all: not a BHTTP message
        }
    }
}

fn fields(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    list.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn trailers_must_be_announced_and_the_refund_stays_outside() {
    let (req, node) = setup();
    let now = Duration::ZERO;
    let headers = fields(&[
        ("content-type", "text/plain"),
        ("trailer", "X-Usage, x-other"),
    ]);
    for bad in [
        fields(&[("x-unannounced", "1")]),
        fields(&[("x-refund-amount", "CgIA8A==")]),
    ] {
        let sealer = node.response_sealer(Framing::Chunked).unwrap();
        let mut s = TokenStreamSealer::new(sealer, 200, &headers, Padding::PerPiece, now).unwrap();
        assert!(matches!(s.finish(&bad), Err(Error::InvalidArgument(_))));
        // nothing was sealed: the stream can still finish properly
        assert!(s.finish(&fields(&[("x-usage", "7")])).is_ok());
    }
    let sealer = node.response_sealer(Framing::Chunked).unwrap();
    let forbidden = fields(&[("trailer", "content-length")]);
    assert!(matches!(
        TokenStreamSealer::new(sealer, 200, &forbidden, Padding::PerPiece, now),
        Err(Error::InvalidArgument(_))
    ));
    let sealer = node.response_sealer(Framing::Chunked).unwrap();
    let mut s = TokenStreamSealer::new(sealer, 200, &headers, Padding::default(), now).unwrap();
    let mut wire = s.response_nonce().to_vec();
    wire.extend(s.push(b"hello", now).unwrap().concat());
    wire.extend(
        s.finish(&fields(&[("x-usage", "7"), ("x-other", "")]))
            .unwrap()
            .concat(),
    );
    let mut o = TokenStreamOpener::new(req.response_opener(NODE, media::CHUNKED_RESPONSE).unwrap())
        .unwrap();
    let mut body = o.push(&wire).unwrap();
    // the announcement is written as the reference writes it
    let head = fields(&[
        ("content-type", "text/plain"),
        ("trailer", "X-Other,X-Usage"),
    ]);
    assert_eq!(o.headers(), head.as_slice());
    let end = o.finish().unwrap();
    body.extend(end.body);
    assert_eq!(body, b"hello");
    assert_eq!(end.trailers, fields(&[("x-usage", "7"), ("x-other", "")]));
}

#[test]
fn node_pads_only_when_the_request_asks() {
    let (req, node) = setup();
    let tokens = vec![b"{\"a\":1}\n".to_vec(), b"{\"b\":2}\n".to_vec()];
    for (asked, expect_fixed) in [(true, true), (false, false)] {
        let mut inner = fields(&[("content-type", "application/json")]);
        if asked {
            inner.push(openpcc_compute::padding_request_field());
        }
        let padding = openpcc_compute::take_padding_request(&mut inner).unwrap();
        assert_eq!(inner, fields(&[("content-type", "application/json")]));
        let (sizes, wire) = stream(&node, &tokens, padding);
        assert_eq!(open(&req, &wire), tokens.concat());
        let uniform = sizes[..sizes.len() - 1].iter().all(|&n| n == 2 + 512 + 16);
        assert_eq!(uniform, expect_fixed, "{sizes:?}");
    }
}
