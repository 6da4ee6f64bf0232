//! The demo gateway: `cargo run --example gateway`.
//!
//! A self-contained gateway on 127.0.0.1 in front of a small axum "orders"
//! API, with the whole recommended stack as one `ServiceBuilder`:
//!
//! ```text
//! request id → access log + metrics → CORS → route table
//!   → TokenBucketThrottle (client IP) → JwtAuthorizer → UsagePlan (API key)
//!   → TokenBucketThrottle (per route) → RequestValidator → ResponseCache
//!   → the orders API | LambdaIntegration (GET /hello/{name})
//! ```
//!
//! No external service is needed: the process is its own demo issuer. It
//! generates an ES256 key at start, serves OIDC discovery and the JWKS on the
//! same listener (`/.well-known/openid-configuration`, `/.well-known/jwks.json`),
//! signs two tokens (one with the `orders/write` scope, one without), and
//! prints them with the demo API key and curl commands to try.
//!
//! The gateway is described by one JSON document in API Gateway's vocabulary
//! (`examples/gateway.json`, embedded): routes, the authorizer's scopes,
//! usage plans and API keys, throttles, models, cache settings, CORS and
//! gateway responses. Each section is one block's `…Config` and is loaded
//! through its `TryFrom`; `gatewayResponses` (customised rejections, as
//! API Gateway's gateway responses) applies to every block that rejects, and
//! `cors` (HTTP API's `CorsConfiguration`) builds tower-http's `CorsLayer`,
//! which sits outside the route table so rejections carry CORS headers too.
//!
//! `GET /metrics` serves API Gateway's metrics (`Count`, `4XXError`,
//! `Latency`, `CacheHitCount`, …, prefixed `apigw_`) in Prometheus' text
//! format through `metrics-exporter-prometheus`; access-log lines go to
//! stdout.
//!
//! As an edge gateway it trusts nothing the client says about itself: an
//! `x-request-id` it sends is replaced by the gateway's own id (unless
//! `trustClientRequestId` is set, for a gateway behind a proxy that sets
//! it), and `POST /orders` validates every JSON media type
//! (`application/*+json` too) against its model and refuses others with 415.
//! The server ([`serve`]) closes connections whose request head or body
//! stalls for 30 s and answers 431 to request heads over 64 KiB
//! ([`ServerLimits`]); `axum::serve` sets no such limits.
//!
//! Options: `--port N` (or `PORT`, default 8080), `--config FILE` to replace
//! the embedded configuration. Stops on Ctrl-C, letting requests in flight
//! finish.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use apigw::access_log::{AccessLogConfig, AccessLogLayerBuilder, WriteAccessLog};
use apigw::clock::{Clock, SharedClock, TokioClock};
use apigw::events::v2;
use apigw::identity::REQUEST_ID_HEADER;
use apigw::integration::{LambdaIntegration, PayloadFormat, handler_fn};
use apigw::jwt::{IssuerConfig, JwtAuthorizerConfig, JwtAuthorizerLayerBuilder};
use apigw::metrics::GatewayMetricsLayer;
use apigw::problem::{GatewayResponses, GatewayResponsesConfig};
use apigw::response_cache::{ResponseCacheConfig, ResponseCacheLayerBuilder};
use apigw::route::{MatchRouteLayer, RouteMatch, RouteTable, Unmatched};
use apigw::throttle::{TokenBucketThrottleConfig, TokenBucketThrottleLayerBuilder};
use apigw::usage_plan::{UsagePlanConfig, UsagePlanLayerBuilder};
use apigw::validate::{RequestValidatorConfig, RequestValidatorLayerBuilder};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Json};
use axum::routing::future::RouteFuture;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::Either;
use http::{HeaderName, HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::util::MapRequestLayer;
use tower::{Service, ServiceBuilder};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutBody;

/// A boxed error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The embedded default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("gateway.json");

/// The audience of the demo tokens.
pub const AUDIENCE: &str = "orders-api";

/// The prefix of every metric name: Prometheus names cannot start with a
/// digit (`4XXError`).
pub const METRICS_PREFIX: &str = "apigw_";

/// The scope `POST /orders` requires in the default configuration.
pub const WRITE_SCOPE: &str = "orders/write";

/// The whole gateway in API Gateway's vocabulary: one section per block,
/// each that block's configuration struct.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayConfig {
    /// The stage name. Default: `prod`.
    #[serde(default = "default_stage")]
    pub stage: String,
    /// The route keys the gateway serves (`GET /orders/{id}`). Other
    /// requests get 403 `MISSING_AUTHENTICATION_TOKEN`.
    pub routes: Vec<String>,
    /// `accessLogSettings` (JSON lines in API Gateway's default format
    /// unless `format` says otherwise), printed on stdout.
    #[serde(default)]
    pub access_log_settings: AccessLogConfig,
    /// The coarse throttle in front of everything (by client IP).
    pub client_throttle: TokenBucketThrottleConfig,
    /// The JWT authorizer. Without `jwtConfiguration` or `issuers`, the
    /// process's own demo issuer is used.
    #[serde(default)]
    pub authorizer: JwtAuthorizerConfig,
    /// API keys and usage plans.
    pub usage_plans: UsagePlanConfig,
    /// Route (method) throttles.
    pub route_throttle: TokenBucketThrottleConfig,
    /// Request validators and models.
    #[serde(default)]
    pub validation: RequestValidatorConfig,
    /// Cache settings.
    #[serde(default)]
    pub cache_settings: ResponseCacheConfig,
    /// HTTP API's `CorsConfiguration`. Without it, no CORS headers.
    #[serde(default)]
    pub cors: Option<CorsConfig>,
    /// Customised rejections (API Gateway's gateway responses), used by
    /// every block of the stack.
    #[serde(default)]
    pub gateway_responses: GatewayResponsesConfig,
    /// Keep an `x-request-id` the client sent, for a gateway behind a proxy
    /// that sets it. Default: false: the gateway gives every request an id
    /// of its own, as API Gateway does, so that no client chooses the id its
    /// log lines, problems and Lambda events carry.
    #[serde(default)]
    pub trust_client_request_id: bool,
    /// The clock the usage plans count quota periods and rate limits with
    /// (not read from the file). Default: tokio's clock. Tests set one whose
    /// day cannot end while they run.
    #[serde(skip)]
    pub usage_plan_clock: Option<SharedClock>,
}

