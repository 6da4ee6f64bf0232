//! `http::Request` → event, for payload formats 1.0 and 2.0.

// Events are filled member by member, in the order of their JSON, which reads
// closer to API Gateway's documentation than one large struct literal.
#![allow(clippy::field_reassign_with_default)]

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::HeaderMap;
use http::header::{CONTENT_TYPE, COOKIE, HOST, USER_AGENT};
use http::request::Parts;
use percent_encoding::percent_decode;
use serde_json::{Map, Value};

use super::common::{MultiValueMap, StringMap, stringify_value};
use super::{v1, v2};
use crate::ConfigError;
use crate::calendar::{common_log_format, epoch_millis};
use crate::identity::{ApiKeyIdentity, AuthorizerContext, Ipv4Text, JwtClaims, RequestId};
use crate::route::{DEFAULT_STAGE, RouteMatch};

/// What an event says about the API itself, beyond the request: account,
/// API id, stage variables, the stage when no route match names one, and
/// (format 1.0) the binary media types.
///
/// ```
/// use apigw::events::EventOptions;
///
/// let options = EventOptions::new()
///     .api_id("orders-api")
///     .stage_variable("backend", "blue")
///     .binary_media_type("image/*")?;
/// assert_eq!(options.stage_variables().unwrap()["backend"], "blue");
/// # Ok::<(), apigw::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventOptions {
    account_id: String,
    api_id: String,
    stage: String,
    stage_variables: Option<StringMap>,
    binary_media_types: Vec<MediaRange>,
}

impl Default for EventOptions {
    fn default() -> Self {
        Self {
            account_id: "000000000000".to_owned(),
            api_id: "apigw".to_owned(),
            stage: DEFAULT_STAGE.to_owned(),
            stage_variables: None,
            binary_media_types: Vec::new(),
        }
    }
}

impl EventOptions {
    /// Defaults: account `000000000000`, API id `apigw`, stage `$default`, no
    /// stage variables, no binary media types.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `requestContext.accountId`. Default: `000000000000`.
    #[must_use]
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = account_id.into();
        self
    }

    /// `requestContext.apiId`. Default: `apigw`.
    #[must_use]
    pub fn api_id(mut self, api_id: impl Into<String>) -> Self {
        self.api_id = api_id.into();
        self
    }

    /// The stage, used when the request's [`RouteMatch`] has none (or has
    /// `$default`). Default: `$default`.
    #[must_use]
    pub fn stage(mut self, stage: impl Into<String>) -> Self {
        self.stage = stage.into();
        self
    }

    /// Adds a stage variable (`stageVariables`). Default: none (`null`).
    #[must_use]
    pub fn stage_variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.stage_variables
            .get_or_insert_with(StringMap::new)
            .insert(name.into(), value.into());
        self
    }

    /// Adds a binary media type (`image/png`, `image/*`, `*/*`) for format
    /// 1.0: request bodies of these types are base64-encoded, and base64
    /// answers are decoded when the client's first `Accept` type or the
    /// answer's `Content-Type` matches. Default: none.
    pub fn binary_media_type(mut self, media_type: &str) -> Result<Self, ConfigError> {
        self.binary_media_types.push(MediaRange::parse(media_type)?);
        Ok(self)
    }

    /// The stage variables.
    #[must_use]
    pub fn stage_variables(&self) -> Option<&StringMap> {
        self.stage_variables.as_ref()
    }

    /// Whether `content_type` is a configured binary media type.
    #[must_use]
    pub fn is_binary(&self, content_type: &str) -> bool {
        let essence = essence(content_type);
        self.binary_media_types.iter().any(|r| r.matches(&essence))
    }

    pub(crate) fn has_binary_media_types(&self) -> bool {
        !self.binary_media_types.is_empty()
    }
}

/// `type/subtype`, `type/*` or `*/*`, lowercased.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MediaRange(String);

impl MediaRange {
    fn parse(media_type: &str) -> Result<Self, ConfigError> {
        let essence = essence(media_type);
        match essence.split_once('/') {
            Some((ty, sub))
                if !ty.is_empty()
                    && !sub.is_empty()
                    && (ty != "*" || sub == "*")
                    && !essence.contains(char::is_whitespace) =>
            {
                Ok(Self(essence))
            }
            _ => Err(ConfigError::new(format!(
                "binary media type `{media_type}` is not `type/subtype`, `type/*` or `*/*`"
            ))),
        }
    }

    fn matches(&self, essence: &str) -> bool {
        match self.0.strip_suffix("/*") {
            Some("*") => true,
            Some(ty) => essence
                .split_once('/')
                .is_some_and(|(t, _)| t.eq_ignore_ascii_case(ty)),
            None => self.0 == essence,
        }
    }
}

/// A media type without parameters, lowercased.
fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// What both formats read from the request besides headers and query.
struct Common {
    route: Option<RouteMatch>,
    stage: String,
    request_id: String,
    source_ip: Option<String>,
    domain_name: String,
    domain_prefix: String,
    user_agent: Option<String>,
    protocol: &'static str,
    time: String,
    time_epoch: i64,
}

