//! The load-test server: the orders API bare on one port and behind the demo
//! gateway's whole stack on another, in one process, for `benches/load.sh`.
//!
//! `cargo run --release --example gateway_load -- BARE_PORT STACK_PORT [CONTROL_PORT]`
//!
//! The stack is `examples/gateway.rs`'s, configured by
//! `examples/gateway_load.json`: every limit is high enough that a load test
//! is never throttled, and `GET /orders` needs a token and an API key. Access
//! log lines are formatted for every request and then dropped (not written
//! to a terminal, which would measure the terminal). Prints `TOKEN=…` and
//! `API_KEY=…` for the load generator, then serves until Ctrl-C.
//!
//! Both ports time each request in process, from the service call to its
//! response head: API Gateway's own split, `Latency` minus the integration's.
//! `GET /latency` on the control port (default 8083) answers
//! `bare|stack COUNT P50_NS P90_NS P99_NS P999_NS` per line and starts both
//! histograms afresh. Both sides pay the same two clock reads.

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[allow(dead_code, unreachable_pub)]
#[path = "gateway.rs"]
mod gateway;

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::serve::IncomingStream;
use gateway::{BoxError, GatewayConfig};
use http::{Request, Response};
use tower::Service;

const CONFIG: &str = include_str!("gateway_load.json");

fn port(arg: Option<String>, default: u16) -> Result<u16, BoxError> {
    Ok(arg.map(|p| p.parse()).transpose()?.unwrap_or(default))
}

/// Request latencies: 100 ns buckets up to 1 ms, 10 µs buckets up to
/// 100 ms, then one bucket for everything slower.
struct Histogram {
    buckets: Box<[AtomicU64]>,
}

const FINE: u64 = 10_000;
const COARSE: u64 = 9_900;

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: (0..=FINE + COARSE).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn bucket(nanos: u64) -> u64 {
        if nanos < 1_000_000 {
            nanos / 100
        } else {
            (FINE + (nanos - 1_000_000) / 10_000).min(FINE + COARSE)
        }
    }

    /// The lower bound of `bucket`, in ns.
    fn floor(bucket: u64) -> u64 {
        if bucket < FINE {
            bucket * 100
        } else {
            1_000_000 + (bucket - FINE) * 10_000
        }
    }

    fn record(&self, nanos: u64) {
        let bucket = Self::bucket(nanos) as usize;
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// `COUNT P50 P90 P99 P999` (ns), and empties the histogram.
    fn take(&self) -> String {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.swap(0, Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let mut line = total.to_string();
        for per_mille in [500, 900, 990, 999] {
            let rank = (total * per_mille).div_ceil(1000).max(1);
            let mut seen = 0;
            let bucket = counts
                .iter()
                .position(|&count| {
                    seen += count;
                    seen >= rank
                })
                .unwrap_or(0);
            line.push_str(&format!(" {}", Self::floor(bucket as u64)));
        }
        line
    }
}

/// `inner` with the peer's address inserted (as axum's
/// `into_make_service_with_connect_info` does) and each request timed.
#[derive(Clone)]
struct Timed<S> {
    inner: S,
    peer: SocketAddr,
    histogram: Arc<Histogram>,
}

impl<S> Service<Request<Body>> for Timed<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = TimedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    // The instrument reads the machine's clock itself, outside the stack it
    // times (and the same way for both sides).
    #[allow(clippy::disallowed_methods)]
    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let start = Instant::now();
        request.extensions_mut().insert(ConnectInfo(self.peer));
        TimedFuture {
            future: self.inner.call(request),
            start,
            histogram: Arc::clone(&self.histogram),
        }
    }
}

pin_project_lite::pin_project! {
    struct TimedFuture<F> {
        #[pin]
        future: F,
        start: Instant,
        histogram: Arc<Histogram>,
    }
}

impl<F: Future> Future for TimedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let output = ready!(this.future.poll(cx));
        let nanos = u64::try_from(this.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        this.histogram.record(nanos);
        Poll::Ready(output)
    }
}

async fn serve_timed<S>(
    listener: tokio::net::TcpListener,
    service: S,
    histogram: Arc<Histogram>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let connections = tower::service_fn(move |stream: IncomingStream<'_, _>| {
        std::future::ready(Ok::<_, Infallible>(Timed {
            inner: service.clone(),
            peer: *stream.remote_addr(),
            histogram: Arc::clone(&histogram),
        }))
    });
    axum::serve(listener, connections)
        .with_graceful_shutdown(shutdown)
        .await
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let bare_port = port(args.next(), 8081)?;
    let stack_port = port(args.next(), 8082)?;
    let control_port = port(args.next(), 8083)?;
    let listen =
        |port: u16| tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)));
    let bare = listen(bare_port).await?;
    let stack = listen(stack_port).await?;
    let control = listen(control_port).await?;
    let base = format!("http://{}", stack.local_addr()?);
    let config = GatewayConfig::from_json(CONFIG)?;
    let (app, demo) = gateway::gateway(config, &base, |line: &str| {
        std::hint::black_box(line);
    })?;
    println!("BARE=http://{}", bare.local_addr()?);
    println!("STACK={base}");
    println!("CONTROL=http://{}", control.local_addr()?);
    println!("TOKEN={}", demo.token);
    println!("API_KEY={}", demo.api_key.unwrap_or_default());
    let shutdown = || async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let bare_latency = Arc::new(Histogram::new());
    let stack_latency = Arc::new(Histogram::new());
    let latency = {
        let (bare, stack) = (Arc::clone(&bare_latency), Arc::clone(&stack_latency));
        move || {
            let (bare, stack) = (bare.take(), stack.take());
            async move { format!("bare {bare}\nstack {stack}\n") }
        }
    };
    let control = axum::serve(control, axum::Router::new().route("/latency", get(latency)))
        .with_graceful_shutdown(shutdown())
        .into_future();
    // Bare: the orders API as an axum application.
    let orders = gateway::orders_api(apigw::problem::GatewayResponses::default())?;
    let bare = serve_timed(bare, orders, bare_latency, shutdown());
    // The stack: the demo gateway's application (the peer address comes from
    // `Timed`, as the bare side's does).
    let stack = serve_timed(stack, app, stack_latency, shutdown());
    let (bare, stack, control) = tokio::join!(bare, stack, control);
    bare?;
    stack?;
    control?;
    Ok(())
}
