//! Custom (Lambda) authorizers with API Gateway's identity sources, result
//! cache and IAM policy evaluation.
//!
//! [`LambdaAuthorizerCacheLayer`] runs an authorizer in front of a service,
//! as API Gateway runs a Lambda authorizer in front of an integration. The
//! authorizer is any [`Authorize`]: an async closure receiving the typed
//! [`AuthorizerRequest`](crate::events::authorizer::AuthorizerRequest), a
//! `tower::Service` ([`ServiceAuthorizer`]), or a Lambda function called
//! through [`Invoke`](crate::integration::Invoke) with the real authorizer
//! event ([`InvokeAuthorizer`]).
//!
//! ```
//! use apigw::events::authorizer::{AuthorizerRequest, IamPolicyResponse};
//! use apigw::lambda_authorizer::{AuthorizeError, LambdaAuthorizerCacheLayer};
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Opaque tokens: "allow-<user>" may read /pets, anything else is refused.
//! let authorizer = |request: AuthorizerRequest| async move {
//!     let token = request.token().unwrap_or_default();
//!     match token.strip_prefix("allow-") {
//!         Some(user) => Ok(IamPolicyResponse::allow(
//!             user,
//!             "arn:aws:execute-api:*:*:*/*/GET/pets*",
//!         )),
//!         None => Err(AuthorizeError::Unauthorized),
//!     }
//! };
//! let layer = LambdaAuthorizerCacheLayer::builder(authorizer)
//!     .token("Authorization")
//!     .build()?;
//! let app = Router::new()
//!     .route("/pets", get(|| async { "pets" }))
//!     .layer(layer);
//!
//! let good = http::Request::get("/pets")
//!     .header("authorization", "allow-alice")
//!     .body(axum::body::Body::empty())?;
//! assert_eq!(app.clone().oneshot(good).await?.status(), 200);
//!
//! let bad = http::Request::get("/pets")
//!     .header("authorization", "let me in")
//!     .body(axum::body::Body::empty())?;
//! let response = app.oneshot(bad).await?;
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.headers()["content-type"], "application/problem+json");
//! # Ok(()) }
//! ```
//!
//! # What is checked, in order
//!
//! 1. **Identity sources** ([`IdentitySource`]): headers (case-insensitive
//!    names), query parameters (case-sensitive), stage variables and
//!    `$context` values such as `$context.routeKey`. A missing or empty
//!    source answers 401 *without calling the authorizer* when caching is
//!    on, always for `TOKEN` and HTTP API authorizers, and never for a REST
//!    `REQUEST` authorizer with caching off (as API Gateway).
//! 2. **`TOKEN` validation expression**: the whole raw header value must
//!    match the regular expression, or 401 without a call.
//! 3. **The cache**: results are cached per identity (the identity-source
//!    values, length-prefixed, so `["a,b","c"]` and `["a","b,c"]` differ)
//!    for the TTL (default 300 s, 0 disables, at most 3600 s). An
//!    [`AuthorizerResponse::with_ttl`] can shorten one result's TTL, never
//!    lengthen it. Allow *and* Deny answers are cached; `Unauthorized`,
//!    errors, timeouts and invalid answers never are. Concurrent misses on
//!    one identity make exactly one call; if the request that started it is
//!    cancelled, the others still get its answer.
//!    [`invalidate`](LambdaAuthorizerCacheLayer::invalidate) and
//!    [`invalidate_all`](LambdaAuthorizerCacheLayer::invalidate_all) forget
//!    results.
//! 4. **The authorizer** (on a miss), with a timeout (default 10 s).
//! 5. **The policy**, on every request, hit or miss: an IAM policy is
//!    evaluated against *this* request's method ARN,
//!    `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{VERB}/{path}`
//!    (the root path gives a trailing `/`), with IAM's rules
//!    ([`evaluate_policy`]). A cached Allow for `GET /alpha` does not open
//!    `GET /beta` unless its `Resource` covers it. A 2.0 simple response
//!    allows or denies every request with that identity.
//!
//! On success the request carries an
//! [`AuthorizerContext`](crate::identity::AuthorizerContext) (principal id,
//! context, usage identifier key) for handlers, the usage plan and the
//! Lambda integration.
//!
//! # Rejections
//!
//! | when | status | gateway response | problem `type` |
//! |---|---|---|---|
//! | method ARN over 1600 bytes ([`MAX_METHOD_ARN_LEN`]) | 414 | `DEFAULT_4XX` (status 414, `Request URI too long`) | `urn:apigw:problem:default-4xx:method-arn-too-long` |
//! | missing or empty identity source | 401 | `UNAUTHORIZED` | `urn:apigw:problem:unauthorized:missing-identity-source` |
//! | token fails the validation expression | 401 | `UNAUTHORIZED` | `urn:apigw:problem:unauthorized:identity-validation-failed` |
//! | the authorizer answers `Unauthorized` | 401 | `UNAUTHORIZED` | `urn:apigw:problem:unauthorized:authorizer-unauthorized` |
//! | a `Deny` covers the method ARN | 403 | `ACCESS_DENIED` | `urn:apigw:problem:access-denied:explicit-deny` |
//! | no `Allow` covers the method ARN | 403 | `ACCESS_DENIED` | `urn:apigw:problem:access-denied:implicit-deny` |
//! | simple response `"isAuthorized": false` | 403 | `ACCESS_DENIED` | `urn:apigw:problem:access-denied:not-authorized` |
//! | the authorizer fails or cannot be reached | 500 | `AUTHORIZER_CONFIGURATION_ERROR` | `urn:apigw:problem:authorizer-configuration-error:authorizer-error` |
//! | the authorizer times out | 500 | `AUTHORIZER_CONFIGURATION_ERROR` | `urn:apigw:problem:authorizer-configuration-error:timeout` |
//! | invalid answer (malformed, over 8 KB, wrong format, nested 1.0 context, non-boolean `isAuthorized`, bad `Effect`) | 500 | `AUTHORIZER_CONFIGURATION_ERROR` | `urn:apigw:problem:authorizer-configuration-error:invalid-response` |
//!
//! With [`GatewayResponses::aws`](crate::problem::GatewayResponses::aws) the
//! bodies are API Gateway's: `{"message":"Unauthorized"}`, `{"message":"User
//! is not authorized to access this resource with an explicit deny"}`,
//! `{"message":"User is not authorized to access this resource"}`,
//! `{"message":null}` — the key is lower-case `message` for the two denials
//! too, as AWS's knowledge-center article on authorizer 403s shows (an
//! emulator's capital `Message` is not what API Gateway sends). The
//! [`LambdaAuthorizerRejection`] is in the
//! response's extensions. Nothing is ever an allow by accident: every
//! failure answers 401, 403 or 500.
//!
//! # Performance and security notes
//!
//! * A cache hit is decided synchronously: one header read, one moka
//!   lookup, one policy evaluation. The policy is compiled once per answer,
//!   keeping only the statements that cover `execute-api:Invoke`, and bound
//!   to the method-ARN prefix the configuration fixes (and, with a
//!   configured stage, to `{prefix}{VERB}/` for the common methods), so a hit
//!   matches only the rest of the ARN — usually the request's path, in
//!   place. Identities given the same policy share one compiled copy. Only a
//!   miss boxes a future. See `BENCHMARKS.md`.
//! * The wildcard matcher is O(pattern × ARN) and never recursive; the
//!   validation expression runs on the `regex` crate, which is linear-time,
//!   so neither a policy nor a token can make matching explode.
//! * Tokens are never logged; cache keys print their length only.
//! * IAM `Condition`s are not evaluated, by choice: the keys an
//!   authorizer's policy could test (`aws:SourceIp`, `aws:CurrentTime`, …)
//!   are not all known to a layer behind proxies, and a half-evaluated
//!   condition is a way to grant by accident. So a statement with a
//!   `Condition` is handled deny-safe: a conditional `Allow` never allows
//!   (the request needs another, unconditional `Allow`), and a conditional
//!   `Deny` denies whatever its resources match.
//! * The method ARN is checked against API Gateway's 1600-byte limit before
//!   the cache or the authorizer is consulted.
//! * The timeout runs on tokio's timer; cache expiry reads the layer's
//!   [`Clock`](crate::clock::Clock).

