//! The throttle layer, its builder and its configuration.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tower_layer::Layer;

use super::Limit;
use super::key::{
    ApiKeyHeader, ExtractKey, ForwardedHeader, KeySource, Principal, SourceIp, TrustedProxy,
};
use super::service::{
    KeyExtractor, LimiterRef, RouteBuckets, RouteLimiter, Shared, TokenBucketThrottle,
};
use crate::clock::{SharedClock, default_clock};
use crate::error::ConfigError;
use crate::problem::GatewayResponses;
use crate::route::RouteKey;
use crate::store::{
    FailurePolicy, FallbackLimiter, LimitSpec, Limiter, MemoryRateLimitStore, RateLimitStore,
};

/// Default bound on the keys an in-memory limit keeps: 100,000.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Throttles requests with token buckets: see the [module docs](super).
#[derive(Clone)]
#[must_use]
pub struct TokenBucketThrottleLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for TokenBucketThrottleLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucketThrottleLayer")
            .field("shared", &self.shared)
            .finish()
    }
}

impl TokenBucketThrottleLayer {
    /// A builder.
    pub fn builder() -> TokenBucketThrottleLayerBuilder {
        TokenBucketThrottleLayerBuilder::default()
    }

    /// The number of bucket keys held in memory by all of this layer's
    /// limits (for in-memory stores), to watch the memory bound.
    #[must_use]
    pub fn keys_in_memory(&self) -> usize {
        let shared = &self.shared;
        std::iter::once(&shared.default)
            .chain(shared.routes.iter().map(|route| &route.limiter))
            .filter_map(|l| l.store.keys_in_memory())
            .sum()
    }
}

