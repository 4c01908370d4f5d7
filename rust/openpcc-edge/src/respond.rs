//! Small response builders shared by both roles.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};

use crate::body::{full, EdgeBody};

/// A response with a fixed body and content type.
pub(crate) fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<EdgeBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A short plain-text reason (never a byte of the request).
pub(crate) fn text(status: StatusCode, reason: &'static str) -> Response<EdgeBody> {
    with_body(status, "text/plain; charset=utf-8", format!("{reason}\n"))
}

/// `429` with `Retry-After: 1`.
pub(crate) fn too_many(reason: &'static str) -> Response<EdgeBody> {
    let mut response = text(StatusCode::TOO_MANY_REQUESTS, reason);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// `{"status":"OK"}`, the reference's health body.
pub(crate) fn health_ok() -> Response<EdgeBody> {
    with_body(
        StatusCode::OK,
        "application/json",
        &br#"{"status":"OK"}"#[..],
    )
}

/// Prometheus text exposition.
pub(crate) fn metrics(text: String) -> Response<EdgeBody> {
    with_body(StatusCode::OK, "text/plain; version=0.0.4", text)
}

/// `true` when the request's `Content-Type` is exactly `expected` (case-insensitive, no parameters).
pub(crate) fn content_type_is(headers: &http::HeaderMap, expected: &str) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}
