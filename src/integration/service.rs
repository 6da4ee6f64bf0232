//! `LambdaIntegration`: the Lambda proxy integration as a terminal service.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use tower_service::Service;

use super::error::{IntegrationRejection, IntegrationRejectionKind};
use super::{Invoke, InvokeError};
use crate::ConfigError;
use crate::clock::{SharedClock, default_clock};
use crate::events::{EventOptions, ResponseErrorKind, StringMap, v1, v2};
use crate::identity::RequestId;
use crate::problem::GatewayResponses;

/// API Gateway's integration timeout for REST APIs, 29 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(29);

/// API Gateway's payload limit, 10 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The payload format version: which event the function receives and how
/// its answer is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PayloadFormat {
    /// `1.0`: [`events::v1`](crate::events::v1), REST API semantics (502 for
    /// malformed answers).
    #[serde(rename = "1.0")]
    V1,
    /// `2.0`: [`events::v2`](crate::events::v2), HTTP API semantics
    /// (response inference, 500 for invalid answers). Default.
    #[default]
    #[serde(rename = "2.0")]
    V2,
}

/// The Lambda proxy integration: a terminal `tower::Service` that turns
/// each request into the event API Gateway would send, calls a function
/// through [`Invoke`], and turns its answer into the response API Gateway
/// would make. Cheap to clone; `Error = Infallible`, so it mounts in axum
/// with `Router::fallback_service` or `route_service`.
///
/// Every failure is a gateway response from the configured
/// [`GatewayResponses`], with an [`IntegrationRejection`] in the response
/// extensions; the function's own text never reaches the client (it goes
/// to `tracing`).
///
/// ```
/// use apigw::events::v1;
/// use apigw::integration::{LambdaIntegration, PayloadFormat, handler_fn};
/// use std::time::Duration;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let function = handler_fn(|event: v1::Request| async move {
///     let name = event.query_string_parameters.and_then(|q| q.get("name").cloned());
///     Ok::<_, String>(v1::Response::new(200).with_body(format!("hello {}", name.unwrap_or_default())))
/// });
/// let integration = LambdaIntegration::builder(function)
///     .payload_format(PayloadFormat::V1)
///     .timeout(Duration::from_secs(3))
///     .stage_variable("env", "test")
///     .build()?;
///
/// let response = integration.clone()
///     .oneshot(http::Request::get("/hi?name=ana").body(http_body_util::Empty::<bytes::Bytes>::new())?)
///     .await?;
/// assert_eq!(response.status(), 200);
///
/// // A function that answers `{}` gets API Gateway's 502.
/// let broken = LambdaIntegration::builder(|_: bytes::Bytes| async { Ok(bytes::Bytes::from_static(b"{}")) })
///     .payload_format(PayloadFormat::V1)
///     .build()?;
/// let response = broken
///     .oneshot(http::Request::get("/").body(http_body_util::Empty::<bytes::Bytes>::new())?)
///     .await?;
/// assert_eq!(response.status(), 502);
/// # Ok(()) }
/// ```
pub struct LambdaIntegration<I> {
    shared: Arc<Shared<I>>,
}

struct Shared<I> {
    invoker: I,
    format: PayloadFormat,
    options: EventOptions,
    timeout: Duration,
    body_limit: usize,
    responses: GatewayResponses,
    clock: SharedClock,
}

impl<I> Clone for LambdaIntegration<I> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<I> fmt::Debug for LambdaIntegration<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaIntegration")
            .field("format", &self.shared.format)
            .field("timeout", &self.shared.timeout)
            .field("body_limit", &self.shared.body_limit)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl<I: Invoke> LambdaIntegration<I> {
    /// A builder over the function `invoker`.
    pub fn builder(invoker: I) -> LambdaIntegrationBuilder<I> {
        LambdaIntegrationBuilder {
            invoker,
            format: PayloadFormat::default(),
            options: EventOptions::new(),
            binary_media_types: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
            responses: GatewayResponses::default(),
            clock: default_clock(),
        }
    }

    /// The payload format.
    #[must_use]
    pub fn payload_format(&self) -> PayloadFormat {
        self.shared.format
    }
}

/// Builds a [`LambdaIntegration`].
#[must_use]
pub struct LambdaIntegrationBuilder<I> {
    invoker: I,
    format: PayloadFormat,
    options: EventOptions,
    binary_media_types: Vec<String>,
    timeout: Duration,
    body_limit: usize,
    responses: GatewayResponses,
    clock: SharedClock,
}

