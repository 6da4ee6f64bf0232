//! TokenBucketThrottle: exactness (SECURITY.md A3 R1–R8), headers, keys.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apigw::clock::{Clock as _, ManualClock, SharedClock};
use apigw::problem::Rejection;
use apigw::store::{
    BucketKey, Decision, FailurePolicy, LimitSpec, Limiter, MemoryRateLimitStore, RateLimitStore,
    StoreError, StoreFuture,
};
use apigw::throttle::{
    KeySource, Limit, ThrottleRejection, ThrottleRejectionKind, TokenBucketThrottleConfig,
    TokenBucketThrottleLayer, TokenBucketThrottleLayerBuilder,
};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use serde_json::Value;
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceExt, service_fn};

type Body = Full<Bytes>;

fn shared(clock: &ManualClock) -> SharedClock {
    Arc::new(clock.clone())
}

/// A backend that counts the requests that reach it.
#[derive(Clone, Default)]
struct Backend {
    calls: Arc<AtomicUsize>,
}

impl Backend {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn service(&self) -> BoxCloneService<Request<Body>, Response<Body>, Infallible> {
        let calls = Arc::clone(&self.calls);
        service_fn(move |_request: Request<Body>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
        })
        .boxed_clone()
    }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::default()).unwrap()
}

fn from(peer: &str, xff: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/");
    if let Some(xff) = xff {
        builder = builder.header("x-forwarded-for", xff);
    }
    let mut request = builder.body(Body::default()).unwrap();
    request
        .extensions_mut()
        .insert(peer.parse::<SocketAddr>().unwrap());
    request
}

async fn send<S, B>(service: &mut S, request: Request<Body>) -> Response<B>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible>,
{
    service.ready().await.unwrap().call(request).await.unwrap()
}

async fn problem<B>(response: Response<B>) -> Value
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

fn builder(clock: &ManualClock, rate: f64, burst: u32) -> TokenBucketThrottleLayerBuilder {
    TokenBucketThrottleLayer::builder()
        .rate(rate)
        .burst(burst)
        .with_clock(shared(clock))
}

fn limiter(clock: &ManualClock, rate: f64, burst: u32) -> Arc<dyn Limiter> {
    let spec = LimitSpec::new("t", Limit::new(rate, burst).unwrap(), 1000);
    MemoryRateLimitStore::new().limiter(&spec, &shared(clock))
}

fn check(limiter: &dyn Limiter, key: &BucketKey) -> Decision {
    limiter.check(key).into_ready().unwrap().unwrap()
}

fn admitted(limiter: &dyn Limiter, key: &BucketKey, attempts: usize) -> usize {
    (0..attempts)
        .filter(|_| check(limiter, key).is_admitted())
        .count()
}

// R1: exactness under concurrency.
fn race(limiter: &Arc<dyn Limiter>, key: &BucketKey) -> usize {
    let granted = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..64 {
            let granted = Arc::clone(&granted);
            scope.spawn(move || {
                for _ in 0..1000 {
                    if check(limiter.as_ref(), key).is_admitted() {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    granted.load(Ordering::Relaxed)
}

#[test]
fn sixty_four_threads_get_exactly_burst_then_exactly_k_more_after_k_intervals() {
    for key in [BucketKey::Global, BucketKey::text("client-7")] {
        let clock = ManualClock::new();
        let limiter = limiter(&clock, 100.0, 250);
        assert_eq!(race(&limiter, &key), 250, "{key:?}");
        // k / rate later: exactly k more.
        clock.advance(Duration::from_millis(370)); // 37 intervals of 10 ms
        assert_eq!(race(&limiter, &key), 37, "{key:?}");
    }
}

// R2: burst semantics.
/// With rate 1000/s and burst 500, a full bucket admits 500 at once, then
/// one per millisecond: 1500 in the first second.
fn assert_admits_1500_in_the_first_second(limiter: &dyn Limiter, clock: &ManualClock) {
    let mut total = admitted(limiter, &BucketKey::Global, 10_000);
    assert_eq!(total, 500);
    for _ in 0..1000 {
        clock.advance(Duration::from_millis(1));
        total += admitted(limiter, &BucketKey::Global, 10);
    }
    assert_eq!(total, 1500);
}

#[test]
fn rate_1000_burst_500_admits_1500_in_the_first_second() {
    let clock = ManualClock::new();
    let limiter = limiter(&clock, 1000.0, 500);
    assert_admits_1500_in_the_first_second(limiter.as_ref(), &clock);
}

#[test]
fn after_long_idle_at_most_burst_pass_at_once() {
    let clock = ManualClock::new();
    let limiter = limiter(&clock, 10.0, 3);
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::Global, 10), 3);
    clock.advance(Duration::from_secs(10));
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::Global, 10), 3);
    clock.advance(Duration::from_millis(100));
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::Global, 10), 1);
}

