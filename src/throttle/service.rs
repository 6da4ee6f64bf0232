//! The throttle service.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use tower_service::Service;

use super::bucket::ceil_secs;
use super::future::{ResponseFuture, Verdict};
use super::key::{ExtractKey, RequestInfo, SourceIp};
use super::{Limit, ThrottleRejection, ThrottleRejectionKind};
use crate::identity::RequestId;
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

    fn param(&mut self, key: &[u8], value: u64) -> &mut Self {
        self.push(b";");
        self.push(key);
        self.push(b"=");
        // Two digits per division, from a table.
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = value;
        while v >= 100 {
            let pair = (v % 100) as usize * 2;
            v /= 100;
            i -= 2;
            digits[i] = DIGIT_PAIRS[pair];
            digits[i + 1] = DIGIT_PAIRS[pair + 1];
        }
        if v >= 10 {
            let pair = v as usize * 2;
            i -= 2;
            digits[i] = DIGIT_PAIRS[pair];
            digits[i + 1] = DIGIT_PAIRS[pair + 1];
        } else {
            i -= 1;
            digits[i] = b'0' + v as u8;
        }
        self.push(&digits[i..]);
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

/// The route a request matched: its [`RouteMatch`], axum's `MatchedPath`,
/// or a match against `table`.
pub(crate) fn route_of<B>(
    request: &Request<B>,
    table: Option<&RouteTable<()>>,
) -> Option<RouteKey> {
    let extensions = request.extensions();
    if let Some(matched) = extensions.get::<RouteMatch>() {
        return Some(matched.route_key().clone());
    }
    #[cfg(feature = "axum")]
    if let Some(path) = extensions.get::<axum::extract::MatchedPath>() {
        return RouteMatch::from_axum(
            request.method(),
            path.as_str(),
            request.uri().path(),
            crate::route::DEFAULT_STAGE,
        )
        .map(|m| m.route_key().clone());
    }
    table?
        .lookup(request.method(), request.uri().path())
        .map(|(_, m)| m.route_key().clone())
}

/// One limit's buckets: the store's limiter and, when the layer keeps its
/// buckets in its own in-memory store, the same limiter without the store
/// trait's dynamic call and answer.
#[derive(Debug)]
pub(crate) struct LimiterRef {
    pub(crate) store: Arc<dyn Limiter>,
    pub(crate) memory: Option<Arc<MemoryLimiter>>,
}

impl LimiterRef {
    pub(crate) fn new(store: Arc<dyn Limiter>) -> Self {
        Self {
            store,
            memory: None,
        }
    }

    pub(crate) fn memory(memory: MemoryLimiter) -> Self {
        let memory = Arc::new(memory);
        Self {
            store: Arc::clone(&memory) as Arc<dyn Limiter>,
            memory: Some(memory),
        }
    }
}

/// The layer's key: the built-in ones called directly, the rest through
/// [`ExtractKey`].
pub(crate) enum KeyExtractor {
    /// The stage's one bucket: nothing to extract.
    Stage,
    SourceIp(SourceIp),
    Other(Box<dyn ExtractKey>),
}

pub(crate) struct Shared {
    pub(crate) default: LimiterRef,
    pub(crate) routes: Vec<(RouteKey, LimiterRef)>,
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
    #[inline]
    fn limiter(&self, route: Option<&RouteKey>) -> &LimiterRef {
        if self.routes.is_empty() {
            return &self.default;
        }
        route
            .and_then(|route| self.routes.iter().find(|(key, _)| key == route))
            .map_or(&self.default, |(_, limiter)| limiter)
    }

    /// Admit with optional headers, or the rejection.
    fn decide(
        &self,
        limiter: &dyn Limiter,
        result: Result<Decision, StoreError>,
    ) -> Result<Option<Budget>, Box<(Rejection, ThrottleRejection)>> {
        let spec = limiter.spec();
        let limit = spec.limit();
        match result {
            Ok(Decision::Admitted { remaining, reset }) => Ok(self.headers.then(|| Budget {
                policy: FieldList::new()
                    .policy(&self.name, u64::from(limit.burst()), limit.window())
                    .value(),
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
        limiter: &Arc<dyn Limiter>,
        result: Result<Decision, StoreError>,
        request: Request<ReqBody>,
        inner: &mut S,
    ) -> ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        match self.decide(limiter.as_ref(), result) {
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
        let limiter = shared.limiter(route.as_ref());
        let key = match &shared.key {
            KeyExtractor::Stage => BucketKey::Global,
            KeyExtractor::SourceIp(source) => source
                .client_ip_of(request.extensions(), request.headers())
                .map_or(BucketKey::Global, BucketKey::Ip),
            KeyExtractor::Other(key) => key
                .extract(&RequestInfo::new(&request, route.as_ref()))
                .unwrap_or(BucketKey::Global),
        };
        // The common case: in-memory buckets, no budget headers. Admitted,
        // there is nothing else to decide.
        if let (Some(memory), false) = (&limiter.memory, shared.headers) {
            return match memory.try_take(&key) {
                Ok(()) => ResponseFuture::inner(self.inner.call(request), None),
                Err(rejected) => {
                    shared.answer(&limiter.store, Ok(rejected), request, &mut self.inner)
                }
            };
        }
        match limiter.store.check(&key).into_ready() {
            // Without headers: nothing else to decide.
            Ok(Ok(Decision::Admitted { .. })) if !shared.headers => {
                ResponseFuture::inner(self.inner.call(request), None)
            }
            Ok(result) => shared.answer(&limiter.store, result, request, &mut self.inner),
            Err(pending) => {
                let clone = self.inner.clone();
                let service = mem::replace(&mut self.inner, clone);
                let shared = Arc::clone(&self.shared);
                let limiter = Arc::clone(&limiter.store);
                let check = Box::pin(async move {
                    let result = pending.await;
                    match shared.decide(limiter.as_ref(), result) {
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
    use super::FieldList;

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
}
