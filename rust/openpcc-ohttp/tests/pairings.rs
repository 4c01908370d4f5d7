//! All four request/response form pairings, for both suites the reference uses, through the
//! low-level and the media-type-driven APIs; chunk limits; bad media types and truncation.
#![allow(clippy::similar_names, clippy::unwrap_used)]

use openpcc_ohttp::chunked::{
    ChunkedRequestOpener, ChunkedRequestSealer, ChunkedResponseOpener, ChunkedResponseSealer,
    SealerOptions,
};
use openpcc_ohttp::stream::{RequestOpener, ResponseOpener, ResponseSealer};
use openpcc_ohttp::{
    encapsulate_request, Aead, ClientContext, Ephemeral, Error, Form, GatewayKey, Kdf, Kem,
    SymmetricSuite, DEFAULT_MAX_REQUEST_CHUNK, DEFAULT_MAX_RESPONSE_CHUNK,
    REFERENCE_MAX_REQUEST_CHUNK,
};

const FORMS: [Form; 2] = [Form::Plain, Form::Chunked];

fn key(kem: Kem) -> GatewayKey {
    let suites = vec![SymmetricSuite {
        kdf: Kdf::HkdfSha256,
        aead: Aead::Aes128Gcm,
    }];
    GatewayKey::from_seed(3, kem, &[9; 32], suites).unwrap()
}

fn keys() -> [GatewayKey; 2] {
    [key(Kem::X25519), key(Kem::X25519Kyber768Draft00)]
}

/// The client's request of `form`, as one wire buffer, with its context.
fn client_request(key: &GatewayKey, form: Form, body: &[u8]) -> (Vec<u8>, ClientContext) {
    match form {
        Form::Plain => encapsulate_request(key.key_config(), body).unwrap(),
        Form::Chunked => {
            let (mut sealer, client) = ChunkedRequestSealer::new(
                key.key_config(),
                SealerOptions::default(),
                Ephemeral::Random,
            )
            .unwrap();
            let mut wire = Vec::new();
            sealer.push(body, &mut wire).unwrap();
            sealer.finish(&mut wire).unwrap();
            (wire.concat(), client)
        }
    }
}

fn open_in_pieces(
    wire: &[u8],
    piece: usize,
    mut push: impl FnMut(&[u8], &mut Vec<Vec<u8>>) -> Result<(), Error>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for part in wire.chunks(piece) {
        push(part, &mut out).unwrap();
    }
    out.concat()
}

#[test]
fn every_pairing_through_the_media_type_apis() {
    let request_body = vec![0x42; 9000];
    let response_body = vec![0x24; 10_000];
    for key in keys() {
        for request_form in FORMS {
            for response_form in FORMS {
                let case = format!(
                    "{:?} {request_form:?} -> {response_form:?}",
                    key.key_config().kem()
                );
                let (wire, client) = client_request(&key, request_form, &request_body);
                assert_eq!(client.request_form(), request_form);

                let mut opener = RequestOpener::for_media_type(
                    key.clone(),
                    request_form.request_media_type(),
                    DEFAULT_MAX_REQUEST_CHUNK,
                )
                .unwrap();
                assert_eq!(opener.form(), request_form);
                let mut opened = open_in_pieces(&wire, 1000, |d, o| opener.push(d, o));
                opened.extend(opener.finish().unwrap());
                assert_eq!(opened, request_body, "{case}");
                let context = opener.response_context().unwrap();
                assert_eq!(context.request_form(), request_form);

                let mut sealer =
                    ResponseSealer::new(context, response_form, SealerOptions::default(), None)
                        .unwrap();
                let mut response = Vec::new();
                sealer.push(&response_body[..3000], &mut response).unwrap();
                sealer.push(&response_body[3000..], &mut response).unwrap();
                sealer.finish(&mut response).unwrap();
                assert_eq!(sealer.media_type(), response_form.response_media_type());

                let mut reply = ResponseOpener::for_media_type(
                    client,
                    sealer.media_type(),
                    DEFAULT_MAX_RESPONSE_CHUNK,
                )
                .unwrap();
                let mut got = open_in_pieces(&response.concat(), 777, |d, o| reply.push(d, o));
                got.extend(reply.finish().unwrap());
                assert_eq!(got, response_body, "{case}");
            }
        }
    }
}