#[test]
fn burst_zero_rejects_everything_forever() {
    let clock = ManualClock::new();
    let limiter = limiter(&clock, 0.0, 0);
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::Global, 100), 0);
    clock.advance(Duration::from_secs(86_400));
    assert_eq!(
        check(limiter.as_ref(), &BucketKey::Global),
        Decision::Rejected { retry_after: None }
    );
    let limiter = self::limiter(&clock, 1000.0, 0);
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::text("a"), 100), 0);
}

#[test]
fn fractional_rate_half_per_second_admits_one_every_two_seconds() {
    let clock = ManualClock::new();
    let limiter = limiter(&clock, 0.5, 1);
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::Global, 5), 1);
    clock.advance(Duration::from_millis(1999));
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::Global, 5), 0);
    clock.advance(Duration::from_millis(1));
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::Global, 5), 1);
}

// R3: very low and very high rates do not overflow.
#[test]
fn extreme_rates_do_not_overflow() {
    let clock = ManualClock::new();
    let yearly = limiter(&clock, 1.0 / (365.0 * 86_400.0), 1);
    assert_eq!(admitted(yearly.as_ref(), &BucketKey::Global, 3), 1);
    clock.advance(Duration::from_secs(364 * 86_400));
    assert_eq!(admitted(yearly.as_ref(), &BucketKey::Global, 3), 0);
    clock.advance(Duration::from_secs(86_400));
    assert_eq!(admitted(yearly.as_ref(), &BucketKey::Global, 3), 1);
    let fast = limiter(&clock, 1e9, u32::MAX);
    assert_eq!(admitted(fast.as_ref(), &BucketKey::Global, 1000), 1000);
}

// R4: clock jumps.
#[test]
fn forward_jump_of_a_year_caps_at_burst() {
    let clock = ManualClock::new();
    let limiter = limiter(&clock, 5.0, 4);
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::text("k"), 10), 4);
    clock.advance(Duration::from_secs(365 * 86_400));
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::text("k"), 10), 4);
}

#[test]
fn wall_clock_moved_backwards_gives_no_extra_tokens() {
    let clock = ManualClock::new();
    let limiter = limiter(&clock, 1.0, 2);
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::Global, 5), 2);
    // Only the wall clock moves; buckets read the monotonic clock.
    clock.set_unix_time(Duration::from_secs(10));
    assert_eq!(admitted(limiter.as_ref(), &BucketKey::Global, 5), 0);
}

// R3 / R8: Retry-After honesty, as a property.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn nothing_passes_before_retry_after_and_one_passes_at_it(
        rate_millis in 1u32..20_000,
        burst in 1u32..20,
        used in 1u32..40,
    ) {
        let rate = f64::from(rate_millis) / 1000.0;
        let clock = ManualClock::new();
        let limiter = limiter(&clock, rate, burst);
        let key = BucketKey::Global;
        let mut rejected = None;
        for _ in 0..(burst + used) {
            if let Decision::Rejected { retry_after } = check(limiter.as_ref(), &key) {
                rejected = retry_after;
                break;
            }
        }
        let wait = rejected.expect("a bucket of `burst` is empty after burst + used checks");
        // Exact wait: nothing passes a nanosecond before, one passes at it.
        if wait > Duration::from_nanos(1) {
            clock.advance(wait - Duration::from_nanos(1));
            prop_assert!(!check(limiter.as_ref(), &key).is_admitted());
            clock.advance(Duration::from_nanos(1));
        } else {
            clock.advance(wait);
        }
        prop_assert!(check(limiter.as_ref(), &key).is_admitted());
    }

    #[test]
    fn retry_after_header_in_whole_seconds_is_never_early(
        rate_millis in 1u32..5_000,
        burst in 1u32..5,
    ) {
        let rate = f64::from(rate_millis) / 1000.0;
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let clock = ManualClock::new();
            let backend = Backend::default();
            let mut service = builder(&clock, rate, burst).build().unwrap().layer(backend.service());
            for _ in 0..burst {
                assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
            }
            let throttled = send(&mut service, get("/")).await;
            assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
            let secs: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!(secs >= 1);
            clock.advance(Duration::from_secs(secs));
            assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
        });
    }
}