/// API Gateway HTTP API's `CorsConfiguration`, converted into tower-http's
/// [`CorsLayer`]. `*` in a list means any value.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorsConfig {
    /// `Access-Control-Allow-Origin`: the allowed origins, or `["*"]`.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// `Access-Control-Allow-Methods`: the allowed methods, or `["*"]`.
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// `Access-Control-Allow-Headers`: the allowed request headers, or `["*"]`.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// `Access-Control-Expose-Headers`: response headers scripts may read,
    /// or `["*"]`.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// `Access-Control-Max-Age`, in seconds.
    #[serde(default)]
    pub max_age: Option<u64>,
    /// `Access-Control-Allow-Credentials`. Not allowed with a `*` anywhere,
    /// as on API Gateway.
    #[serde(default)]
    pub allow_credentials: bool,
}

fn is_any(values: &[String]) -> bool {
    values.iter().any(|v| v == "*")
}

fn header_names(values: &[String]) -> Result<Vec<HeaderName>, BoxError> {
    Ok(values
        .iter()
        .map(|v| HeaderName::try_from(v.as_str()))
        .collect::<Result<_, _>>()?)
}

impl TryFrom<CorsConfig> for CorsLayer {
    type Error = BoxError;

    fn try_from(config: CorsConfig) -> Result<Self, BoxError> {
        let lists = [
            &config.allow_origins,
            &config.allow_methods,
            &config.allow_headers,
            &config.expose_headers,
        ];
        if config.allow_credentials && lists.iter().any(|list| is_any(list)) {
            return Err("cors: allowCredentials cannot be combined with `*`".into());
        }
        // `Vary` names the request headers a response depends on: only
        // `Origin` (fixed lists, no mirroring of the other request headers),
        // which [`BrowserCors`] adds to every response itself: tower-http's
        // list would be cloned with the stack for every request.
        let mut layer = CorsLayer::new()
            .allow_credentials(config.allow_credentials)
            .vary([]);
        if is_any(&config.allow_origins) {
            layer = layer.allow_origin(Any);
        } else if !config.allow_origins.is_empty() {
            let origins = config
                .allow_origins
                .iter()
                .map(|v| HeaderValue::try_from(v.as_str()))
                .collect::<Result<Vec<_>, _>>()?;
            layer = layer.allow_origin(AllowOrigin::list(origins));
        }
        if is_any(&config.allow_methods) {
            layer = layer.allow_methods(Any);
        } else if !config.allow_methods.is_empty() {
            let methods = config
                .allow_methods
                .iter()
                .map(|v| Method::try_from(v.to_ascii_uppercase().as_str()))
                .collect::<Result<Vec<_>, _>>()?;
            layer = layer.allow_methods(methods);
        }
        if is_any(&config.allow_headers) {
            layer = layer.allow_headers(Any);
        } else if !config.allow_headers.is_empty() {
            layer = layer.allow_headers(header_names(&config.allow_headers)?);
        }
        if is_any(&config.expose_headers) {
            layer = layer.expose_headers(Any);
        } else if !config.expose_headers.is_empty() {
            layer = layer.expose_headers(header_names(&config.expose_headers)?);
        }
        if let Some(seconds) = config.max_age {
            layer = layer.max_age(std::time::Duration::from_secs(seconds));
        }
        Ok(layer)
    }
}

