use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{HeaderName, Method, StatusCode};
use serde::{Deserialize, Serialize};
use tower_layer::Layer;

use super::cache_key::{CacheKey, CacheKeyParameter};
use super::export::Exporter;
use super::policy::StatusSet;
use super::service::{ResponseCache, Settings, Shared};
use super::store::{CacheStats, EntryInfo, Flights, Store};
use crate::clock::{SharedClock, default_clock};
use crate::error::ConfigError;
use crate::problem::GatewayResponses;
use crate::route::{RouteKey, RouteTable};

/// API Gateway's default TTL: 300 s.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// API Gateway's longest TTL: 3600 s.
pub const MAX_TTL: Duration = Duration::from_secs(3600);
/// API Gateway's largest cached item: 1 MiB (1 048 576 bytes).
pub const DEFAULT_MAX_ITEM_SIZE: usize = 1 << 20;
/// The default total capacity: 64 MiB.
pub const DEFAULT_CAPACITY: u64 = 64 << 20;
/// How many `Vary` variants one key keeps by default.
pub const DEFAULT_MAX_VARIANTS: usize = 8;
/// How long a concurrent miss waits for another request's fetch by default.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Decides whether a request may invalidate its cache entry with
/// `Cache-Control: max-age=0`: API Gateway's `execute-api:InvalidateCache`
/// permission. Implemented for closures over the request head, which carries
/// the identity extensions ([`JwtClaims`](crate::identity::JwtClaims), …).
pub trait AuthorizeInvalidation: Send + Sync + 'static {
    /// Whether `request` may invalidate.
    fn authorize(&self, request: &Parts) -> bool;
}

impl<F> AuthorizeInvalidation for F
where
    F: Fn(&Parts) -> bool + Send + Sync + 'static,
{
    fn authorize(&self, request: &Parts) -> bool {
        self(request)
    }
}

/// The default: nobody may invalidate.
#[derive(Clone, Copy, Debug, Default)]
pub struct DenyInvalidation;

impl AuthorizeInvalidation for DenyInvalidation {
    fn authorize(&self, _request: &Parts) -> bool {
        false
    }
}

/// What happens to a `Cache-Control: max-age=0` from a caller who may not
/// invalidate: API Gateway's `unauthorizedCacheControlHeaderStrategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum UnauthorizedCacheControlHeaderStrategy {
    /// Answer 403 `ACCESS_DENIED` with problem type
    /// [`INVALIDATION_DENIED`](super::INVALIDATION_DENIED).
    #[serde(rename = "FAIL_WITH_403")]
    FailWith403,
    /// Ignore the header, answer as usual, and add
    /// [`Warning: 199 …`](super::INVALIDATION_IGNORED_WARNING). API Gateway's
    /// default, and ours.
    #[default]
    #[serde(rename = "SUCCEED_WITH_RESPONSE_HEADER")]
    SucceedWithResponseHeader,
    /// Ignore the header silently.
    #[serde(rename = "SUCCEED_WITHOUT_RESPONSE_HEADER")]
    SucceedWithoutResponseHeader,
}

/// Per-route cache settings, for a [`RouteTable`] given to
/// [`ResponseCacheLayerBuilder::routes`]. Unset fields keep the layer's.
///
/// Enabling caching on a route whose key names a method (`POST /search`)
/// enables that method there, as API Gateway's per-method settings do.
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct RouteCacheSettings {
    enabled: Option<bool>,
    ttl: Option<Duration>,
    methods: Option<Vec<Method>>,
    parameters: Option<Vec<CacheKeyParameter>>,
    share_unidentified_authorization: Option<bool>,
}

impl RouteCacheSettings {
    /// Settings that change nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the route is cached (`cachingEnabled`).
    pub fn caching_enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// The route's TTL (`cacheTtlInSeconds`); zero disables, over 3600 s is a
    /// configuration error.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The methods cached on this route (HEAD is answered from GET entries).
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = Some(methods.into_iter().collect());
        self
    }

    /// The route's cache-key parameters, replacing the layer's.
    pub fn cache_key_parameters(
        mut self,
        parameters: impl IntoIterator<Item = CacheKeyParameter>,
    ) -> Self {
        self.parameters = Some(parameters.into_iter().collect());
        self
    }

    /// See [`ResponseCacheLayerBuilder::share_unidentified_authorization`].
    pub fn share_unidentified_authorization(mut self, share: bool) -> Self {
        self.share_unidentified_authorization = Some(share);
        self
    }
}