impl<S> Layer<S> for TokenBucketThrottleLayer {
    type Service = TokenBucketThrottle<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenBucketThrottle {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Builds a [`TokenBucketThrottleLayer`].
#[must_use]
pub struct TokenBucketThrottleLayerBuilder {
    rate: f64,
    burst: u32,
    routes: Vec<(String, f64, u32)>,
    key: Option<Box<dyn ExtractKey>>,
    key_source: KeySource,
    trusted: Vec<TrustedProxy>,
    forwarded: ForwardedHeader,
    max_keys: usize,
    headers: bool,
    name: String,
    responses: GatewayResponses,
    failure: FailurePolicy,
    clock: Option<SharedClock>,
    store: Option<Arc<dyn RateLimitStore>>,
    errors: Vec<ConfigError>,
}

impl Default for TokenBucketThrottleLayerBuilder {
    fn default() -> Self {
        Self {
            rate: 10_000.0,
            burst: 5_000,
            routes: Vec::new(),
            key: None,
            key_source: KeySource::Stage,
            trusted: Vec::new(),
            forwarded: ForwardedHeader::XForwardedFor,
            max_keys: DEFAULT_MAX_KEYS,
            headers: false,
            name: "throttle".to_owned(),
            responses: GatewayResponses::default(),
            failure: FailurePolicy::Open,
            clock: None,
            store: None,
            errors: Vec::new(),
        }
    }
}

impl fmt::Debug for TokenBucketThrottleLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucketThrottleLayerBuilder")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("routes", &self.routes)
            .field("key_source", &self.key_source)
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

impl TokenBucketThrottleLayerBuilder {
    /// Steady-state requests per second, fractional allowed.
    /// Default: 10,000 (API Gateway's account-level default).
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    /// Bucket size: how many requests may pass at once. 0 rejects every
    /// request. Default: 5,000 (API Gateway's account-level default).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// A different bucket for one route: `GET /orders/{id}` (HTTP API route
    /// settings) or `/orders/{id}/GET` (REST method settings, `//GET` for
    /// the root; `*/*` sets the default). Default: none.
    pub fn route(mut self, route: &str, rate: f64, burst: u32) -> Self {
        self.routes.push((route.to_owned(), rate, burst));
        self
    }

    /// Which built-in key picks the bucket. Default: [`KeySource::Stage`].
    pub fn key(mut self, key: KeySource) -> Self {
        self.key_source = key;
        self.key = None;
        self
    }

    /// A custom key (a closure `Fn(&RequestInfo) -> Option<BucketKey>` or
    /// any [`ExtractKey`]); replaces [`key`](Self::key).
    ///
    /// [`RequestInfo`]: super::RequestInfo
    /// [`BucketKey`]: crate::store::BucketKey
    pub fn with_key_extractor(mut self, key: impl ExtractKey) -> Self {
        self.key = Some(Box::new(key));
        self
    }

    /// Proxies whose `X-Forwarded-For` the client-IP key believes (`10.0.0.1`,
    /// `10.0.0.0/8`). Default: none (the peer address only).
    pub fn trusted_proxies<I, T>(mut self, proxies: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        for proxy in proxies {
            match TrustedProxy::from_str(proxy.as_ref()) {
                Ok(proxy) => self.trusted.push(proxy),
                Err(error) => self.errors.push(error),
            }
        }
        self
    }

    /// The header the client-IP key reads from trusted proxies:
    /// `X-Forwarded-For` (default) or RFC 7239 `Forwarded`. Read only the
    /// one your proxies write.
    pub fn forwarded_header(mut self, header: ForwardedHeader) -> Self {
        self.forwarded = header;
        self
    }

    /// How many keys one limit keeps in memory before forgetting the
    /// least-needed (see the [module docs](super#memory)). Default: 100,000.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Add `RateLimit` / `RateLimit-Policy` to admitted responses.
    /// Rejections always carry them. Default: `false`.
    pub fn rate_limit_headers(mut self, enabled: bool) -> Self {
        self.headers = enabled;
        self
    }

    /// The layer's name (`stage`, `client`, …): its item in the `RateLimit`
    /// and `RateLimit-Policy` headers and its prefix in store keys, unique
    /// among the throttles sharing a store. Default: `throttle`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How rejections are rendered. Default: `GatewayResponses::default()`.
    pub fn gateway_responses(mut self, responses: GatewayResponses) -> Self {
        self.responses = responses;
        self
    }

    /// What happens when the store fails. Default: [`FailurePolicy::Open`].
    /// [`FailurePolicy::Local`] keeps an in-memory share of every limit
    /// (`limit / replicas`) next to the store's and decides with it while
    /// the store fails.
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure = policy;
        self
    }

    /// The clock. Default: [`default_clock()`] (tokio's).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Where buckets live. Default: a [`MemoryRateLimitStore`].
    pub fn with_store(mut self, store: Arc<dyn RateLimitStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The layer, or what is wrong with the configuration.
    pub fn build(self) -> Result<TokenBucketThrottleLayer, ConfigError> {
        if let Some(error) = self.errors.into_iter().next() {
            return Err(error);
        }
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(ConfigError::new(
                "throttle name must be printable ASCII without quotes",
            ));
        }
        if self.max_keys == 0 {
            return Err(ConfigError::new("throttle maxKeys must be at least 1"));
        }
        let clock = self.clock.unwrap_or_else(default_clock);
        let mut default = Limit::new(self.rate, self.burst)?;
        let mut route_limits = Vec::new();
        for (route, rate, burst) in self.routes {
            let limit = Limit::new(rate, burst)?;
            match parse_method_key(&route)? {
                Some(key) => {
                    if route_limits.iter().any(|(k, _)| *k == key) {
                        return Err(ConfigError::new(format!(
                            "throttle route `{route}` is set twice"
                        )));
                    }
                    route_limits.push((key, limit));
                }
                None => default = limit,
            }
        }
        self.failure.validate()?;
        let replicas = self.failure.replicas();
        let limiter = |name: String, limit| {
            let spec = LimitSpec::new(name, limit, self.max_keys);
            let limiter = match &self.store {
                // The layer's own in-memory buckets: checked without the
                // store trait.
                None if replicas.is_none() => {
                    let memory = MemoryRateLimitStore::new().memory_limiter(&spec, &clock);
                    return LimiterRef::memory(memory);
                }
                None => MemoryRateLimitStore::new().limiter(&spec, &clock),
                Some(store) => store.limiter(&spec, &clock),
            };
            LimiterRef::new(match replicas {
                Some(n) => Arc::new(FallbackLimiter::new(limiter, n, &clock)) as Arc<dyn Limiter>,
                None => limiter,
            })
        };
        let limiter = |name: String, limit| limiter(name, limit).with_policy(&self.name);
        let default = limiter(self.name.clone(), default);
        let routes: Vec<_> = route_limits
            .iter()
            .map(|(key, limit)| {
                RouteLimiter::new(key.clone(), limiter(format!("{}:{key}", self.name), *limit))
            })
            .collect();
        let table = if routes.is_empty() {
            None
        } else {
            let mut builder = crate::route::RouteTable::builder();
            for route in &routes {
                builder = builder.route_key(route.route.clone(), ());
            }
            Some(builder.build()?)
        };
        let key = match (self.key, self.key_source) {
            (Some(key), _) => KeyExtractor::Other(key),
            (None, KeySource::Stage) => KeyExtractor::Stage,
            (None, KeySource::Route) => KeyExtractor::Route(RouteBuckets::default()),
            (None, KeySource::ClientIp) => {
                KeyExtractor::SourceIp(SourceIp::trusting(self.trusted).with_header(self.forwarded))
            }
            (None, KeySource::ApiKey) => KeyExtractor::Other(Box::new(ApiKeyHeader::new())),
            (None, KeySource::Principal) => KeyExtractor::Other(Box::new(Principal)),
        };
        let needs_route = !routes.is_empty() || self.key_source == KeySource::Route;
        Ok(TokenBucketThrottleLayer {
            shared: Arc::new(Shared {
                default,
                routes,
                table,
                key,
                needs_route,
                headers: self.headers,
                responses: self.responses,
                failure: self.failure,
                name: Arc::from(self.name),
            }),
        })
    }
}

/// A method-throttle key: `GET /pets` (route key), `/pets/GET` (API
/// Gateway's `{resourcePath}/{httpMethod}`, `//GET` for the root, `*` for any
/// method); `*/*` (the default) is `None`.
pub(crate) fn parse_method_key(key: &str) -> Result<Option<RouteKey>, ConfigError> {
    let key = key.trim();
    if key == "*/*" {
        return Ok(None);
    }
    if key.contains(' ') || key == "$default" {
        return RouteKey::from_str(key).map(Some);
    }
    let (path, method) = key.rsplit_once('/').ok_or_else(|| {
        ConfigError::new(format!(
            "method throttle key `{key}` is not `/resource/path/METHOD` or `METHOD /path`"
        ))
    })?;
    if path.contains('*') {
        return Err(ConfigError::new(format!(
            "method throttle key `{key}`: only `*/*` may use a wildcard path"
        )));
    }
    let path = if path.is_empty() { "/" } else { path };
    let method = if method == "*" { "ANY" } else { method };
    RouteKey::from_str(&format!("{method} {path}")).map(Some)
}

/// A bucket in API Gateway's words.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottleSettings {
    /// Steady-state requests per second (`rateLimit`).
    pub rate_limit: f64,
    /// Bucket size (`burstLimit`).
    pub burst_limit: u32,
}

