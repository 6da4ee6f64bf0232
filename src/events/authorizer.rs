//! Custom (Lambda) authorizer payloads: what API Gateway sends a Lambda
//! authorizer and what the authorizer answers.
//!
//! | API Gateway calls it | request type | answer |
//! |---|---|---|
//! | REST `TOKEN` authorizer | [`TokenRequest`] | [`IamPolicyResponse`] |
//! | REST `REQUEST` authorizer, HTTP API payload 1.0, WebSocket `$connect` | [`RequestV1`] | [`IamPolicyResponse`] |
//! | HTTP API payload 2.0 | [`RequestV2`] | [`SimpleResponse`] (with `enableSimpleResponses`) or [`IamPolicyResponse`] |
//!
//! [`AuthorizerRequest`] is any of the three requests: it serializes as the
//! request it holds and deserializes by looking at `version` and `type`.
//!
//! ```
//! use apigw::events::authorizer::{AuthorizerRequest, IamPolicyResponse};
//!
//! let event: AuthorizerRequest = serde_json::from_str(r#"{
//!     "type": "TOKEN",
//!     "authorizationToken": "allow",
//!     "methodArn": "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/"
//! }"#).unwrap();
//! assert_eq!(event.method_arn(), "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/");
//!
//! let answer = IamPolicyResponse::allow("user-1", event.method_arn())
//!     .with_context("tier", "gold");
//! let json = serde_json::to_value(&answer).unwrap();
//! assert_eq!(json["policyDocument"]["Statement"][0]["Effect"], "Allow");
//! assert_eq!(json["policyDocument"]["Statement"][0]["Action"], "execute-api:Invoke");
//! ```
//!
//! The IAM policy keys are PascalCase (`policyDocument.Version`,
//! `Statement`, `Effect`, `Action`, `Resource`), as IAM spells them; the
//! rest is camelCase, as API Gateway spells it.

use std::collections::HashMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The `Action` that authorizes calling an API: `execute-api:Invoke`.
pub const EXECUTE_API_INVOKE: &str = "execute-api:Invoke";

/// The policy language version API Gateway's examples use: `2012-10-17`.
pub const POLICY_VERSION: &str = "2012-10-17";

/// Any authorizer request API Gateway sends.
///
/// Serializes as the request it holds. Deserializes as [`RequestV2`] when
/// `version` is `"2.0"`, as [`TokenRequest`] when `type` is `"TOKEN"`, and as
/// [`RequestV1`] otherwise.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
// One event per authorizer call; boxing the variants would only make them
// harder to match on.
#[allow(clippy::large_enum_variant)]
pub enum AuthorizerRequest {
    /// A REST `TOKEN` authorizer's request.
    Token(TokenRequest),
    /// A REST `REQUEST` authorizer's request, or an HTTP API's with payload 1.0.
    RequestV1(RequestV1),
    /// An HTTP API's request with payload 2.0.
    RequestV2(RequestV2),
}

impl AuthorizerRequest {
    /// The ARN the request is for: `methodArn` (1.0) or `routeArn` (2.0).
    #[must_use]
    pub fn method_arn(&self) -> &str {
        match self {
            Self::Token(request) => &request.method_arn,
            Self::RequestV1(request) => &request.method_arn,
            Self::RequestV2(request) => &request.route_arn,
        }
    }

    /// A header, by case-insensitive name (never present in a `TOKEN` request).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        let headers = match self {
            Self::Token(_) => None,
            Self::RequestV1(request) => request.headers.as_ref(),
            Self::RequestV2(request) => request.headers.as_ref(),
        }?;
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The token: a `TOKEN` request's `authorizationToken`, or the
    /// comma-joined identity-source values of a REQUEST 1.0 / 2.0 request.
    #[must_use]
    pub fn token(&self) -> Option<String> {
        match self {
            Self::Token(request) => Some(request.authorization_token.clone()),
            Self::RequestV1(request) => request
                .authorization_token
                .clone()
                .or_else(|| request.identity_source.clone()),
            Self::RequestV2(request) => request.identity_source.as_ref().map(|v| v.join(",")),
        }
    }
}

impl Default for AuthorizerRequest {
    fn default() -> Self {
        Self::Token(TokenRequest::default())
    }
}

impl From<TokenRequest> for AuthorizerRequest {
    fn from(request: TokenRequest) -> Self {
        Self::Token(request)
    }
}

impl From<RequestV1> for AuthorizerRequest {
    fn from(request: RequestV1) -> Self {
        Self::RequestV1(request)
    }
}

impl From<RequestV2> for AuthorizerRequest {
    fn from(request: RequestV2) -> Self {
        Self::RequestV2(request)
    }
}