/// API Gateway's stage cache as a layer, keyed per caller. See the
/// [module docs](super).
#[derive(Clone)]
#[must_use]
pub struct ResponseCacheLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for ResponseCacheLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCacheLayer")
            .field("shared", &self.shared)
            .finish()
    }
}

impl ResponseCacheLayer {
    /// A builder with API Gateway's defaults and this crate's safe ones.
    pub fn builder() -> ResponseCacheLayerBuilder {
        ResponseCacheLayerBuilder::default()
    }

    /// The hit, miss, store and eviction counters, and the current size.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        self.shared.store.stats()
    }

    /// Drops every entry, as API Gateway's `FlushStageCache`.
    pub fn flush(&self) {
        self.shared.store.flush();
    }

    /// Drops the entry under `key` (see [`cache_key`](Self::cache_key)).
    pub fn invalidate(&self, key: &CacheKey) {
        self.shared.store.invalidate(key);
    }

    /// Drops every entry for which `predicate` holds, e.g. all entries of a
    /// route after a write. Lookups stop serving them at once.
    pub fn invalidate_if(&self, predicate: impl Fn(&EntryInfo) -> bool + Send + Sync + 'static) {
        self.shared.store.invalidate_if(predicate);
    }

    /// The key a request (method, path, extensions and headers as they reach
    /// this layer) is stored under; `None` when the cache does not apply to
    /// it. A HEAD request has its GET's key.
    #[must_use]
    pub fn cache_key(&self, request: &Parts) -> Option<CacheKey> {
        self.shared.key_for(request)
    }
}

impl<S> Layer<S> for ResponseCacheLayer {
    type Service = ResponseCache<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResponseCache {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Builds a [`ResponseCacheLayer`]. Every setting is checked by
/// [`build`](Self::build).
#[must_use]
pub struct ResponseCacheLayerBuilder {
    enabled: bool,
    ttl: Duration,
    methods: Vec<Method>,
    parameters: Vec<CacheKeyParameter>,
    share_unidentified_authorization: bool,
    routes: Option<RouteTable<RouteCacheSettings>>,
    capacity: u64,
    max_variants: usize,
    metrics_prefix: String,
    max_item_size: usize,
    statuses: StatusSet,
    identity_in_key: bool,
    ignore_backend_cache_control: bool,
    strip_unkeyed_headers: bool,
    require_authorization_for_cache_control: bool,
    strategy: UnauthorizedCacheControlHeaderStrategy,
    authorize_invalidation: Arc<dyn AuthorizeInvalidation>,
    responses: GatewayResponses,
    clock: SharedClock,
    wait_timeout: Duration,
}

impl Default for ResponseCacheLayerBuilder {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl: DEFAULT_TTL,
            methods: vec![Method::GET],
            parameters: Vec::new(),
            share_unidentified_authorization: false,
            routes: None,
            capacity: DEFAULT_CAPACITY,
            max_variants: DEFAULT_MAX_VARIANTS,
            metrics_prefix: String::new(),
            max_item_size: DEFAULT_MAX_ITEM_SIZE,
            statuses: StatusSet::successful(),
            identity_in_key: true,
            ignore_backend_cache_control: false,
            strip_unkeyed_headers: true,
            require_authorization_for_cache_control: true,
            strategy: UnauthorizedCacheControlHeaderStrategy::default(),
            authorize_invalidation: Arc::new(DenyInvalidation),
            responses: GatewayResponses::default(),
            clock: default_clock(),
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
        }
    }
}

impl fmt::Debug for ResponseCacheLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCacheLayerBuilder")
            .field("enabled", &self.enabled)
            .field("ttl", &self.ttl)
            .field("methods", &self.methods)
            .field("parameters", &self.parameters)
            .field("routes", &self.routes)
            .field("capacity", &self.capacity)
            .field("max_item_size", &self.max_item_size)
            .field("statuses", &self.statuses)
            .field("identity_in_key", &self.identity_in_key)
            .finish_non_exhaustive()
    }
}

