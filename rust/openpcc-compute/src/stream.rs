//! Encrypted token streams that hide token lengths from the router (spec §12.2 item 10; design and
//! trade-offs in `docs/token-stream-padding.md`).
//!
//! The wire is the reference's chunked compute response: `response_nonce || chunk* || final`, and the
//! plaintext the chunks carry is one indeterminate-length BHTTP response (framing 3). Under
//! [`Padding::Fixed`] every non-final chunk carries exactly `frame` plaintext bytes, so every chunk on the
//! router's link has the same size. Filler inside the body is a BHTTP content chunk whose length prefix is
//! deliberately *not* in shortest form: the reference decoder (quicvarint) reads it as ordinary content,
//! our opener recognises and drops it. The end of the message is padded with BHTTP's own zero padding.

use std::time::Duration;

use openpcc_bhttp::normalize::{canonical_name, trailer_name_allowed};
use openpcc_twoway::varint;

use crate::media::{Framing, MAX_CHUNK_PLAINTEXT};
use crate::response::{ResponseOpener, ResponseSealer};
use crate::Error;

/// Byte used inside filler content chunks: insignificant whitespace for the JSON/NDJSON bodies of LLM
/// APIs, so a reference client that does not strip filler still parses most streams.
pub const FILLER_BYTE: u8 = b' ';
/// Default plaintext bytes per chunk under [`Padding::Fixed`] (a 530-byte chunk on the wire).
pub const DEFAULT_FRAME: usize = 512;
/// Default bound on how long a token waits before its chunk is sent.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_millis(20);
/// Smallest frame accepted: room for a filler chunk and some data.
pub const MIN_FRAME: usize = 16;
/// The reference's (and our) default limit on a BHTTP header or trailer section.
pub const MAX_FIELD_SECTION: usize = 16 * 1024;

/// How token pieces are cut into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Fixed-size chunks of `frame` plaintext bytes, filled with whatever is ready and flushed (padded)
    /// at most `max_delay` after the oldest unsent byte arrived.
    Fixed {
        /// Plaintext bytes per chunk (16..=514).
        frame: usize,
        /// Longest a byte waits for its chunk.
        max_delay: Duration,
    },
    /// One chunk per token piece, as the reference does (leaks every piece's length to the router).
    PerPiece,
}

impl Default for Padding {
    fn default() -> Self {
        Padding::Fixed {
            frame: DEFAULT_FRAME,
            max_delay: DEFAULT_MAX_DELAY,
        }
    }
}

/// Appends the BHTTP field lines of `fields` and the section terminator.
fn encode_fields(fields: &[(Vec<u8>, Vec<u8>)], out: &mut Vec<u8>) {
    for (name, value) in fields {
        varint::encode(name.len() as u64, out);
        out.extend_from_slice(name);
        varint::encode(value.len() as u64, out);
        out.extend_from_slice(value);
    }
    out.push(0);
}

fn validate_fields(fields: &[(Vec<u8>, Vec<u8>)]) -> Result<(), Error> {
    let mut size = 0usize;
    for (name, value) in fields {
        if name.is_empty()
            || name
                .iter()
                .any(|b| !b.is_ascii_graphic() || b.is_ascii_uppercase())
        {
            return Err(Error::InvalidArgument(
                "field name must be lower-case visible ascii",
            ));
        }
        if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::InvalidArgument(
                "field value must not contain CR, LF or NUL",
            ));
        }
        size += name.len() + value.len() + 4;
    }
    if size > MAX_FIELD_SECTION {
        return Err(Error::Limit("field section size"));
    }
    Ok(())
}

/// Node side: turns token pieces into wire chunks of a chunked compute response.
#[derive(Debug)]
pub struct TokenStreamSealer {
    sealer: Option<ResponseSealer>,
    response_nonce: [u8; 16],
    padding: Padding,
    pending: Vec<u8>,
    deadline: Option<Duration>,
    emitted_plaintext: usize,
    announced_trailers: Vec<Vec<u8>>,
}