impl Common {
    fn read(parts: &Parts, options: &EventOptions, now: Duration) -> Self {
        let route = RouteMatch::from_request_parts(parts);
        let stage = route
            .as_ref()
            .map(RouteMatch::stage)
            .filter(|s| *s != DEFAULT_STAGE)
            .unwrap_or(&options.stage)
            .to_owned();
        let request_id = RequestId::find(&parts.extensions, &parts.headers)
            .unwrap_or_default()
            .as_str()
            .to_owned();
        let domain_name = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))
            .map_or_else(|| "localhost".to_owned(), |h| strip_port(h).to_owned());
        let domain_prefix = domain_name.split('.').next().unwrap_or_default().to_owned();
        Self {
            route,
            stage,
            request_id,
            source_ip: source_ip(parts).map(ip_text),
            domain_name,
            domain_prefix,
            user_agent: header_str(&parts.headers, &USER_AGENT).map(str::to_owned),
            protocol: crate::identity::protocol(parts.version),
            time: common_log_format(now),
            time_epoch: epoch_millis(now),
        }
    }

    fn named_stage(&self) -> Option<&str> {
        (self.stage != DEFAULT_STAGE).then_some(self.stage.as_str())
    }

    fn path_parameters(&self) -> Option<StringMap> {
        let params = self.route.as_ref()?.path_parameters();
        (!params.is_empty()).then(|| params.iter().cloned().collect())
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

fn source_ip(parts: &Parts) -> Option<IpAddr> {
    crate::identity::peer_ip(&parts.extensions)
}

/// An IP address as text: IPv4 without `Display` (it costs more than the
/// rest of `Common::read`), IPv6 through `Display`.
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => Ipv4Text::new(v4).as_str().to_owned(),
        IpAddr::V6(_) => ip.to_string(),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &http::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A header value as text: visible ASCII as it is; any other byte (the
/// `obs-text` of RFC 9110, or UTF-8 a client sent anyway) as the Latin-1
/// character of the same code point.
///
/// The one way this crate turns header bytes into text (events, authorizer
/// identity sources and cache keys). It is lossless, so two different
/// values never become the same text (a lossy UTF-8 decoding would map
/// every invalid sequence to U+FFFD and let distinct tokens share an
/// authorizer cache entry), and the bytes can be recovered.
pub(crate) fn value_text(value: &http::HeaderValue) -> Cow<'_, str> {
    match value.to_str() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(value.as_bytes().iter().map(|&b| char::from(b)).collect()),
    }
}

/// Decoded `key=value` pairs of a raw query string: `+` is a space, then
/// percent-decoding (invalid UTF-8 replaced). Empty pieces are skipped.
pub(crate) fn query_pairs(raw: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_ {
    raw.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_component(key), decode_component(value))
    })
}

fn decode_component(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'+' || b == b'%') {
        return Cow::Borrowed(s);
    }
    let spaced: Vec<u8> = s
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    Cow::Owned(String::from_utf8_lossy(&percent_decode(&spaced).collect::<Vec<u8>>()).into_owned())
}

/// The body as an event carries it: `None` when empty, else text, or base64
/// when `binary` says so or the bytes are not UTF-8.
fn encode_body(body: &[u8], binary: bool) -> (Option<Cow<'_, str>>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    if !binary && let Ok(text) = std::str::from_utf8(body) {
        return (Some(Cow::Borrowed(text)), false);
    }
    (Some(Cow::Owned(BASE64.encode(body))), true)
}

/// Whether a 2.0 body of this content type is sent as text: only `text/*`,
/// `application/json`, `application/xml` and `application/javascript`.
fn is_v2_text(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let essence = essence(ct);
        essence.starts_with("text/")
            || matches!(
                essence.as_str(),
                "application/json" | "application/xml" | "application/javascript"
            )
    })
}

fn v1_authorizer(parts: &Parts) -> Option<Map<String, Value>> {
    let claims = parts.extensions.get::<JwtClaims>();
    let context = parts.extensions.get::<AuthorizerContext>();
    if claims.is_none() && context.is_none() {
        return None;
    }
    let mut authorizer = Map::new();
    if let Some(context) = context {
        if let Some(principal) = context.principal_id() {
            authorizer.insert("principalId".into(), Value::String(principal.to_owned()));
        }
        for (key, value) in context.context() {
            authorizer.insert(key.clone(), Value::String(stringify_value(value)));
        }
    }
    if let Some(claims) = claims {
        authorizer.insert("claims".into(), Value::Object(stringified(claims.claims())));
    }
    Some(authorizer)
}

fn stringified(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(stringify_value(v))))
        .collect()
}

fn v2_authorizer(parts: &Parts) -> Option<v2::Authorizer> {
    let claims = parts.extensions.get::<JwtClaims>();
    let context = parts.extensions.get::<AuthorizerContext>();
    if claims.is_none() && context.is_none() {
        return None;
    }
    let mut authorizer = v2::Authorizer::default();
    if let Some(claims) = claims {
        let mut jwt = v2::Jwt::default();
        jwt.claims = stringified(claims.claims());
        jwt.scopes = (!claims.scopes().is_empty()).then(|| claims.scopes().to_vec());
        authorizer.jwt = Some(jwt);
    }
    if let Some(context) = context {
        authorizer.lambda = Some(context.context().clone());
    }
    Some(authorizer)
}

