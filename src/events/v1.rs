//! Payload format 1.0: the REST API Lambda proxy event and response (also
//! what HTTP APIs send with `payloadFormatVersion: "1.0"`).
//!
//! [`Request`] is the event a function receives; [`Response`] is what it
//! answers. Both serialize with API Gateway's keys and `null`s: a request
//! without a query string has `"queryStringParameters": null`, not `{}` and
//! not a missing key, so a Node or Python handler indexing
//! `event["queryStringParameters"]` sees what it sees on AWS.
//!
//! ```
//! use apigw::events::v1;
//!
//! let event: v1::Request = serde_json::from_str(r#"{
//!     "resource": "/orders/{id}", "path": "/orders/7", "httpMethod": "GET",
//!     "headers": {"Accept": "*/*"}, "multiValueHeaders": {"Accept": ["*/*"]},
//!     "queryStringParameters": null, "multiValueQueryStringParameters": null,
//!     "pathParameters": {"id": "7"}, "stageVariables": null,
//!     "requestContext": {"stage": "prod", "httpMethod": "GET", "identity": {"sourceIp": "203.0.113.9"}},
//!     "body": null, "isBase64Encoded": false
//! }"#)?;
//! assert_eq!(event.path_parameters.as_ref().unwrap()["id"], "7");
//! let json = serde_json::to_value(&event)?;
//! assert!(json["queryStringParameters"].is_null());
//!
//! // A function's answer; `{}` or unknown keys are refused as API Gateway does (502).
//! let answer = v1::Response::from_slice(br#"{"statusCode": "201", "body": "made"}"#)?;
//! assert_eq!(answer.status_code, 201);
//! assert!(v1::Response::from_slice(b"{}").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::common::{ClientCert, MultiValueMap, StringMap, null_default};

/// A payload format 1.0 event: what API Gateway sends a function for one
/// HTTP request through a Lambda proxy integration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Request {
    /// `"1.0"` when an HTTP API sends format 1.0; absent from REST events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource (route template), e.g. `/orders/{id}`.
    #[serde(default)]
    pub resource: String,
    /// The request path, without the stage, as sent (not percent-decoded).
    #[serde(default)]
    pub path: String,
    /// The method.
    #[serde(default)]
    pub http_method: String,
    /// One value per header: the last one when a header repeats.
    #[serde(default)]
    pub headers: Option<StringMap>,
    /// Every value of every header.
    #[serde(default)]
    pub multi_value_headers: Option<MultiValueMap>,
    /// One value per query parameter, decoded: the last one when a key
    /// repeats. `null` without a query string.
    #[serde(default)]
    pub query_string_parameters: Option<StringMap>,
    /// Every value of every query parameter, decoded.
    #[serde(default)]
    pub multi_value_query_string_parameters: Option<MultiValueMap>,
    /// The route's path parameters, decoded; `null` when it has none.
    #[serde(default)]
    pub path_parameters: Option<StringMap>,
    /// The stage variables; `null` when there are none.
    #[serde(default)]
    pub stage_variables: Option<StringMap>,
    /// Who sent the request, through which API and stage.
    #[serde(default)]
    pub request_context: RequestContext,
    /// The body: text, or base64 when `isBase64Encoded`; `null` when empty.
    #[serde(default)]
    pub body: Option<String>,
    /// Whether `body` is base64.
    #[serde(default, deserialize_with = "null_default")]
    pub is_base64_encoded: bool,
}

/// `requestContext` of a format 1.0 event.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequestContext {
    /// The AWS account id.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The API id.
    #[serde(default)]
    pub api_id: Option<String>,
    /// What the authorizer established: `principalId` and the context
    /// (values stringified) of a custom authorizer, `claims` of a JWT /
    /// Cognito authorizer. Absent without an authorizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<Map<String, Value>>,
    /// The host name the request came to.
    #[serde(default)]
    pub domain_name: Option<String>,
    /// Its first label.
    #[serde(default)]
    pub domain_prefix: Option<String>,
    /// The extended request id.
    #[serde(default)]
    pub extended_request_id: Option<String>,
    /// The method.
    #[serde(default)]
    pub http_method: String,
    /// The caller.
    #[serde(default)]
    pub identity: Identity,
    /// The path with the stage, `/{stage}/orders/7`.
    #[serde(default)]
    pub path: Option<String>,
    /// `HTTP/1.1`, `HTTP/2.0`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// The request id.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The time, Common Log Format (`04/Mar/2020:19:15:17 +0000`).
    #[serde(default)]
    pub request_time: Option<String>,
    /// The time, milliseconds since the epoch.
    #[serde(default, deserialize_with = "null_default")]
    pub request_time_epoch: i64,
    /// The resource id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// The resource (route template).
    #[serde(default)]
    pub resource_path: Option<String>,
    /// The stage.
    #[serde(default)]
    pub stage: Option<String>,
    /// The operation name, when the method has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
}

/// `requestContext.identity`: the caller. Members API Gateway does not know
/// are `null`, as on AWS.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Identity {
    /// IAM access key (IAM authorization).
    #[serde(default)]
    pub access_key: Option<String>,
    /// The caller's account (IAM authorization).
    #[serde(default)]
    pub account_id: Option<String>,
    /// The API key the request was metered against.
    #[serde(default)]
    pub api_key: Option<String>,
    /// The id of that API key.
    #[serde(default)]
    pub api_key_id: Option<String>,
    /// The caller (IAM authorization).
    #[serde(default)]
    pub caller: Option<String>,
    /// The mTLS client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCert>,
    /// Cognito authentication provider.
    #[serde(default)]
    pub cognito_authentication_provider: Option<String>,
    /// Cognito authentication type.
    #[serde(default)]
    pub cognito_authentication_type: Option<String>,
    /// Cognito identity id.
    #[serde(default)]
    pub cognito_identity_id: Option<String>,
    /// Cognito identity pool id.
    #[serde(default)]
    pub cognito_identity_pool_id: Option<String>,
    /// The caller's organization (IAM authorization).
    #[serde(default)]
    pub principal_org_id: Option<String>,
    /// The client's IP address (the TCP peer).
    #[serde(default)]
    pub source_ip: Option<String>,
    /// The IAM user (IAM authorization).
    #[serde(default)]
    pub user: Option<String>,
    /// The `User-Agent`.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The IAM user ARN (IAM authorization).
    #[serde(default)]
    pub user_arn: Option<String>,
}

