//! A running edge server: its own Tokio runtime, the listener, one task per connection, graceful
//! shutdown that lets in-flight streams finish up to a deadline.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::{watch, Semaphore};

use crate::body::Counted;
use crate::config::{secs, EdgeConfig, Role};
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::Error;

enum Handler {
    Relay(Relay),
    Gateway(Gateway),
}

impl Handler {
    async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
        peer: IpAddr,
    ) -> hyper::Response<crate::body::EdgeBody> {
        match self {
            Self::Relay(relay) => relay.handle(request, peer).await,
            Self::Gateway(gateway) => gateway.handle(request).await,
        }
    }
}

/// What [`Server::status`] reports.
#[derive(Clone, Debug)]
pub struct Status {
    /// `"relay"` or `"gateway"`.
    pub role: &'static str,
    /// The bound address (the real port when 0 was asked).
    pub local_addr: SocketAddr,
    /// `false` once [`Server::stop`] ran.
    pub running: bool,
    /// Responses still streaming.
    pub active_streams: u64,
    /// Open client connections.
    pub open_connections: u64,
    /// Requests answered so far.
    pub requests_total: u64,
    /// Gateway only: keys accepted right now.
    pub active_keys: Option<usize>,
}

/// A server that owns its runtime.
pub struct Server {
    runtime: Option<Runtime>,
    local_addr: SocketAddr,
    role: &'static str,
    shutdown: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    handler: Arc<Handler>,
}

impl Server {
    /// Builds the runtime, binds, starts serving; returns once the listener is bound.
    pub fn start(config: &EdgeConfig) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.workers)
            .thread_name(format!("openpcc-{}", config.role_name()))
            .enable_all()
            .build()
            .map_err(Error::Io)?;
        let metrics = Arc::new(Metrics::default());
        let idle = secs(config.body_idle_timeout_secs);
        let handler = Arc::new(match &config.role {
            Role::Relay(relay) => Handler::Relay(Relay::new(relay, idle, metrics.clone())?),
            Role::Gateway(gateway) => {
                Handler::Gateway(Gateway::new(gateway, idle, metrics.clone())?)
            }
        });
        let listener = std::net::TcpListener::bind(config.listen).map_err(Error::Bind)?;
        listener.set_nonblocking(true).map_err(Error::Io)?;
        let local_addr = listener.local_addr().map_err(Error::Io)?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener).map_err(Error::Io)?
        };
        let (shutdown, watcher) = watch::channel(false);
        let serving = Serving {
            handler: handler.clone(),
            metrics: metrics.clone(),
            header_timeout: secs(config.header_timeout_secs),
            connections: Arc::new(Semaphore::new(config.max_connections)),
        };
        runtime.spawn(serving.accept_loop(listener, watcher.clone()));
        if let (Handler::Gateway(gateway), Role::Gateway(settings)) = (&*handler, &config.role) {
            let keys = gateway.keys().clone();
            runtime.spawn(reload_keys(keys, secs(settings.key_reload_secs), watcher));
        }
        Ok(Self {
            runtime: Some(runtime),
            local_addr,
            role: config.role_name(),
            shutdown,
            metrics,
            handler,
        })
    }

    /// The bound address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counters for supervision (no address, no body).
    #[must_use]
    pub fn status(&self) -> Status {
        let active_keys = match &*self.handler {
            Handler::Gateway(g) => Some(g.keys().current().active_count(crate::keys::now_secs())),
            Handler::Relay(_) => None,
        };
        Status {
            role: self.role,
            local_addr: self.local_addr,
            running: self.runtime.is_some(),
            active_streams: self.metrics.active_streams(),
            open_connections: self.metrics.open_connections(),
            requests_total: self.metrics.requests_total(),
            active_keys,
        }
    }

    /// Stops accepting, lets open requests finish for at most `deadline`, then stops the runtime.
    /// Returns the number of connections that were still open at the deadline (0: clean).
    pub fn stop(&mut self, deadline: Duration) -> u64 {
        let Some(runtime) = self.runtime.take() else {
            return 0;
        };
        let _ = self.shutdown.send(true);
        let until = Instant::now() + deadline;
        while self.metrics.open_connections() > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let left = self.metrics.open_connections();
        runtime.shutdown_timeout(Duration::from_millis(100));
        left
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(1));
    }
}

struct Serving {
    handler: Arc<Handler>,
    metrics: Arc<Metrics>,
    header_timeout: Duration,
    connections: Arc<Semaphore>,
}

impl Serving {
    async fn accept_loop(self, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
        loop {
            let permit = tokio::select! {
                _ = shutdown.changed() => return,
                permit = self.connections.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let accepted = tokio::select! {
                _ = shutdown.changed() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, peer)) = accepted else {
                // Out of descriptors or a reset before accept: back off briefly, keep serving.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handler = self.handler.clone();
            let metrics = self.metrics.clone();
            let header_timeout = self.header_timeout;
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                metrics.connection_opened();
                serve_connection(
                    stream,
                    peer,
                    handler,
                    metrics.clone(),
                    header_timeout,
                    shutdown,
                )
                .await;
                metrics.connection_closed();
                drop(permit);
            });
        }
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    handler: Arc<Handler>,
    metrics: Arc<Metrics>,
    header_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let ip = peer.ip();
    let service = service_fn(move |request| {
        let handler = handler.clone();
        let metrics = metrics.clone();
        async move {
            let response = handler.handle(request, ip).await;
            Ok::<_, Infallible>(response.map(|body| Counted::new(body, metrics)))
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    if *shutdown.borrow() {
        connection.as_mut().graceful_shutdown();
    }
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

async fn reload_keys(
    keys: Arc<crate::keys::KeyStore>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                let keys = keys.clone();
                let _ = tokio::task::spawn_blocking(move || keys.refresh()).await;
            }
        }
    }
}
