//! Function answer → `http::Response`, for payload formats 1.0 and 2.0.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::request::EventOptions;
use super::{v1, v2};

/// Why a function's answer cannot become an HTTP response.
///
/// API Gateway answers these with a generic 5xx (502 for format 1.0, 500 for
/// 2.0; 500 `API_CONFIGURATION_ERROR` for bad base64 under binary support).
/// The [`Display`](fmt::Display) text is for logs only: it may quote the
/// function's output and must never reach a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseError {
    kind: ResponseErrorKind,
    reason: String,
}

/// The kind of a [`ResponseError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseErrorKind {
    /// Not a response API Gateway accepts (not JSON, `{}`, unknown keys,
    /// bad `statusCode`, wrong types).
    Malformed,
    /// `isBase64Encoded` with a body that is not base64.
    InvalidBase64,
}

impl ResponseError {
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self {
            kind: ResponseErrorKind::Malformed,
            reason: reason.into(),
        }
    }

    #[allow(clippy::needless_pass_by_value)] // used as `map_err(ResponseError::from_json)`
    pub(crate) fn from_json(err: serde_json::Error) -> Self {
        Self::malformed(err.to_string())
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> ResponseErrorKind {
        self.kind
    }
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ResponseErrorKind::Malformed => {
                write!(f, "malformed Lambda proxy response: {}", self.reason)
            }
            ResponseErrorKind::InvalidBase64 => {
                write!(
                    f,
                    "invalid base64 body in Lambda proxy response: {}",
                    self.reason
                )
            }
        }
    }
}

impl std::error::Error for ResponseError {}

/// Headers a function may not set: they describe the connection or a body
/// length the gateway computes itself.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "content-length"
            | "transfer-encoding"
            | "keep-alive"
            | "upgrade"
            | "te"
            | "trailer"
    )
}

/// Appends a header, skipping (and logging) names and values HTTP cannot carry.
fn append(headers: &mut HeaderMap, name: &str, value: &str) {
    let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
        tracing::warn!("dropped a response header with an invalid name from the function");
        return;
    };
    if is_hop_by_hop(&name) {
        tracing::debug!(header = %name, "dropped a hop-by-hop response header from the function");
        return;
    }
    match HeaderValue::from_str(value) {
        Ok(value) => {
            headers.append(name, value);
        }
        Err(_) => {
            tracing::warn!(header = %name, "dropped a response header with an invalid value from the function");
        }
    }
}

fn status(code: u16) -> Result<StatusCode, ResponseError> {
    StatusCode::from_u16(code).map_err(|_| ResponseError::malformed("status code out of range"))
}

fn decode_base64(body: &str) -> Result<Bytes, ResponseError> {
    BASE64
        .decode(body.trim())
        .map(Bytes::from)
        .map_err(|err| ResponseError {
            kind: ResponseErrorKind::InvalidBase64,
            reason: err.to_string(),
        })
}

fn first_accept(request_headers: &HeaderMap) -> Option<&str> {
    request_headers
        .get(ACCEPT)?
        .to_str()
        .ok()?
        .split(',')
        .next()
        .map(str::trim)
}

impl v1::Response {
    /// The HTTP response API Gateway makes of this answer.
    ///
    /// `headers` and `multiValueHeaders` are merged, multi-value first; a
    /// `headers` value already among the same header's multi values (names
    /// compared case-insensitively) is not repeated. Without a
    /// `Content-Type` the response is `application/json`, as on AWS. A
    /// base64 body is decoded only when binary support is enacted: binary
    /// media types are configured and the request's first `Accept` type or
    /// the answer's `Content-Type` is one of them; otherwise the base64 text
    /// is the body, as API Gateway sends it.
    pub fn into_http(
        self,
        request_headers: &HeaderMap,
        options: &EventOptions,
    ) -> Result<http::Response<Bytes>, ResponseError> {
        let status = status(self.status_code)?;
        let mut headers = HeaderMap::new();
        if let Some(multi) = &self.multi_value_headers {
            for (name, values) in multi {
                for value in values {
                    append(&mut headers, name, value);
                }
            }
        }
        if let Some(single) = &self.headers {
            for (name, value) in single {
                let repeated = HeaderName::from_bytes(name.as_bytes()).is_ok_and(|name| {
                    headers
                        .get_all(&name)
                        .iter()
                        .any(|existing| existing.as_bytes() == value.as_bytes())
                });
                if !repeated {
                    append(&mut headers, name, value);
                }
            }
        }
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let body = match self.body {
            None => Bytes::new(),
            Some(body) if self.is_base64_encoded && options.has_binary_media_types() => {
                let accept = first_accept(request_headers).is_some_and(|a| options.is_binary(a));
                let content_type = headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|ct| options.is_binary(ct));
                if accept || content_type {
                    decode_base64(&body)?
                } else {
                    Bytes::from(body)
                }
            }
            Some(body) => Bytes::from(body),
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

impl v2::Response {
    /// The HTTP response API Gateway makes of this answer: each cookie its
    /// own `Set-Cookie` header (never comma-joined), a base64 body always
    /// decoded when `isBase64Encoded`.
    pub fn into_http(self) -> Result<http::Response<Bytes>, ResponseError> {
        let status = status(self.status_code)?;
        let mut headers = HeaderMap::new();
        if let Some(single) = &self.headers {
            for (name, value) in single {
                append(&mut headers, name, value);
            }
        }
        for cookie in self.cookies.iter().flatten() {
            match HeaderValue::from_str(cookie) {
                Ok(value) => {
                    headers.append(SET_COOKIE, value);
                }
                Err(_) => tracing::warn!("dropped an invalid cookie from the function"),
            }
        }
        let body = match self.body {
            None => Bytes::new(),
            Some(body) if self.is_base64_encoded => decode_base64(&body)?,
            Some(body) => Bytes::from(body),
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
