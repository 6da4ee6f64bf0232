//! Payload format 2.0: the HTTP API Lambda proxy event and response.
//!
//! [`Request`] is the event a function receives: lowercased header names
//! with duplicates comma-joined, `cookies` split out of `Cookie`,
//! `rawPath` / `rawQueryString` as sent, `routeKey`, and
//! `requestContext.http`. Keys API Gateway leaves out when empty
//! (`cookies`, `queryStringParameters`, `pathParameters`, `stageVariables`,
//! `body`) are left out here too.
//!
//! [`Response::from_slice`] reads a function's answer with API Gateway's
//! inference: an object with `statusCode` is a response; any other JSON
//! value is a 200 `application/json` response whose body is that value
//! (a JSON string becomes its text).
//!
//! ```
//! use apigw::events::v2;
//!
//! let explicit = v2::Response::from_slice(br#"{"statusCode": 201, "cookies": ["a=1", "b=2"]}"#)?;
//! assert_eq!(explicit.status_code, 201);
//! assert_eq!(explicit.cookies.as_ref().unwrap().len(), 2);
//!
//! let inferred = v2::Response::from_slice(br#"{"message": "hi"}"#)?;
//! assert_eq!(inferred.status_code, 200);
//! assert_eq!(inferred.body.as_deref(), Some(r#"{"message": "hi"}"#));
//!
//! let text = v2::Response::from_slice(br#""Hello from Lambda!""#)?;
//! assert_eq!(text.body.as_deref(), Some("Hello from Lambda!"));
//!
//! assert!(v2::Response::from_slice(b"not json").is_err()); // 500, as HTTP APIs answer
//! # Ok::<(), apigw::events::ResponseError>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ResponseError;
use super::common::{ClientCert, StringMap, null_default};
use super::v1::{scalar_map, status_code};

/// A payload format 2.0 event.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Request {
    /// `"2.0"`.
    #[serde(default)]
    pub version: String,
    /// The matched route key (`GET /orders/{id}`) or `$default`.
    #[serde(default)]
    pub route_key: String,
    /// The path as sent, with the stage prefix for named stages.
    #[serde(default)]
    pub raw_path: String,
    /// The query string as sent, without `?`, still percent-encoded.
    #[serde(default)]
    pub raw_query_string: String,
    /// Every cookie of every `Cookie` header, one `name=value` each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Vec<String>>,
    /// Lowercased header names; a repeated header's values comma-joined.
    #[serde(default, deserialize_with = "null_default")]
    pub headers: StringMap,
    /// Decoded query parameters; a repeated key's values comma-joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string_parameters: Option<StringMap>,
    /// The route's path parameters, decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_parameters: Option<StringMap>,
    /// The stage variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_variables: Option<StringMap>,
    /// Who sent the request, through which API, route and stage.
    #[serde(default)]
    pub request_context: RequestContext,
    /// The body: text, or base64 when `isBase64Encoded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether `body` is base64.
    #[serde(default, deserialize_with = "null_default")]
    pub is_base64_encoded: bool,
}

/// `requestContext` of a format 2.0 event.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequestContext {
    /// The AWS account id.
    #[serde(default)]
    pub account_id: String,
    /// The API id.
    #[serde(default)]
    pub api_id: String,
    /// The mTLS client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// What the authorizer established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<Authorizer>,
    /// The host name the request came to.
    #[serde(default)]
    pub domain_name: String,
    /// Its first label.
    #[serde(default)]
    pub domain_prefix: String,
    /// Method, path, protocol, source IP, user agent.
    #[serde(default)]
    pub http: Http,
    /// The request id.
    #[serde(default)]
    pub request_id: String,
    /// The matched route key.
    #[serde(default)]
    pub route_key: String,
    /// The stage.
    #[serde(default)]
    pub stage: String,
    /// The time, Common Log Format (`04/Mar/2020:19:15:17 +0000`).
    #[serde(default)]
    pub time: String,
    /// The time, milliseconds since the epoch.
    #[serde(default, deserialize_with = "null_default")]
    pub time_epoch: i64,
}

/// `requestContext.authentication`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Authentication {
    /// The mTLS client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCert>,
}

/// `requestContext.authorizer`: one of `jwt`, `lambda`, `iam`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Authorizer {
    /// A JWT authorizer's claims (stringified) and scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<Jwt>,
    /// A Lambda authorizer's context, with its native JSON types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<Map<String, Value>>,
    /// IAM authorization's caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<Iam>,
}

