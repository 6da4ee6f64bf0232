//! `JwtAuthorizerLayer`, its builder and the trusted issuers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::claims::ClaimRules;
use super::jwks::{self, FetchOptions, RemoteKeys, RemoteSource};
use super::keys::{Algorithm, AlgorithmSet, KeySet};
use super::service::JwtAuthorizer;
use super::source::IdentitySource;
use super::verify::{self, IssuerEntry, Keys, Verifier};
use crate::ConfigError;
use crate::clock::{SharedClock, default_clock};
use crate::problem::GatewayResponses;
use crate::route::RouteTable;

/// One trusted issuer: its `iss`, the audiences its tokens may be for, where
/// its keys come from, and the algorithms its keys may verify.
///
/// Keys come from OIDC discovery by default
/// (`{issuer}/.well-known/openid-configuration`, whose `issuer` must equal
/// this one), from a JWKS URL, or from a static JWKS document.
#[derive(Clone, Debug)]
#[must_use]
pub struct Issuer {
    issuer: String,
    audiences: Vec<String>,
    keys: IssuerKeys,
    algorithms: Option<Vec<Algorithm>>,
}

#[derive(Clone, Debug)]
enum IssuerKeys {
    Discovery,
    JwksUrl(String),
    Jwks(Vec<u8>),
}

impl Issuer {
    /// Trusts tokens whose `iss` is exactly `issuer` (no trailing-slash
    /// normalisation). Keys: OIDC discovery, unless set otherwise.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            keys: IssuerKeys::Discovery,
            algorithms: None,
        }
    }

    /// Adds an audience: a token's `aud` (or, without `aud`, its
    /// `client_id`) must be one of them. At least one is required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds several audiences.
    pub fn audiences(mut self, audiences: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Fetches keys from this JWKS URL instead of discovery.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.keys = IssuerKeys::JwksUrl(url.into());
        self
    }

    /// Uses this static JWKS document (`{"keys": [...]}`), never fetching.
    pub fn jwks(mut self, document: impl Into<Vec<u8>>) -> Self {
        self.keys = IssuerKeys::Jwks(document.into());
        self
    }

    /// The algorithms this issuer's tokens may use.
    /// Default: [`Algorithm::ALL`], or [`Algorithm::RSA`] in AWS-compatible mode.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }
}

/// Scopes required per route.
#[derive(Debug, Default)]
pub(crate) struct ScopeRules {
    pub(crate) fixed: Vec<String>,
    pub(crate) routes: Option<RouteTable<Vec<String>>>,
    pub(crate) require_all: bool,
}

/// What every clone of the layer and its services share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) verifier: Verifier,
    pub(crate) source: IdentitySource,
    pub(crate) scopes: ScopeRules,
    pub(crate) responses: GatewayResponses,
}

/// API Gateway's JWT authorizer as a tower layer. See the
/// [module docs](super) for what is checked and how requests are refused.
///
/// Cheap to clone: every clone shares one key cache and one claims cache.
#[derive(Clone)]
#[must_use]
pub struct JwtAuthorizerLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for JwtAuthorizerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthorizerLayer")
            .field("shared", &self.shared)
            .finish()
    }
}

impl JwtAuthorizerLayer {
    /// A builder. At least one [`Issuer`] is required.
    pub fn builder() -> JwtAuthorizerLayerBuilder {
        JwtAuthorizerLayerBuilder::default()
    }

    /// Fetches every remote key set now (bypassing the cooldown) and waits
    /// for the fetches, e.g. before serving. Returns whether every issuer
    /// has a key set loaded. Never needed: the first request fetches.
    pub async fn refresh_keys(&self) -> bool {
        let mut loaded = true;
        for issuer in &self.shared.verifier.issuers {
            if let Keys::Remote(remote) = &issuer.keys {
                remote.refresh_now().await;
                loaded &= remote.is_loaded();
            }
        }
        loaded
    }
}

impl<S> Layer<S> for JwtAuthorizerLayer {
    type Service = JwtAuthorizer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtAuthorizer::new(inner, Arc::clone(&self.shared))
    }
}

/// Builds a [`JwtAuthorizerLayer`]; every setting is checked by
/// [`build`](Self::build).
#[derive(Debug)]
#[must_use]
pub struct JwtAuthorizerLayerBuilder {
    issuers: Vec<Issuer>,
    identity_source: IdentitySource,
    leeway: Option<Duration>,
    require_exp: bool,
    require_kid: Option<bool>,
    max_token_bytes: usize,
    aws_compatible: bool,
    scopes: ScopeRules,
    responses: GatewayResponses,
    clock: Option<SharedClock>,
    fetch: FetchOptions,
    claims_cache_bytes: u64,
    claims_cache_ttl: Duration,
}

impl Default for JwtAuthorizerLayerBuilder {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            identity_source: IdentitySource::default(),
            leeway: None,
            require_exp: true,
            require_kid: None,
            max_token_bytes: 8 * 1024,
            aws_compatible: false,
            scopes: ScopeRules::default(),
            responses: GatewayResponses::default(),
            clock: None,
            fetch: FetchOptions::default(),
            claims_cache_bytes: 32 * 1024 * 1024,
            claims_cache_ttl: Duration::from_secs(600),
        }
    }
}