/// [`TokenBucketThrottleLayer`] as configuration:
///
/// ```json
/// {
///   "rateLimit": 100, "burstLimit": 50, "key": "CLIENT_IP",
///   "trustedProxies": ["10.0.0.0/8"],
///   "throttle": { "/orders/{id}/GET": { "rateLimit": 10, "burstLimit": 5 } }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenBucketThrottleConfig {
    /// Requests per second. Default: 10,000.
    #[serde(default = "default_rate")]
    pub rate_limit: f64,
    /// Bucket size. Default: 5,000.
    #[serde(default = "default_burst")]
    pub burst_limit: u32,
    /// The key. Default: `STAGE`.
    #[serde(default)]
    pub key: KeySource,
    /// Method throttles by `/resource/path/METHOD` or route key. Default: none.
    #[serde(default)]
    pub throttle: BTreeMap<String, ThrottleSettings>,
    /// Proxies whose `X-Forwarded-For` is believed. Default: none.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// `X_FORWARDED_FOR` or `FORWARDED` (RFC 7239): the header read from
    /// trusted proxies. Default: `X_FORWARDED_FOR`.
    #[serde(default)]
    pub forwarded_header: ForwardedHeader,
    /// Keys kept in memory per limit. Default: 100,000.
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
    /// `RateLimit` headers on admitted responses. Default: `false`.
    #[serde(default)]
    pub rate_limit_headers: bool,
    /// The name in store keys. Default: `throttle`.
    #[serde(default = "default_name")]
    pub name: String,
    /// `OPEN`, `CLOSED` or `{"LOCAL": {"replicas": N}}`. Default: `OPEN`.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
}