/// tower-http's CORS layer for the requests CORS is about: those with an
/// `Origin` header, which browsers send on every cross-origin request and on
/// every preflight (Fetch standard, "CORS protocol"). A request without one
/// (curl, a mobile app, another service) skips tower-http's per-request header
/// map and gets only `Vary: Origin`, so that a shared cache never hands its
/// answer to a browser. Envoy's CORS filter and Go's `rs/cors` do the same.
#[derive(Clone, Debug)]
pub struct BrowserCorsLayer(CorsLayer);

impl<S> tower::Layer<S> for BrowserCorsLayer {
    type Service = BrowserCors<S>;

    fn layer(&self, inner: S) -> BrowserCors<S> {
        BrowserCors(self.0.layer(inner))
    }
}

/// The service of [`BrowserCorsLayer`].
#[derive(Clone, Debug)]
pub struct BrowserCors<S>(tower_http::cors::Cors<S>);

impl<S, B, ResBody> Service<Request<B>> for BrowserCors<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = futures_util::future::MapOk<
        Either<tower_http::cors::ResponseFuture<S::Future>, S::Future>,
        fn(Response<ResBody>) -> Response<ResBody>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        // tower-http's `Cors` is ready when its inner service is.
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        use futures_util::TryFutureExt;
        let future = if request.headers().contains_key(http::header::ORIGIN) {
            Either::Left(self.0.call(request))
        } else {
            Either::Right(self.0.get_mut().call(request))
        };
        future.map_ok(vary_origin)
    }
}

fn vary_origin<B>(mut response: Response<B>) -> Response<B> {
    response
        .headers_mut()
        .append(http::header::VARY, HeaderValue::from_static("origin"));
    response
}

impl From<CorsLayer> for BrowserCorsLayer {
    fn from(layer: CorsLayer) -> Self {
        Self(layer)
    }
}

/// tower-http's request-id maker with this crate's ids: a UUID v4 written
/// once into a buffer that the request header, the response header and the
/// [`RequestId`](apigw::identity::RequestId) extension all share (tower-http's
/// `MakeRequestUuid` formats through `Display` and copies the text twice).
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeRequestUuid;

