use std::fmt::{self, Write as _};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::header::{CONTENT_LENGTH, HOST, USER_AGENT};
use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::{Deserialize, Serialize};
use tower_layer::Layer;
use tower_service::Service;

use super::DEFAULT_FORMAT;
use super::template::{self, Piece, Variable};
use crate::clock::{SharedClock, default_clock};
use crate::error::ConfigError;
use crate::identity::RequestId;
use crate::observe::{Observation, Observed};
use crate::problem::Rejection;

/// Longest value written for one variable.
const MAX_VALUE_LEN: usize = 512;

/// Where access-log lines go. Implemented for every `Fn(&str)`.
pub trait WriteAccessLog: Send + Sync + 'static {
    /// Writes one line.
    fn write_line(&self, line: &str);
}

impl<F: Fn(&str) + Send + Sync + 'static> WriteAccessLog for F {
    fn write_line(&self, line: &str) {
        self(line);
    }
}

/// The default sink: `tracing` at `INFO`, target `apigw::access_log`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

impl WriteAccessLog for TracingSink {
    fn write_line(&self, line: &str) {
        tracing::info!(target: "apigw::access_log", "{line}");
    }
}

struct Shared {
    pieces: Vec<Piece>,
    /// Which request fields the template needs, so others are never copied.
    needs: Needs,
    sink: Box<dyn WriteAccessLog>,
    clock: SharedClock,
    api_id: Option<String>,
    account_id: Option<String>,
}

/// Writes one access-log line per request. See the [module docs](super).
#[derive(Clone)]
#[must_use]
pub struct AccessLogLayer {
    shared: Arc<Shared>,
}

impl AccessLogLayer {
    /// A builder.
    pub fn builder() -> AccessLogLayerBuilder {
        AccessLogLayerBuilder::default()
    }
}

impl fmt::Debug for AccessLogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLogLayer")
            .field("variables", &self.shared.pieces.len())
            .field("clock", &self.shared.clock)
            .finish_non_exhaustive()
    }
}

/// Builds an [`AccessLogLayer`].
#[must_use]
pub struct AccessLogLayerBuilder {
    format: String,
    sink: Box<dyn WriteAccessLog>,
    clock: SharedClock,
    api_id: Option<String>,
    account_id: Option<String>,
}

impl Default for AccessLogLayerBuilder {
    fn default() -> Self {
        Self {
            format: DEFAULT_FORMAT.to_owned(),
            sink: Box::new(TracingSink),
            clock: default_clock(),
            api_id: None,
            account_id: None,
        }
    }
}

impl fmt::Debug for AccessLogLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLogLayerBuilder")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl AccessLogLayerBuilder {
    /// The line template. Default: [`DEFAULT_FORMAT`].
    pub fn format(mut self, format: impl Into<String>) -> Self {
        self.format = format.into();
        self
    }

    /// Where lines go. Default: [`TracingSink`].
    pub fn sink(mut self, sink: impl WriteAccessLog) -> Self {
        self.sink = Box::new(sink);
        self
    }

    /// The clock for latencies and `requestTime`. Default: tokio's.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The value of `$context.apiId`. Default: `-`.
    pub fn api_id(mut self, api_id: impl Into<String>) -> Self {
        self.api_id = Some(api_id.into());
        self
    }

    /// The value of `$context.accountId`. Default: `-`.
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// The layer, or why the format is invalid.
    pub fn build(self) -> Result<AccessLogLayer, ConfigError> {
        let pieces = template::parse(&self.format)?;
        Ok(AccessLogLayer {
            shared: Arc::new(Shared {
                needs: Needs::of(&pieces),
                pieces,
                sink: self.sink,
                clock: self.clock,
                api_id: self.api_id,
                account_id: self.account_id,
            }),
        })
    }
}

/// The access-log layer as configuration, in API Gateway's vocabulary
/// (`accessLogSettings`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessLogConfig {
    /// The line template. Default: [`DEFAULT_FORMAT`].
    #[serde(default)]
    pub format: Option<String>,
    /// `$context.apiId`.
    #[serde(default)]
    pub api_id: Option<String>,
    /// `$context.accountId`.
    #[serde(default)]
    pub account_id: Option<String>,
}

impl TryFrom<AccessLogConfig> for AccessLogLayer {
    type Error = ConfigError;

    fn try_from(config: AccessLogConfig) -> Result<Self, ConfigError> {
        let mut builder = AccessLogLayer::builder();
        if let Some(format) = config.format {
            builder = builder.format(format);
        }
        if let Some(api_id) = config.api_id {
            builder = builder.api_id(api_id);
        }
        if let Some(account_id) = config.account_id {
            builder = builder.account_id(account_id);
        }
        builder.build()
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service of [`AccessLogLayer`].
#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for AccessLog<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Needs {
    path: bool,
    domain_name: bool,
    user_agent: bool,
    source_ip: bool,
}

impl Needs {
    fn of(pieces: &[Piece]) -> Self {
        let uses = |wanted: Variable| pieces.iter().any(|p| *p == Piece::Variable(wanted.clone()));
        Self {
            path: uses(Variable::Path),
            domain_name: uses(Variable::DomainName),
            user_agent: uses(Variable::UserAgent),
            source_ip: uses(Variable::SourceIp),
        }
    }
}

/// What is known of the request when it arrives.
struct Arrival {
    shared: Arc<Shared>,
    observation: Observation,
    request_id: RequestId,
    method: http::Method,
    path: Option<String>,
    protocol: &'static str,
    domain_name: Option<String>,
    user_agent: Option<String>,
    source_ip: Option<IpAddr>,
    start: Instant,
    unix_time: Duration,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AccessLog<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let observation = Observation::attach(request.extensions_mut());
        let request_id = RequestId::get_or_insert(&mut request);
        let needs = self.shared.needs;
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let arrival = Arrival {
            shared: Arc::clone(&self.shared),
            observation,
            request_id,
            method: request.method().clone(),
            path: needs.path.then(|| request.uri().path().to_owned()),
            protocol: crate::identity::protocol(request.version()),
            domain_name: needs
                .domain_name
                .then(|| header(HOST).or_else(|| request.uri().host().map(str::to_owned)))
                .flatten(),
            user_agent: needs.user_agent.then(|| header(USER_AGENT)).flatten(),
            source_ip: needs
                .source_ip
                .then(|| crate::identity::peer_ip(request.extensions()))
                .flatten(),
            start: self.shared.clock.now(),
            unix_time: self.shared.clock.unix_time(),
        };
        ResponseFuture {
            future: self.inner.call(request),
            arrival: Some(arrival),
        }
    }
}

