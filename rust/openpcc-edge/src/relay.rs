//! The relay: forwards encapsulated requests to one gateway, streaming both ways, with nothing that
//! identifies the client (only allow-listed headers cross, the source address never leaves).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode, Uri};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::body::{EdgeBody, Keep, LimitFlag, Limited, Tracked};
use crate::config::RelayConfig;
use crate::limits::{Refusal, SourceLimits};
use crate::metrics::{Metrics, Outcome};
use crate::respond;
use crate::Error;

/// The OHTTP request media types the relay carries.
const REQUEST_TYPES: [&str; 2] = ["message/ohttp-req", "message/ohttp-chunked-req"];

/// Request headers that cross the relay; everything else (cookies, authorization, user agent,
/// forwarding headers, dates) is dropped. Framing is re-derived by hyper from the body.
const REQUEST_ALLOWED: [HeaderName; 3] =
    [CONTENT_TYPE, ACCEPT, HeaderName::from_static("incremental")];
/// Response headers that cross back.
const RESPONSE_ALLOWED: [HeaderName; 2] = [CONTENT_TYPE, HeaderName::from_static("incremental")];

/// The relay handler.
pub struct Relay {
    target: Uri,
    client: Client<HttpConnector, EdgeBody>,
    limits: Arc<SourceLimits>,
    max_body: u64,
    body_idle: Duration,
    metrics: Arc<Metrics>,
}

/// A client for upstream hops: pooled HTTP/1.1, no delay.
pub(crate) fn upstream_client() -> Client<HttpConnector, EdgeBody> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(9)));
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

/// Parses an upstream base URL (`http://host:port[/path]`).
pub(crate) fn parse_upstream(url: &str, what: &'static str) -> Result<Uri, Error> {
    let uri: Uri = url.parse().map_err(|_| Error::Config(what))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(Error::Config(what));
    }
    Ok(uri)
}

fn copy_allowed(from: &HeaderMap, to: &mut HeaderMap, allowed: &[HeaderName]) {
    for name in allowed {
        for value in from.get_all(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

impl Relay {
    /// A relay for `config`, counting into `metrics`.
    pub fn new(
        config: &RelayConfig,
        body_idle: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Self, Error> {
        Ok(Self {
            target: parse_upstream(&config.gateway_url, "gateway_url must be an http:// URL")?,
            client: upstream_client(),
            limits: SourceLimits::new(
                config.rate_per_second,
                config.burst,
                config.max_concurrent_per_source,
            ),
            max_body: config.max_body_bytes,
            body_idle,
            metrics,
        })
    }

    /// Serves one request from `peer`.
    pub async fn handle(&self, request: Request<Incoming>, peer: IpAddr) -> Response<EdgeBody> {
        let started = Instant::now();
        let (response, outcome) = match (request.method(), request.uri().path()) {
            (&Method::GET, "/healthz") => (respond::health_ok(), Outcome::Ok),
            (&Method::GET, "/metrics") => return respond::metrics(self.metrics.render("relay")),
            (&Method::POST, _) => self.forward(request, peer).await,
            (_, "/healthz" | "/metrics") => (
                respond::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
                Outcome::ClientError,
            ),
            _ => (
                respond::text(StatusCode::METHOD_NOT_ALLOWED, "the relay takes POST only"),
                Outcome::ClientError,
            ),
        };
        self.metrics.record(outcome, started.elapsed());
        response
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
        peer: IpAddr,
    ) -> (Response<EdgeBody>, Outcome) {
        let headers = request.headers();
        if !REQUEST_TYPES
            .iter()
            .any(|t| respond::content_type_is(headers, t))
        {
            let reason = "content type must be message/ohttp-req or message/ohttp-chunked-req";
            return (
                respond::text(StatusCode::UNSUPPORTED_MEDIA_TYPE, reason),
                Outcome::ClientError,
            );
        }
        if request.body().size_hint().lower() > self.max_body {
            return (
                respond::text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
                Outcome::ClientError,
            );
        }
        if headers.get_all(CONTENT_LENGTH).iter().count() > 1 {
            return (
                respond::text(StatusCode::BAD_REQUEST, "repeated content-length"),
                Outcome::ClientError,
            );
        }
        let permit = match self.limits.admit(peer) {
            Ok(permit) => permit,
            Err(Refusal::Rate) => {
                return (respond::too_many("request rate limit"), Outcome::Limited)
            }
            Err(Refusal::Concurrency) => {
                return (
                    respond::too_many("too many concurrent requests"),
                    Outcome::Limited,
                )
            }
        };
        let (parts, body) = request.into_parts();
        let flag = LimitFlag::default();
        let body = Limited::new(
            body,
            self.max_body,
            self.body_idle,
            flag.clone(),
            self.metrics.clone(),
        );
        let mut upstream = Request::new(body.boxed_unsync());
        *upstream.method_mut() = Method::POST;
        upstream.uri_mut().clone_from(&self.target);
        copy_allowed(&parts.headers, upstream.headers_mut(), &REQUEST_ALLOWED);
        match self.client.request(upstream).await {
            Ok(response) => (self.pass_back(response, permit), Outcome::Ok),
            Err(_) if flag.too_large() => (
                respond::text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
                Outcome::ClientError,
            ),
            Err(_) => (
                respond::text(StatusCode::BAD_GATEWAY, "gateway unreachable"),
                Outcome::UpstreamError,
            ),
        }
    }

    fn pass_back(
        &self,
        response: Response<Incoming>,
        permit: crate::limits::SourcePermit,
    ) -> Response<EdgeBody> {
        let (parts, body) = response.into_parts();
        let keep: Vec<Keep> = vec![Box::new(permit), Box::new(self.metrics.stream_started())];
        let mut out = Response::new(Tracked::new(body, keep).boxed_unsync());
        *out.status_mut() = parts.status;
        copy_allowed(&parts.headers, out.headers_mut(), &RESPONSE_ALLOWED);
        out
    }
}