impl ResponseCacheLayerBuilder {
    /// Whether the cache is on (`cachingEnabled`). Routes may turn it on or
    /// off for themselves. Default: `true`.
    pub fn caching_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// How long a response is served (`cacheTtlInSeconds`); a backend
    /// `max-age` / `s-maxage` may shorten it. Zero disables caching; over
    /// 3600 s is a configuration error. Default: 300 s.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The methods cached (HEAD is answered from GET entries, never stored
    /// itself). Default: GET.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// The request parameters in the key besides method and path
    /// (`cacheKeyParameters`). Unlisted query strings and headers do not vary
    /// the key, as in API Gateway. Default: none.
    pub fn cache_key_parameters(
        mut self,
        parameters: impl IntoIterator<Item = CacheKeyParameter>,
    ) -> Self {
        self.parameters = parameters.into_iter().collect();
        self
    }

    /// Per-route settings over the layer's, matched with the request's
    /// [`RouteMatch`](crate::route::RouteMatch) or its method and path.
    /// Default: none.
    pub fn routes(mut self, routes: RouteTable<RouteCacheSettings>) -> Self {
        self.routes = Some(routes);
        self
    }

    /// Whether a request with an `Authorization` header but no principal an
    /// authorizer established may be answered from, and stored in, entries
    /// shared by every caller. **Unsafe** unless the backend ignores
    /// `Authorization` on the cached routes. Default: `false` (such requests
    /// bypass the cache).
    pub fn share_unidentified_authorization(mut self, share: bool) -> Self {
        self.share_unidentified_authorization = share;
        self
    }

    /// Whether the caller's identity (JWT issuer and `sub`, authorizer
    /// `principalId`, API key id) is part of the key. `false` is API
    /// Gateway's behaviour and **unsafe**: one caller can be answered with
    /// another's response. Default: `true`.
    pub fn identity_in_key(mut self, identity: bool) -> Self {
        self.identity_in_key = identity;
        self
    }

    /// Whether the backend's `Cache-Control` (`no-store`, `private`,
    /// `no-cache`, `max-age`, `s-maxage`) is ignored, as API Gateway ignores
    /// it. **Unsafe**: private responses get stored. `Set-Cookie` and
    /// `Vary: *` responses are never stored either way. Default: `false`.
    pub fn ignore_backend_cache_control(mut self, ignore: bool) -> Self {
        self.ignore_backend_cache_control = ignore;
        self
    }

    /// Sets the identity, authorization and `Cache-Control` switches above to
    /// API Gateway's behaviour. **Unsafe**, for parity tests and migrations.
    pub fn aws_parity(self) -> Self {
        self.identity_in_key(false)
            .share_unidentified_authorization(true)
            .ignore_backend_cache_control(true)
    }

