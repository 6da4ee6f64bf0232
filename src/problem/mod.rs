//! One error format for every rejection: RFC 9457 problem details, built from
//! API Gateway's gateway-response types.
//!
//! Every layer in this crate that turns a request away does so with a
//! [`Rejection`] rendered by one shared [`GatewayResponses`] value. By default
//! the body is an [RFC 9457] `application/problem+json` document:
//!
//! ```json
//! {
//!   "type": "urn:apigw:problem:throttled",
//!   "title": "Too Many Requests",
//!   "status": 429,
//!   "detail": "Too Many Requests",
//!   "instance": "f6a9c7e2-2a4e-4d9b-a1b0-8e6f9d3c1b2a",
//!   "responseType": "THROTTLED",
//!   "requestId": "f6a9c7e2-2a4e-4d9b-a1b0-8e6f9d3c1b2a"
//! }
//! ```
//!
//! For clients written against Amazon API Gateway, [`ResponseStyle::Aws`]
//! answers with API Gateway's own body, `{"message": "Too Many Requests"}`,
//! `Content-Type: application/json`, and the `x-amzn-ErrorType` and
//! `x-amzn-RequestId` headers.
//!
//! # Customising gateway responses
//!
//! As in API Gateway, each [`GatewayResponseType`] can be customised with a
//! status, a problem `type` URI, a title, a detail (the AWS `message`) and
//! extra headers. The fallback rules are API Gateway's:
//!
//! * a type that has its own customisation uses it, and only it;
//! * a type that is not customised inherits a customised
//!   [`DEFAULT_4XX`](GatewayResponseType::Default4xx) or
//!   [`DEFAULT_5XX`](GatewayResponseType::Default5xx) of its family, field by
//!   field, over its built-in defaults;
//! * otherwise the built-in default applies.
//!
//! [`UNAUTHORIZED`](GatewayResponseType::Unauthorized) keeps status 401 when it
//! inherits from `DEFAULT_4XX` (API Gateway answers 401 for it whatever the
//! default says); customise it specifically to change its status.
//!
//! ```
//! use apigw::problem::{GatewayResponses, GatewayResponseType, GatewayResponse, Rejection};
//! use http::StatusCode;
//!
//! let responses = GatewayResponses::builder()
//!     .response(
//!         GatewayResponseType::Default4xx,
//!         GatewayResponse::new().header("access-control-allow-origin", "*")?,
//!     )
//!     .response(
//!         GatewayResponseType::Throttled,
//!         GatewayResponse::new().status(StatusCode::SERVICE_UNAVAILABLE)?,
//!     )
//!     .build();
//!
//! // THROTTLED is customised: its own entry wins, DEFAULT_4XX's header is not added.
//! let throttled = responses.render::<bytes::Bytes>(&Rejection::new(GatewayResponseType::Throttled), None);
//! assert_eq!(throttled.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert!(throttled.headers().get("access-control-allow-origin").is_none());
//!
//! // INVALID_API_KEY is not: it inherits DEFAULT_4XX's header and keeps its 403.
//! let invalid = responses.render::<bytes::Bytes>(&Rejection::new(GatewayResponseType::InvalidApiKey), None);
//! assert_eq!(invalid.status(), StatusCode::FORBIDDEN);
//! assert_eq!(invalid.headers()["access-control-allow-origin"], "*");
//! # Ok::<(), apigw::ConfigError>(())
//! ```
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::identity::RequestId;

/// `application/problem+json`, the media type of an RFC 9457 problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The `type` of a problem that has no more specific type (RFC 9457 §4.2.1).
pub const ABOUT_BLANK: &str = "about:blank";

/// Prefix of the problem `type` URIs this crate uses by default.
///
/// Each [`GatewayResponseType`] has one (`urn:apigw:problem:throttled`), and
/// layers that distinguish finer kinds append to it
/// (`urn:apigw:problem:unauthorized:expired-token`). They are stable: tests and
/// clients may match on them. Override them per type with
/// [`GatewayResponse::problem_type`].
pub const PROBLEM_TYPE_PREFIX: &str = "urn:apigw:problem:";

const STANDARD_MEMBERS: [&str; 5] = ["type", "title", "status", "detail", "instance"];

