use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{AGE, AUTHORIZATION, CONTENT_LENGTH, TRANSFER_ENCODING, WARNING};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::{CacheBody, Recorder};
use super::cache_key::{self, CacheKey, CacheKeyParameter, KeySpec};
use super::export::{Event, Labels};
use super::layer::{AuthorizeInvalidation, UnauthorizedCacheControlHeaderStrategy};
use super::policy::{self, StatusSet, Vary, VaryValues};
use super::store::{Counters, Entry, EntryInfo, FlightGuard, Flights, Outcome, Role, Store};
use crate::body::GatewayBody;
use crate::clock::SharedClock;
use crate::problem::{GatewayResponseType, GatewayResponses, Rejection};
use crate::route::{RouteKey, RouteMatch, RouteTable};

/// `X-Cache`: `Hit` when the response came from the cache, `Miss` when an
/// eligible request went to the backend.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// The problem `type` of a `FAIL_WITH_403` answer to an unauthorized
/// `Cache-Control: max-age=0`.
pub const INVALIDATION_DENIED: &str =
    "urn:apigw:problem:access-denied:unauthorized-cache-invalidation";

/// The `Warning` a `SUCCEED_WITH_RESPONSE_HEADER` answer carries. API
/// Gateway does not document its exact text.
pub const INVALIDATION_IGNORED_WARNING: HeaderValue = HeaderValue::from_static(
    "199 apigw \"Cache-Control max-age=0 ignored: not authorized to invalidate the cache\"",
);

const HIT: HeaderValue = HeaderValue::from_static("Hit");
const MISS: HeaderValue = HeaderValue::from_static("Miss");

/// Request headers that change what many backends answer but are not part of
/// a cache key unless listed: the inputs of unkeyed-header cache poisoning
/// (Kettle, 2018) and of method-override CPDoS (Nguyen et al., 2019).
/// [`strip_unkeyed_headers`] removes them.
pub static UNKEYED_HEADERS: [HeaderName; 14] = [
    HeaderName::from_static("forwarded"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-forwarded-scheme"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-host"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-original-host"),
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

/// Removes the [`UNKEYED_HEADERS`] from `headers`, except those in `keep`
/// (the route's cache-key headers, which are keyed and so safe to pass).
///
/// [`ResponseCacheLayer`](super::ResponseCacheLayer) does this itself for
/// every request it may store a response for, unless
/// [`strip_unkeyed_headers(false)`](super::ResponseCacheLayerBuilder::strip_unkeyed_headers).
///
/// ```
/// use apigw::response_cache::strip_unkeyed_headers;
/// use http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-host", "evil.example".parse()?);
/// headers.insert("x-http-method-override", "DELETE".parse()?);
/// headers.insert("accept", "application/json".parse()?);
/// strip_unkeyed_headers(&mut headers, &[]);
/// assert_eq!(headers.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn strip_unkeyed_headers(headers: &mut HeaderMap, keep: &[HeaderName]) {
    for name in &UNKEYED_HEADERS {
        if !keep.contains(name) {
            headers.remove(name);
        }
    }
}

/// The settings that apply to one request: the layer's, or its route's.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) enabled: bool,
    pub(crate) ttl: Duration,
    pub(crate) methods: Vec<Method>,
    pub(crate) parameters: Arc<[CacheKeyParameter]>,
    /// The keyed headers, which are not stripped.
    pub(crate) keyed_headers: Arc<[HeaderName]>,
    pub(crate) share_unidentified_authorization: bool,
}

impl Settings {
    fn caches(&self, method: &Method, route: Option<&RouteMatch>) -> bool {
        self.enabled
            && !self.ttl.is_zero()
            && (self.methods.contains(method)
                || route.is_some_and(|r| r.route_key().method() == Some(method)))
    }
}

