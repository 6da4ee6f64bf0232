//! UsagePlan: API keys, plans, quotas, usage reports (SECURITY.md A3 R1, R4,
//! R5, R7, R9).

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apigw::clock::{ManualClock, SharedClock};
use apigw::identity::{ApiKeyIdentity, AuthorizerContext};
use apigw::route::{MatchRouteLayer, RouteTable};
use apigw::store::{
    ApiKey, FailurePolicy, KeyUsage, MemoryKeyStore, MemoryQuotaStore, MeterOutcome, MeterRequest,
    QuotaStore, StoreError, StoreFuture,
};
use apigw::usage_plan::{
    ApiKeySource, Day, MAX_REPORT_PAGE, Plan, QuotaPeriod, QuotaSettings, UsagePlanConfig,
    UsagePlanLayer, UsagePlanLayerBuilder, UsagePlanRejection, UsagePlanRejectionKind,
};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceExt, service_fn};

type Body = Full<Bytes>;

const GOLD_KEY: &str = "gold0key0value0000000001";
const SILVER_KEY: &str = "silver0key0value00000001";

fn shared(clock: &ManualClock) -> SharedClock {
    Arc::new(clock.clone())
}

fn at(date: &str, seconds_into_day: u64) -> Duration {
    let day: Day = date.parse().unwrap();
    day.start_unix() + Duration::from_secs(seconds_into_day)
}

/// A backend that counts requests and records the API key identity it saw.
#[derive(Clone, Default)]
struct Backend {
    calls: Arc<AtomicUsize>,
    identities: Arc<Mutex<Vec<ApiKeyIdentity>>>,
}

impl Backend {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn service(&self) -> BoxCloneService<Request<Body>, Response<Body>, Infallible> {
        let calls = Arc::clone(&self.calls);
        let identities = Arc::clone(&self.identities);
        service_fn(move |request: Request<Body>| {
            calls.fetch_add(1, Ordering::SeqCst);
            if let Some(identity) = request.extensions().get::<ApiKeyIdentity>() {
                identities.lock().unwrap().push(identity.clone());
            }
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
        })
        .boxed_clone()
    }
}

fn keyed(key: &str) -> Request<Body> {
    Request::get("/orders/1")
        .header("X-Api-Key", key)
        .body(Body::default())
        .unwrap()
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

fn plans(clock: &ManualClock) -> UsagePlanLayerBuilder {
    UsagePlanLayer::builder()
        .with_clock(shared(clock))
        .plan(
            Plan::new("gold")
                .throttle(10.0, 5)
                .quota(QuotaSettings::new(100, QuotaPeriod::Day)),
        )
        .plan(
            Plan::new("silver")
                .stage("prod")
                .quota(QuotaSettings::new(3, QuotaPeriod::Day)),
        )
        .api_key(ApiKey::new("gold-1", GOLD_KEY).unwrap().plan("gold"))
        .api_key(ApiKey::new("silver-1", SILVER_KEY).unwrap().plan("silver"))
}

async fn rejection_of<B>(response: Response<B>) -> (StatusCode, UsagePlanRejectionKind, Value)
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let status = response.status();
    let kind = response
        .extensions()
        .get::<UsagePlanRejection>()
        .expect("typed rejection in extensions")
        .kind;
    (status, kind, problem(response).await)
}

#[tokio::test]
async fn known_key_passes_with_its_identity_and_quota_headers() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let mut service = plans(&clock).build().unwrap().layer(backend.service());
    let response = send(&mut service, keyed(GOLD_KEY)).await;
    assert_eq!(response.status(), StatusCode::OK);
    // 2023-11-14T22:13:20Z: 6,400 s to midnight.
    assert_eq!(response.headers()["ratelimit"], "\"quota\";r=99;t=6400");
    assert_eq!(
        response.headers()["ratelimit-policy"],
        "\"quota\";q=100;w=86400"
    );
    let identity = backend.identities.lock().unwrap()[0].clone();
    assert_eq!(identity.key_id(), "gold-1");
    assert_eq!(identity.api_key(), GOLD_KEY);
    assert_eq!(identity.plan_id(), "gold");
    assert!(!format!("{identity:?}").contains(GOLD_KEY));
}