#[test]
fn every_pairing_through_the_form_specific_apis() {
    for key in keys() {
        for request_form in FORMS {
            let (wire, client) = client_request(&key, request_form, b"question");
            let context = match request_form {
                Form::Plain => key.decapsulate_request(&wire).unwrap().1,
                Form::Chunked => {
                    let mut opener =
                        ChunkedRequestOpener::new(key.clone(), DEFAULT_MAX_REQUEST_CHUNK);
                    opener.push(&wire, &mut Vec::new()).unwrap();
                    opener.finish().unwrap();
                    opener.response_context().unwrap().clone()
                }
            };
            // Plain answer.
            let plain = context.encapsulate_response(b"plain answer").unwrap();
            assert_eq!(
                client.decapsulate_response(&plain).unwrap(),
                b"plain answer"
            );
            // Chunked answer.
            let mut sealer =
                ChunkedResponseSealer::new(&context, SealerOptions::default(), None).unwrap();
            let mut chunked = Vec::new();
            sealer.push(b"chunked answer", &mut chunked).unwrap();
            sealer.finish(&mut chunked).unwrap();
            let mut opener = ChunkedResponseOpener::new(client.clone(), DEFAULT_MAX_RESPONSE_CHUNK);
            let mut out = Vec::new();
            opener.push(&chunked.concat(), &mut out).unwrap();
            out.push(opener.finish().unwrap());
            assert_eq!(out.concat(), b"chunked answer");

            // The two response secrets differ: each form's bytes fail under the other's opener.
            let mut wrong = ChunkedResponseOpener::new(client.clone(), DEFAULT_MAX_RESPONSE_CHUNK);
            let early = wrong
                .push(&plain, &mut Vec::new())
                .and_then(|()| wrong.finish().map(|_| ()));
            assert!(early.is_err(), "a plain response must not open as chunked");
            assert!(matches!(
                client.decapsulate_response(&chunked.concat()),
                Err(Error::Decrypt)
            ));
        }
    }
}

/// A chunked request whose chunks carry `chunk_len` plaintext bytes.
fn chunked_request_with(key: &GatewayKey, chunk_len: usize) -> Vec<u8> {
    let options = SealerOptions {
        max_chunk_len: chunk_len,
        fixed_chunk_len: None,
    };
    let (mut sealer, _) =
        ChunkedRequestSealer::new(key.key_config(), options, Ephemeral::Random).unwrap();
    let mut wire = Vec::new();
    sealer.push(&vec![7; chunk_len * 2], &mut wire).unwrap();
    sealer.finish(&mut wire).unwrap();
    let sealed = chunk_len + 16; // 16400 for 16384: its length prefix is a 4-byte varint
    let prefix = if sealed < 16384 { 2 } else { 4 };
    assert_eq!(wire[1].len(), prefix + sealed, "one full chunk on the wire");
    wire.concat()
}

#[test]
fn request_chunks_of_16384_bytes_are_accepted_by_default_and_the_reference_limit_is_an_option() {
    let key = key(Kem::X25519);
    let accepted = chunked_request_with(&key, 16384); // 16400-byte sealed chunks, as the `ohttp` crate 0.8 sends
    let mut opener = RequestOpener::new(key.clone(), Form::Chunked, DEFAULT_MAX_REQUEST_CHUNK);
    let mut out = Vec::new();
    opener.push(&accepted, &mut out).unwrap();
    out.push(opener.finish().unwrap());
    assert_eq!(out.concat().len(), 2 * 16384);

    let mut strict = ChunkedRequestOpener::new(key.clone(), REFERENCE_MAX_REQUEST_CHUNK);
    assert!(matches!(
        strict.push(&accepted, &mut Vec::new()),
        Err(Error::ChunkTooLarge)
    ));

    let too_big = chunked_request_with(&key, 16385);
    let mut opener = RequestOpener::new(key, Form::Chunked, DEFAULT_MAX_REQUEST_CHUNK);
    assert!(matches!(
        opener.push(&too_big, &mut Vec::new()),
        Err(Error::ChunkTooLarge)
    ));
}