impl<I> fmt::Debug for LambdaIntegrationBuilder<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaIntegrationBuilder")
            .field("format", &self.format)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<I: Invoke> LambdaIntegrationBuilder<I> {
    /// The payload format. Default: [`PayloadFormat::V2`].
    pub fn payload_format(mut self, format: PayloadFormat) -> Self {
        self.format = format;
        self
    }

    /// The integration timeout: past it the answer is 504
    /// `INTEGRATION_TIMEOUT`. Default: 29 s, API Gateway's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest request body sent to the function; larger is 413
    /// `REQUEST_TOO_LARGE`. Default: 10 MiB, API Gateway's payload limit.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Adds a stage variable (`stageVariables`). Default: none.
    pub fn stage_variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options = self.options.stage_variable(name, value);
        self
    }

    /// Adds a binary media type for format 1.0 (see
    /// [`EventOptions::binary_media_type`]). Default: none.
    pub fn binary_media_type(mut self, media_type: impl Into<String>) -> Self {
        self.binary_media_types.push(media_type.into());
        self
    }

    /// Account, API id, stage and stage variables of the events, all at
    /// once. Default: [`EventOptions::new`].
    pub fn event_options(mut self, options: EventOptions) -> Self {
        self.options = options;
        self
    }

    /// The gateway responses rejections are rendered with. Default:
    /// `GatewayResponses::default()` (problem+json).
    pub fn gateway_responses(mut self, responses: GatewayResponses) -> Self {
        self.responses = responses;
        self
    }

    /// The clock `requestTime` / `timeEpoch` are read from. Default: tokio's.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The integration, or why the settings cannot serve.
    pub fn build(self) -> Result<LambdaIntegration<I>, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "LambdaIntegration timeout must be positive",
            ));
        }
        if self.body_limit == 0 {
            return Err(ConfigError::new(
                "LambdaIntegration body_limit must be positive",
            ));
        }
        let mut options = self.options;
        for media_type in &self.binary_media_types {
            options = options.binary_media_type(media_type)?;
        }
        Ok(LambdaIntegration {
            shared: Arc::new(Shared {
                invoker: self.invoker,
                format: self.format,
                options,
                timeout: self.timeout,
                body_limit: self.body_limit,
                responses: self.responses,
                clock: self.clock,
            }),
        })
    }
}

/// A [`LambdaIntegration`] as configuration, in API Gateway's vocabulary:
///
/// ```json
/// {
///   "payloadFormatVersion": "1.0",
///   "timeoutInMillis": 10000,
///   "stageVariables": { "env": "prod" },
///   "binaryMediaTypes": ["image/*"]
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct LambdaIntegrationConfig {
    /// `1.0` or `2.0`. Default: `2.0`.
    #[serde(default)]
    pub payload_format_version: PayloadFormat,
    /// Integration timeout in milliseconds. Default: 29000.
    #[serde(default)]
    pub timeout_in_millis: Option<u64>,
    /// Largest request body in bytes. Default: 10 MiB.
    #[serde(default)]
    pub body_limit: Option<usize>,
    /// Stage variables. Default: none.
    #[serde(default)]
    pub stage_variables: StringMap,
    /// Binary media types (format 1.0). Default: none.
    #[serde(default)]
    pub binary_media_types: Vec<String>,
    /// `requestContext.accountId`. Default: `000000000000`.
    #[serde(default)]
    pub account_id: Option<String>,
    /// `requestContext.apiId`. Default: `apigw`.
    #[serde(default)]
    pub api_id: Option<String>,
}

impl<I: Invoke> TryFrom<(LambdaIntegrationConfig, I)> for LambdaIntegration<I> {
    type Error = ConfigError;

    fn try_from((config, invoker): (LambdaIntegrationConfig, I)) -> Result<Self, ConfigError> {
        let mut options = EventOptions::new();
        if let Some(account) = config.account_id {
            options = options.account_id(account);
        }
        if let Some(api) = config.api_id {
            options = options.api_id(api);
        }
        for (name, value) in config.stage_variables {
            options = options.stage_variable(name, value);
        }
        let mut builder = LambdaIntegration::builder(invoker)
            .payload_format(config.payload_format_version)
            .event_options(options);
        if let Some(ms) = config.timeout_in_millis {
            builder = builder.timeout(Duration::from_millis(ms));
        }
        if let Some(limit) = config.body_limit {
            builder = builder.body_limit(limit);
        }
        for media_type in config.binary_media_types {
            builder = builder.binary_media_type(media_type);
        }
        builder.build()
    }
}

