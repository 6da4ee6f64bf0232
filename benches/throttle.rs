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
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
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

fn throttle(c: &mut Criterion) {
    let ips = &ips();
    let mut group = c.benchmark_group("throttle");
    for keys in [1, KEYS] {
        let mut cycle = Cycle::new(keys);
        let mut next_ip = move || ips[cycle.next()];

        let mut noop = Noop;
        group.bench_function(BenchmarkId::new("noop service", keys), |b| {
            b.iter(|| drive(&mut noop, request(next_ip())));
        });

        if keys == 1 {
            let bare = RateLimiter::direct(quota());
            group.bench_function(BenchmarkId::new("bare governor check + noop", keys), |b| {
                b.iter(|| {
                    let request = request(next_ip());
                    assert!(bare.check().is_ok());
                    drive(&mut noop, request)
                });
            });
        } else {
            let bare = RateLimiter::dashmap(quota());
            group.bench_function(BenchmarkId::new("bare governor check + noop", keys), |b| {
                b.iter(|| {
                    let request = request(next_ip());
                    let ip = request
                        .extensions()
                        .get::<ConnectInfo<SocketAddr>>()
                        .unwrap()
                        .0
                        .ip();
                    assert!(bare.check_key(&ip).is_ok());
                    drive(&mut noop, request)
                });
            });
        }

        let mut peer = if keys == 1 {
            let config = GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(BURST)
                .key_extractor(GlobalKeyExtractor)
                .finish()
                .unwrap();
            Err(GovernorLayer::new(config).layer(Noop))
        } else {
            let config = GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(BURST)
                .key_extractor(PeerIpKeyExtractor)
                .finish()
                .unwrap();
            Ok(GovernorLayer::new(config).layer(Noop))
        };
        group.bench_function(BenchmarkId::new("tower_governor", keys), |b| {
            b.iter(|| match &mut peer {
                Ok(service) => drive(service, request(next_ip())),
                Err(service) => drive(service, request(next_ip())),
            });
        });

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
            group.bench_function(BenchmarkId::new(name, keys), |b| {
                b.iter(|| drive(&mut service, request(next_ip())));
            });
        }
    }
    group.finish();
}

fn usage_plan(c: &mut Criterion) {
    let values = api_keys();
    let mut group = c.benchmark_group("usage_plan");
    for keys in [1, KEYS] {
        let mut cycle = Cycle::new(keys);
        let values = values.clone();
        let mut next_key = move || values[cycle.next()].clone();

        let mut noop = Noop;
        group.bench_function(BenchmarkId::new("noop service", keys), |b| {
            b.iter(|| drive(&mut noop, keyed_request(&next_key())));
        });
        let bare = RateLimiter::direct(quota());
        group.bench_function(BenchmarkId::new("bare governor check + noop", keys), |b| {
            b.iter(|| {
                let request = keyed_request(&next_key());
                assert!(bare.check().is_ok());
                drive(&mut noop, request)
            });
        });
        for (name, clock, quota, headers) in [
            ("apigw UsagePlan", apigw::clock::default_clock(), true, true),
            (
                "apigw UsagePlan (std clock)",
                Arc::new(StdClock) as _,
                true,
                true,
            ),
            (
                "apigw UsagePlan (std clock, no quota headers)",
                Arc::new(StdClock) as _,
                true,
                false,
            ),
        ] {
            let plan = Plan::new("p").throttle(1e9, BURST);
            let plan = if quota {
                plan.quota(QuotaSettings::new(u64::MAX, QuotaPeriod::Month))
            } else {
                plan
            };
            let mut builder = UsagePlanLayer::builder()
                .quota_headers(headers)
                .with_clock(clock)
                .max_keys(2 * KEYS)
                .plan(plan);
            for (i, value) in api_keys().into_iter().take(keys).enumerate() {
                builder = builder.api_key(ApiKey::new(format!("k{i}"), value).unwrap().plan("p"));
            }
            let mut service = builder.build().unwrap().layer(Noop);
            group.bench_function(BenchmarkId::new(name, keys), |b| {
                b.iter(|| drive(&mut service, keyed_request(&next_key())));
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = throttle, usage_plan
}
criterion_main!(benches);