/// A query string's decoded parameters grouped by key, keys in order (as
/// the owned events' maps), each key's values in the order sent.
type GroupedQuery<'a> = Vec<(Cow<'a, str>, Vec<Cow<'a, str>>)>;

/// Sorts then groups, so that a query of many distinct keys costs
/// `n log n`, not `n²`.
fn grouped_query(raw: &str) -> GroupedQuery<'_> {
    let mut pairs: Vec<_> = query_pairs(raw).collect();
    // Stable: a repeated key keeps its values in order.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut groups: GroupedQuery<'_> = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        match groups.last_mut() {
            Some((last, values)) if *last == key => values.push(value),
            _ => groups.push((key, vec![value])),
        }
    }
    groups
}

/// The route template, or `$default`.
fn resource_of(common: &Common) -> String {
    common
        .route
        .as_ref()
        .and_then(RouteMatch::resource)
        .unwrap_or(DEFAULT_STAGE)
        .to_owned()
}

fn v1_context(
    parts: &Parts,
    common: Common,
    options: &EventOptions,
    resource: &str,
) -> v1::RequestContext {
    let api_key = parts.extensions.get::<ApiKeyIdentity>();
    let mut identity = v1::Identity::default();
    identity.api_key = api_key.map(|k| k.api_key().to_owned());
    identity.api_key_id = api_key.map(|k| k.key_id().to_owned());
    identity.source_ip = common.source_ip.clone();
    identity.user_agent = common.user_agent.clone();

    let mut context = v1::RequestContext::default();
    context.account_id = Some(options.account_id.clone());
    context.api_id = Some(options.api_id.clone());
    context.authorizer = v1_authorizer(parts);
    context.extended_request_id = Some(common.request_id.clone());
    context.http_method = parts.method.as_str().to_owned();
    context.identity = identity;
    context.path = Some(match common.named_stage() {
        Some(stage) => format!("/{stage}{}", parts.uri.path()),
        None => parts.uri.path().to_owned(),
    });
    context.protocol = Some(common.protocol.to_owned());
    context.request_time_epoch = common.time_epoch;
    context.resource_path = Some(resource.to_owned());
    context.domain_name = Some(common.domain_name);
    context.domain_prefix = Some(common.domain_prefix);
    context.request_id = Some(common.request_id);
    context.request_time = Some(common.time);
    context.stage = Some(common.stage);
    context
}

fn v1_body<'a>(
    parts: &Parts,
    body: &'a [u8],
    options: &EventOptions,
) -> (Option<Cow<'a, str>>, bool) {
    let binary = header_str(&parts.headers, &CONTENT_TYPE).is_some_and(|ct| options.is_binary(ct));
    encode_body(body, binary)
}

impl v1::Request {
    /// The format 1.0 event API Gateway would send for this request.
    ///
    /// Reads the request's [`RouteMatch`] (or axum's `MatchedPath`),
    /// [`RequestId`], [`JwtClaims`], [`AuthorizerContext`] and
    /// [`ApiKeyIdentity`] extensions, and the client address from a
    /// `SocketAddr` or `IpAddr` extension (insert the peer address when
    /// accepting the connection; never trust `X-Forwarded-For` for it).
    /// `now` is the wall-clock time ([`Clock::unix_time`]).
    ///
    /// Header names arrive lowercased from `http` (REST APIs keep the
    /// client's casing; HTTP APIs with format 1.0 lowercase too).
    ///
    /// [`Clock::unix_time`]: crate::clock::Clock::unix_time
    #[must_use]
    pub fn from_http(parts: &Parts, body: &[u8], options: &EventOptions, now: Duration) -> Self {
        let common = Common::read(parts, options, now);
        let path_parameters = common.path_parameters();
        let resource = resource_of(&common);

        let mut headers = StringMap::new();
        let mut multi_value_headers = MultiValueMap::new();
        for name in parts.headers.keys() {
            let values: Vec<String> = parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| value_text(v).into_owned())
                .collect();
            if let Some(last) = values.last() {
                headers.insert(name.as_str().to_owned(), last.clone());
            }
            multi_value_headers.insert(name.as_str().to_owned(), values);
        }

        let mut query = StringMap::new();
        let mut multi_query = MultiValueMap::new();
        for (key, values) in grouped_query(parts.uri.query().unwrap_or_default()) {
            let values: Vec<String> = values.into_iter().map(Cow::into_owned).collect();
            if let Some(last) = values.last() {
                query.insert(key.clone().into_owned(), last.clone());
            }
            multi_query.insert(key.into_owned(), values);
        }
        let (body, is_base64_encoded) = v1_body(parts, body, options);

