//! The message model: requests, responses and their field lines, with the field rules shared by
//! the decoder and the encoder.

use std::fmt;

use crate::error::{FieldProblem, Part};

/// One field line: a name and a value, as raw bytes, in wire order.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Field {
    /// The field name (lower case on the wire in practice; not forced by the codec).
    pub name: Vec<u8>,
    /// The field value.
    pub value: Vec<u8>,
}

impl Field {
    /// A field from anything byte-like.
    pub fn new(name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

// Field values may hold credentials or prompts: Debug shows sizes only.
impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Field(name: {} bytes, value: {} bytes)",
            self.name.len(),
            self.value.len()
        )
    }
}

/// A binary HTTP request.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Request {
    /// Request method, for example `GET`.
    pub method: Vec<u8>,
    /// URI scheme, for example `https`.
    pub scheme: Vec<u8>,
    /// Authority (host and optional port); may be empty.
    pub authority: Vec<u8>,
    /// Path and query; may be empty.
    pub path: Vec<u8>,
    /// Header fields in wire order.
    pub headers: Vec<Field>,
    /// The content (body).
    pub content: Vec<u8>,
    /// Trailer fields in wire order.
    pub trailers: Vec<Field>,
}

#[allow(clippy::missing_fields_in_debug)] // sizes only: the bytes may be private
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method_len", &self.method.len())
            .field("path_len", &self.path.len())
            .field("headers", &self.headers.len())
            .field("content_len", &self.content.len())
            .field("trailers", &self.trailers.len())
            .finish()
    }
}

/// One informational (1xx) response that precedes the final response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct InformationalResponse {
    /// Status code, 100..=199.
    pub status: u16,
    /// Its field lines.
    pub fields: Vec<Field>,
}

/// A binary HTTP response: zero or more informational responses, then the final one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Response {
    /// Informational (1xx) responses, in order.
    pub informational: Vec<InformationalResponse>,
    /// Final status code, 200..=599.
    pub status: u16,
    /// Header fields in wire order.
    pub headers: Vec<Field>,
    /// The content (body).
    pub content: Vec<u8>,
    /// Trailer fields in wire order.
    pub trailers: Vec<Field>,
}

impl Default for Response {
    fn default() -> Self {
        Self {
            informational: Vec::new(),
            status: 200,
            headers: Vec::new(),
            content: Vec::new(),
            trailers: Vec::new(),
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("informational", &self.informational.len())
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .field("content_len", &self.content.len())
            .field("trailers", &self.trailers.len())
            .finish()
    }
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Self::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Self::Response(r)
    }
}

/// Whether a message uses known-length or indeterminate-length framing (RFC 9292 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Every section carries a length prefix (framing indicators 0 and 1).
    KnownLength,
    /// Sections end with a zero terminator and content comes in chunks (indicators 2 and 3).
    Indeterminate,
}

/// `true` for the characters of an HTTP token (RFC 9110 §5.6.2), as Go's `httpguts` checks them.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `true` for a valid field value: no control character except horizontal tab (Go `httpguts`
/// `ValidHeaderFieldValue`). Bytes 0x80..=0xFF (obs-text) are allowed.
fn is_valid_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7F))
}

/// `:` followed by lower-case letters, digits or hyphens: the pseudo-field syntax the reference
/// recognises.
fn is_pseudo_name(name: &[u8]) -> bool {
    matches!(name.split_first(), Some((b':', rest)) if !rest.is_empty()
        && rest.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
}

const RESERVED_PSEUDO_FIELDS: [&[u8]; 5] =
    [b":method", b":scheme", b":authority", b":path", b":status"];

/// Tracks the pseudo-field ordering rule while the lines of one section are checked in order.
#[derive(Default)]
pub(crate) struct SectionChecker {
    seen_regular: bool,
}

impl SectionChecker {
    /// Checks one field line of section `part`. Names must be tokens; pseudo-fields (`:name`) may
    /// only start a header section and must not be one that RFC 9292 carries as control data.
    pub(crate) fn check(
        &mut self,
        part: Part,
        name: &[u8],
        value: &[u8],
    ) -> Result<(), FieldProblem> {
        if name.is_empty() {
            return Err(FieldProblem::EmptyName);
        }
        if is_pseudo_name(name) {
            if part == Part::Trailers {
                return Err(FieldProblem::PseudoFieldInTrailers);
            }
            if RESERVED_PSEUDO_FIELDS.contains(&name) {
                return Err(FieldProblem::ReservedPseudoField);
            }
            if self.seen_regular {
                return Err(FieldProblem::PseudoFieldAfterRegular);
            }
        } else if name.iter().all(|&b| is_token_byte(b)) {
            self.seen_regular = true;
        } else {
            return Err(FieldProblem::InvalidName);
        }
        if is_valid_value(value) {
            Ok(())
        } else {
            Err(FieldProblem::InvalidValue)
        }
    }
}

/// Checks a whole section; returns the index and problem of the first bad line.
pub(crate) fn check_section(part: Part, fields: &[Field]) -> Result<(), (usize, FieldProblem)> {
    let mut checker = SectionChecker::default();
    for (index, field) in fields.iter().enumerate() {
        checker
            .check(part, &field.name, &field.value)
            .map_err(|p| (index, p))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case<'a> = (&'a [u8], &'a [u8], Result<(), FieldProblem>);

    /// Feeds `cases` in order to one checker of section `part` (order matters: pseudo-fields only
    /// lead a section).
    fn check_in_order(part: Part, cases: &[Case<'_>]) {
        let mut checker = SectionChecker::default();
        for &(name, value, ref want) in cases {
            assert_eq!(
                &checker.check(part, name, value),
                want,
                "{name:?}: {value:?}"
            );
        }
    }

    #[test]
    fn token_and_value_rules() {
        use FieldProblem::{EmptyName, InvalidName, InvalidValue};
        check_in_order(
            Part::Headers,
            &[
                (b"x-ok!", b"v\tv\x80", Ok(())),
                (b"", b"", Err(EmptyName)),
                (b"a b", b"", Err(InvalidName)),
                (b"a:b", b"", Err(InvalidName)),
                (b"a", b"a\rb", Err(InvalidValue)),
                (b"a", b"a\nb", Err(InvalidValue)),
                (b"a", b"a\0b", Err(InvalidValue)),
                (b"a", b"\x7f", Err(InvalidValue)),
            ],
        );
    }

    #[test]
    fn pseudo_field_rules() {
        use FieldProblem::{
            InvalidName, PseudoFieldAfterRegular, PseudoFieldInTrailers, ReservedPseudoField,
        };
        check_in_order(
            Part::Headers,
            &[
                (b":protocol", b"x", Ok(())),
                (b":path", b"/", Err(ReservedPseudoField)),
                (b"host", b"x", Ok(())),
                (b":protocol", b"x", Err(PseudoFieldAfterRegular)),
            ],
        );
        // ":" alone or with upper case is not pseudo-field syntax, and ':' is not a token byte.
        check_in_order(
            Part::Trailers,
            &[
                (b":protocol", b"x", Err(PseudoFieldInTrailers)),
                (b":", b"", Err(InvalidName)),
                (b":Path", b"", Err(InvalidName)),
            ],
        );
    }
}