impl JwtAuthorizerLayerBuilder {
    /// Trusts an issuer. Several issuers may be trusted; a token is checked
    /// against the one its `iss` names.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Where the token is read from. Default: the `Authorization` header.
    pub fn identity_source(mut self, source: IdentitySource) -> Self {
        self.identity_source = source;
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    /// Default: 60 s; 0 s in AWS-compatible mode.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }

    /// Whether tokens without `exp` are refused. Default: `true`.
    pub fn require_exp(mut self, require: bool) -> Self {
        self.require_exp = require;
        self
    }

    /// Whether tokens without `kid` are refused. When `false`, a token
    /// without `kid` is verified by the issuer's only key for its `alg`.
    /// Default: `false`; `true` in AWS-compatible mode.
    pub fn require_kid(mut self, require: bool) -> Self {
        self.require_kid = Some(require);
        self
    }

    /// Largest token accepted, in bytes; larger ones are refused before any
    /// decoding. Default: 8 KiB.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// API Gateway's behaviour: RSA algorithms only (an issuer configured
    /// with others fails to build), leeway 0 s unless set, `kid` required.
    /// Default: off.
    pub fn aws_compatible(mut self, on: bool) -> Self {
        self.aws_compatible = on;
        self
    }

    /// Scopes every request through this layer needs (for `route_layer`
    /// use); a route in [`route_scopes`](Self::route_scopes) overrides them.
    /// Default: none.
    pub fn required_scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes.fixed = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Scopes per route (API Gateway's `authorizationScopes`), keyed by
    /// route key. The request's [`RouteMatch`](crate::route::RouteMatch)
    /// picks the route when present; otherwise the table matches the
    /// method and path. Routes not in the table need the
    /// [`required_scopes`](Self::required_scopes). Default: no table.
    pub fn route_scopes(mut self, table: RouteTable<Vec<String>>) -> Self {
        self.scopes.routes = Some(table);
        self
    }

    /// Whether a token needs all of a route's scopes rather than one of
    /// them (API Gateway needs one). Default: `false`.
    pub fn require_all_scopes(mut self, all: bool) -> Self {
        self.scopes.require_all = all;
        self
    }

    /// How rejections are rendered. Default: `GatewayResponses::default()`.
    pub fn gateway_responses(mut self, responses: GatewayResponses) -> Self {
        self.responses = responses;
        self
    }

    /// The clock for token times, key-set ages and cooldowns.
    /// Default: [`default_clock`].
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Timeout of one JWKS or discovery request, connection to last byte.
    /// Default: 1.5 s (API Gateway's).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch.timeout = timeout;
        self
    }

    /// Largest JWKS or discovery body, enforced while reading.
    /// Default: 150,000 bytes (API Gateway's).
    pub fn max_jwks_bytes(mut self, bytes: usize) -> Self {
        self.fetch.max_body = bytes;
        self
    }

    /// How long a key set is used when the response has no
    /// `Cache-Control: max-age`. Default: 10 minutes.
    pub fn key_cache_ttl(mut self, ttl: Duration) -> Self {
        self.fetch.default_ttl = ttl;
        self
    }

    /// Bounds on a key set's lifetime from `Cache-Control: max-age`.
    /// Default: 1 minute to 24 hours.
    pub fn key_cache_ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.fetch.min_ttl = min;
        self.fetch.max_ttl = max;
        self
    }

