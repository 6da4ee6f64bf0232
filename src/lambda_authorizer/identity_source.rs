//! Identity sources: where an authorizer's identity comes from, in API
//! Gateway's selector syntax, and how a request's values are read.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use http::HeaderName;
use http::request::Parts;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::convert;
use crate::error::ConfigError;
use crate::route::RouteMatch;

/// One identity source, written as API Gateway writes it.
///
/// | selector | reads | |
/// |---|---|---|
/// | `$request.header.Authorization`, `method.request.header.Authorization` | a header | case-insensitive name; repeated values comma-joined |
/// | `$request.querystring.user`, `method.request.querystring.user` | a query parameter | case-sensitive name, decoded; repeated values comma-joined |
/// | `$stageVariables.tenant`, `stageVariables.tenant` | a configured stage variable | |
/// | `$context.routeKey`, `context.routeKey` | a [`ContextVariable`] | |
///
/// Path parameters cannot be identity sources, as in API Gateway.
///
/// ```
/// use apigw::lambda_authorizer::{ContextVariable, IdentitySource};
///
/// let source: IdentitySource = "method.request.header.Authorization".parse()?;
/// assert_eq!(source, IdentitySource::Header(http::header::AUTHORIZATION));
/// assert_eq!(source.to_string(), "$request.header.authorization");
/// let route: IdentitySource = "$context.routeKey".parse()?;
/// assert_eq!(route, IdentitySource::Context(ContextVariable::RouteKey));
/// # Ok::<(), apigw::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdentitySource {
    /// A request header.
    Header(HeaderName),
    /// A query-string parameter (case-sensitive).
    QueryString(String),
    /// A stage variable.
    StageVariable(String),
    /// A context variable.
    Context(ContextVariable),
}

/// The `$context` variables an identity source can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContextVariable {
    /// `routeKey`: the matched route key, e.g. `GET /pets/{id}` (add it to
    /// cache per route).
    RouteKey,
    /// `stage`.
    Stage,
    /// `httpMethod`.
    HttpMethod,
    /// `path`: the request path.
    Path,
    /// `resourcePath`: the matched route's path template.
    ResourcePath,
    /// `apiId`.
    ApiId,
    /// `accountId`.
    AccountId,
    /// `domainName`: the `Host` the API was called on.
    DomainName,
    /// `protocol`, e.g. `HTTP/1.1`.
    Protocol,
    /// `identity.sourceIp`: the peer address, from a `SocketAddr` request
    /// extension.
    SourceIp,
}

impl ContextVariable {
    const ALL: [(&'static str, ContextVariable); 10] = [
        ("routeKey", Self::RouteKey),
        ("stage", Self::Stage),
        ("httpMethod", Self::HttpMethod),
        ("path", Self::Path),
        ("resourcePath", Self::ResourcePath),
        ("apiId", Self::ApiId),
        ("accountId", Self::AccountId),
        ("domainName", Self::DomainName),
        ("protocol", Self::Protocol),
        ("identity.sourceIp", Self::SourceIp),
    ];

    /// API Gateway's name, e.g. `routeKey`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, variable)| *variable == self)
            .map_or("", |(name, _)| name)
    }
}

impl FromStr for IdentitySource {
    type Err = ConfigError;

    fn from_str(selector: &str) -> Result<Self, ConfigError> {
        let selector = selector.trim();
        let invalid = || {
            ConfigError::new(format!(
                "identity source `{selector}` is not `$request.header.X`, `$request.querystring.X`, `$stageVariables.X` or `$context.X`"
            ))
        };
        let name_of = |prefixes: [&str; 2]| {
            prefixes
                .iter()
                .find_map(|prefix| selector.strip_prefix(prefix))
                .filter(|name| !name.is_empty())
        };
        if let Some(name) = name_of(["$request.header.", "method.request.header."]) {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            return Ok(Self::Header(name));
        }
        if let Some(name) = name_of(["$request.querystring.", "method.request.querystring."]) {
            return Ok(Self::QueryString(name.to_owned()));
        }
        if let Some(name) = name_of(["$stageVariables.", "stageVariables."]) {
            return Ok(Self::StageVariable(name.to_owned()));
        }
        if let Some(name) = name_of(["$context.", "context."]) {
            return ContextVariable::ALL
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, variable)| Self::Context(*variable))
                .ok_or_else(|| {
                    ConfigError::new(format!(
                        "identity source `{selector}` names an unsupported context variable"
                    ))
                });
        }
        Err(invalid())
    }
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(name) => write!(f, "$request.header.{name}"),
            Self::QueryString(name) => write!(f, "$request.querystring.{name}"),
            Self::StageVariable(name) => write!(f, "$stageVariables.{name}"),
            Self::Context(variable) => write!(f, "$context.{}", variable.as_str()),
        }
    }
}

