//! The gateway: `POST /` with plain or chunked OHTTP, the inner allow-list, forwarding to the bank
//! or the router with bodies streamed both ways, and the key configurations (spec §1.3, §2).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, TRAILER};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use openpcc_bhttp::{DecoderConfig, EncodeOptions, Event, Head, Kind, StreamDecoder};
use openpcc_ohttp::chunked::{ChunkedRequestOpener, ChunkedResponseSealer, SealerOptions};
use openpcc_ohttp::{GatewayKey, ResponseContext, HEADER_LEN, REFERENCE_CHUNK_LEN};

use crate::body::{
    full, BodyError, BoxError, ChannelBody, EdgeBody, Keep, LimitFlag, Limited, Piece, Tracked,
};
use crate::config::{secs, GatewayConfig};
use crate::inner::{self, Route, StreamingResponse, Upstream};
use crate::keys::{now_secs, KeyProblem, KeyStore};
use crate::metrics::{Metrics, Outcome};
use crate::relay::{parse_upstream, upstream_client};
use crate::replay::{Admission, ReplayGuard};
use crate::respond;
use crate::Error;

const PLAIN_REQUEST: &str = "message/ohttp-req";
const CHUNKED_REQUEST: &str = "message/ohttp-chunked-req";
const PLAIN_RESPONSE: &str = "message/ohttp-res";
const CHUNKED_RESPONSE: &str = "message/ohttp-chunked-res";

/// Why an outer request is refused (spec §1.5). The reason is a fixed text, never input bytes.
#[derive(Clone, Copy, Debug)]
enum Reject {
    /// Key problems (codes 1xx): 400 with the `ohttp-key` problem type.
    Key(&'static str),
    /// Malformed or undecryptable requests (codes 1, 2xx): 400.
    Request(&'static str),
    /// Body above the limit: 413.
    TooLarge,
    /// Upstream unreachable or failed before answering: 502.
    Upstream,
    /// Sealing failed: 500.
    Internal,
}

fn problem(reject: Reject) -> (Response<EdgeBody>, Outcome) {
    const KEY_TYPE: &str = "https://iana.org/assignments/http-problem-types#ohttp-key";
    let (status, kind, title, detail, outcome) = match reject {
        Reject::Key(d) => (
            StatusCode::BAD_REQUEST,
            KEY_TYPE,
            "Oblivious HTTP key configuration not acceptable",
            d,
            Outcome::ClientError,
        ),
        Reject::Request(d) => (
            StatusCode::BAD_REQUEST,
            "about:blank",
            "See HTTP Status Code",
            d,
            Outcome::ClientError,
        ),
        Reject::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "about:blank",
            "See HTTP Status Code",
            "request body too large",
            Outcome::ClientError,
        ),
        Reject::Upstream => (
            StatusCode::BAD_GATEWAY,
            "about:blank",
            "See HTTP Status Code",
            "upstream failed",
            Outcome::UpstreamError,
        ),
        Reject::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "about:blank",
            "See HTTP Status Code",
            "internal error",
            Outcome::ServerError,
        ),
    };
    let body = serde_json::json!({"type": kind, "title": title, "detail": detail}).to_string();
    (
        respond::with_body(status, "application/problem+json", body),
        outcome,
    )
}

fn ohttp_reject(err: &openpcc_ohttp::Error) -> Reject {
    use openpcc_ohttp::Error as E;
    match err {
        E::KeyIdMismatch(_) => Reject::Key("unknown key id"),
        E::SuiteMismatch | E::Unsupported(..) => Reject::Key("suite not offered"),
        E::InvalidKey(_) => Reject::Key("invalid key"),
        E::Truncated => Reject::Request("stream truncated"),
        E::ChunkTooLarge => Reject::Request("chunk too large"),
        E::Decrypt => Reject::Request("decryption failed"),
        _ => Reject::Request("malformed encapsulated request"),
    }
}

