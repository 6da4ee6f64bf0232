use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use serde::{Deserialize, Serialize};
use tower_layer::Layer;

use super::authorize::Authorize;
use super::cache::{CacheKey, ResultCache};
use super::identity_source::{IdentitySource, deserialize_sources};
use super::service::{Flavor, LambdaAuthorizerCache, Settings, Shared, sources_need_route};
use crate::clock::{SharedClock, default_clock};
use crate::error::ConfigError;
use crate::problem::GatewayResponses;

/// API Gateway's longest authorizer result TTL: 3600 s.
pub const MAX_TTL: Duration = Duration::from_secs(3600);

/// The default authorizer result TTL: 300 s.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// The default authorizer timeout: 10 s, as API Gateway's.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default bound on cached results: 10,000 identities.
pub const DEFAULT_MAX_ENTRIES: u64 = 10_000;

/// A custom authorizer's type, as API Gateway's `type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum AuthorizerType {
    /// `TOKEN` (REST APIs): one header, passed raw; an optional validation
    /// expression is checked before any call.
    Token,
    /// `REQUEST`: any identity sources, and the whole request in the event.
    /// Default.
    #[default]
    Request,
}

/// An HTTP API authorizer's `authorizerPayloadFormatVersion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PayloadFormatVersion {
    /// `1.0`: the REST-compatible event, IAM policy answers.
    #[serde(rename = "1.0")]
    V1,
    /// `2.0`: the 2.0 event; simple or IAM policy answers.
    #[serde(rename = "2.0")]
    V2,
}

/// A [`LambdaAuthorizerCache`] for every service it wraps; all of them share
/// one result cache. Cheap to clone.
///
/// Built with [`builder`](Self::builder) or from a
/// [`LambdaAuthorizerConfig`]. See the [module docs](super).
#[must_use]
pub struct LambdaAuthorizerCacheLayer<A> {
    shared: Arc<Shared<A>>,
}

impl<A> Clone for LambdaAuthorizerCacheLayer<A> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<A> fmt::Debug for LambdaAuthorizerCacheLayer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaAuthorizerCacheLayer")
            .field("authorizer", &self.shared)
            .finish()
    }
}

