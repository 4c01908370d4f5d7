//! The decoder: a push-driven state machine ([`StreamDecoder`]) that turns bytes into events as
//! they arrive, and the one-shot [`decode`] built on it.
//!
//! Everything here reads attacker-controlled bytes. Lengths are checked against limits as soon as
//! they are read, so the decoder never buffers more than one field line (at most the header limit)
//! or one control data field, and content is passed on as it arrives, never accumulated.

use crate::error::{DecodeError, Part};
use crate::message::{
    Field, Framing, InformationalResponse, Message, Request, Response, SectionChecker,
};
use crate::varint;

/// The reference's default limit on a field section (`defaultMaxHeaderBytes`, 16 KiB).
pub const DEFAULT_MAX_SECTION_LEN: usize = 16 * 1024;

/// Request or response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Framing indicators 0 and 2.
    Request,
    /// Framing indicators 1 and 3.
    Response,
}

/// Limits and expectations of a decoder. The control data limits are the reference's
/// (`decodeRequestControlData`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Largest field section (header, trailer or informational), in bytes of field lines.
    pub max_section_len: usize,
    /// Largest method.
    pub max_method_len: usize,
    /// Largest scheme.
    pub max_scheme_len: usize,
    /// Largest authority.
    pub max_authority_len: usize,
    /// Largest path.
    pub max_path_len: usize,
    /// Reject the other kind of message right after the framing indicator.
    pub expect: Option<Kind>,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            max_section_len: DEFAULT_MAX_SECTION_LEN,
            max_method_len: 64,
            max_scheme_len: 64,
            max_authority_len: 256,
            max_path_len: 4096,
            expect: None,
        }
    }
}

/// Control data and header fields: everything before the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// A request head; content and trailers are left empty.
    Request(Request),
    /// A final response head (informational responses came as their own events); content and
    /// trailers are left empty.
    Response(Response),
}

/// What a [`StreamDecoder`] reports, in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An informational (1xx) response, before the head of a response.
    Informational(InformationalResponse),
    /// Control data and header fields.
    Head(Head),
    /// Content bytes. Boundaries follow the input, not the wire chunks.
    BodyChunk(Vec<u8>),
    /// The trailer fields (possibly none).
    Trailers(Vec<Field>),
    /// The message is complete; only zero padding may follow.
    End,
}

/// A successfully decoded message with what the wire said about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The message.
    pub message: Message,
    /// The framing it used.
    pub framing: Framing,
    /// Number of zero padding bytes after it.
    pub padding_len: u64,
}

/// Decodes a whole message with the default limits. Accepts trailing zero padding and the
/// truncations of RFC 9292 §3.8 (see [`StreamDecoder::finish`]).
pub fn decode(data: &[u8]) -> Result<Decoded, DecodeError> {
    decode_with(data, &DecoderConfig::default())
}

/// Decodes a whole message with the given limits.
pub fn decode_with(data: &[u8], config: &DecoderConfig) -> Result<Decoded, DecodeError> {
    let mut decoder = StreamDecoder::new(*config);
    let mut assembler = MessageAssembler::default();
    for event in decoder.feed(data)?.into_iter().chain(decoder.finish()?) {
        assembler.push(event);
    }
    let framing = decoder
        .framing()
        .ok_or(DecodeError::Truncated(Part::FramingIndicator))?;
    let message = assembler
        .into_message()
        .ok_or(DecodeError::Truncated(Part::FramingIndicator))?;
    Ok(Decoded {
        message,
        framing,
        padding_len: decoder.padding_len(),
    })
}

/// Decodes a request; a response is an error.
pub fn decode_request(data: &[u8], config: &DecoderConfig) -> Result<Request, DecodeError> {
    match decode_with(
        data,
        &DecoderConfig {
            expect: Some(Kind::Request),
            ..*config
        },
    )?
    .message
    {
        Message::Request(r) => Ok(r),
        Message::Response(_) => Err(DecodeError::UnexpectedKind {
            expected: "request",
        }),
    }
}

