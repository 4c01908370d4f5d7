//! Bad input, truncation and stream-splitting properties of the decoder, on generated messages.

use openpcc_bhttp::{
    decode, decode_with, encode, DecodeError, DecoderConfig, EncodeOptions, Event, Field,
    FieldProblem, InformationalResponse, Message, MessageAssembler, Part, Request, Response,
    StreamDecoder,
};

/// A small deterministic generator (xorshift64*), so failures reproduce without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
    fn bytes(&mut self, max: usize, alphabet: &[u8]) -> Vec<u8> {
        (0..self.below(max + 1))
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
    fn fields(&mut self, max: usize) -> Vec<Field> {
        (0..self.below(max + 1))
            .map(|_| {
                let mut name = self.bytes(12, b"abcdefghijklmnopqrstuvwxyz-0123456789");
                name.insert(0, b'x');
                Field::new(name, self.bytes(40, b"abc XYZ\t;=,/\x80\xff"))
            })
            .collect()
    }
    fn message(&mut self) -> Message {
        let content_len = [0, 1, 7, 600, 5000][self.below(5)];
        let content: Vec<u8> = (0..content_len)
            .map(|_| u8::try_from(self.next() & 0xFF).unwrap())
            .collect();
        if self.below(2) == 0 {
            Message::Request(Request {
                method: self.bytes(8, b"GETPOSUA"),
                scheme: self.bytes(6, b"https"),
                authority: self.bytes(20, b"example.com:443"),
                path: self.bytes(30, b"/abc?=&"),
                headers: self.fields(5),
                content,
                trailers: self.fields(2),
            })
        } else {
            Message::Response(Response {
                informational: (0..self.below(3))
                    .map(|_| InformationalResponse {
                        status: 100 + u16::try_from(self.below(100)).unwrap(),
                        fields: self.fields(2),
                    })
                    .collect(),
                status: 200 + u16::try_from(self.below(400)).unwrap(),
                headers: self.fields(5),
                content,
                trailers: self.fields(2),
            })
        }
    }
}

fn stream_decode(data: &[u8], splits: &mut Rng) -> Result<(Message, u64), DecodeError> {
    let mut decoder = StreamDecoder::default();
    let mut assembler = MessageAssembler::default();
    let mut rest = data;
    while !rest.is_empty() {
        let take = 1 + splits.below(rest.len().min(40));
        let (piece, tail) = rest.split_at(take);
        decoder
            .feed(piece)?
            .into_iter()
            .for_each(|e| assembler.push(e));
        rest = tail;
    }
    decoder
        .finish()?
        .into_iter()
        .for_each(|e| assembler.push(e));
    Ok((
        assembler
            .into_message()
            .expect("finish succeeded, so End was produced"),
        decoder.padding_len(),
    ))
}

#[test]
fn generated_messages_round_trip_in_both_modes_whole_and_split() {
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    for i in 0..400 {
        let message = rng.message();
        let indeterminate = i % 2 == 0;
        let pad = [None, Some(532), Some(514), Some(1)][rng.below(4)];
        let options = EncodeOptions {
            indeterminate,
            pad_to_multiple_of: pad,
            max_encoded_chunk_len: [4096, 532, 514, 9][rng.below(4)],
        };
        let bytes = encode(&message, &options).unwrap();
        if let Some(m) = pad {
            assert_eq!(bytes.len() % m, 0);
        }
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.message, message);
        let (streamed, padding) = stream_decode(&bytes, &mut rng).unwrap();
        assert_eq!(streamed, message);
        assert_eq!(padding, decoded.padding_len);
    }
}

/// Every prefix of a message either fails as truncated or is one of the truncations RFC 9292
/// allows: re-encoding what it decodes to gives the prefix followed only by the zero bytes of the
/// empty sections that were cut (so nothing but empty sections can have been dropped).
#[test]
fn truncation_at_every_offset() {
    let mut rng = Rng(42);
    for i in 0..60 {
        let message = rng.message();
        let options = EncodeOptions::new(i % 2 == 0, None);
        let bytes = encode(&message, &options).unwrap();
        let mut accepted = 0;
        for cut in 0..bytes.len() {
            match decode(&bytes[..cut]) {
                Ok(d) => {
                    accepted += 1;
                    let again = encode(&d.message, &options).unwrap();
                    assert_eq!(&again[..cut], &bytes[..cut], "cut {cut}");
                    assert!(
                        again[cut..].iter().all(|&b| b == 0) && again.len() - cut <= 3,
                        "cut {cut}"
                    );
                }
                Err(e) => assert!(matches!(e, DecodeError::Truncated(_)), "cut {cut}: {e}"),
            }
        }
        assert!(accepted <= 3);
    }
}

#[test]
fn indeterminate_content_cut_before_its_terminator_is_truncated() {
    let req = Message::Request(Request {
        method: b"GET".to_vec(),
        content: b"abc".to_vec(),
        ..Request::default()
    });
    let bytes = encode(&req, &EncodeOptions::new(true, None)).unwrap();
    // ... 03 'abc' 00 (content terminator) 00 (trailer terminator)
    assert_eq!(
        decode(&bytes[..bytes.len() - 2]),
        Err(DecodeError::Truncated(Part::Content))
    );
    assert_eq!(decode(&bytes[..bytes.len() - 1]).unwrap().message, req);
}

