//! The encoder: a [`Message`] to RFC 9292 bytes, known- or indeterminate-length, with optional
//! zero padding.

use crate::error::{EncodeError, Part};
use crate::message::{check_section, Field, InformationalResponse, Message, Request, Response};
use crate::varint;

/// The reference's default `MaxEncodedChunkLen` (length prefix included).
pub const DEFAULT_MAX_ENCODED_CHUNK_LEN: usize = 4096;

/// How to encode a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Indeterminate-length framing (indicators 2/3) instead of known-length (0/1).
    pub indeterminate: bool,
    /// Append zero bytes until the total length is a multiple of this (the reference's
    /// `PadToMultipleOf`; `OpenPCC` uses 532 for OHTTP and 514 for compute messages).
    pub pad_to_multiple_of: Option<usize>,
    /// Indeterminate mode only: the largest content chunk, length prefix included (the
    /// reference's `MaxEncodedChunkLen`). Values below 8 behave as 8, as in the reference, whose
    /// chunk buffer is never smaller than 8 bytes.
    pub max_encoded_chunk_len: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            indeterminate: false,
            pad_to_multiple_of: None,
            max_encoded_chunk_len: DEFAULT_MAX_ENCODED_CHUNK_LEN,
        }
    }
}

impl EncodeOptions {
    /// Known-length or indeterminate framing, with optional padding and the default chunk size.
    #[must_use]
    pub fn new(indeterminate: bool, pad_to_multiple_of: Option<usize>) -> Self {
        Self {
            indeterminate,
            pad_to_multiple_of,
            ..Self::default()
        }
    }
}

/// Encodes `message`; see [`encode_into`].
pub fn encode(message: &Message, options: &EncodeOptions) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(encoded_size_hint(message));
    encode_into(message, options, &mut out)?;
    Ok(out)
}

/// Encodes a borrowed request (no [`Message`] needed); see [`encode_into`].
pub fn encode_request(request: &Request, options: &EncodeOptions) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(request_size_hint(request));
    encode_parts(MessageRef::Request(request), options, &mut out)?;
    Ok(out)
}

