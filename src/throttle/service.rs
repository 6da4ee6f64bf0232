//! The throttle service.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::mem;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use tower_service::Service;

use super::bucket::ceil_secs;
use super::future::{ResponseFuture, Verdict};
use super::key::{ExtractKey, RequestInfo, Route, SourceIp};
use super::{Limit, ThrottleRejection, ThrottleRejectionKind};
use crate::identity::RequestId;
use crate::prehashed::BuildPassThrough;
use crate::problem::{GatewayResponseType, GatewayResponses, Rejection};
use crate::route::{RouteKey, RouteMatch, RouteTable};
use crate::store::{BucketKey, Decision, FailurePolicy, Limiter, MemoryLimiter, StoreError};

/// The IETF `RateLimit` header.
pub(crate) const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The IETF `RateLimit-Policy` header.
pub(crate) const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// The budget headers of an admitted response.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    pub(crate) policy: HeaderValue,
    pub(crate) state: HeaderValue,
}

impl Budget {
    pub(crate) fn insert_into(self, headers: &mut HeaderMap) {
        // Appended: stacked layers each add their own item.
        headers.append(RATE_LIMIT_POLICY, self.policy);
        headers.append(RATE_LIMIT, self.state);
    }
}

/// `00`, `01`, … `99`.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// How many decimal digits `value` has.
#[inline]
fn decimal_len(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// `value` in decimal into `out`, which holds exactly its digits: two digits
/// per division, from a table, from the right.
#[inline]
fn write_digits(out: &mut [u8], value: u64) {
    let mut i = out.len();
    let mut v = value;
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        out[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        out[i - 2..i].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        out[i - 1] = b'0' + v as u8;
    }
}

/// A structured-field list (`"name";q=1;w=2, "other";…`) written into a
/// fixed buffer: no formatting machinery, one allocation for the value.
pub(crate) struct FieldList {
    buf: [u8; 192],
    len: usize,
}

impl FieldList {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0; 192],
            len: 0,
        }
    }

    // Byte by byte: the pieces are a few bytes long, shorter than the cost
    // of a `memcpy` call (measured with callgrind, see BENCHMARKS.md).
    fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = byte;
                self.len += 1;
            }
        }
    }

    fn item(&mut self, name: &str) -> &mut Self {
        if self.len > 0 {
            self.push(b", ");
        }
        self.push(b"\"");
        self.push(name.as_bytes());
        self.push(b"\"");
        self
    }

    /// `;<key>=<value>`.
    #[inline]
    fn param(&mut self, key: &[u8], value: u64) -> &mut Self {
        let digits = decimal_len(value);
        let at = self.len;
        let start = at + key.len() + 2;
        let end = start + digits;
        if end > self.buf.len() {
            return self.param_cut(key, value);
        }
        // Written in place: no pass through a digit buffer and no byte-by-
        // byte bounds check.
        self.buf[at] = b';';
        for (slot, &byte) in self.buf[at + 1..start - 1].iter_mut().zip(key) {
            *slot = byte;
        }
        self.buf[start - 1] = b'=';
        write_digits(&mut self.buf[start..end], value);
        self.len = end;
        self
    }

    /// [`param`](Self::param) when it does not fit: as much of it as does.
    #[cold]
    fn param_cut(&mut self, key: &[u8], value: u64) -> &mut Self {
        self.push(b";");
        self.push(key);
        self.push(b"=");
        let mut digits = [0u8; 20];
        let count = decimal_len(value);
        write_digits(&mut digits[..count], value);
        self.push(&digits[..count]);
        self
    }

    /// `"name";q=<quota>;w=<seconds to refill>` (RateLimit-Policy).
    pub(crate) fn policy(&mut self, name: &str, quota: u64, window: Duration) -> &mut Self {
        self.item(name)
            .param(b"q", quota)
            .param(b"w", ceil_secs(window).max(1))
    }

    /// `"name";r=<remaining>;t=<seconds to reset>` (RateLimit).
    pub(crate) fn state(&mut self, name: &str, remaining: u64, reset: Duration) -> &mut Self {
        self.item(name)
            .param(b"r", remaining)
            .param(b"t", ceil_secs(reset))
    }

    /// `"name";r=0`, for a bucket that never refills.
    pub(crate) fn empty(&mut self, name: &str) -> &mut Self {
        self.item(name).param(b"r", 0)
    }

    #[cfg(feature = "usage-plan")]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.buf[..self.len])
            .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
    }
}

