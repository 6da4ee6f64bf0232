//! The added cost per request of `TokenBucketThrottle` and `UsagePlan` over a
//! no-op service, next to `tower_governor` configured the same way and a bare
//! `governor` check, with one key and with 100,000 keys.
//!
//! `cargo bench --bench throttle`
//!
//! Every row builds the same request (with the same extensions and headers)
//! and drives the service's future by polling it once: all services here
//! answer at once, so no executor is measured. Buckets are configured so that
//! every request is admitted (1e9/s, burst 1,000,000): the admitted path is
//! the one that matters for overhead.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use apigw::clock::Clock;
use apigw::store::ApiKey;
use apigw::throttle::{KeySource, TokenBucketThrottleLayer};
use apigw::usage_plan::{Plan, QuotaPeriod, QuotaSettings, UsagePlanLayer};
use axum::extract::ConnectInfo;
use criterion::{BenchmarkId, Criterion, criterion_group};
use governor::{Quota, RateLimiter};
use http::{Request, Response};
use tower::{Layer, Service};
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::{GlobalKeyExtractor, PeerIpKeyExtractor};

const KEYS: usize = 100_000;
const BURST: u32 = 1_000_000;

type Body = axum::body::Body;

/// The no-op backend: answers at once.
#[derive(Clone, Copy)]
struct Noop;

impl Service<Request<()>> for Noop {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        ready(Ok(Response::new(Body::empty())))
    }
}

/// A clock over `std::time::Instant`: what tokio's clock is without its
/// `test-util` feature (which the dev-dependencies switch on, adding a
/// runtime lookup to every read).
#[derive(Debug)]
struct StdClock;

impl Clock for StdClock {
    #[allow(clippy::disallowed_methods)] // The bench's own production-like clock.
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_time(&self) -> Duration {
        Duration::from_secs(1_700_000_000) + self.now().elapsed()
    }
}

fn poll_once<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("every service in this bench answers at once"),
    }
}

fn drive<S>(service: &mut S, request: Request<()>) -> u16
where
    S: Service<Request<()>>,
    S::Response: HasStatus,
{
    let mut cx = Context::from_waker(Waker::noop());
    let _ = service.poll_ready(&mut cx);
    let status = match poll_once(service.call(request)) {
        Ok(response) => response.status_code(),
        Err(_) => 0,
    };
    // Every request is admitted: a rejection would measure the wrong path.
    assert_eq!(status, 200);
    status
}

trait HasStatus {
    fn status_code(&self) -> u16;
}

impl<B> HasStatus for Response<B> {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn ips() -> Vec<IpAddr> {
    (0..KEYS as u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
        .collect()
}

fn api_keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("benchkey{i:0>24}")).collect()
}

/// Cycles through `n` keys.
struct Cycle {
    next: usize,
    n: usize,
}

impl Cycle {
    fn new(n: usize) -> Self {
        Self { next: 0, n }
    }

    fn next(&mut self) -> usize {
        let i = self.next;
        self.next = if i + 1 == self.n { 0 } else { i + 1 };
        i
    }
}

fn request(ip: IpAddr) -> Request<()> {
    Request::get("/")
        .extension(ConnectInfo(SocketAddr::new(ip, 4000)))
        .body(())
        .unwrap()
}

fn keyed_request(key: &str) -> Request<()> {
    Request::get("/")
        .extension(ConnectInfo(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            4000,
        )))
        .header("x-api-key", key)
        .body(())
        .unwrap()
}

fn quota() -> Quota {
    Quota::with_period(Duration::from_nanos(1))
        .unwrap()
        .allow_burst(NonZeroU32::new(BURST).unwrap())
}

/// One measured row: a name and one request through it.
type Row = (String, Box<dyn FnMut() -> u16>);