/// Decodes a response; a request is an error.
pub fn decode_response(data: &[u8], config: &DecoderConfig) -> Result<Response, DecodeError> {
    match decode_with(
        data,
        &DecoderConfig {
            expect: Some(Kind::Response),
            ..*config
        },
    )?
    .message
    {
        Message::Response(r) => Ok(r),
        Message::Request(_) => Err(DecodeError::UnexpectedKind {
            expected: "response",
        }),
    }
}

/// Collects [`Event`]s back into a [`Message`].
#[derive(Debug, Default)]
pub struct MessageAssembler {
    informational: Vec<InformationalResponse>,
    head: Option<Head>,
    content: Vec<u8>,
    trailers: Vec<Field>,
    ended: bool,
}

impl MessageAssembler {
    /// Takes the next event.
    pub fn push(&mut self, event: Event) {
        match event {
            Event::Informational(info) => self.informational.push(info),
            Event::Head(head) => self.head = Some(head),
            Event::BodyChunk(chunk) if self.content.is_empty() => self.content = chunk,
            Event::BodyChunk(chunk) => self.content.extend_from_slice(&chunk),
            Event::Trailers(fields) => self.trailers = fields,
            Event::End => self.ended = true,
        }
    }

    /// The message, once [`Event::End`] was seen.
    #[must_use]
    pub fn into_message(self) -> Option<Message> {
        if !self.ended {
            return None;
        }
        Some(match self.head? {
            Head::Request(r) => Message::Request(Request {
                content: self.content,
                trailers: self.trailers,
                ..r
            }),
            Head::Response(r) => Message::Response(Response {
                informational: self.informational,
                content: self.content,
                trailers: self.trailers,
                ..r
            }),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Informational(u16),
    Headers,
    Trailers,
}

impl Section {
    fn part(self) -> Part {
        match self {
            Self::Informational(_) => Part::InformationalFields,
            Self::Headers => Part::Headers,
            Self::Trailers => Part::Trailers,
        }
    }
}

enum State {
    FramingIndicator,
    Control,
    Status,
    SectionLength(Section),
    Section {
        section: Section,
        remaining: Option<usize>,
        used: usize,
        fields: Vec<Field>,
        checker: SectionChecker,
    },
    ContentLength,
    KnownContent {
        remaining: u64,
    },
    ChunkLength {
        chunks: u64,
    },
    ChunkData {
        remaining: u64,
        chunks: u64,
    },
    Padding,
    Finished,
    Failed,
}

const CONTROL_PARTS: [Part; 4] = [Part::Method, Part::Scheme, Part::Authority, Part::Path];

/// An incremental decoder: [`feed`](Self::feed) bytes as they arrive (any split, down to one byte
/// at a time), then call [`finish`](Self::finish) at end of input.
///
/// Bytes that do not yet complete a varint, control data field or field line are kept until more
/// arrive; nothing is lost. After an error or `finish`, every call fails with
/// [`DecodeError::Finished`] (the first error is the one to report).
pub struct StreamDecoder {
    config: DecoderConfig,
    state: State,
    pending: Vec<u8>,
    offset: u64,
    kind: Option<Kind>,
    framing: Option<Framing>,
    control: Vec<Vec<u8>>,
    status: u16,
    padding_len: u64,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new(DecoderConfig::default())
    }
}

impl std::fmt::Debug for StreamDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDecoder")
            .field("offset", &self.offset)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl StreamDecoder {
    /// A decoder with the given limits.
    #[must_use]
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            config,
            state: State::FramingIndicator,
            pending: Vec::new(),
            offset: 0,
            kind: None,
            framing: None,
            control: Vec::new(),
            status: 0,
            padding_len: 0,
        }
    }

    /// The framing, once the framing indicator has been read.
    #[must_use]
    pub fn framing(&self) -> Option<Framing> {
        self.framing
    }

    /// Request or response, once the framing indicator has been read.
    #[must_use]
    pub fn kind(&self) -> Option<Kind> {
        self.kind
    }

    /// Zero padding bytes seen after the end of the message so far.
    #[must_use]
    pub fn padding_len(&self) -> u64 {
        self.padding_len
    }