#[test]
fn framing_indicator_flips() {
    let bytes = hex::decode("0140c8000000").unwrap();
    for first in 4..=0x3F_u8 {
        assert_eq!(
            decode(&[&[first][..], &bytes[1..]].concat()),
            Err(DecodeError::UnknownFramingIndicator)
        );
    }
    // A two-byte varint 0x4001 is a non-shortest 1: accepted.
    assert!(decode(&hex::decode("400140c8000000").unwrap()).is_ok());
    assert_eq!(
        decode(&hex::decode("4005").unwrap()),
        Err(DecodeError::UnknownFramingIndicator)
    );
    assert_eq!(
        decode(&[]),
        Err(DecodeError::Truncated(Part::FramingIndicator))
    );
}

#[test]
fn limits_and_long_varints() {
    // Known-length header section whose length is over the limit, announced with an 8-byte varint.
    let huge = hex::decode("0140c8c0000000ffffffff").unwrap();
    assert!(matches!(
        decode(&huge),
        Err(DecodeError::SectionTooLarge {
            part: Part::Headers,
            limit: 16384
        })
    ));
    // A method length of 2^62-1.
    let method = hex::decode("00ffffffffffffffff").unwrap();
    assert_eq!(
        decode(&method),
        Err(DecodeError::ControlDataTooLong {
            part: Part::Method,
            limit: 64
        })
    );
    // Content length far beyond the input: truncated, not an allocation.
    let content = hex::decode("0140c800ffffffffffffffff").unwrap();
    assert_eq!(decode(&content), Err(DecodeError::Truncated(Part::Content)));
    // Indeterminate header section growing past the limit, one line at a time.
    let mut big = hex::decode("0340c8").unwrap();
    for _ in 0..200 {
        big.extend_from_slice(&[1, b'a', 0x40, 100]);
        big.extend_from_slice(&[b'v'; 100]);
    }
    assert!(matches!(
        decode(&big),
        Err(DecodeError::SectionTooLarge {
            part: Part::Headers,
            ..
        })
    ));
    let config = DecoderConfig {
        max_section_len: 1 << 20,
        ..DecoderConfig::default()
    };
    assert_eq!(
        decode_with(&big, &config),
        Err(DecodeError::Truncated(Part::Headers))
    );
}

#[test]
fn padding_must_be_zero() {
    let mut bytes = hex::decode("0140c8000000").unwrap();
    bytes.extend_from_slice(&[0, 0, 1]);
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::NonZeroPadding { offset: 8 })
    );
    bytes.pop();
    assert_eq!(decode(&bytes).unwrap().padding_len, 2);
}

#[test]
fn field_rules_on_decode() {
    let bad = |section: &str| hex::decode(format!("0140c8{section}0000")).unwrap();
    let problem = |data: &[u8]| match decode(data) {
        Err(DecodeError::InvalidField { problem, .. }) => problem,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        problem(&bad("07053a7061746800")),
        FieldProblem::ReservedPseudoField
    ); // ":path"
    assert_eq!(
        problem(&bad("0e016100093a70726f746f636f6c00")),
        FieldProblem::PseudoFieldAfterRegular
    );
    assert_eq!(problem(&bad("03000161")), FieldProblem::EmptyName);
    assert_eq!(problem(&bad("040161010d")), FieldProblem::InvalidValue); // CR
    assert_eq!(problem(&bad("050361206200")), FieldProblem::InvalidName); // "a b"
                                                                          // Upper case is a valid token on the wire (Go canonicalises it); it is kept as sent.
    assert!(decode(&bad("03014100")).is_ok());
}

#[test]
fn section_overrun_and_stream_misuse() {
    // Known-length header section of 2 bytes holding a line that needs 3.
    assert_eq!(
        decode(&hex::decode("0140c80201610100").unwrap()),
        Err(DecodeError::SectionOverrun(Part::Headers))
    );
    let mut d = StreamDecoder::default();
    assert_eq!(d.feed(&[0x01, 0x40]).unwrap(), vec![]);
    assert_eq!(d.finish(), Err(DecodeError::Truncated(Part::Status)));
    assert_eq!(d.feed(&[0xc8]), Err(DecodeError::Finished));
    let mut ok = StreamDecoder::default();
    let events = ok.feed(&hex::decode("0140c8000000").unwrap()).unwrap();
    assert!(matches!(events.last(), Some(Event::End)));
    assert!(ok.is_complete());
}

#[test]
fn huge_limits_and_multiples_fail_cleanly() {
    // Limits at usize::MAX must not overflow offset arithmetic.
    let config = DecoderConfig {
        max_section_len: usize::MAX,
        max_method_len: usize::MAX,
        ..DecoderConfig::default()
    };
    let method = hex::decode("00ffffffffffffffff").unwrap();
    assert_eq!(
        decode_with(&method, &config),
        Err(DecodeError::Truncated(Part::Method))
    );
    let section = hex::decode("0340c8ffffffffffffffff").unwrap();
    assert_eq!(
        decode_with(&section, &config),
        Err(DecodeError::Truncated(Part::Headers))
    );
    // A padding multiple no allocator can satisfy is an error, not an abort.
    let options = EncodeOptions::new(false, Some(usize::MAX));
    assert_eq!(
        encode(&Message::Response(Response::default()), &options),
        Err(openpcc_bhttp::EncodeError::TooLong(Part::Padding))
    );
}
