//! The inner (decapsulated) side of the gateway: which inner requests may pass (spec §1.3), how
//! they become upstream requests, and how an upstream response becomes Binary HTTP again,
//! incrementally for chunked responses.

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use openpcc_bhttp::varint;

use crate::body::EdgeBody;

/// Inner host of the bank.
pub const BANK_HOST: &str = "confsec-bank.invalid";
/// Inner host of the router.
pub const ROUTER_HOST: &str = "confsec-router.invalid";

/// Where an allowed inner request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// The bank URL.
    Bank,
    /// The router URL.
    Router,
}

/// The gateway's decision for an inner request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Forward upstream.
    Forward(Upstream),
    /// `X-Confsec-Ping: gateway`: answered by the gateway itself.
    Ping,
    /// Host allowed, path not: the reference's `404 page not found`.
    NotFound,
    /// Path allowed with another method: 405.
    MethodNotAllowed,
    /// A host that is not on the allow-list (the reference's error 202, an outer 400).
    HostNotAllowed,
}

const BANK_PATHS: [&str; 5] = [
    "/deposit",
    "/exchange",
    "/withdraw",
    "/withdraw-full",
    "/balance",
];

/// The authority of an inner request: its `:authority`, else its `host` field, port removed.
fn inner_host(request: &openpcc_bhttp::Request) -> Vec<u8> {
    let raw = if request.authority.is_empty() {
        request
            .headers
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(b"host"))
            .map_or(&[][..], |f| &f.value[..])
    } else {
        &request.authority[..]
    };
    let host = match raw.iter().rposition(|&b| b == b':') {
        Some(i) if raw[i + 1..].iter().all(u8::is_ascii_digit) => &raw[..i],
        _ => raw,
    };
    host.to_ascii_lowercase()
}

fn header<'a>(request: &'a openpcc_bhttp::Request, name: &[u8]) -> Option<&'a [u8]> {
    request
        .headers
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .map(|f| &f.value[..])
}

/// Applies the allow-list (`limitEndpointsMiddleware`) and the ping shortcut.
#[must_use]
pub fn route(request: &openpcc_bhttp::Request) -> Route {
    let host = inner_host(request);
    let path = request
        .path
        .split(|&b| b == b'?')
        .next()
        .unwrap_or_default();
    let method = &request.method[..];
    let (upstream, allowed_method) = if host == BANK_HOST.as_bytes() {
        let known = BANK_PATHS.iter().any(|p| p.as_bytes() == path);
        (Upstream::Bank, known.then_some(&b"POST"[..]))
    } else if host == ROUTER_HOST.as_bytes() {
        let expected: Option<&[u8]> = match path {
            b"/ping" => Some(b"GET"),
            b"/compute-manifests" | b"/" => Some(b"POST"),
            _ => None,
        };
        (Upstream::Router, expected)
    } else {
        return Route::HostNotAllowed;
    };
    match allowed_method {
        None => Route::NotFound,
        Some(m) if m != method => Route::MethodNotAllowed,
        Some(_)
            if header(request, b"x-confsec-ping")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"gateway")) =>
        {
            Route::Ping
        }
        Some(_) => Route::Forward(upstream),
    }
}

/// Fields that describe one hop only; never forwarded in either direction.
fn hop_by_hop(name: &HeaderName) -> bool {
    [
        CONNECTION,
        CONTENT_LENGTH,
        HOST,
        TE,
        TRANSFER_ENCODING,
        UPGRADE,
    ]
    .contains(name)
        || matches!(
            name.as_str(),
            "keep-alive" | "proxy-connection" | "proxy-authorization" | "proxy-authenticate"
        )
}