/// `requestContext.authorizer.jwt`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Jwt {
    /// The token's claims. API Gateway sends every value as a string
    /// (arrays Go-style, `"[a b]"`); see
    /// [`stringify_value`](super::stringify_value).
    #[serde(default, deserialize_with = "null_default")]
    pub claims: Map<String, Value>,
    /// The token's scopes; `null` when it has none.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// `requestContext.authorizer.iam`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Iam {
    /// The access key.
    #[serde(default)]
    pub access_key: Option<String>,
    /// The caller's account.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The caller id.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// The Cognito identity.
    #[serde(default)]
    pub cognito_identity: Option<CognitoIdentity>,
    /// The caller's organization.
    #[serde(default)]
    pub principal_org_id: Option<String>,
    /// The user ARN.
    #[serde(default)]
    pub user_arn: Option<String>,
    /// The user id.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `requestContext.authorizer.iam.cognitoIdentity`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CognitoIdentity {
    /// Authentication methods.
    #[serde(default, deserialize_with = "null_default")]
    pub amr: Vec<String>,
    /// The identity id.
    #[serde(default)]
    pub identity_id: Option<String>,
    /// The identity pool id.
    #[serde(default)]
    pub identity_pool_id: Option<String>,
}

/// `requestContext.http`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Http {
    /// The method.
    #[serde(default)]
    pub method: String,
    /// The path, as `rawPath`.
    #[serde(default)]
    pub path: String,
    /// `HTTP/1.1`, `HTTP/2.0`.
    #[serde(default)]
    pub protocol: String,
    /// The client's IP address (the TCP peer).
    #[serde(default)]
    pub source_ip: String,
    /// The `User-Agent`.
    #[serde(default)]
    pub user_agent: String,
}

/// A format 2.0 answer in its explicit form.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Response {
    /// The status. Default: 200.
    #[serde(default = "ok", deserialize_with = "status_code")]
    pub status_code: u16,
    /// Headers, one value each (comma-join several).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_map"
    )]
    pub headers: Option<StringMap>,
    /// Cookies: each becomes its own `Set-Cookie` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Vec<String>>,
    /// The body: text, or base64 when `isBase64Encoded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether `body` is base64 (always honoured).
    #[serde(default, deserialize_with = "null_default")]
    pub is_base64_encoded: bool,
}

impl Default for Response {
    fn default() -> Self {
        Self::new(200)
    }
}

fn ok() -> u16 {
    200
}

/// The explicit form, with `statusCode` optional so that inference can tell.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Explicit {
    #[serde(default, deserialize_with = "optional_status")]
    status_code: Option<u16>,
    #[serde(default, deserialize_with = "scalar_map")]
    headers: Option<StringMap>,
    #[serde(default)]
    cookies: Option<Vec<String>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    is_base64_encoded: bool,
}

fn optional_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    status_code(d).map(Some)
}

impl Response {
    /// An answer with `status_code` and nothing else.
    #[must_use]
    pub fn new(status_code: u16) -> Self {
        Self {
            status_code,
            headers: None,
            cookies: None,
            body: None,
            is_base64_encoded: false,
        }
    }

    /// Sets a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .get_or_insert_with(StringMap::new)
            .insert(name.into(), value.into());
        self
    }

    /// Adds a cookie (one `Set-Cookie` header).
    #[must_use]
    pub fn with_cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookies
            .get_or_insert_with(Vec::new)
            .push(cookie.into());
        self
    }

    /// Sets a text body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self.is_base64_encoded = false;
        self
    }

    /// Reads a function's answer as API Gateway does, inferring a 200
    /// `application/json` response from any valid JSON without `statusCode`;
    /// a [`ResponseError`] where API Gateway answers 500.
    pub fn from_slice(answer: &[u8]) -> Result<Self, ResponseError> {
        let first = answer.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            match serde_json::from_slice::<Explicit>(answer) {
                Ok(Explicit {
                    status_code: Some(status_code),
                    headers,
                    cookies,
                    body,
                    is_base64_encoded,
                }) => {
                    return Ok(Self {
                        status_code,
                        headers,
                        cookies,
                        body,
                        is_base64_encoded,
                    });
                }
                Ok(_) => return Ok(Self::inferred(answer, None)),
                Err(err) => {
                    // Invalid as an explicit response: still a valid inferred
                    // one unless it claims a `statusCode`.
                    let value: Value =
                        serde_json::from_slice(answer).map_err(ResponseError::from_json)?;
                    if value.get("statusCode").is_some() {
                        return Err(ResponseError::from_json(err));
                    }
                    return Ok(Self::inferred(answer, None));
                }
            }
        }
        let value: Value = serde_json::from_slice(answer).map_err(ResponseError::from_json)?;
        Ok(match value {
            Value::String(text) => Self::inferred(answer, Some(text)),
            _ => Self::inferred(answer, None),
        })
    }

    fn inferred(answer: &[u8], text: Option<String>) -> Self {
        let body =
            text.unwrap_or_else(|| String::from_utf8_lossy(answer.trim_ascii()).into_owned());
        Self::new(200)
            .with_header("content-type", "application/json")
            .with_body(body)
    }
}
