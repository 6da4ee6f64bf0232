//! The shared core's cost per request: route matching, and the route,
//! access-log and metrics layers over a no-op service.
//!
//! `cargo bench --bench core`

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use apigw::access_log::AccessLogLayer;
use apigw::metrics::GatewayMetricsLayer;
use apigw::route::{MatchRouteLayer, RouteTable};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Method, Request, Response};
use http_body_util::Full;
use tower::{Layer, Service, service_fn};

const ROUTES: [&str; 10] = [
    "GET /orders",
    "POST /orders",
    "GET /orders/{id}",
    "PUT /orders/{id}",
    "DELETE /orders/{id}",
    "GET /orders/{id}/items",
    "GET /customers/{id}",
    "GET /health",
    "ANY /admin/{proxy+}",
    "$default",
];

fn table() -> RouteTable<()> {
    ROUTES
        .iter()
        .fold(RouteTable::builder().stage("prod"), |b, r| {
            b.route(r, ()).unwrap()
        })
        .build()
        .unwrap()
}

/// Polls a future that is ready at once (every service here is synchronous).
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked service was not ready at once"),
    }
}

fn noop()
-> impl Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone {
    service_fn(|_request: Request<Full<Bytes>>| {
        std::future::ready(Ok(Response::new(Full::default())))
    })
}

fn call<S>(service: &mut S) -> S::Response
where
    S: Service<Request<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    let request = Request::get("/orders/42").body(Full::default()).unwrap();
    ready(service.call(request)).unwrap()
}

fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("route matching");
    let mut router = matchit::Router::new();
    for (i, path) in [
        "/orders",
        "/orders/{id}",
        "/orders/{id}/items",
        "/customers/{id}",
        "/health",
    ]
    .iter()
    .enumerate()
    {
        router.insert(*path, i).unwrap();
    }
    group.bench_function("floor: matchit at", |b| {
        b.iter(|| black_box(router.at(black_box("/orders/42")).unwrap().value))
    });
    let table = table();
    group.bench_function("RouteTable::lookup", |b| {
        b.iter(|| {
            black_box(
                table
                    .lookup(&Method::GET, black_box("/orders/42"))
                    .unwrap()
                    .1,
            )
        });
    });
    group.finish();
}

fn layers(c: &mut Criterion) {
    let mut group = c.benchmark_group("core layers over a no-op service");
    let mut bare = noop();
    group.bench_function("bare no-op service", |b| {
        b.iter(|| black_box(call(&mut bare)))
    });
    let mut routed = MatchRouteLayer::new(table()).layer(noop());
    group.bench_function("MatchRoute", |b| b.iter(|| black_box(call(&mut routed))));
    let log = AccessLogLayer::builder().sink(|line: &str| {
        black_box(line);
    });
    let mut logged = log
        .build()
        .unwrap()
        .layer(MatchRouteLayer::new(table()).layer(noop()));
    group.bench_function("AccessLog (default JSON format) + MatchRoute", |b| {
        b.iter(|| black_box(call(&mut logged)))
    });
    let mut measured =
        GatewayMetricsLayer::new().layer(MatchRouteLayer::new(table()).layer(noop()));
    group.bench_function("GatewayMetrics (no recorder) + MatchRoute", |b| {
        b.iter(|| black_box(call(&mut measured)))
    });
    group.finish();
}

criterion_group!(benches, matching, layers);
criterion_main!(benches);