#[tokio::test]
async fn missing_key_is_403_invalid_api_key_missing() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let mut service = plans(&clock).build().unwrap().layer(backend.service());
    let request = Request::get("/").body(Body::default()).unwrap();
    let (status, kind, body) = rejection_of(send(&mut service, request).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(kind, UsagePlanRejectionKind::MissingKey);
    assert_eq!(body["type"], "urn:apigw:problem:invalid-api-key:missing");
    assert_eq!(body["responseType"], "INVALID_API_KEY");
    assert_eq!(backend.calls(), 0);
}

#[tokio::test]
async fn unknown_disabled_and_planless_keys_are_403_alike() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let keys = MemoryKeyStore::new();
    keys.add(ApiKey::new("gold-1", GOLD_KEY).unwrap().plan("gold"))
        .unwrap();
    keys.add(ApiKey::new("silver-1", SILVER_KEY).unwrap().plan("silver"))
        .unwrap();
    let layer = plans(&clock)
        .with_key_store(Arc::new(keys.clone()))
        .build()
        .unwrap();
    let mut service = layer.layer(backend.service());

    let (status, kind, unknown) =
        rejection_of(send(&mut service, keyed("unknown0key0value0000001")).await).await;
    assert_eq!(
        (status, kind),
        (StatusCode::FORBIDDEN, UsagePlanRejectionKind::UnknownKey)
    );

    // R9: disabled at runtime ⇒ 403 on the very next request.
    assert_eq!(
        send(&mut service, keyed(GOLD_KEY)).await.status(),
        StatusCode::OK
    );
    assert!(keys.disable("gold-1"));
    let (status, kind, disabled) = rejection_of(send(&mut service, keyed(GOLD_KEY)).await).await;
    assert_eq!(
        (status, kind),
        (StatusCode::FORBIDDEN, UsagePlanRejectionKind::DisabledKey)
    );
    assert!(keys.enable("gold-1"));
    assert_eq!(
        send(&mut service, keyed(GOLD_KEY)).await.status(),
        StatusCode::OK
    );
    assert!(keys.remove("gold-1"));
    let (_, kind, _) = rejection_of(send(&mut service, keyed(GOLD_KEY)).await).await;
    assert_eq!(kind, UsagePlanRejectionKind::UnknownKey);

    // The silver plan serves the `prod` stage only; this request is in `$default`.
    let (status, kind, planless) = rejection_of(send(&mut service, keyed(SILVER_KEY)).await).await;
    assert_eq!(
        (status, kind),
        (
            StatusCode::FORBIDDEN,
            UsagePlanRejectionKind::NoPlanForStage
        )
    );

    // A client cannot tell them apart.
    for body in [&unknown, &disabled, &planless] {
        assert_eq!(body["type"], "urn:apigw:problem:invalid-api-key:invalid");
        assert_eq!(body["title"], unknown["title"]);
        assert_eq!(body["detail"], unknown["detail"]);
    }
    assert_eq!(backend.calls(), 2);
}