pin_project! {
    /// The response future of [`AccessLog`]: writes the line when the
    /// response head is ready.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        arrival: Option<Arrival>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.future.poll(cx));
        if let Some(arrival) = this.arrival.take() {
            let line = arrival.line(result.as_ref().ok());
            arrival.shared.sink.write_line(&line);
        }
        Poll::Ready(result)
    }
}

impl Arrival {
    fn line<B: http_body::Body>(&self, response: Option<&Response<B>>) -> String {
        let observed = self.observation.snapshot();
        let rejection = response.and_then(|r| r.extensions().get::<Rejection>());
        let latency = self
            .shared
            .clock
            .now()
            .saturating_duration_since(self.start);
        let mut line = String::with_capacity(256);
        for piece in &self.shared.pieces {
            match piece {
                Piece::Literal(text) => line.push_str(text),
                Piece::Variable(variable) => {
                    let value = self.value(variable, &observed, response, rejection, latency);
                    let value = value.as_deref().unwrap_or("-");
                    if *variable == Variable::ErrorMessageString {
                        line.push('"');
                        push_escaped(&mut line, value);
                        line.push('"');
                    } else {
                        push_escaped(&mut line, value);
                    }
                }
            }
        }
        line
    }

    fn value<B: http_body::Body>(
        &self,
        variable: &Variable,
        observed: &Observed,
        response: Option<&Response<B>>,
        rejection: Option<&Rejection>,
        latency: Duration,
    ) -> Option<String> {
        let route = observed.route.as_ref();
        Some(match variable {
            Variable::RequestId | Variable::ExtendedRequestId => self.request_id.to_string(),
            Variable::RouteKey => route?.route_key().to_string(),
            Variable::ResourcePath => route?.resource()?.to_owned(),
            Variable::HttpMethod => self.method.to_string(),
            Variable::Path => self.path.clone()?,
            Variable::Protocol => self.protocol.to_owned(),
            Variable::Stage => route?.stage().to_owned(),
            Variable::DomainName => self.domain_name.clone()?,
            Variable::Status => response?.status().as_u16().to_string(),
            Variable::ResponseLatency => latency.as_millis().to_string(),
            Variable::ResponseLength => response_length(response?)?.to_string(),
            Variable::IntegrationLatency => observed.integration_latency?.as_millis().to_string(),
            Variable::IntegrationStatus => observed.integration_status?.to_string(),
            Variable::IntegrationError => observed.integration_error.clone()?,
            Variable::RequestTime => crate::calendar::common_log_format(self.unix_time),
            Variable::RequestTimeEpoch => self.unix_time.as_millis().to_string(),
            Variable::SourceIp => self.source_ip?.to_string(),
            Variable::UserAgent => self.user_agent.clone()?,
            Variable::ApiKeyId => observed.api_key.as_ref()?.key_id().to_owned(),
            Variable::ApiKeyRedacted => return None,
            Variable::PrincipalId => observed
                .authorizer
                .as_ref()
                .and_then(|a| a.principal_id().map(str::to_owned))
                .or_else(|| observed.jwt.as_ref()?.subject().map(str::to_owned))?,
            Variable::AuthorizerError => observed.authorizer_error.clone()?,
            Variable::Claim(name) => json_text(observed.jwt.as_ref()?.get(name)?),
            Variable::AuthorizerProperty(name) => {
                json_text(observed.authorizer.as_ref()?.context().get(name)?)
            }
            Variable::ErrorMessage | Variable::ErrorMessageString => error_message(rejection?)?,
            Variable::ErrorResponseType => rejection?.response_type().as_str().to_owned(),
            Variable::ApiId => self.shared.api_id.clone()?,
            Variable::AccountId => self.shared.account_id.clone()?,
        })
    }
}

fn error_message(rejection: &Rejection) -> Option<String> {
    rejection
        .message()
        .or_else(|| rejection.response_type().default_message())
        .map(str::to_owned)
}

fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn response_length<B: http_body::Body>(response: &Response<B>) -> Option<u64> {
    response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .or_else(|| response.body().size_hint().exact())
}

/// Appends `value` escaped as JSON string content, cut at [`MAX_VALUE_LEN`].
pub(super) fn push_escaped(out: &mut String, value: &str) {
    let mut end = value.len().min(MAX_VALUE_LEN);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    for c in value[..end].chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}