/// What every clone of the layer and its services share.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) flights: Arc<Flights>,
    pub(crate) clock: SharedClock,
    pub(crate) settings: Settings,
    /// Per-route settings, already merged over the layer's.
    pub(crate) routes: Option<RouteTable<Settings>>,
    pub(crate) max_item_size: usize,
    pub(crate) statuses: StatusSet,
    pub(crate) identity_in_key: bool,
    pub(crate) ignore_backend_cache_control: bool,
    pub(crate) strip_unkeyed_headers: bool,
    pub(crate) require_authorization_for_cache_control: bool,
    pub(crate) strategy: UnauthorizedCacheControlHeaderStrategy,
    pub(crate) authorize_invalidation: Arc<dyn AuthorizeInvalidation>,
    pub(crate) responses: GatewayResponses,
    pub(crate) wait_timeout: Duration,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCache")
            .field("settings", &self.settings)
            .field("routes", &self.routes)
            .field("max_item_size", &self.max_item_size)
            .field("statuses", &self.statuses)
            .field("identity_in_key", &self.identity_in_key)
            .field(
                "ignore_backend_cache_control",
                &self.ignore_backend_cache_control,
            )
            .field("strip_unkeyed_headers", &self.strip_unkeyed_headers)
            .field(
                "require_authorization_for_cache_control",
                &self.require_authorization_for_cache_control,
            )
            .field("strategy", &self.strategy)
            .field("wait_timeout", &self.wait_timeout)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// How the cache treats one request, decided from its head alone.
enum Plan {
    /// The cache does not apply: pass through untouched.
    Bypass,
    /// Answer now, from the cache.
    Hit(Hit),
    Reject(Rejection),
    /// Go to the backend.
    Fetch(Box<Miss>),
    /// Wait for another request's fetch of the same key.
    Wait(
        Box<Miss>,
        tokio::sync::watch::Receiver<super::store::Outcome>,
    ),
}

/// A request that goes to the backend, and what storing its answer needs.
pub(crate) struct Miss {
    shared: Arc<Shared>,
    key: CacheKey,
    flight: Option<FlightGuard>,
    /// Whether the answer may be stored at all.
    store: bool,
    ttl: Duration,
    method: Method,
    path: Arc<str>,
    route_key: Option<RouteKey>,
    stage: Option<Arc<str>>,
    request_headers: HeaderMap,
    warning: bool,
}

impl Miss {
    fn labels(&self) -> Labels<'_> {
        (self.route_key.as_ref(), self.stage.as_ref())
    }
}

impl Shared {
    /// Counts a hit or a miss, and tells an outer
    /// [`GatewayMetricsLayer`](crate::metrics::GatewayMetricsLayer) so it
    /// does not count the response's `X-Cache` again.
    fn count(&self, event: Event, labels: Labels<'_>, extensions: &http::Extensions) {
        self.store.count(event, labels);
        observed_count(extensions);
    }

    /// Counts a hit on `entry`, as [`count`](Self::count) does.
    fn count_hit(&self, entry: &Entry, labels: Labels<'_>, extensions: &http::Extensions) {
        self.store.count_hit(entry, labels);
        observed_count(extensions);
    }

    /// The settings and route match for a request.
    pub(crate) fn settings_for(&self, parts: &Parts) -> (&Settings, Option<RouteMatch>) {
        if let Some(routes) = &self.routes {
            // HEAD is answered from GET entries, under GET's route settings,
            // unless the route that matched is one of the cache's own.
            let head = parts.method == Method::HEAD;
            let found = match parts.extensions.get::<RouteMatch>() {
                Some(matched) => match routes.get(matched.route_key()) {
                    Some(settings) => Some((settings, matched.clone())),
                    None if head => routes.lookup(&Method::GET, parts.uri.path()),
                    None => None,
                },
                None if head => routes.lookup(&Method::GET, parts.uri.path()),
                None => routes.lookup(&parts.method, parts.uri.path()),
            };
            if let Some((settings, matched)) = found {
                return (settings, Some(matched));
            }
        }
        (&self.settings, RouteMatch::from_request_parts(parts))
    }

    /// The key a request is stored under, if the cache applies to it.
    pub(crate) fn key_for(&self, parts: &Parts) -> Option<CacheKey> {
        let (settings, route) = self.settings_for(parts);
        let method = lookup_method(&parts.method);
        settings
            .caches(method, route.as_ref())
            .then(|| self.key_of(parts, settings, route.as_ref()))
    }

    fn key_of(&self, parts: &Parts, settings: &Settings, route: Option<&RouteMatch>) -> CacheKey {
        CacheKey::of(parts, self.key_spec(parts, settings, route))
    }