/// An RFC 9457 problem details document.
///
/// The standard members are fields; anything else is an extension member.
/// Two invariants hold by construction:
///
/// * `status` is the HTTP status of the response built from the problem
///   ([`ProblemDetails::into_response`] uses it for both);
/// * extension members never shadow a standard member: an extension named
///   `type`, `title`, `status`, `detail` or `instance` is refused.
///
/// `type` defaults to `about:blank`, in which case the title defaults to the
/// status' reason phrase.
///
/// ```
/// use apigw::problem::ProblemDetails;
/// use http::StatusCode;
///
/// let problem = ProblemDetails::new(StatusCode::NOT_FOUND)
///     .with_detail("no order 42")
///     .with_extension("orderId", 42);
/// let json: serde_json::Value = serde_json::to_value(&problem).unwrap();
/// assert_eq!(json["type"], "about:blank");
/// assert_eq!(json["title"], "Not Found");
/// assert_eq!(json["status"], 404);
/// assert_eq!(json["orderId"], 42);
///
/// // Extensions cannot overwrite standard members.
/// let problem = problem.with_extension("status", 200);
/// assert_eq!(serde_json::to_value(&problem).unwrap()["status"], 404);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ProblemDetails {
    problem_type: Cow<'static, str>,
    title: Option<Cow<'static, str>>,
    status: StatusCode,
    detail: Option<Cow<'static, str>>,
    instance: Option<String>,
    extensions: Map<String, Value>,
}

impl ProblemDetails {
    /// A problem of type `about:blank` with the given status.
    #[must_use]
    pub fn new(status: StatusCode) -> Self {
        Self {
            problem_type: Cow::Borrowed(ABOUT_BLANK),
            title: None,
            status,
            detail: None,
            instance: None,
            extensions: Map::new(),
        }
    }

    /// Sets the `type` URI. Default: `about:blank`.
    #[must_use]
    pub fn with_type(mut self, uri: impl Into<Cow<'static, str>>) -> Self {
        self.problem_type = uri.into();
        self
    }

    /// Sets the `title`. Default: the status' reason phrase when the type is
    /// `about:blank`, none otherwise.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the `detail`, an explanation of this occurrence.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the `instance`, a URI reference identifying this occurrence.
    #[must_use]
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Adds an extension member. A name that is a standard member is refused
    /// (the problem is returned unchanged and the attempt is logged at debug
    /// level), so an extension can never shadow `type`, `title`, `status`,
    /// `detail` or `instance`.
    #[must_use]
    pub fn with_extension(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if STANDARD_MEMBERS.contains(&name.as_str()) {
            tracing::debug!(member = %name, "refused a problem extension that shadows a standard member");
        } else {
            self.extensions.insert(name, value.into());
        }
        self
    }

    /// The `type` URI.
    #[must_use]
    pub fn problem_type(&self) -> &str {
        &self.problem_type
    }

    /// The `title`, with the `about:blank` default applied.
    #[must_use]
    pub fn title(&self) -> Option<&str> {
        match &self.title {
            Some(title) => Some(title),
            None if self.problem_type == ABOUT_BLANK => self.status.canonical_reason(),
            None => None,
        }
    }

    /// The HTTP status, which is also the `status` member.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `detail`.
    #[must_use]
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The `instance`.
    #[must_use]
    pub fn instance(&self) -> Option<&str> {
        self.instance.as_deref()
    }

    /// The extension members.
    #[must_use]
    pub fn extensions(&self) -> &Map<String, Value> {
        &self.extensions
    }

    /// The extension member `name`.
    #[must_use]
    pub fn extension(&self, name: &str) -> Option<&Value> {
        self.extensions.get(name)
    }