/// The route a request matched: its [`RouteMatch`] (borrowed), axum's
/// `MatchedPath`, or a match against `table`.
pub(crate) fn route_of<'a, B>(
    request: &'a Request<B>,
    table: Option<&RouteTable<()>>,
) -> Option<Cow<'a, RouteKey>> {
    let extensions = request.extensions();
    if let Some(matched) = extensions.get::<RouteMatch>() {
        return Some(Cow::Borrowed(matched.route_key()));
    }
    #[cfg(feature = "axum")]
    if let Some(path) = extensions.get::<axum::extract::MatchedPath>() {
        return RouteMatch::from_axum(
            request.method(),
            path.as_str(),
            request.uri().path(),
            crate::route::DEFAULT_STAGE,
        )
        .map(|m| Cow::Owned(m.route_key().clone()));
    }
    table?
        .lookup(request.method(), request.uri().path())
        .map(|(_, m)| Cow::Owned(m.route_key().clone()))
}

/// One limit's buckets: the store's limiter and, when the layer keeps its
/// buckets in its own in-memory store, the same limiter without the store
/// trait's dynamic call and answer.
#[derive(Debug)]
pub(crate) struct LimiterRef {
    pub(crate) store: Arc<dyn Limiter>,
    pub(crate) memory: Option<Arc<MemoryLimiter>>,
    /// The limit's `RateLimit-Policy` value, made with the layer: it changes
    /// only with the limit. `None` until [`with_policy`](Self::with_policy).
    pub(crate) policy: Option<PolicyValue>,
}

/// A `RateLimit-Policy` value and the limit it was made for.
#[derive(Clone, Debug)]
pub(crate) struct PolicyValue {
    limit: Limit,
    value: HeaderValue,
}

impl PolicyValue {
    fn new(name: &str, limit: Limit) -> Self {
        Self {
            limit,
            value: policy_value(name, limit),
        }
    }
}

/// `"name";q=<burst>;w=<window>`.
fn policy_value(name: &str, limit: Limit) -> HeaderValue {
    FieldList::new()
        .policy(name, u64::from(limit.burst()), limit.window())
        .value()
}

impl LimiterRef {
    pub(crate) fn new(store: Arc<dyn Limiter>) -> Self {
        Self {
            store,
            memory: None,
            policy: None,
        }
    }

    pub(crate) fn memory(memory: MemoryLimiter) -> Self {
        let memory = Arc::new(memory);
        Self {
            store: Arc::clone(&memory) as Arc<dyn Limiter>,
            memory: Some(memory),
            policy: None,
        }
    }

    /// Makes the `RateLimit-Policy` value of the layer named `name`.
    pub(crate) fn with_policy(mut self, name: &str) -> Self {
        self.policy = Some(PolicyValue::new(name, self.store.spec().limit()));
        self
    }
}

/// A route's own limit.
#[derive(Debug)]
pub(crate) struct RouteLimiter {
    pub(crate) route: RouteKey,
    /// The route's bucket under the [`Route`] key, made when the layer is
    /// built.
    pub(crate) bucket: BucketKey,
    pub(crate) limiter: LimiterRef,
}

impl RouteLimiter {
    pub(crate) fn new(route: RouteKey, limiter: LimiterRef) -> Self {
        Self {
            bucket: Route::bucket_of(&route),
            route,
            limiter,
        }
    }
}

/// How many routes without a limit of their own [`RouteBuckets`] keeps the
/// bucket key of. Routes come from the configuration, so there are few.
const ROUTE_BUCKETS: usize = 1024;

