//! Structured messages built from the input: encoding either succeeds and decodes back to the
//! same message (both framings, any padding and chunk size, whole and byte by byte), or fails
//! with a typed error; normalising twice changes nothing after the first time.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use openpcc_bhttp::normalize::{normalize_request, normalize_response};
use openpcc_bhttp::{
    decode, encode, EncodeOptions, Field, InformationalResponse, Message, MessageAssembler, Request, Response,
    StreamDecoder,
};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok((message, options)) = build(&mut u) else { return };
    if let Ok(bytes) = encode(&message, &options) {
        if let Some(m) = options.pad_to_multiple_of {
            assert_eq!(bytes.len() % m, 0);
        }
        assert_eq!(decode(&bytes).expect("encoded bytes decode").message, message);
        let mut decoder = StreamDecoder::default();
        let mut assembler = MessageAssembler::default();
        for byte in &bytes {
            decoder.feed(std::slice::from_ref(byte)).expect("byte-wise decode").into_iter().for_each(|e| assembler.push(e));
        }
        decoder.finish().expect("complete").into_iter().for_each(|e| assembler.push(e));
        assert_eq!(assembler.into_message(), Some(message.clone()));
    }
    let indeterminate = options.indeterminate;
    match &message {
        Message::Request(r) => {
            if let Ok(once) = normalize_request(r, indeterminate) {
                assert_eq!(normalize_request(&once, indeterminate).as_ref(), Ok(&once));
            }
        }
        Message::Response(r) => {
            if let Ok(once) = normalize_response(r, indeterminate) {
                assert_eq!(normalize_response(&once, indeterminate).as_ref(), Ok(&once));
            }
        }
    }
});

fn build(u: &mut Unstructured<'_>) -> Result<(Message, EncodeOptions)> {
    let options = EncodeOptions {
        indeterminate: u.arbitrary()?,
        pad_to_multiple_of: if u.arbitrary()? { Some(u.int_in_range(0..=2048)?) } else { None },
        max_encoded_chunk_len: u.int_in_range(0..=5000)?,
    };
    let message = if u.arbitrary()? {
        Message::Request(Request {
            method: bytes(u, 16)?,
            scheme: bytes(u, 8)?,
            authority: bytes(u, 32)?,
            path: bytes(u, 64)?,
            headers: fields(u)?,
            content: bytes(u, 6000)?,
            trailers: fields(u)?,
        })
    } else {
        let mut informational = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            informational.push(InformationalResponse { status: u.int_in_range(90..=210)?, fields: fields(u)? });
        }
        Message::Response(Response {
            informational,
            status: u.int_in_range(90..=610)?,
            headers: fields(u)?,
            content: bytes(u, 6000)?,
            trailers: fields(u)?,
        })
    };
    Ok((message, options))
}

fn bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<u8>> {
    let len = u.int_in_range(0..=max)?;
    Ok(u.bytes(len.min(u.len()))?.to_vec())
}

/// Field names mostly from a small vocabulary (so normalisation rules fire), sometimes raw.
fn fields(u: &mut Unstructured<'_>) -> Result<Vec<Field>> {
    const NAMES: [&[u8]; 10] = [
        b"Host", b"content-length", b"Transfer-Encoding", b"trailer", b"X-Refund", b"content-type", b"a", b"A",
        b":protocol", b"x-b",
    ];
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let name = if u.ratio(3, 4)? { NAMES[u.choose_index(NAMES.len())?].to_vec() } else { bytes(u, 12)? };
        out.push(Field { name, value: bytes(u, 24)? });
    }
    Ok(out)
}
