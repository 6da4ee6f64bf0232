//! Token-bucket throttling in front of an axum router: `cargo run --example throttle`.
//!
//! Two levels, as API Gateway stacks them: a per-client-IP bucket outermost
//! (5 requests at once, 1 per second after), and a per-route bucket for
//! `POST /orders` (2 at once, 1 every 2 s). The program sends requests in
//! process and prints what each level answered, with the `Retry-After` and
//! `RateLimit` headers.

#![allow(clippy::print_stdout)]

use std::net::SocketAddr;

use apigw::throttle::{KeySource, TokenBucketThrottleLayer};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use tower::ServiceExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let per_client = TokenBucketThrottleLayer::builder()
        .name("client")
        .key(KeySource::ClientIp)
        .trusted_proxies(["10.0.0.0/8"])
        .rate(1.0)
        .burst(5)
        .rate_limit_headers(true)
        .build()?;
    let per_method = TokenBucketThrottleLayer::builder()
        .name("method")
        .key(KeySource::Route)
        .route("/orders/POST", 0.5, 2)
        .build()?;
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route("/orders", post(|| async { "created" }))
        .route_layer(per_method)
        .layer(per_client);

    let peer: SocketAddr = "198.51.100.7:50000".parse()?;
    for (method, path) in [("POST", "/orders"); 3]
        .into_iter()
        .chain([("GET", "/orders"); 3])
    {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .extension(ConnectInfo(peer))
            .body(axum::body::Body::empty())?;
        let response = app.clone().oneshot(request).await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        println!(
            "{method:4} {path}: {} retry-after={} ratelimit={}",
            response.status(),
            header("retry-after"),
            header("ratelimit"),
        );
    }
    Ok(())
}
