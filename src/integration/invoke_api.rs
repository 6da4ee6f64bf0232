//! An HTTP client for the Lambda Invoke API.

use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use super::{FunctionError, Invoke, InvokeError, InvokeFuture};
use crate::ConfigError;

/// The characters left as they are in the function name's path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':');

/// Lambda's limit on a synchronous answer, 6 MB.
const DEFAULT_MAX_ANSWER: usize = 6 * 1024 * 1024;

/// Calls a function through the Lambda Invoke API,
/// `POST {endpoint}/2015-03-31/functions/{name}/invocations`, as
/// Lambda-compatible local runtimes serve it (the runtime interface
/// emulator, SAM local, LocalStack).
///
/// * An answer with `X-Amz-Function-Error` is a
///   [`FunctionError`](InvokeError::Function) (502 through the integration).
/// * A refused or dropped connection is
///   [`Unreachable`](InvokeError::Unreachable) (`INTEGRATION_FAILURE`).
/// * An answer over [`max_answer_bytes`](HttpInvokerBuilder::max_answer_bytes)
///   is [`TooLarge`](InvokeError::TooLarge), read no further.
/// * Another status is [`Other`](InvokeError::Other).
/// * Redirects are never followed.
///
/// Requests are not SigV4-signed: point it at local runtimes, not at AWS.
///
/// ```
/// use apigw::integration::HttpInvoker;
///
/// let invoker = HttpInvoker::builder()
///     .endpoint("http://127.0.0.1:9001")
///     .function_name("orders")
///     .build()?;
/// assert_eq!(
///     invoker.url(),
///     "http://127.0.0.1:9001/2015-03-31/functions/orders/invocations"
/// );
/// assert!(HttpInvoker::builder().endpoint("ftp://x").function_name("f").build().is_err());
/// # Ok::<(), apigw::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct HttpInvoker {
    client: reqwest::Client,
    url: String,
    max_answer_bytes: usize,
}

impl fmt::Debug for HttpInvoker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpInvoker")
            .field("url", &self.url)
            .field("max_answer_bytes", &self.max_answer_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpInvoker {
    /// A builder.
    pub fn builder() -> HttpInvokerBuilder {
        HttpInvokerBuilder::default()
    }

    /// The invocation URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Builds an [`HttpInvoker`].
#[derive(Clone, Debug)]
#[must_use]
pub struct HttpInvokerBuilder {
    endpoint: Option<String>,
    function_name: Option<String>,
    max_answer_bytes: usize,
    connect_timeout: Duration,
}

impl Default for HttpInvokerBuilder {
    fn default() -> Self {
        Self {
            endpoint: None,
            function_name: None,
            max_answer_bytes: DEFAULT_MAX_ANSWER,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl HttpInvokerBuilder {
    /// The runtime's base URL, `http://host:port` (a path prefix is kept).
    /// Required.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The function name (or ARN, or `name:qualifier`). Required.
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = Some(name.into());
        self
    }

    /// The largest answer read, in bytes. Default: 6 MiB (Lambda's limit).
    pub fn max_answer_bytes(mut self, limit: usize) -> Self {
        self.max_answer_bytes = limit;
        self
    }

    /// How long to wait for a connection. Default: 5 s. The integration's
    /// timeout bounds the whole call.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The invoker, or why the settings cannot work.
    pub fn build(self) -> Result<HttpInvoker, ConfigError> {
        let endpoint = self
            .endpoint
            .ok_or_else(|| ConfigError::new("HttpInvoker needs an endpoint"))?;
        let name = self
            .function_name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ConfigError::new("HttpInvoker needs a function name"))?;
        let parsed: http::Uri = endpoint.parse().map_err(|_| {
            ConfigError::new(format!("HttpInvoker endpoint `{endpoint}` is not a URL"))
        })?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            return Err(ConfigError::new(format!(
                "HttpInvoker endpoint `{endpoint}` is not an http(s) URL with a host"
            )));
        }
        if parsed.query().is_some() {
            return Err(ConfigError::new(
                "HttpInvoker endpoint must not have a query",
            ));
        }
        if self.max_answer_bytes == 0 {
            return Err(ConfigError::new(
                "HttpInvoker max_answer_bytes must be positive",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "HttpInvoker connect_timeout must be positive",
            ));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|err| ConfigError::new(format!("HttpInvoker client: {err}")))?;
        let url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            endpoint.trim_end_matches('/'),
            utf8_percent_encode(&name, SEGMENT)
        );
        Ok(HttpInvoker {
            client,
            url,
            max_answer_bytes: self.max_answer_bytes,
        })
    }
}

/// An [`HttpInvoker`] as configuration.
///
/// ```json
/// { "endpoint": "http://127.0.0.1:9001", "functionName": "orders", "maxAnswerBytes": 6291456 }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpInvokerConfig {
    /// The runtime's base URL.
    pub endpoint: String,
    /// The function name.
    pub function_name: String,
    /// The largest answer read. Default: 6 MiB.
    #[serde(default)]
    pub max_answer_bytes: Option<usize>,
    /// Connect timeout in milliseconds. Default: 5000.
    #[serde(default)]
    pub connect_timeout_in_millis: Option<u64>,
}

impl TryFrom<HttpInvokerConfig> for HttpInvoker {
    type Error = ConfigError;

    fn try_from(config: HttpInvokerConfig) -> Result<Self, ConfigError> {
        let mut builder = HttpInvoker::builder()
            .endpoint(config.endpoint)
            .function_name(config.function_name);
        if let Some(limit) = config.max_answer_bytes {
            builder = builder.max_answer_bytes(limit);
        }
        if let Some(ms) = config.connect_timeout_in_millis {
            builder = builder.connect_timeout(Duration::from_millis(ms));
        }
        builder.build()
    }
}

fn transport_error(err: &reqwest::Error) -> InvokeError {
    if err.is_timeout() {
        InvokeError::Timeout
    } else {
        InvokeError::Unreachable(err.to_string())
    }
}

impl Invoke for HttpInvoker {
    fn invoke(&self, payload: Bytes) -> InvokeFuture {
        let request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-amz-invocation-type", "RequestResponse")
            .body(payload);
        let limit = self.max_answer_bytes;
        Box::pin(async move {
            let mut response = request.send().await.map_err(|err| transport_error(&err))?;
            if response
                .content_length()
                .is_some_and(|len| len > limit as u64)
            {
                return Err(InvokeError::TooLarge { limit });
            }
            let mut answer = BytesMut::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|err| transport_error(&err))?
            {
                if answer.len() + chunk.len() > limit {
                    return Err(InvokeError::TooLarge { limit });
                }
                answer.extend_from_slice(&chunk);
            }
            let answer = answer.freeze();
            if response.headers().contains_key("x-amz-function-error") {
                return Err(InvokeError::Function(FunctionError::from_payload(answer)));
            }
            let status = response.status();
            if !status.is_success() {
                return Err(InvokeError::Other(format!(
                    "the Invoke API answered {status}"
                )));
            }
            Ok(answer)
        })
    }
}