        let mut event = Self::default();
        event.path = parts.uri.path().to_owned();
        event.http_method = parts.method.as_str().to_owned();
        event.headers = (!headers.is_empty()).then_some(headers);
        event.multi_value_headers =
            (!multi_value_headers.is_empty()).then_some(multi_value_headers);
        event.query_string_parameters = (!query.is_empty()).then_some(query);
        event.multi_value_query_string_parameters =
            (!multi_query.is_empty()).then_some(multi_query);
        event.path_parameters = path_parameters;
        event.stage_variables.clone_from(&options.stage_variables);
        event.request_context = v1_context(parts, common, options, &resource);
        event.resource = resource;
        event.body = body.map(Cow::into_owned);
        event.is_base64_encoded = is_base64_encoded;
        event
    }

    /// The JSON of [`from_http`](Self::from_http)'s event (the same
    /// members and values), written straight from the request without
    /// building the owned event: what [`LambdaIntegration`] sends.
    ///
    /// [`LambdaIntegration`]: crate::integration::LambdaIntegration
    pub fn json_from_http(
        parts: &Parts,
        body: &[u8],
        options: &EventOptions,
        now: Duration,
    ) -> Result<Vec<u8>, serde_json::Error> {
        let common = Common::read(parts, options, now);
        let route = common.route.clone();
        let resource = resource_of(&common);
        let query = grouped_query(parts.uri.query().unwrap_or_default());
        let (body, is_base64_encoded) = v1_body(parts, body, options);
        let entries = borrowed::entries(&parts.headers);
        let event = borrowed::V1 {
            resource: &resource,
            path: parts.uri.path(),
            http_method: parts.method.as_str(),
            headers: &entries,
            query: &query,
            route: route.as_ref(),
            stage_variables: options.stage_variables.as_ref(),
            request_context: borrowed::V1Context::new(parts, &common, options, &resource),
            body,
            is_base64_encoded,
        };
        let mut out = Vec::with_capacity(estimate(parts, event.body.as_deref(), 2));
        event.write(&mut out)?;
        Ok(out)
    }
}

fn v2_parts(parts: &Parts, common: &Common) -> (String, String) {
    let raw_path = match common.named_stage() {
        Some(stage) => format!("/{stage}{}", parts.uri.path()),
        None => parts.uri.path().to_owned(),
    };
    let route_key = common
        .route
        .as_ref()
        .map_or_else(|| DEFAULT_STAGE.to_owned(), |r| r.route_key().to_string());
    (raw_path, route_key)
}

fn v2_context(
    parts: &Parts,
    common: Common,
    options: &EventOptions,
    raw_path: &str,
    route_key: &str,
) -> v2::RequestContext {
    let mut http = v2::Http::default();
    http.method = parts.method.as_str().to_owned();
    http.path = raw_path.to_owned();
    http.protocol = common.protocol.to_owned();
    http.source_ip = common.source_ip.unwrap_or_default();
    http.user_agent = common.user_agent.unwrap_or_default();

    let mut context = v2::RequestContext::default();
    context.account_id.clone_from(&options.account_id);
    context.api_id.clone_from(&options.api_id);
    context.authorizer = v2_authorizer(parts);
    context.domain_name = common.domain_name;
    context.domain_prefix = common.domain_prefix;
    context.http = http;
    context.request_id = common.request_id;
    context.route_key = route_key.to_owned();
    context.stage = common.stage;
    context.time = common.time;
    context.time_epoch = common.time_epoch;
    context
}

fn v2_body<'a>(parts: &Parts, body: &'a [u8]) -> (Option<Cow<'a, str>>, bool) {
    let text = is_v2_text(header_str(&parts.headers, &CONTENT_TYPE));
    encode_body(body, !text)
}

/// Every cookie of every `Cookie` header.
fn cookies_of(headers: &HeaderMap) -> Option<Vec<Cow<'_, str>>> {
    let mut values = headers.get_all(COOKIE).iter().peekable();
    values.peek()?;
    let mut cookies = Vec::new();
    for value in values {
        match value_text(value) {
            Cow::Borrowed(text) => cookies.extend(
                text.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(Cow::Borrowed),
            ),
            Cow::Owned(text) => cookies.extend(
                text.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Cow::Owned(c.to_owned())),
            ),
        }
    }
    Some(cookies)
}

/// A header's values as one text, comma-joined without spaces (`a,b`), as
/// 2.0 events and identity sources carry them, each value read with
/// [`value_text`]; `None` when the header is absent.
pub(crate) fn joined_header<'a>(
    headers: &'a HeaderMap,
    name: &http::HeaderName,
) -> Option<Cow<'a, str>> {
    join_values(headers.get_all(name))
}

fn join_values<'a>(
    values: impl IntoIterator<Item = &'a http::HeaderValue>,
) -> Option<Cow<'a, str>> {
    let mut values = values.into_iter();
    let mut joined = value_text(values.next()?);
    for value in values {
        let joined = joined.to_mut();
        joined.push(',');
        joined.push_str(&value_text(value));
    }
    Some(joined)
}