    /// Which statuses are stored. Default: every 2xx but 206.
    pub fn cacheable_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.statuses = StatusSet::empty();
        for status in statuses {
            self.statuses.insert_code(status.as_u16());
        }
        self
    }

    /// The largest body stored, in bytes; larger responses are served,
    /// streamed through, and not stored. Default: 1 MiB, API Gateway's limit.
    pub fn max_item_size(mut self, bytes: usize) -> Self {
        self.max_item_size = bytes;
        self
    }

    /// The total size of the stored responses, in bytes (bodies, headers and
    /// a fixed overhead per entry). Default: 64 MiB.
    pub fn max_capacity(mut self, bytes: u64) -> Self {
        self.capacity = bytes;
        self
    }

    /// How many variants of one key are kept when the backend answers with
    /// `Vary` (one per distinct set of request values of the nominated
    /// headers); storing one more drops the oldest. Default: 8.
    pub fn max_variants(mut self, variants: usize) -> Self {
        self.max_variants = variants;
        self
    }

    /// The prefix of the metric names the cache exports with the `metrics`
    /// feature (`CacheHitCount`, …); give it the same as
    /// [`GatewayMetricsLayerBuilder::prefix`](crate::metrics::GatewayMetricsLayerBuilder::prefix)
    /// so both count into the same series. Default: none.
    pub fn metrics_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.metrics_prefix = prefix.into();
        self
    }

    /// Whether the [`UNKEYED_HEADERS`](super::UNKEYED_HEADERS) are removed
    /// from requests whose response may be stored (keyed headers are kept).
    /// Default: `true`.
    pub fn strip_unkeyed_headers(mut self, strip: bool) -> Self {
        self.strip_unkeyed_headers = strip;
        self
    }

    /// Whether `Cache-Control: max-age=0` needs the
    /// [invalidation authorizer's](Self::with_invalidation_authorizer) consent
    /// (`requireAuthorizationForCacheControl`). `false` lets any caller
    /// invalidate. Default: `true`.
    pub fn require_authorization_for_cache_control(mut self, require: bool) -> Self {
        self.require_authorization_for_cache_control = require;
        self
    }

    /// What an unauthorized `Cache-Control: max-age=0` gets
    /// (`unauthorizedCacheControlHeaderStrategy`). Default:
    /// `SUCCEED_WITH_RESPONSE_HEADER`, as API Gateway.
    pub fn unauthorized_cache_control_header_strategy(
        mut self,
        strategy: UnauthorizedCacheControlHeaderStrategy,
    ) -> Self {
        self.strategy = strategy;
        self
    }

    /// Who may invalidate. Default: [`DenyInvalidation`].
    pub fn with_invalidation_authorizer(mut self, authorize: impl AuthorizeInvalidation) -> Self {
        self.authorize_invalidation = Arc::new(authorize);
        self
    }

    /// The responses rejections are rendered with. Default:
    /// `GatewayResponses::default()`.
    pub fn gateway_responses(mut self, responses: GatewayResponses) -> Self {
        self.responses = responses;
        self
    }

    /// The clock entries expire by. Default: [`default_clock`].
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How long a miss waits for a concurrent miss of the same key before
    /// fetching for itself. Default: 10 s.
    pub fn single_flight_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// The layer, or what is wrong with the settings.
    pub fn build(self) -> Result<ResponseCacheLayer, ConfigError> {
        check_ttl("the cache TTL", self.ttl)?;
        if self.capacity == 0 {
            return Err(ConfigError::new("the cache capacity must be above 0 bytes"));
        }
        if self.max_item_size == 0
            || self.max_item_size as u64 > self.capacity
            || u32::try_from(self.max_item_size).is_err()
        {
            return Err(ConfigError::new(format!(
                "the largest cached item ({} bytes) must be above 0, at most the capacity ({} bytes) and under 4 GiB",
                self.max_item_size, self.capacity
            )));
        }
        if self.max_variants == 0 {
            return Err(ConfigError::new("a key must keep at least one variant"));
        }
        if self.wait_timeout.is_zero() {
            return Err(ConfigError::new(
                "the single-flight timeout must be above 0",
            ));
        }
        let settings = Settings {
            enabled: self.enabled,
            ttl: self.ttl,
            methods: self.methods,
            keyed_headers: keyed_headers(&self.parameters),
            parameters: self.parameters.into(),
            share_unidentified_authorization: self.share_unidentified_authorization,
        };
        let routes = match self.routes {
            None => None,
            Some(table) => {
                let mut builder = RouteTable::builder().stage(table.stage().to_owned());
                for (key, route) in table.iter() {
                    builder = builder.route_key(key.clone(), merge(&settings, key, route)?);
                }
                Some(builder.build()?)
            }
        };
        Ok(ResponseCacheLayer {
            shared: Arc::new(Shared {
                store: Store::new(
                    self.capacity,
                    self.max_variants,
                    MAX_TTL + Duration::from_secs(60),
                    Exporter::new(&self.metrics_prefix),
                ),
                flights: Arc::new(Flights::default()),
                clock: self.clock,
                settings,
                routes,
                max_item_size: self.max_item_size,
                statuses: self.statuses,
                identity_in_key: self.identity_in_key,
                ignore_backend_cache_control: self.ignore_backend_cache_control,
                strip_unkeyed_headers: self.strip_unkeyed_headers,
                require_authorization_for_cache_control: self
                    .require_authorization_for_cache_control,
                strategy: self.strategy,
                authorize_invalidation: self.authorize_invalidation,
                responses: self.responses,
                wait_timeout: self.wait_timeout,
            }),
        })
    }
}