    fn key_spec<'a>(
        &self,
        parts: &'a Parts,
        settings: &'a Settings,
        route: Option<&'a RouteMatch>,
    ) -> KeySpec<'a> {
        KeySpec {
            method: lookup_method(&parts.method),
            route,
            parameters: &settings.parameters,
            identity: self.identity_in_key,
        }
    }

    fn plan(self: &Arc<Self>, parts: &mut Parts) -> Plan {
        let (settings, route) = self.settings_for(parts);
        let method = lookup_method(&parts.method);
        if !settings.caches(method, route.as_ref())
            || (parts.headers.contains_key(AUTHORIZATION)
                && !settings.share_unidentified_authorization
                && !cache_key::has_principal(parts))
        {
            Counters::bump(&self.store.counters.bypasses);
            return Plan::Bypass;
        }
        let mut warning = false;
        let mut refetch = false;
        if policy::requests_invalidation(&parts.headers) {
            if !self.require_authorization_for_cache_control
                || self.authorize_invalidation.authorize(parts)
            {
                refetch = true;
            } else {
                match self.strategy {
                    UnauthorizedCacheControlHeaderStrategy::FailWith403 => {
                        tracing::debug!("response cache: unauthorized invalidation refused");
                        return Plan::Reject(
                            Rejection::new(GatewayResponseType::AccessDenied)
                                .with_problem_type(INVALIDATION_DENIED)
                                .with_detail(
                                    "Not authorized to invalidate the cache (Cache-Control: max-age=0)",
                                ),
                        );
                    }
                    UnauthorizedCacheControlHeaderStrategy::SucceedWithResponseHeader => {
                        warning = true;
                    }
                    UnauthorizedCacheControlHeaderStrategy::SucceedWithoutResponseHeader => {}
                }
            }
        }
        let head = parts.method == Method::HEAD;
        let now = self.clock.now();
        // A hit looks up the key's bytes in this thread's buffer: no
        // allocation; only a miss makes an owned key.
        let spec = self.key_spec(parts, settings, route.as_ref());
        let labels = (
            route.as_ref().map(RouteMatch::route_key),
            route.as_ref().map(RouteMatch::stage_shared),
        );
        let looked_up = cache_key::with_key(parts, spec, |bytes| {
            if !refetch && let Some(entry) = self.store.get(bytes, &parts.headers, now) {
                return Ok(entry);
            }
            Err(CacheKey::from_bytes(bytes))
        });
        let key = match looked_up {
            Ok(entry) => {
                self.count_hit(&entry, labels, &parts.extensions);
                return Plan::Hit(Hit::new(entry, now, head, warning));
            }
            Err(key) => key,
        };
        if refetch {
            self.store.invalidate(&key);
        }
        if self.strip_unkeyed_headers {
            strip_unkeyed_headers(&mut parts.headers, &settings.keyed_headers);
        }
        // A HEAD answer has no body to store; a GET with a body ("fat GET")
        // may answer from something the key does not see.
        let fat_get = method == Method::GET && has_body(&parts.headers);
        let store = !head && !fat_get;
        let mut miss = Box::new(Miss {
            shared: Arc::clone(self),
            key: key.clone(),
            flight: None,
            store,
            ttl: settings.ttl,
            method: method.clone(),
            path: Arc::from(parts.uri.path()),
            route_key: labels.0.cloned(),
            stage: labels.1.cloned(),
            request_headers: if store {
                parts.headers.clone()
            } else {
                HeaderMap::new()
            },
            warning,
        });
        if !store {
            self.count(Event::Miss, labels, &parts.extensions);
            return Plan::Fetch(miss);
        }
        match self.flights.join(key.clone()) {
            Role::Lead(flight) => {
                // Another fetch may have stored it since the lookup.
                if !refetch && let Some(entry) = self.store.get(key.as_bytes(), &parts.headers, now)
                {
                    flight.complete(Outcome::Stored(Arc::clone(&entry)));
                    self.count_hit(&entry, labels, &parts.extensions);
                    return Plan::Hit(Hit::new(entry, now, head, warning));
                }
                self.count(Event::Miss, labels, &parts.extensions);
                miss.flight = Some(flight);
                Plan::Fetch(miss)
            }
            Role::Wait(_) if refetch => {
                self.count(Event::Miss, labels, &parts.extensions);
                Plan::Fetch(miss)
            }
            Role::Wait(receiver) => Plan::Wait(miss, receiver),
        }
    }
}

