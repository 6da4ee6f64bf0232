//! The shared core's cost per request: route matching, and the route,
//! access-log and metrics layers over a no-op service.
//!
//! `cargo bench --bench core`; instruction counts of one scenario:
//! `benches/instructions.sh core <scenario>` (see `benches/support`).

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use apigw::access_log::{AccessLogLayer, TracingSink};
use apigw::metrics::GatewayMetricsLayer;
use apigw::route::{MatchRouteLayer, RouteTable};
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;
use tower::{Layer, Service, service_fn};

mod support;
use support::Scenario;

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

/// A scenario that sends `GET /orders/42` through `service`.
fn through<S>(name: &str, mut service: S) -> Scenario
where
    S: Service<Request<Full<Bytes>>> + 'static,
    S::Error: std::fmt::Debug,
{
    Scenario::new("core layers over a no-op service", name, move || {
        let request = Request::get("/orders/42").body(Full::default()).unwrap();
        black_box(ready(service.call(request)).unwrap());
    })
}

fn scenarios() -> Vec<Scenario> {
    let matching = "route matching";
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
    let lookup = |method: Method, path: &'static str| {
        let table = table();
        move || {
            black_box(table.lookup(black_box(&method), black_box(path)).unwrap().1);
        }
    };
    let sink = |line: &str| {
        black_box(line);
    };
    vec![
        Scenario::new(matching, "floor: matchit at", move || {
            black_box(router.at(black_box("/orders/42")).unwrap().value);
        }),
        Scenario::new(
            matching,
            "RouteTable::lookup GET /orders/{id}",
            lookup(Method::GET, "/orders/42"),
        ),
        Scenario::new(
            matching,
            "RouteTable::lookup GET /health",
            lookup(Method::GET, "/health"),
        ),
        Scenario::new(
            matching,
            "RouteTable::lookup HEAD /orders/{id}",
            lookup(Method::HEAD, "/orders/42"),
        ),
        through("bare no-op service", noop()),
        through("MatchRoute", MatchRouteLayer::new(table()).layer(noop())),
        through(
            "AccessLog (default JSON format) + MatchRoute",
            AccessLogLayer::builder()
                .sink(sink)
                .build()
                .unwrap()
                .layer(MatchRouteLayer::new(table()).layer(noop())),
        ),
        through(
            "AccessLog (tracing sink, no subscriber) + MatchRoute",
            AccessLogLayer::builder()
                .sink(TracingSink)
                .build()
                .unwrap()
                .layer(MatchRouteLayer::new(table()).layer(noop())),
        ),
        through(
            "GatewayMetrics (no recorder) + MatchRoute",
            GatewayMetricsLayer::new().layer(MatchRouteLayer::new(table()).layer(noop())),
        ),
    ]
}

fn main() {
    support::main(scenarios);
}