fn default_rate() -> f64 {
    10_000.0
}
fn default_burst() -> u32 {
    5_000
}
fn default_max_keys() -> usize {
    DEFAULT_MAX_KEYS
}
fn default_name() -> String {
    "throttle".to_owned()
}

impl TryFrom<TokenBucketThrottleConfig> for TokenBucketThrottleLayerBuilder {
    type Error = ConfigError;

    fn try_from(config: TokenBucketThrottleConfig) -> Result<Self, ConfigError> {
        let mut builder = TokenBucketThrottleLayer::builder()
            .rate(config.rate_limit)
            .burst(config.burst_limit)
            .key(config.key)
            .trusted_proxies(&config.trusted_proxies)
            .forwarded_header(config.forwarded_header)
            .max_keys(config.max_keys)
            .rate_limit_headers(config.rate_limit_headers)
            .name(config.name)
            .failure_policy(config.failure_policy);
        for (route, settings) in &config.throttle {
            builder = builder.route(route, settings.rate_limit, settings.burst_limit);
        }
        Ok(builder)
    }
}

impl TryFrom<TokenBucketThrottleConfig> for TokenBucketThrottleLayer {
    type Error = ConfigError;

    fn try_from(config: TokenBucketThrottleConfig) -> Result<Self, ConfigError> {
        TokenBucketThrottleLayerBuilder::try_from(config)?.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_keys_in_both_vocabularies() {
        let route = |s| parse_method_key(s).unwrap().unwrap().to_string();
        assert_eq!(route("/pets/{id}/GET"), "GET /pets/{id}");
        assert_eq!(route("//GET"), "GET /");
        assert_eq!(route("/pets/*"), "ANY /pets");
        assert_eq!(route("POST /pets"), "POST /pets");
        assert!(parse_method_key("*/*").unwrap().is_none());
        assert!(parse_method_key("*/GET").is_err());
        assert!(parse_method_key("nonsense").is_err());
    }

    #[test]
    fn config_rejects_unknown_fields_and_builds() {
        let bad = serde_json::from_str::<TokenBucketThrottleConfig>(r#"{"rate": 1}"#);
        assert!(bad.is_err());
        let config: TokenBucketThrottleConfig = serde_json::from_str(
            r#"{"rateLimit": 0.5, "burstLimit": 2, "key": "CLIENT_IP",
                "trustedProxies": ["10.0.0.0/8"],
                "throttle": {"/pets/GET": {"rateLimit": 1, "burstLimit": 1}}}"#,
        )
        .unwrap();
        let layer = TokenBucketThrottleLayer::try_from(config).unwrap();
        assert_eq!(layer.keys_in_memory(), 0);
    }

    #[test]
    fn build_rejects_invalid_settings() {
        assert!(
            TokenBucketThrottleLayer::builder()
                .rate(-1.0)
                .build()
                .is_err()
        );
        assert!(
            TokenBucketThrottleLayer::builder()
                .max_keys(0)
                .build()
                .is_err()
        );
        assert!(
            TokenBucketThrottleLayer::builder()
                .trusted_proxies(["nope"])
                .build()
                .is_err()
        );
        assert!(
            TokenBucketThrottleLayer::builder()
                .route("GET /a", 1.0, 1)
                .route("/a/GET", 1.0, 1)
                .build()
                .is_err()
        );
    }
}
