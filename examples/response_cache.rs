//! The response cache in front of an axum API: `cargo run --example response_cache`.
//!
//! Sends requests in-process and prints what the cache did: a miss, a hit
//! with its `Age`, two callers kept apart by their identity, and an
//! unauthorized `Cache-Control: max-age=0` answered 403 (`FAIL_WITH_403`).
//! No network, no external service.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apigw::identity::JwtClaims;
use apigw::response_cache::{ResponseCacheLayer, UnauthorizedCacheControlHeaderStrategy};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend_calls = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&backend_calls);
    let cache = ResponseCacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .cache_key_parameters(["method.request.querystring.currency".parse()?])
        .unauthorized_cache_control_header_strategy(
            UnauthorizedCacheControlHeaderStrategy::FailWith403,
        )
        .build()?;
    let app = Router::new()
        .route(
            "/prices",
            get(move |claims: Option<JwtClaims>| {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                let who = claims
                    .and_then(|c| c.subject().map(str::to_owned))
                    .unwrap_or_else(|| "anonymous".into());
                async move { format!("prices for {who} (backend call {n})") }
            }),
        )
        .layer(cache.clone());

    let as_user = |sub: &str, request: &mut Request<Body>| {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), sub.into());
        request
            .extensions_mut()
            .insert(JwtClaims::new(claims, vec![]));
    };

    for (label, user, invalidate) in [
        ("anonymous, first", None, false),
        ("anonymous, again", None, false),
        ("alice", Some("alice"), false),
        ("bob", Some("bob"), false),
        ("alice, again", Some("alice"), false),
        ("anonymous, max-age=0", None, true),
    ] {
        let mut request = Request::get("/prices?currency=EUR").body(Body::empty())?;
        if let Some(user) = user {
            as_user(user, &mut request);
        }
        if invalidate {
            request
                .headers_mut()
                .insert("cache-control", "max-age=0".parse()?);
        }
        let response = app.clone().oneshot(request).await?;
        let status = response.status();
        let x_cache = response
            .headers()
            .get("x-cache")
            .map_or("-", |v| v.to_str().unwrap_or("?"))
            .to_owned();
        let body = response.into_body().collect().await?.to_bytes();
        println!(
            "{label:<22} {status} X-Cache: {x_cache:<4} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let stats = cache.stats();
    println!(
        "\nbackend calls: {}; hits {}, misses {}, stores {}",
        backend_calls.load(Ordering::SeqCst),
        stats.hits,
        stats.misses,
        stats.stores
    );
    Ok(())
}