#[tokio::test]
async fn plan_for_the_matched_stage_applies() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let table = RouteTable::builder()
        .stage("prod")
        .route("GET /orders/{id}", ())
        .unwrap()
        .build()
        .unwrap();
    let service = plans(&clock).build().unwrap().layer(backend.service());
    let mut service = MatchRouteLayer::new(table).layer(service);
    assert_eq!(
        send(&mut service, keyed(SILVER_KEY)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn key_from_the_authorizer_usage_identifier_key() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let mut service = plans(&clock)
        .api_key_source(ApiKeySource::Authorizer)
        .build()
        .unwrap()
        .layer(backend.service());
    let mut request = Request::get("/").body(Body::default()).unwrap();
    request.extensions_mut().insert(AuthorizerContext::new(
        Some("user".into()),
        serde_json::Map::new(),
        Some(GOLD_KEY.into()),
    ));
    assert_eq!(send(&mut service, request).await.status(), StatusCode::OK);
    // The header is not a key source then.
    let (_, kind, _) = rejection_of(send(&mut service, keyed(GOLD_KEY)).await).await;
    assert_eq!(kind, UsagePlanRejectionKind::MissingKey);
}

#[tokio::test]
async fn routes_that_do_not_require_a_key_ignore_it_and_count_nothing() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let layer = plans(&clock).route("/health/GET", false).build().unwrap();
    let mut service = layer.clone().layer(backend.service());
    for _ in 0..5 {
        let request = Request::get("/health")
            .header("x-api-key", GOLD_KEY)
            .body(Body::default())
            .unwrap();
        let response = send(&mut service, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("ratelimit").is_none());
    }
    let request = Request::get("/health").body(Body::default()).unwrap();
    assert_eq!(send(&mut service, request).await.status(), StatusCode::OK);
    assert!(backend.identities.lock().unwrap().is_empty());
    let today = Day::from_unix(ManualClock::DEFAULT_UNIX_TIME);
    let report = layer.usage("gold", today, today, None).await.unwrap();
    assert_eq!(report.items["gold-1"], vec![(0, Some(100))]);
}

#[tokio::test]
async fn throttled_key_is_429_throttled_and_does_not_consume_quota() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let layer = plans(&clock).build().unwrap();
    let mut service = layer.clone().layer(backend.service());
    for _ in 0..5 {
        assert_eq!(
            send(&mut service, keyed(GOLD_KEY)).await.status(),
            StatusCode::OK
        );
    }
    let response = send(&mut service, keyed(GOLD_KEY)).await;
    assert_eq!(response.headers()["retry-after"], "1");
    let (status, kind, body) = rejection_of(response).await;
    assert_eq!(
        (status, kind),
        (
            StatusCode::TOO_MANY_REQUESTS,
            UsagePlanRejectionKind::Throttled
        )
    );
    assert_eq!(body["type"], "urn:apigw:problem:throttled:usage-plan");
    assert_eq!(body["responseType"], "THROTTLED");
    let today = Day::from_unix(ManualClock::DEFAULT_UNIX_TIME);
    let report = layer
        .usage("gold", today, today, Some("gold-1"))
        .await
        .unwrap();
    assert_eq!(report.items["gold-1"], vec![(5, Some(95))]);
    assert_eq!(backend.calls(), 5);
}

#[tokio::test]
async fn spent_quota_is_429_quota_exceeded_until_the_next_utc_day_and_takes_no_token() {
    let clock = ManualClock::at_unix_time(at("2026-11-23", 86_400 - 10));
    let backend = Backend::default();
    let layer = UsagePlanLayer::builder()
        .with_clock(shared(&clock))
        .plan(
            Plan::new("p")
                .throttle(1.0, 1)
                .quota(QuotaSettings::new(1, QuotaPeriod::Day)),
        )
        .api_key(ApiKey::new("k", GOLD_KEY).unwrap().plan("p"))
        .build()
        .unwrap();
    let mut service = layer.layer(backend.service());
    assert_eq!(
        send(&mut service, keyed(GOLD_KEY)).await.status(),
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(2));
    let response = send(&mut service, keyed(GOLD_KEY)).await;
    assert_eq!(response.headers()["retry-after"], "8");
    assert_eq!(response.headers()["ratelimit"], "\"quota\";r=0;t=8");
    let (status, kind, body) = rejection_of(response).await;
    assert_eq!(
        (status, kind),
        (
            StatusCode::TOO_MANY_REQUESTS,
            UsagePlanRejectionKind::QuotaExceeded
        )
    );
    assert_eq!(body["type"], "urn:apigw:problem:quota-exceeded:period");
    assert_eq!(body["responseType"], "QUOTA_EXCEEDED");
    // Midnight UTC: a new day; the over-quota request took no token, so the
    // bucket has one.
    clock.advance(Duration::from_secs(8));
    assert_eq!(
        send(&mut service, keyed(GOLD_KEY)).await.status(),
        StatusCode::OK
    );
    assert_eq!(backend.calls(), 2);
}

