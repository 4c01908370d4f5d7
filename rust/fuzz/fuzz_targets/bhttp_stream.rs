//! The streaming decoder fed the same bytes in arbitrary pieces must end exactly as the one-shot
//! decoder does: the same message and padding, or the same error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openpcc_bhttp::{decode, DecodeError, Message, MessageAssembler, StreamDecoder};

fuzz_target!(|input: &[u8]| {
    // The first 8 bytes seed the split points, the rest is the message.
    let (seed, data) = input.split_at(input.len().min(8));
    let mut state = seed.iter().fold(0x9E37_79B9_7F4A_7C15_u64, |s, &b| (s ^ u64::from(b)).wrapping_mul(0x100_0000_01B3));
    let mut pieces = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Mostly short pieces (down to single bytes), sometimes long ones.
        let max = if state & 7 == 0 { rest.len() } else { 1 + (state >> 8) as usize % 16 };
        let take = 1 + (state >> 32) as usize % max.min(rest.len());
        let (piece, tail) = rest.split_at(take);
        pieces.push(piece);
        rest = tail;
    }
    let streamed = stream(&pieces);
    let whole = decode(data).map(|d| (d.message, d.padding_len));
    assert_eq!(streamed, whole);
});

fn stream(pieces: &[&[u8]]) -> Result<(Message, u64), DecodeError> {
    let mut decoder = StreamDecoder::default();
    let mut assembler = MessageAssembler::default();
    for piece in pieces {
        for event in decoder.feed(piece)? {
            assembler.push(event);
        }
    }
    for event in decoder.finish()? {
        assembler.push(event);
    }
    let message = assembler.into_message().expect("finish succeeded, so the message ended");
    Ok((message, decoder.padding_len()))
}
