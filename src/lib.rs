//! Amazon API Gateway's building blocks as tower layers.
//!
//! `apigw` gives a Rust service what API Gateway gives a Lambda function —
//! authorizers, request validation, throttling, usage plans, a response
//! cache, one error format, the Lambda proxy payload formats — as tower
//! layers that stack in front of any axum, hyper or tonic service,
//! in-process, at microsecond cost. Pick the layers you need.
//!
//! # Quick start
//!
//! Wrap an existing axum `Router`:
//!
//! ```
//! use apigw::route::{MatchRouteLayer, RouteTable};
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let routes = RouteTable::builder()
//!     .stage("prod")
//!     .route("GET /orders/{id}", ())?
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/orders/{id}", get(|| async { "order" }))
//!     .layer(MatchRouteLayer::new(routes));
//!
//! let response = app
//!     .oneshot(http::Request::get("/admin").body(axum::body::Body::empty())?)
//!     .await?;
//! // API Gateway's answer for an unknown route, as an RFC 9457 problem.
//! assert_eq!(response.status(), 403);
//! assert_eq!(response.headers()["content-type"], "application/problem+json");
//! # Ok(()) }
//! ```
//!
//! # What every layer shares
//!
//! * **One error format.** Every rejection is rendered by one
//!   [`GatewayResponses`](problem::GatewayResponses) value from API Gateway's
//!   [gateway response types](problem::GatewayResponseType): an RFC 9457
//!   `application/problem+json` body by default, or API Gateway's own
//!   `{"message": …}` body. Layers answer with responses, never with `Err`,
//!   so axum's `Infallible` routers keep working.
//! * **Extensions, not globals.** What one layer learns flows to the next in
//!   request extensions ([`identity`], [`route::RouteMatch`]), each readable
//!   with an axum extractor.
//! * **Injected time.** Every layer that keeps time reads a
//!   [`Clock`](clock::Clock); tests use tokio's paused time or
//!   [`ManualClock`](clock::ManualClock) and never sleep.
//! * **Routes as API Gateway keys them.** Per-route settings live in a
//!   [`RouteTable`](route::RouteTable) keyed by `GET /orders/{id}`,
//!   `ANY /{proxy+}`, `$default`; or apply a layer per route with axum's
//!   `route_layer`.
//!
//! # Blocks
//!
//! | block | module | feature | rejects with |
//! |---|---|---|---|
//! | route matching | [`route`] | always | 403 `MISSING_AUTHENTICATION_TOKEN` or 404 `RESOURCE_NOT_FOUND` for unknown routes |
//! | request validation | [`validate`] | `validate` | 400 `BAD_REQUEST_PARAMETERS` / `BAD_REQUEST_BODY`, 413 `REQUEST_TOO_LARGE`, 415 `UNSUPPORTED_MEDIA_TYPE` |
//! | token-bucket throttling | [`throttle`] | `throttle` | 429 `THROTTLED` with `Retry-After` and `RateLimit` headers |
//! | API keys, usage plans, quotas | [`usage_plan`] | `usage-plan` | 403 `INVALID_API_KEY`, 429 `THROTTLED`, 429 `QUOTA_EXCEEDED` |
//! | Lambda proxy payloads 1.0 / 2.0, WebSocket events | [`events`] | `events` | — |
//! | Lambda proxy integration | [`integration`] | `integration` | 413 `REQUEST_TOO_LARGE`, 502/500 `INTEGRATION_FAILURE`, 504 `INTEGRATION_TIMEOUT` / `INTEGRATION_FAILURE` |
//! | custom (Lambda) authorizer with result cache | [`lambda_authorizer`] | `lambda-authorizer` | 401 `UNAUTHORIZED`, 403 `ACCESS_DENIED`, 500 `AUTHORIZER_CONFIGURATION_ERROR` |
//! | JWT authorizer | [`jwt`] | `jwt` | 401 `UNAUTHORIZED` with `WWW-Authenticate`, 403 `ACCESS_DENIED` (`insufficient_scope`), 500 `AUTHORIZER_FAILURE` |
//! | response cache | [`response_cache`] | `response-cache` | 403 `ACCESS_DENIED` for an unauthorized `Cache-Control: max-age=0` (with `FAIL_WITH_403`) |
//! | shared throttle buckets and quotas for many replicas | `store::redis` | `redis` | the throttle / usage-plan layers' 503 when failing closed |
//! | WebSocket APIs | `websocket` | `websocket` | handshake: the `$connect` authorizer's 401 / 403, the `$connect` integration's status; `@connections`: 403 unless allowed, 410 for a gone connection |
//! | RFC 9457 errors | [`problem`] | always | — |
//! | access logs (`$context` variables) | `access_log` | `access-log` | — |
//! | API Gateway metrics | `metrics` | `metrics` | — |
//!
//! Problem `type` URIs are `urn:apigw:problem:<response-type>` (for example
//! `urn:apigw:problem:throttled`), with a finer suffix where a layer
//! distinguishes kinds; they are stable.
//!
//! # Recommended order (outermost first)
//!
//! ```text
//! request id → access log + metrics → CORS (tower-http) → TokenBucketThrottle (stage / client IP)
//!   → JwtAuthorizer | LambdaAuthorizerCache → UsagePlan (API key, per-key throttle, quota)
//!   → TokenBucketThrottle (per method) → RequestValidator → ResponseCache
//!   → integration timeout (504) → your router | LambdaIntegration
//! ```
//!
//! API Gateway authorizes first and throttles after; a coarse stage or
//! client-IP throttle goes outermost so that a flood of bad tokens cannot burn
//! CPU on signature checks. The rest follows API Gateway's order.
//!
//! # Features
//!
//! One feature per block, all on by default except `redis`: `jwt`,
//! `lambda-authorizer`, `validate`, `throttle`, `usage-plan`,
//! `response-cache`, `events`, `integration`, `axum` (extractors and
//! `MatchedPath` support), `access-log`, `metrics`, `redis` (shared stores for throttles and quotas),
//! and `full` for everything. Use `default-features = false` and name the
//! blocks you want for à la carte builds.
//!
//! # Minimum supported Rust version
//!
//! Rust 1.88.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "access-log")]
#[cfg_attr(docsrs, doc(cfg(feature = "access-log")))]
pub mod access_log;
pub mod body;
#[cfg(any(feature = "events", feature = "access-log", feature = "usage-plan"))]
mod calendar;
pub mod clock;
mod error;
#[cfg(feature = "events")]
#[cfg_attr(docsrs, doc(cfg(feature = "events")))]
pub mod events;
pub mod future;
pub mod identity;
#[cfg(feature = "integration")]
#[cfg_attr(docsrs, doc(cfg(feature = "integration")))]
pub mod integration;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
#[cfg(feature = "lambda-authorizer")]
#[cfg_attr(docsrs, doc(cfg(feature = "lambda-authorizer")))]
pub mod lambda_authorizer;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod observe;
mod prehashed;
pub mod problem;
#[cfg(feature = "response-cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "response-cache")))]
pub mod response_cache;
pub mod route;
#[cfg(feature = "throttle")]
#[cfg_attr(docsrs, doc(cfg(any(feature = "throttle", feature = "usage-plan"))))]
pub mod store;
#[cfg(any(feature = "events", feature = "access-log"))]
mod swar;
#[cfg(feature = "throttle")]
#[cfg_attr(docsrs, doc(cfg(feature = "throttle")))]
pub mod throttle;
#[cfg(feature = "usage-plan")]
#[cfg_attr(docsrs, doc(cfg(feature = "usage-plan")))]
pub mod usage_plan;
#[cfg(feature = "validate")]
#[cfg_attr(docsrs, doc(cfg(feature = "validate")))]
pub mod validate;
#[cfg(feature = "websocket")]
#[cfg_attr(docsrs, doc(cfg(feature = "websocket")))]
pub mod websocket;

pub use error::ConfigError;