impl MakeRequestId for MakeRequestUuid {
    fn make_request_id<B>(
        &mut self,
        _request: &Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        let id = apigw::identity::RequestId::new();
        Some(tower_http::request_id::RequestId::new(id.header_value()))
    }
}

fn default_stage() -> String {
    "prod".to_owned()
}

impl GatewayConfig {
    /// The embedded default.
    pub fn embedded() -> Result<Self, BoxError> {
        Self::from_json(DEFAULT_CONFIG)
    }

    /// Parses a JSON document.
    pub fn from_json(json: &str) -> Result<Self, BoxError> {
        Ok(serde_json::from_str(json)?)
    }
}

/// The process's own issuer: an ES256 key generated at start.
#[derive(Debug)]
pub struct DemoIssuer {
    issuer: String,
    encoding: jsonwebtoken::EncodingKey,
    jwks: Value,
}

impl DemoIssuer {
    /// A fresh key for the issuer at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn generate(base: &str) -> Result<Self, BoxError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?;
        let pkcs8 = pair.to_pkcs8v1()?;
        let encoding = jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref());
        // The public key is the uncompressed point: 0x04 ‖ x ‖ y.
        let point = pair.public_key().as_ref();
        let (x, y) = match point {
            [4, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => return Err("unexpected P-256 public key encoding".into()),
        };
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "demo",
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]});
        Ok(Self {
            issuer: base.to_owned(),
            encoding,
            jwks,
        })
    }

    /// The issuer URL.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public key set (JWKS) as JSON.
    #[must_use]
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// A token for `subject` with `scopes`, valid for an hour.
    pub fn token(&self, subject: &str, scopes: &[&str]) -> Result<String, BoxError> {
        let now = TokioClock.unix_time().as_secs();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("demo".to_owned());
        let claims = json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": subject,
            "iat": now, "exp": now + 3600, "scope": scopes.join(" "),
        });
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }

    /// OIDC discovery and the JWKS, served next to the gateway.
    pub fn router(&self) -> Router {
        let discovery = json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/.well-known/jwks.json", self.issuer),
        });
        let jwks = self.jwks.clone();
        Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route(
                "/.well-known/jwks.json",
                get(move || async move { Json(jwks) }),
            )
    }
}

/// The process's Prometheus recorder, installed once as the `metrics`
/// facade's global recorder; `None` when another recorder was there first.
fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .clone()
}

/// How often the Prometheus recorder folds the latency samples it has
/// collected into its summaries (what `PrometheusBuilder::install` would do).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Folds recorded histogram samples into their summaries every
/// [`METRICS_UPKEEP`], for as long as the runtime runs. A recorder built with
/// `build_recorder` keeps every sample until something renders or upkeeps
/// it: without this task, and with nobody scraping `/metrics`, the process
/// would grow by ~16 bytes per request for ever.
async fn metrics_upkeep(handle: PrometheusHandle) {
    let mut ticks = tokio::time::interval(METRICS_UPKEEP);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        handle.run_upkeep();
    }
}

/// `GET /metrics`: the gateway's metrics in Prometheus' text format.
fn metrics_router() -> Router {
    Router::new().route(
        "/metrics",
        get(|| async {
            match prometheus() {
                Some(handle) => {
                    handle.run_upkeep();
                    (http::StatusCode::OK, handle.render())
                }
                None => (
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "another metrics recorder is installed\n".to_owned(),
                ),
            }
        }),
    )
}

/// What a demo user needs: where the gateway is, tokens and the API key.
#[derive(Debug, Clone)]
pub struct Demo {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A token with every scope the routes ask for.
    pub token: String,
    /// A valid token without `orders/write`.
    pub token_without_scope: String,
    /// The first API key of the configuration, if any.
    pub api_key: Option<String>,
}