/// The [`Route`] key's bucket keys of routes without a limit of their own
/// (those with one keep theirs in [`RouteLimiter`]), each made on the
/// route's first request rather than on every one. Past [`ROUTE_BUCKETS`]
/// routes, a new route's key is made per request.
#[derive(Default)]
pub(crate) struct RouteBuckets(RwLock<HashMap<RouteKey, BucketKey, BuildPassThrough>>);

impl RouteBuckets {
    fn bucket(&self, route: &RouteKey) -> BucketKey {
        if let Some(bucket) = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            return bucket.clone();
        }
        self.insert(route)
    }

    #[cold]
    fn insert(&self, route: &RouteKey) -> BucketKey {
        let mut buckets = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = buckets.get(route) {
            return bucket.clone();
        }
        let bucket = Route::bucket_of(route);
        if buckets.len() < ROUTE_BUCKETS {
            buckets.insert(route.clone(), bucket.clone());
        }
        bucket
    }
}

/// The layer's key: the built-in ones called directly, the rest through
/// [`ExtractKey`].
pub(crate) enum KeyExtractor {
    /// The stage's one bucket: nothing to extract.
    Stage,
    SourceIp(SourceIp),
    /// [`Route`], with its keys made once per route.
    Route(RouteBuckets),
    Other(Box<dyn ExtractKey>),
}

pub(crate) struct Shared {
    pub(crate) default: LimiterRef,
    pub(crate) routes: Vec<RouteLimiter>,
    pub(crate) table: Option<RouteTable<()>>,
    pub(crate) key: KeyExtractor,
    pub(crate) needs_route: bool,
    pub(crate) headers: bool,
    pub(crate) responses: GatewayResponses,
    pub(crate) failure: FailurePolicy,
    /// The layer's name: its item in the `RateLimit` headers.
    pub(crate) name: Arc<str>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucketThrottle")
            .field("default", &self.default)
            .field("routes", &self.routes)
            .field("headers", &self.headers)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The limit of `route`, and the route's [`Route`] bucket key when it
    /// has a limit of its own.
    #[inline]
    fn limiter(&self, route: Option<&RouteKey>) -> (&LimiterRef, Option<&BucketKey>) {
        if self.routes.is_empty() {
            return (&self.default, None);
        }
        route
            .and_then(|route| self.routes.iter().find(|limit| limit.route == *route))
            .map_or((&self.default, None), |limit| {
                (&limit.limiter, Some(&limit.bucket))
            })
    }

    /// Admit with optional headers, or the rejection. `policy` is the
    /// limiter's `RateLimit-Policy` value made with the layer; used while
    /// the limiter's limit is the one it was made for.
    fn decide(
        &self,
        limiter: &dyn Limiter,
        policy: Option<&PolicyValue>,
        result: Result<Decision, StoreError>,
    ) -> Result<Option<Budget>, Box<(Rejection, ThrottleRejection)>> {
        let spec = limiter.spec();
        let limit = spec.limit();
        match result {
            Ok(Decision::Admitted { remaining, reset }) => Ok(self.headers.then(|| Budget {
                policy: match policy {
                    Some(made) if made.limit == limit => made.value.clone(),
                    _ => policy_value(&self.name, limit),
                },
                state: FieldList::new()
                    .state(&self.name, u64::from(remaining), reset)
                    .value(),
            })),
            Ok(Decision::Rejected { retry_after }) => {
                Err(Box::new(throttled(&self.name, limit, retry_after)))
            }
            Err(error) => match self.failure {
                // `Local` wraps every limiter in a `FallbackLimiter`, which
                // does not fail; were one to, admit.
                FailurePolicy::Open | FailurePolicy::Local { .. } => {
                    tracing::warn!(limit = spec.name(), %error, "throttle store failed; admitting (fail open)");
                    Ok(None)
                }
                FailurePolicy::Closed => {
                    tracing::error!(limit = spec.name(), %error, "throttle store failed; rejecting (fail closed)");
                    Err(Box::new(store_unavailable()))
                }
            },
        }
    }
}