    /// Least time between two fetches of one key set, whatever triggers
    /// them (unknown `kid`, refresh, retry after a failure): a flood of
    /// random `kid`s costs the issuer at most one request per cooldown, and
    /// a new key is picked up within one cooldown. Default: 30 s.
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.fetch.cooldown = cooldown;
        self
    }

    /// How long past its lifetime a key set keeps verifying while the
    /// issuer cannot be reached. After that, tokens of that issuer are
    /// refused (500 `AUTHORIZER_FAILURE`) until a fetch succeeds.
    /// Default: 1 hour.
    pub fn stale_window(mut self, window: Duration) -> Self {
        self.fetch.stale_window = window;
        self
    }

    /// Allows plain-`http` JWKS and issuer URLs (loopback addresses are
    /// always allowed). Default: `false`.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.fetch.allow_http = allow;
        self
    }

    /// Memory bound of the verified-claims cache, in bytes (roughly three
    /// times each token's length); 0 disables the cache.
    /// Default: 32 MiB.
    pub fn claims_cache_capacity(mut self, bytes: u64) -> Self {
        self.claims_cache_bytes = bytes;
        self
    }

    /// Longest time a verified token is trusted without checking its
    /// signature again (it never outlives its `exp`). Default: 10 minutes.
    pub fn claims_cache_ttl(mut self, ttl: Duration) -> Self {
        self.claims_cache_ttl = ttl;
        self
    }

    /// Checks the configuration and builds the layer. Makes no network
    /// request: remote key sets are fetched on first use (or by
    /// [`JwtAuthorizerLayer::refresh_keys`]).
    pub fn build(self) -> Result<JwtAuthorizerLayer, ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::new("JWT authorizer needs at least one issuer"));
        }
        if self.max_token_bytes == 0 || self.fetch.max_body == 0 || self.fetch.timeout.is_zero() {
            return Err(ConfigError::new(
                "max token size, JWKS size limit and fetch timeout must be positive",
            ));
        }
        if self.fetch.min_ttl > self.fetch.max_ttl {
            return Err(ConfigError::new("key cache TTL bounds are reversed"));
        }
        for scope in self.scopes.fixed.iter().chain(
            self.scopes
                .routes
                .iter()
                .flat_map(|t| t.iter().flat_map(|(_, s)| s)),
        ) {
            let valid = !scope.is_empty()
                && scope
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
            if !valid {
                return Err(ConfigError::new(
                    "scopes must be non-empty visible ASCII without quotes or backslashes",
                ));
            }
        }
        let clock = self.clock.unwrap_or_else(default_clock);
        let leeway = self.leeway.unwrap_or(if self.aws_compatible {
            Duration::ZERO
        } else {
            Duration::from_secs(60)
        });
        let mut client = None;
        let mut issuers: Vec<IssuerEntry> = Vec::with_capacity(self.issuers.len());
        for issuer in self.issuers {
            if issuer.issuer.is_empty() {
                return Err(ConfigError::new("an issuer is empty"));
            }
            if issuers.iter().any(|i| i.rules.issuer == issuer.issuer) {
                return Err(ConfigError::new("an issuer is configured twice"));
            }
            if issuer.audiences.is_empty() || issuer.audiences.iter().any(String::is_empty) {
                return Err(ConfigError::new(
                    "every issuer needs at least one non-empty audience",
                ));
            }
            let algorithms = match &issuer.algorithms {
                Some(list) if list.is_empty() => {
                    return Err(ConfigError::new("an issuer allows no algorithm"));
                }
                Some(list) if self.aws_compatible && list.iter().any(|a| !a.is_rsa()) => {
                    return Err(ConfigError::new(
                        "AWS-compatible mode allows RSA algorithms only",
                    ));
                }
                Some(list) => AlgorithmSet::of(list.iter().copied()),
                None if self.aws_compatible => AlgorithmSet::of(Algorithm::RSA),
                None => AlgorithmSet::of(Algorithm::ALL),
            };
            let mut remote = |source: RemoteSource| -> Result<Keys, ConfigError> {
                let client = match &client {
                    Some(client) => reqwest::Client::clone(client),
                    None => {
                        let built = http_client(&self.fetch)?;
                        client = Some(built.clone());
                        built
                    }
                };
                Ok(Keys::Remote(Arc::new(RemoteKeys::new(
                    source,
                    algorithms,
                    self.fetch.clone(),
                    client,
                    Arc::clone(&clock),
                ))))
            };
            let keys = match issuer.keys {
                IssuerKeys::Jwks(document) => {
                    let set = KeySet::parse(&document, algorithms)?;
                    if set.is_empty() {
                        return Err(ConfigError::new(
                            "a static JWKS has no key usable with the issuer's algorithms",
                        ));
                    }
                    Keys::Static(set)
                }
                IssuerKeys::JwksUrl(url) => {
                    jwks::check_url(&url, self.fetch.allow_http)?;
                    remote(RemoteSource::Jwks(Arc::from(url)))?
                }
                IssuerKeys::Discovery => {
                    jwks::check_url(&issuer.issuer, self.fetch.allow_http)?;
                    remote(RemoteSource::Discovery(Arc::from(issuer.issuer.as_str())))?
                }
            };
            issuers.push(IssuerEntry {
                rules: ClaimRules {
                    issuer: issuer.issuer,
                    audiences: issuer.audiences,
                    leeway: leeway.as_secs_f64(),
                    require_exp: self.require_exp,
                },
                algorithms,
                keys,
            });
        }
        let verifier = Verifier {
            id: verify::next_verifier_id(),
            issuers,
            require_kid: self.require_kid.unwrap_or(self.aws_compatible),
            max_token_bytes: self.max_token_bytes,
            clock,
            cache: (self.claims_cache_bytes > 0 && !self.claims_cache_ttl.is_zero())
                .then(|| verify::claims_cache(self.claims_cache_bytes, self.claims_cache_ttl)),
            cache_ttl: self.claims_cache_ttl,
        };
        Ok(JwtAuthorizerLayer {
            shared: Arc::new(Shared {
                verifier,
                source: self.identity_source,
                scopes: self.scopes,
                responses: self.responses,
            }),
        })
    }
}

/// The client for JWKS and discovery: no redirects, the fetch timeout on
/// connection and on the whole request, no proxy from the environment.
fn http_client(options: &FetchOptions) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(options.timeout)
        .connect_timeout(options.timeout)
        .no_proxy()
        .build()
        .map_err(|_| ConfigError::new("the HTTP client for JWKS could not be built"))
}
