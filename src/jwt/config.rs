//! `JwtAuthorizerConfig`: the layer described in API Gateway's vocabulary.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::keys::Algorithm;
use super::layer::{Issuer, JwtAuthorizerLayer, JwtAuthorizerLayerBuilder};
use super::source::IdentitySource;
use crate::ConfigError;
use crate::route::RouteTable;

/// The JWT authorizer as configuration (JSON, TOML, YAML), in API Gateway's
/// words; converts with `TryFrom` into a [`JwtAuthorizerLayer`] through the
/// builder, so both paths validate alike. Absent fields take the builder's
/// defaults.
///
/// ```
/// use apigw::jwt::{JwtAuthorizerConfig, JwtAuthorizerLayer};
///
/// let config: JwtAuthorizerConfig = serde_json::from_str(r#"{
///     "identitySource": ["$request.header.Authorization"],
///     "jwtConfiguration": {
///         "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
///         "audience": ["my-client-id"]
///     },
///     "awsCompatible": true,
///     "authorizationScopes": { "GET /orders": ["orders/read"] }
/// }"#)?;
/// let layer = JwtAuthorizerLayer::try_from(config)?;
/// # let _ = layer;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtAuthorizerConfig {
    /// Exactly one selection expression, e.g. `$request.header.Authorization`.
    /// Default: `$request.header.Authorization`.
    #[serde(default)]
    pub identity_source: Vec<String>,
    /// API Gateway's `jwtConfiguration`: one issuer, keys by OIDC discovery.
    #[serde(default)]
    pub jwt_configuration: Option<JwtConfiguration>,
    /// More issuers (or issuers with a JWKS URL, static keys, algorithms).
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// API Gateway's behaviour: RSA only, leeway 0, `kid` required.
    /// Default: `false`.
    #[serde(default)]
    pub aws_compatible: bool,
    /// Clock skew on `exp`, `nbf`, `iat`, in seconds.
    /// Default: 60; 0 in AWS-compatible mode.
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
    /// Scopes per route key (`authorizationScopes`).
    #[serde(default)]
    pub authorization_scopes: BTreeMap<String, Vec<String>>,
    /// Require all of a route's scopes instead of one. Default: `false`.
    #[serde(default)]
    pub require_all_scopes: bool,
    /// Largest token in bytes. Default: 8192.
    #[serde(default)]
    pub max_token_bytes: Option<usize>,
    /// JWKS / discovery request timeout in milliseconds. Default: 1500.
    #[serde(default)]
    pub fetch_timeout_millis: Option<u64>,
    /// JWKS / discovery body cap in bytes. Default: 150000.
    #[serde(default)]
    pub max_jwks_bytes: Option<usize>,
    /// Key set lifetime without `Cache-Control: max-age`, in seconds.
    /// Default: 600.
    #[serde(default)]
    pub key_cache_ttl_seconds: Option<u64>,
    /// Least time between two fetches of one key set, in seconds. Default: 30.
    #[serde(default)]
    pub refetch_cooldown_seconds: Option<u64>,
    /// How long cached keys outlive their lifetime while the issuer is
    /// down, in seconds. Default: 3600.
    #[serde(default)]
    pub stale_window_seconds: Option<u64>,
    /// Allow plain-http key URLs. Default: `false`.
    #[serde(default)]
    pub allow_http: bool,
}

/// API Gateway's `jwtConfiguration`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtConfiguration {
    /// The issuer URL (`iss` must equal it).
    pub issuer: String,
    /// The audiences (`aud`, or `client_id` when `aud` is absent).
    pub audience: Vec<String>,
}

/// One issuer, with the options API Gateway does not have.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The issuer URL (`iss` must equal it).
    pub issuer: String,
    /// The audiences.
    pub audience: Vec<String>,
    /// A JWKS URL; without it and without `jwks`, OIDC discovery.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// A static JWKS document.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// Allowed algorithms by JOSE name. Default: all (RSA in AWS mode).
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
}

impl TryFrom<IssuerConfig> for Issuer {
    type Error = ConfigError;