/// The gateway handler.
pub struct Gateway {
    keys: Arc<KeyStore>,
    bank: Uri,
    router: Uri,
    client: Client<HttpConnector, EdgeBody>,
    max_body: u64,
    max_plain_response: usize,
    max_request_chunk: usize,
    body_idle: Duration,
    metrics: Arc<Metrics>,
    replays: Option<ReplayGuard>,
    replays_refused: std::sync::atomic::AtomicU64,
}

impl Gateway {
    /// A gateway for `config`; fails when the key directory cannot be read.
    pub fn new(
        config: &GatewayConfig,
        body_idle: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Self, Error> {
        Ok(Self {
            keys: Arc::new(KeyStore::open(config.keys_dir.clone())?),
            bank: parse_upstream(&config.bank_url, "bank_url must be an http:// URL")?,
            router: parse_upstream(&config.router_url, "router_url must be an http:// URL")?,
            client: upstream_client(),
            max_body: config.max_body_bytes,
            max_plain_response: usize::try_from(config.max_plain_response_bytes)
                .unwrap_or(usize::MAX),
            max_request_chunk: config.max_request_chunk,
            body_idle,
            metrics,
            replays: ReplayGuard::new(secs(config.replay_window_secs), config.replay_cache_entries),
            replays_refused: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The key store (reloaded by the server's background task).
    #[must_use]
    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    /// Serves one request. The peer address is not used by the gateway (the relay hides it).
    pub async fn handle(&self, request: Request<Incoming>) -> Response<EdgeBody> {
        let started = Instant::now();
        let (response, outcome) = match (request.method(), request.uri().path()) {
            (&Method::POST, "/") => self.ohttp(request).await,
            (&Method::GET, "/_health") => (respond::health_ok(), Outcome::Ok),
            (&Method::GET, "/healthz") => self.healthz(),
            (&Method::GET, "/metrics") => return respond::metrics(self.render_metrics()),
            (&Method::GET, "/.well-known/ohttp-gateway" | "/keys") => {
                let configs = self.keys.current().encoded_configs(now_secs());
                (
                    respond::with_body(StatusCode::OK, "application/ohttp-keys", configs),
                    Outcome::Ok,
                )
            }
            (&Method::GET, "/key-rotation-periods") => {
                let periods = self.keys.current().periods_json(now_secs());
                (
                    respond::with_body(StatusCode::OK, "application/json", periods),
                    Outcome::Ok,
                )
            }
            (_, "/" | "/_health" | "/healthz" | "/keys") => (
                respond::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
                Outcome::ClientError,
            ),
            _ => (
                respond::text(StatusCode::NOT_FOUND, "not found"),
                Outcome::ClientError,
            ),
        };
        self.metrics.record(outcome, started.elapsed());
        response
    }

    fn render_metrics(&self) -> String {
        use std::fmt::Write as _;
        let mut out = self.metrics.render("gateway");
        let refused = self
            .replays_refused
            .load(std::sync::atomic::Ordering::Relaxed);
        let early = self
            .replays
            .as_ref()
            .map_or(0, ReplayGuard::early_turnovers);
        let _ = writeln!(
            out,
            "# TYPE openpcc_gateway_replays_total counter\nopenpcc_gateway_replays_total {refused}"
        );
        let _ = writeln!(
            out,
            "# TYPE openpcc_gateway_replay_turnovers_early_total counter\nopenpcc_gateway_replay_turnovers_early_total {early}"
        );
        out
    }

    /// Refuses a request whose encapsulated key was opened before within the replay window. Called
    /// only once the request authenticated, so unauthenticated bytes never enter the memory.
    fn admit(&self, key: &GatewayKey, enc: &[u8]) -> Result<(), Reject> {
        let Some(guard) = &self.replays else {
            return Ok(());
        };
        match guard.admit(key.key_config().key_id(), enc) {
            Admission::Fresh => Ok(()),
            Admission::Replayed => {
                self.replays_refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(Reject::Request("replayed request"))
            }
        }
    }

    fn healthz(&self) -> (Response<EdgeBody>, Outcome) {
        let active = self.keys.current().active_count(now_secs());
        if active == 0 {
            let body = r#"{"status":"unavailable","reason":"no active key"}"#;
            return (
                respond::with_body(StatusCode::SERVICE_UNAVAILABLE, "application/json", body),
                Outcome::ServerError,
            );
        }
        let body = format!(
            r#"{{"status":"OK","active_keys":{active},"skipped_key_files":{}}}"#,
            self.keys.skipped()
        );
        (
            respond::with_body(StatusCode::OK, "application/json", body),
            Outcome::Ok,
        )
    }

    async fn ohttp(&self, request: Request<Incoming>) -> (Response<EdgeBody>, Outcome) {
        let headers = request.headers();
        let result = if respond::content_type_is(headers, PLAIN_REQUEST) {
            self.plain(request.into_body()).await
        } else if respond::content_type_is(headers, CHUNKED_REQUEST) {
            self.chunked(request.into_body()).await
        } else {
            let reason = "content type must be message/ohttp-req or message/ohttp-chunked-req";
            return (
                respond::text(StatusCode::UNSUPPORTED_MEDIA_TYPE, reason),
                Outcome::ClientError,
            );
        };
        match result {
            Ok(response) => (response, Outcome::Ok),
            Err(reject) => problem(reject),
        }
    }

    fn key_for(&self, first: Option<u8>) -> Result<GatewayKey, Reject> {
        let id = first.ok_or(Reject::Request("empty request"))?;
        self.keys
            .current()
            .accept(id, now_secs())
            .cloned()
            .map_err(|p| match p {
                KeyProblem::NotFound => Reject::Key("unknown key id"),
                KeyProblem::Inactive => Reject::Key("inactive key"),
            })
    }

    fn limited(&self, body: Incoming, flag: &LimitFlag) -> Limited<Incoming> {
        Limited::new(
            body,
            self.max_body,
            self.body_idle,
            flag.clone(),
            self.metrics.clone(),
        )
    }

    async fn plain(&self, body: Incoming) -> Result<Response<EdgeBody>, Reject> {
        let flag = LimitFlag::default();
        let collected = self.limited(body, &flag).collect().await;
        let bytes = match collected {
            Ok(c) => c.to_bytes(),
            Err(_) if flag.too_large() => return Err(Reject::TooLarge),
            Err(_) => return Err(Reject::Request("request body incomplete")),
        };
        let key = self.key_for(bytes.first().copied())?;
        let (inner, context) = key
            .decapsulate_request(&bytes)
            .map_err(|e| ohttp_reject(&e))?;
        self.admit(&key, encapsulated_key(&key, &bytes))?;
        let config = DecoderConfig {
            expect: Some(Kind::Request),
            ..DecoderConfig::default()
        };
        let mut head = openpcc_bhttp::decode_request(&inner, &config)
            .map_err(|_| Reject::Request("inner request is not binary http"))?;
        let payload = Bytes::from(std::mem::take(&mut head.content));
        let body = if head.trailers.is_empty() {
            full(payload)
        } else {
            let (tx, channel) = ChannelBody::new(3);
            let frames = [
                Frame::data(payload),
                Frame::trailers(inner::trailer_map(&head.trailers)),
            ];
            for piece in frames.into_iter().map(Piece::Frame).chain([Piece::End]) {
                tx.try_send(piece).map_err(|_| Reject::Internal)?;
            }
            channel.boxed_unsync()
        };
        self.dispatch(&head, body, context, LimitFlag::default())
            .await
    }

    async fn chunked(&self, body: Incoming) -> Result<Response<EdgeBody>, Reject> {
        let flag = LimitFlag::default();
        let mut body = self.limited(body, &flag);
        let mut reader: Option<ChunkedReader> = None;
        let head = loop {
            let frame = match body.frame().await {
                None => return Err(Reject::Request("stream truncated")),
                Some(Err(_)) if flag.too_large() => return Err(Reject::TooLarge),
                Some(Err(_)) => return Err(Reject::Request("request body incomplete")),
                Some(Ok(frame)) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            let reader = match &mut reader {
                Some(r) => r,
                None => reader.insert(ChunkedReader::new(
                    self.key_for(data.first().copied())?,
                    self.max_request_chunk,
                )),
            };
            reader.feed(&data)?;
            if let Some(head) = reader.take_head() {
                break head;
            }
        };
        let Some(reader) = reader else {
            return Err(Reject::Request("empty request"));
        };
        self.admit(reader.opener_key(), reader.enc())?;
        let context = reader
            .opener
            .response_context()
            .cloned()
            .ok_or(Reject::Internal)?;
        let (tx, channel) = ChannelBody::new(8);
        let invalid = LimitFlag::default();
        let pump_flag = invalid.clone();
        tokio::spawn(async move { reader.pump(body, tx, pump_flag).await });
        self.dispatch(&head, channel.boxed_unsync(), context, invalid)
            .await
    }

    async fn dispatch(
        &self,
        head: &openpcc_bhttp::Request,
        body: EdgeBody,
        context: ResponseContext,
        invalid_request: LimitFlag,
    ) -> Result<Response<EdgeBody>, Reject> {
        let base = match inner::route(head) {
            Route::HostNotAllowed => return Err(Reject::Request("inner host not allowed")),
            Route::NotFound => return local(&context, 404, "404 page not found\n"),
            Route::MethodNotAllowed => return local(&context, 405, "Method Not Allowed\n"),
            Route::Ping => return local(&context, 200, "gateway"),
            Route::Forward(Upstream::Bank) => &self.bank,
            Route::Forward(Upstream::Router) => &self.router,
        };
        let request =
            inner::upstream_request(head, base, body).map_err(|e| Reject::Request(e.0))?;
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(_) if invalid_request.too_large() => {
                return Err(Reject::Request("invalid request stream"))
            }
            Err(_) => return Err(Reject::Upstream),
        };
        // The response's form follows the response, as the reference's middleware decides it: a
        // streaming upstream (chunked transfer, or trailers announced) gets a chunked response.
        let streaming = response.headers().contains_key(TRAILER)
            || response.body().size_hint().exact().is_none();
        if streaming {
            self.seal_streaming(&context, response)
        } else {
            self.seal_plain(&context, response).await
        }
    }

    async fn seal_plain(
        &self,
        context: &ResponseContext,
        response: Response<Incoming>,
    ) -> Result<Response<EdgeBody>, Reject> {
        let (parts, body) = response.into_parts();
        let collected = http_body_util::Limited::new(body, self.max_plain_response)
            .collect()
            .await
            .map_err(|_| Reject::Upstream)?;
        let response = openpcc_bhttp::Response {
            status: parts.status.as_u16(),
            headers: inner::response_fields(&parts.headers, false),
            content: collected.to_bytes().to_vec(),
            ..Default::default()
        };
        seal_known_length(context, &response)
    }

    fn seal_streaming(
        &self,
        context: &ResponseContext,
        response: Response<Incoming>,
    ) -> Result<Response<EdgeBody>, Reject> {
        let (parts, body) = response.into_parts();
        let mut sealer = ChunkedResponseSealer::new(context, response_sealer_options(), None)
            .map_err(|_| Reject::Internal)?;
        let fields = inner::response_fields(&parts.headers, true);
        let mut first = Vec::new();
        sealer
            .push(
                &StreamingResponse::head(parts.status.as_u16(), &fields),
                &mut first,
            )
            .map_err(|_| Reject::Internal)?;
        let sealing = SealingBody {
            upstream: body,
            sealer,
            ready: Some(Bytes::from(first.concat())),
            trailers: Vec::new(),
            done: false,
        };
        let keep: Vec<Keep> = vec![Box::new(self.metrics.stream_started())];
        Ok(ohttp_response(
            CHUNKED_RESPONSE,
            Tracked::new(sealing, keep).boxed_unsync(),
        ))
    }
}

/// A response the gateway makes itself (ping, allow-list refusals): known length, so plain.
fn local(
    context: &ResponseContext,
    status: u16,
    body: &'static str,
) -> Result<Response<EdgeBody>, Reject> {
    let fields = vec![openpcc_bhttp::Field::new(
        "content-type",
        "text/plain; charset=utf-8",
    )];
    let response = openpcc_bhttp::Response {
        status,
        headers: fields,
        content: body.as_bytes().to_vec(),
        ..Default::default()
    };
    seal_known_length(context, &response)
}

/// Chunked responses: one sealed chunk per upstream piece (at most the reference's 532 bytes of
/// plaintext each), so each token reaches the client as soon as the upstream sends it.
fn response_sealer_options() -> SealerOptions {
    SealerOptions {
        max_chunk_len: REFERENCE_CHUNK_LEN,
        fixed_chunk_len: None,
    }
}

fn ohttp_response(content_type: &'static str, body: EdgeBody) -> Response<EdgeBody> {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Known-length BHTTP, padded to a multiple of 532 (spec §2.6), sealed as `message/ohttp-res`.
fn seal_known_length(
    context: &ResponseContext,
    response: &openpcc_bhttp::Response,
) -> Result<Response<EdgeBody>, Reject> {
    let normalized = openpcc_bhttp::normalize::normalize_response(response, false)
        .map_err(|_| Reject::Upstream)?;
    let options = EncodeOptions::new(false, Some(REFERENCE_CHUNK_LEN));
    let encoded =
        openpcc_bhttp::encode_response(&normalized, &options).map_err(|_| Reject::Upstream)?;
    let sealed = context
        .encapsulate_response(&encoded)
        .map_err(|_| Reject::Internal)?;
    Ok(ohttp_response(PLAIN_RESPONSE, full(sealed)))
}

/// The encapsulated key of a request that opened: after the 7-byte header, `enc_len` bytes.
fn encapsulated_key<'a>(key: &GatewayKey, request: &'a [u8]) -> &'a [u8] {
    let end = HEADER_LEN + key.key_config().kem().enc_len();
    request.get(HEADER_LEN..end).unwrap_or_default()
}

/// Opens a chunked request and decodes its inner BHTTP as bytes arrive.
struct ChunkedReader {
    key: GatewayKey,
    /// The request header and encapsulated key, kept as they arrive (for the replay guard).
    prefix: Vec<u8>,
    opener: ChunkedRequestOpener,
    decoder: StreamDecoder,
    events: VecDeque<Event>,
    /// The inner message's end was decoded (padding may follow).
    ended: bool,
}

impl ChunkedReader {
    fn new(key: GatewayKey, max_chunk: usize) -> Self {
        let config = DecoderConfig {
            expect: Some(Kind::Request),
            ..DecoderConfig::default()
        };
        Self {
            key: key.clone(),
            prefix: Vec::new(),
            opener: ChunkedRequestOpener::new(key, max_chunk),
            decoder: StreamDecoder::new(config),
            events: VecDeque::new(),
            ended: false,
        }
    }

    fn opener_key(&self) -> &GatewayKey {
        &self.key
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), Reject> {
        self.keep_prefix(data);
        let mut plaintexts = Vec::new();
        self.opener
            .push(data, &mut plaintexts)
            .map_err(|e| ohttp_reject(&e))?;
        for pt in plaintexts {
            let events = self
                .decoder
                .feed(&pt)
                .map_err(|_| Reject::Request("inner request is not binary http"))?;
            self.events.extend(events);
        }
        Ok(())
    }

    /// Keeps the first bytes of the stream, up to the end of the encapsulated key, whatever the
    /// pieces they arrive in.
    fn keep_prefix(&mut self, data: &[u8]) {
        let wanted = HEADER_LEN + self.key.key_config().kem().enc_len();
        let take = wanted.saturating_sub(self.prefix.len()).min(data.len());
        self.prefix.extend_from_slice(&data[..take]);
    }

    /// The encapsulated key (complete once the first chunk opened).
    fn enc(&self) -> &[u8] {
        self.prefix.get(HEADER_LEN..).unwrap_or_default()
    }

    fn finish(&mut self) -> Result<(), Reject> {
        let last = self.opener.finish().map_err(|e| ohttp_reject(&e))?;
        let events = self
            .decoder
            .feed(&last)
            .map_err(|_| Reject::Request("inner request is not binary http"))?;
        self.events.extend(events);
        let events = self
            .decoder
            .finish()
            .map_err(|_| Reject::Request("inner request truncated"))?;
        self.events.extend(events);
        Ok(())
    }

    fn take_head(&mut self) -> Option<openpcc_bhttp::Request> {
        match self.events.front() {
            Some(Event::Head(Head::Request(_))) => match self.events.pop_front() {
                Some(Event::Head(Head::Request(r))) => Some(r),
                _ => None,
            },
            _ => None,
        }
    }

    /// Sends the decoded events upstream; the body ends only after the final chunk authenticated.
    async fn drain(&mut self, tx: &tokio::sync::mpsc::Sender<Piece>) -> Result<(), ()> {
        while let Some(event) = self.events.pop_front() {
            let frame = match event {
                Event::BodyChunk(data) => Frame::data(Bytes::from(data)),
                Event::Trailers(fields) if !fields.is_empty() => {
                    Frame::trailers(inner::trailer_map(&fields))
                }
                Event::End => {
                    self.ended = true;
                    continue;
                }
                _ => continue,
            };
            tx.send(Piece::Frame(frame)).await.map_err(|_| ())?;
        }
        Ok(())
    }

    async fn pump(
        mut self,
        mut body: Limited<Incoming>,
        tx: tokio::sync::mpsc::Sender<Piece>,
        invalid: LimitFlag,
    ) {
        let fail = |why: BodyError| Piece::Fail(Box::new(why));
        loop {
            if self.drain(&tx).await.is_err() {
                return; // upstream stopped reading
            }
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if self.feed(&data).is_err() {
                            invalid.set();
                            let _ = tx.send(fail(BodyError::Abandoned)).await;
                            return;
                        }
                    }
                }
                Some(Err(_)) => {
                    invalid.set();
                    let _ = tx.send(fail(BodyError::Incoming)).await;
                    return;
                }
                None => break,
            }
        }
        let finished = self.finish();
        match (finished, self.drain(&tx).await) {
            (Ok(()), Ok(())) if self.ended => {
                let _ = tx.send(Piece::End).await;
            }
            _ => {
                invalid.set();
                let _ = tx.send(fail(BodyError::Abandoned)).await;
            }
        }
    }
}

/// Turns an upstream response body into chunked OHTTP: BHTTP indeterminate-length framing, one
/// sealed chunk per upstream piece, trailers and the final chunk at the end. An upstream failure
/// ends the stream without a final chunk, which the client detects as truncation.
struct SealingBody {
    upstream: Incoming,
    sealer: ChunkedResponseSealer,
    ready: Option<Bytes>,
    trailers: Vec<openpcc_bhttp::Field>,
    done: bool,
}

impl SealingBody {
    fn seal(&mut self, pt: &[u8]) -> Result<Bytes, BoxError> {
        let mut out = Vec::new();
        self.sealer.push(pt, &mut out)?;
        Ok(Bytes::from(out.concat()))
    }

    fn end(&mut self) -> Result<Bytes, BoxError> {
        let mut out = Vec::new();
        self.sealer
            .push(&StreamingResponse::end(&self.trailers), &mut out)?;
        self.sealer.finish(&mut out)?;
        Ok(Bytes::from(out.concat()))
    }
}

impl Body for SealingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(bytes) = this.ready.take() {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(_))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(Box::new(BodyError::Incoming))));
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) => {
                        let mut pt = Vec::with_capacity(data.len() + 8);
                        StreamingResponse::chunk(&data, &mut pt);
                        this.ready = Some(this.seal(&pt)?);
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            this.trailers = inner::response_fields(&trailers, true);
                        }
                    }
                },
                Poll::Ready(None) => {
                    this.done = true;
                    this.ready = Some(this.end()?);
                }
            }
        }
    }
}
