//! API Gateway's metrics through the [`metrics` facade](::metrics).
//!
//! Per request, labelled `route` (the route key, `UNMATCHED` when no route
//! matched — never the raw path, so the label set stays bounded) and `stage`:
//!
//! | metric | kind | meaning |
//! |---|---|---|
//! | `Count` | counter | requests |
//! | `4XXError` | counter | 4xx responses (incremented by 0 otherwise, so the series exists) |
//! | `5XXError` | counter | 5xx responses, or an error from the inner service |
//! | `Latency` | histogram | ms from the request to the response head |
//! | `IntegrationLatency` | histogram | ms spent in the integration, when one recorded it |
//! | `CacheHitCount` / `CacheMissCount` | counter | responses marked `X-Cache: Hit` / `Miss` (unless the [response cache](crate::response_cache) counted them itself) |
//! | `ThrottleCount` | counter | 429 `THROTTLED` rejections |
//! | `QuotaExceededCount` | counter | 429 `QUOTA_EXCEEDED` rejections |
//!
//! Install any recorder (Prometheus, StatsD, …) as the `metrics` crate says.
//! Names are API Gateway's exactly; [`prefix`](GatewayMetricsLayerBuilder::prefix)
//! makes them valid for exporters that need names to start with a letter
//! (`apigw_4XXError`). Place the layer outermost, next to the access log: it
//! reads the route and integration latency that inner layers record in the
//! request's [`Observation`].
//!
//! ```
//! use apigw::metrics::GatewayMetricsLayer;
//! use axum::{Router, routing::get};
//!
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hi" }))
//!     .layer(GatewayMetricsLayer::builder().prefix("apigw_").build());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use ::metrics::{Counter, Histogram};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::clock::{SharedClock, default_clock};
use crate::observe::Observation;
use crate::problem::{GatewayResponseType, Rejection};
use crate::route::{RouteKey, RouteMatch};

/// The header a response cache marks hits and misses with.
const X_CACHE: http::HeaderName = http::HeaderName::from_static("x-cache");

struct Names {
    count: String,
    error_4xx: String,
    error_5xx: String,
    latency: String,
    integration_latency: String,
    cache_hit: String,
    cache_miss: String,
    throttle: String,
    quota: String,
}

impl Names {
    fn new(prefix: &str) -> Self {
        let name = |base: &str| format!("{prefix}{base}");
        Self {
            count: name("Count"),
            error_4xx: name("4XXError"),
            error_5xx: name("5XXError"),
            latency: name("Latency"),
            integration_latency: name("IntegrationLatency"),
            cache_hit: name("CacheHitCount"),
            cache_miss: name("CacheMissCount"),
            throttle: name("ThrottleCount"),
            quota: name("QuotaExceededCount"),
        }
    }
}

/// Most (route, stage) pairs whose handles are kept; the label set is
/// bounded by the route table, this only guards against a pathological one.
const MAX_CACHED_LABEL_SETS: usize = 10_000;

/// The registered metrics of one (route, stage) pair.
struct Handles {
    count: Counter,
    error_4xx: Counter,
    error_5xx: Counter,
    latency: Histogram,
    integration_latency: Histogram,
    cache_hit: Counter,
    cache_miss: Counter,
    throttle: Counter,
    quota: Counter,
}

impl Handles {
    fn register(names: &Names, route: String, stage: String) -> Self {
        let labels = [("route", route), ("stage", stage)];
        Self {
            count: ::metrics::counter!(names.count.clone(), &labels),
            error_4xx: ::metrics::counter!(names.error_4xx.clone(), &labels),
            error_5xx: ::metrics::counter!(names.error_5xx.clone(), &labels),
            latency: ::metrics::histogram!(names.latency.clone(), &labels),
            integration_latency: ::metrics::histogram!(names.integration_latency.clone(), &labels),
            cache_hit: ::metrics::counter!(names.cache_hit.clone(), &labels),
            cache_miss: ::metrics::counter!(names.cache_miss.clone(), &labels),
            throttle: ::metrics::counter!(names.throttle.clone(), &labels),
            quota: ::metrics::counter!(names.quota.clone(), &labels),
        }
    }
}

/// The handles of each route key, per stage (a route table has one).
type HandleMap = HashMap<RouteKey, Vec<(Arc<str>, Arc<Handles>)>, foldhash::fast::RandomState>;

struct Shared {
    names: Names,
    clock: SharedClock,
    /// Handles registered once per label set, so a request costs a map
    /// lookup (no key built, no allocation) and atomic increments.
    handles: RwLock<HandleMap>,
    /// How many label sets `handles` holds.
    cached: AtomicUsize,
    /// The handles of requests no route matched.
    unmatched: OnceLock<Handles>,
}