/// The field names the `trailer` header fields of `headers` announce (lower-cased, sorted, unique).
fn announced_trailers(headers: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<Vec<u8>>, Error> {
    let mut names: Vec<Vec<u8>> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(b"trailer"))
        .flat_map(|(_, value)| value.split(|&b| b == b','))
        .map(|name| name.trim_ascii().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    if names.iter().any(|n| !trailer_name_allowed(n)) {
        return Err(Error::InvalidArgument(
            "trailer header names a field that cannot be a trailer",
        ));
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// `headers` with their `trailer` fields replaced by one, as the reference encoder writes it: the announced
/// names in Go's canonical form, sorted, joined by `,` (Go keys its trailer map by that exact text).
fn head_fields(headers: &[(Vec<u8>, Vec<u8>)], announced: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case(b"trailer"))
        .cloned()
        .collect();
    if !announced.is_empty() {
        let canonical: Vec<Vec<u8>> = announced.iter().map(|n| canonical_name(n)).collect();
        out.push((b"trailer".to_vec(), canonical.join(&b","[..])));
    }
    out
}

/// Every trailer must be announced in the head, because the reference's BHTTP decoder keeps only trailers
/// when a `Trailer` field announces some; the refund never goes inside (it is the outer `X-Refund-Amount`).
fn check_trailers(trailers: &[(Vec<u8>, Vec<u8>)], announced: &[Vec<u8>]) -> Result<(), Error> {
    for (name, _) in trailers {
        if name.eq_ignore_ascii_case(crate::refund::REFUND_AMOUNT_TRAILER.as_bytes()) {
            return Err(Error::InvalidArgument(
                "the refund goes on the outer response (refund::refund_amount_trailer), not inside",
            ));
        }
        if !announced.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            return Err(Error::InvalidArgument(
                "trailer field not announced in a trailer header field",
            ));
        }
    }
    Ok(())
}

impl TokenStreamSealer {
    /// Starts a stream answering `status` with `headers` (lower-case names). The head is sent with the first
    /// flush; `now` is a monotonic clock reading. Trailers given to [`TokenStreamSealer::finish`] must be
    /// announced here, in a `trailer` header field (`trailer: x-a, x-b`); the head carries them as the
    /// reference does (one `trailer` field, canonical names, sorted: `X-A,X-B`).
    pub fn new(
        sealer: ResponseSealer,
        status: u16,
        headers: &[(Vec<u8>, Vec<u8>)],
        padding: Padding,
        now: Duration,
    ) -> Result<Self, Error> {
        if sealer.media_type() != Framing::Chunked.response_media_type() {
            return Err(Error::InvalidArgument(
                "token streams need a chunked response sealer",
            ));
        }
        if !(200..=599).contains(&status) {
            return Err(Error::InvalidArgument(
                "status must be a final status (200..=599)",
            ));
        }
        if let Padding::Fixed { frame, .. } = padding {
            if !(MIN_FRAME..=MAX_CHUNK_PLAINTEXT).contains(&frame) {
                return Err(Error::InvalidArgument("frame must be 16..=514 bytes"));
            }
        }
        validate_fields(headers)?;
        let announced = announced_trailers(headers)?;
        let mut head = Vec::new();
        varint::encode(3, &mut head); // indeterminate-length response
        varint::encode(u64::from(status), &mut head);
        encode_fields(&head_fields(headers, &announced), &mut head);
        let response_nonce = sealer.response_nonce();
        let mut me = Self {
            sealer: Some(sealer),
            response_nonce,
            padding,
            pending: Vec::new(),
            deadline: None,
            emitted_plaintext: 0,
            announced_trailers: announced,
        };
        me.append(&head, now);
        Ok(me)
    }

    /// The 16-byte response nonce: the first bytes of the body, to send before any chunk.
    #[must_use]
    pub fn response_nonce(&self) -> [u8; 16] {
        self.response_nonce
    }

    /// The head chunk(s) under [`Padding::PerPiece`] (sent at once, as the reference does); nothing under
    /// [`Padding::Fixed`], where the head waits for the first flush.
    pub fn start(&mut self) -> Result<Vec<Vec<u8>>, Error> {
        match self.padding {
            Padding::PerPiece => self.emit_pending_unpadded(),
            Padding::Fixed { .. } => Ok(Vec::new()),
        }
    }

    /// Adds one token piece (body bytes); returns the chunks that are ready now.
    pub fn push(&mut self, piece: &[u8], now: Duration) -> Result<Vec<Vec<u8>>, Error> {
        if self.sealer.is_none() {
            return Err(Error::Finished);
        }
        if piece.is_empty() {
            return Ok(Vec::new());
        }
        let mut encoded = Vec::with_capacity(piece.len() + 8);
        varint::encode(piece.len() as u64, &mut encoded);
        encoded.extend_from_slice(piece);
        self.append(&encoded, now);
        match self.padding {
            Padding::PerPiece => self.emit_pending_unpadded(),
            Padding::Fixed { frame, .. } => self.emit_full_frames(frame),
        }
    }

    /// When the pending bytes must be flushed, if any are pending.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// Flushes (with filler) if the deadline has passed.
    pub fn poll(&mut self, now: Duration) -> Result<Vec<Vec<u8>>, Error> {
        if self.sealer.is_none() {
            return Err(Error::Finished);
        }
        match (self.padding, self.deadline) {
            (Padding::Fixed { frame, .. }, Some(deadline)) if now >= deadline => {
                self.flush_padded(frame)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Ends the body, writes `trailers` (each announced in the head) and the padding, and seals the final
    /// chunk.
    pub fn finish(&mut self, trailers: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<Vec<u8>>, Error> {
        if self.sealer.is_none() {
            return Err(Error::Finished);
        }
        validate_fields(trailers)?;
        check_trailers(trailers, &self.announced_trailers)?;
        let mut tail = vec![0u8]; // end of content
        encode_fields(trailers, &mut tail);
        self.pending.extend_from_slice(&tail);
        let multiple = match self.padding {
            Padding::Fixed { frame, .. } => frame,
            Padding::PerPiece => MAX_CHUNK_PLAINTEXT, // the reference pads the whole message to 514
        };
        let total = self.emitted_plaintext + self.pending.len();
        let pad = (multiple - total % multiple) % multiple;
        self.pending.resize(self.pending.len() + pad, 0); // BHTTP padding: zeros after the message
        let mut out = match self.padding {
            Padding::Fixed { frame, .. } => self.emit_full_frames(frame)?,
            Padding::PerPiece => self.emit_pending_unpadded()?,
        };
        let sealer = self.sealer.take().ok_or(Error::Finished)?;
        out.push(sealer.seal_final(b"")?);
        Ok(out)
    }

    fn append(&mut self, bytes: &[u8], now: Duration) {
        if self.pending.is_empty() {
            if let Padding::Fixed { max_delay, .. } = self.padding {
                self.deadline = Some(now + max_delay);
            }
        }
        self.pending.extend_from_slice(bytes);
    }

    fn seal(&mut self, pt: &[u8]) -> Result<Vec<u8>, Error> {
        let sealer = self.sealer.as_mut().ok_or(Error::Finished)?;
        let chunk = sealer.seal_chunk(pt)?;
        self.emitted_plaintext += pt.len();
        Ok(chunk)
    }

    fn emit_pending_unpadded(&mut self) -> Result<Vec<Vec<u8>>, Error> {
        let pending = std::mem::take(&mut self.pending);
        let out = pending
            .chunks(MAX_CHUNK_PLAINTEXT)
            .map(|c| self.seal(c))
            .collect();
        self.deadline = None;
        out
    }

    fn emit_full_frames(&mut self, frame: usize) -> Result<Vec<Vec<u8>>, Error> {
        let full = self.pending.len() / frame * frame;
        let ready: Vec<u8> = self.pending.drain(..full).collect();
        let out = ready.chunks(frame).map(|c| self.seal(c)).collect();
        if self.pending.is_empty() {
            self.deadline = None;
        }
        out
    }

    /// Pads the pending bytes (which end on a content-chunk boundary) to a whole number of frames with one
    /// filler content chunk, then sends them.
    fn flush_padded(&mut self, frame: usize) -> Result<Vec<Vec<u8>>, Error> {
        let mut room = (frame - self.pending.len() % frame) % frame;
        if room == 1 || room == 2 {
            room += frame; // a filler chunk needs a 2-byte prefix and at least one byte
        }
        if room > 0 {
            append_filler(room, &mut self.pending);
        }
        self.emit_full_frames(frame)
    }
}

/// A filler content chunk of exactly `room` (3..=2 * 514) bytes: a varint prefix deliberately not in
/// shortest form (2 bytes for lengths < 64, 4 bytes for lengths < 16384), then filler bytes.
#[allow(clippy::cast_possible_truncation)] // room <= 2 * 514: each length fits its prefix
fn append_filler(room: usize, out: &mut Vec<u8>) {
    // RFC 9000 §16: the top two bits give the length; 0b01 = 2 bytes, 0b10 = 4 bytes.
    if room - 2 <= 63 {
        let data_len = room - 2;
        out.extend_from_slice(&[0x40, data_len as u8]);
        out.resize(out.len() + data_len, FILLER_BYTE);
    } else {
        let data_len = room - 4;
        out.extend_from_slice(&(0x8000_0000u32 | data_len as u32).to_be_bytes());
        out.resize(out.len() + data_len, FILLER_BYTE);
    }
}

/// A varint at the start of `input`: `(value, length, shortest form?)`, `None` when incomplete.
fn decode_varint(input: &[u8]) -> Result<Option<(u64, usize, bool)>, Error> {
    Ok(varint::decode(input)?.map(|(value, len)| (value, len, varint::encoded_len(value) == len)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Header,
    Trailer,
}

#[derive(Debug)]
enum ParseState {
    Framing,
    Status,
    Fields(Section, usize),
    Content,
    ContentData { remaining: u64, filler: bool },
    Padding,
}

/// Client side: opens a token stream, yielding body bytes as soon as each chunk authenticates.
#[derive(Debug)]
pub struct TokenStreamOpener {
    opener: Option<ResponseOpener>,
    state: ParseState,
    buf: Vec<u8>,
    status: Option<u16>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
    failed: bool,
}

/// What [`TokenStreamOpener::finish`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    /// Body bytes released by the last chunks.
    pub body: Vec<u8>,
    /// The trailer fields.
    pub trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl TokenStreamOpener {
    /// Wraps a response opener of a chunked response.
    pub fn new(opener: ResponseOpener) -> Result<Self, Error> {
        if opener.media_type() != Framing::Chunked.response_media_type() {
            return Err(Error::UnsupportedMediaType);
        }
        Ok(Self {
            opener: Some(opener),
            state: ParseState::Framing,
            buf: Vec::new(),
            status: None,
            headers: Vec::new(),
            trailers: Vec::new(),
            failed: false,
        })
    }

    /// The status, once the head has arrived.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The header fields (complete once [`TokenStreamOpener::status`] is known and the body started).
    #[must_use]
    pub fn headers(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.headers
    }

    /// Feeds wire bytes; returns the body bytes (filler removed) of every chunk they complete.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        if self.failed {
            return Err(Error::Finished);
        }
        let opener = self.opener.as_mut().ok_or(Error::Finished)?;
        let result = opener.push(data).and_then(|chunks| {
            let mut body = Vec::new();
            for chunk in chunks {
                self.parse(&chunk, &mut body)?;
            }
            Ok(body)
        });
        self.failed = result.is_err();
        result
    }

    /// End of stream: opens the final chunk and checks the message is complete.
    pub fn finish(mut self) -> Result<StreamEnd, Error> {
        if self.failed {
            return Err(Error::Finished);
        }
        let last = self.opener.take().ok_or(Error::Finished)?.finish()?;
        let mut body = Vec::new();
        self.parse(&last, &mut body)?;
        // The reference decoder reads two virtual zero bytes at the end, so a message that stops right after
        // its content or trailer section still decodes; do the same.
        if matches!(
            self.state,
            ParseState::Content | ParseState::Fields(Section::Trailer, _)
        ) && self.buf.is_empty()
        {
            self.parse(&[0, 0], &mut body)?;
        }
        match self.state {
            ParseState::Padding => Ok(StreamEnd {
                body,
                trailers: self.trailers,
            }),
            _ => Err(Error::Truncated),
        }
    }

    fn parse(&mut self, data: &[u8], body: &mut Vec<u8>) -> Result<(), Error> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(data);
        let mut pos = 0;
        loop {
            let input = buf.get(pos..).unwrap_or_default();
            let step = match &mut self.state {
                ParseState::ContentData { remaining, filler } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    if take == 0 {
                        None
                    } else {
                        if !*filler {
                            body.extend_from_slice(input.get(..take).unwrap_or_default());
                        }
                        *remaining -= take as u64;
                        if *remaining == 0 {
                            self.state = ParseState::Content;
                        }
                        Some(take)
                    }
                }
                ParseState::Padding => {
                    if input.iter().any(|&b| b != 0) {
                        return Err(Error::Malformed("bhttp padding"));
                    }
                    pos = buf.len();
                    None
                }
                _ => self.parse_structural(input)?,
            };
            match step {
                Some(n) => pos += n,
                None => break,
            }
        }
        buf.drain(..pos.min(buf.len()));
        self.buf = buf;
        Ok(())
    }

    /// Parses one structural element at the start of `input`; `None` when more bytes are needed.
    fn parse_structural(&mut self, input: &[u8]) -> Result<Option<usize>, Error> {
        let Some((value, len, minimal)) = decode_varint(input)? else {
            return Ok(None);
        };
        match self.state {
            ParseState::Framing => {
                if value != 3 {
                    return Err(Error::Malformed(
                        "bhttp framing: token streams are indeterminate-length responses",
                    ));
                }
                self.state = ParseState::Status;
                Ok(Some(len))
            }
            ParseState::Status => {
                let status = u16::try_from(value).map_err(|_| Error::Malformed("bhttp status"))?;
                match status {
                    100..=199 => self.state = ParseState::Fields(Section::Header, 0), // informational: fields follow
                    200..=599 => {
                        self.status = Some(status);
                        self.state = ParseState::Fields(Section::Header, 0);
                    }
                    _ => return Err(Error::Malformed("bhttp status")),
                }
                Ok(Some(len))
            }
            ParseState::Fields(section, size) => {
                if value == 0 {
                    self.state = match (section, self.status) {
                        (Section::Header, None) => ParseState::Status, // after an informational response
                        (Section::Header, Some(_)) => ParseState::Content,
                        (Section::Trailer, _) => ParseState::Padding,
                    };
                    return Ok(Some(len));
                }
                let Some((name, value, used)) = parse_field_line(input)? else {
                    return Ok(None);
                };
                let size = size + used;
                if size > MAX_FIELD_SECTION {
                    return Err(Error::Limit("field section size"));
                }
                match (section, self.status) {
                    (Section::Header, Some(_)) => self.headers.push((name, value)),
                    (Section::Trailer, _) => self.trailers.push((name, value)),
                    (Section::Header, None) => {} // informational fields are dropped
                }
                self.state = ParseState::Fields(section, size);
                Ok(Some(used))
            }
            ParseState::Content => {
                self.state = if value == 0 {
                    ParseState::Fields(Section::Trailer, 0)
                } else {
                    // Our filler is the only content chunk with a non-shortest length prefix.
                    ParseState::ContentData {
                        remaining: value,
                        filler: !minimal,
                    }
                };
                Ok(Some(len))
            }
            ParseState::ContentData { .. } | ParseState::Padding => Ok(None),
        }
    }
}

/// `varint(len) name varint(len) value`; `None` when incomplete.
type FieldLine = (Vec<u8>, Vec<u8>, usize);

fn parse_field_line(input: &[u8]) -> Result<Option<FieldLine>, Error> {
    let Some((name_len, name_len_len)) = varint::decode(input)? else {
        return Ok(None);
    };
    let name_len_usize =
        usize::try_from(name_len).map_err(|_| Error::Limit("field section size"))?;
    if name_len_usize > MAX_FIELD_SECTION {
        return Err(Error::Limit("field section size"));
    }
    let name_end = name_len_len + name_len_usize;
    let Some(name) = input.get(name_len_len..name_end) else {
        return Ok(None);
    };
    let Some((value_len, value_len_len)) =
        varint::decode(input.get(name_end..).unwrap_or_default())?
    else {
        return Ok(None);
    };
    let value_len_usize =
        usize::try_from(value_len).map_err(|_| Error::Limit("field section size"))?;
    if value_len_usize > MAX_FIELD_SECTION {
        return Err(Error::Limit("field section size"));
    }
    let value_start = name_end + value_len_len;
    let Some(value) = input.get(value_start..value_start + value_len_usize) else {
        return Ok(None);
    };
    Ok(Some((
        name.to_vec(),
        value.to_vec(),
        value_start + value_len_usize,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_has_exact_size_and_a_non_shortest_prefix() {
        for room in 3..=2 * MAX_CHUNK_PLAINTEXT {
            let mut out = Vec::new();
            append_filler(room, &mut out);
            assert_eq!(out.len(), room);
            let (value, len, minimal) = decode_varint(&out).unwrap().unwrap();
            assert!(!minimal, "room {room}");
            assert_eq!(len + usize::try_from(value).unwrap(), room);
            assert!(out[len..].iter().all(|&b| b == FILLER_BYTE));
        }
    }
}