impl<'de> Deserialize<'de> for AuthorizerRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let version = value.get("version").and_then(Value::as_str);
        let kind = value.get("type").and_then(Value::as_str);
        if version == Some("2.0") {
            serde_json::from_value(value)
                .map(Self::RequestV2)
                .map_err(D::Error::custom)
        } else if kind == Some("TOKEN") {
            serde_json::from_value(value)
                .map(Self::Token)
                .map_err(D::Error::custom)
        } else {
            serde_json::from_value(value)
                .map(Self::RequestV1)
                .map_err(D::Error::custom)
        }
    }
}

/// A REST `TOKEN` authorizer's request: the raw value of the token header
/// (including any `Bearer ` prefix) and the method ARN.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TokenRequest {
    /// `TOKEN`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The raw value of the identity-source header.
    pub authorization_token: String,
    /// `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{VERB}/{path}`.
    pub method_arn: String,
}

/// A REST `REQUEST` authorizer's request, an HTTP API's with payload 1.0,
/// or a WebSocket `$connect` authorizer's.
///
/// The maps API Gateway always sends (`headers`, `queryStringParameters`,
/// `pathParameters`, `stageVariables` and their multi-value forms) are
/// written as `null` when absent, as API Gateway does; the other optional
/// members are left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequestV1 {
    /// `"1.0"` for HTTP APIs; absent for REST APIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `REQUEST`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The method ARN.
    pub method_arn: String,
    /// HTTP APIs: the identity-source values, comma-joined (`"user1,123"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<String>,
    /// HTTP APIs: the same comma-joined identity-source values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_token: Option<String>,
    /// The resource template, e.g. `/pets/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The request method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// Headers; for a repeated header, its last value.
    #[serde(default)]
    pub headers: Option<HashMap<String, String>>,
    /// Headers with every value.
    #[serde(default)]
    pub multi_value_headers: Option<HashMap<String, Vec<String>>>,
    /// Query parameters; for a repeated one, its last value.
    #[serde(default)]
    pub query_string_parameters: Option<HashMap<String, String>>,
    /// Query parameters with every value.
    #[serde(default)]
    pub multi_value_query_string_parameters: Option<HashMap<String, Vec<String>>>,
    /// Path parameters, decoded.
    #[serde(default)]
    pub path_parameters: Option<HashMap<String, String>>,
    /// Stage variables.
    #[serde(default)]
    pub stage_variables: Option<HashMap<String, String>>,
    /// The request context.
    #[serde(default)]
    pub request_context: RequestContextV1,
}

/// `requestContext` of a 1.0 authorizer request (REST, HTTP API 1.0 and
/// WebSocket members).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequestContextV1 {
    /// The path, with the stage for REST APIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The AWS account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The extended request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_request_id: Option<String>,
    /// The caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// The resource template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_path: Option<String>,
    /// The request method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// The API id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    /// The host name the API was called on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// The first label of `domainName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_prefix: Option<String>,
    /// The protocol, e.g. `HTTP/1.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The request time, CLF (`04/Mar/2020:19:15:17 +0000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_time: Option<String>,
    /// The request time, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_time_epoch: Option<i64>,
    /// HTTP APIs: the HTTP request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Http>,
    /// HTTP APIs: the request time, CLF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// HTTP APIs: the request time, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_epoch: Option<i64>,
    /// HTTP APIs and WebSocket: the route key (`GET /pets`, `$connect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_key: Option<String>,
    /// WebSocket: the event type (`CONNECT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// WebSocket: the connection id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// WebSocket: when the connection was made, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<i64>,
    /// WebSocket: `IN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_direction: Option<String>,
}

/// `requestContext.identity` of a 1.0 request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Identity {
    /// The API key value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The API key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    /// The caller's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The caller's `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The client certificate of a mutual-TLS connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCert>,
}

/// A mutual-TLS client certificate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ClientCert {
    /// The PEM text.
    #[serde(default)]
    pub client_cert_pem: String,
    /// The subject's distinguished name.
    #[serde(default, rename = "subjectDN")]
    pub subject_dn: String,
    /// The issuer's distinguished name.
    #[serde(default, rename = "issuerDN")]
    pub issuer_dn: String,
    /// The serial number.
    #[serde(default)]
    pub serial_number: String,
    /// The validity period.
    #[serde(default)]
    pub validity: Validity,
}

/// A certificate's validity period, as OpenSSL prints it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Validity {
    /// Not before.
    #[serde(default)]
    pub not_before: String,
    /// Not after.
    #[serde(default)]
    pub not_after: String,
}