/// Encodes a borrowed response (no [`Message`] needed); see [`encode_into`].
pub fn encode_response(
    response: &Response,
    options: &EncodeOptions,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(response_size_hint(response));
    encode_parts(MessageRef::Response(response), options, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `message` to `out`. Field names and values are checked as the
/// reference does (Go `httpguts`), status codes against their role; nothing is rewritten (see
/// [`crate::normalize`] for the reference's normalisations). On error `out` is left as it was.
pub fn encode_into(
    message: &Message,
    options: &EncodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let message = match message {
        Message::Request(r) => MessageRef::Request(r),
        Message::Response(r) => MessageRef::Response(r),
    };
    encode_parts(message, options, out)
}

#[derive(Clone, Copy)]
enum MessageRef<'a> {
    Request(&'a Request),
    Response(&'a Response),
}

fn encode_parts(
    message: MessageRef<'_>,
    options: &EncodeOptions,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    check_message(message)?;
    let pad = match options.pad_to_multiple_of {
        Some(0) => return Err(EncodeError::ZeroPaddingMultiple),
        other => other,
    };
    let start = out.len();
    let mut w = Writer {
        out,
        indeterminate: options.indeterminate,
        chunk_data_max: chunk_data_max(options),
    };
    let written = match message {
        MessageRef::Request(r) => w.request(r),
        MessageRef::Response(r) => w.response(r),
    };
    if let Err(e) = written {
        out.truncate(start);
        return Err(e);
    }
    if let Some(multiple) = pad {
        let len = out.len() - start;
        let padding = (multiple - len % multiple) % multiple;
        // A caller-chosen multiple can ask for more memory than exists: fail, do not abort.
        if out.try_reserve_exact(padding).is_err() {
            out.truncate(start);
            return Err(EncodeError::TooLong(Part::Padding));
        }
        out.resize(out.len() + padding, 0);
    }
    Ok(())
}

fn fields_size_hint(fields: &[Field]) -> usize {
    fields
        .iter()
        .map(|l| l.name.len() + l.value.len() + 4)
        .sum()
}

fn request_size_hint(r: &Request) -> usize {
    32 + r.method.len()
        + r.scheme.len()
        + r.authority.len()
        + r.path.len()
        + fields_size_hint(&r.headers)
        + fields_size_hint(&r.trailers)
        + r.content.len()
        + r.content.len() / 512
}

fn response_size_hint(r: &Response) -> usize {
    32 + fields_size_hint(&r.headers)
        + fields_size_hint(&r.trailers)
        + r.content.len()
        + r.content.len() / 512
}

fn encoded_size_hint(message: &Message) -> usize {
    match message {
        Message::Request(r) => request_size_hint(r),
        Message::Response(r) => response_size_hint(r),
    }
}

/// Data bytes per chunk: the encoded limit minus the widest prefix a chunk of that size needs,
/// computed as the reference's `maxLenBytesForBufferOfLen` does (532 → 530, 514 → 512, 4096 → 4094).
/// That function falls through to 8 just above a varint boundary (65 → 57), and chunk boundaries
/// are visible on the wire, so the quirk is kept.
fn chunk_data_max(options: &EncodeOptions) -> usize {
    let limit = options.max_encoded_chunk_len.max(8);
    let prefix = [1usize, 2, 4]
        .into_iter()
        .find(|&p| varint::encoded_len((limit - p) as u64) == p)
        .unwrap_or(8);
    limit - prefix
}

fn check_message(message: MessageRef<'_>) -> Result<(), EncodeError> {
    let check = |part, fields: &[Field]| {
        check_section(part, fields).map_err(|(index, problem)| EncodeError::InvalidField {
            part,
            index,
            problem,
        })
    };
    match message {
        MessageRef::Request(r) => {
            check(Part::Headers, &r.headers)?;
            check(Part::Trailers, &r.trailers)
        }
        MessageRef::Response(r) => {
            for info in &r.informational {
                if !(100..=199).contains(&info.status) {
                    return Err(EncodeError::InvalidStatus {
                        which: "informational",
                        status: info.status,
                    });
                }
                check(Part::InformationalFields, &info.fields)?;
            }
            if !(200..=599).contains(&r.status) {
                return Err(EncodeError::InvalidStatus {
                    which: "final",
                    status: r.status,
                });
            }
            check(Part::Headers, &r.headers)?;
            check(Part::Trailers, &r.trailers)
        }
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    indeterminate: bool,
    chunk_data_max: usize,
}

impl Writer<'_> {
    fn request(&mut self, r: &Request) -> Result<(), EncodeError> {
        self.number(
            if self.indeterminate { 2 } else { 0 },
            Part::FramingIndicator,
        )?;
        for (part, bytes) in [
            (Part::Method, &r.method),
            (Part::Scheme, &r.scheme),
            (Part::Authority, &r.authority),
            (Part::Path, &r.path),
        ] {
            self.prefixed(part, bytes)?;
        }
        self.section(Part::Headers, &r.headers)?;
        self.content(&r.content)?;
        self.section(Part::Trailers, &r.trailers)
    }

    fn response(&mut self, r: &Response) -> Result<(), EncodeError> {
        self.number(
            if self.indeterminate { 3 } else { 1 },
            Part::FramingIndicator,
        )?;
        for InformationalResponse { status, fields } in &r.informational {
            self.number(u64::from(*status), Part::Status)?;
            self.section(Part::InformationalFields, fields)?;
        }
        self.number(u64::from(r.status), Part::Status)?;
        self.section(Part::Headers, &r.headers)?;
        self.content(&r.content)?;
        self.section(Part::Trailers, &r.trailers)
    }

    fn number(&mut self, value: u64, part: Part) -> Result<(), EncodeError> {
        if varint::write(self.out, value) {
            Ok(())
        } else {
            Err(EncodeError::TooLong(part))
        }
    }

    fn prefixed(&mut self, part: Part, bytes: &[u8]) -> Result<(), EncodeError> {
        self.number(bytes.len() as u64, part)?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn section(&mut self, part: Part, fields: &[Field]) -> Result<(), EncodeError> {
        if !self.indeterminate {
            let len: usize = fields
                .iter()
                .map(|f| {
                    varint::encoded_len(f.name.len() as u64)
                        + f.name.len()
                        + varint::encoded_len(f.value.len() as u64)
                        + f.value.len()
                })
                .sum();
            self.number(len as u64, part)?;
        }
        for field in fields {
            self.prefixed(part, &field.name)?;
            self.prefixed(part, &field.value)?;
        }
        if self.indeterminate {
            self.out.push(0);
        }
        Ok(())
    }

    fn content(&mut self, content: &[u8]) -> Result<(), EncodeError> {
        if !self.indeterminate {
            return self.prefixed(Part::Content, content);
        }
        for chunk in content.chunks(self.chunk_data_max) {
            self.prefixed(Part::Content, chunk)?;
        }
        self.out.push(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_match_the_reference() {
        let data_max = |n| {
            chunk_data_max(&EncodeOptions {
                max_encoded_chunk_len: n,
                ..EncodeOptions::default()
            })
        };
        assert_eq!(data_max(4096), 4094);
        assert_eq!(data_max(532), 530);
        assert_eq!(data_max(514), 512);
        assert_eq!(data_max(64), 63);
        // The reference's quirk: just above a varint boundary it reserves 8 prefix bytes.
        assert_eq!(data_max(65), 57);
        assert_eq!(data_max(66), 64);
        assert_eq!(data_max(2), 7);
    }
}