impl<S, A> Layer<S> for LambdaAuthorizerCacheLayer<A> {
    type Service = LambdaAuthorizerCache<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        LambdaAuthorizerCache {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<A: Authorize> LambdaAuthorizerCacheLayer<A> {
    /// A builder calling `authorizer`.
    pub fn builder(authorizer: A) -> LambdaAuthorizerCacheLayerBuilder<A> {
        LambdaAuthorizerCacheLayerBuilder::new(authorizer)
    }

    /// A layer from configuration, calling `authorizer`.
    pub fn from_config(config: LambdaAuthorizerConfig, authorizer: A) -> Result<Self, ConfigError> {
        Self::builder(authorizer).config(config).build()
    }

    /// Forgets the cached result for one identity (see [`CacheKey`]); the
    /// next request with it calls the authorizer.
    pub fn invalidate(&self, key: &CacheKey) {
        self.shared.cache.invalidate(key);
    }

    /// Forgets every cached result.
    pub fn invalidate_all(&self) {
        self.shared.cache.invalidate_all();
    }
}

impl<A: Authorize> TryFrom<(LambdaAuthorizerConfig, A)> for LambdaAuthorizerCacheLayer<A> {
    type Error = ConfigError;

    fn try_from((config, authorizer): (LambdaAuthorizerConfig, A)) -> Result<Self, ConfigError> {
        Self::from_config(config, authorizer)
    }
}

/// Builds a [`LambdaAuthorizerCacheLayer`]; every setting is checked by
/// [`build`](Self::build).
#[must_use]
pub struct LambdaAuthorizerCacheLayerBuilder<A> {
    authorizer: A,
    authorizer_type: AuthorizerType,
    payload_format: Option<PayloadFormatVersion>,
    simple_responses: bool,
    sources: Vec<IdentitySource>,
    source_error: Option<ConfigError>,
    validation: Option<String>,
    ttl: Duration,
    timeout: Duration,
    max_entries: u64,
    region: String,
    account_id: String,
    api_id: String,
    stage: Option<String>,
    stage_variables: HashMap<String, String>,
    responses: GatewayResponses,
    www_authenticate: HeaderValue,
    clock: SharedClock,
}

impl<A> fmt::Debug for LambdaAuthorizerCacheLayerBuilder<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaAuthorizerCacheLayerBuilder")
            .field("authorizer_type", &self.authorizer_type)
            .field("payload_format", &self.payload_format)
            .field("identity_sources", &self.sources)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<A: Authorize> LambdaAuthorizerCacheLayerBuilder<A> {
    fn new(authorizer: A) -> Self {
        Self {
            authorizer,
            authorizer_type: AuthorizerType::Request,
            payload_format: None,
            simple_responses: false,
            sources: Vec::new(),
            source_error: None,
            validation: None,
            ttl: DEFAULT_TTL,
            timeout: DEFAULT_TIMEOUT,
            max_entries: DEFAULT_MAX_ENTRIES,
            region: "us-east-1".to_owned(),
            account_id: "000000000000".to_owned(),
            api_id: "local".to_owned(),
            stage: None,
            stage_variables: HashMap::new(),
            responses: GatewayResponses::default(),
            www_authenticate: HeaderValue::from_static("Bearer"),
            clock: default_clock(),
        }
    }

    /// `TOKEN` or `REQUEST`. Default: `REQUEST`.
    pub fn authorizer_type(mut self, authorizer_type: AuthorizerType) -> Self {
        self.authorizer_type = authorizer_type;
        self
    }

    /// A `TOKEN` authorizer reading `header` (e.g. `Authorization`): sets the
    /// type and the single identity source.
    pub fn token(mut self, header: &str) -> Self {
        self.authorizer_type = AuthorizerType::Token;
        self.sources.clear();
        self.identity_source(&format!("$request.header.{header}"))
    }

    /// Adds an identity source, e.g. `$request.header.Authorization` (see
    /// [`IdentitySource`] for the syntax). Default: none.
    pub fn identity_source(mut self, selector: &str) -> Self {
        match selector.parse() {
            Ok(source) => self.sources.push(source),
            Err(error) => {
                self.source_error.get_or_insert(error);
            }
        }
        self
    }

    /// A `TOKEN` authorizer's `identityValidationExpression`: a regular
    /// expression the whole token must match before the authorizer is
    /// called (401 otherwise). Default: none.
    pub fn identity_validation_expression(mut self, regex: impl Into<String>) -> Self {
        self.validation = Some(regex.into());
        self
    }

    /// Makes this an HTTP API authorizer with this payload format. Default:
    /// unset, a REST API authorizer.
    pub fn payload_format_version(mut self, version: PayloadFormatVersion) -> Self {
        self.payload_format = Some(version);
        self
    }

    /// `enableSimpleResponses` (payload 2.0 only): the authorizer answers
    /// `{"isAuthorized": …}` instead of an IAM policy. Default: `false`.
    pub fn simple_responses(mut self, enabled: bool) -> Self {
        self.simple_responses = enabled;
        self
    }

    /// `authorizerResultTtlInSeconds`: how long a result is cached; zero
    /// disables caching; at most 3600 s. Default: 300 s.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long to wait for the authorizer before answering 500. Default:
    /// 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// At most this many identities are cached (least useful evicted
    /// first). Default: 10,000.
    pub fn max_entries(mut self, max_entries: u64) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// The region in method ARNs. Default: `us-east-1`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// The account id in method ARNs and events. Default: `000000000000`.
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = account_id.into();
        self
    }

    /// The API id in method ARNs and events. Default: `local`.
    pub fn api_id(mut self, api_id: impl Into<String>) -> Self {
        self.api_id = api_id.into();
        self
    }

    /// The stage in method ARNs and events. Default: the matched route's
    /// stage ([`RouteMatch`](crate::route::RouteMatch)), else `$default`.
    pub fn stage(mut self, stage: impl Into<String>) -> Self {
        self.stage = Some(stage.into());
        self
    }

    /// A stage variable, for `$stageVariables.X` identity sources and the
    /// event's `stageVariables`. Default: none.
    pub fn stage_variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.stage_variables.insert(name.into(), value.into());
        self
    }