fn lookup_method(method: &Method) -> &Method {
    if method == Method::HEAD {
        &Method::GET
    } else {
        method
    }
}

/// A copy of `value` in an allocation of its own.
///
/// A backend reached through hyper hands out header values that are slices
/// of its connection's read buffer: storing them as they are would keep that
/// whole buffer alive for the entry's lifetime, memory the cache's byte
/// bound does not see.
fn owned_value(value: &HeaderValue) -> HeaderValue {
    match HeaderValue::from_bytes(value.as_bytes()) {
        Ok(mut copy) => {
            copy.set_sensitive(value.is_sensitive());
            copy
        }
        // Unreachable: the value was valid where it came from.
        Err(_) => value.clone(),
    }
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// Marks the request's [`Observation`](crate::observe::Observation): the
/// cache counted it, so an outer
/// [`GatewayMetricsLayer`](crate::metrics::GatewayMetricsLayer) does not
/// count its `X-Cache` again.
fn observed_count(extensions: &http::Extensions) {
    #[cfg(feature = "metrics")]
    crate::observe::record(extensions, |observed| observed.cache_counted = true);
    #[cfg(not(feature = "metrics"))]
    let _ = extensions;
}

/// A hit: the entry, and what its response needs besides. The response
/// is built when the future is polled, straight into its output, so the
/// call moves only this.
struct Hit {
    entry: Arc<Entry>,
    /// `Age`, in seconds.
    age: u64,
    head: bool,
    warning: bool,
}

impl Hit {
    fn new(entry: Arc<Entry>, now: std::time::Instant, head: bool, warning: bool) -> Self {
        let age = entry.initial_age + now.saturating_duration_since(entry.stored_at).as_secs();
        Self {
            entry,
            age,
            head,
            warning,
        }
    }

    /// The response. The stored headers already hold `X-Cache: Hit` and,
    /// first, an `Age` slot: one clone of the map, then `Age` replaced in
    /// place without a lookup.
    fn response<B>(&self) -> Response<GatewayBody<CacheBody<B>>> {
        let entry = &*self.entry;
        let body = if self.head {
            GatewayBody::empty()
        } else {
            GatewayBody::full(entry.body.clone())
        };
        let mut response = Response::new(body);
        *response.status_mut() = entry.status;
        *response.version_mut() = entry.version;
        let headers = response.headers_mut();
        *headers = entry.headers.clone();
        let age = age_value(self.age);
        if let Some((name, slot)) = headers.iter_mut().next()
            && name == AGE
        {
            *slot = age;
        } else {
            headers.insert(AGE, age);
        }
        if self.warning {
            headers.append(WARNING, INVALIDATION_IGNORED_WARNING);
        }
        if self.head && !headers.contains_key(CONTENT_LENGTH) {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(entry.body.len()));
        }
        response
    }
}

/// `Age` values up to the longest TTL plus a minute, formatted once per
/// process into one static text, so a hit's `Age` is a static value (no
/// reference count); larger ages are formatted per response.
fn age_value(age: u64) -> HeaderValue {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static AGES: std::sync::OnceLock<Box<[HeaderValue]>> = std::sync::OnceLock::new();
    let ages = AGES.get_or_init(|| {
        let last = super::MAX_TTL.as_secs() + 60;
        let text: &'static str =
            TEXT.get_or_init(|| (0..=last).map(|age| age.to_string()).collect());
        let mut rest = text;
        (0..=last)
            .map(|age| {
                let (digits, after) = rest.split_at(age.to_string().len());
                rest = after;
                HeaderValue::from_static(digits)
            })
            .collect()
    });
    usize::try_from(age)
        .ok()
        .and_then(|i| ages.get(i))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(age))
}

/// Response headers that describe one connection or one answer, not the
/// resource: not stored.
static NOT_STORED_HEADERS: [HeaderName; 10] = [
    http::header::CONNECTION,
    http::header::TRANSFER_ENCODING,
    http::header::TE,
    http::header::TRAILER,
    http::header::UPGRADE,
    http::header::PROXY_AUTHENTICATE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    AGE,
    X_CACHE,
];

