//! [`WebSocketApi`], its builder, and the handshake (`$connect`).

use std::collections::HashMap;
use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use http::request::Parts;
use http::{HeaderValue, Request, StatusCode};
use tokio::sync::{Notify, mpsc, watch};
use tower_layer::Layer;

use super::authorizer::{ConnectAuthorizer, LayerAuthorizer, Probe};
use super::hub::{ConnectionState, Connections, Hub, Local};
use super::integration::RouteIntegration;
use super::limits::Limits;
use super::registry::{ConnectionRegistry, InMemoryConnectionRegistry};
use super::selection::RouteSelection;
use super::session::Session;
use crate::calendar::{common_log_format, epoch_millis};
use crate::clock::{SharedClock, default_clock};
use crate::error::ConfigError;
use crate::events::websocket::{Request as Event, RequestContext};
use crate::events::{EventOptions, v1};
use crate::identity::RequestId;
use crate::problem::{GatewayResponseType, GatewayResponses, Rejection};
use crate::throttle::Limit;

/// Who may call the `@connections` management API: a predicate over the
/// request's head. Never open by default.
pub type ManagementAccess = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

pub(crate) struct Inner {
    pub(crate) routes: HashMap<String, RouteIntegration>,
    pub(crate) connect: Option<RouteIntegration>,
    pub(crate) disconnect: Option<RouteIntegration>,
    pub(crate) default: Option<RouteIntegration>,
    pub(crate) selection: RouteSelection,
    pub(crate) authorizer: Option<Arc<dyn ConnectAuthorizer>>,
    pub(crate) registry: Arc<dyn ConnectionRegistry>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) limits: Limits,
    pub(crate) options: EventOptions,
    pub(crate) domain_name: Option<String>,
    pub(crate) clock: SharedClock,
    pub(crate) responses: GatewayResponses,
    pub(crate) management_access: Option<ManagementAccess>,
    pub(crate) path: String,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) live: AtomicUsize,
    pub(crate) all_closed: Notify,
}

/// A WebSocket API, as API Gateway runs one: the handshake with an
/// authorizer and `$connect`, a route per message, `$disconnect` on every
/// close, the connections' limits, and the `@connections` management API.
///
/// Mount [`router`](Self::router) in an axum router (serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so events carry
/// `identity.sourceIp`). Cheap to clone. See the [module docs](super).
#[derive(Clone)]
pub struct WebSocketApi {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for WebSocketApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<&str> = self.inner.routes.keys().map(String::as_str).collect();
        routes.sort_unstable();
        f.debug_struct("WebSocketApi")
            .field("path", &self.inner.path)
            .field("route_selection_expression", &self.inner.selection)
            .field("routes", &routes)
            .field("connections", &self.inner.hub)
            .finish_non_exhaustive()
    }
}

impl WebSocketApi {
    /// A builder with API Gateway's defaults.
    pub fn builder() -> WebSocketApiBuilder {
        WebSocketApiBuilder::default()
    }

    /// The WebSocket endpoint at the configured [path](WebSocketApiBuilder::path)
    /// and the `@connections` management API, in one router.
    pub fn router(&self) -> Router {
        self.endpoint_router().merge(self.management_router())
    }

    /// The WebSocket endpoint alone (`GET` on the configured path).
    pub fn endpoint_router(&self) -> Router {
        Router::new()
            .route(&self.inner.path, get(handshake))
            .with_state(self.clone())
    }

    /// The `@connections` management API alone, to serve on another
    /// listener than the endpoint (an internal port, for example).
    pub fn management_router(&self) -> Router {
        super::management::router(self.clone())
    }

    /// The push handle for this API's connections.
    #[must_use]
    pub fn connections(&self) -> Connections {
        Connections {
            hub: self.inner.hub.clone(),
        }
    }

    /// Graceful shutdown: refuses new connections (503), closes every
    /// connection with 1001 (going away), and resolves once each has run
    /// `$disconnect`. Call it from the shutdown future given to
    /// `axum::serve(…).with_graceful_shutdown`, which does not wait for
    /// upgraded connections itself.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        loop {
            let mut closed = pin!(self.inner.all_closed.notified());
            closed.as_mut().enable();
            if self.inner.live.load(Ordering::Acquire) == 0 {
                return;
            }
            closed.await;
        }
    }

    fn reject(&self, rejection: &Rejection, request_id: &RequestId) -> Response {
        self.inner.responses.render(rejection, Some(request_id))
    }
}