    /// The JSON text of the document.
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        // Serializing a `Map` of `Value`s and strings cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// An `application/problem+json` response whose status is the problem's.
    #[must_use]
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let mut response = Response::new(B::from(self.to_bytes()));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl Serialize for ProblemDetails {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", &self.problem_type)?;
        if let Some(title) = self.title() {
            map.serialize_entry("title", title)?;
        }
        map.serialize_entry("status", &self.status.as_u16())?;
        if let Some(detail) = &self.detail {
            map.serialize_entry("detail", detail)?;
        }
        if let Some(instance) = &self.instance {
            map.serialize_entry("instance", instance)?;
        }
        for (name, value) in &self.extensions {
            // Unreachable through the builder, kept as a second line of defence.
            if !STANDARD_MEMBERS.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ProblemDetails {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProblemVisitor;

        impl<'de> Visitor<'de> for ProblemVisitor {
            type Value = ProblemDetails;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 9457 problem details object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut problem_type = None;
                let mut title = None;
                let mut status = None;
                let mut detail = None;
                let mut instance = None;
                let mut extensions = Map::new();
                while let Some(name) = access.next_key::<String>()? {
                    // RFC 9457 §3.1: a standard member of the wrong type is ignored.
                    match name.as_str() {
                        "type" => {
                            problem_type =
                                access.next_value::<Value>()?.as_str().map(str::to_owned);
                        }
                        "title" => {
                            title = access.next_value::<Value>()?.as_str().map(str::to_owned);
                        }
                        "detail" => {
                            detail = access.next_value::<Value>()?.as_str().map(str::to_owned);
                        }
                        "instance" => {
                            instance = access.next_value::<Value>()?.as_str().map(str::to_owned);
                        }
                        "status" => {
                            status = access
                                .next_value::<Value>()?
                                .as_u64()
                                .and_then(|code| u16::try_from(code).ok())
                                .and_then(|code| StatusCode::from_u16(code).ok());
                        }
                        _ => {
                            let value = access.next_value()?;
                            extensions.insert(name, value);
                        }
                    }
                }
                let status = status.ok_or_else(|| de::Error::missing_field("status"))?;
                Ok(ProblemDetails {
                    problem_type: problem_type.map_or(Cow::Borrowed(ABOUT_BLANK), Cow::Owned),
                    title: title.map(Cow::Owned),
                    status,
                    detail: detail.map(Cow::Owned),
                    instance,
                    extensions,
                })
            }
        }

        deserializer.deserialize_map(ProblemVisitor)
    }
}

/// The family a gateway response type falls back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseFamily {
    /// Client errors: fall back to `DEFAULT_4XX`.
    ClientError,
    /// Server errors: fall back to `DEFAULT_5XX`.
    ServerError,
}

macro_rules! gateway_response_types {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $name:literal, $slug:literal, $status:expr, $family:expr,
            $title:literal, $message:expr, $error_type:literal;
    )*) => {
        /// API Gateway's gateway response types: every way the gateway itself
        /// answers instead of the backend.
        ///
        /// The names, default statuses and default messages are API Gateway's
        /// (`GatewayResponse.responseType`). [`ResponseStyle::Aws`] bodies use the
        /// default message; problem bodies use [`title`](Self::title) and a
        /// stable [`problem_type`](Self::problem_type) URI.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum GatewayResponseType {
            $( $(#[$doc])* $variant, )*
        }

        impl GatewayResponseType {
            /// Every type, in API Gateway's alphabetical order.
            pub const ALL: [GatewayResponseType; gateway_response_types!(@count $($variant)*)] =
                [$(GatewayResponseType::$variant),*];

            /// API Gateway's name for the type, e.g. `THROTTLED`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// The built-in status; `None` for `DEFAULT_4XX` and `DEFAULT_5XX`,
            /// which have none until customised.
            #[must_use]
            pub const fn default_status(self) -> Option<StatusCode> {
                match self { $(Self::$variant => $status,)* }
            }

            /// The family whose `DEFAULT_xXX` customisation this type inherits.
            /// `None` for `DEFAULT_4XX` and `DEFAULT_5XX` themselves.
            #[must_use]
            pub const fn family(self) -> Option<ResponseFamily> {
                match self { $(Self::$variant => $family,)* }
            }

            /// The problem `title`.
            #[must_use]
            pub const fn title(self) -> &'static str {
                match self { $(Self::$variant => $title,)* }
            }

            /// API Gateway's default `message`; `None` where API Gateway answers
            /// `{"message": null}`.
            #[must_use]
            pub const fn default_message(self) -> Option<&'static str> {
                match self { $(Self::$variant => $message,)* }
            }

            /// The `x-amzn-ErrorType` header API Gateway sends with this type.
            #[must_use]
            pub const fn error_type(self) -> &'static str {
                match self { $(Self::$variant => $error_type,)* }
            }

            /// The stable problem `type` URI, e.g. `urn:apigw:problem:throttled`.
            #[must_use]
            pub const fn problem_type(self) -> &'static str {
                match self { $(Self::$variant => concat!("urn:apigw:problem:", $slug),)* }
            }
        }

        impl FromStr for GatewayResponseType {
            type Err = ConfigError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Self::$variant),)*
                    _ => Err(ConfigError::new(format!("unknown gateway response type `{s}`"))),
                }
            }
        }
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + gateway_response_types!(@count $($tail)*) };
}