impl Miss {
    /// Decides whether the backend's answer is stored, and wraps its body.
    fn respond<B>(mut self, response: Response<B>) -> Response<GatewayBody<CacheBody<B>>>
    where
        B: Body<Data = bytes::Bytes>,
    {
        let (mut parts, body) = response.into_parts();
        let shared = Arc::clone(&self.shared);
        let storable = self
            .store
            .then(|| {
                policy::storable(
                    parts.status,
                    &parts.headers,
                    &shared.statuses,
                    self.ttl,
                    shared.ignore_backend_cache_control,
                )
            })
            .and_then(|decision| {
                decision
                    .inspect_err(|reason| {
                        tracing::trace!(?reason, "response cache: response not stored");
                    })
                    .ok()
            })
            .filter(|_| {
                // Known to be larger than an item may be: stream it untouched.
                let declared = parts
                    .headers
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let limit = shared.max_item_size as u64;
                declared.is_none_or(|len| len <= limit) && body.size_hint().lower() <= limit
            });
        let body = match storable {
            Some(ttl) => {
                let now = shared.clock.now();
                let names = match Vary::parse(&parts.headers) {
                    Vary::Headers(names) => names,
                    Vary::Any => Vec::new(), // refused by `storable`
                };
                // `Age` first, so a hit replaces it without a lookup.
                let mut headers = HeaderMap::with_capacity(parts.headers.len() + 2);
                headers.insert(AGE, HeaderValue::from_static("0"));
                headers.insert(X_CACHE, HIT);
                for (name, value) in &parts.headers {
                    if !NOT_STORED_HEADERS.contains(name) {
                        headers.append(name.clone(), owned_value(value));
                    }
                }
                let initial_age = parts
                    .headers
                    .get(AGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let entry = Entry {
                    status: parts.status,
                    version: parts.version,
                    headers,
                    body: bytes::Bytes::new(),
                    stored_at: now,
                    expires_at: now + ttl,
                    initial_age,
                    vary: VaryValues::capture(&names, &self.request_headers),
                    info: EntryInfo {
                        method: self.method.clone(),
                        path: Arc::clone(&self.path),
                        route_key: self.route_key.clone(),
                        stage: self.stage.clone(),
                        status: parts.status,
                    },
                    counters: shared.store.counters(self.labels()),
                    weight: 0,
                };
                let recorder = Recorder {
                    shared: Arc::clone(&shared),
                    key: self.key,
                    entry,
                    buffer: bytes::BytesMut::new(),
                    first: None,
                    flight: self.flight.take(),
                };
                if body.is_end_stream() {
                    recorder.finish();
                    CacheBody::pass(body)
                } else {
                    CacheBody::record(body, recorder)
                }
            }
            None => {
                if let Some(flight) = self.flight.take() {
                    flight.complete(Outcome::NotStored);
                }
                CacheBody::pass(body)
            }
        };
        parts.headers.insert(X_CACHE, MISS);
        if self.warning {
            parts.headers.append(WARNING, INVALIDATION_IGNORED_WARNING);
        }
        Response::from_parts(parts, GatewayBody::new(body))
    }
}

/// The service of [`ResponseCacheLayer`](super::ResponseCacheLayer).
pub struct ResponseCache<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S: Clone> Clone for ResponseCache<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ResponseCache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCache")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}

type BoxResponseFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<GatewayBody<CacheBody<B>>>, E>> + Send>>;

pin_project! {
    /// The response future of [`ResponseCache`]: a hit or a rejection ready at
    /// once, the backend's future on a miss, or a wait for a concurrent miss
    /// of the same key.
    ///
    /// Polled again after it has returned `Ready`, it returns
    /// `Poll::Pending` for ever (as `futures`' `Fuse` does) and never polls
    /// the backend's future again; [`is_terminated`](Self::is_terminated)
    /// says when it has completed.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    #[project_replace = KindReplace]
    enum Kind<F, B, E> {
        Hit { hit: Hit },
        Ready { response: Option<Response<GatewayBody<CacheBody<B>>>> },
        Fetch { #[pin] future: F, miss: Option<Box<Miss>> },
        Wait { future: BoxResponseFuture<B, E> },
        Done,
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    /// Whether the future has returned its response (`futures`'
    /// `FusedFuture::is_terminated`).
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        matches!(self.kind, Kind::Done)
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("terminated", &self.is_terminated())
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = bytes::Bytes>,
{
    type Output = Result<Response<GatewayBody<CacheBody<B>>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        let output = match kind.as_mut().project() {
            KindProj::Hit { .. } => {
                // Built straight into the output.
                let KindReplace::Hit { hit } = kind.project_replace(Kind::Done) else {
                    unreachable!("the future was a hit a moment ago");
                };
                return Poll::Ready(Ok(hit.response()));
            }
            KindProj::Ready { response } => match response.take() {
                Some(response) => Ok(response),
                None => return Poll::Pending,
            },
            KindProj::Fetch { future, miss } => {
                std::task::ready!(future.poll(cx)).map(|response| match miss.take() {
                    Some(miss) => miss.respond(response),
                    None => response.map(|body| GatewayBody::new(CacheBody::pass(body))),
                })
            }
            KindProj::Wait { future } => std::task::ready!(future.as_mut().poll(cx)),
            KindProj::Done => {
                tracing::warn!("response cache: ResponseFuture polled after completion");
                return Poll::Pending;
            }
        };
        kind.project_replace(Kind::Done);
        Poll::Ready(output)
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ResponseCache<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = bytes::Bytes> + Send + 'static,
{
    type Response = Response<GatewayBody<CacheBody<ResBody>>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let kind = match self.shared.plan(&mut parts) {
            Plan::Bypass => Kind::Fetch {
                future: self.inner.call(Request::from_parts(parts, body)),
                miss: None,
            },
            Plan::Hit(hit) => Kind::Hit { hit },
            Plan::Reject(rejection) => Kind::Ready {
                response: Some(
                    self.shared
                        .responses
                        .reject(&rejection, &Request::from_parts(parts, ())),
                ),
            },
            Plan::Fetch(miss) => Kind::Fetch {
                future: self.inner.call(Request::from_parts(parts, body)),
                miss: Some(miss),
            },
            Plan::Wait(miss, receiver) => {
                // The ready service goes into the future; a clone stays.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                Kind::Wait {
                    future: Box::pin(wait(
                        inner,
                        Request::from_parts(parts, body),
                        miss,
                        receiver,
                    )),
                }
            }
        };
        ResponseFuture { kind }
    }
}

/// A miss that found the same key in flight: waits for that fetch, and
/// answers with what it stored; fetches itself when it stored nothing or
/// took too long; and takes over when its leader was cancelled.
async fn wait<S, ReqBody, ResBody>(
    mut inner: S,
    request: Request<ReqBody>,
    mut miss: Box<Miss>,
    mut receiver: tokio::sync::watch::Receiver<Outcome>,
) -> Result<Response<GatewayBody<CacheBody<ResBody>>>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body<Data = bytes::Bytes>,
{
    let shared = Arc::clone(&miss.shared);
    let head = request.method() == Method::HEAD;
    loop {
        let waited = tokio::time::timeout(
            shared.wait_timeout,
            receiver.wait_for(|outcome| !matches!(outcome, Outcome::Pending)),
        )
        .await
        .map(|result| result.map(|outcome| outcome.clone()));
        match waited {
            Ok(Ok(Outcome::Stored(entry))) if entry.vary.matches(request.headers()) => {
                shared.count_hit(&entry, miss.labels(), request.extensions());
                Counters::bump(&shared.store.counters.coalesced);
                return Ok(Hit::new(entry, shared.clock.now(), head, miss.warning).response());
            }
            // Stored nothing we can use, or took too long: fetch for ourselves.
            Ok(Ok(_)) | Err(_) => break,
            // The leader was cancelled: the first waiter to get here leads.
            Ok(Err(_closed)) => match shared.flights.join(miss.key.clone()) {
                Role::Lead(flight) => {
                    miss.flight = Some(flight);
                    break;
                }
                Role::Wait(next) => receiver = next,
            },
        }
    }
    shared.count(Event::Miss, miss.labels(), request.extensions());
    let response = inner.call(request).await?;
    Ok(miss.respond(response))
}