impl v2::Request {
    /// The format 2.0 event API Gateway would send for this request.
    ///
    /// Reads the same extensions as [`v1::Request::from_http`]. `now` is the
    /// wall-clock time.
    #[must_use]
    pub fn from_http(parts: &Parts, body: &[u8], options: &EventOptions, now: Duration) -> Self {
        let common = Common::read(parts, options, now);
        let path_parameters = common.path_parameters();
        let (raw_path, route_key) = v2_parts(parts, &common);

        let headers: StringMap = parts
            .headers
            .keys()
            .filter(|name| *name != COOKIE)
            .map(|name| {
                (
                    name.as_str().to_owned(),
                    joined_header(&parts.headers, name)
                        .unwrap_or_default()
                        .into_owned(),
                )
            })
            .collect();
        let raw_query = parts.uri.query().unwrap_or_default();
        let query: StringMap = grouped_query(raw_query)
            .into_iter()
            .map(|(key, values)| (key.into_owned(), values.join(",")))
            .collect();
        let (body, is_base64_encoded) = v2_body(parts, body);

        let mut event = Self::default();
        event.version = "2.0".to_owned();
        event.raw_query_string = raw_query.to_owned();
        event.cookies =
            cookies_of(&parts.headers).map(|c| c.into_iter().map(Cow::into_owned).collect());
        event.headers = headers;
        event.query_string_parameters = (!query.is_empty()).then_some(query);
        event.path_parameters = path_parameters;
        event.stage_variables.clone_from(&options.stage_variables);
        event.request_context = v2_context(parts, common, options, &raw_path, &route_key);
        event.raw_path = raw_path;
        event.route_key = route_key;
        event.body = body.map(Cow::into_owned);
        event.is_base64_encoded = is_base64_encoded;
        event
    }

    /// The JSON of [`from_http`](Self::from_http)'s event, written straight
    /// from the request without building the owned event: what
    /// [`LambdaIntegration`] sends.
    ///
    /// [`LambdaIntegration`]: crate::integration::LambdaIntegration
    pub fn json_from_http(
        parts: &Parts,
        body: &[u8],
        options: &EventOptions,
        now: Duration,
    ) -> Result<Vec<u8>, serde_json::Error> {
        let common = Common::read(parts, options, now);
        let route = common.route.clone();
        let (raw_path, route_key) = v2_parts(parts, &common);
        let query = grouped_query(parts.uri.query().unwrap_or_default());
        let (body, is_base64_encoded) = v2_body(parts, body);
        let event = borrowed::V2 {
            route_key: &route_key,
            raw_path: &raw_path,
            raw_query_string: parts.uri.query().unwrap_or_default(),
            cookies: cookies_of(&parts.headers),
            headers: &borrowed::entries(&parts.headers),
            query: &query,
            route: route.as_ref(),
            stage_variables: options.stage_variables.as_ref(),
            request_context: v2_context(parts, common, options, &raw_path, &route_key),
            body,
            is_base64_encoded,
        };
        let mut out = Vec::with_capacity(estimate(parts, event.body.as_deref(), 1));
        event.write(&mut out)?;
        Ok(out)
    }
}

/// A guess at an event's JSON size, so it is written without regrowing:
/// the headers `copies` times, the query twice, the body, and the context.
fn estimate(parts: &Parts, body: Option<&str>, copies: usize) -> usize {
    let headers: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 8)
        .sum();
    let query = parts.uri.query().map_or(0, str::len);
    1024 + headers * copies + query * 3 + body.map_or(0, str::len) + 16
}

/// Borrowed views of an event, written as JSON exactly as the owned events
/// serialize (same members, same values; member order aside).
///
/// Written by hand rather than through `serde`: header and query text is
/// most of an event, and [`string`] copies it in one pass when nothing
/// needs escaping, where `serde_json` escapes byte by byte.
mod borrowed {
    use std::borrow::Cow;

    use http::header::COOKIE;
    use http::{HeaderMap, HeaderName, HeaderValue};

    use http::request::Parts;
    use serde_json::{Map, Value};

    use super::{Common, EventOptions, GroupedQuery, join_values, v1_authorizer, value_text};
    use crate::events::{StringMap, v2};
    use crate::identity::ApiKeyIdentity;
    use crate::route::RouteMatch;
    use crate::swar::{any_flagged, json_escape_bits, splat};