/// A format 1.0 answer, as API Gateway reads it.
///
/// Reading is as strict as API Gateway (see [`Response::from_slice`]):
/// unknown top-level keys, a non-numeric `statusCode`, a string where
/// `multiValueHeaders` needs a list, a non-string `body` are malformed (502);
/// a numeric-string `statusCode` is accepted, a missing one is 200, header
/// values that are numbers or booleans are stringified.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Response {
    /// The status. Default: 200.
    #[serde(default = "ok", deserialize_with = "status_code")]
    pub status_code: u16,
    /// One value per header.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_map"
    )]
    pub headers: Option<StringMap>,
    /// Several values per header (`Set-Cookie`); merged with `headers`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_list_map"
    )]
    pub multi_value_headers: Option<MultiValueMap>,
    /// The body: text, or base64 when `isBase64Encoded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether `body` is base64.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_false"
    )]
    pub is_base64_encoded: bool,
}

impl Default for Response {
    fn default() -> Self {
        Self::new(200)
    }
}

impl Response {
    /// An answer with `status_code` and nothing else.
    #[must_use]
    pub fn new(status_code: u16) -> Self {
        Self {
            status_code,
            headers: None,
            multi_value_headers: None,
            body: None,
            is_base64_encoded: false,
        }
    }

    /// Sets a header (one value).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .get_or_insert_with(StringMap::new)
            .insert(name.into(), value.into());
        self
    }

    /// Sets a text body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self.is_base64_encoded = false;
        self
    }

    /// Reads a function's answer as API Gateway does; a
    /// [`ResponseError`](super::ResponseError) where API Gateway answers 502.
    ///
    /// `{}` is malformed (API Gateway refuses it), while an object with only
    /// `headers` is a 200.
    pub fn from_slice(answer: &[u8]) -> Result<Self, super::ResponseError> {
        if is_empty_object(answer) {
            return Err(super::ResponseError::malformed("empty object"));
        }
        serde_json::from_slice(answer).map_err(super::ResponseError::from_json)
    }
}

fn ok() -> u16 {
    200
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_false(b: &bool) -> bool {
    !*b
}

/// Whether `bytes` is `{` whitespace `}`.
pub(crate) fn is_empty_object(bytes: &[u8]) -> bool {
    let mut inner = bytes.iter().filter(|b| !b.is_ascii_whitespace());
    inner.next() == Some(&b'{') && inner.next() == Some(&b'}') && inner.next().is_none()
}

/// A status code: an integer, or a string of one, within 100..=599.
pub(crate) fn status_code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    struct StatusVisitor;
    impl Visitor<'_> for StatusVisitor {
        type Value = u16;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an HTTP status code")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u16, E> {
            u16::try_from(v)
                .ok()
                .filter(|s| (100..=599).contains(s))
                .ok_or_else(|| E::custom("status code out of range"))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u16, E> {
            u64::try_from(v)
                .map_err(|_| E::custom("status code out of range"))
                .and_then(|v| self.visit_u64(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u16, E> {
            v.trim()
                .parse::<u64>()
                .map_err(|_| E::custom("status code is not a number"))
                .and_then(|v| self.visit_u64(v))
        }
    }
    deserializer.deserialize_any(StatusVisitor)
}

/// A header value: a string, or a number or boolean stringified.
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(Some(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// `headers`: `null`, or an object of scalars (nulls dropped).
pub(crate) fn scalar_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<StringMap>, D::Error> {
    struct MapVisitor;
    impl<'de> Visitor<'de> for MapVisitor {
        type Value = Option<StringMap>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of header values")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = StringMap::new();
            while let Some((name, Scalar(value))) = access.next_entry::<String, Scalar>()? {
                if let Some(value) = value {
                    map.insert(name, value);
                }
            }
            Ok(Some(map))
        }
    }
    deserializer.deserialize_any(MapVisitor)
}

/// A list of scalars (a bare string is refused, as API Gateway does).
struct ScalarList(Vec<String>);

impl<'de> Deserialize<'de> for ScalarList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = ScalarList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of header values")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ScalarList, E> {
                Ok(ScalarList(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ScalarList, A::Error> {
                let mut out = Vec::new();
                while let Some(Scalar(value)) = seq.next_element::<Scalar>()? {
                    out.extend(value);
                }
                Ok(ScalarList(out))
            }
        }
        deserializer.deserialize_any(ListVisitor)
    }
}

/// `multiValueHeaders`: `null`, or an object of lists of scalars.
pub(crate) fn scalar_list_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<MultiValueMap>, D::Error> {
    struct MapVisitor;
    impl<'de> Visitor<'de> for MapVisitor {
        type Value = Option<MultiValueMap>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of header value lists")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = MultiValueMap::new();
            while let Some((name, ScalarList(values))) =
                access.next_entry::<String, ScalarList>()?
            {
                map.insert(name, values);
            }
            Ok(Some(map))
        }
    }
    deserializer.deserialize_any(MapVisitor)
}
