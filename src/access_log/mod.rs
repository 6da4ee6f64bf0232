//! Access logs in API Gateway's vocabulary: one line per request, written from
//! a template of `$context` variables.
//!
//! Port the access-log format you use on AWS as it is:
//!
//! ```text
//! {"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","routeKey":"$context.routeKey","status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength"}
//! ```
//!
//! That is also the default ([`DEFAULT_FORMAT`], API Gateway's JSON format for
//! HTTP APIs). Lines go to `tracing` at `INFO` under the target
//! `apigw::access_log`, or to any [`WriteAccessLog`] sink.
//!
//! # Variables
//!
//! `requestId`, `extendedRequestId`, `routeKey`, `resourcePath`, `httpMethod`,
//! `path`, `protocol`, `stage`, `domainName`, `status`, `responseLatency`
//! (ms), `responseLength`, `integrationLatency` / `integration.latency` (ms),
//! `integrationStatus`, `integrationErrorMessage`, `requestTime` (CLF),
//! `requestTimeEpoch` (ms), `identity.sourceIp`, `identity.userAgent`,
//! `identity.apiKeyId`, `authorizer.principalId` (the custom authorizer's, or
//! the JWT's `sub`), `authorizer.claims.<claim>`, `authorizer.<context key>`,
//! `authorizer.error`, `error.message`, `error.messageString` (quoted),
//! `error.responseType`, `apiId`, `accountId`. An unknown variable is a
//! configuration error. A value that is not known is `-`, as on AWS.
//!
//! # Security
//!
//! * Every value is escaped as JSON string content, so a header cannot break
//!   a JSON line or forge a field, and no control character reaches the log.
//!   Each value is cut at 512 bytes.
//! * `$context.identity.apiKey` logs `-`: API key values are secrets and are
//!   never logged. Use `identity.apiKeyId`.
//! * Tokens never appear: authorizers record claims, not tokens.
//!
//! # What inner layers contribute
//!
//! The layer attaches an [`Observation`](crate::observe::Observation) to each
//! request, in which inner layers record the route, the principal, the API
//! key and the integration's latency; rejections are read from the
//! response's [`Rejection`](crate::problem::Rejection). Place it outermost.
//! It also sets the request's [`RequestId`](crate::identity::RequestId) when
//! none is set, so every inner layer, problem and event agrees on it.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use apigw::access_log::AccessLogLayer;
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lines = Arc::new(Mutex::new(Vec::new()));
//! let sink = lines.clone();
//! let app = Router::new().route("/", get(|| async { "hi" })).layer(
//!     AccessLogLayer::builder()
//!         .format(r#"{"status":"$context.status","method":"$context.httpMethod"}"#)
//!         .sink(move |line: &str| sink.lock().unwrap().push(line.to_owned()))
//!         .build()?,
//! );
//! app.oneshot(http::Request::get("/").body(axum::body::Body::empty())?).await?;
//! assert_eq!(lines.lock().unwrap()[0], r#"{"status":"200","method":"GET"}"#);
//! # Ok(()) }
//! ```

mod layer;
mod template;

pub use layer::{
    AccessLog, AccessLogConfig, AccessLogLayer, AccessLogLayerBuilder, ResponseFuture, TracingSink,
    WriteAccessLog,
};

/// API Gateway's JSON access-log format for HTTP APIs, the default.
pub const DEFAULT_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","routeKey":"$context.routeKey","status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength"}"#;

#[cfg(test)]
mod tests;