impl Shared {
    /// Runs `record` with the handles of `route`'s label set.
    fn with_handles(&self, route: Option<&RouteMatch>, record: impl FnOnce(&Handles)) {
        let Some(route) = route else {
            let handles = self.unmatched.get_or_init(|| {
                Handles::register(&self.names, "UNMATCHED".to_owned(), "-".to_owned())
            });
            return record(handles);
        };
        let stage = route.stage_shared();
        let same_stage = |(s, _): &&(Arc<str>, Arc<Handles>)| Arc::ptr_eq(s, stage) || s == stage;
        {
            let cache = self.handles.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, handles)) = cache
                .get(route.route_key())
                .and_then(|stages| stages.iter().find(same_stage))
            {
                return record(handles);
            }
        }
        let handles = Arc::new(Handles::register(
            &self.names,
            route.route_key().to_string(),
            route.stage().to_owned(),
        ));
        record(&handles);
        if self.cached.load(Ordering::Relaxed) < MAX_CACHED_LABEL_SETS {
            let mut cache = self.handles.write().unwrap_or_else(PoisonError::into_inner);
            let stages = cache.entry(route.route_key().clone()).or_default();
            if !stages.iter().any(|entry| same_stage(&entry)) {
                stages.push((Arc::clone(stage), handles));
                self.cached.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Records API Gateway's metrics for every request. See the [module docs](self).
#[derive(Clone)]
#[must_use]
pub struct GatewayMetricsLayer {
    shared: Arc<Shared>,
}

impl GatewayMetricsLayer {
    /// API Gateway's names, tokio's clock.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder.
    pub fn builder() -> GatewayMetricsLayerBuilder {
        GatewayMetricsLayerBuilder {
            prefix: String::new(),
            clock: default_clock(),
        }
    }
}

impl Default for GatewayMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for GatewayMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayMetricsLayer")
            .field("count", &self.shared.names.count)
            .finish_non_exhaustive()
    }
}

/// Builds a [`GatewayMetricsLayer`].
#[derive(Debug)]
#[must_use]
pub struct GatewayMetricsLayerBuilder {
    prefix: String,
    clock: SharedClock,
}

impl GatewayMetricsLayerBuilder {
    /// A prefix for every metric name. Default: none.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The clock latencies are measured with. Default: tokio's.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The layer.
    pub fn build(self) -> GatewayMetricsLayer {
        GatewayMetricsLayer {
            shared: Arc::new(Shared {
                names: Names::new(&self.prefix),
                clock: self.clock,
                handles: RwLock::default(),
                cached: AtomicUsize::new(0),
                unmatched: OnceLock::new(),
            }),
        }
    }
}

impl<S> Layer<S> for GatewayMetricsLayer {
    type Service = GatewayMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GatewayMetrics {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service of [`GatewayMetricsLayer`].
#[derive(Clone)]
pub struct GatewayMetrics<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for GatewayMetrics<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayMetrics")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GatewayMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let state = State {
            shared: Arc::clone(&self.shared),
            observation: Observation::attach(request.extensions_mut()),
            start: self.shared.clock.now(),
        };
        ResponseFuture {
            future: self.inner.call(request),
            state: Some(state),
        }
    }
}

struct State {
    shared: Arc<Shared>,
    observation: Observation,
    start: Instant,
}

pin_project! {
    /// The response future of [`GatewayMetrics`].
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        state: Option<State>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.future.poll(cx));
        if let Some(state) = this.state.take() {
            state.record(result.as_ref().ok());
        }
        Poll::Ready(result)
    }
}

impl State {
    fn record<B>(&self, response: Option<&Response<B>>) {
        let latency = self
            .shared
            .clock
            .now()
            .saturating_duration_since(self.start);
        let status = response.map(Response::status);
        let client_error = status.is_some_and(|s| s.is_client_error());
        let server_error = status.is_none_or(|s| s.is_server_error());
        let rejected = response
            .and_then(|r| r.extensions().get::<Rejection>())
            .map(Rejection::response_type);
        self.observation.read(|observed| {
            self.shared
                .with_handles(observed.route.as_ref(), |handles| {
                    handles.count.increment(1);
                    // Registered at zero with the label set: only errors count.
                    if client_error {
                        handles.error_4xx.increment(1);
                    }
                    if server_error {
                        handles.error_5xx.increment(1);
                    }
                    handles.latency.record(latency.as_secs_f64() * 1000.0);
                    if let Some(integration) = observed.integration_latency {
                        handles
                            .integration_latency
                            .record(integration.as_secs_f64() * 1000.0);
                    }
                    // A response cache that exports its own counts said so: once only.
                    let cache = response
                        .filter(|_| !observed.cache_counted)
                        .and_then(|r| r.headers().get(&X_CACHE))
                        .map(http::HeaderValue::as_bytes);
                    match cache {
                        Some(v) if v.eq_ignore_ascii_case(b"hit") => handles.cache_hit.increment(1),
                        Some(v) if v.eq_ignore_ascii_case(b"miss") => {
                            handles.cache_miss.increment(1)
                        }
                        _ => {}
                    }
                    match rejected {
                        Some(GatewayResponseType::Throttled) => handles.throttle.increment(1),
                        Some(GatewayResponseType::QuotaExceeded) => handles.quota.increment(1),
                        _ => {}
                    }
                });
        });
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::Full;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;
    use crate::clock::ManualClock;
    use crate::problem::GatewayResponses;
    use crate::route::{MatchRouteLayer, RouteTable};

    fn run<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    type Snapshot = Vec<(metrics_util::CompositeKey, DebugValue)>;

    /// One snapshot: taking a snapshot resets the recorder's counters.
    fn snapshot(snapshotter: &Snapshotter) -> Snapshot {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| (key, value))
            .collect()
    }