// R8: signalling.
#[tokio::test]
async fn throttled_response_has_status_problem_type_and_every_header() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let mut service = builder(&clock, 0.5, 2)
        .build()
        .unwrap()
        .layer(backend.service());
    assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
    assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
    let response = send(&mut service, get("/")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(headers["ratelimit"], "\"throttle\";r=0;t=2");
    assert_eq!(headers["ratelimit-policy"], "\"throttle\";q=2;w=4");
    let typed = *response.extensions().get::<ThrottleRejection>().unwrap();
    assert_eq!(typed.kind, ThrottleRejectionKind::BucketEmpty);
    assert_eq!(typed.retry_after, Some(2));
    assert!(response.extensions().get::<Rejection>().is_some());
    let body = problem(response).await;
    assert_eq!(body["type"], "urn:apigw:problem:throttled:bucket-empty");
    assert_eq!(body["status"], 429);
    assert_eq!(body["responseType"], "THROTTLED");
    assert_eq!(body["retryAfter"], 2);
    assert_eq!(
        backend.calls(),
        2,
        "the rejected request never reached the backend"
    );
}

#[tokio::test]
async fn burst_zero_answers_blocked_without_retry_after() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let mut service = builder(&clock, 0.0, 0)
        .build()
        .unwrap()
        .layer(backend.service());
    let response = send(&mut service, get("/")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(response.headers()["ratelimit"], "\"throttle\";r=0");
    assert_eq!(
        problem(response).await["type"],
        "urn:apigw:problem:throttled:blocked"
    );
    assert_eq!(backend.calls(), 0);
}

#[tokio::test]
async fn aws_style_throttled_body_is_too_many_requests() {
    let clock = ManualClock::new();
    let mut service = builder(&clock, 1.0, 0)
        .gateway_responses(apigw::problem::GatewayResponses::aws())
        .build()
        .unwrap()
        .layer(Backend::default().service());
    let response = send(&mut service, get("/")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(problem(response).await["message"], "Too Many Requests");
}

#[tokio::test]
async fn admitted_responses_carry_remaining_budget_when_enabled() {
    let clock = ManualClock::new();
    let mut plain = builder(&clock, 10.0, 5)
        .build()
        .unwrap()
        .layer(Backend::default().service());
    assert!(
        send(&mut plain, get("/"))
            .await
            .headers()
            .get("ratelimit")
            .is_none()
    );

    let mut service = builder(&clock, 10.0, 5)
        .rate_limit_headers(true)
        .build()
        .unwrap()
        .layer(Backend::default().service());
    let response = send(&mut service, get("/")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["ratelimit"], "\"throttle\";r=4;t=1");
    assert_eq!(
        response.headers()["ratelimit-policy"],
        "\"throttle\";q=5;w=1"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ok");
}

// Stacking.
#[tokio::test]
async fn stacked_throttles_count_each_request_once_per_level_and_never_count_rejections() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let outer = builder(&clock, 1.0, 10).name("stage").build().unwrap();
    let inner = builder(&clock, 1.0, 3).name("method").build().unwrap();
    let mut service = outer.layer(inner.layer(backend.service()));
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(send(&mut service, get("/")).await.status().as_u16());
    }
    // 3 pass both levels; 7 more pass the outer level (one token each) and
    // are rejected by the inner; the 11th and 12th find the outer empty.
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 9);
    assert_eq!(backend.calls(), 3);
    // One second later: one outer token and one inner token; exactly one passes.
    clock.advance(Duration::from_secs(1));
    assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
    assert_eq!(
        send(&mut service, get("/")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(backend.calls(), 4);
}

#[tokio::test]
async fn stacked_throttles_each_report_their_own_budget_item() {
    let clock = ManualClock::new();
    let outer = builder(&clock, 1.0, 10)
        .name("stage")
        .rate_limit_headers(true)
        .build()
        .unwrap();
    let inner = builder(&clock, 1.0, 1)
        .name("method")
        .rate_limit_headers(true)
        .build()
        .unwrap();
    let mut service = outer.layer(inner.layer(Backend::default().service()));
    let ok = send(&mut service, get("/")).await;
    let items = |response: &Response<_>, name: &str| -> Vec<String> {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        items(&ok, "ratelimit"),
        ["\"method\";r=0;t=1", "\"stage\";r=9;t=1"]
    );
    let throttled = send(&mut service, get("/")).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        items(&throttled, "ratelimit"),
        ["\"method\";r=0;t=1", "\"stage\";r=8;t=2"]
    );
    assert_eq!(
        items(&throttled, "ratelimit-policy"),
        ["\"method\";q=1;w=1", "\"stage\";q=10;w=10"]
    );
}