/// Why an inner request cannot be forwarded.
#[derive(Debug, Clone, Copy)]
pub struct BadInner(pub &'static str);

/// The upstream request for an allowed inner request, path and query kept, `Host` set to the target.
pub fn upstream_request(
    head: &openpcc_bhttp::Request,
    base: &Uri,
    body: EdgeBody,
) -> Result<Request<EdgeBody>, BadInner> {
    let method = Method::from_bytes(&head.method).map_err(|_| BadInner("method"))?;
    let prefix = base.path().trim_end_matches('/');
    let path = std::str::from_utf8(&head.path).map_err(|_| BadInner("path"))?;
    let path = if path.is_empty() { "/" } else { path };
    let mut uri = String::with_capacity(prefix.len() + path.len() + 32);
    uri.push_str(base.scheme_str().unwrap_or("http"));
    uri.push_str("://");
    uri.push_str(base.authority().map_or("", http::uri::Authority::as_str));
    uri.push_str(prefix);
    uri.push_str(path);
    let uri: Uri = uri.parse().map_err(|_| BadInner("path"))?;
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    for field in &head.headers {
        let name = HeaderName::from_bytes(&field.name).map_err(|_| BadInner("header name"))?;
        if hop_by_hop(&name) {
            continue;
        }
        let value = HeaderValue::from_bytes(&field.value).map_err(|_| BadInner("header value"))?;
        headers.append(name, value);
    }
    Ok(request)
}

/// Trailer fields of an inner request, for the upstream body.
#[must_use]
pub fn trailer_map(fields: &[openpcc_bhttp::Field]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for field in fields {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&field.name),
            HeaderValue::from_bytes(&field.value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// The fields of an upstream response to carry inside BHTTP: hop-by-hop ones dropped, sorted by
/// name as the reference's encoder does (stable for repeated names).
#[must_use]
pub fn response_fields(headers: &HeaderMap, keep_trailer_decl: bool) -> Vec<openpcc_bhttp::Field> {
    let mut fields: Vec<openpcc_bhttp::Field> = headers
        .iter()
        .filter(|(name, _)| !hop_by_hop(name) && (keep_trailer_decl || *name != TRAILER))
        .map(|(name, value)| openpcc_bhttp::Field::new(name.as_str().as_bytes(), value.as_bytes()))
        .collect();
    fields.sort_by(|a, b| a.name.cmp(&b.name));
    fields
}

fn write_varint(out: &mut Vec<u8>, value: usize) {
    // Lengths here are bounded by memory, far below the 2^62 varint limit.
    let _ = varint::write(out, value as u64);
}

fn write_fields(out: &mut Vec<u8>, fields: &[openpcc_bhttp::Field]) {
    for field in fields {
        write_varint(out, field.name.len());
        out.extend_from_slice(&field.name);
        write_varint(out, field.value.len());
        out.extend_from_slice(&field.value);
    }
    out.push(0);
}

/// Writes an indeterminate-length BHTTP response piece by piece (RFC 9292 §3.2, framing 3).
pub struct StreamingResponse;

impl StreamingResponse {
    /// Framing indicator, status and header section.
    #[must_use]
    pub fn head(status: u16, fields: &[openpcc_bhttp::Field]) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        write_varint(&mut out, 3);
        write_varint(&mut out, usize::from(status));
        write_fields(&mut out, fields);
        out
    }

    /// One content chunk (empty data writes nothing: a zero length would end the content).
    pub fn chunk(data: &Bytes, out: &mut Vec<u8>) {
        if !data.is_empty() {
            write_varint(out, data.len());
            out.extend_from_slice(data);
        }
    }

    /// Content terminator and trailer section.
    #[must_use]
    pub fn end(trailers: &[openpcc_bhttp::Field]) -> Vec<u8> {
        let mut out = vec![0];
        write_fields(&mut out, trailers);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, authority: &str, path: &str) -> openpcc_bhttp::Request {
        openpcc_bhttp::Request {
            method: method.into(),
            scheme: b"http".to_vec(),
            authority: authority.into(),
            path: path.into(),
            ..Default::default()
        }
    }

    #[test]
    fn allow_list() {
        assert_eq!(
            route(&req("POST", "confsec-bank.invalid", "/deposit")),
            Route::Forward(Upstream::Bank)
        );
        assert_eq!(
            route(&req("GET", "confsec-bank.invalid", "/deposit")),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(&req("POST", "confsec-bank.invalid", "/other")),
            Route::NotFound
        );
        assert_eq!(
            route(&req("POST", "Confsec-Router.invalid:80", "/")),
            Route::Forward(Upstream::Router)
        );
        assert_eq!(
            route(&req("GET", "confsec-router.invalid", "/ping?x=1")),
            Route::Forward(Upstream::Router)
        );
        assert_eq!(
            route(&req("POST", "example.com", "/")),
            Route::HostNotAllowed
        );
        assert_eq!(route(&req("POST", "", "/")), Route::HostNotAllowed);
        let mut ping = req("POST", "confsec-router.invalid", "/");
        ping.headers
            .push(openpcc_bhttp::Field::new("x-confsec-ping", "gateway"));
        assert_eq!(route(&ping), Route::Ping);
    }

    #[test]
    fn streamed_response_decodes() {
        let fields = vec![openpcc_bhttp::Field::new("content-type", "text/plain")];
        let mut wire = StreamingResponse::head(200, &fields);
        StreamingResponse::chunk(&Bytes::from_static(b"hello "), &mut wire);
        StreamingResponse::chunk(&Bytes::new(), &mut wire);
        StreamingResponse::chunk(&Bytes::from_static(b"world"), &mut wire);
        wire.extend(StreamingResponse::end(&[openpcc_bhttp::Field::new(
            "x-refund", "abc",
        )]));
        wire.extend([0u8; 7]);
        let decoded = openpcc_bhttp::decode(&wire).unwrap();
        let openpcc_bhttp::Message::Response(r) = decoded.message else {
            panic!("not a response")
        };
        assert_eq!(r.content, b"hello world");
        assert_eq!(r.trailers.len(), 1);
    }
}
