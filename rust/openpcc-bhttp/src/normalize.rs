//! The rewrites the Go reference applies to a message before encoding it (spec §3), for the
//! `OpenPCC` roles that must produce the same bytes.
//!
//! What the reference does, and what is done here:
//! * field names are lower-cased;
//! * requests lose `Host`, `Content-Length`, `Transfer-Encoding` and `Trailer` header fields
//!   (responses keep `Host`); when there are trailers, one `trailer` field lists their names,
//!   in Go's canonical form (`X-Refund`), sorted and joined with `,`;
//! * known-length requests get `content-length` when the content is not empty, or for POST, PUT
//!   and PATCH even when it is; known-length responses always get it. As in Go's `net/http`, a
//!   message with `content-length` loses its trailers and its `trailer` field;
//! * fields are sorted by name, byte-wise. The reference uses Go's `sort.Slice`, which is not
//!   stable, so the order of repeated fields of one name is unspecified there; here the sort is
//!   stable, which keeps their given order (one of the orders the reference may produce);
//! * names and values are checked as Go's `httpguts` does, and trailer names against the
//!   fields HTTP forbids in trailers.
//!
//! The reference never emits informational (1xx) responses; their fields are lower-cased and
//! sorted like the others. Its OHTTP layer encodes 204 and 304 responses as known-length with no
//! content: here such a response with content is an error, and it gets `content-length: 0`.

use crate::error::{EncodeError, FieldProblem, Part};
use crate::message::{check_section, Field, InformationalResponse, Request, Response};

/// Normalises a request as the reference's client does; `indeterminate` is the framing it will
/// be encoded with.
pub fn normalize_request(request: &Request, indeterminate: bool) -> Result<Request, EncodeError> {
    const DROPPED: [&[u8]; 4] = [b"host", b"content-length", b"transfer-encoding", b"trailer"];
    let mut headers = lowered(Part::Headers, &request.headers)?;
    let mut trailers = lowered(Part::Trailers, &request.trailers)?;
    check_trailer_names(&trailers)?;
    headers.retain(|f| !DROPPED.contains(&f.name.as_slice()));
    let method = request.method.as_slice();
    let content_length = !indeterminate
        && (!request.content.is_empty() || matches!(method, b"POST" | b"PUT" | b"PATCH"));
    declare_length_or_trailers(
        &mut headers,
        &mut trailers,
        content_length.then_some(request.content.len()),
    );
    Ok(Request {
        headers: sorted(headers),
        trailers: sorted(trailers),
        ..request.clone()
    })
}

/// Normalises a response as the reference's gateway and nodes do; `indeterminate` is the
/// framing it will be encoded with (204 and 304 always count as known-length).
pub fn normalize_response(
    response: &Response,
    indeterminate: bool,
) -> Result<Response, EncodeError> {
    const DROPPED: [&[u8]; 3] = [b"content-length", b"transfer-encoding", b"trailer"];
    let no_content = matches!(response.status, 204 | 304);
    if no_content && !response.content.is_empty() {
        return Err(EncodeError::ContentNotAllowed(response.status));
    }
    let mut headers = lowered(Part::Headers, &response.headers)?;
    let mut trailers = lowered(Part::Trailers, &response.trailers)?;
    check_trailer_names(&trailers)?;
    headers.retain(|f| !DROPPED.contains(&f.name.as_slice()));
    let known = !indeterminate || no_content;
    declare_length_or_trailers(
        &mut headers,
        &mut trailers,
        known.then_some(response.content.len()),
    );
    let informational = response
        .informational
        .iter()
        .map(|i| {
            Ok(InformationalResponse {
                status: i.status,
                fields: sorted(lowered(Part::InformationalFields, &i.fields)?),
            })
        })
        .collect::<Result<_, EncodeError>>()?;
    Ok(Response {
        informational,
        headers: sorted(headers),
        trailers: sorted(trailers),
        ..response.clone()
    })
}

/// With a content length: add `content-length` and drop trailers (Go's `net/http` does not send
/// trailers with a Content-Length). Without: announce any trailers in one `trailer` field.
fn declare_length_or_trailers(
    headers: &mut Vec<Field>,
    trailers: &mut Vec<Field>,
    content_length: Option<usize>,
) {
    if let Some(len) = content_length {
        headers.push(Field::new(b"content-length".to_vec(), len.to_string()));
        trailers.clear();
    } else if !trailers.is_empty() {
        let mut names: Vec<Vec<u8>> = trailers.iter().map(|f| canonical_name(&f.name)).collect();
        names.sort();
        names.dedup();
        headers.push(Field::new(b"trailer".to_vec(), names.join(&b","[..])));
    }
}

fn lowered(part: Part, fields: &[Field]) -> Result<Vec<Field>, EncodeError> {
    check_section(part, fields).map_err(|(index, problem)| EncodeError::InvalidField {
        part,
        index,
        problem,
    })?;
    Ok(fields
        .iter()
        .map(|f| Field {
            name: f.name.to_ascii_lowercase(),
            value: f.value.clone(),
        })
        .collect())
}

/// Stable sort by name. Pseudo-fields (which the reference never has) stay in front, where
/// RFC 9292 requires them.
fn sorted(mut fields: Vec<Field>) -> Vec<Field> {
    fields.sort_by(|a, b| {
        (!a.name.starts_with(b":"), &a.name).cmp(&(!b.name.starts_with(b":"), &b.name))
    });
    fields
}