mod authorize;
mod cache;
mod convert;
mod error;
mod identity_source;
mod invoke;
mod layer;
mod policy;
mod service;

pub use authorize::{
    Authorize, AuthorizeError, AuthorizeFuture, AuthorizerResponse, BoxError, ServiceAuthorizer,
};
pub use cache::CacheKey;
pub use error::{
    EXPLICIT_DENY_MESSAGE, IMPLICIT_DENY_MESSAGE, LambdaAuthorizerRejection, MAX_METHOD_ARN_LEN,
    METHOD_ARN_TOO_LONG_MESSAGE,
};
pub use identity_source::{ContextVariable, IdentitySource};
pub use invoke::{InvokeAuthorizer, MAX_ANSWER_BYTES};
pub use layer::{
    AuthorizerType, DEFAULT_MAX_ENTRIES, DEFAULT_TIMEOUT, DEFAULT_TTL, LambdaAuthorizerCacheLayer,
    LambdaAuthorizerCacheLayerBuilder, LambdaAuthorizerConfig, MAX_TTL, PayloadFormatVersion,
};
pub use policy::{PolicyDecision, PolicyError, evaluate_policy, glob_match};
#[cfg(feature = "websocket")]
pub(crate) use service::WebSocketConnect;
pub use service::{LambdaAuthorizerCache, ResponseFuture};