    /// The gateway responses rejections are rendered with. Default:
    /// `GatewayResponses::default()` (RFC 9457 problems).
    pub fn gateway_responses(mut self, responses: GatewayResponses) -> Self {
        self.responses = responses;
        self
    }

    /// The `WWW-Authenticate` challenge sent with 401s. Default: `Bearer`.
    pub fn www_authenticate(mut self, challenge: HeaderValue) -> Self {
        self.www_authenticate = challenge;
        self
    }

    /// The clock cache entries expire by. Default: tokio's clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Applies a configuration over the current settings.
    pub fn config(mut self, config: LambdaAuthorizerConfig) -> Self {
        self.authorizer_type = config.authorizer_type;
        self.sources = config.identity_source;
        self.validation = config.identity_validation_expression;
        if let Some(seconds) = config.authorizer_result_ttl_in_seconds {
            self.ttl = Duration::from_secs(seconds);
        }
        self.payload_format = config.authorizer_payload_format_version;
        self.simple_responses = config.enable_simple_responses;
        if let Some(millis) = config.authorizer_timeout_in_millis {
            self.timeout = Duration::from_millis(millis);
        }
        if let Some(max) = config.max_cached_results {
            self.max_entries = max;
        }
        if let Some(region) = config.region {
            self.region = region;
        }
        if let Some(account_id) = config.account_id {
            self.account_id = account_id;
        }
        if let Some(api_id) = config.api_id {
            self.api_id = api_id;
        }
        if config.stage.is_some() {
            self.stage = config.stage;
        }
        self.stage_variables.extend(config.stage_variables);
        self
    }

    /// Checks the settings and builds the layer.
    pub fn build(self) -> Result<LambdaAuthorizerCacheLayer<A>, ConfigError> {
        if let Some(error) = self.source_error {
            return Err(error);
        }
        if self.ttl > MAX_TTL {
            return Err(ConfigError::new(format!(
                "authorizerResultTtlInSeconds must be at most 3600, not {}",
                self.ttl.as_secs()
            )));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new("the authorizer timeout must not be zero"));
        }
        if !self.ttl.is_zero() && self.max_entries == 0 {
            return Err(ConfigError::new(
                "caching needs room for at least one result (max entries is 0)",
            ));
        }
        if !self.ttl.is_zero() && self.sources.is_empty() {
            return Err(ConfigError::new(
                "caching needs at least one identity source (or set the TTL to 0)",
            ));
        }
        let flavor = match (self.authorizer_type, self.payload_format) {
            (AuthorizerType::Token, None) => Flavor::Token,
            (AuthorizerType::Token, Some(_)) => {
                return Err(ConfigError::new(
                    "TOKEN authorizers are REST API authorizers: they take no payload format version",
                ));
            }
            (AuthorizerType::Request, None) => Flavor::RestRequest,
            (AuthorizerType::Request, Some(PayloadFormatVersion::V1)) => Flavor::HttpV1,
            (AuthorizerType::Request, Some(PayloadFormatVersion::V2)) => Flavor::HttpV2 {
                simple: self.simple_responses,
            },
        };
        if self.simple_responses && !matches!(flavor, Flavor::HttpV2 { .. }) {
            return Err(ConfigError::new(
                "enableSimpleResponses needs authorizerPayloadFormatVersion 2.0",
            ));
        }
        if flavor == Flavor::Token
            && !matches!(self.sources.as_slice(), [IdentitySource::Header(_)])
        {
            return Err(ConfigError::new(
                "a TOKEN authorizer needs exactly one header identity source",
            ));
        }
        let validation = match self.validation {
            Some(_) if flavor != Flavor::Token => {
                return Err(ConfigError::new(
                    "identityValidationExpression applies to TOKEN authorizers only",
                ));
            }
            Some(expression) => Some(regex::Regex::new(&format!("^(?:{expression})$")).map_err(
                |error| {
                    ConfigError::new(format!("identityValidationExpression is invalid: {error}"))
                },
            )?),
            None => None,
        };
        for (what, value) in [
            ("region", &self.region),
            ("account id", &self.account_id),
            ("API id", &self.api_id),
        ] {
            if value.is_empty() || value.contains(['/', ':']) {
                return Err(ConfigError::new(format!(
                    "the {what} must be non-empty and hold no `/` or `:`"
                )));
            }
        }
        let arn_prefix = format!(
            "arn:aws:execute-api:{}:{}:{}/",
            self.region, self.account_id, self.api_id
        );
        let settings = Settings {
            flavor,
            sources_need_route: sources_need_route(&self.sources),
            sources: self.sources,
            validation,
            ttl: self.ttl,
            timeout: self.timeout,
            policy_prefix: match &self.stage {
                Some(stage) => format!("{arn_prefix}{stage}/"),
                None => arn_prefix.clone(),
            },
            arn_prefix,
            account_id: self.account_id,
            api_id: self.api_id,
            stage: self.stage,
            stage_variables: self.stage_variables,
            responses: self.responses,
            www_authenticate: self.www_authenticate,
            clock: self.clock,
        };
        Ok(LambdaAuthorizerCacheLayer {
            shared: Arc::new(Shared {
                authorizer: self.authorizer,
                cache: Arc::new(ResultCache::new(self.max_entries.max(1), self.ttl)),
                settings,
            }),
        })
    }
}

