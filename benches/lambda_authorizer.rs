//! `LambdaAuthorizerCache` on a cache hit, policy re-evaluation included,
//! over a no-op inner service, next to a bare moka lookup in the same run,
//! at 1 and 100,000 cached identities.
//!
//! `CARGO_TARGET_DIR=/work/target-shared cargo bench --bench lambda_authorizer`
//!
//! Figures to read: `hit/N` − `inner_only` is the layer's added cost;
//! divide it by `moka_get/N`. Targets: at most 3× the bare lookup, and flat
//! (within 1.5×) from 1 to 100,000 identities.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use apigw::events::authorizer::{AuthorizerRequest, IamPolicyResponse};
use apigw::lambda_authorizer::LambdaAuthorizerCacheLayer;
use bytes::Bytes;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt, service_fn};

const SIZES: [usize; 2] = [1, 100_000];

/// A future that is ready when first polled (every hit is), polled once.
fn poll_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a cache hit must be decided synchronously"),
    }
}

fn token(i: usize) -> String {
    format!("opaque-token-{i:08}")
}

fn request(token: &str) -> Request<Full<Bytes>> {
    Request::get("/pets/42")
        .header("authorization", token)
        .body(Full::default())
        .unwrap()
}

fn noop()
-> impl Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(|_: Request<Full<Bytes>>| async { Ok(Response::new(Full::default())) })
}

// The timed routines, never inlined, so that callgrind can count exactly
// them (`--toggle-collect=*hit_routine*`; see BENCHMARKS.md).

#[inline(never)]
fn inner_only_routine<S>(inner: &mut S, request: Request<Full<Bytes>>) -> Response<Full<Bytes>>
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>,
{
    poll_now(inner.call(request)).unwrap()
}

#[inline(never)]
fn hit_routine<S, B>(service: &mut S, request: Request<Full<Bytes>>) -> Response<B>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>,
{
    poll_now(service.call(request)).unwrap()
}

#[inline(never)]
fn moka_get_routine(
    cache: &moka::sync::Cache<Box<[u8]>, Arc<u64>>,
    key: &[u8],
) -> Option<Arc<u64>> {
    cache.get(key)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("lambda_authorizer");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.bench_function("inner_only", |b| {
        let mut inner = noop();
        b.iter_batched(
            || request("opaque-token-00000000"),
            |req| black_box(inner_only_routine(&mut inner, req)),
            BatchSize::SmallInput,
        );
    });

    for size in SIZES {
        let tokens: Vec<String> = (0..size).map(token).collect();

        // The layer, filled with `size` identities through real misses, the
        // first time its bench runs (not when a filter skips it).
        let authorizer = |request: AuthorizerRequest| async move {
            let principal = request.token().unwrap_or_default();
            Ok(
                IamPolicyResponse::allow(principal, "arn:aws:execute-api:*:*:api1/prod/GET/pets/*")
                    .with_context("tier", "gold"),
            )
        };
        let layer = LambdaAuthorizerCacheLayer::builder(authorizer)
            .token("Authorization")
            .api_id("api1")
            .stage("prod")
            .ttl(Duration::from_secs(3600))
            .max_entries(2 * size as u64)
            .build()
            .unwrap();
        let service = layer.layer(noop());
        let mut filled = false;

        let mut next = 0;
        group.bench_with_input(BenchmarkId::new("hit", size), &size, |b, _| {
            if !std::mem::replace(&mut filled, true) {
                runtime.block_on(async {
                    for token in &tokens {
                        let response = service.clone().oneshot(request(token)).await.unwrap();
                        assert_eq!(response.status(), 200);
                    }
                });
            }
            let mut service = service.clone();
            b.iter_batched(
                || {
                    next = (next + 1) % size;
                    request(&tokens[next])
                },
                |req| {
                    let response = hit_routine(&mut service, req);
                    debug_assert_eq!(response.status(), 200);
                    black_box(response)
                },
                BatchSize::SmallInput,
            );
        });

        // The floor: the same number of keys, encoded the same way, in a
        // bare moka cache.
        let keys: Vec<Box<[u8]>> = tokens
            .iter()
            .map(|token| {
                let mut key = (token.len() as u64).to_be_bytes().to_vec();
                key.extend_from_slice(token.as_bytes());
                key.into_boxed_slice()
            })
            .collect();
        let mut bare = None;
        let mut next = 0;
        group.bench_with_input(BenchmarkId::new("moka_get", size), &size, |b, _| {
            let bare = bare.get_or_insert_with(|| {
                let bare: moka::sync::Cache<Box<[u8]>, Arc<u64>> = moka::sync::Cache::builder()
                    .max_capacity(2 * size as u64)
                    .time_to_live(Duration::from_secs(3600))
                    .build();
                for (i, key) in keys.iter().enumerate() {
                    bare.insert(key.clone(), Arc::new(i as u64));
                }
                bare.run_pending_tasks();
                bare
            });
            b.iter(|| {
                next = (next + 1) % size;
                black_box(moka_get_routine(bare, &keys[next]))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
