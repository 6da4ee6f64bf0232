//! WebSocket API events: what API Gateway sends a function on `$connect`,
//! `$disconnect`, `$default` and custom routes, and what the function
//! answers.
//!
//! `$connect` events carry the upgrade request's headers and query string
//! (1.0-style single and multi-value maps); message events carry the frame
//! in `body`. `requestContext` names the connection (`connectionId`,
//! `eventType`, `routeKey`, `messageId`, …).
//!
//! ```
//! use apigw::events::websocket;
//!
//! let event: websocket::Request = serde_json::from_str(r#"{
//!     "requestContext": {
//!         "routeKey": "sendMessage", "eventType": "MESSAGE", "connectionId": "TWegAcC4EowCHnA=",
//!         "messageDirection": "IN", "stage": "prod", "requestId": "r1", "apiId": "a1",
//!         "connectedAt": 1547230720092, "requestTimeEpoch": 1547230720092
//!     },
//!     "body": "{\"action\":\"sendMessage\",\"data\":\"hi\"}",
//!     "isBase64Encoded": false
//! }"#)?;
//! assert_eq!(event.request_context.event_type.as_deref(), Some("MESSAGE"));
//!
//! let answer = websocket::Response::new(200).with_body("ok");
//! assert_eq!(serde_json::to_value(&answer)?["statusCode"], 200);
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{MultiValueMap, StringMap, null_default};
use super::v1::{Identity, scalar_list_map, scalar_map, status_code};

/// A WebSocket API event.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Request {
    /// The resource (`$connect` events of some APIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The path (`$connect` events of some APIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The method of the upgrade request (`$connect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// The upgrade request's headers (`$connect`, `$disconnect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<StringMap>,
    /// The upgrade request's headers, every value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_value_headers: Option<MultiValueMap>,
    /// The upgrade request's query parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string_parameters: Option<StringMap>,
    /// The upgrade request's query parameters, every value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_value_query_string_parameters: Option<MultiValueMap>,
    /// Path parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_parameters: Option<StringMap>,
    /// Stage variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_variables: Option<StringMap>,
    /// The connection, route and event type.
    #[serde(default)]
    pub request_context: RequestContext,
    /// The message (message routes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether `body` is base64 (binary frames).
    #[serde(default, deserialize_with = "null_default")]
    pub is_base64_encoded: bool,
}

/// `requestContext` of a WebSocket event. Members a given event type does
/// not have are left out.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequestContext {
    /// The AWS account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The API id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    /// The authorizer's output (`$connect` with an authorizer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<Map<String, Value>>,
    /// When the connection was made, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<i64>,
    /// The connection's id, for the `@connections` API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// Why the connection closed (`$disconnect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_reason: Option<String>,
    /// The close status code (`$disconnect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_status_code: Option<i64>,
    /// The host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// An error (as recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `CONNECT`, `MESSAGE` or `DISCONNECT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The extended request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_request_id: Option<String>,
    /// The method of the upgrade request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// The caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// The integration latency (as recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_latency: Option<String>,
    /// `IN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_direction: Option<String>,
    /// The message id (message routes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The time, Common Log Format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_time: Option<String>,
    /// The time, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_time_epoch: Option<i64>,
    /// The resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The resource path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_path: Option<String>,
    /// `$connect`, `$disconnect`, `$default` or a custom route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_key: Option<String>,
    /// The stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// A status (as recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A function's answer to a WebSocket event: the status decides whether a
/// `$connect` is accepted; the body, if a route response is configured, is
/// sent to the client.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Response {
    /// The status. Default: 200.
    #[serde(default = "ok", deserialize_with = "status_code")]
    pub status_code: u16,
    /// Headers (`$connect` only, e.g. `Sec-WebSocket-Protocol`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_map"
    )]
    pub headers: Option<StringMap>,
    /// Headers, several values each.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_list_map"
    )]
    pub multi_value_headers: Option<MultiValueMap>,
    /// The message to send back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether `body` is base64.
    #[serde(default, deserialize_with = "null_default")]
    pub is_base64_encoded: bool,
}

fn ok() -> u16 {
    200
}

impl Default for Response {
    fn default() -> Self {
        Self::new(200)
    }
}

impl Response {
    /// An answer with `status_code`.
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

    /// Sets a text body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self.is_base64_encoded = false;
        self
    }
}
