//! A cache hit for a 1 KiB body over a no-op inner service: `apigw`'s
//! `ResponseCache`, next to a bare lookup in moka (the cache library both
//! use) and to `http-cache-tower` with its in-memory moka manager, for the
//! same request and response, in the same run.
//!
//! `cargo bench --bench response_cache`
//!
//! Instruction counts: `APIGW_BENCH_LOOP=<row>:<n>` runs one row's
//! operation 1,000 times and then `n` times outside criterion, each through
//! an `#[inline(never)]` function (`measured_call`: the first poll of
//! `oneshot(request)` plus dropping the response, the request built and the
//! service cloned outside it; `measured_get`: the bare moka get), so
//! callgrind's `--toggle-collect` counts exactly that. `BENCHMARKS.md` has
//! the commands.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use apigw::response_cache::ResponseCacheLayer;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group};
use http::{Request, Response};
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt, service_fn};

const URI: &str = "http://api.example/orders/1";

fn request() -> Request<Full<Bytes>> {
    Request::get(URI).body(Full::default()).unwrap()
}

/// The no-op backend: a 1 KiB body any shared cache may keep for 300 s.
fn backend() -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    let body = Bytes::from(vec![b'x'; 1024]);
    service_fn(move |_request: Request<Full<Bytes>>| {
        let mut response = Response::new(Full::new(body.clone()));
        response.headers_mut().insert(
            "cache-control",
            http::HeaderValue::from_static("public, max-age=300"),
        );
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        async move { Ok::<_, Infallible>(response) }
    })
}

fn hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("response_cache/hit_1KiB");

    // The floor: one get from a moka sync cache, key the request path.
    let bare = moka::sync::Cache::<String, Arc<Bytes>>::new(10_000);
    bare.insert(
        "/orders/1".to_owned(),
        Arc::new(Bytes::from(vec![b'x'; 1024])),
    );
    group.bench_function("bare_moka_get", |b| {
        b.iter(|| black_box(bare.get(black_box("/orders/1"))));
    });

    // Context: the no-op backend alone, no cache, same request and response.
    let plain = backend();
    group.bench_function("no_cache_backend_only", |b| {
        b.to_async(&runtime).iter_batched(
            request,
            |request| {
                let service = plain.clone();
                async move { service.oneshot(request).await.unwrap() }
            },
            BatchSize::SmallInput,
        );
    });

    // apigw: prime the entry, then measure hits.
    let ours = ResponseCacheLayer::builder()
        .build()
        .unwrap()
        .layer(backend());
    runtime.block_on(async {
        let response = ours.clone().oneshot(request()).await.unwrap();
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        let again = ours.clone().oneshot(request()).await.unwrap();
        assert_eq!(again.headers()["x-cache"], "Hit");
    });
    group.bench_function("apigw_response_cache", |b| {
        b.to_async(&runtime).iter_batched(
            request,
            |request| {
                let service = ours.clone();
                async move { service.oneshot(request).await.unwrap() }
            },
            BatchSize::SmallInput,
        );
    });

    // The peer: http-cache-tower, in-memory moka manager, RFC 9111 rules.
    let peer =
        http_cache_tower::HttpCacheLayer::new(http_cache::MokaManager::default()).layer(backend());
    runtime.block_on(async {
        let response = peer.clone().oneshot(request()).await.unwrap();
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        let again = peer.clone().oneshot(request()).await.unwrap();
        assert_eq!(again.headers()["x-cache"], "HIT", "{:?}", again.headers());
    });
    group.bench_function("http_cache_tower", |b| {
        b.to_async(&runtime).iter_batched(
            request,
            |request| {
                let service = peer.clone();
                async move { service.oneshot(request).await.unwrap() }
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// The bare moka get, alone in a function callgrind can count.
#[inline(never)]
fn measured_get(cache: &moka::sync::Cache<String, Arc<Bytes>>, key: &str) -> Option<Arc<Bytes>> {
    cache.get(key)
}

/// The first poll of a `oneshot` (`poll_ready`, `call`, the response
/// future's poll) and dropping its response, alone in a function callgrind
/// can count.
#[inline(never)]
fn measured_call<F, B, E>(future: Pin<&mut F>, cx: &mut Context<'_>)
where
    F: Future<Output = Result<Response<B>, E>>,
{
    match future.poll(cx) {
        Poll::Ready(Ok(response)) => drop(response),
        _ => panic!("the response was not ready at once"),
    }
}

/// `APIGW_BENCH_LOOP=<row>:<n>`: the row's operation 1,000 times, then `n`
/// times, inside the runtime's context as under criterion.
fn instruction_loop(spec: &str) {
    let (row, n) = spec
        .rsplit_once(':')
        .expect("APIGW_BENCH_LOOP is <row>:<iterations>");
    let n: u64 = n.parse().expect("iterations are a number");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _context = runtime.enter();
    let mut cx = Context::from_waker(Waker::noop());
    let mut calls = |service: &dyn Fn(Request<Full<Bytes>>, &mut Context<'_>)| {
        for _ in 0..1_000 + n {
            service(request(), &mut cx);
        }
    };
    match row {
        "bare_moka_get" => {
            let bare = moka::sync::Cache::<String, Arc<Bytes>>::new(10_000);
            bare.insert(
                "/orders/1".to_owned(),
                Arc::new(Bytes::from(vec![b'x'; 1024])),
            );
            for _ in 0..1_000 + n {
                black_box(measured_get(&bare, black_box("/orders/1")));
            }
        }
        "no_cache_backend_only" => {
            let plain = backend();
            calls(&|request, cx| {
                let future = pin!(plain.clone().oneshot(request));
                measured_call(future, cx);
            });
        }
        "apigw_response_cache" => {
            let cache = ResponseCacheLayer::builder().build().unwrap();
            let ours = cache.layer(backend());
            runtime.block_on(async {
                let response = ours.clone().oneshot(request()).await.unwrap();
                http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .unwrap();
            });
            calls(&|request, cx| {
                let future = pin!(ours.clone().oneshot(request));
                measured_call(future, cx);
            });
            assert_eq!(cache.stats().hits, 1_000 + n);
        }
        _ => panic!(
            "no row `{row}`; there are bare_moka_get, no_cache_backend_only, apigw_response_cache"
        ),
    }
}

criterion_group!(benches, hit);

fn main() {
    if let Ok(spec) = std::env::var("APIGW_BENCH_LOOP") {
        instruction_loop(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