    fn value<'a>(snapshot: &'a Snapshot, name: &str, route: &str) -> Option<&'a DebugValue> {
        snapshot.iter().find_map(|(key, value)| {
            let key = key.key();
            let matches = key.name() == name
                && key
                    .labels()
                    .any(|l| l.key() == "route" && l.value() == route);
            matches.then_some(value)
        })
    }

    fn counter(snapshot: &Snapshot, name: &str, route: &str) -> u64 {
        match value(snapshot, name, route) {
            Some(DebugValue::Counter(n)) => *n,
            other => panic!("{name}{{route={route}}} is {other:?}"),
        }
    }

    #[test]
    fn counts_errors_latency_and_rejections_by_route() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let clock = ManualClock::new();
        let backend_clock = clock.clone();
        let backend = service_fn(move |request: Request<Full<Bytes>>| {
            backend_clock.advance(Duration::from_millis(40));
            let throttled = request.uri().path() == "/orders/2";
            async move {
                if throttled {
                    let rejection = Rejection::new(GatewayResponseType::Throttled);
                    return Ok::<_, Infallible>(
                        GatewayResponses::default().render::<Full<Bytes>>(&rejection, None),
                    );
                }
                let mut response = Response::new(Full::<Bytes>::default());
                response
                    .headers_mut()
                    .insert(X_CACHE, http::HeaderValue::from_static("Hit"));
                Ok(response)
            }
        });
        let table = RouteTable::builder()
            .stage("prod")
            .route("GET /orders/{id}", ())
            .unwrap()
            .build()
            .unwrap();
        let service = ServiceBuilder::new()
            .layer(
                GatewayMetricsLayer::builder()
                    .with_clock(Arc::new(clock))
                    .build(),
            )
            .layer(MatchRouteLayer::new(table))
            .service(backend);
        metrics::with_local_recorder(&recorder, || {
            run(async {
                for path in ["/orders/1", "/orders/2", "/nope"] {
                    let request = Request::get(path).body(Full::default()).unwrap();
                    service.clone().oneshot(request).await.unwrap();
                }
            });
        });
        let route = "GET /orders/{id}";
        let snapshotter = snapshot(&snapshotter);
        assert_eq!(counter(&snapshotter, "Count", route), 2);
        assert_eq!(counter(&snapshotter, "4XXError", route), 1);
        assert_eq!(counter(&snapshotter, "5XXError", route), 0);
        assert_eq!(counter(&snapshotter, "CacheHitCount", route), 1);
        assert_eq!(counter(&snapshotter, "ThrottleCount", route), 1);
        assert_eq!(counter(&snapshotter, "Count", "UNMATCHED"), 1);
        assert_eq!(counter(&snapshotter, "4XXError", "UNMATCHED"), 1);
        match value(&snapshotter, "Latency", route) {
            Some(DebugValue::Histogram(samples)) => {
                assert_eq!(
                    samples.iter().map(|s| s.into_inner()).collect::<Vec<_>>(),
                    vec![40.0, 40.0]
                );
            }
            other => panic!("Latency is {other:?}"),
        }
    }

    #[test]
    fn an_inner_error_counts_as_a_5xx_and_names_take_the_prefix() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let failing = service_fn(|_request: Request<Full<Bytes>>| async {
            Err::<Response<Full<Bytes>>, _>(std::io::Error::other("boom"))
        });
        let service = GatewayMetricsLayer::builder()
            .prefix("apigw_")
            .build()
            .layer(failing);
        metrics::with_local_recorder(&recorder, || {
            run(async {
                let _ = service
                    .oneshot(Request::get("/").body(Full::default()).unwrap())
                    .await;
            });
        });
        let snapshotter = snapshot(&snapshotter);
        assert_eq!(counter(&snapshotter, "apigw_5XXError", "UNMATCHED"), 1);
        assert_eq!(counter(&snapshotter, "apigw_Count", "UNMATCHED"), 1);
    }
}