use ResponseFamily::{ClientError, ServerError};

gateway_response_types! {
    /// 403: the authorizer or a resource policy denied the request.
    AccessDenied = "ACCESS_DENIED", "access-denied", Some(StatusCode::FORBIDDEN), Some(ClientError),
        "Access Denied", Some("User is not authorized to access this resource"), "AccessDeniedException";
    /// 500: the API's configuration is invalid.
    ApiConfigurationError = "API_CONFIGURATION_ERROR", "api-configuration-error",
        Some(StatusCode::INTERNAL_SERVER_ERROR), Some(ServerError),
        "API Configuration Error", Some("Internal server error"), "ApiConfigurationException";
    /// 500: the custom authorizer could not be called or answered invalidly.
    AuthorizerConfigurationError = "AUTHORIZER_CONFIGURATION_ERROR", "authorizer-configuration-error",
        Some(StatusCode::INTERNAL_SERVER_ERROR), Some(ServerError),
        "Authorizer Configuration Error", None, "AuthorizerConfigurationException";
    /// 500: the authorizer failed to authenticate the caller.
    AuthorizerFailure = "AUTHORIZER_FAILURE", "authorizer-failure",
        Some(StatusCode::INTERNAL_SERVER_ERROR), Some(ServerError),
        "Authorizer Failure", Some("Internal server error"), "AuthorizerFailureException";
    /// 400: the body failed validation against the route's model.
    BadRequestBody = "BAD_REQUEST_BODY", "bad-request-body", Some(StatusCode::BAD_REQUEST), Some(ClientError),
        "Invalid Request Body", Some("Invalid request body"), "BadRequestException";
    /// 400: required request parameters are missing.
    BadRequestParameters = "BAD_REQUEST_PARAMETERS", "bad-request-parameters",
        Some(StatusCode::BAD_REQUEST), Some(ClientError),
        "Missing Required Request Parameters", Some("Missing required request parameters"), "BadRequestException";
    /// The default for every 4xx type that is not customised; no status of its own.
    Default4xx = "DEFAULT_4XX", "default-4xx", None, None,
        "Client Error", None, "ClientErrorException";
    /// The default for every 5xx type that is not customised; no status of its own.
    Default5xx = "DEFAULT_5XX", "default-5xx", None, None,
        "Server Error", Some("Internal server error"), "InternalServerErrorException";
    /// 403: the token has expired.
    ExpiredToken = "EXPIRED_TOKEN", "expired-token", Some(StatusCode::FORBIDDEN), Some(ClientError),
        "Expired Token", Some("The security token included in the request is expired"), "ExpiredTokenException";
    /// 504: the integration failed.
    IntegrationFailure = "INTEGRATION_FAILURE", "integration-failure",
        Some(StatusCode::GATEWAY_TIMEOUT), Some(ServerError),
        "Integration Failure", Some("Internal server error"), "InternalServerErrorException";
    /// 504: the integration timed out.
    IntegrationTimeout = "INTEGRATION_TIMEOUT", "integration-timeout",
        Some(StatusCode::GATEWAY_TIMEOUT), Some(ServerError),
        "Integration Timeout", Some("Endpoint request timed out"), "InternalServerErrorException";
    /// 403: the API key is missing, unknown, disabled or not in a plan for this stage.
    InvalidApiKey = "INVALID_API_KEY", "invalid-api-key", Some(StatusCode::FORBIDDEN), Some(ClientError),
        "Invalid API Key", Some("Forbidden"), "ForbiddenException";
    /// 403: the request signature is invalid.
    InvalidSignature = "INVALID_SIGNATURE", "invalid-signature", Some(StatusCode::FORBIDDEN), Some(ClientError),
        "Invalid Signature",
        Some("The request signature we calculated does not match the signature you provided"),
        "InvalidSignatureException";
    /// 403: no route matches (API Gateway answers this before any authorization).
    MissingAuthenticationToken = "MISSING_AUTHENTICATION_TOKEN", "missing-authentication-token",
        Some(StatusCode::FORBIDDEN), Some(ClientError),
        "Missing Authentication Token", Some("Missing Authentication Token"),
        "MissingAuthenticationTokenException";
    /// 429: the usage plan's quota is spent.
    QuotaExceeded = "QUOTA_EXCEEDED", "quota-exceeded", Some(StatusCode::TOO_MANY_REQUESTS), Some(ClientError),
        "Quota Exceeded", Some("Limit Exceeded"), "LimitExceededException";
    /// 413: the request is too large.
    RequestTooLarge = "REQUEST_TOO_LARGE", "request-too-large", Some(StatusCode::PAYLOAD_TOO_LARGE),
        Some(ClientError), "Request Too Large", Some("Request Too Long"), "RequestTooLargeException";
    /// 404: the resource was not found after authorization.
    ResourceNotFound = "RESOURCE_NOT_FOUND", "resource-not-found", Some(StatusCode::NOT_FOUND), Some(ClientError),
        "Not Found", Some("Not Found"), "NotFoundException";
    /// 429: a throttle rejected the request.
    Throttled = "THROTTLED", "throttled", Some(StatusCode::TOO_MANY_REQUESTS), Some(ClientError),
        "Too Many Requests", Some("Too Many Requests"), "TooManyRequestsException";
    /// 401: the caller is not authenticated.
    Unauthorized = "UNAUTHORIZED", "unauthorized", Some(StatusCode::UNAUTHORIZED), Some(ClientError),
        "Unauthorized", Some("Unauthorized"), "UnauthorizedException";
    /// 415: the body's media type is not accepted.
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", "unsupported-media-type",
        Some(StatusCode::UNSUPPORTED_MEDIA_TYPE), Some(ClientError),
        "Unsupported Media Type", Some("Unsupported Media Type"), "UnsupportedMediaTypeException";
    /// 403: a web application firewall rule blocked the request.
    WafFiltered = "WAF_FILTERED", "waf-filtered", Some(StatusCode::FORBIDDEN), Some(ClientError),
        "Forbidden", Some("Forbidden"), "WafFilteredException";
}