#[test]
fn wrong_media_types_are_refused() {
    let key = key(Kem::X25519);
    let (_, client) = client_request(&key, Form::Plain, b"x");
    for bad in ["message/ohttp-res", "message/bhttp", "text/plain", ""] {
        assert!(
            matches!(
                RequestOpener::for_media_type(key.clone(), bad, 16384),
                Err(Error::MediaType(_))
            ),
            "{bad:?}"
        );
    }
    for bad in [
        "message/ohttp-req",
        "message/ohttp-chunked-req",
        "message/ohttp-res;x=1",
    ] {
        assert!(
            matches!(
                ResponseOpener::for_media_type(client.clone(), bad, 16384),
                Err(Error::MediaType(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn truncated_or_bad_input_in_either_form() {
    for key in keys() {
        for request_form in FORMS {
            let (wire, client) = client_request(&key, request_form, b"body");
            for cut in [0, 6, 7, wire.len() - 1] {
                let mut opener =
                    RequestOpener::new(key.clone(), request_form, DEFAULT_MAX_REQUEST_CHUNK);
                let result = opener
                    .push(&wire[..cut], &mut Vec::new())
                    .and_then(|()| opener.finish().map(|_| ()));
                let expected = match request_form {
                    Form::Plain => matches!(result, Err(Error::Malformed(_) | Error::Decrypt)),
                    Form::Chunked => matches!(result, Err(Error::Truncated | Error::Decrypt)),
                };
                assert!(expected, "{request_form:?} cut {cut}: {result:?}");
                assert!(opener.response_context().is_none() || request_form == Form::Chunked);
            }
            // A wrong key id is judged as soon as the header is complete, in both forms.
            let mut bad = wire.clone();
            bad[0] ^= 1;
            let mut opener =
                RequestOpener::new(key.clone(), request_form, DEFAULT_MAX_REQUEST_CHUNK);
            assert!(matches!(
                opener.push(&bad[..7], &mut Vec::new()),
                Err(Error::KeyIdMismatch(_))
            ));
            assert!(matches!(
                opener.push(&bad[7..], &mut Vec::new()),
                Err(Error::Usage(_))
            ));

            let mut opener =
                RequestOpener::new(key.clone(), request_form, DEFAULT_MAX_REQUEST_CHUNK);
            opener.push(&wire, &mut Vec::new()).unwrap();
            opener.finish().unwrap();
            assert!(
                matches!(opener.finish(), Err(Error::Usage(_))),
                "finish twice"
            );
            let context = opener.response_context().unwrap();

            for response_form in FORMS {
                let mut sealer =
                    ResponseSealer::new(context, response_form, SealerOptions::default(), None)
                        .unwrap();
                let mut wire = Vec::new();
                sealer.push(b"response body", &mut wire).unwrap();
                sealer.finish(&mut wire).unwrap();
                assert!(
                    matches!(sealer.finish(&mut Vec::new()), Err(Error::Usage(_))),
                    "finish twice"
                );
                let wire = wire.concat();
                for cut in [0, 15, 16, wire.len() - 1] {
                    let mut opener = ResponseOpener::new(
                        client.clone(),
                        response_form,
                        DEFAULT_MAX_RESPONSE_CHUNK,
                    );
                    let result = opener
                        .push(&wire[..cut], &mut Vec::new())
                        .and_then(|()| opener.finish().map(|_| ()));
                    assert!(
                        matches!(
                            result,
                            Err(Error::Malformed(_) | Error::Decrypt | Error::Truncated)
                        ),
                        "{response_form:?} cut {cut}: {result:?}"
                    );
                }
                let mut flipped = wire.clone();
                *flipped.last_mut().unwrap() ^= 1;
                let mut opener =
                    ResponseOpener::new(client.clone(), response_form, DEFAULT_MAX_RESPONSE_CHUNK);
                let result = opener
                    .push(&flipped, &mut Vec::new())
                    .and_then(|()| opener.finish().map(|_| ()));
                assert!(
                    matches!(result, Err(Error::Decrypt)),
                    "{response_form:?} flipped: {result:?}"
                );
                assert!(ResponseSealer::new(
                    context,
                    response_form,
                    SealerOptions::default(),
                    Some(&[0; 3])
                )
                .is_err());
            }
        }
    }
}