// Keys.
#[tokio::test]
async fn client_ip_key_gives_each_peer_its_own_bucket() {
    let clock = ManualClock::new();
    let mut service = builder(&clock, 1.0, 1)
        .key(KeySource::ClientIp)
        .build()
        .unwrap()
        .layer(Backend::default().service());
    assert_eq!(
        send(&mut service, from("198.51.100.1:1000", None))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&mut service, from("198.51.100.2:1000", None))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&mut service, from("198.51.100.1:2000", None))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

// R6: key-extraction spoofing.
#[tokio::test]
async fn rotating_forwarded_for_from_an_untrusted_peer_buys_no_fresh_buckets() {
    let clock = ManualClock::new();
    let layer = builder(&clock, 1.0, 1)
        .key(KeySource::ClientIp)
        .trusted_proxies(["10.0.0.0/8"])
        .build()
        .unwrap();
    let mut service = layer.clone().layer(Backend::default().service());
    let mut admitted = 0;
    for i in 0..100 {
        let xff = format!("203.0.113.{i}");
        if send(&mut service, from("198.51.100.9:4000", Some(&xff)))
            .await
            .status()
            == StatusCode::OK
        {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 1);
    // Through the trusted proxy, the forwarded client is the key.
    let a = send(&mut service, from("10.0.0.5:443", Some("203.0.113.1"))).await;
    let b = send(&mut service, from("10.0.0.5:443", Some("203.0.113.2"))).await;
    let a_again = send(&mut service, from("10.0.0.6:443", Some("203.0.113.1"))).await;
    assert_eq!(a.status(), StatusCode::OK);
    assert_eq!(b.status(), StatusCode::OK);
    assert_eq!(a_again.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn requests_without_a_key_share_one_bucket() {
    let clock = ManualClock::new();
    let mut service = builder(&clock, 1.0, 2)
        .key(KeySource::ApiKey)
        .build()
        .unwrap()
        .layer(Backend::default().service());
    assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
    assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
    assert_eq!(
        send(&mut service, get("/")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let keyed = Request::get("/")
        .header("x-api-key", "k1")
        .body(Body::default())
        .unwrap();
    assert_eq!(send(&mut service, keyed).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn custom_key_function_picks_the_bucket() {
    let clock = ManualClock::new();
    let mut service = builder(&clock, 1.0, 1)
        .with_key_extractor(|request: &apigw::throttle::RequestInfo<'_>| {
            request
                .headers()
                .get("x-tenant")
                .and_then(|v| v.to_str().ok())
                .map(BucketKey::text)
        })
        .build()
        .unwrap()
        .layer(Backend::default().service());
    let tenant = |t: &str| {
        Request::get("/")
            .header("x-tenant", t)
            .body(Body::default())
            .unwrap()
    };
    assert_eq!(
        send(&mut service, tenant("a")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&mut service, tenant("b")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&mut service, tenant("a")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn principal_key_reads_the_authorizer_identity() {
    let clock = ManualClock::new();
    let mut service = builder(&clock, 1.0, 1)
        .key(KeySource::Principal)
        .build()
        .unwrap()
        .layer(Backend::default().service());
    let as_user = |id: &str| {
        let mut request = get("/");
        request
            .extensions_mut()
            .insert(apigw::identity::AuthorizerContext::new(
                Some(id.to_owned()),
                serde_json::Map::new(),
                None,
            ));
        request
    };
    assert_eq!(
        send(&mut service, as_user("alice")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&mut service, as_user("bob")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&mut service, as_user("alice")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn per_method_limits_in_api_gateway_keys_apply_to_their_route_only() {
    let clock = ManualClock::new();
    let mut service = builder(&clock, 100.0, 100)
        .route("/orders/{id}/POST", 1.0, 1)
        .build()
        .unwrap()
        .layer(Backend::default().service());
    let post = || Request::post("/orders/7").body(Body::default()).unwrap();
    assert_eq!(send(&mut service, post()).await.status(), StatusCode::OK);
    assert_eq!(
        send(&mut service, post()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        send(&mut service, get("/orders/7")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn route_key_source_gives_each_axum_route_its_bucket() {
    use axum::Router;
    use axum::routing::get as route_get;
    let clock = ManualClock::new();
    let layer = builder(&clock, 1.0, 1)
        .key(KeySource::Route)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/a/{id}", route_get(|| async { "a" }))
        .route("/b", route_get(|| async { "b" }))
        .route_layer(layer);
    let call = |path: &str| {
        app.clone()
            .oneshot(Request::get(path).body(axum::body::Body::empty()).unwrap())
    };
    assert_eq!(call("/a/1").await.unwrap().status(), StatusCode::OK);
    assert_eq!(call("/b").await.unwrap().status(), StatusCode::OK);
    // Same route key `GET /a/{id}`, another id: same bucket.
    assert_eq!(
        call("/a/2").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

// R5: memory bound.
#[test]
fn a_million_distinct_keys_keep_the_map_bounded() {
    let clock = ManualClock::new();
    let spec = LimitSpec::new("ip", Limit::new(10.0, 5).unwrap(), 10_000);
    let limiter = MemoryRateLimitStore::new().memory_limiter(&spec, &shared(&clock));
    let mut peak = 0;
    for i in 0..1_000_000u32 {
        let ip = std::net::Ipv4Addr::from(i.wrapping_mul(2_654_435_761));
        assert!(limiter.check_now(&BucketKey::Ip(ip.into())).is_admitted());
        if i % 1000 == 0 {
            clock.advance(Duration::from_millis(1));
            peak = peak.max(limiter.len());
        }
    }
    peak = peak.max(limiter.len());
    // Bound: 64 shards × ceil(10,000 / 64) keys.
    assert!(peak <= 64 * 157, "{peak} keys held");
    assert!(peak >= 1000, "{peak}: the map holds recent keys");
}

#[test]
fn forgetting_idle_keys_changes_no_decision() {
    let clock = ManualClock::new();
    let spec = LimitSpec::new("k", Limit::new(1.0, 1).unwrap(), 64);
    let limiter = MemoryRateLimitStore::new().memory_limiter(&spec, &shared(&clock));
    let hot = BucketKey::text("hot");
    assert!(limiter.check_now(&hot).is_admitted());
    // Flood with other keys after the hot key has refilled...
    clock.advance(Duration::from_secs(1));
    for i in 0..10_000 {
        limiter.check_now(&BucketKey::text(format!("k{i}")));
    }
    assert!(limiter.len() <= 64);
    // ...the hot key's full bucket was forgotten: still exactly one token.
    assert!(limiter.check_now(&hot).is_admitted());
    assert!(!limiter.check_now(&hot).is_admitted());
}

// R7: store failure.
#[derive(Debug)]
struct FailingStore;

#[derive(Debug)]
struct FailingLimiter(LimitSpec);

impl RateLimitStore for FailingStore {
    fn limiter(&self, spec: &LimitSpec, _: &SharedClock) -> Arc<dyn Limiter> {
        Arc::new(FailingLimiter(spec.clone()))
    }
}

impl Limiter for FailingLimiter {
    fn spec(&self) -> &LimitSpec {
        &self.0
    }
    fn check(&self, _: &BucketKey) -> StoreFuture<Result<Decision, StoreError>> {
        StoreFuture::new(async { Err(StoreError::new("connection refused")) })
    }
}

#[tokio::test]
async fn failing_store_admits_when_open_and_answers_503_when_closed() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let mut open = builder(&clock, 1.0, 1)
        .with_store(Arc::new(FailingStore))
        .build()
        .unwrap()
        .layer(backend.service());
    for _ in 0..3 {
        assert_eq!(send(&mut open, get("/")).await.status(), StatusCode::OK);
    }
    let mut closed = builder(&clock, 1.0, 1)
        .with_store(Arc::new(FailingStore))
        .failure_policy(FailurePolicy::Closed)
        .build()
        .unwrap()
        .layer(backend.service());
    let response = send(&mut closed, get("/")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response
            .extensions()
            .get::<ThrottleRejection>()
            .unwrap()
            .kind,
        ThrottleRejectionKind::StoreUnavailable
    );
    assert_eq!(
        problem(response).await["type"],
        "urn:apigw:problem:throttled:store-unavailable"
    );
    assert_eq!(backend.calls(), 3);
}

/// An asynchronous store over the in-memory one: the layer's waiting path.
#[derive(Debug)]
struct AsyncStore;

#[derive(Debug)]
struct AsyncLimiter(Arc<dyn Limiter>);

impl RateLimitStore for AsyncStore {
    fn limiter(&self, spec: &LimitSpec, clock: &SharedClock) -> Arc<dyn Limiter> {
        Arc::new(AsyncLimiter(
            MemoryRateLimitStore::new().limiter(spec, clock),
        ))
    }
}

impl Limiter for AsyncLimiter {
    fn spec(&self) -> &LimitSpec {
        self.0.spec()
    }
    fn check(&self, key: &BucketKey) -> StoreFuture<Result<Decision, StoreError>> {
        let answer = self.0.check(key).into_ready().unwrap();
        StoreFuture::new(async move {
            tokio::task::yield_now().await;
            answer
        })
    }
}

#[tokio::test]
async fn asynchronous_store_admits_and_rejects_like_the_memory_store() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let mut service = builder(&clock, 1.0, 2)
        .with_store(Arc::new(AsyncStore))
        .rate_limit_headers(true)
        .build()
        .unwrap()
        .layer(backend.service());
    let first = send(&mut service, get("/")).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["ratelimit"], "\"throttle\";r=1;t=1");
    assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
    let rejected = send(&mut service, get("/")).await;
    assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rejected.headers()["retry-after"], "1");
    assert!(rejected.extensions().get::<ThrottleRejection>().is_some());
    assert_eq!(backend.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn default_clock_follows_tokio_paused_time() {
    let backend = Backend::default();
    let mut service = TokenBucketThrottleLayer::builder()
        .rate(1.0)
        .burst(1)
        .build()
        .unwrap()
        .layer(backend.service());
    assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
    assert_eq!(
        send(&mut service, get("/")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn local_policy_decides_with_the_replicas_share_while_the_store_fails() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let config: TokenBucketThrottleConfig = serde_json::from_value(serde_json::json!({
        "rateLimit": 4, "burstLimit": 8, "failurePolicy": { "LOCAL": { "replicas": 4 } }
    }))
    .unwrap();
    assert_eq!(config.failure_policy, FailurePolicy::Local { replicas: 4 });
    let mut local = TokenBucketThrottleLayerBuilder::try_from(config)
        .unwrap()
        .with_clock(shared(&clock))
        .with_store(Arc::new(FailingStore))
        .build()
        .unwrap()
        .layer(backend.service());
    // Rate 4/s and burst 8 over 4 replicas: 1/s and a bucket of 2.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(send(&mut local, get("/")).await.status());
    }
    assert_eq!(
        statuses,
        [200, 200, 429, 429, 429].map(|s| StatusCode::from_u16(s).unwrap())
    );
    clock.advance(Duration::from_millis(999));
    assert_eq!(
        send(&mut local, get("/")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(send(&mut local, get("/")).await.status(), StatusCode::OK);
    assert_eq!(backend.calls(), 3);
    // Zero replicas is a configuration error.
    let error = builder(&clock, 1.0, 1)
        .failure_policy(FailurePolicy::Local { replicas: 0 })
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("replicas"), "{error}");
}

#[test]
fn a_limit_shared_among_replicas() {
    let limit = Limit::new(1000.0, 500).unwrap();
    assert_eq!(limit.share(1), limit);
    let share = limit.share(3);
    assert_eq!((share.rate(), share.burst()), (1000.0 / 3.0, 166));
    // A bucket that admits something keeps admitting something.
    assert_eq!(Limit::new(1.0, 2).unwrap().share(5).burst(), 1);
    assert_eq!(Limit::new(0.0, 0).unwrap().share(5).burst(), 0);
}

#[tokio::test]
async fn config_in_api_gateway_words_builds_the_same_layer() {
    let config: TokenBucketThrottleConfig = serde_json::from_value(serde_json::json!({
        "rateLimit": 1, "burstLimit": 1, "rateLimitHeaders": true,
        "throttle": { "//GET": { "rateLimit": 1, "burstLimit": 2 } }
    }))
    .unwrap();
    let clock = ManualClock::new();
    let layer = TokenBucketThrottleLayerBuilder::try_from(config)
        .unwrap()
        .with_clock(shared(&clock))
        .build()
        .unwrap();
    let mut service = layer.layer(Backend::default().service());
    // `//GET` is the root resource's GET: its bucket of 2.
    assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
    assert_eq!(send(&mut service, get("/")).await.status(), StatusCode::OK);
    assert_eq!(
        send(&mut service, get("/")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Other routes use the default bucket of 1.
    assert_eq!(send(&mut service, get("/x")).await.status(), StatusCode::OK);
    assert_eq!(
        send(&mut service, get("/x")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// A hand-moved clock that also tells its time as nanoseconds, as
/// `QuantaClock` does: buckets then read those instead of instants (its
/// instants stand still, so only the nanoseconds can refill a bucket).
#[derive(Debug)]
struct NanosClock(ManualClock, std::time::Instant);

impl apigw::clock::Clock for NanosClock {
    fn now(&self) -> std::time::Instant {
        self.1
    }

    fn unix_time(&self) -> Duration {
        self.0.unix_time()
    }

    fn monotonic_nanos(&self) -> Option<u64> {
        // Offset, so that the origin is not zero.
        Some(5_000_000_000 + u64::try_from(self.0.elapsed().as_nanos()).unwrap())
    }
}

#[test]
fn a_clock_with_monotonic_nanos_drives_buckets_exactly() {
    let manual = ManualClock::new();
    let clock: SharedClock = Arc::new(NanosClock(manual.clone(), manual.now()));
    let spec = LimitSpec::new("t", Limit::new(1000.0, 500).unwrap(), 1000);
    let limiter = MemoryRateLimitStore::new().limiter(&spec, &clock);
    assert_admits_1500_in_the_first_second(limiter.as_ref(), &manual);
    // Keyed buckets too.
    let key = BucketKey::Ip("10.0.0.1".parse().unwrap());
    assert_eq!(admitted(limiter.as_ref(), &key, 10_000), 500);
    manual.advance(Duration::from_millis(3));
    assert_eq!(admitted(limiter.as_ref(), &key, 10), 3);
}

#[cfg(feature = "quanta")]
#[tokio::test]
async fn the_quanta_clock_admits_the_burst_then_throttles() {
    let backend = Backend::default();
    let layer = TokenBucketThrottleLayer::builder()
        .rate(0.001)
        .burst(3)
        .with_clock(Arc::new(apigw::clock::QuantaClock::new()))
        .build()
        .unwrap();
    let mut service = layer.layer(backend.service());
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let response = service.ready().await.unwrap().call(get("/")).await.unwrap();
        statuses.push(response.status());
    }
    assert_eq!(backend.calls(), 3);
    assert!(statuses[..3].iter().all(|s| *s == StatusCode::OK));
    assert!(
        statuses[3..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
}