/// Builds a [`WebSocketApi`].
#[must_use]
pub struct WebSocketApiBuilder {
    routes: HashMap<String, RouteIntegration>,
    selection: String,
    authorizer: Option<Arc<dyn ConnectAuthorizer>>,
    registry: Option<Arc<dyn ConnectionRegistry>>,
    limits: Limits,
    options: EventOptions,
    domain_name: Option<String>,
    clock: SharedClock,
    responses: GatewayResponses,
    management_access: Option<ManagementAccess>,
    path: String,
}

impl Default for WebSocketApiBuilder {
    fn default() -> Self {
        Self {
            routes: HashMap::new(),
            selection: "$request.body.action".to_owned(),
            authorizer: None,
            registry: None,
            limits: Limits::default(),
            options: EventOptions::default(),
            domain_name: None,
            clock: default_clock(),
            responses: GatewayResponses::default(),
            management_access: None,
            path: "/".to_owned(),
        }
    }
}

impl fmt::Debug for WebSocketApiBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketApiBuilder")
            .field("selection", &self.selection)
            .field("limits", &self.limits)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WebSocketApiBuilder {
    /// Adds a route: `$connect`, `$disconnect`, `$default`, or a custom
    /// route key that the route selection expression selects. A later
    /// route with the same key replaces the earlier one.
    pub fn route(mut self, route_key: impl Into<String>, integration: RouteIntegration) -> Self {
        self.routes.insert(route_key.into(), integration);
        self
    }

    /// The route selection expression: `$request.body.{path}`,
    /// `${request.body.{path}}` placeholders with literal text, or a static
    /// route key. Default: `$request.body.action`.
    pub fn route_selection_expression(mut self, expression: impl Into<String>) -> Self {
        self.selection = expression.into();
        self
    }

    /// An authorizer on `$connect`: any of this crate's authorizer layers
    /// ([`JwtAuthorizerLayer`](crate::jwt::JwtAuthorizerLayer),
    /// [`LambdaAuthorizerCacheLayer`](crate::lambda_authorizer::LambdaAuthorizerCacheLayer)),
    /// or any tower layer that answers a rejection itself. It sees the
    /// upgrade request (headers and query string, so identity sources in
    /// either work); its rejection (401, 403, 500) refuses the handshake as
    /// is. What it establishes reaches every event's
    /// `requestContext.authorizer`, as API Gateway's payload 1.0 puts it.
    pub fn authorizer<L, S, B>(mut self, layer: L) -> Self
    where
        L: Layer<Probe, Service = S> + Send + Sync + 'static,
        S: tower_service::Service<Request<Body>, Response = http::Response<B>> + Send + 'static,
        S::Error: fmt::Display + Send,
        S::Future: Send,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        self.authorizer = Some(Arc::new(LayerAuthorizer(layer)));
        self
    }

    /// Where connections are recorded. Default: an
    /// [`InMemoryConnectionRegistry`].
    pub fn registry(mut self, registry: Arc<dyn ConnectionRegistry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Who may call the `@connections` management API. Without it every
    /// management request is refused with 403 `ACCESS_DENIED`.
    pub fn management_access(
        mut self,
        allow: impl Fn(&Parts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.management_access = Some(Arc::new(allow));
        self
    }

    /// Allows management requests that carry `Authorization: Bearer
    /// {token}` (compared in constant time). A shortcut for
    /// [`management_access`](Self::management_access).
    pub fn management_token(self, token: impl Into<String>) -> Self {
        let expected = format!("Bearer {}", token.into()).into_bytes();
        self.management_access(move |parts| {
            parts
                .headers
                .get(http::header::AUTHORIZATION)
                .is_some_and(|value| constant_time_eq(value.as_bytes(), &expected))
        })
    }

    /// The path of the WebSocket endpoint. Default: `/`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The event options: `requestContext.apiId`, `accountId`, `stage`
    /// and stage variables. Default: [`EventOptions::default`].
    pub fn event_options(mut self, options: EventOptions) -> Self {
        self.options = options;
        self
    }

    /// `requestContext.domainName`. Default: the upgrade request's `Host`.
    pub fn domain_name(mut self, domain_name: impl Into<String>) -> Self {
        self.domain_name = Some(domain_name.into());
        self
    }

    /// A connection with no frame from the client for this long is closed
    /// with 1001 (going away). Default: 10 minutes.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// A connection open this long is closed with 1001 (going away).
    /// Default: 2 hours.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.limits.max_lifetime = lifetime;
        self
    }

    /// A message larger than this closes the connection with 1009 (message
    /// too big); it also bounds `POST @connections/{id}` bodies (413).
    /// Default: 128 KiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.limits.max_message_size = bytes;
        self
    }

    /// A frame larger than this closes the connection with 1009. Default:
    /// 32 KiB, API Gateway's frame size (larger messages must be
    /// fragmented).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.limits.max_frame_size = bytes;
        self
    }

    /// A token bucket per connection for inbound messages (through
    /// [`Limit`], the throttle block's bucket). A message over the rate is
    /// not routed; the client gets an error frame
    /// `{"message": "Too Many Requests", …}`. Default: none.
    pub fn frame_rate(mut self, limit: Limit) -> Self {
        self.limits.frame_rate = Some(limit);
        self
    }

    /// Whether binary frames are routed (to `$default`, base64 in the event
    /// with `isBase64Encoded`). Default: `false`, and a binary frame closes
    /// the connection with 1003, as API Gateway does.
    pub fn binary_frames(mut self, enabled: bool) -> Self {
        self.limits.binary_frames = enabled;
        self
    }

    /// How long an integration may take; then the client gets
    /// `{"message": "Endpoint request timed out", …}` (a refused handshake
    /// on `$connect`). Default: 29 s.
    pub fn integration_timeout(mut self, timeout: Duration) -> Self {
        self.limits.integration_timeout = timeout;
        self
    }

    /// How many outbound messages may wait for one connection before pushes
    /// to it fail with [`PushError::Full`](super::PushError::Full). Default: 256.
    pub fn outbound_queue(mut self, messages: usize) -> Self {
        self.limits.outbound_queue = messages;
        self
    }

    /// How many messages of one connection may be in their integrations at
    /// once; the connection is not read while this many are. Default: 16.
    pub fn max_in_flight(mut self, messages: usize) -> Self {
        self.limits.max_in_flight = messages;
        self
    }

    /// How much one read from the socket may take in. tungstenite zeroes
    /// this much memory on every read attempt (even one that finds nothing),
    /// so a large buffer costs CPU on every wake-up of every connection.
    /// Default: 8 KiB (tungstenite's own default is 128 KiB).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.limits.read_buffer_size = bytes;
        self
    }

    /// The clock for timestamps, activity and the frame-rate bucket.
    /// Default: tokio's clock. Timeouts run on tokio timers.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The gateway responses for refused handshakes and the management
    /// API. Default: RFC 9457 problems.
    pub fn gateway_responses(mut self, responses: GatewayResponses) -> Self {
        self.responses = responses;
        self
    }

    /// Checks the configuration and builds the API.
    pub fn build(mut self) -> Result<WebSocketApi, ConfigError> {
        let selection = RouteSelection::parse(&self.selection)?;
        if !self.path.starts_with('/') {
            return Err(ConfigError::new(format!(
                "WebSocket path `{}` must start with `/`",
                self.path
            )));
        }
        let limits = &self.limits;
        if limits.outbound_queue == 0 || limits.max_in_flight == 0 {
            return Err(ConfigError::new(
                "WebSocket outbound_queue and max_in_flight must be at least 1",
            ));
        }
        if limits.idle_timeout.is_zero()
            || limits.max_lifetime.is_zero()
            || limits.integration_timeout.is_zero()
        {
            return Err(ConfigError::new(
                "WebSocket idle_timeout, max_lifetime and integration_timeout must be positive",
            ));
        }
        if limits.max_message_size == 0
            || limits.max_frame_size == 0
            || limits.read_buffer_size == 0
        {
            return Err(ConfigError::new(
                "WebSocket max_message_size, max_frame_size and read_buffer_size must be positive",
            ));
        }
        let connect = self.routes.remove("$connect");
        let disconnect = self.routes.remove("$disconnect");
        let default = self.routes.remove("$default");
        let (shutdown, _) = watch::channel(false);
        Ok(WebSocketApi {
            inner: Arc::new(Inner {
                routes: self.routes,
                connect,
                disconnect,
                default,
                selection,
                authorizer: self.authorizer,
                registry: self
                    .registry
                    .unwrap_or_else(|| Arc::new(InMemoryConnectionRegistry::new())),
                hub: Arc::new(Hub::new()),
                limits: self.limits,
                options: self.options,
                domain_name: self.domain_name,
                clock: self.clock,
                responses: self.responses,
                management_access: self.management_access,
                path: self.path,
                shutdown,
                live: AtomicUsize::new(0),
                all_closed: Notify::new(),
            }),
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new id in API Gateway's style: random, URL-safe base64.
pub(crate) fn new_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// `requestTime`, `requestTimeEpoch`, `requestId` and `extendedRequestId`
/// of an event at `now`.
pub(crate) fn stamp(context: &mut RequestContext, now: Duration, request_id: &str) {
    context.request_id = Some(request_id.to_owned());
    context.extended_request_id = Some(request_id.to_owned());
    context.request_time = Some(common_log_format(now));
    context.request_time_epoch = Some(epoch_millis(now));
}

/// An error frame as API Gateway writes it:
/// `{"message": "Forbidden", "connectionId":"…", "requestId":"…"}`.
pub(crate) fn error_frame(message: &str, connection_id: &str, request_id: &str) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        "{{\"message\": {}, \"connectionId\":{}, \"requestId\":{}}}",
        quote(message),
        quote(connection_id),
        quote(request_id)
    )
}

/// Decrements the live count when a connection is done (or its upgrade
/// never completed), so [`WebSocketApi::shutdown`] knows when all are.
pub(crate) struct Registration {
    pub(crate) inner: Arc<Inner>,
    pub(crate) id: Arc<str>,
}

impl Registration {
    /// Forgets the connection in this process and in the registry.
    pub(crate) async fn unregister(&self) {
        self.inner.hub.remove(&self.id);
        if let Err(error) = self.inner.registry.unregister(&self.id).await {
            tracing::warn!(%error, "could not unregister a closed WebSocket connection");
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.inner.hub.get(&self.id).is_some() {
            // The upgrade never completed: forget the connection here.
            self.inner.hub.remove(&self.id);
            let inner = self.inner.clone();
            let id = self.id.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = inner.registry.unregister(&id).await;
                });
            }
        }
        if self.inner.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.all_closed.notify_waiters();
        }
    }
}