/// The Lambda-style function behind `GET /hello/{name}`, written as for AWS.
async fn hello(event: v2::Request) -> Result<v2::Response, std::convert::Infallible> {
    let name = event
        .path_parameters
        .as_ref()
        .and_then(|p| p.get("name").cloned())
        .unwrap_or_else(|| "world".to_owned());
    let body = json!({
        "message": format!("hello, {name}"),
        "routeKey": event.route_key,
        "requestId": event.request_context.request_id,
    });
    Ok(v2::Response::new(200)
        .with_header("content-type", "application/json")
        .with_body(body.to_string()))
}

/// The orders API behind the gateway, and the Lambda-style route, whose
/// rejections are rendered with `responses`.
pub fn orders_api(responses: GatewayResponses) -> Result<Router, BoxError> {
    let integration = LambdaIntegration::builder(handler_fn(hello))
        .payload_format(PayloadFormat::V2)
        .gateway_responses(responses)
        .build()?;
    Ok(Router::new()
        .route(
            "/orders",
            get(|| async { Json(json!([{"id": "1", "sku": "book", "quantity": 1}])) }).post(
                |Json(order): Json<Value>| async move { Json(json!({"id": "2", "order": order})) },
            ),
        )
        .route(
            "/orders/{id}",
            get(|route: RouteMatch| async move {
                Json(json!({
                    "id": route.path_parameter("id"),
                    "routeKey": route.route_key().to_string(),
                    "stage": route.stage(),
                    "servedAt": TokioClock.unix_time().as_nanos().to_string(),
                }))
            }),
        )
        .route("/stock", get(|| async { Json(json!({"book": 12})) }))
        .route(
            "/reports",
            get(|| async { Json(json!({"orders": 2, "revenue": "42.00"})) }),
        )
        .route_service("/hello/{name}", integration)
        // Handlers become routes once, not on every request (what
        // `into_make_service` does for a router served on its own).
        .with_state(()))
}

/// The demo gateway as one service: the demo issuer's endpoints and
/// `/metrics` beside the stack, which serves every other request.
///
/// Dispatching on those three paths here, rather than with an axum `Router`
/// whose fallback is the stack, spares every gateway request a second route
/// lookup and a boxed clone of the whole stack.
#[derive(Clone)]
pub struct App<S> {
    demo: Router,
    stack: S,
    /// The peer of the connection, for the client-IP throttle and logs.
    peer: Option<SocketAddr>,
}

impl<S> std::fmt::Debug for App<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("demo_paths", &DEMO_PATHS)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// What [`App`] serves beside the demo endpoints: a cloneable service from
/// axum requests to axum responses (the stack [`gateway`] builds).
pub trait Stack:
    Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> Stack for S where
    S: Service<
            Request<Body>,
            Response = Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// The paths [`App`] serves beside the stack.
const DEMO_PATHS: [&str; 3] = [
    "/.well-known/openid-configuration",
    "/.well-known/jwks.json",
    "/metrics",
];

impl<S> Service<Request<Body>> for App<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<RouteFuture<Infallible>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The demo router is always ready.
        self.stack.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        if DEMO_PATHS.contains(&request.uri().path()) {
            Either::Left(self.demo.call(request))
        } else {
            Either::Right(self.stack.call(request))
        }
    }
}