fn throttle_rows(keys: usize) -> Vec<Row> {
    let ips = Arc::new(ips());
    let next_ip = {
        let ips = Arc::clone(&ips);
        move || {
            let ips = Arc::clone(&ips);
            let mut cycle = Cycle::new(keys);
            move || ips[cycle.next()]
        }
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut next = next_ip();
    rows.push((
        "noop service".into(),
        Box::new(move || drive(&mut Noop, request(next()))),
    ));

    let mut next = next_ip();
    if keys == 1 {
        let bare = RateLimiter::direct(quota());
        rows.push((
            "bare governor check + noop".into(),
            Box::new(move || {
                let request = request(next());
                assert!(bare.check().is_ok());
                drive(&mut Noop, request)
            }),
        ));
    } else {
        let bare = RateLimiter::dashmap(quota());
        rows.push((
            "bare governor check + noop".into(),
            Box::new(move || {
                let request = request(next());
                let ip = request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .unwrap()
                    .0
                    .ip();
                assert!(bare.check_key(&ip).is_ok());
                drive(&mut Noop, request)
            }),
        ));
    }

    let mut next = next_ip();
    if keys == 1 {
        let config = GovernorConfigBuilder::default()
            .per_nanosecond(1)
            .burst_size(BURST)
            .key_extractor(GlobalKeyExtractor)
            .finish()
            .unwrap();
        let mut service = GovernorLayer::new(config).layer(Noop);
        rows.push((
            "tower_governor".into(),
            Box::new(move || drive(&mut service, request(next()))),
        ));
    } else {
        let config = GovernorConfigBuilder::default()
            .per_nanosecond(1)
            .burst_size(BURST)
            .key_extractor(PeerIpKeyExtractor)
            .finish()
            .unwrap();
        let mut service = GovernorLayer::new(config).layer(Noop);
        rows.push((
            "tower_governor".into(),
            Box::new(move || drive(&mut service, request(next()))),
        ));
    }

    let source = if keys == 1 {
        KeySource::Stage
    } else {
        KeySource::ClientIp
    };
    for (name, clock) in [
        ("apigw TokenBucketThrottle", apigw::clock::default_clock()),
        (
            "apigw TokenBucketThrottle (std clock)",
            Arc::new(StdClock) as _,
        ),
        // The clock source tower_governor reads (quanta's TSC).
        (
            "apigw TokenBucketThrottle (quanta clock)",
            Arc::new(apigw::clock::QuantaClock::new()) as _,
        ),
    ] {
        let layer = TokenBucketThrottleLayer::builder()
            .rate(1e9)
            .burst(BURST)
            .key(source)
            .max_keys(2 * KEYS)
            .with_clock(clock)
            .build()
            .unwrap();
        let mut service = layer.layer(Noop);
        let mut next = next_ip();
        rows.push((
            name.into(),
            Box::new(move || drive(&mut service, request(next()))),
        ));
    }
    rows
}

fn usage_plan_rows(keys: usize) -> Vec<Row> {
    let values = Arc::new(api_keys());
    let next_key = {
        let values = Arc::clone(&values);
        move || {
            let values = Arc::clone(&values);
            let mut cycle = Cycle::new(keys);
            move || keyed_request(&values[cycle.next()])
        }
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut next = next_key();
    rows.push((
        "noop service".into(),
        Box::new(move || drive(&mut Noop, next())),
    ));
    let bare = RateLimiter::direct(quota());
    let mut next = next_key();
    rows.push((
        "bare governor check + noop".into(),
        Box::new(move || {
            let request = next();
            assert!(bare.check().is_ok());
            drive(&mut Noop, request)
        }),
    ));
    for (name, clock, headers) in [
        ("apigw UsagePlan", apigw::clock::default_clock(), true),
        ("apigw UsagePlan (std clock)", Arc::new(StdClock) as _, true),
        (
            "apigw UsagePlan (std clock, no quota headers)",
            Arc::new(StdClock) as _,
            false,
        ),
    ] {
        let plan = Plan::new("p")
            .throttle(1e9, BURST)
            .quota(QuotaSettings::new(u64::MAX, QuotaPeriod::Month));
        let mut builder = UsagePlanLayer::builder()
            .quota_headers(headers)
            .with_clock(clock)
            .max_keys(2 * KEYS)
            .plan(plan);
        for (i, value) in values.iter().take(keys).enumerate() {
            builder = builder.api_key(
                ApiKey::new(format!("k{i}"), value.clone())
                    .unwrap()
                    .plan("p"),
            );
        }
        let mut service = builder.build().unwrap().layer(Noop);
        let mut next = next_key();
        rows.push((name.into(), Box::new(move || drive(&mut service, next()))));
    }
    rows
}

fn run_group(c: &mut Criterion, group: &str, rows: fn(usize) -> Vec<Row>) {
    let mut group = c.benchmark_group(group);
    for keys in [1, KEYS] {
        for (name, mut row) in rows(keys) {
            group.bench_function(BenchmarkId::new(name, keys), |b| b.iter(&mut row));
        }
    }
    group.finish();
}

fn throttle(c: &mut Criterion) {
    run_group(c, "throttle", throttle_rows);
}

fn usage_plan(c: &mut Criterion) {
    run_group(c, "usage_plan", usage_plan_rows);
}

/// Instruction-count mode, for `valgrind --tool=callgrind`:
/// `APIGW_BENCH_LOOP="<group>/<row>/<keys>" APIGW_BENCH_N=<n> <bench binary>`
/// builds every row of the group, then sends `n` requests through the named
/// one (after a warm-up pass over every key). Running it with `n` and `2n`
/// and subtracting the totals gives the instructions per request, setup
/// excluded.
fn instruction_loop(target: &str) {
    let n: usize = std::env::var("APIGW_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let mut parts = target.rsplitn(2, '/');
    let keys: usize = parts.next().and_then(|k| k.parse().ok()).expect("<keys>");
    let rest = parts.next().expect("<group>/<row>");
    let (group, name) = rest.split_once('/').expect("<group>/<row>");
    let rows = match group {
        "throttle" => throttle_rows(keys),
        "usage_plan" => usage_plan_rows(keys),
        _ => panic!("unknown group {group}"),
    };
    let (_, mut row) = rows
        .into_iter()
        .find(|(row, _)| row == name)
        .expect("unknown row");
    for _ in 0..keys {
        std::hint::black_box(row());
    }
    for _ in 0..n {
        std::hint::black_box(row());
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = throttle, usage_plan
}

fn main() {
    if let Ok(target) = std::env::var("APIGW_BENCH_LOOP") {
        instruction_loop(&target);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
