//! API Gateway's JWT authorizer: [`JwtAuthorizerLayer`] checks a bearer JWT
//! before the request reaches your service, with a key cache that survives
//! key rotation, issuer outages and floods of unknown `kid`s.
//!
//! ```
//! use apigw::jwt::{Issuer, JwtAuthorizerLayer};
//! use apigw::identity::JwtClaims;
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let jwks = apigw_doc_jwks();
//! let authorizer = JwtAuthorizerLayer::builder()
//!     .issuer(
//!         Issuer::new("https://issuer.example")
//!             .audience("my-api")
//!             // Or `.jwks_url(…)`, or nothing for OIDC discovery.
//!             .jwks(jwks),
//!     )
//!     .build()?;
//! let app = Router::new()
//!     .route("/me", get(|claims: JwtClaims| async move { claims.subject().unwrap_or("").to_owned() }))
//!     .layer(authorizer);
//!
//! let good = http::Request::get("/me")
//!     .header("authorization", format!("Bearer {}", apigw_doc_token()))
//!     .body(axum::body::Body::empty())?;
//! assert_eq!(app.clone().oneshot(good).await?.status(), 200);
//!
//! let bad = http::Request::get("/me")
//!     .header("authorization", "Bearer eyJhbGciOiJub25lIn0.e30.c2ln") // alg: none
//!     .body(axum::body::Body::empty())?;
//! let refused = app.oneshot(bad).await?;
//! assert_eq!(refused.status(), 401);
//! assert_eq!(
//!     refused.headers()["www-authenticate"],
//!     r#"Bearer error="invalid_token", error_description="the token's signing algorithm is not accepted""#
//! );
//! # Ok(()) }
//! # // A static 2048-bit RSA key and a token it signed (exp in 2286).
//! # fn apigw_doc_jwks() -> String { include_str!("doc_jwks.json").to_owned() }
//! # fn apigw_doc_token() -> &'static str { include_str!("doc_token.txt").trim() }
//! ```
//!
//! # What is checked, in order
//!
//! 1. **Identity source** ([`IdentitySource`]): the `Authorization` header
//!    by default, with or without `Bearer ` (any case); or another header,
//!    a query parameter, a cookie. Several values are refused.
//! 2. **Claims cache**: a token verified before and still valid answers
//!    from memory, with no signature check (see *Performance*).
//! 3. **Format**, before any cryptography: at most 8 KiB (configurable);
//!    exactly three base64url segments (no padding, no `+` `/`, no
//!    whitespace); JWE (five segments) and JSON serializations fail fast;
//!    header and payload are JSON objects **without duplicate keys** at any
//!    depth; nested JWTs (`cty: JWT`) are refused.
//! 4. **Header**: `alg` must be one of the issuer's allowed [`Algorithm`]s
//!    — `none` and HMAC do not exist in this crate; any `crit` (no
//!    extension is understood) or `b64` is refused (`jsonwebtoken` itself
//!    never checks `crit`); `jku`, `x5u`, `jwk` and `x5c` are never read,
//!    let alone followed.
//! 5. **Key**: by `kid` and `alg` in the issuer's key set. Each key is bound
//!    to the algorithms its `kty`, `crv` and `alg` allow; `use` must be
//!    `sig`, `key_ops` must include `verify`; `kty: oct` keys and RSA keys
//!    under 2048 bits are dropped when the set loads (see [`KeySet`]). A
//!    token without `kid` is refused in AWS-compatible mode, otherwise it
//!    is verified by the issuer's only key for its `alg`.
//! 6. **Signature** (`jsonwebtoken` with `aws-lc-rs`), always before any
//!    claim: an expired token with a bad signature reports the signature.
//! 7. **Claims**: `iss` exactly equal to a configured issuer; `aud` (string
//!    or array) in its audiences, or `client_id` when `aud` is absent
//!    (Cognito access tokens); `exp`, `nbf`, `iat` as numbers with the
//!    leeway. Boundary rule: expired when `now >= exp + leeway`; not yet
//!    valid when `nbf > now + leeway` or `iat > now + leeway`.
//! 8. **Scopes** of the route ([`route_scopes`](JwtAuthorizerLayerBuilder::route_scopes)
//!    or [`required_scopes`](JwtAuthorizerLayerBuilder::required_scopes)
//!    for `route_layer` use) against `scope` (space-separated) and `scp`
//!    (array or string): one is enough, as in API Gateway, or all with
//!    [`require_all_scopes`](JwtAuthorizerLayerBuilder::require_all_scopes).
//!
//! On success the request carries [`JwtClaims`](crate::identity::JwtClaims)
//! (claims and scopes), which the Lambda integration copies to
//! `requestContext.authorizer.jwt`; a `JwtClaims` already in the request is
//! replaced.
//!
//! # Rejections
//!
//! Every refusal is a response rendered by the layer's
//! [`GatewayResponses`](crate::problem::GatewayResponses), with a
//! [`JwtRejection`] in its extensions and a stable problem `type` per
//! [`JwtErrorKind`] (table there): 401 `UNAUTHORIZED` with
//! `WWW-Authenticate: Bearer error="invalid_token", error_description="…"`
//! (RFC 6750; just `Bearer` when no token was sent); 403 `ACCESS_DENIED`
//! with `error="insufficient_scope"` for missing scopes; 500
//! `AUTHORIZER_FAILURE` when no key set can be had. Descriptions are fixed
//! texts: no part of the token (nor its `kid`) is ever echoed or logged. An
//! unknown `kid` and a bad signature are one kind, so clients cannot probe
//! which keys exist.
//!
//! # The key set
//!
//! Keys come from a JWKS URL, from OIDC discovery (the discovery document's
//! `issuer` must equal the configured one), or from a static JWKS; several
//! issuers with their own audiences and algorithms share one layer.
//!
//! * **Snapshot reads.** The parsed keys sit in an `Arc` swapped atomically
//!   (`arc-swap`): a request never takes a lock that a fetch holds, so a
//!   slow issuer never delays a token whose key is cached.
//! * **One fetch at a time**, run as a task spawned on access (no
//!   background task from a constructor), bounded by the fetch timeout
//!   (default 1.5 s, as AWS) and a body cap read incrementally (default
//!   150,000 bytes, as AWS). No redirects are followed; URLs must be
//!   `https` unless [`allow_http`](JwtAuthorizerLayerBuilder::allow_http)
//!   (loopback addresses are always allowed, for tests).
//! * **Refresh before expiry**: the set lives for `Cache-Control: max-age`
//!   (bounded to 1 min – 24 h) or 10 minutes; from three quarters of that,
//!   requests start a refresh in the background and keep using the set.
//! * **Unknown `kid`**: one refetch, then a cooldown (default 30 s) — at
//!   most one fetch per cooldown whatever triggers it — and a negative
//!   cache of `kid`s missing from the current set. 10,000 random `kid`s
//!   cost the issuer one request; a newly published key is accepted within
//!   one cooldown.
//! * **Outages**: when a fetch fails (error status, timeout, garbage, over
//!   the cap) or returns no usable key, the cached keys keep verifying for
//!   the stale window (default 1 h) past their lifetime; then the issuer's
//!   tokens fail closed with 500 `AUTHORIZER_FAILURE` until a fetch works.
//!
//! # Performance
//!
//! A verified token's claims are cached (moka, keyed by the whole token,
//! bounded in bytes), until `exp + leeway` and at most
//! [`claims_cache_ttl`](JwtAuthorizerLayerBuilder::claims_cache_ttl)
//! (default 10 minutes, also how long a token outlives the removal of its
//! key). A repeated token costs a hash lookup and the decision is made
//! synchronously; so is a first-seen token whose key is cached (one
//! signature check, about 20 µs for RS256). Only a request that must wait
//! for a key fetch boxes its future. Figures: `BENCHMARKS.md`,
//! `cargo bench --bench jwt`.
//!
//! # AWS-compatible mode
//!
//! [`aws_compatible`](JwtAuthorizerLayerBuilder::aws_compatible): RSA
//! algorithms only, leeway 0 s unless set, `kid` required. Combine with
//! [`GatewayResponses::aws`](crate::problem::GatewayResponses::aws) for
//! API Gateway's `{"message":"Unauthorized"}` bodies.
pub use config::{IssuerConfig, JwtAuthorizerConfig, JwtConfiguration};
pub use error::{JwtError, JwtErrorKind, JwtRejection};
pub use future::ResponseFuture;
pub use keys::{Algorithm, KeySet};
pub use layer::{Issuer, JwtAuthorizerLayer, JwtAuthorizerLayerBuilder};
pub use service::JwtAuthorizer;
pub use source::IdentitySource;

mod claims;
mod config;
mod error;
mod future;
mod header;
mod jwks;
mod keys;
mod layer;
mod service;
mod source;
mod verify;
