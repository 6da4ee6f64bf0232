use std::cell::RefCell;
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
use crate::identity::{Ipv4Text, RequestId};
use crate::observe::{Observation, Observed};
use crate::problem::Rejection;
use crate::swar::{any_flagged, json_escape_bits, splat, zero_bytes};

/// Longest value written for one variable.
const MAX_VALUE_LEN: usize = 512;

/// Where access-log lines go. Implemented for every `Fn(&str)`.
pub trait WriteAccessLog: Send + Sync + 'static {
    /// Writes one line.
    fn write_line(&self, line: &str);

    /// Whether lines would go anywhere now. When `false`, the layer does no
    /// work for the request beyond setting its request id. Default: `true`.
    fn enabled(&self) -> bool {
        true
    }
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

    /// Whether a subscriber listens to `apigw::access_log` at `INFO`.
    fn enabled(&self) -> bool {
        tracing::enabled!(target: "apigw::access_log", tracing::Level::INFO)
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

impl From<AccessLogConfig> for AccessLogLayerBuilder {
    /// The builder for `config`, so a sink or a clock can still be set:
    /// `AccessLogLayerBuilder::from(config).sink(sink).build()`.
    fn from(config: AccessLogConfig) -> Self {
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
        builder
    }
}

impl TryFrom<AccessLogConfig> for AccessLogLayer {
    type Error = ConfigError;

    fn try_from(config: AccessLogConfig) -> Result<Self, ConfigError> {
        AccessLogLayerBuilder::from(config).build()
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
    /// The monotonic clock, read twice per request only for this.
    latency: bool,
    /// The wall clock.
    time: bool,
}

impl Needs {
    fn of(pieces: &[Piece]) -> Self {
        let uses = |wanted: Variable| pieces.iter().any(|p| *p == Piece::Variable(wanted.clone()));
        Self {
            path: uses(Variable::Path),
            domain_name: uses(Variable::DomainName),
            user_agent: uses(Variable::UserAgent),
            source_ip: uses(Variable::SourceIp),
            latency: uses(Variable::ResponseLatency),
            time: uses(Variable::RequestTime) || uses(Variable::RequestTimeEpoch),
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
    /// When the response latency is logged.
    start: Option<Instant>,
    /// Zero unless the request time is logged.
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
        let request_id = RequestId::get_or_insert(&mut request);
        if !self.shared.sink.enabled() {
            return ResponseFuture {
                future: self.inner.call(request),
                arrival: None,
            };
        }
        let observation = Observation::attach(request.extensions_mut());
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
            start: needs.latency.then(|| self.shared.clock.now()),
            unix_time: if needs.time {
                self.shared.clock.unix_time()
            } else {
                Duration::ZERO
            },
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
            arrival.write(result.as_ref().ok());
        }
        Poll::Ready(result)
    }
}

/// A line buffer per thread, reused from request to request.
const LINE_CAPACITY: usize = 1024;
/// A buffer grown beyond this by a long line is dropped after it.
const MAX_KEPT_CAPACITY: usize = 16 * 1024;

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Arrival {
    /// Writes the request's line to the sink, through this thread's buffer.
    fn write<B: http_body::Body>(&self, response: Option<&Response<B>>) {
        LINE.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                line.reserve(LINE_CAPACITY);
                self.line(&mut line, response);
                self.shared.sink.write_line(&line);
                if line.capacity() > MAX_KEPT_CAPACITY {
                    *line = String::new();
                }
            }
            // A sink that is itself behind an access log: a buffer of its own.
            Err(_) => {
                let mut line = String::with_capacity(LINE_CAPACITY);
                self.line(&mut line, response);
                self.shared.sink.write_line(&line);
            }
        });
    }

    /// Appends the request's line to `line`.
    fn line<B: http_body::Body>(&self, line: &mut String, response: Option<&Response<B>>) {
        let rejection = response.and_then(|r| r.extensions().get::<Rejection>());
        let latency = self.start.map_or(Duration::ZERO, |start| {
            self.shared.clock.now().saturating_duration_since(start)
        });
        self.observation.read(|observed| {
            let context = LineContext {
                observed,
                response,
                rejection,
                latency,
            };
            for piece in &self.shared.pieces {
                match piece {
                    Piece::Literal(text) => line.push_str(text),
                    Piece::Variable(variable) => {
                        let quoted = *variable == Variable::ErrorMessageString;
                        if quoted {
                            line.push('"');
                        }
                        let start = line.len();
                        let mut value = Escaped {
                            out: line,
                            budget: MAX_VALUE_LEN,
                        };
                        if self.value(&mut value, variable, &context).is_none() {
                            line.truncate(start);
                            line.push('-');
                        }
                        if quoted {
                            line.push('"');
                        }
                    }
                }
            }
        });
    }

    /// Writes `variable`'s value to `out`; `None` when it is not known.
    fn value<B: http_body::Body>(
        &self,
        out: &mut Escaped<'_>,
        variable: &Variable,
        context: &LineContext<'_, B>,
    ) -> Option<()> {
        let observed = context.observed;
        let route = observed.route.as_ref();
        match variable {
            Variable::RequestId | Variable::ExtendedRequestId => {
                out.push(self.request_id.as_str());
            }
            Variable::RouteKey => {
                let key = route?.route_key();
                match (key.method(), key.path()) {
                    (_, None) => out.push_clean("$default"),
                    (method, Some(path)) => {
                        out.push_clean(method.map_or("ANY", http::Method::as_str));
                        out.push_clean(" ");
                        out.push(path);
                    }
                }
            }
            Variable::ResourcePath => out.push(route?.resource()?),
            // A method is a token: no quote, backslash, control or non-ASCII.
            Variable::HttpMethod => out.push_clean(self.method.as_str()),
            Variable::Path => out.push(self.path.as_deref()?),
            Variable::Protocol => out.push_clean(self.protocol),
            Variable::Stage => out.push(route?.stage()),
            Variable::DomainName => out.push(self.domain_name.as_deref()?),
            // Three digits.
            Variable::Status => out.push_clean(context.response?.status().as_str()),
            Variable::ResponseLatency => out.millis(context.latency),
            Variable::ResponseLength => response_length(out, context.response?)?,
            Variable::IntegrationLatency => {
                out.millis(observed.integration_latency?);
            }
            Variable::IntegrationStatus => out.number(u64::from(observed.integration_status?)),
            Variable::IntegrationError => out.push(observed.integration_error.as_deref()?),
            // Digits, letters, `/`, `:`, `+`, `-` and a space.
            Variable::RequestTime => request_time(self.unix_time, |time| out.push_clean(time)),
            Variable::RequestTimeEpoch => out.millis(self.unix_time),
            Variable::SourceIp => out.ip(self.source_ip?),
            Variable::UserAgent => out.push(self.user_agent.as_deref()?),
            Variable::ApiKeyId => out.push(observed.api_key.as_ref()?.key_id()),
            Variable::ApiKeyRedacted => return None,
            Variable::PrincipalId => {
                let principal = observed
                    .authorizer
                    .as_ref()
                    .and_then(|a| a.principal_id())
                    .or_else(|| observed.jwt.as_ref()?.subject())?;
                out.push(principal);
            }
            Variable::AuthorizerError => out.push(observed.authorizer_error.as_deref()?),
            Variable::Claim(name) => json_text(out, observed.jwt.as_ref()?.get(name)?),
            Variable::AuthorizerProperty(name) => {
                json_text(out, observed.authorizer.as_ref()?.context().get(name)?);
            }
            Variable::ErrorMessage | Variable::ErrorMessageString => {
                out.push(error_message(context.rejection?)?);
            }
            Variable::ErrorResponseType => {
                out.push(context.rejection?.response_type().as_str());
            }
            Variable::ApiId => out.push(self.shared.api_id.as_deref()?),
            Variable::AccountId => out.push(self.shared.account_id.as_deref()?),
        }
        Some(())
    }
}