fn check_ttl(what: &str, ttl: Duration) -> Result<(), ConfigError> {
    if ttl > MAX_TTL {
        return Err(ConfigError::new(format!(
            "{what} is {} s; API Gateway allows 0 to 3600 s",
            ttl.as_secs()
        )));
    }
    Ok(())
}

fn keyed_headers(parameters: &[CacheKeyParameter]) -> Arc<[HeaderName]> {
    parameters
        .iter()
        .filter_map(|p| match p {
            CacheKeyParameter::Header(name) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn merge(
    layer: &Settings,
    key: &RouteKey,
    route: &RouteCacheSettings,
) -> Result<Settings, ConfigError> {
    let ttl = route.ttl.unwrap_or(layer.ttl);
    check_ttl(&format!("the TTL of route `{key}`"), ttl)?;
    let mut methods = route
        .methods
        .clone()
        .unwrap_or_else(|| layer.methods.clone());
    if route.enabled == Some(true)
        && let Some(method) = key.method()
        && !methods.contains(method)
    {
        methods.push(method.clone());
    }
    let (parameters, keyed) = match &route.parameters {
        Some(parameters) => (parameters.as_slice().into(), keyed_headers(parameters)),
        None => (
            Arc::clone(&layer.parameters),
            Arc::clone(&layer.keyed_headers),
        ),
    };
    Ok(Settings {
        enabled: route.enabled.unwrap_or(layer.enabled),
        ttl,
        methods,
        parameters,
        keyed_headers: keyed,
        share_unidentified_authorization: route
            .share_unidentified_authorization
            .unwrap_or(layer.share_unidentified_authorization),
    })
}

/// The cache as configuration, in API Gateway's vocabulary (stage
/// `methodSettings` plus this crate's safety switches):
///
/// ```json
/// {
///   "cachingEnabled": true,
///   "cacheTtlInSeconds": 300,
///   "cacheKeyParameters": ["method.request.querystring.type"],
///   "requireAuthorizationForCacheControl": true,
///   "unauthorizedCacheControlHeaderStrategy": "FAIL_WITH_403",
///   "routes": {
///     "GET /orders/{id}": { "cacheTtlInSeconds": 60 },
///     "POST /search": { "cachingEnabled": true }
///   }
/// }
/// ```
///
/// Every field is optional; defaults are the builder's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ResponseCacheConfig {
    /// Default: `true`.
    pub caching_enabled: Option<bool>,
    /// Default: 300. 0 disables; at most 3600.
    pub cache_ttl_in_seconds: Option<u64>,
    /// `method.request.querystring.<name>`, `…header.<name>`, `…path.<name>`.
    /// Default: none.
    #[serde(default)]
    pub cache_key_parameters: Vec<CacheKeyParameter>,
    /// Default: `["GET"]`.
    pub methods: Option<Vec<String>>,
    /// Default: `true`.
    pub require_authorization_for_cache_control: Option<bool>,
    /// Default: `SUCCEED_WITH_RESPONSE_HEADER`.
    pub unauthorized_cache_control_header_strategy: Option<UnauthorizedCacheControlHeaderStrategy>,
    /// Default: every 2xx but 206.
    pub cacheable_status_codes: Option<Vec<u16>>,
    /// Default: 1048576.
    pub max_item_size_in_bytes: Option<usize>,
    /// Default: 67108864.
    pub cache_size_in_bytes: Option<u64>,
    /// Default: `true`. `false` is API Gateway's (unsafe) keying.
    pub identity_in_cache_key: Option<bool>,
    /// Default: `false`. Unsafe when `true`.
    pub share_unidentified_authorization: Option<bool>,
    /// Default: `false`. Unsafe when `true`.
    pub ignore_backend_cache_control: Option<bool>,
    /// Default: `true`.
    pub strip_unkeyed_headers: Option<bool>,
    /// Default: 10000.
    pub single_flight_timeout_in_millis: Option<u64>,
    /// Per-route settings by route key. Default: none.
    #[serde(default)]
    pub routes: HashMap<RouteKey, RouteCacheConfig>,
}

/// One route's settings in [`ResponseCacheConfig`]. Unset fields keep the
/// layer's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteCacheConfig {
    /// Whether the route is cached.
    pub caching_enabled: Option<bool>,
    /// The route's TTL; 0 disables; at most 3600.
    pub cache_ttl_in_seconds: Option<u64>,
    /// The route's key parameters, replacing the layer's.
    pub cache_key_parameters: Option<Vec<CacheKeyParameter>>,
    /// The methods cached on the route.
    pub methods: Option<Vec<String>>,
    /// See [`ResponseCacheLayerBuilder::share_unidentified_authorization`].
    pub share_unidentified_authorization: Option<bool>,
}

fn parse_methods(methods: &[String]) -> Result<Vec<Method>, ConfigError> {
    methods
        .iter()
        .map(|m| {
            Method::from_bytes(m.as_bytes())
                .map_err(|_| ConfigError::new(format!("invalid cache method `{m}`")))
        })
        .collect()
}

impl TryFrom<ResponseCacheConfig> for ResponseCacheLayerBuilder {
    type Error = ConfigError;

    fn try_from(config: ResponseCacheConfig) -> Result<Self, ConfigError> {
        let mut builder =
            ResponseCacheLayer::builder().cache_key_parameters(config.cache_key_parameters);
        if let Some(enabled) = config.caching_enabled {
            builder = builder.caching_enabled(enabled);
        }
        if let Some(ttl) = config.cache_ttl_in_seconds {
            builder = builder.ttl(Duration::from_secs(ttl));
        }
        if let Some(methods) = &config.methods {
            builder = builder.methods(parse_methods(methods)?);
        }
        if let Some(require) = config.require_authorization_for_cache_control {
            builder = builder.require_authorization_for_cache_control(require);
        }
        if let Some(strategy) = config.unauthorized_cache_control_header_strategy {
            builder = builder.unauthorized_cache_control_header_strategy(strategy);
        }
        if let Some(codes) = config.cacheable_status_codes {
            let statuses = codes
                .into_iter()
                .map(|code| {
                    StatusCode::from_u16(code)
                        .map_err(|_| ConfigError::new(format!("invalid status code {code}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            builder = builder.cacheable_statuses(statuses);
        }
        if let Some(size) = config.max_item_size_in_bytes {
            builder = builder.max_item_size(size);
        }
        if let Some(size) = config.cache_size_in_bytes {
            builder = builder.max_capacity(size);
        }
        if let Some(identity) = config.identity_in_cache_key {
            builder = builder.identity_in_key(identity);
        }
        if let Some(share) = config.share_unidentified_authorization {
            builder = builder.share_unidentified_authorization(share);
        }
        if let Some(ignore) = config.ignore_backend_cache_control {
            builder = builder.ignore_backend_cache_control(ignore);
        }
        if let Some(strip) = config.strip_unkeyed_headers {
            builder = builder.strip_unkeyed_headers(strip);
        }
        if let Some(millis) = config.single_flight_timeout_in_millis {
            builder = builder.single_flight_timeout(Duration::from_millis(millis));
        }
        if !config.routes.is_empty() {
            let mut table = RouteTable::builder();
            for (key, route) in config.routes {
                let mut settings = RouteCacheSettings::new();
                if let Some(enabled) = route.caching_enabled {
                    settings = settings.caching_enabled(enabled);
                }
                if let Some(ttl) = route.cache_ttl_in_seconds {
                    settings = settings.ttl(Duration::from_secs(ttl));
                }
                if let Some(parameters) = route.cache_key_parameters {
                    settings = settings.cache_key_parameters(parameters);
                }
                if let Some(methods) = &route.methods {
                    settings = settings.methods(parse_methods(methods)?);
                }
                if let Some(share) = route.share_unidentified_authorization {
                    settings = settings.share_unidentified_authorization(share);
                }
                table = table.route_key(key, settings);
            }
            builder = builder.routes(table.build()?);
        }
        Ok(builder)
    }
}

impl TryFrom<ResponseCacheConfig> for ResponseCacheLayer {
    type Error = ConfigError;

    fn try_from(config: ResponseCacheConfig) -> Result<Self, ConfigError> {
        ResponseCacheLayerBuilder::try_from(config)?.build()
    }
}