    /// `true` once [`Event::End`] has been produced.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Padding)
            || (matches!(self.state, State::Finished) && self.framing.is_some())
    }

    /// Takes the next bytes; returns the events they complete.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Event>, DecodeError> {
        if matches!(self.state, State::Finished | State::Failed) {
            return Err(DecodeError::Finished);
        }
        let mut events = Vec::new();
        let result = if self.pending.is_empty() {
            self.run(data, &mut events).map(|used| {
                self.pending
                    .extend_from_slice(data.get(used..).unwrap_or_default());
            })
        } else {
            let mut input = std::mem::take(&mut self.pending);
            input.extend_from_slice(data);
            self.run(&input, &mut events).map(|used| {
                input.drain(..used.min(input.len()));
                self.pending = input;
            })
        };
        match result {
            Ok(()) => Ok(events),
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// Ends the input. A message may end early where RFC 9292 §3.8 allows it: right after the
    /// control data, the header section or the content, each missing section being empty (an
    /// indeterminate-length section that has no line yet counts as missing). Anywhere else is
    /// [`DecodeError::Truncated`].
    ///
    /// The reference (which appends two virtual zero bytes) also accepts an indeterminate-length
    /// message cut after a content chunk, before the content terminator; that hides truncated
    /// content, so it is rejected here. The Go encoder always writes the terminator.
    pub fn finish(&mut self) -> Result<Vec<Event>, DecodeError> {
        if matches!(self.state, State::Finished | State::Failed) {
            return Err(DecodeError::Finished);
        }
        let mut events = Vec::new();
        let result = self.finish_into(&mut events);
        self.state = if result.is_ok() {
            State::Finished
        } else {
            State::Failed
        };
        result.map(|()| events)
    }

    fn finish_into(&mut self, events: &mut Vec<Event>) -> Result<(), DecodeError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        if !self.pending.is_empty() {
            return Err(DecodeError::Truncated(self.current_part(&state)));
        }
        match state {
            State::Padding => return Ok(()),
            State::SectionLength(Section::Headers) => events.push(self.head(Vec::new())),
            State::Section {
                section: Section::Headers,
                remaining: None,
                fields,
                ..
            } if fields.is_empty() => {
                events.push(self.head(Vec::new()));
            }
            State::ContentLength
            | State::ChunkLength { chunks: 0 }
            | State::SectionLength(Section::Trailers) => {}
            State::Section {
                section: Section::Trailers,
                remaining: None,
                fields,
                ..
            } if fields.is_empty() => {}
            other => return Err(DecodeError::Truncated(self.current_part(&other))),
        }
        events.push(Event::Trailers(Vec::new()));
        events.push(Event::End);
        Ok(())
    }

    fn current_part(&self, state: &State) -> Part {
        match state {
            State::FramingIndicator | State::Finished | State::Failed => Part::FramingIndicator,
            State::Control => *CONTROL_PARTS.get(self.control.len()).unwrap_or(&Part::Path),
            State::Status => Part::Status,
            State::SectionLength(s) | State::Section { section: s, .. } => s.part(),
            State::ContentLength
            | State::KnownContent { .. }
            | State::ChunkLength { .. }
            | State::ChunkData { .. } => Part::Content,
            State::Padding => Part::Padding,
        }
    }

    fn run(&mut self, input: &[u8], events: &mut Vec<Event>) -> Result<usize, DecodeError> {
        let mut pos = 0;
        while let Some(used) = self.step(input.get(pos..).unwrap_or_default(), events)? {
            pos += used;
            self.offset += used as u64;
        }
        Ok(pos)
    }

    /// One step: `Some(bytes used)` after progress (every `Some(0)` changes state), `None` when
    /// more input is needed.
    fn step(
        &mut self,
        input: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Option<usize>, DecodeError> {
        match &mut self.state {
            State::FramingIndicator => self.framing_indicator(input),
            State::Control => self.control_field(input),
            State::Status => self.status_code(input),
            State::SectionLength(section) => {
                let section = *section;
                let Some((len, used)) = varint::read(input) else {
                    return Ok(None);
                };
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= self.config.max_section_len)
                    .ok_or(DecodeError::SectionTooLarge {
                        part: section.part(),
                        limit: self.config.max_section_len,
                    })?;
                self.state = section_state(section, Some(len));
                Ok(Some(used))
            }
            State::Section { .. } => self.field_line(input, events),
            State::ContentLength => {
                let Some((len, used)) = varint::read(input) else {
                    return Ok(None);
                };
                self.state = if len == 0 {
                    self.trailer_state()
                } else {
                    State::KnownContent { remaining: len }
                };
                Ok(Some(used))
            }
            State::KnownContent { remaining } | State::ChunkData { remaining, .. } => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                let Some(bytes) = input.get(..take).filter(|b| !b.is_empty()) else {
                    return Ok(None);
                };
                events.push(Event::BodyChunk(bytes.to_vec()));
                *remaining -= take as u64;
                if *remaining == 0 {
                    self.state = match self.state {
                        State::ChunkData { chunks, .. } => State::ChunkLength { chunks },
                        _ => self.trailer_state(),
                    };
                }
                Ok(Some(take))
            }
            State::ChunkLength { chunks } => {
                let chunks = *chunks + 1;
                let Some((len, used)) = varint::read(input) else {
                    return Ok(None);
                };
                self.state = if len == 0 {
                    self.trailer_state()
                } else {
                    State::ChunkData {
                        remaining: len,
                        chunks,
                    }
                };
                Ok(Some(used))
            }
            State::Padding => {
                if input.is_empty() {
                    return Ok(None);
                }
                if let Some(at) = input.iter().position(|&b| b != 0) {
                    return Err(DecodeError::NonZeroPadding {
                        offset: self.offset + at as u64,
                    });
                }
                self.padding_len += input.len() as u64;
                Ok(Some(input.len()))
            }
            State::Finished | State::Failed => Err(DecodeError::Finished),
        }
    }

    fn framing_indicator(&mut self, input: &[u8]) -> Result<Option<usize>, DecodeError> {
        let Some((value, used)) = varint::read(input) else {
            return Ok(None);
        };
        let (kind, framing) = match value {
            0 => (Kind::Request, Framing::KnownLength),
            1 => (Kind::Response, Framing::KnownLength),
            2 => (Kind::Request, Framing::Indeterminate),
            3 => (Kind::Response, Framing::Indeterminate),
            _ => return Err(DecodeError::UnknownFramingIndicator),
        };
        match self.config.expect {
            Some(Kind::Request) if kind == Kind::Response => {
                return Err(DecodeError::UnexpectedKind {
                    expected: "request",
                })
            }
            Some(Kind::Response) if kind == Kind::Request => {
                return Err(DecodeError::UnexpectedKind {
                    expected: "response",
                })
            }
            _ => {}
        }
        self.kind = Some(kind);
        self.framing = Some(framing);
        self.state = if kind == Kind::Request {
            State::Control
        } else {
            State::Status
        };
        Ok(Some(used))
    }

    fn control_field(&mut self, input: &[u8]) -> Result<Option<usize>, DecodeError> {
        let part = *CONTROL_PARTS.get(self.control.len()).unwrap_or(&Part::Path);
        let limit = match part {
            Part::Method => self.config.max_method_len,
            Part::Scheme => self.config.max_scheme_len,
            Part::Authority => self.config.max_authority_len,
            _ => self.config.max_path_len,
        };
        let Some((len, prefix)) = varint::read(input) else {
            return Ok(None);
        };
        let end = bounded_end(0, prefix, len, prefix.saturating_add(limit))
            .ok_or(DecodeError::ControlDataTooLong { part, limit })?;
        let Some(bytes) = input.get(prefix..end) else {
            return Ok(None);
        };
        self.control.push(bytes.to_vec());
        if self.control.len() == CONTROL_PARTS.len() {
            self.state = self.section_start(Section::Headers);
        }
        Ok(Some(end))
    }

    fn status_code(&mut self, input: &[u8]) -> Result<Option<usize>, DecodeError> {
        let Some((value, used)) = varint::read(input) else {
            return Ok(None);
        };
        let status = u16::try_from(value).map_err(|_| DecodeError::InvalidStatus)?;
        self.state = match status {
            100..=199 => self.section_start(Section::Informational(status)),
            200..=599 => {
                self.status = status;
                self.section_start(Section::Headers)
            }
            _ => return Err(DecodeError::InvalidStatus),
        };
        Ok(Some(used))
    }

    /// Reads one field line, or the end of the section. A line is taken whole or not at all, and
    /// its lengths are checked against the section budget before its bytes are waited for.
    fn field_line(
        &mut self,
        input: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Option<usize>, DecodeError> {
        let max_section_len = self.config.max_section_len;
        let State::Section {
            section,
            remaining,
            used,
            fields,
            checker,
        } = &mut self.state
        else {
            return Ok(None);
        };
        let section = *section;
        let part = section.part();
        match remaining {
            Some(0) => return self.end_section(0, events),
            None => match varint::read(input) {
                None => return Ok(None),
                Some((0, terminator)) => return self.end_section(terminator, events),
                Some(_) => {}
            },
            Some(_) => {}
        }
        // The budget left for this line: the rest of a known-length section (overrun is an error
        // of its own), or what the limit leaves of an indeterminate one.
        let (budget, over) = match remaining {
            Some(r) => (*r, DecodeError::SectionOverrun(part)),
            None => (
                max_section_len.saturating_sub(*used),
                DecodeError::SectionTooLarge {
                    part,
                    limit: max_section_len,
                },
            ),
        };
        let Some((name_len, name_prefix)) = varint::read(input) else {
            return Ok(None);
        };
        let name_end = bounded_end(0, name_prefix, name_len, budget).ok_or_else(|| over.clone())?;
        let Some(rest) = input.get(name_end..) else {
            return Ok(None);
        };
        let Some((value_len, value_prefix)) = varint::read(rest) else {
            return Ok(None);
        };
        let line_end = bounded_end(name_end, value_prefix, value_len, budget).ok_or(over)?;
        let (Some(name), Some(value)) = (
            input.get(name_prefix..name_end),
            input.get(name_end + value_prefix..line_end),
        ) else {
            return Ok(None);
        };
        checker
            .check(part, name, value)
            .map_err(|problem| DecodeError::InvalidField { part, problem })?;
        fields.push(Field {
            name: name.to_vec(),
            value: value.to_vec(),
        });
        match remaining {
            Some(r) => *r -= line_end,
            None => *used += line_end,
        }
        Ok(Some(line_end))
    }

    fn end_section(
        &mut self,
        used: usize,
        events: &mut Vec<Event>,
    ) -> Result<Option<usize>, DecodeError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::Section {
            section, fields, ..
        } = state
        else {
            return Err(DecodeError::Finished);
        };
        self.state = match section {
            Section::Informational(status) => {
                events.push(Event::Informational(InformationalResponse {
                    status,
                    fields,
                }));
                State::Status
            }
            Section::Headers => {
                events.push(self.head(fields));
                if self.framing == Some(Framing::KnownLength) {
                    State::ContentLength
                } else {
                    State::ChunkLength { chunks: 0 }
                }
            }
            Section::Trailers => {
                events.push(Event::Trailers(fields));
                events.push(Event::End);
                State::Padding
            }
        };
        Ok(Some(used))
    }

    fn head(&mut self, headers: Vec<Field>) -> Event {
        if self.kind == Some(Kind::Response) {
            return Event::Head(Head::Response(Response {
                status: self.status,
                headers,
                ..Response::default()
            }));
        }
        let mut parts = std::mem::take(&mut self.control).into_iter();
        let mut next = || parts.next().unwrap_or_default();
        Event::Head(Head::Request(Request {
            method: next(),
            scheme: next(),
            authority: next(),
            path: next(),
            headers,
            ..Request::default()
        }))
    }

    fn section_start(&self, section: Section) -> State {
        if self.framing == Some(Framing::KnownLength) {
            State::SectionLength(section)
        } else {
            section_state(section, None)
        }
    }

    fn trailer_state(&self) -> State {
        self.section_start(Section::Trailers)
    }
}

fn section_state(section: Section, remaining: Option<usize>) -> State {
    State::Section {
        section,
        remaining,
        used: 0,
        fields: Vec::new(),
        checker: SectionChecker::default(),
    }
}

/// `start + prefix + len` if it stays within `budget`, without overflow.
fn bounded_end(start: usize, prefix: usize, len: u64, budget: usize) -> Option<usize> {
    let end = start
        .checked_add(prefix)?
        .checked_add(usize::try_from(len).ok()?)?;
    (end <= budget).then_some(end)
}