impl fmt::Display for GatewayResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for GatewayResponseType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for GatewayResponseType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(de::Error::custom)
    }
}

/// Which body a rejection is rendered with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResponseStyle {
    /// RFC 9457 `application/problem+json`. Default.
    #[default]
    Problem,
    /// API Gateway's `{"message": …}` with `Content-Type: application/json`,
    /// `x-amzn-ErrorType` and `x-amzn-RequestId`.
    Aws,
}

/// A customisation of one gateway response type: what API Gateway's
/// `PutGatewayResponse` sets, plus the problem `type` and `title`.
///
/// Every field is optional; an unset field keeps the inherited or built-in
/// value.
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct GatewayResponse {
    status: Option<StatusCode>,
    problem_type: Option<Cow<'static, str>>,
    title: Option<Cow<'static, str>>,
    detail: Option<Cow<'static, str>>,
    headers: HeaderMap,
}

impl GatewayResponse {
    /// An empty customisation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the status. Only 4xx and 5xx statuses are accepted, as API
    /// Gateway's `[1-5]\d\d` pattern allows but a rejection never means 1xx–3xx.
    pub fn status(mut self, status: StatusCode) -> Result<Self, ConfigError> {
        if !(status.is_client_error() || status.is_server_error()) {
            return Err(ConfigError::new(format!(
                "a gateway response status must be 4xx or 5xx, not {status}"
            )));
        }
        self.status = Some(status);
        Ok(self)
    }

    /// Sets the problem `type` URI.
    pub fn problem_type(mut self, uri: impl Into<Cow<'static, str>>) -> Self {
        self.problem_type = Some(uri.into());
        self
    }

