//! The remote key set against a scripted JWKS / OIDC server on 127.0.0.1
//! that counts what it served: one named test per SECURITY.md §A2 class
//! (K1–K7), plus refresh, discovery and a 64-task rotation run.
//!
//! Token times and key-set ages run on a `ManualClock`; the network is
//! real. Nothing sleeps: waits are on the server's counters.
#![cfg(feature = "jwt")]

mod jwt_support;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use apigw::clock::ManualClock;
use apigw::jwt::{Issuer, JwtAuthorizerLayer, JwtAuthorizerLayerBuilder, JwtErrorKind as K};
use axum::body::Body;
use http::{Request, StatusCode};
use jwt_support::*;
use serde_json::json;
use tower::{Layer, Service, ServiceExt};

fn remote(
    server: &JwksServer,
    clock: &ManualClock,
    edit: impl FnOnce(JwtAuthorizerLayerBuilder) -> JwtAuthorizerLayerBuilder,
) -> JwtAuthorizerLayer {
    let builder = JwtAuthorizerLayer::builder()
        .issuer(Issuer::new(ISS).audience(AUD).jwks_url(server.url()))
        .leeway(Duration::ZERO)
        .with_clock(Arc::new(clock.clone()));
    edit(builder).build().unwrap()
}

/// A layer whose keys come from OIDC discovery on `server`.
fn discovering(server: &JwksServer, clock: &ManualClock) -> JwtAuthorizerLayer {
    JwtAuthorizerLayer::builder()
        .issuer(Issuer::new(server.issuer()).audience(AUD))
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

async fn send(layer: &JwtAuthorizerLayer, token: &str) -> Answer {
    let response = layer
        .layer(Backend::default().service())
        .oneshot(request(token))
        .await
        .unwrap();
    answer(response).await
}

async fn status(layer: &JwtAuthorizerLayer, token: &str) -> (StatusCode, Option<K>) {
    let answer = send(layer, token).await;
    (answer.status, answer.kind)
}

/// A token for `kid` with a signature no key makes: refused without a
/// signature check when the kid is unknown.
fn token_for_kid(kid: &str, clock: &ManualClock) -> String {
    format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256", "kid": kid}).to_string()),
        b64(claims(clock).to_string())
    )
}