/// The whole gateway for `config`, served at `base`: the stack in the
/// recommended order in front of the orders API, plus the demo issuer's
/// endpoints, with access-log lines written to `access_log`. Returns the
/// application and the demo credentials.
pub fn gateway(
    mut config: GatewayConfig,
    base: &str,
    access_log: impl WriteAccessLog,
) -> Result<(App<impl Stack>, Demo), BoxError> {
    // The recorder first, so that every metric a layer registers reaches it.
    if let (Some(handle), Ok(runtime)) = (prometheus(), tokio::runtime::Handle::try_current()) {
        runtime.spawn(metrics_upkeep(handle));
    }
    let issuer = DemoIssuer::generate(base)?;
    if config.authorizer.jwt_configuration.is_none() && config.authorizer.issuers.is_empty() {
        let demo: IssuerConfig =
            serde_json::from_value(json!({"issuer": base, "audience": [AUDIENCE]}))?;
        config.authorizer.issuers.push(demo);
    }
    let demo = Demo {
        base: base.to_owned(),
        token: issuer.token("demo-user", &["orders/read", WRITE_SCOPE])?,
        token_without_scope: issuer.token("demo-user", &["orders/read"])?,
        api_key: config.usage_plans.api_keys.first().map(|k| k.value.clone()),
    };

    let mut routes = RouteTable::builder().stage(config.stage.clone());
    for route in &config.routes {
        routes = routes.route(route, ())?;
    }
    let routes = routes.build()?;
    let cors = config
        .cors
        .map(CorsLayer::try_from)
        .transpose()?
        .map(BrowserCorsLayer::from);
    // One `GatewayResponses` for every block that rejects.
    let responses = GatewayResponses::try_from(config.gateway_responses)?;
    let log = AccessLogLayerBuilder::from(config.access_log_settings)
        .sink(access_log)
        .build()?;

    let stack = ServiceBuilder::new()
        // One body type for the server (axum's).
        .map_response(|response: Response<_>| response.map(Body::from))
        .option_layer((!config.trust_client_request_id).then(|| {
            MapRequestLayer::new(|mut request: Request<Body>| {
                request.headers_mut().remove(REQUEST_ID_HEADER);
                request
            })
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(log)
        .layer(
            GatewayMetricsLayer::builder()
                .prefix(METRICS_PREFIX)
                .build(),
        )
        .option_layer(cors)
        .layer(MatchRouteLayer::with_options(
            routes,
            Unmatched::MissingAuthenticationToken,
            responses.clone(),
        ))
        .layer(
            TokenBucketThrottleLayerBuilder::try_from(config.client_throttle)?
                .gateway_responses(responses.clone())
                .build()?,
        )
        .layer(
            JwtAuthorizerLayerBuilder::try_from(config.authorizer)?
                .gateway_responses(responses.clone())
                .build()?,
        )
        .layer({
            let plans = UsagePlanLayerBuilder::try_from(config.usage_plans)?
                .gateway_responses(responses.clone());
            match config.usage_plan_clock {
                Some(clock) => plans.with_clock(clock),
                None => plans,
            }
            .build()?
        })
        .layer(
            TokenBucketThrottleLayerBuilder::try_from(config.route_throttle)?
                .gateway_responses(responses.clone())
                .build()?,
        )
        .layer({
            // A `gatewayResponses` inside `validation` still wins there.
            let own = config.validation.gateway_responses.is_some();
            let validator = RequestValidatorLayerBuilder::try_from(config.validation)?;
            if own {
                validator.build()?
            } else {
                validator.gateway_responses(responses.clone()).build()?
            }
        })
        .layer(
            ResponseCacheLayerBuilder::try_from(config.cache_settings)?
                // The cache counts its hits and misses itself: into the
                // metrics layer's series, under the same names.
                .metrics_prefix(METRICS_PREFIX)
                .gateway_responses(responses.clone())
                .build()?,
        )
        .service(orders_api(responses)?);

    let app = App {
        demo: issuer.router().merge(metrics_router()),
        stack,
        peer: None,
    };
    Ok((app, demo))
}

/// What one connection may hold the server to. Without them (hyper's
/// defaults when no timer is set, and `axum::serve`'s) a client that sends
/// half a request head, or half a body, keeps its connection, and a request
/// head may take ~400 KB of buffer.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// How long a request head may take, from the first read of a new
    /// request (on a fresh or an idle keep-alive connection) to its last
    /// header; then the connection is closed. Default: 30 s.
    pub header_read_timeout: Duration,
    /// How long the server waits for the next part of a request body; then
    /// reading the body fails, and the layer reading it answers with its
    /// problem (the validator's 400, say). Default: 30 s.
    pub body_idle_timeout: Duration,
    /// Most bytes a request line and its headers may take; a longer head is
    /// answered 431. Default: 64 KiB (hyper's floor is 8 KiB).
    pub max_head_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(30),
            max_head_bytes: 64 * 1024,
        }
    }
}

