//! Body plumbing shared by both roles: a size- and idle-limited incoming body, a response body that
//! holds guards while it streams, and a channel body for bodies produced by a task.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use crate::metrics::Metrics;

/// Error type of every body here.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type of every response and forwarded request.
pub type EdgeBody = UnsyncBoxBody<Bytes, BoxError>;

/// Why a body stopped early. The text never carries a byte of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// More bytes than the configured limit.
    TooLarge,
    /// No byte for longer than the idle timeout.
    Idle,
    /// The producer went away without finishing the body.
    Abandoned,
    /// The incoming connection failed.
    Incoming,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "body larger than the limit",
            Self::Idle => "body idle for too long",
            Self::Abandoned => "body abandoned before its end",
            Self::Incoming => "incoming body failed",
        })
    }
}

impl std::error::Error for BodyError {}

/// A body of one buffer.
pub fn full(bytes: impl Into<Bytes>) -> EdgeBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
#[must_use]
pub fn empty() -> EdgeBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Records which limit an incoming body hit, for the handler to choose the status.
#[derive(Clone, Default)]
pub struct LimitFlag(Arc<AtomicBool>);

impl LimitFlag {
    pub(crate) fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// `true` once the body exceeded its size limit.
    #[must_use]
    pub fn too_large(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// An incoming body cut at `limit` bytes and at `idle` without progress.
pub struct Limited<B> {
    inner: B,
    remaining: u64,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    flag: LimitFlag,
    metrics: Arc<Metrics>,
}

impl<B> Limited<B> {
    /// Wraps `inner`; `flag` reports a size overrun.
    pub fn new(
        inner: B,
        limit: u64,
        idle: Duration,
        flag: LimitFlag,
        metrics: Arc<Metrics>,
    ) -> Self {
        let timer = Box::pin(tokio::time::sleep(idle));
        Self {
            inner,
            remaining: limit,
            idle,
            timer,
            flag,
            metrics,
        }
    }
}

impl<B> Body for Limited<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(BodyError::Idle))));
                }
                Poll::Pending
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(_))) => Poll::Ready(Some(Err(Box::new(BodyError::Incoming)))),
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = Instant::now() + this.idle;
                this.timer.as_mut().reset(deadline);
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        this.flag.set();
                        return Poll::Ready(Some(Err(Box::new(BodyError::TooLarge))));
                    }
                    this.remaining -= len;
                    this.metrics.add_bytes_received(len);
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Anything a streaming response must keep alive until its last byte (permits, metric guards).
pub type Keep = Box<dyn Send + 'static>;

/// A response body that holds `keep` until it is dropped.
pub struct Tracked<B> {
    inner: B,
    _keep: Vec<Keep>,
}

impl<B> Tracked<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, keep: Vec<Keep>) -> Self {
        Self { inner, _keep: keep }
    }
}

impl<B> Body for Tracked<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Every response body as it leaves the server: counts the bytes sent (never their content).
pub struct Counted {
    inner: EdgeBody,
    metrics: Arc<Metrics>,
}

impl Counted {
    /// Wraps `inner`.
    #[must_use]
    pub fn new(inner: EdgeBody, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

impl Body for Counted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.metrics.add_bytes_sent(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What a producer task sends into a [`ChannelBody`]. The body ends cleanly only on `End`: a
/// producer that disappears without it makes the body fail, so a cut stream never looks complete.
pub enum Piece {
    /// Data or trailers.
    Frame(Frame<Bytes>),
    /// The producer finished successfully.
    End,
    /// The producer failed.
    Fail(BoxError),
}

/// A body fed by a task through a bounded channel (the bound gives back-pressure).
pub struct ChannelBody {
    rx: mpsc::Receiver<Piece>,
    ended: bool,
}

impl ChannelBody {
    /// A channel of `depth` pieces and its body.
    #[must_use]
    pub fn new(depth: usize) -> (mpsc::Sender<Piece>, Self) {
        let (tx, rx) = mpsc::channel(depth);
        (tx, Self { rx, ended: false })
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Piece::Frame(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(Some(Piece::End)) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Piece::Fail(err))) => {
                self.ended = true;
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(Some(Err(Box::new(BodyError::Abandoned))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }
}