/// An HTTP API's authorizer request with payload 2.0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequestV2 {
    /// `"2.0"`.
    pub version: String,
    /// `REQUEST`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The route ARN.
    pub route_arn: String,
    /// The identity-source values, in configuration order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<Vec<String>>,
    /// The route key, e.g. `GET /pets/{id}` or `$default`.
    #[serde(default)]
    pub route_key: String,
    /// The path as sent.
    #[serde(default)]
    pub raw_path: String,
    /// The query string as sent, without `?`.
    #[serde(default)]
    pub raw_query_string: String,
    /// The cookies, one `name=value` per entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Vec<String>>,
    /// Headers, lower-case names, repeated values comma-joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<HashMap<String, String>>,
    /// Query parameters, repeated values comma-joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string_parameters: Option<HashMap<String, String>>,
    /// The request context.
    #[serde(default)]
    pub request_context: RequestContextV2,
    /// Path parameters, decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_parameters: Option<HashMap<String, String>>,
    /// Stage variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_variables: Option<HashMap<String, String>>,
}

/// `requestContext` of a 2.0 authorizer request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequestContextV2 {
    /// The AWS account id.
    #[serde(default)]
    pub account_id: String,
    /// The API id.
    #[serde(default)]
    pub api_id: String,
    /// Mutual-TLS details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// The host name the API was called on.
    #[serde(default)]
    pub domain_name: String,
    /// The first label of `domainName`.
    #[serde(default)]
    pub domain_prefix: String,
    /// The HTTP request.
    #[serde(default)]
    pub http: Http,
    /// The request id.
    #[serde(default)]
    pub request_id: String,
    /// The route key.
    #[serde(default)]
    pub route_key: String,
    /// The stage.
    #[serde(default)]
    pub stage: String,
    /// The request time, CLF (`12/Mar/2020:19:03:58 +0000`).
    #[serde(default)]
    pub time: String,
    /// The request time, Unix milliseconds.
    #[serde(default)]
    pub time_epoch: i64,
}

/// `requestContext.authentication` of a 2.0 request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Authentication {
    /// The client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCert>,
}

/// `requestContext.http` of a 2.0 request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Http {
    /// The method.
    #[serde(default)]
    pub method: String,
    /// The path.
    #[serde(default)]
    pub path: String,
    /// The protocol, e.g. `HTTP/1.1`.
    #[serde(default)]
    pub protocol: String,
    /// The caller's IP address.
    #[serde(default)]
    pub source_ip: String,
    /// The caller's `User-Agent`.
    #[serde(default)]
    pub user_agent: String,
}

/// An authorizer's IAM policy answer (every REST authorizer, and HTTP API
/// authorizers without simple responses).
///
/// API Gateway requires `principalId` and `policyDocument`. In payload 1.0,
/// `context` values must be strings, numbers or booleans; API Gateway hands
/// them on stringified.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IamPolicyResponse {
    /// The principal the caller was identified as.
    #[serde(default)]
    pub principal_id: String,
    /// The policy that decides, per method ARN.
    #[serde(default)]
    pub policy_document: PolicyDocument,
    /// Values handed on to the integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    /// An API key value for usage plans whose key source is the authorizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_identifier_key: Option<String>,
}

impl IamPolicyResponse {
    /// An answer for `principal_id` with `policy_document`.
    #[must_use]
    pub fn new(principal_id: impl Into<String>, policy_document: PolicyDocument) -> Self {
        Self {
            principal_id: principal_id.into(),
            policy_document,
            context: None,
            usage_identifier_key: None,
        }
    }

    /// Allows `execute-api:Invoke` on `resource` (an ARN, wildcards allowed).
    #[must_use]
    pub fn allow(principal_id: impl Into<String>, resource: impl Into<String>) -> Self {
        Self::new(
            principal_id,
            PolicyDocument::new(vec![Statement::new(Effect::Allow, resource)]),
        )
    }

    /// Denies `execute-api:Invoke` on `resource` (an ARN, wildcards allowed).
    #[must_use]
    pub fn deny(principal_id: impl Into<String>, resource: impl Into<String>) -> Self {
        Self::new(
            principal_id,
            PolicyDocument::new(vec![Statement::new(Effect::Deny, resource)]),
        )
    }

    /// Adds a `context` value.
    #[must_use]
    pub fn with_context(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.context
            .get_or_insert_with(Map::new)
            .insert(key.into(), value.into());
        self
    }

    /// Sets `usageIdentifierKey`.
    #[must_use]
    pub fn with_usage_identifier_key(mut self, key: impl Into<String>) -> Self {
        self.usage_identifier_key = Some(key.into());
        self
    }
}