async fn handshake(State(api): State<WebSocketApi>, request: Request<Body>) -> Response {
    let inner = &api.inner;
    let (mut parts, _body) = request.into_parts();
    let request_id = RequestId::find(&parts.extensions, &parts.headers).unwrap_or_default();
    if *inner.shutdown.borrow() {
        let rejection = Rejection::new(GatewayResponseType::Default5xx)
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail("the WebSocket API is shutting down");
        return api.reject(&rejection, &request_id);
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };

    let now = inner.clock.unix_time();
    let connection_id: Arc<str> = Arc::from(new_id());
    if let Some(authorizer) = &inner.authorizer {
        let mut probe = Request::new(Body::empty());
        *probe.method_mut() = parts.method.clone();
        *probe.uri_mut() = parts.uri.clone();
        *probe.version_mut() = parts.version;
        *probe.headers_mut() = parts.headers.clone();
        *probe.extensions_mut() = parts.extensions.clone();
        probe.extensions_mut().insert(request_id.clone());
        // A Lambda authorizer judges its policy against `…/{stage}/$connect`
        // and sends API Gateway's WebSocket REQUEST event.
        #[cfg(feature = "lambda-authorizer")]
        probe
            .extensions_mut()
            .insert(crate::lambda_authorizer::WebSocketConnect {
                connection_id: connection_id.to_string(),
                connected_at: epoch_millis(now),
            });
        match authorizer.authorize(probe).await {
            Ok(authorized) => {
                if let Some(claims) = authorized.claims {
                    parts.extensions.insert(claims);
                }
                if let Some(context) = authorized.context {
                    parts.extensions.insert(context);
                }
            }
            Err(refusal) => return refusal,
        }
    }

    let upgrade_event = v1::Request::from_http(&parts, &[], &inner.options, now);
    let v1_context = upgrade_event.request_context;
    let source_ip = v1_context.identity.source_ip.clone();
    let user_agent = v1_context.identity.user_agent.clone();
    let mut identity = v1::Identity::default();
    identity.source_ip.clone_from(&source_ip);
    identity.user_agent.clone_from(&user_agent);
    let base = RequestContext {
        account_id: v1_context.account_id,
        api_id: v1_context.api_id,
        authorizer: v1_context.authorizer,
        connected_at: Some(epoch_millis(now)),
        connection_id: Some(connection_id.to_string()),
        domain_name: inner.domain_name.clone().or(v1_context.domain_name),
        identity: Some(identity),
        message_direction: Some("IN".to_owned()),
        stage: v1_context.stage,
        ..RequestContext::default()
    };

    let mut upgrade = upgrade
        .max_message_size(inner.limits.max_message_size)
        .max_frame_size(inner.limits.max_frame_size)
        .read_buffer_size(inner.limits.read_buffer_size);
    if let Some(connect) = &inner.connect {
        let mut context = base.clone();
        context.route_key = Some("$connect".to_owned());
        context.event_type = Some("CONNECT".to_owned());
        stamp(&mut context, now, request_id.as_str());
        let event = Event {
            headers: upgrade_event.headers,
            multi_value_headers: upgrade_event.multi_value_headers,
            query_string_parameters: upgrade_event.query_string_parameters,
            multi_value_query_string_parameters: upgrade_event.multi_value_query_string_parameters,
            stage_variables: upgrade_event.stage_variables,
            request_context: context,
            ..Event::default()
        };
        let answer =
            tokio::time::timeout(inner.limits.integration_timeout, connect.call(event)).await;
        let rejection = match answer {
            Ok(Ok(answer)) if (200..300).contains(&answer.status_code) => {
                let protocol = answer
                    .headers
                    .iter()
                    .flatten()
                    .find(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol"))
                    .and_then(|(_, value)| HeaderValue::from_str(value).ok());
                if let Some(protocol) = protocol {
                    upgrade.set_selected_protocol(protocol);
                }
                None
            }
            Ok(Ok(answer)) => {
                let status = StatusCode::from_u16(answer.status_code)
                    .ok()
                    .filter(|s| s.is_client_error() || s.is_server_error())
                    .unwrap_or(StatusCode::FORBIDDEN);
                let kind = if status.is_client_error() {
                    GatewayResponseType::Default4xx
                } else {
                    GatewayResponseType::Default5xx
                };
                Some(
                    Rejection::new(kind)
                        .with_status(status)
                        .with_detail("the $connect integration refused the connection"),
                )
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "the $connect integration failed");
                Some(
                    Rejection::new(GatewayResponseType::IntegrationFailure)
                        .with_status(StatusCode::INTERNAL_SERVER_ERROR),
                )
            }
            Err(_) => Some(Rejection::new(GatewayResponseType::IntegrationTimeout)),
        };
        if let Some(rejection) = rejection {
            return api.reject(&rejection, &request_id);
        }
    }

    let clock_now = inner.clock.now();
    let state = Arc::new(ConnectionState {
        id: connection_id.clone(),
        connected_at: now,
        connected_mono: clock_now,
        last_active: AtomicU64::new(0),
        source_ip,
        user_agent,
    });
    let (tx, rx) = mpsc::channel(inner.limits.outbound_queue);
    inner.live.fetch_add(1, Ordering::AcqRel);
    let registration = Registration {
        inner: inner.clone(),
        id: connection_id,
    };
    inner.hub.insert(Local {
        tx,
        state: state.clone(),
    });
    if let Err(error) = inner.registry.register(state.info()).await {
        tracing::error!(%error, "could not register a WebSocket connection");
        drop(registration);
        return api.reject(
            &Rejection::new(GatewayResponseType::Default5xx),
            &request_id,
        );
    }
    let session = Session::new(inner.clone(), state, base, rx, registration);
    upgrade.on_upgrade(move |socket| session.run(socket))
}