    pub(super) struct V1<'a> {
        pub(super) resource: &'a str,
        pub(super) path: &'a str,
        pub(super) http_method: &'a str,
        pub(super) headers: &'a [(&'a HeaderName, &'a HeaderValue)],
        pub(super) query: &'a GroupedQuery<'a>,
        pub(super) route: Option<&'a RouteMatch>,
        pub(super) stage_variables: Option<&'a StringMap>,
        pub(super) request_context: V1Context<'a>,
        pub(super) body: Option<Cow<'a, str>>,
        pub(super) is_base64_encoded: bool,
    }

    pub(super) struct V2<'a> {
        pub(super) route_key: &'a str,
        pub(super) raw_path: &'a str,
        pub(super) raw_query_string: &'a str,
        pub(super) cookies: Option<Vec<Cow<'a, str>>>,
        pub(super) headers: &'a [(&'a HeaderName, &'a HeaderValue)],
        pub(super) query: &'a GroupedQuery<'a>,
        pub(super) route: Option<&'a RouteMatch>,
        pub(super) stage_variables: Option<&'a StringMap>,
        pub(super) request_context: v2::RequestContext,
        pub(super) body: Option<Cow<'a, str>>,
        pub(super) is_base64_encoded: bool,
    }

    pub(super) fn entries(headers: &HeaderMap) -> Vec<(&HeaderName, &HeaderValue)> {
        let mut entries = Vec::with_capacity(headers.len());
        entries.extend(headers.iter());
        entries
    }

    /// `"text"`, for text known to need no escaping.
    fn raw(out: &mut Vec<u8>, text: &[u8]) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text);
        out.push(b'"');
    }

    /// A JSON string. Text without `"`, `\` or control characters (nearly
    /// all header and query text) is copied as it is.
    pub(super) fn string(out: &mut Vec<u8>, text: &str) -> Result<(), serde_json::Error> {
        if any_flagged(text.as_bytes(), json_escape_bits) {
            return serde_json::to_writer(out, text);
        }
        raw(out, text.as_bytes());
        Ok(())
    }

    /// A header value as a JSON string: printable ASCII without `"` or `\`
    /// (nearly every value) is copied as it is, in one check; anything else
    /// goes through [`value_text`].
    fn header_value(out: &mut Vec<u8>, value: &HeaderValue) -> Result<(), serde_json::Error> {
        let bytes = value.as_bytes();
        // 0x7f and above: `w + 1` or `w` has the high bit set.
        if any_flagged(bytes, |w| {
            json_escape_bits(w) | w.wrapping_add(splat(1)) | w
        }) {
            return string(out, &value_text(value));
        }
        raw(out, bytes);
        Ok(())
    }

    /// A member name known to need no escaping: this module's own names,
    /// and header names (`http` allows only token characters in them).
    // Inlined, so a constant name is copied without a call.
    #[inline(always)]
    fn key(out: &mut Vec<u8>, first: &mut bool, name: &str) {
        out.reserve(name.len() + 4);
        if !*first {
            out.push(b',');
        }
        *first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    }

    /// A member name from the request (query keys, path parameters, stage
    /// variables), escaped as needed.
    fn escaped_key(
        out: &mut Vec<u8>,
        first: &mut bool,
        name: &str,
    ) -> Result<(), serde_json::Error> {
        if !*first {
            out.push(b',');
        }
        *first = false;
        string(out, name)?;
        out.push(b':');
        Ok(())
    }

    fn null_or<T>(
        out: &mut Vec<u8>,
        value: Option<T>,
        write: impl FnOnce(&mut Vec<u8>, T) -> Result<(), serde_json::Error>,
    ) -> Result<(), serde_json::Error> {
        match value {
            Some(value) => write(out, value),
            None => {
                out.extend_from_slice(b"null");
                Ok(())
            }
        }
    }

    /// `{name: value}` over any pairs.
    fn object<'k, 'v>(
        out: &mut Vec<u8>,
        pairs: impl IntoIterator<Item = (&'k str, Cow<'v, str>)>,
    ) -> Result<(), serde_json::Error> {
        out.push(b'{');
        let mut first = true;
        for (name, value) in pairs {
            escaped_key(out, &mut first, name)?;
            string(out, &value)?;
        }
        out.push(b'}');
        Ok(())
    }

    fn runs<'e, 'h>(
        entries: &'e [(&'h HeaderName, &'h HeaderValue)],
    ) -> impl Iterator<Item = &'e [(&'h HeaderName, &'h HeaderValue)]> {
        entries.chunk_by(|a, b| a.0 == b.0)
    }

    fn path_parameters(route: Option<&RouteMatch>) -> Option<&[(String, String)]> {
        route
            .map(RouteMatch::path_parameters)
            .filter(|p| !p.is_empty())
    }

    fn string_map(out: &mut Vec<u8>, map: &StringMap) -> Result<(), serde_json::Error> {
        object(
            out,
            map.iter()
                .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()))),
        )
    }

    fn params(out: &mut Vec<u8>, params: &[(String, String)]) -> Result<(), serde_json::Error> {
        object(
            out,
            params
                .iter()
                .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()))),
        )
    }

    /// What a 1.0 `requestContext` is written from, borrowed from the
    /// request: the members [`super::v1_context`] fills, nothing else.
    pub(super) struct V1Context<'a> {
        account_id: &'a str,
        api_id: &'a str,
        authorizer: Option<Map<String, Value>>,
        common: &'a Common,
        http_method: &'a str,
        api_key: Option<&'a ApiKeyIdentity>,
        path: &'a str,
        resource_path: &'a str,
    }

    impl<'a> V1Context<'a> {
        pub(super) fn new(
            parts: &'a Parts,
            common: &'a Common,
            options: &'a EventOptions,
            resource: &'a str,
        ) -> Self {
            Self {
                account_id: &options.account_id,
                api_id: &options.api_id,
                authorizer: v1_authorizer(parts),
                common,
                http_method: parts.method.as_str(),
                api_key: parts.extensions.get::<ApiKeyIdentity>(),
                path: parts.uri.path(),
                resource_path: resource,
            }
        }

        /// `requestContext`, as `v1::RequestContext` serializes what
        /// [`super::v1_context`] builds (the same members, in order).
        fn write(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
            let c = self.common;
            let mut first = true;
            out.push(b'{');
            key(out, &mut first, "accountId");
            string(out, self.account_id)?;
            key(out, &mut first, "apiId");
            string(out, self.api_id)?;
            if let Some(authorizer) = &self.authorizer {
                key(out, &mut first, "authorizer");
                serde_json::to_writer(&mut *out, authorizer)?;
            }
            key(out, &mut first, "domainName");
            string(out, &c.domain_name)?;
            key(out, &mut first, "domainPrefix");
            string(out, &c.domain_prefix)?;
            key(out, &mut first, "extendedRequestId");
            string(out, &c.request_id)?;
            key(out, &mut first, "httpMethod");
            string(out, self.http_method)?;
            key(out, &mut first, "identity");
            // Only the API key, source IP and user agent are ever known.
            out.extend_from_slice(br#"{"accessKey":null,"accountId":null,"apiKey":"#);
            null_or(out, self.api_key.map(ApiKeyIdentity::api_key), string)?;
            out.extend_from_slice(br#","apiKeyId":"#);
            null_or(out, self.api_key.map(ApiKeyIdentity::key_id), string)?;
            out.extend_from_slice(
                br#","caller":null,"cognitoAuthenticationProvider":null,"cognitoAuthenticationType":null,"cognitoIdentityId":null,"cognitoIdentityPoolId":null,"principalOrgId":null,"sourceIp":"#,
            );
            null_or(out, c.source_ip.as_deref(), string)?;
            out.extend_from_slice(br#","user":null,"userAgent":"#);
            null_or(out, c.user_agent.as_deref(), string)?;
            out.extend_from_slice(br#","userArn":null}"#);
            key(out, &mut first, "path");
            match c.named_stage() {
                Some(stage) => {
                    let mut path = String::with_capacity(stage.len() + self.path.len() + 1);
                    path.push('/');
                    path.push_str(stage);
                    path.push_str(self.path);
                    string(out, &path)?;
                }
                None => string(out, self.path)?,
            }
            key(out, &mut first, "protocol");
            string(out, c.protocol)?;
            key(out, &mut first, "requestId");
            string(out, &c.request_id)?;
            key(out, &mut first, "requestTime");
            string(out, &c.time)?;
            key(out, &mut first, "requestTimeEpoch");
            serde_json::to_writer(&mut *out, &c.time_epoch)?;
            key(out, &mut first, "resourceId");
            out.extend_from_slice(b"null");
            key(out, &mut first, "resourcePath");
            string(out, self.resource_path)?;
            key(out, &mut first, "stage");
            string(out, &c.stage)?;
            out.push(b'}');
            Ok(())
        }
    }

    impl V1<'_> {
        pub(super) fn write(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
            let mut first = true;
            out.push(b'{');
            key(out, &mut first, "resource");
            string(out, self.resource)?;
            key(out, &mut first, "path");
            string(out, self.path)?;
            key(out, &mut first, "httpMethod");
            string(out, self.http_method)?;

            // `headers` holds each header's last value; `multiValueHeaders`
            // repeats it, so its JSON is copied from where it was written.
            key(out, &mut first, "headers");
            let mut written = Vec::with_capacity(self.headers.len());
            if self.headers.is_empty() {
                out.extend_from_slice(b"null");
            } else {
                out.push(b'{');
                let mut first = true;
                for run in runs(self.headers) {
                    let (name, last) = run[run.len() - 1];
                    key(out, &mut first, name.as_str());
                    let start = out.len();
                    header_value(out, last)?;
                    written.push(start..out.len());
                }
                out.push(b'}');
            }
            key(out, &mut first, "multiValueHeaders");
            if self.headers.is_empty() {
                out.extend_from_slice(b"null");
            } else {
                out.push(b'{');
                let mut first = true;
                for (run, last) in runs(self.headers).zip(written) {
                    key(out, &mut first, run[0].0.as_str());
                    out.push(b'[');
                    for (_, value) in &run[..run.len() - 1] {
                        header_value(out, value)?;
                        out.push(b',');
                    }
                    out.extend_from_within(last);
                    out.push(b']');
                }
                out.push(b'}');
            }

            // The same for the query's last values.
            key(out, &mut first, "queryStringParameters");
            let mut written = Vec::with_capacity(self.query.len());
            if self.query.is_empty() {
                out.extend_from_slice(b"null");
            } else {
                out.push(b'{');
                let mut first = true;
                for (name, values) in self.query {
                    escaped_key(out, &mut first, name)?;
                    let start = out.len();
                    string(out, values.last().map_or("", AsRef::as_ref))?;
                    written.push(start..out.len());
                }
                out.push(b'}');
            }
            key(out, &mut first, "multiValueQueryStringParameters");
            if self.query.is_empty() {
                out.extend_from_slice(b"null");
            } else {
                out.push(b'{');
                let mut first = true;
                for ((name, values), last) in self.query.iter().zip(written) {
                    escaped_key(out, &mut first, name)?;
                    out.push(b'[');
                    for value in &values[..values.len().saturating_sub(1)] {
                        string(out, value)?;
                        out.push(b',');
                    }
                    out.extend_from_within(last);
                    out.push(b']');
                }
                out.push(b'}');
            }
            key(out, &mut first, "pathParameters");
            null_or(out, path_parameters(self.route), params)?;
            key(out, &mut first, "stageVariables");
            null_or(out, self.stage_variables, string_map)?;
            key(out, &mut first, "requestContext");
            self.request_context.write(out)?;
            key(out, &mut first, "body");
            null_or(out, self.body.as_deref(), string)?;
            key(out, &mut first, "isBase64Encoded");
            out.extend_from_slice(if self.is_base64_encoded {
                b"true"
            } else {
                b"false"
            });
            out.push(b'}');
            Ok(())
        }
    }

    impl V2<'_> {
        pub(super) fn write(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
            let mut first = true;
            out.push(b'{');
            key(out, &mut first, "version");
            string(out, "2.0")?;
            key(out, &mut first, "routeKey");
            string(out, self.route_key)?;
            key(out, &mut first, "rawPath");
            string(out, self.raw_path)?;
            key(out, &mut first, "rawQueryString");
            string(out, self.raw_query_string)?;
            if let Some(cookies) = &self.cookies {
                key(out, &mut first, "cookies");
                out.push(b'[');
                for (i, cookie) in cookies.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    string(out, cookie)?;
                }
                out.push(b']');
            }
            key(out, &mut first, "headers");
            out.push(b'{');
            let mut inner = true;
            for run in runs(self.headers).filter(|run| *run[0].0 != COOKIE) {
                key(out, &mut inner, run[0].0.as_str());
                if let [(_, value)] = run {
                    header_value(out, value)?;
                } else {
                    let joined = join_values(run.iter().map(|(_, value)| *value));
                    string(out, joined.as_deref().unwrap_or_default())?;
                }
            }
            out.push(b'}');
            if !self.query.is_empty() {
                key(out, &mut first, "queryStringParameters");
                object(
                    out,
                    self.query.iter().map(|(k, values)| {
                        let value = if values.len() == 1 {
                            Cow::Borrowed(values[0].as_ref())
                        } else {
                            Cow::Owned(values.join(","))
                        };
                        (k.as_ref(), value)
                    }),
                )?;
            }
            if let Some(parameters) = path_parameters(self.route) {
                key(out, &mut first, "pathParameters");
                params(out, parameters)?;
            }
            if let Some(variables) = self.stage_variables {
                key(out, &mut first, "stageVariables");
                string_map(out, variables)?;
            }
            key(out, &mut first, "requestContext");
            serde_json::to_writer(&mut *out, &self.request_context)?;
            if let Some(body) = &self.body {
                key(out, &mut first, "body");
                string(out, body)?;
            }
            key(out, &mut first, "isBase64Encoded");
            out.extend_from_slice(if self.is_base64_encoded {
                b"true"
            } else {
                b"false"
            });
            out.push(b'}');
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_decode_plus_and_percent() {
        let pairs: Vec<(String, String)> = query_pairs("a=1+2&b=%2B&c&&d=%E2%9C%93&e=%ZZ")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "+".into()),
                ("c".into(), String::new()),
                ("d".into(), "✓".into()),
                ("e".into(), "%ZZ".into()),
            ]
        );
    }

    #[test]
    fn media_ranges_match_by_type_and_wildcard() {
        let options = EventOptions::new()
            .binary_media_type("image/*")
            .unwrap()
            .binary_media_type("application/octet-stream")
            .unwrap();
        assert!(options.is_binary("image/png"));
        assert!(options.is_binary("Application/Octet-Stream; charset=x"));
        assert!(!options.is_binary("text/plain"));
        assert!(
            EventOptions::new()
                .binary_media_type("*/*")
                .unwrap()
                .is_binary("a/b")
        );
        assert!(EventOptions::new().binary_media_type("nonsense").is_err());
        assert!(EventOptions::new().binary_media_type("*/png").is_err());
    }

    #[test]
    fn v2_text_types_are_the_measured_four() {
        for ct in [
            "text/plain",
            "text/html; charset=utf-8",
            "application/json",
            "application/xml",
            "application/javascript",
        ] {
            assert!(is_v2_text(Some(ct)), "{ct}");
        }
        for ct in [
            "application/x-www-form-urlencoded",
            "image/png",
            "application/vnd.api+json",
        ] {
            assert!(!is_v2_text(Some(ct)), "{ct}");
        }
        assert!(!is_v2_text(None));
    }

    #[test]
    fn ip_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "203.0.113.9",
            "10.100.1.255",
            "99.9.10.100",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn hosts_lose_their_port() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}