    /// Sets the problem `title`.
    pub fn title(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the detail: the problem's `detail` and the AWS body's `message`.
    /// It replaces the occurrence-specific detail a layer would give.
    pub fn detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a static response header.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, ConfigError> {
        let name = HeaderName::from_str(name)
            .map_err(|_| ConfigError::new(format!("invalid header name `{name}`")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| ConfigError::new(format!("invalid value for header `{name}`")))?;
        self.headers.append(name, value);
        Ok(self)
    }
}

/// One occurrence of a gateway response: the type plus what the layer that
/// rejected knows about this request.
///
/// A layer builds a `Rejection` and renders it with its [`GatewayResponses`].
/// The rejection is also inserted into the response's extensions, so outer
/// layers, access logs and tests can read what happened without parsing the
/// body.
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Rejection {
    response_type: GatewayResponseType,
    problem_type: Option<Cow<'static, str>>,
    status: Option<StatusCode>,
    detail: Option<Cow<'static, str>>,
    message: Option<Cow<'static, str>>,
    extensions: Map<String, Value>,
    headers: HeaderMap,
}

impl Rejection {
    /// A rejection of the given type with its defaults.
    pub fn new(response_type: GatewayResponseType) -> Self {
        Self {
            response_type,
            problem_type: None,
            status: None,
            detail: None,
            message: None,
            extensions: Map::new(),
            headers: HeaderMap::new(),
        }
    }

    /// A finer problem `type` for this kind of rejection, used unless the
    /// response type's `type` is customised. Layers use
    /// `urn:apigw:problem:<type>:<kind>`.
    pub fn with_problem_type(mut self, uri: impl Into<Cow<'static, str>>) -> Self {
        self.problem_type = Some(uri.into());
        self
    }

    /// The status of this occurrence, when it differs from the type's
    /// built-in default (API Gateway answers a malformed Lambda proxy response
    /// with `INTEGRATION_FAILURE` as 502, for example) or the type has none
    /// (`DEFAULT_4XX`, `DEFAULT_5XX`). A customised status still wins.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The problem `detail` for this occurrence. Never put secrets, tokens
    /// or upstream error text here: it reaches the client.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The AWS-style `message` for this occurrence, when it differs from the
    /// type's default (e.g. `Missing required request parameters: [q]`).
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// An extension member of the problem body (ignored in AWS style).
    /// Standard member names and the reserved `responseType` / `requestId`
    /// are refused.
    pub fn with_extension(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if !STANDARD_MEMBERS.contains(&name.as_str())
            && name != "responseType"
            && name != "requestId"
        {
            self.extensions.insert(name, value.into());
        }
        self
    }

    /// A header this occurrence needs (`Retry-After`, `WWW-Authenticate`, …).
    /// It is sent in both styles and is not replaced by customisations.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The gateway response type.
    #[must_use]
    pub fn response_type(&self) -> GatewayResponseType {
        self.response_type
    }

    /// The occurrence's problem `type`, if it has a finer one.
    #[must_use]
    pub fn problem_type(&self) -> Option<&str> {
        self.problem_type.as_deref()
    }

    /// The occurrence's detail.
    #[must_use]
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The occurrence's AWS-style message.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The occurrence's extension members.
    #[must_use]
    pub fn extensions(&self) -> &Map<String, Value> {
        &self.extensions
    }

    /// The occurrence's headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl From<GatewayResponseType> for Rejection {
    fn from(response_type: GatewayResponseType) -> Self {
        Rejection::new(response_type)
    }
}

/// The one value every layer uses to build a rejection. Cheap to clone.
///
/// `GatewayResponses::default()` renders RFC 9457 problems with the built-in
/// defaults; [`GatewayResponses::aws`] renders API Gateway's bodies. Use
/// [`GatewayResponses::builder`] to customise types as API Gateway's gateway
/// responses do; see the [module docs](self) for the fallback rules.
#[derive(Clone, Debug, Default)]
pub struct GatewayResponses {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    style: ResponseStyle,
    overrides: HashMap<GatewayResponseType, GatewayResponse>,
}

impl GatewayResponses {
    /// Built-in defaults, problem+json bodies.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Built-in defaults, API Gateway's `{"message": …}` bodies.
    #[must_use]
    pub fn aws() -> Self {
        Self::builder().style(ResponseStyle::Aws).build()
    }

    /// A builder for customised responses.
    pub fn builder() -> GatewayResponsesBuilder {
        GatewayResponsesBuilder::default()
    }

    /// The body style.
    #[must_use]
    pub fn style(&self) -> ResponseStyle {
        self.inner.style
    }

    /// The customisation that applies to `response_type` after API Gateway's
    /// fallback rules, or `None` when the built-in default applies.
    #[must_use]
    pub fn effective(&self, response_type: GatewayResponseType) -> Option<GatewayResponse> {
        let own = self.inner.overrides.get(&response_type);
        if own.is_some() {
            return own.cloned();
        }
        let default = match response_type.family()? {
            ClientError => GatewayResponseType::Default4xx,
            ServerError => GatewayResponseType::Default5xx,
        };
        let mut inherited = self.inner.overrides.get(&default)?.clone();
        if response_type == GatewayResponseType::Unauthorized {
            inherited.status = None;
        }
        Some(inherited)
    }

    /// The status a rejection is answered with.
    #[must_use]
    pub fn status(&self, rejection: &Rejection) -> StatusCode {
        let effective = self.effective(rejection.response_type);
        Self::status_of(rejection, effective.as_ref())
    }

    fn status_of(rejection: &Rejection, effective: Option<&GatewayResponse>) -> StatusCode {
        effective
            .and_then(|e| e.status)
            .or(rejection.status)
            .or(rejection.response_type.default_status())
            .unwrap_or(match rejection.response_type {
                GatewayResponseType::Default5xx => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            })
    }

    /// The problem document for a rejection (also what the AWS style's
    /// `message` is taken from).
    #[must_use]
    pub fn problem(&self, rejection: &Rejection, request_id: Option<&RequestId>) -> ProblemDetails {
        let effective = self.effective(rejection.response_type);
        self.problem_with(rejection, effective.as_ref(), request_id)
    }

    fn problem_with(
        &self,
        rejection: &Rejection,
        effective: Option<&GatewayResponse>,
        request_id: Option<&RequestId>,
    ) -> ProblemDetails {
        let ty = rejection.response_type;
        let status = Self::status_of(rejection, effective);
        let problem_type = effective
            .and_then(|e| e.problem_type.clone())
            .or_else(|| rejection.problem_type.clone())
            .unwrap_or(Cow::Borrowed(ty.problem_type()));
        let title = effective
            .and_then(|e| e.title.clone())
            .unwrap_or(Cow::Borrowed(ty.title()));
        let detail = effective
            .and_then(|e| e.detail.clone())
            .or_else(|| rejection.detail.clone())
            .or_else(|| rejection.message.clone())
            .or_else(|| ty.default_message().map(Cow::Borrowed));
        let mut problem = ProblemDetails::new(status)
            .with_type(problem_type)
            .with_title(title);
        if let Some(detail) = detail {
            problem = problem.with_detail(detail);
        }
        problem = problem.with_extension("responseType", ty.as_str());
        if let Some(id) = request_id {
            problem = problem
                .with_instance(id.as_uri_reference())
                .with_extension("requestId", id.as_str());
        }
        for (name, value) in &rejection.extensions {
            problem = problem.with_extension(name.clone(), value.clone());
        }
        problem
    }

    /// Renders a rejection as a response with any body type built from
    /// `Bytes`. The [`Rejection`] is inserted into the response extensions.
    ///
    /// Layers use [`GatewayResponses::reject`], which also finds the request
    /// id; this is the lower-level entry point.
    pub fn render<B: From<Bytes>>(
        &self,
        rejection: &Rejection,
        request_id: Option<&RequestId>,
    ) -> Response<B> {
        let effective = self.effective(rejection.response_type);
        let problem = self.problem_with(rejection, effective.as_ref(), request_id);
        let status = problem.status();
        let mut response = match self.inner.style {
            ResponseStyle::Problem => problem.into_response::<B>(),
            ResponseStyle::Aws => {
                let message: Option<Cow<'_, str>> = effective
                    .as_ref()
                    .and_then(|e| e.detail.clone())
                    .or_else(|| rejection.message.clone())
                    .or_else(|| rejection.response_type.default_message().map(Cow::Borrowed));
                let body = serde_json::json!({ "message": message });
                let mut response = Response::new(B::from(Bytes::from(body.to_string())));
                *response.status_mut() = status;
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(
                    HeaderName::from_static("x-amzn-errortype"),
                    HeaderValue::from_static(rejection.response_type.error_type()),
                );
                if let Some(id) = request_id {
                    headers.insert(
                        HeaderName::from_static("x-amzn-requestid"),
                        id.header_value(),
                    );
                }
                response
            }
        };
        let headers = response.headers_mut();
        if let Some(effective) = &effective {
            for (name, value) in &effective.headers {
                headers.append(name, value.clone());
            }
        }
        for (name, value) in &rejection.headers {
            headers.append(name, value.clone());
        }
        response.extensions_mut().insert(rejection.clone());
        response
    }

    /// Renders a rejection for `request`, with its request id (see
    /// [`RequestId::find`]; a fresh one when it has none), as a response whose body is the [`GatewayBody`] of any
    /// inner body type. This is what layers call from `Service::call`.
    ///
    /// [`GatewayBody`]: crate::body::GatewayBody
    pub fn reject<ReqBody, B>(
        &self,
        rejection: &Rejection,
        request: &http::Request<ReqBody>,
    ) -> Response<crate::body::GatewayBody<B>> {
        let id = RequestId::find(request.extensions(), request.headers()).unwrap_or_default();
        self.render(rejection, Some(&id))
    }
}

/// Builds a [`GatewayResponses`].
#[derive(Debug, Default)]
#[must_use]
pub struct GatewayResponsesBuilder {
    style: ResponseStyle,
    overrides: HashMap<GatewayResponseType, GatewayResponse>,
}

impl GatewayResponsesBuilder {
    /// The body style. Default: [`ResponseStyle::Problem`].
    pub fn style(mut self, style: ResponseStyle) -> Self {
        self.style = style;
        self
    }

    /// Customises one response type, replacing an earlier customisation.
    pub fn response(
        mut self,
        response_type: GatewayResponseType,
        response: GatewayResponse,
    ) -> Self {
        self.overrides.insert(response_type, response);
        self
    }

    /// The finished value.
    #[must_use]
    pub fn build(self) -> GatewayResponses {
        GatewayResponses {
            inner: Arc::new(Inner {
                style: self.style,
                overrides: self.overrides,
            }),
        }
    }
}

/// Gateway responses as configuration, in API Gateway's vocabulary:
///
/// ```json
/// {
///   "style": "aws",
///   "responses": {
///     "DEFAULT_4XX": { "responseParameters": { "Access-Control-Allow-Origin": "*" } },
///     "THROTTLED": { "statusCode": 503, "title": "Slow down" }
///   }
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayResponsesConfig {
    /// The body style. Default: `problem`.
    #[serde(default)]
    pub style: ResponseStyle,
    /// Customisations by response type.
    #[serde(default)]
    pub responses: HashMap<GatewayResponseType, GatewayResponseConfig>,
}

/// One customised response type, in API Gateway's vocabulary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayResponseConfig {
    /// The status code.
    #[serde(default)]
    pub status_code: Option<u16>,
    /// The problem `type` URI.
    #[serde(default, rename = "type")]
    pub problem_type: Option<String>,
    /// The problem `title`.
    #[serde(default)]
    pub title: Option<String>,
    /// The detail / AWS `message`.
    #[serde(default)]
    pub message: Option<String>,
    /// Static response headers, by name.
    #[serde(default)]
    pub response_parameters: HashMap<String, String>,
}

impl TryFrom<GatewayResponsesConfig> for GatewayResponses {
    type Error = ConfigError;

    fn try_from(config: GatewayResponsesConfig) -> Result<Self, ConfigError> {
        let mut builder = GatewayResponses::builder().style(config.style);
        for (response_type, entry) in config.responses {
            let mut response = GatewayResponse::new();
            if let Some(code) = entry.status_code {
                let status = StatusCode::from_u16(code).map_err(|_| {
                    ConfigError::new(format!("invalid status code {code} for {response_type}"))
                })?;
                response = response.status(status)?;
            }
            if let Some(uri) = entry.problem_type {
                response = response.problem_type(uri);
            }
            if let Some(title) = entry.title {
                response = response.title(title);
            }
            if let Some(message) = entry.message {
                response = response.detail(message);
            }
            for (name, value) in &entry.response_parameters {
                response = response.header(name, value)?;
            }
            builder = builder.response(response_type, response);
        }
        Ok(builder.build())
    }
}

#[cfg(test)]
mod tests;