/// A custom authorizer as configuration, in API Gateway's vocabulary
/// (`AWS::ApiGateway::Authorizer` / `AWS::ApiGatewayV2::Authorizer`):
///
/// ```
/// use apigw::lambda_authorizer::{LambdaAuthorizerCacheLayer, LambdaAuthorizerConfig};
/// use apigw::events::authorizer::{AuthorizerRequest, SimpleResponse};
///
/// let config: LambdaAuthorizerConfig = serde_json::from_str(r#"{
///     "type": "REQUEST",
///     "identitySource": "$request.header.Authorization, $context.routeKey",
///     "authorizerPayloadFormatVersion": "2.0",
///     "enableSimpleResponses": true,
///     "authorizerResultTtlInSeconds": 60
/// }"#)?;
/// let authorizer = |_: AuthorizerRequest| async { Ok(SimpleResponse::authorized()) };
/// let layer = LambdaAuthorizerCacheLayer::try_from((config, authorizer))?;
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct LambdaAuthorizerConfig {
    /// `TOKEN` or `REQUEST`. Default: `REQUEST`.
    #[serde(rename = "type", default)]
    pub authorizer_type: AuthorizerType,
    /// Identity sources: a comma-separated string, as API Gateway writes it,
    /// or a list. Default: none.
    #[serde(default, deserialize_with = "deserialize_sources")]
    pub identity_source: Vec<IdentitySource>,
    /// `TOKEN` only: the regular expression the whole token must match.
    /// Default: none.
    #[serde(default)]
    pub identity_validation_expression: Option<String>,
    /// Result TTL in seconds, 0..=3600, 0 disables caching. Default: 300.
    #[serde(default)]
    pub authorizer_result_ttl_in_seconds: Option<u64>,
    /// HTTP APIs: `1.0` or `2.0`. Default: unset (a REST API authorizer).
    #[serde(default)]
    pub authorizer_payload_format_version: Option<PayloadFormatVersion>,
    /// HTTP APIs with payload 2.0: simple responses. Default: `false`.
    #[serde(default)]
    pub enable_simple_responses: bool,
    /// The authorizer timeout in milliseconds. Default: 10,000.
    #[serde(default)]
    pub authorizer_timeout_in_millis: Option<u64>,
    /// At most this many cached identities. Default: 10,000.
    #[serde(default)]
    pub max_cached_results: Option<u64>,
    /// The region in method ARNs. Default: `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// The account id in method ARNs. Default: `000000000000`.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The API id in method ARNs. Default: `local`.
    #[serde(default)]
    pub api_id: Option<String>,
    /// The stage in method ARNs. Default: the matched route's, else `$default`.
    #[serde(default)]
    pub stage: Option<String>,
    /// Stage variables. Default: none.
    #[serde(default)]
    pub stage_variables: HashMap<String, String>,
}