    fn try_from(config: IssuerConfig) -> Result<Self, ConfigError> {
        let mut issuer = Issuer::new(config.issuer).audiences(config.audience);
        if let Some(uri) = config.jwks_uri {
            issuer = issuer.jwks_url(uri);
        }
        if let Some(jwks) = config.jwks {
            issuer = issuer.jwks(jwks.to_string());
        }
        if let Some(names) = config.algorithms {
            let algorithms = names
                .iter()
                .map(|name| {
                    Algorithm::from_name(name).ok_or(ConfigError::new(
                        "algorithms: unknown or unsupported algorithm (none and HMAC are never accepted)",
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?;
            issuer = issuer.algorithms(algorithms);
        }
        Ok(issuer)
    }
}

impl TryFrom<JwtAuthorizerConfig> for JwtAuthorizerLayer {
    type Error = ConfigError;

    fn try_from(config: JwtAuthorizerConfig) -> Result<Self, ConfigError> {
        JwtAuthorizerLayerBuilder::try_from(config)?.build()
    }
}

impl TryFrom<JwtAuthorizerConfig> for JwtAuthorizerLayerBuilder {
    type Error = ConfigError;

    /// The builder for `config`, so what the document cannot say (gateway
    /// responses, a clock, a key fetcher) can still be set before `build`.
    fn try_from(config: JwtAuthorizerConfig) -> Result<Self, ConfigError> {
        let mut builder = JwtAuthorizerLayer::builder()
            .aws_compatible(config.aws_compatible)
            .require_all_scopes(config.require_all_scopes)
            .allow_http(config.allow_http);
        match config.identity_source.as_slice() {
            [] => {}
            [expression] => builder = builder.identity_source(IdentitySource::parse(expression)?),
            _ => {
                return Err(ConfigError::new(
                    "identitySource must hold exactly one selection expression",
                ));
            }
        }
        if let Some(jwt) = config.jwt_configuration {
            builder = builder.issuer(Issuer::new(jwt.issuer).audiences(jwt.audience));
        }
        for issuer in config.issuers {
            builder = builder.issuer(Issuer::try_from(issuer)?);
        }
        if let Some(seconds) = config.leeway_seconds {
            builder = builder.leeway(Duration::from_secs(seconds));
        }
        if let Some(bytes) = config.max_token_bytes {
            builder = builder.max_token_bytes(bytes);
        }
        if let Some(millis) = config.fetch_timeout_millis {
            builder = builder.fetch_timeout(Duration::from_millis(millis));
        }
        if let Some(bytes) = config.max_jwks_bytes {
            builder = builder.max_jwks_bytes(bytes);
        }
        if let Some(seconds) = config.key_cache_ttl_seconds {
            builder = builder.key_cache_ttl(Duration::from_secs(seconds));
        }
        if let Some(seconds) = config.refetch_cooldown_seconds {
            builder = builder.refetch_cooldown(Duration::from_secs(seconds));
        }
        if let Some(seconds) = config.stale_window_seconds {
            builder = builder.stale_window(Duration::from_secs(seconds));
        }
        if !config.authorization_scopes.is_empty() {
            let mut table = RouteTable::builder();
            for (route, scopes) in config.authorization_scopes {
                table = table.route(&route, scopes)?;
            }
            builder = builder.route_scopes(table.build()?);
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        let result = serde_json::from_str::<JwtAuthorizerConfig>(r#"{"issuerr": "x"}"#);
        assert!(result.is_err());
    }

    #[test]
    fn several_identity_sources_are_refused() {
        let config: JwtAuthorizerConfig = serde_json::from_str(
            r#"{"identitySource": ["$request.header.A", "$request.header.B"],
                "jwtConfiguration": {"issuer": "https://i.example", "audience": ["a"]}}"#,
        )
        .unwrap();
        assert!(JwtAuthorizerLayer::try_from(config).is_err());
    }

    #[test]
    fn aws_mode_refuses_non_rsa_algorithms_and_hmac_is_unknown() {
        let config: JwtAuthorizerConfig = serde_json::from_str(
            r#"{"awsCompatible": true,
                "issuers": [{"issuer": "https://i.example", "audience": ["a"], "algorithms": ["ES256"]}]}"#,
        )
        .unwrap();
        assert!(JwtAuthorizerLayer::try_from(config).is_err());
        let config: JwtAuthorizerConfig = serde_json::from_str(
            r#"{"issuers": [{"issuer": "https://i.example", "audience": ["a"], "algorithms": ["HS256"]}]}"#,
        )
        .unwrap();
        assert!(JwtAuthorizerLayer::try_from(config).is_err());
    }

    #[test]
    fn issuers_need_audiences_and_https() {
        let build = |json: &str| {
            JwtAuthorizerLayer::try_from(serde_json::from_str::<JwtAuthorizerConfig>(json).unwrap())
        };
        assert!(
            build(r#"{"jwtConfiguration": {"issuer": "https://i.example", "audience": []}}"#)
                .is_err()
        );
        assert!(
            build(r#"{"jwtConfiguration": {"issuer": "http://i.example", "audience": ["a"]}}"#)
                .is_err()
        );
        assert!(build(r#"{"jwtConfiguration": {"issuer": "http://i.example", "audience": ["a"]}, "allowHttp": true}"#).is_ok());
        assert!(build(r#"{}"#).is_err());
    }
}