impl Shared {
    /// The response future for a decision the store made at once.
    fn answer<S, ReqBody, ResBody>(
        &self,
        limiter: &LimiterRef,
        result: Result<Decision, StoreError>,
        request: Request<ReqBody>,
        inner: &mut S,
    ) -> ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        match self.decide(limiter.store.as_ref(), limiter.policy.as_ref(), result) {
            Ok(budget) => ResponseFuture::inner(inner.call(request), budget),
            Err(rejected) => {
                let (rejection, typed) = *rejected;
                let mut response = self.responses.reject(&rejection, &request);
                response.extensions_mut().insert(typed);
                ResponseFuture::ready(response)
            }
        }
    }
}

/// 429 `THROTTLED` with `Retry-After` (rounded up) and the `RateLimit` headers.
pub(crate) fn throttled(
    name: &str,
    limit: Limit,
    retry_after: Option<Duration>,
) -> (Rejection, ThrottleRejection) {
    let kind = if retry_after.is_some() {
        ThrottleRejectionKind::BucketEmpty
    } else {
        ThrottleRejectionKind::Blocked
    };
    let mut rejection = Rejection::new(GatewayResponseType::Throttled)
        .with_problem_type(kind.problem_type())
        .with_header(
            RATE_LIMIT_POLICY,
            FieldList::new()
                .policy(name, u64::from(limit.burst()), limit.window())
                .value(),
        );
    match retry_after {
        Some(wait) => {
            let secs = ceil_secs(wait);
            rejection = rejection
                .with_header(RETRY_AFTER, HeaderValue::from(secs))
                .with_header(RATE_LIMIT, FieldList::new().state(name, 0, wait).value())
                .with_extension("retryAfter", secs);
        }
        None => {
            rejection = rejection
                .with_detail("This route accepts no requests.")
                .with_header(RATE_LIMIT, FieldList::new().empty(name).value());
        }
    }
    let typed = ThrottleRejection {
        kind,
        retry_after: retry_after.map(ceil_secs),
    };
    (rejection, typed)
}

pub(crate) fn store_unavailable() -> (Rejection, ThrottleRejection) {
    let kind = ThrottleRejectionKind::StoreUnavailable;
    let rejection = Rejection::new(GatewayResponseType::Default5xx)
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
        .with_problem_type(kind.problem_type());
    (
        rejection,
        ThrottleRejection {
            kind,
            retry_after: None,
        },
    )
}