/// Go's `CanonicalMIMEHeaderKey` for a valid token: upper case at the start and after each `-`.
#[must_use]
pub fn canonical_name(name: &[u8]) -> Vec<u8> {
    let mut upper = true;
    name.iter()
        .map(|&b| {
            let out = if upper {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
            upper = b == b'-';
            out
        })
        .collect()
}

/// Go `httpguts.ValidTrailerHeader` for a lower-case name: false for fields that must not be trailers.
#[must_use]
pub fn trailer_name_allowed(name: &[u8]) -> bool {
    !FORBIDDEN_TRAILERS.contains(&name)
}

fn check_trailer_names(trailers: &[Field]) -> Result<(), EncodeError> {
    match trailers.iter().position(|f| !trailer_name_allowed(&f.name)) {
        Some(index) => Err(EncodeError::InvalidField {
            part: Part::Trailers,
            index,
            problem: FieldProblem::DisallowedTrailer,
        }),
        None => Ok(()),
    }
}

const FORBIDDEN_TRAILERS: [&[u8]; 21] = [
    b"authorization",
    b"cache-control",
    b"connection",
    b"content-encoding",
    b"content-length",
    b"content-range",
    b"content-type",
    b"expect",
    b"host",
    b"keep-alive",
    b"max-forwards",
    b"pragma",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"proxy-connection",
    b"range",
    b"realm",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"www-authenticate",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<Field> {
        pairs
            .iter()
            .map(|(n, v)| Field::new(n.as_bytes(), v.as_bytes()))
            .collect()
    }

    #[test]
    fn request_is_lowered_stripped_sorted_and_gets_content_length() {
        let req = Request {
            method: b"POST".to_vec(),
            headers: fields(&[
                ("User-Agent", "a"),
                ("Host", "h"),
                ("X-B", "1"),
                ("accept", "x"),
                ("X-B", "2"),
                ("Content-Length", "9"),
                ("Transfer-Encoding", "chunked"),
                ("Trailer", "X"),
            ]),
            content: b"hello".to_vec(),
            trailers: fields(&[("X-Refund", "1")]),
            ..Request::default()
        };
        let out = normalize_request(&req, false).unwrap();
        assert_eq!(
            out.headers,
            fields(&[
                ("accept", "x"),
                ("content-length", "5"),
                ("user-agent", "a"),
                ("x-b", "1"),
                ("x-b", "2")
            ])
        );
        assert!(
            out.trailers.is_empty(),
            "content-length drops trailers, as net/http does"
        );
    }

    #[test]
    fn content_length_rules_for_requests() {
        let get = Request {
            method: b"GET".to_vec(),
            ..Request::default()
        };
        assert!(normalize_request(&get, false).unwrap().headers.is_empty());
        let put = Request {
            method: b"PUT".to_vec(),
            ..Request::default()
        };
        assert_eq!(
            normalize_request(&put, false).unwrap().headers,
            fields(&[("content-length", "0")])
        );
        let body = Request {
            method: b"GET".to_vec(),
            content: b"x".to_vec(),
            ..Request::default()
        };
        assert!(normalize_request(&body, true).unwrap().headers.is_empty());
    }

    #[test]
    fn trailers_are_announced_in_canonical_form() {
        let resp = Response {
            headers: fields(&[("Host", "kept")]),
            trailers: fields(&[("x-refund", "1"), ("X-Other-Thing", "2"), ("x-refund", "3")]),
            ..Response::default()
        };
        let out = normalize_response(&resp, true).unwrap();
        assert_eq!(
            out.headers,
            fields(&[("host", "kept"), ("trailer", "X-Other-Thing,X-Refund")])
        );
        assert_eq!(
            out.trailers,
            fields(&[("x-other-thing", "2"), ("x-refund", "1"), ("x-refund", "3")])
        );
        let known = normalize_response(&Response::default(), false).unwrap();
        assert_eq!(known.headers, fields(&[("content-length", "0")]));
    }

    #[test]
    fn pseudo_fields_stay_first_and_output_is_stable() {
        let req = Request {
            headers: fields(&[(":protocol", "websocket"), ("0-early", "x"), ("B", "1")]),
            ..Request::default()
        };
        let once = normalize_request(&req, true).unwrap();
        assert_eq!(
            once.headers,
            fields(&[(":protocol", "websocket"), ("0-early", "x"), ("b", "1")])
        );
        assert_eq!(normalize_request(&once, true).unwrap(), once);
    }

    #[test]
    fn invalid_input_is_refused() {
        let bad_trailer = Response {
            trailers: fields(&[("Content-Type", "x")]),
            ..Response::default()
        };
        assert!(matches!(
            normalize_response(&bad_trailer, true),
            Err(EncodeError::InvalidField {
                problem: FieldProblem::DisallowedTrailer,
                ..
            })
        ));
        let bad_value = Request {
            headers: fields(&[("a", "b"), ("x", "1\r\n2")]),
            ..Request::default()
        };
        assert_eq!(
            normalize_request(&bad_value, false),
            Err(EncodeError::InvalidField {
                part: Part::Headers,
                index: 1,
                problem: FieldProblem::InvalidValue
            })
        );
        let no_content = Response {
            status: 204,
            content: b"x".to_vec(),
            ..Response::default()
        };
        assert_eq!(
            normalize_response(&no_content, true),
            Err(EncodeError::ContentNotAllowed(204))
        );
    }
}
