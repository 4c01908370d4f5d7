//! The gateway work of `benches/edge_stacks.py` on actix-web 4 (server) and awc (client), one
//! worker: decapsulate a plain OHTTP request, check the inner host, forward the inner request to
//! the upstream, seal the answer (Binary HTTP padded to 532). Same OHTTP/BHTTP calls as the
//! openpcc gateway. Loopback only; prints `listening on http://ADDR` once bound.
//!
//! `edge-stacks-rs --kem 32|48 --seed HEX --upstream http://127.0.0.1:PORT`

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use openpcc_bhttp::{DecoderConfig, EncodeOptions, Field, Kind};
use openpcc_ohttp::{Aead, GatewayKey, Kdf, Kem, SymmetricSuite, REFERENCE_CHUNK_LEN};

const ALLOWED_HOSTS: [&[u8]; 2] = [b"confsec-bank.invalid", b"confsec-router.invalid"];

struct Shared {
    key: GatewayKey,
    upstream: String,
}

fn refuse(status: u16, reason: &'static str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or_default();
    HttpResponse::build(status).body(reason)
}

async fn gateway(request: HttpRequest, body: web::Bytes, shared: web::Data<Shared>, client: web::Data<awc::Client>) -> HttpResponse {
    if request.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()) != Some(b"message/ohttp-req") {
        return refuse(415, "content type must be message/ohttp-req");
    }
    let Ok((inner, context)) = shared.key.decapsulate_request(&body) else {
        return refuse(400, "malformed encapsulated request");
    };
    let config = DecoderConfig { expect: Some(Kind::Request), ..DecoderConfig::default() };
    let Ok(head) = openpcc_bhttp::decode_request(&inner, &config) else {
        return refuse(400, "inner request is not binary http");
    };
    if !ALLOWED_HOSTS.contains(&head.authority.as_slice()) {
        return refuse(400, "inner host not allowed");
    }
    let (Ok(method), Ok(path)) = (actix_web::http::Method::from_bytes(&head.method), std::str::from_utf8(&head.path)) else {
        return refuse(400, "inner request line");
    };
    let mut forward = client.request(method, format!("{}{path}", shared.upstream));
    for field in &head.headers {
        if let (Ok(name), Ok(value)) = (std::str::from_utf8(&field.name), std::str::from_utf8(&field.value)) {
            forward = forward.insert_header((name, value));
        }
    }
    let Ok(mut answer) = forward.send_body(head.content).await else {
        return refuse(502, "upstream failed");
    };
    let Ok(content) = answer.body().limit(16 << 20).await else {
        return refuse(502, "upstream failed");
    };
    let headers = answer
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "content-length" | "connection" | "date" | "server"))
        .map(|(name, value)| Field::new(name.as_str(), value.as_bytes()))
        .collect();
    let response = openpcc_bhttp::Response { status: answer.status().as_u16(), headers, content: content.to_vec(), ..Default::default() };
    let Ok(normalized) = openpcc_bhttp::normalize::normalize_response(&response, false) else {
        return refuse(502, "upstream response");
    };
    let Ok(encoded) = openpcc_bhttp::encode_response(&normalized, &EncodeOptions::new(false, Some(REFERENCE_CHUNK_LEN))) else {
        return refuse(502, "upstream response");
    };
    match context.encapsulate_response(&encoded) {
        Ok(sealed) => HttpResponse::Ok().content_type("message/ohttp-res").body(sealed),
        Err(_) => refuse(500, "internal error"),
    }
}

fn arg(name: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name).unwrap_or_else(|| panic!("missing {name}"));
    args.get(at + 1).cloned().unwrap_or_else(|| panic!("missing value of {name}"))
}

fn main() -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(serve())
}

async fn serve() -> std::io::Result<()> {
    let kem = match arg("--kem").as_str() {
        "32" => Kem::X25519,
        "48" => Kem::X25519Kyber768Draft00,
        other => panic!("unknown kem {other}"),
    };
    let seed = hex::decode(arg("--seed")).expect("--seed is hex");
    let suite = vec![SymmetricSuite { kdf: Kdf::HkdfSha256, aead: Aead::Aes128Gcm }];
    let key = GatewayKey::from_seed(1, kem, &seed, suite).expect("seed");
    let shared = web::Data::new(Shared { key, upstream: arg("--upstream") });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .app_data(web::Data::new(awc::Client::default()))
            .route("/", web::post().to(gateway))
    })
    .workers(1)
    .backlog(1024)
    .bind(("127.0.0.1", 0))?;
    let addr = server.addrs()[0];
    println!("listening on http://{addr}");
    server.run().await
}