type BoxedResponse =
    Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

/// The response future of [`LambdaIntegration`].
pub struct ResponseFuture {
    inner: BoxedResponse,
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<I, B> Service<Request<B>> for LambdaIntegration<I>
where
    I: Invoke,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let shared = Arc::clone(&self.shared);
        ResponseFuture {
            inner: Box::pin(async move { Ok(shared.handle(request).await) }),
        }
    }
}

impl<I: Invoke> Shared<I> {
    fn reject(
        &self,
        kind: IntegrationRejectionKind,
        request_id: &RequestId,
    ) -> Response<Full<Bytes>> {
        let rejection = IntegrationRejection::new(kind);
        let mut response = self
            .responses
            .render::<Full<Bytes>>(&rejection.rejection(self.format), Some(request_id));
        response.extensions_mut().insert(rejection);
        response
    }

    async fn handle<B>(&self, mut request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        use IntegrationRejectionKind as K;
        let request_id = RequestId::get_or_insert(&mut request);
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.body_limit as u64) {
            return self.reject(K::RequestTooLarge, &request_id);
        }
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, self.body_limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<LengthLimitError>() => {
                return self.reject(K::RequestTooLarge, &request_id);
            }
            Err(err) => {
                tracing::debug!(error = %err, request_id = %request_id, "could not read the request body");
                return self.reject(K::UnreadableBody, &request_id);
            }
        };

        let now = self.clock.unix_time();
        let payload = match self.format {
            PayloadFormat::V1 => v1::Request::json_from_http(&parts, &body, &self.options, now),
            PayloadFormat::V2 => v2::Request::json_from_http(&parts, &body, &self.options, now),
        };
        let payload = match payload {
            Ok(payload) => Bytes::from(payload),
            Err(err) => {
                tracing::error!(error = %err, request_id = %request_id, "could not serialize the event");
                return self.reject(K::InvokeFailed, &request_id);
            }
        };

        let started = self.clock.now();
        let outcome = tokio::time::timeout(self.timeout, self.invoker.invoke(payload)).await;
        let latency = self.clock.now().saturating_duration_since(started);
        crate::observe::record(&parts.extensions, |observed| {
            observed.integration_latency = Some(latency);
            match &outcome {
                Err(_) => {
                    observed.integration_error =
                        Some("the function did not answer in time".to_owned())
                }
                Ok(Err(err)) => observed.integration_error = Some(err.to_string()),
                Ok(Ok(_)) => {}
            }
        });
        let answer = match outcome {
            Err(_elapsed) => {
                tracing::warn!(request_id = %request_id, timeout = ?self.timeout, "the function did not answer in time");
                return self.reject(K::Timeout, &request_id);
            }
            Ok(Err(err)) => {
                let kind = match &err {
                    InvokeError::Function(_) => K::FunctionError,
                    InvokeError::Timeout => K::Timeout,
                    InvokeError::Unreachable(_) => K::Unreachable,
                    InvokeError::TooLarge { .. } => K::AnswerTooLarge,
                    _ => K::InvokeFailed,
                };
                tracing::warn!(error = %err, request_id = %request_id, "the function call failed");
                return self.reject(kind, &request_id);
            }
            Ok(Ok(answer)) => answer,
        };

        let converted = match self.format {
            PayloadFormat::V1 => v1::Response::from_slice(&answer)
                .and_then(|r| r.into_http(&parts.headers, &self.options)),
            PayloadFormat::V2 => {
                v2::Response::from_slice(&answer).and_then(v2::Response::into_http)
            }
        };
        match converted {
            Ok(response) => {
                let status = response.status().as_u16();
                crate::observe::record(&parts.extensions, |observed| {
                    observed.integration_status = Some(status)
                });
                response.map(Full::new)
            }
            Err(err) => {
                // The reason may quote the function's output: logs only.
                tracing::warn!(error = %err, request_id = %request_id, "the function's answer was refused");
                let kind = match err.kind() {
                    ResponseErrorKind::InvalidBase64 => K::InvalidBase64,
                    _ => K::MalformedResponse,
                };
                self.reject(kind, &request_id)
            }
        }
    }
}