/// What the response and the inner layers established, for one line.
struct LineContext<'a, B> {
    observed: &'a Observed,
    response: Option<&'a Response<B>>,
    rejection: Option<&'a Rejection>,
    latency: Duration,
}

/// Appends one value to a line, escaped as JSON string content and cut at
/// [`MAX_VALUE_LEN`] bytes.
struct Escaped<'a> {
    out: &'a mut String,
    budget: usize,
}

impl Escaped<'_> {
    /// A value that cannot need escaping (digits, a timestamp, an address,
    /// a method): copied as it is, within the budget.
    fn push_clean(&mut self, value: &str) {
        if value.len() <= self.budget {
            self.budget -= value.len();
            self.out.push_str(value);
        } else {
            self.push(value);
        }
    }

    /// Digits, already checked to be ASCII digits.
    fn push_digits(&mut self, digits: &[u8]) {
        let fits = digits.len().min(self.budget);
        self.budget -= fits;
        self.out
            .extend(digits[..fits].iter().copied().map(char::from));
    }

    fn push(&mut self, value: &str) {
        if value.len() <= self.budget && !needs_escape(value.as_bytes()) {
            self.budget -= value.len();
            self.out.push_str(value);
            return;
        }
        let mut end = value.len().min(self.budget);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        self.budget = if end < value.len() {
            0
        } else {
            self.budget - end
        };
        push_escaped(self.out, &value[..end]);
    }

    fn display(&mut self, value: impl fmt::Display) {
        let _ = write!(self, "{value}");
    }

    /// A number, without the formatting machinery.
    fn number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            // `n % 10` is below 10.
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push_digits(&digits[start..]);
    }

    /// An address: IPv4 without the formatting machinery.
    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => self.push_clean(Ipv4Text::new(v4).as_str()),
            IpAddr::V6(_) => self.display(ip),
        }
    }

    fn millis(&mut self, duration: Duration) {
        self.number(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    }
}