#[tokio::test]
async fn aws_style_quota_body_is_limit_exceeded() {
    let clock = ManualClock::new();
    let mut service = UsagePlanLayer::builder()
        .with_clock(shared(&clock))
        .gateway_responses(apigw::problem::GatewayResponses::aws())
        .plan(Plan::new("p").quota(QuotaSettings::new(0, QuotaPeriod::Day)))
        .api_key(ApiKey::new("k", GOLD_KEY).unwrap().plan("p"))
        .build()
        .unwrap()
        .layer(Backend::default().service());
    let response = send(&mut service, keyed(GOLD_KEY)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(problem(response).await["message"], "Limit Exceeded");
}

async fn admitted_of(layer: &UsagePlanLayer, attempts: usize) -> usize {
    let mut service = layer.clone().layer(Backend::default().service());
    let mut admitted = 0;
    for _ in 0..attempts {
        if send(&mut service, keyed(GOLD_KEY)).await.status() == StatusCode::OK {
            admitted += 1;
        }
    }
    admitted
}

fn quota_layer(clock: &ManualClock, quota: QuotaSettings) -> UsagePlanLayer {
    UsagePlanLayer::builder()
        .with_clock(shared(clock))
        .plan(
            Plan::new("p")
                .quota(quota)
                .start_date("2026-11-01".parse().unwrap()),
        )
        .api_key(ApiKey::new("k", GOLD_KEY).unwrap().plan("p"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn day_quota_rolls_over_at_utc_midnight() {
    let clock = ManualClock::at_unix_time(at("2026-11-24", 0));
    let layer = quota_layer(&clock, QuotaSettings::new(3, QuotaPeriod::Day));
    assert_eq!(admitted_of(&layer, 5).await, 3);
    clock.set_unix_time(at("2026-11-24", 86_399));
    assert_eq!(admitted_of(&layer, 5).await, 0);
    clock.set_unix_time(at("2026-11-25", 0));
    assert_eq!(admitted_of(&layer, 5).await, 3);
}

#[tokio::test]
async fn week_quota_rolls_over_at_monday_midnight_utc() {
    // 2026-11-29 is a Sunday, 2026-11-30 a Monday.
    let clock = ManualClock::at_unix_time(at("2026-11-24", 0));
    let layer = quota_layer(&clock, QuotaSettings::new(2, QuotaPeriod::Week));
    assert_eq!(admitted_of(&layer, 3).await, 2);
    clock.set_unix_time(at("2026-11-29", 86_399));
    assert_eq!(admitted_of(&layer, 3).await, 0);
    clock.set_unix_time(at("2026-11-30", 0));
    assert_eq!(admitted_of(&layer, 3).await, 2);
}

#[tokio::test]
async fn month_quota_rolls_over_on_the_first_and_offset_only_shrinks_the_first_month() {
    let clock = ManualClock::at_unix_time(at("2026-11-15", 0));
    let layer = quota_layer(&clock, QuotaSettings::new(5, QuotaPeriod::Month).offset(2));
    assert_eq!(admitted_of(&layer, 10).await, 3);
    clock.set_unix_time(at("2026-11-30", 86_399));
    assert_eq!(admitted_of(&layer, 10).await, 0);
    clock.set_unix_time(at("2026-12-01", 0));
    assert_eq!(admitted_of(&layer, 10).await, 5);
    clock.set_unix_time(at("2027-01-01", 0));
    assert_eq!(admitted_of(&layer, 10).await, 5);
}

// R4: a wall clock moved backwards across a boundary must not reset usage.
#[tokio::test]
async fn wall_clock_moved_backwards_does_not_reset_usage() {
    let clock = ManualClock::at_unix_time(at("2026-11-24", 10));
    let layer = quota_layer(&clock, QuotaSettings::new(3, QuotaPeriod::Day));
    assert_eq!(admitted_of(&layer, 5).await, 3);
    // Back to the previous day: still today's spent quota, not a fresh one.
    clock.set_unix_time(at("2026-11-23", 100));
    assert_eq!(admitted_of(&layer, 5).await, 0);
    // Forward again into the same day: still spent.
    clock.set_unix_time(at("2026-11-24", 500));
    assert_eq!(admitted_of(&layer, 5).await, 0);
}

#[tokio::test]
async fn the_store_never_moves_a_key_back_to_an_earlier_period() {
    let store = MemoryQuotaStore::new();
    let day = |s: &str| s.parse::<Day>().unwrap();
    let check = |d: &str| apigw::store::QuotaCheck {
        period_start: day(d),
        period_end: day(d).next(),
        day: day(d),
        limit: 1,
    };
    let meter = |d: &str| {
        store.meter_now(&MeterRequest {
            key_id: "k",
            throttle: None,
            quota: Some(check(d)),
        })
    };
    assert!(matches!(
        meter("2026-11-24"),
        Ok(MeterOutcome::Admitted { .. })
    ));
    assert!(matches!(
        meter("2026-11-23"),
        Ok(MeterOutcome::QuotaExceeded { .. })
    ));
    assert!(matches!(
        meter("2026-11-25"),
        Ok(MeterOutcome::Admitted { .. })
    ));
}

// R1 / R9: concurrent counting is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_admit_exactly_the_quota() {
    let clock = ManualClock::at_unix_time(at("2026-11-24", 0));
    let layer = quota_layer(&clock, QuotaSettings::new(500, QuotaPeriod::Day));
    let backend = Backend::default();
    let service = layer.clone().layer(backend.service());
    let admitted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let service = service.clone();
        let admitted = Arc::clone(&admitted);
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                let response = service.clone().oneshot(keyed(GOLD_KEY)).await.unwrap();
                if response.status() == StatusCode::OK {
                    admitted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(admitted.load(Ordering::Relaxed), 500);
    assert_eq!(backend.calls(), 500);
    let today: Day = "2026-11-24".parse().unwrap();
    let report = layer.usage("p", today, today, None).await.unwrap();
    assert_eq!(report.items["k"], vec![(500, Some(0))]);
}

#[test]
fn sixty_four_threads_meter_exactly_the_quota_in_the_store() {
    let store = MemoryQuotaStore::new();
    let day: Day = "2026-11-24".parse().unwrap();
    let quota = apigw::store::QuotaCheck {
        period_start: day,
        period_end: day.next(),
        day,
        limit: 1234,
    };
    let admitted = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..64 {
            scope.spawn(|| {
                for _ in 0..1000 {
                    let outcome = store
                        .meter_now(&MeterRequest {
                            key_id: "k",
                            throttle: None,
                            quota: Some(quota),
                        })
                        .unwrap();
                    if matches!(outcome, MeterOutcome::Admitted { .. }) {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.load(Ordering::Relaxed), 1234);
}

#[tokio::test]
async fn the_policy_header_follows_grants_and_the_length_of_the_month() {
    let clock = ManualClock::at_unix_time(at("2026-11-02", 0));
    let layer = quota_layer(&clock, QuotaSettings::new(10, QuotaPeriod::Month));
    let mut service = layer.clone().layer(Backend::default().service());
    let mut policy = async || {
        let response = send(&mut service, keyed(GOLD_KEY)).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()["ratelimit-policy"].clone()
    };
    // November: 30 days.
    assert_eq!(policy().await, "\"quota\";q=10;w=2592000");
    assert_eq!(policy().await, "\"quota\";q=10;w=2592000");
    layer.grant("k", 4).await.unwrap();
    assert_eq!(policy().await, "\"quota\";q=14;w=2592000");
    // December: 31 days.
    clock.set_unix_time(at("2026-12-01", 0));
    assert_eq!(policy().await, "\"quota\";q=10;w=2678400");
}

#[tokio::test]
async fn usage_report_has_a_used_remaining_pair_per_day_and_grants_extend_the_period() {
    let clock = ManualClock::at_unix_time(at("2026-11-02", 0));
    let layer = quota_layer(&clock, QuotaSettings::new(10, QuotaPeriod::Month));
    assert_eq!(admitted_of(&layer, 3).await, 3);
    clock.set_unix_time(at("2026-11-04", 0));
    assert_eq!(admitted_of(&layer, 2).await, 2);
    let day = |s: &str| s.parse::<Day>().unwrap();
    let report = layer
        .usage("p", day("2026-11-01"), day("2026-11-04"), None)
        .await
        .unwrap();
    assert_eq!(
        report.items["k"],
        vec![(0, Some(10)), (3, Some(7)), (0, Some(7)), (2, Some(5))]
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["usagePlanId"], "p");
    assert_eq!(json["startDate"], "2026-11-01");
    assert_eq!(json["endDate"], "2026-11-04");
    assert_eq!(json["values"]["k"][1], serde_json::json!([3, 7]));

    assert_eq!(admitted_of(&layer, 10).await, 5);
    layer.grant("k", 4).await.unwrap();
    assert_eq!(admitted_of(&layer, 10).await, 4);
    let report = layer
        .usage("p", day("2026-11-04"), day("2026-11-04"), None)
        .await
        .unwrap();
    assert_eq!(report.items["k"], vec![(11, Some(0))]);
    assert!(
        layer
            .usage("p", day("2026-11-04"), day("2026-11-01"), None)
            .await
            .is_err()
    );
    assert!(
        layer
            .usage("nope", day("2026-11-01"), day("2026-11-01"), None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn per_method_throttle_replaces_the_plan_bucket_on_its_method() {
    let clock = ManualClock::new();
    let mut service = UsagePlanLayer::builder()
        .with_clock(shared(&clock))
        .plan(
            Plan::new("p")
                .throttle(100.0, 100)
                .method_throttle("/orders/{id}/POST", 1.0, 1),
        )
        .api_key(ApiKey::new("k", GOLD_KEY).unwrap().plan("p"))
        .rate_limit_headers(true)
        .build()
        .unwrap()
        .layer(Backend::default().service());
    let post = || {
        Request::post("/orders/9")
            .header("x-api-key", GOLD_KEY)
            .body(Body::default())
            .unwrap()
    };
    let first = send(&mut service, post()).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["ratelimit"], "\"throttle\";r=0;t=1");
    assert_eq!(
        send(&mut service, post()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let get = send(&mut service, keyed(GOLD_KEY)).await;
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.headers()["ratelimit"], "\"throttle\";r=99;t=1");
}

// R5: unknown keys create no state.
#[tokio::test]
async fn a_flood_of_unknown_keys_creates_no_limiter_or_quota_state() {
    let clock = ManualClock::new();
    let quotas = MemoryQuotaStore::new();
    let layer = plans(&clock)
        .with_quota_store(Arc::new(quotas.clone()))
        .build()
        .unwrap();
    let mut service = layer.layer(Backend::default().service());
    for i in 0..10_000 {
        let key = format!("unknown{i:0>20}");
        assert_eq!(
            send(&mut service, keyed(&key)).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        format!("{quotas:?}"),
        "MemoryQuotaStore { keys: 0, retention_days: 90 }"
    );
}

// R7: a failing quota store.
#[derive(Debug)]
struct DownStore;

impl QuotaStore for DownStore {
    fn meter(&self, _: &MeterRequest<'_>) -> StoreFuture<Result<MeterOutcome, StoreError>> {
        StoreFuture::new(async { Err(StoreError::new("timed out")) })
    }
    fn usage(&self, _: &str, _: Day, _: Day) -> StoreFuture<Result<KeyUsage, StoreError>> {
        StoreFuture::ready(Err(StoreError::new("timed out")))
    }
    fn grant(&self, _: &str, _: Day, _: u64) -> StoreFuture<Result<(), StoreError>> {
        StoreFuture::ready(Err(StoreError::new("timed out")))
    }
}

#[tokio::test]
async fn failing_quota_store_serves_when_open_and_answers_503_when_closed() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let mut open = plans(&clock)
        .with_quota_store(Arc::new(DownStore))
        .build()
        .unwrap()
        .layer(backend.service());
    assert_eq!(
        send(&mut open, keyed(GOLD_KEY)).await.status(),
        StatusCode::OK
    );
    assert_eq!(backend.identities.lock().unwrap().len(), 1);
    // Keys are still checked when the store is down.
    assert_eq!(
        send(&mut open, keyed("unknown0key0value0000001"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let mut closed = plans(&clock)
        .with_quota_store(Arc::new(DownStore))
        .failure_policy(FailurePolicy::Closed)
        .build()
        .unwrap()
        .layer(backend.service());
    let (status, kind, body) = rejection_of(send(&mut closed, keyed(GOLD_KEY)).await).await;
    assert_eq!(
        (status, kind),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            UsagePlanRejectionKind::StoreUnavailable
        )
    );
    assert_eq!(
        body["type"],
        "urn:apigw:problem:usage-plan:store-unavailable"
    );
    assert_eq!(backend.calls(), 1);
}

#[tokio::test]
async fn usage_report_pages_by_position_and_limit() {
    let clock = ManualClock::at_unix_time(at("2026-11-02", 0));
    let mut builder = UsagePlanLayer::builder()
        .with_clock(shared(&clock))
        .plan(Plan::new("p").quota(QuotaSettings::new(10, QuotaPeriod::Day)))
        .plan(Plan::new("other"));
    for i in 0..5 {
        let value = format!("pagekey{i:0>20}");
        builder = builder.api_key(ApiKey::new(format!("k{i}"), value).unwrap().plan("p"));
    }
    builder = builder.api_key(
        ApiKey::new("elsewhere", "pagekeyelsewhere00000000")
            .unwrap()
            .plan("other"),
    );
    let layer = builder.build().unwrap();
    let today = "2026-11-02".parse::<Day>().unwrap();
    let mut pages = Vec::new();
    let mut position: Option<String> = None;
    loop {
        let page = layer
            .usage_page("p", today, today, position.as_deref(), 2)
            .await
            .unwrap();
        pages.push(page.items.keys().cloned().collect::<Vec<_>>());
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(json.get("position").is_some(), page.position.is_some());
        match page.position {
            Some(next) => position = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, [vec!["k0", "k1"], vec!["k2", "k3"], vec!["k4"]]);
    // The whole report has no position; a page limit must be 1..=MAX_REPORT_PAGE.
    let all = layer.usage("p", today, today, None).await.unwrap();
    assert_eq!((all.items.len(), all.position), (5, None));
    assert!(layer.usage_page("p", today, today, None, 0).await.is_err());
    assert!(
        layer
            .usage_page("p", today, today, None, MAX_REPORT_PAGE + 1)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn failing_quota_store_with_local_policy_meters_the_replicas_share() {
    let clock = ManualClock::new();
    let backend = Backend::default();
    let mut local = UsagePlanLayer::builder()
        .with_clock(shared(&clock))
        .plan(Plan::new("gold").throttle(10.0, 5))
        .plan(Plan::new("bronze").quota(QuotaSettings::new(5, QuotaPeriod::Day)))
        .api_key(ApiKey::new("gold-1", GOLD_KEY).unwrap().plan("gold"))
        .api_key(ApiKey::new("bronze-1", SILVER_KEY).unwrap().plan("bronze"))
        .with_quota_store(Arc::new(DownStore))
        .failure_policy(FailurePolicy::Local { replicas: 2 })
        .build()
        .unwrap()
        .layer(backend.service());
    // Burst 5 over 2 replicas: 2.
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let response = send(&mut local, keyed(GOLD_KEY)).await;
        kinds.push(
            response
                .extensions()
                .get::<UsagePlanRejection>()
                .map(|r| r.kind),
        );
    }
    assert_eq!(kinds, [None, None, Some(UsagePlanRejectionKind::Throttled)]);
    // Quota 5 over 2 replicas: 2.
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let response = send(&mut local, keyed(SILVER_KEY)).await;
        kinds.push(
            response
                .extensions()
                .get::<UsagePlanRejection>()
                .map(|r| r.kind),
        );
    }
    assert_eq!(
        kinds,
        [None, None, Some(UsagePlanRejectionKind::QuotaExceeded)]
    );
    assert_eq!(backend.calls(), 4);
}

#[tokio::test]
async fn config_in_api_gateway_words_builds_the_layer() {
    let config: UsagePlanConfig = serde_json::from_value(serde_json::json!({
        "apiKeySource": "HEADER",
        "apiKeyHeader": "x-custom-key",
        "routes": { "/health/GET": { "apiKeyRequired": false } },
        "usagePlans": [{
            "id": "gold",
            "throttle": { "rateLimit": 10, "burstLimit": 20 },
            "methodThrottle": { "/orders/{id}/POST": { "rateLimit": 1, "burstLimit": 1 } },
            "quota": { "limit": 2, "period": "WEEK", "offset": 1 },
            "startDate": "2026-11-23"
        }],
        "apiKeys": [{ "id": "k1", "value": GOLD_KEY, "usagePlanIds": ["gold"] }]
    }))
    .unwrap();
    assert!(!format!("{config:?}").contains(GOLD_KEY));
    let clock = ManualClock::at_unix_time(at("2026-11-24", 0));
    let layer = UsagePlanLayerBuilder::try_from(config)
        .unwrap()
        .with_clock(shared(&clock))
        .build()
        .unwrap();
    let mut service = layer.layer(Backend::default().service());
    let custom = || {
        Request::get("/orders/1")
            .header("x-custom-key", GOLD_KEY)
            .body(Body::default())
            .unwrap()
    };
    // First week: limit 2 minus offset 1.
    assert_eq!(send(&mut service, custom()).await.status(), StatusCode::OK);
    assert_eq!(
        send(&mut service, custom()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let unknown_field =
        serde_json::from_value::<UsagePlanConfig>(serde_json::json!({ "plans": [] }));
    assert!(unknown_field.is_err());
}

#[test]
fn invalid_plans_fail_to_build() {
    let bad_offset = UsagePlanLayer::builder()
        .plan(Plan::new("p").quota(QuotaSettings::new(1, QuotaPeriod::Day).offset(2)))
        .build();
    assert!(bad_offset.is_err());
    let twice = UsagePlanLayer::builder()
        .plan(Plan::new("p"))
        .plan(Plan::new("p"))
        .build();
    assert!(twice.is_err());
    let bad_rate = UsagePlanLayer::builder()
        .plan(Plan::new("p").throttle(-1.0, 1))
        .build();
    assert!(bad_rate.is_err());
    let bad_key = UsagePlanLayer::builder()
        .api_key(ApiKey::new("a", GOLD_KEY).unwrap())
        .api_key(ApiKey::new("b", GOLD_KEY).unwrap())
        .build();
    assert!(bad_key.is_err());
}