impl Serialize for IdentitySource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IdentitySource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let selector = String::deserialize(deserializer)?;
        selector.parse().map_err(serde::de::Error::custom)
    }
}

/// What identity sources read besides the request: the deployment's
/// settings.
pub(crate) struct Environment<'a> {
    pub(crate) stage: &'a str,
    pub(crate) api_id: &'a str,
    pub(crate) account_id: &'a str,
    pub(crate) stage_variables: &'a std::collections::HashMap<String, String>,
}

impl IdentitySource {
    /// This source's value in `parts`; `None` when absent.
    pub(crate) fn resolve<'a>(
        &self,
        parts: &'a Parts,
        route: Option<&'a RouteMatch>,
        env: &Environment<'a>,
    ) -> Option<Cow<'a, str>> {
        match self {
            Self::Header(name) => convert::joined_header(&parts.headers, name),
            Self::QueryString(name) => {
                let values: Vec<String> =
                    crate::events::query_pairs(parts.uri.query().unwrap_or(""))
                        .filter(|(key, _)| key == name)
                        .map(|(_, value)| value.into_owned())
                        .collect();
                (!values.is_empty()).then(|| Cow::Owned(values.join(",")))
            }
            Self::StageVariable(name) => env
                .stage_variables
                .get(name)
                .map(|value| Cow::Borrowed(value.as_str())),
            Self::Context(variable) => match variable {
                ContextVariable::RouteKey => route.map(|r| Cow::Owned(r.route_key().to_string())),
                ContextVariable::Stage => Some(Cow::Borrowed(env.stage)),
                ContextVariable::HttpMethod => Some(Cow::Borrowed(parts.method.as_str())),
                ContextVariable::Path => Some(Cow::Borrowed(parts.uri.path())),
                ContextVariable::ResourcePath => route
                    .and_then(RouteMatch::resource)
                    .map(Cow::Borrowed)
                    .or(Some(Cow::Borrowed(parts.uri.path()))),
                ContextVariable::ApiId => Some(Cow::Borrowed(env.api_id)),
                ContextVariable::AccountId => Some(Cow::Borrowed(env.account_id)),
                ContextVariable::DomainName => convert::domain_name(parts).map(Cow::Borrowed),
                ContextVariable::Protocol => {
                    Some(Cow::Borrowed(crate::identity::protocol(parts.version)))
                }
                ContextVariable::SourceIp => convert::source_ip(parts).map(Cow::Owned),
            },
        }
    }
}

/// Identity sources as configuration: API Gateway's comma-separated string
/// (`"$request.header.Authorization, $request.querystring.user"`) or a list.
pub(crate) fn deserialize_sources<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<IdentitySource>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrList {
        One(String),
        Many(Vec<String>),
    }
    let selectors: Vec<String> = match StringOrList::deserialize(deserializer)? {
        StringOrList::One(joined) => joined
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        StringOrList::Many(list) => list,
    };
    selectors
        .iter()
        .map(|selector| selector.parse().map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_selector_syntaxes_parse() {
        for (selector, expected) in [
            (
                "$request.header.X-Token",
                IdentitySource::Header(HeaderName::from_static("x-token")),
            ),
            (
                "method.request.querystring.User",
                IdentitySource::QueryString("User".into()),
            ),
            (
                "stageVariables.tenant",
                IdentitySource::StageVariable("tenant".into()),
            ),
            (
                "$context.identity.sourceIp",
                IdentitySource::Context(ContextVariable::SourceIp),
            ),
        ] {
            assert_eq!(selector.parse::<IdentitySource>().unwrap(), expected);
        }
    }

    #[test]
    fn unknown_selectors_are_configuration_errors() {
        for selector in [
            "$request.path.id",
            "$request.header.",
            "$context.nope",
            "header.x",
        ] {
            assert!(selector.parse::<IdentitySource>().is_err(), "{selector}");
        }
    }
}