/// Runs `write` with `unix` in Common Log Format, formatted once per second
/// per thread.
fn request_time(unix: Duration, write: impl FnOnce(&str)) {
    thread_local! {
        static LAST: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let secs = unix.as_secs();
    LAST.with(|last| match last.try_borrow_mut() {
        Ok(mut last) => {
            if last.0 != secs {
                *last = (secs, crate::calendar::common_log_format(unix));
            }
            write(&last.1);
        }
        Err(_) => write(&crate::calendar::common_log_format(unix)),
    });
}

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s);
        Ok(())
    }
}

fn error_message(rejection: &Rejection) -> Option<&str> {
    rejection
        .message()
        .or_else(|| rejection.response_type().default_message())
}

fn json_text(out: &mut Escaped<'_>, value: &serde_json::Value) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        other => out.display(other),
    }
}

/// Writes the response's length: its `Content-Length` (as it is, when it is
/// digits), else the body's exact size; `None` when neither is known.
fn response_length<B: http_body::Body>(
    out: &mut Escaped<'_>,
    response: &Response<B>,
) -> Option<()> {
    let declared = response.headers().get(CONTENT_LENGTH).map(|v| v.as_bytes());
    match declared {
        Some(digits)
            if !digits.is_empty()
                && digits.len() <= 20
                && digits.iter().all(u8::is_ascii_digit) =>
        {
            out.push_digits(digits);
        }
        _ => out.number(response.body().size_hint().exact()?),
    }
    Some(())
}

/// The bytes [`push_escaped`] stops at: controls, `"`, `\\`, DEL and every
/// non-ASCII byte (a multi-byte char may be a C1 control).
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b < 0x20 || b == b'"' as usize || b == b'\\' as usize || b >= 0x7f;
        b += 1;
    }
    table
};

/// Whether any byte of `value` is one [`push_escaped`] stops at, eight
/// bytes at a time: most values (ids, methods, paths) have none, and a
/// table lookup per byte cost more than the copy.
pub(super) fn needs_escape(value: &[u8]) -> bool {
    // JSON's own, then non-ASCII (the high bit itself) and DEL.
    any_flagged(value, |x| {
        json_escape_bits(x) | x | zero_bytes(x ^ splat(0x7f))
    })
}

/// Appends `value` escaped as JSON string content: clean runs are copied
/// whole, only quotes, backslashes and control characters are rewritten.
pub(super) fn push_escaped(out: &mut String, value: &str) {
    let mut rest = value;
    while let Some(at) = rest.bytes().position(|b| NEEDS_ESCAPE[usize::from(b)]) {
        // `at` is a char boundary: every byte of a multi-byte char is >= 0x80,
        // so the first flagged byte of one is its first byte.
        out.push_str(&rest[..at]);
        let Some(c) = rest[at..].chars().next() else {
            return;
        };
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
        rest = &rest[at + c.len_utf8()..];
    }
    out.push_str(rest);
}