/// An IAM policy document: `{"Version": …, "Statement": […]}`.
///
/// `Statement` may be one statement or a list; it is read either way and
/// always written as a list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct PolicyDocument {
    /// The policy language version, `2012-10-17`.
    #[serde(default)]
    pub version: String,
    /// The statements.
    #[serde(default, deserialize_with = "one_or_many")]
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    /// A document with version `2012-10-17` and `statements`.
    #[must_use]
    pub fn new(statements: Vec<Statement>) -> Self {
        Self {
            version: POLICY_VERSION.to_owned(),
            statement: statements,
        }
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Statement>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<Statement>),
        One(Box<Statement>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Many(statements) => statements,
        OneOrMany::One(statement) => vec![*statement],
    })
}

/// One policy statement. `Action`/`NotAction` and `Resource`/`NotResource`
/// are a string or a list of strings, kept as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct Statement {
    /// An optional statement id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `Allow` or `Deny` (kept as a string so that any answer can be read;
    /// evaluation refuses anything else).
    #[serde(default)]
    pub effect: String,
    /// The actions, e.g. `execute-api:Invoke`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<StringOrArray>,
    /// The actions the statement does not cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_action: Option<StringOrArray>,
    /// The method ARNs, with `*` / `?` wildcards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<StringOrArray>,
    /// The method ARNs the statement does not cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_resource: Option<StringOrArray>,
    /// IAM conditions. This crate does not evaluate them: an `Allow` with a
    /// condition never allows, a `Deny` with a condition denies whatever its
    /// resources match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

impl Statement {
    /// A statement with `effect` on `execute-api:Invoke` for `resource`.
    #[must_use]
    pub fn new(effect: Effect, resource: impl Into<String>) -> Self {
        Self {
            sid: None,
            effect: effect.as_str().to_owned(),
            action: Some(StringOrArray::One(EXECUTE_API_INVOKE.to_owned())),
            not_action: None,
            resource: Some(StringOrArray::One(resource.into())),
            not_resource: None,
            condition: None,
        }
    }
}

/// A policy effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Effect {
    /// `Allow`.
    Allow,
    /// `Deny`.
    Deny,
}

impl Effect {
    /// `Allow` or `Deny`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "Allow",
            Self::Deny => "Deny",
        }
    }
}

/// A string or a list of strings, as IAM accepts for `Action` and `Resource`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StringOrArray {
    /// One string.
    One(String),
    /// A list.
    Many(Vec<String>),
}

impl Default for StringOrArray {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

impl StringOrArray {
    /// The strings.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let slice: &[String] = match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        };
        slice.iter().map(String::as_str)
    }
}

/// An HTTP API authorizer's simple answer (payload 2.0 with
/// `enableSimpleResponses`): `{"isAuthorized": true, "context": {…}}`.
///
/// `context` may hold any JSON; it reaches the integration as
/// `requestContext.authorizer.lambda`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SimpleResponse {
    /// Whether the request may go on.
    pub is_authorized: bool,
    /// Values handed on to the integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
}

impl SimpleResponse {
    /// `{"isAuthorized": true}`.
    #[must_use]
    pub fn authorized() -> Self {
        Self {
            is_authorized: true,
            context: None,
        }
    }

    /// `{"isAuthorized": false}`.
    #[must_use]
    pub fn unauthorized() -> Self {
        Self {
            is_authorized: false,
            context: None,
        }
    }

    /// Adds a `context` value.
    #[must_use]
    pub fn with_context(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.context
            .get_or_insert_with(Map::new)
            .insert(key.into(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_statement_object_reads_as_a_list() {
        let doc: PolicyDocument = serde_json::from_str(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(doc.statement.len(), 1);
        assert_eq!(doc.statement[0].effect, "Allow");
    }

    #[test]
    fn requests_deserialize_by_version_and_type() {
        let v2: AuthorizerRequest =
            serde_json::from_str(r#"{"version":"2.0","type":"REQUEST","routeArn":"a"}"#).unwrap();
        assert!(matches!(v2, AuthorizerRequest::RequestV2(_)));
        let token: AuthorizerRequest =
            serde_json::from_str(r#"{"type":"TOKEN","authorizationToken":"t","methodArn":"a"}"#)
                .unwrap();
        assert_eq!(token.token().as_deref(), Some("t"));
        let v1: AuthorizerRequest =
            serde_json::from_str(r#"{"type":"REQUEST","methodArn":"a","headers":{"X-A":"1"}}"#)
                .unwrap();
        assert_eq!(v1.header("x-a"), Some("1"));
    }

    #[test]
    fn allow_answers_serialize_with_iam_casing() {
        let json = serde_json::to_value(IamPolicyResponse::allow("p", "arn:x")).unwrap();
        assert_eq!(json["principalId"], "p");
        assert_eq!(json["policyDocument"]["Version"], POLICY_VERSION);
        assert_eq!(json["policyDocument"]["Statement"][0]["Resource"], "arn:x");
        assert!(json.get("context").is_none());
    }
}