/// The service of [`TokenBucketThrottleLayer`](super::TokenBucketThrottleLayer):
/// takes a token from the request's bucket, or answers 429 `THROTTLED`.
pub struct TokenBucketThrottle<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S: Clone> Clone for TokenBucketThrottle<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for TokenBucketThrottle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucketThrottle")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TokenBucketThrottle<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ReqBody: Send + 'static,
{
    type Response = Response<crate::body::GatewayBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        let route = if shared.needs_route {
            route_of(&request, shared.table.as_ref())
        } else {
            None
        };
        let (limiter, route_bucket) = shared.limiter(route.as_deref());
        let key = match &shared.key {
            KeyExtractor::Stage => BucketKey::Global,
            KeyExtractor::SourceIp(source) => source
                .client_ip_of(request.extensions(), request.headers())
                .map_or(BucketKey::Global, BucketKey::Ip),
            // What `Route::extract` gives, without formatting the route.
            KeyExtractor::Route(buckets) => match (route_bucket, route.as_deref()) {
                (Some(bucket), _) => bucket.clone(),
                (None, Some(route)) => buckets.bucket(route),
                (None, None) => BucketKey::Global,
            },
            KeyExtractor::Other(key) => key
                .extract(&RequestInfo::new(&request, route.as_deref()))
                .unwrap_or(BucketKey::Global),
        };
        drop(route);
        // The common case: in-memory buckets, no budget headers. Admitted,
        // there is nothing else to decide.
        if let (Some(memory), false) = (&limiter.memory, shared.headers) {
            return match memory.try_take(&key) {
                Ok(()) => ResponseFuture::inner(self.inner.call(request), None),
                Err(rejected) => shared.answer(limiter, Ok(rejected), request, &mut self.inner),
            };
        }
        match limiter.store.check(&key).into_ready() {
            // Without headers: nothing else to decide.
            Ok(Ok(Decision::Admitted { .. })) if !shared.headers => {
                ResponseFuture::inner(self.inner.call(request), None)
            }
            Ok(result) => shared.answer(limiter, result, request, &mut self.inner),
            Err(pending) => {
                let clone = self.inner.clone();
                let service = mem::replace(&mut self.inner, clone);
                let shared = Arc::clone(&self.shared);
                let policy = limiter.policy.clone();
                let limiter = Arc::clone(&limiter.store);
                let check = Box::pin(async move {
                    let result = pending.await;
                    match shared.decide(limiter.as_ref(), policy.as_ref(), result) {
                        Ok(budget) => Verdict::Admit { request, budget },
                        Err(rejected) => Verdict::Reject {
                            responses: shared.responses.clone(),
                            typed: rejected.1.into(),
                            rejection: Box::new(rejected.0),
                            request_id: RequestId::find(request.extensions(), request.headers())
                                .unwrap_or_default(),
                        },
                    }
                });
                ResponseFuture::waiting(check, service)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tower::ServiceExt;
    use tower_layer::Layer;

    use super::*;
    use crate::clock::SharedClock;
    use crate::store::{LimitSpec, MemoryRateLimitStore, RateLimitStore, StoreFuture};
    use crate::throttle::{KeySource, TokenBucketThrottleLayer};

    /// In-memory buckets that record the keys they are asked for.
    #[derive(Debug, Default)]
    struct Recording(Arc<Mutex<Vec<(String, BucketKey)>>>);

    #[derive(Debug)]
    struct RecordingLimiter(Arc<dyn Limiter>, Arc<Mutex<Vec<(String, BucketKey)>>>);

    impl RateLimitStore for Recording {
        fn limiter(&self, spec: &LimitSpec, clock: &SharedClock) -> Arc<dyn Limiter> {
            let inner = MemoryRateLimitStore::new().limiter(spec, clock);
            Arc::new(RecordingLimiter(inner, Arc::clone(&self.0)))
        }
    }

    impl Limiter for RecordingLimiter {
        fn spec(&self) -> &LimitSpec {
            self.0.spec()
        }

        fn check(&self, key: &BucketKey) -> StoreFuture<Result<Decision, StoreError>> {
            let name = self.spec().name().to_owned();
            self.1.lock().unwrap().push((name, key.clone()));
            self.0.check(key)
        }
    }

    #[tokio::test]
    async fn route_keys_are_the_route_keys_text_made_once() {
        let store = Arc::new(Recording::default());
        let seen = Arc::clone(&store.0);
        let layer = TokenBucketThrottleLayer::builder()
            .key(KeySource::Route)
            .name("route")
            .route("GET /a", 100.0, 100)
            .with_store(store)
            .build()
            .unwrap();
        let service = answering_ok(&layer);
        let request = |route: Option<&str>| {
            let mut request = Request::get("/").body(()).unwrap();
            if let Some(route) = route {
                let key: RouteKey = route.parse().unwrap();
                request
                    .extensions_mut()
                    .insert(RouteMatch::new(key, Vec::new(), "prod"));
            }
            request
        };
        for route in [
            Some("GET /a"),
            Some("POST /b"),
            Some("GET /a"),
            Some("POST /b"),
            None,
        ] {
            let response = service.clone().oneshot(request(route)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        let seen = seen.lock().unwrap().clone();
        let text = |s: &str| BucketKey::text(s);
        assert_eq!(
            seen,
            [
                ("route:GET /a".to_owned(), text("GET /a")),
                ("route".to_owned(), text("POST /b")),
                ("route:GET /a".to_owned(), text("GET /a")),
                ("route".to_owned(), text("POST /b")),
                ("route".to_owned(), BucketKey::Global),
            ]
        );
        // The same key each time, made once.
        let (BucketKey::Text(first), BucketKey::Text(second)) = (&seen[1].1, &seen[3].1) else {
            panic!("text keys");
        };
        assert!(Arc::ptr_eq(first, second));
    }

    #[tokio::test]
    async fn each_limits_policy_header_is_made_with_the_layer() {
        let layer = TokenBucketThrottleLayer::builder()
            .name("m")
            .rate(2.0)
            .burst(4)
            .route("GET /a", 100.0, 50)
            .rate_limit_headers(true)
            .build()
            .unwrap();
        let service = answering_ok(&layer);
        let request = |path: &str| Request::get(path).body(()).unwrap();
        for _ in 0..2 {
            let a = service.clone().oneshot(request("/a")).await.unwrap();
            assert_eq!(a.headers()["ratelimit-policy"], "\"m\";q=50;w=1");
            let other = service.clone().oneshot(request("/b")).await.unwrap();
            assert_eq!(other.headers()["ratelimit-policy"], "\"m\";q=4;w=2");
        }
        let made = service.shared.default.policy.as_ref().unwrap();
        assert_eq!(made.value, policy_value("m", Limit::new(2.0, 4).unwrap()));
    }

    /// `layer` in front of a service that answers 200.
    fn answering_ok(
        layer: &TokenBucketThrottleLayer,
    ) -> TokenBucketThrottle<
        impl Service<
            Request<()>,
            Response = Response<()>,
            Error = std::convert::Infallible,
            Future: Send,
        > + Clone
        + Send,
    > {
        layer.layer(tower::service_fn(|_: Request<()>| async {
            Ok::<_, std::convert::Infallible>(Response::new(()))
        }))
    }

    #[test]
    fn route_buckets_stay_bounded_and_still_answer() {
        let buckets = RouteBuckets::default();
        for i in 0..ROUTE_BUCKETS + 10 {
            let route: RouteKey = format!("GET /r{i}").parse().unwrap();
            assert_eq!(
                buckets.bucket(&route),
                BucketKey::text(format!("GET /r{i}"))
            );
        }
        assert_eq!(buckets.0.read().unwrap().len(), ROUTE_BUCKETS);
        let late: RouteKey = format!("GET /r{}", ROUTE_BUCKETS + 1).parse().unwrap();
        assert_eq!(buckets.bucket(&late), Route::bucket_of(&late));
    }

    #[test]
    fn field_list_numbers_in_decimal() {
        for value in [0, 7, 10, 99, 100, 101, 12_345, 1_000_000, u64::MAX] {
            let mut list = FieldList::new();
            list.item("q").param(b"r", value);
            assert_eq!(list.value(), format!("\"q\";r={value}").as_str());
        }
        // Bounded: a value that would overflow the buffer is cut, not a panic.
        let mut list = FieldList::new();
        for _ in 0..20 {
            list.item("a-rather-long-throttle-name")
                .param(b"q", u64::MAX);
        }
        assert_eq!(list.value().len(), 192);
    }

    #[test]
    fn field_list_numbers_at_every_length_and_cut_at_any_point() {
        let mut value = 1u64;
        for _ in 0..19 {
            for v in [value - 1, value, value + 1, value * 9] {
                let mut list = FieldList::new();
                list.item("q").param(b"r", v);
                assert_eq!(list.value(), format!("\"q\";r={v}").as_str());
            }
            value *= 10;
        }
        // A parameter that does not fit is written as far as it fits.
        for name_len in 150..192 {
            let name = "n".repeat(name_len);
            let mut list = FieldList::new();
            list.item(&name).param(b"w", 12_345_678_901_234);
            let full = format!("\"{name}\";w=12345678901234");
            assert_eq!(list.value(), &full[..full.len().min(192)]);
        }
    }
}