/// Waits (yielding, never sleeping) until the server has served `n` JWKS
/// requests.
async fn served(server: &JwksServer, n: usize) {
    let reached = tokio::time::timeout(Duration::from_secs(10), async {
        while server.hits() < n {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "server served {} requests, expected {n}",
        server.hits()
    );
}

/// Sends fresh tokens (each may start a due background refresh) until the
/// server has served `n` JWKS requests: a refresh still in flight from an
/// earlier request holds a new one back.
async fn refresh_reaches(
    layer: &JwtAuthorizerLayer,
    key: &TestKey,
    clock: &ManualClock,
    server: &JwksServer,
    n: usize,
) {
    let reached = tokio::time::timeout(Duration::from_secs(10), async {
        let mut i = 0;
        while server.hits() < n {
            i += 1;
            let token = key.sign(&claims_with(clock, json!({"sub": format!("probe-{i}")})));
            assert_eq!(status(layer, &token).await, OK);
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "server served {} requests, expected {n}",
        server.hits()
    );
}

const OK: (StatusCode, Option<K>) = (StatusCode::OK, None);
const UNKNOWN: (StatusCode, Option<K>) = (StatusCode::UNAUTHORIZED, Some(K::InvalidSignature));
const UNAVAILABLE: (StatusCode, Option<K>) =
    (StatusCode::INTERNAL_SERVER_ERROR, Some(K::KeysUnavailable));

#[tokio::test]
async fn first_request_fetches_the_key_set_and_later_ones_reuse_it() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let server = JwksServer::start(Script::Serve(jwks(&[&key]), None)).await;
    let layer = remote(&server, &clock, |b| b);
    for sub in ["a", "b", "c"] {
        let token = key.sign(&claims_with(&clock, json!({"sub": sub})));
        assert_eq!(status(&layer, &token).await, OK);
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn k1_random_kid_flood_costs_one_fetch_per_cooldown() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let server = JwksServer::start(Script::Serve(jwks(&[&key]), None)).await;
    let layer = remote(&server, &clock, |b| b);
    assert_eq!(status(&layer, &key.sign(&claims(&clock))).await, OK);
    assert_eq!(server.hits(), 1);
    clock.advance(Duration::from_secs(31));
    for i in 0..10_000 {
        let kid = format!("random-{i}-{}", i * 7919 % 10_007);
        assert_eq!(status(&layer, &token_for_kid(&kid, &clock)).await, UNKNOWN);
    }
    assert_eq!(
        server.hits(),
        2,
        "10,000 unknown kids in one second: one refetch"
    );
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        status(&layer, &token_for_kid("again", &clock)).await,
        UNKNOWN
    );
    assert_eq!(server.hits(), 3, "one more per cooldown");
}

#[tokio::test]
async fn k1_concurrent_unknown_kids_share_one_fetch() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(2, "k2");
    let server = JwksServer::start(Script::Serve(jwks(&[&key]), None)).await;
    let layer = remote(&server, &clock, |b| b);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let token = key.sign(&claims_with(&clock, json!({"sub": format!("user-{i}")})));
        let layer = layer.clone();
        tasks.spawn(async move { status(&layer, &token).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap(), OK);
    }
    assert_eq!(server.hits(), 1, "single flight");
}

#[tokio::test]
async fn k1_rotation_is_accepted_within_one_cooldown() {
    let clock = ManualClock::new();
    let (old, new) = (TestKey::rsa(1, "old"), TestKey::rsa(2, "new"));
    let server = JwksServer::start(Script::Serve(jwks(&[&old]), None)).await;
    let layer = remote(&server, &clock, |b| b);
    assert_eq!(status(&layer, &old.sign(&claims(&clock))).await, OK);
    server.set(Script::Serve(jwks(&[&old, &new]), None));
    clock.advance(Duration::from_secs(5));
    let rotated = new.sign(&claims(&clock));
    assert_eq!(
        status(&layer, &rotated).await,
        UNKNOWN,
        "inside the cooldown"
    );
    assert_eq!(server.hits(), 1);
    clock.advance(Duration::from_secs(25));
    assert_eq!(
        status(&layer, &rotated).await,
        OK,
        "one cooldown after the last fetch"
    );
    assert_eq!(server.hits(), 2);
    assert_eq!(
        status(&layer, &old.sign(&claims(&clock))).await,
        OK,
        "overlap keeps the old key"
    );
}

#[tokio::test]
async fn k2_outage_keeps_cached_keys_for_the_stale_window_then_fails_closed() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let server = JwksServer::start(Script::Serve(jwks(&[&key]), None)).await;
    let layer = remote(&server, &clock, |b| {
        b.stale_window(Duration::from_secs(3600))
    });
    let token = |clock: &ManualClock, sub: &str| key.sign(&claims_with(clock, json!({"sub": sub})));
    assert_eq!(status(&layer, &token(&clock, "a")).await, OK);

    server.set(Script::Status(500));
    clock.advance(Duration::from_secs(700)); // past the 600 s lifetime
    assert_eq!(
        status(&layer, &token(&clock, "b")).await,
        OK,
        "stale keys keep verifying"
    );
    served(&server, 2).await; // the background refresh was tried

    server.set(Script::Garbage);
    clock.advance(Duration::from_secs(3000));
    assert_eq!(status(&layer, &token(&clock, "c")).await, OK);
    refresh_reaches(&layer, &key, &clock, &server, 3).await;

    clock.advance(Duration::from_secs(901)); // 4601 s: past lifetime + stale window
    assert_eq!(
        status(&layer, &token(&clock, "d")).await,
        UNAVAILABLE,
        "fails closed"
    );

    server.set(Script::Serve(jwks(&[&key]), None));
    clock.advance(Duration::from_secs(30));
    assert_eq!(status(&layer, &token(&clock, "e")).await, OK, "recovers");
}

#[tokio::test]
async fn k2_empty_or_garbage_key_sets_do_not_wipe_working_keys() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let server = JwksServer::start(Script::Serve(jwks(&[&key]), None)).await;
    let layer = remote(&server, &clock, |b| b.claims_cache_capacity(0));
    assert!(layer.refresh_keys().await);
    for script in [
        Script::Serve(r#"{"keys":[]}"#.into(), None),
        Script::Serve(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.into(), None),
        Script::Garbage,
        Script::Status(404),
    ] {
        server.set(script);
        assert!(layer.refresh_keys().await);
        assert_eq!(status(&layer, &key.sign(&claims(&clock))).await, OK);
    }
    assert_eq!(server.hits(), 5);
}

#[tokio::test]
async fn k3_a_tarpit_is_cut_at_the_fetch_timeout() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let server = JwksServer::start(Script::Tarpit).await;
    let layer = remote(&server, &clock, |b| {
        b.fetch_timeout(Duration::from_millis(200))
    });
    let started = tokio::time::Instant::now();
    assert_eq!(
        status(&layer, &key.sign(&claims(&clock))).await,
        UNAVAILABLE
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn k3_the_default_fetch_timeout_is_aws_s_one_and_a_half_seconds() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let server = JwksServer::start(Script::Tarpit).await;
    let layer = remote(&server, &clock, |b| b);
    let started = tokio::time::Instant::now();
    assert_eq!(
        status(&layer, &key.sign(&claims(&clock))).await,
        UNAVAILABLE
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_millis(1600),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn k4_oversized_and_endless_bodies_are_cut_at_the_cap() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    for script in [Script::Huge(150_001), Script::Endless] {
        let server = JwksServer::start(script).await;
        let layer = remote(&server, &clock, |b| b);
        assert_eq!(
            status(&layer, &key.sign(&claims(&clock))).await,
            UNAVAILABLE
        );
        assert_eq!(server.hits(), 1);
    }
    // Just under the cap is read (and fails as a key set, not as a size).
    let mut padded = serde_json::from_str::<serde_json::Value>(&jwks(&[&key])).unwrap();
    let room = 150_000 - padded.to_string().len() - r#","pad":"""#.len();
    padded["pad"] = json!("x".repeat(room));
    assert_eq!(padded.to_string().len(), 150_000);
    let server = JwksServer::start(Script::Serve(padded.to_string(), None)).await;
    let layer = remote(&server, &clock, |b| b);
    assert_eq!(status(&layer, &key.sign(&claims(&clock))).await, OK);
}

#[tokio::test]
async fn k5_redirects_are_not_followed() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let server = JwksServer::start(Script::Serve(String::new(), None)).await;
    server.set(Script::Redirect(format!(
        "http://{}/elsewhere",
        server.addr
    )));
    let layer = remote(&server, &clock, |b| b);
    assert_eq!(
        status(&layer, &key.sign(&claims(&clock))).await,
        UNAVAILABLE
    );
    assert_eq!(server.hits(), 1);
    assert_eq!(
        server.other_hits(),
        0,
        "the redirect target was never requested"
    );
}

#[test]
fn k5_plain_http_urls_need_an_explicit_opt_in() {
    let build = |url: &str, allow: bool| {
        JwtAuthorizerLayer::builder()
            .issuer(Issuer::new(ISS).audience(AUD).jwks_url(url))
            .allow_http(allow)
            .build()
    };
    assert!(build("http://keys.example/jwks", false).is_err());
    assert!(build("http://keys.example/jwks", true).is_ok());
    assert!(build("http://127.0.0.1:1/jwks", false).is_ok());
    assert!(build("https://keys.example/jwks", false).is_ok());
    let discovery = JwtAuthorizerLayer::builder()
        .issuer(Issuer::new("http://issuer.example").audience(AUD))
        .build();
    assert!(discovery.is_err());
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks_uri() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let server = JwksServer::start(Script::Serve(jwks(&[&key]), None)).await;
    let layer = discovering(&server, &clock);
    let token = key.sign(&claims_with(&clock, json!({"iss": server.issuer()})));
    assert_eq!(status(&layer, &token).await, OK);
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn k5_a_discovery_document_for_another_issuer_is_refused() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let server = JwksServer::start(Script::Serve(jwks(&[&key]), None)).await;
    server.set_discovery_issuer("https://evil.example");
    let layer = discovering(&server, &clock);
    let token = key.sign(&claims_with(&clock, json!({"iss": server.issuer()})));
    assert_eq!(status(&layer, &token).await, UNAVAILABLE);
    assert_eq!(server.hits(), 0, "the JWKS was never fetched");
}

#[tokio::test]
async fn k6_malformed_entries_are_skipped_and_the_good_keys_kept() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let document = json!({"keys": [
        7, "s", null, {"kty": "RSA", "kid": "no-n", "e": "AQAB"}, {"kty": "XYZ", "kid": "x"},
        {"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}, {"kty": "RSA", "kid": "k1", "n": 5, "e": "AQAB"},
        key.jwk,
    ]});
    let server = JwksServer::start(Script::Serve(document.to_string(), None)).await;
    let layer = remote(&server, &clock, |b| b);
    assert_eq!(status(&layer, &key.sign(&claims(&clock))).await, OK);

    let server = JwksServer::start(Script::Serve(r#"{"keys":{"k1":{}}}"#.into(), None)).await;
    let layer = remote(&server, &clock, |b| b);
    assert_eq!(
        status(&layer, &key.sign(&claims(&clock))).await,
        UNAVAILABLE
    );
}

#[tokio::test]
async fn k7_a_slow_refresh_never_blocks_tokens_whose_key_is_cached() {
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let server = JwksServer::start(Script::Serve(jwks(&[&key]), None)).await;
    let layer = remote(&server, &clock, |b| b);
    assert!(layer.refresh_keys().await);
    server.set(Script::Tarpit);
    clock.advance(Duration::from_secs(500)); // refresh due at 450 s
    let mut service = layer.layer(Backend::default().service());
    let mut context = Context::from_waker(Waker::noop());
    for sub in ["a", "b", "c"] {
        let request = request(&key.sign(&claims_with(&clock, json!({"sub": sub}))));
        let future = pin!(service.call(request));
        let Poll::Ready(response) = future.poll(&mut context) else {
            panic!("a cached key must be decided without waiting");
        };
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
    served(&server, 2).await; // the background refresh is (still) in flight
}

#[tokio::test]
async fn refresh_starts_before_expiry_and_follows_cache_control_max_age() {
    let clock = ManualClock::new();
    let (old, new) = (TestKey::rsa(1, "old"), TestKey::rsa(2, "new"));
    let max_age = Some("public, max-age=120".to_owned());
    let server = JwksServer::start(Script::Serve(jwks(&[&old]), max_age.clone())).await;
    let layer = remote(&server, &clock, |b| b);
    assert_eq!(status(&layer, &old.sign(&claims(&clock))).await, OK);
    server.set(Script::Serve(jwks(&[&new]), max_age));
    clock.advance(Duration::from_secs(80));
    assert_eq!(status(&layer, &old.sign(&claims(&clock))).await, OK);
    assert_eq!(server.hits(), 1, "not due before three quarters of max-age");
    clock.advance(Duration::from_secs(11)); // 91 s > 90 s
    assert_eq!(
        status(&layer, &old.sign(&claims(&clock))).await,
        OK,
        "served from the current set"
    );
    served(&server, 2).await;
    // Once the background fetch has landed, the new key verifies without a fetch.
    let landed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let token = new.sign(&claims_with(&clock, json!({"sub": "probe"})));
            if status(&layer, &token).await == OK {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(landed.is_ok());
    assert_eq!(server.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_tasks_verify_while_keys_rotate() {
    let clock = ManualClock::new();
    let (k1, k2, k3) = (
        TestKey::rsa(1, "k1"),
        TestKey::rsa(2, "k2"),
        TestKey::rsa(3, "k3"),
    );
    let impostor = TestKey::rsa(3, "k1");
    let sets = [jwks(&[&k1, &k2]), jwks(&[&k2, &k3, &k1])];
    let server = JwksServer::start(Script::Serve(sets[0].clone(), None)).await;
    let layer = remote(&server, &clock, |b| b.claims_cache_capacity(0));
    assert!(layer.refresh_keys().await);
    let valid: Vec<String> = (0..8)
        .map(|i| [&k1, &k2][i % 2].sign(&claims_with(&clock, json!({"sub": format!("u{i}")}))))
        .collect();
    let invalid: Vec<String> = (0..8)
        .map(|i| impostor.sign(&claims_with(&clock, json!({"sub": format!("x{i}")}))))
        .collect();
    let (valid, invalid) = (Arc::new(valid), Arc::new(invalid));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..64 {
        let (layer, valid, invalid) = (layer.clone(), Arc::clone(&valid), Arc::clone(&invalid));
        tasks.spawn(async move {
            for round in 0..25 {
                let good = &valid[(task + round) % valid.len()];
                assert_eq!(status(&layer, good).await, OK, "a valid token failed");
                let bad = &invalid[(task + round) % invalid.len()];
                assert_eq!(
                    status(&layer, bad).await.0,
                    StatusCode::UNAUTHORIZED,
                    "an invalid token passed"
                );
            }
        });
    }
    let rotator = {
        let (layer, server) = (layer.clone(), server.clone());
        tokio::spawn(async move {
            for i in 0..20 {
                server.set(Script::Serve(sets[i % 2].clone(), None));
                assert!(layer.refresh_keys().await);
            }
        })
    };
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    rotator.await.unwrap();
    assert!(server.hits() >= 2);
}

#[tokio::test]
async fn a_request_without_a_runtime_owned_fetch_still_answers_when_keys_are_static() {
    // Static keys never touch the network: a layer over them works in any
    // executor; this runs the service on a bare future poll.
    let clock = ManualClock::new();
    let key = TestKey::rsa(1, "k1");
    let layer = JwtAuthorizerLayer::builder()
        .issuer(Issuer::new(ISS).audience(AUD).jwks(jwks(&[&key])))
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let mut service = layer.layer(Backend::default().service());
    let request = Request::get("/")
        .header("authorization", key.sign(&claims(&clock)))
        .body(Body::empty())
        .unwrap();
    let future = pin!(service.call(request));
    let Poll::Ready(response) = future.poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("static keys decide at once");
    };
    assert_eq!(response.unwrap().status(), StatusCode::OK);
}
