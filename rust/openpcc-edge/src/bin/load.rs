//! `openpcc-edge-load`: a bounded HTTP/1.1 load generator for the edge benchmarks (loopback only).
//!
//! ```text
//! openpcc-edge-load --url http://127.0.0.1:PORT/ --bodies FILE --content-type TYPE
//!                   [--concurrency N] [--seconds S] [--warmup S]
//! ```
//! `FILE` holds request bodies as `u32 BE length || bytes`, sent round-robin on `N` keep-alive
//! connections for `S` seconds after `warmup`. Prints one JSON line: requests, errors, seconds,
//! requests per second, p50/p99 latency in ms, request and response MB/s.
//!
//! `openpcc-edge-load --echo 127.0.0.1:0` instead runs an upstream that answers every request with
//! its body (known length), printing `listening on http://ADDR`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

struct Args {
    addr: SocketAddr,
    path: String,
    bodies: Vec<Bytes>,
    content_type: String,
    concurrency: usize,
    seconds: f64,
    warmup: f64,
}

fn usage(msg: &str) -> ! {
    eprintln!("openpcc-edge-load: {msg}");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let (mut url, mut file, mut ctype) = (None, None, "message/ohttp-req".to_owned());
    let (mut concurrency, mut seconds, mut warmup) = (16usize, 5.0f64, 1.0f64);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage("missing value"));
        match flag.as_str() {
            "--url" => url = Some(value),
            "--bodies" => file = Some(value),
            "--content-type" => ctype = value,
            "--concurrency" => {
                concurrency = value.parse().unwrap_or_else(|_| usage("--concurrency"));
            }
            "--seconds" => seconds = value.parse().unwrap_or_else(|_| usage("--seconds")),
            "--warmup" => warmup = value.parse().unwrap_or_else(|_| usage("--warmup")),
            _ => usage("unknown flag"),
        }
    }
    if !(1..=1024).contains(&concurrency)
        || !(0.1..=120.0).contains(&seconds)
        || !(0.0..=30.0).contains(&warmup)
    {
        usage("concurrency 1..=1024, seconds 0.1..=120, warmup 0..=30");
    }
    let url: hyper::Uri = url
        .unwrap_or_else(|| usage("--url"))
        .parse()
        .unwrap_or_else(|_| usage("bad --url"));
    let authority = url
        .authority()
        .unwrap_or_else(|| usage("--url needs host:port"));
    let addr: SocketAddr = authority
        .as_str()
        .parse()
        .unwrap_or_else(|_| usage("--url host must be an IP:port"));
    if !addr.ip().is_loopback() {
        usage("load goes to loopback only");
    }
    let raw = std::fs::read(file.unwrap_or_else(|| usage("--bodies")))
        .unwrap_or_else(|_| usage("cannot read --bodies"));
    let mut bodies = Vec::new();
    let mut rest = &raw[..];
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(body) = rest.get(4..4 + len) else {
            usage("truncated --bodies file")
        };
        bodies.push(Bytes::copy_from_slice(body));
        rest = &rest[4 + len..];
    }
    if bodies.is_empty() {
        usage("no bodies");
    }
    Args {
        addr,
        path: url.path().to_owned(),
        bodies,
        content_type: ctype,
        concurrency,
        seconds,
        warmup,
    }
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    sent_bytes: u64,
    received_bytes: u64,
}

async fn worker(args: Arc<Args>, index: usize, measure_from: Instant, until: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut n = index;
    'connections: while Instant::now() < until {
        let Ok(stream) = tokio::net::TcpStream::connect(args.addr).await else {
            tally.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await
        else {
            tally.errors += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < until {
            let body = args.bodies[n % args.bodies.len()].clone();
            n += args.concurrency;
            let sent = body.len() as u64;
            let request = hyper::Request::post(args.path.as_str())
                .header("host", args.addr.to_string())
                .header("content-type", args.content_type.as_str())
                .body(Full::new(body));
            let Ok(request) = request else {
                break 'connections;
            };
            let began = Instant::now();
            let outcome = async {
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let ok = response.status().is_success();
                let bytes = response.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>((ok, bytes.len() as u64))
            }
            .await;
            let done = Instant::now();
            let counted = began >= measure_from;
            match outcome {
                Ok((true, received)) if counted => {
                    tally.latencies_us.push(
                        u32::try_from(done.duration_since(began).as_micros()).unwrap_or(u32::MAX),
                    );
                    tally.sent_bytes += sent;
                    tally.received_bytes += received;
                }
                Ok((true, _)) => {}
                Ok((false, _)) => tally.errors += u64::from(counted),
                Err(_) => {
                    tally.errors += u64::from(counted);
                    continue 'connections;
                }
            }
        }
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

/// The echo upstream: one current-thread runtime, each request answered with its own body.
fn echo(listen: &str) -> ! {
    let addr: SocketAddr = listen
        .parse()
        .unwrap_or_else(|_| usage("--echo takes IP:port"));
    if !addr.ip().is_loopback() {
        usage("--echo binds loopback only");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|_| usage("runtime"));
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|_| usage("cannot bind"));
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| usage("no local address"));
        println!("listening on http://{local}");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: hyper::Request<hyper::body::Incoming>| async move {
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(http_body_util::Collected::to_bytes)
                            .unwrap_or_default();
                        hyper::Response::builder()
                            .header("content-type", "application/octet-stream")
                            .body(Full::new(body))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

fn main() {
    let raw_args: Vec<String> = std::env::args().collect();
    if raw_args.get(1).map(String::as_str) == Some("--echo") {
        echo(raw_args.get(2).map_or("127.0.0.1:0", String::as_str));
    }
    let args = Arc::new(parse_args());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|_| usage("runtime"));
    let tallies = runtime.block_on(async {
        let start = Instant::now();
        let measure_from = start + Duration::from_secs_f64(args.warmup);
        let until = measure_from + Duration::from_secs_f64(args.seconds);
        let tasks: Vec<_> = (0..args.concurrency)
            .map(|i| tokio::spawn(worker(args.clone(), i, measure_from, until)))
            .collect();
        let mut tallies = Vec::new();
        for task in tasks {
            if let Ok(t) = task.await {
                tallies.push(t);
            }
        }
        tallies
    });
    let mut latencies: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let sent: u64 = tallies.iter().map(|t| t.sent_bytes).sum();
    let received: u64 = tallies.iter().map(|t| t.received_bytes).sum();
    #[allow(clippy::cast_precision_loss)]
    let (count, mb) = (latencies.len() as f64, 1e6 * args.seconds);
    #[allow(clippy::cast_precision_loss)]
    let line = format!(
        r#"{{"requests":{},"errors":{errors},"seconds":{},"rps":{:.1},"p50_ms":{:.3},"p99_ms":{:.3},"request_mb_s":{:.2},"response_mb_s":{:.2}}}"#,
        latencies.len(),
        args.seconds,
        count / args.seconds,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        sent as f64 / mb,
        received as f64 / mb,
    );
    println!("{line}");
}