/// Serves `app` on `listener` (with the peer address the client-IP throttle
/// needs) under the default [`ServerLimits`] until `shutdown` completes.
pub async fn serve<S: Stack>(
    listener: tokio::net::TcpListener,
    app: App<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, ServerLimits::default(), shutdown).await
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes,
/// then lets the requests in flight finish. HTTP/1.1, as `axum::serve`
/// without its `http2` feature.
pub async fn serve_with<S: Stack>(
    listener: tokio::net::TcpListener,
    app: App<S>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes);
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: let some connections end.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let mut app = app.clone();
        app.peer = Some(peer);
        let timeout = limits.body_idle_timeout;
        let app = tower::ServiceExt::map_request(app, move |request: Request<Incoming>| {
            request.map(|body| Body::new(TimeoutBody::new(timeout, body)))
        });
        let connection = connections
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app)));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

struct Options {
    port: u16,
    config: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut port = std::env::var("PORT").ok();
    let mut config = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = Some(args.next().ok_or("--port needs a value")?),
            "--config" => config = Some(args.next().ok_or("--config needs a file")?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let port = match port {
        Some(port) => port.parse().map_err(|_| format!("invalid port `{port}`"))?,
        None => 8080,
    };
    Ok(Options { port, config })
}

fn print_help(demo: &Demo) {
    let base = &demo.base;
    let token = &demo.token;
    let weak = &demo.token_without_scope;
    let key = demo.api_key.as_deref().unwrap_or("<no API key configured>");
    println!("apigw demo gateway on {base} (Ctrl-C to stop)\n");
    println!("TOKEN={token}");
    println!("WEAK_TOKEN={weak}   # valid, without {WRITE_SCOPE}");
    println!("API_KEY={key}\n");
    println!("Try:");
    println!("  curl -i {base}/orders -H \"authorization: Bearer $TOKEN\"            # 200");
    println!(
        "  curl -i {base}/orders                                              # 401, no token"
    );
    println!(
        "  curl -i -X POST {base}/orders -H \"authorization: Bearer $WEAK_TOKEN\" -H 'content-type: application/json' -d '{{\"sku\":\"book\",\"quantity\":1}}'   # 403, missing scope"
    );
    println!(
        "  curl -i -X POST {base}/orders -H \"authorization: Bearer $TOKEN\" -H 'content-type: application/json' -d '{{\"sku\":\"\"}}'   # 400 with `errors`"
    );
    println!(
        "  curl -i {base}/reports -H \"authorization: Bearer $TOKEN\" -H 'x-api-key: not-a-key'   # 403, unknown API key"
    );
    println!(
        "  for i in 1 2 3; do curl -si {base}/stock -H \"authorization: Bearer $TOKEN\" | head -1; done   # the 3rd: 429 with Retry-After"
    );
    println!(
        "  for i in 1 2 3 4 5 6; do curl -si {base}/reports -H \"authorization: Bearer $TOKEN\" -H \"x-api-key: $API_KEY\" | head -1; done   # the 6th: 429, quota (5 a day)"
    );
    println!(
        "  curl -si {base}/orders/7 -H \"authorization: Bearer $TOKEN\" | grep -i x-cache   # twice: Miss, then Hit"
    );
    println!(
        "  curl -i {base}/hello/ana -H \"authorization: Bearer $TOKEN\"         # a Lambda-style handler behind LambdaIntegration"
    );
    println!(
        "  curl -i {base}/admin                                               # 403 MISSING_AUTHENTICATION_TOKEN\n"
    );
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let options = options().map_err(|err| {
        eprintln!("{err}\nusage: gateway [--port N] [--config FILE]");
        err
    })?;
    let config = match &options.config {
        Some(path) => GatewayConfig::from_json(&std::fs::read_to_string(path)?)?,
        None => GatewayConfig::embedded()?,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], options.port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (app, demo) = gateway(config, &base, |line: &str| println!("{line}"))?;
    print_help(&demo);
    serve(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
        println!("shutting down");
    })
    .await?;
    Ok(())
}
