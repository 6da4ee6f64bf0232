//! Token-bucket throttling, as API Gateway throttles stages, methods and
//! clients: [`TokenBucketThrottleLayer`].
//!
//! Each request takes one token from a bucket of `burst` tokens that refills
//! at `rate` tokens per second (GCRA, through [`governor`], read from the
//! layer's [`Clock`](crate::clock::Clock)). A request that finds the bucket
//! empty is answered 429 `THROTTLED` and never reaches the service.
//!
//! ```
//! use apigw::throttle::TokenBucketThrottleLayer;
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let throttle = TokenBucketThrottleLayer::builder().rate(1.0).burst(1).build()?;
//! let app = Router::new().route("/", get(|| async { "hello" })).layer(throttle);
//!
//! let request = || http::Request::get("/").body(axum::body::Body::empty());
//! let ok = app.clone().oneshot(request()?).await?;
//! assert_eq!(ok.status(), 200);
//!
//! // The bucket of one is empty for the next second.
//! let throttled = app.oneshot(request()?).await?;
//! assert_eq!(throttled.status(), 429);
//! assert_eq!(throttled.headers()["retry-after"], "1");
//! assert_eq!(throttled.headers()["ratelimit"], "\"throttle\";r=0;t=1");
//! assert_eq!(throttled.headers()["ratelimit-policy"], "\"throttle\";q=1;w=1");
//! # Ok(()) }
//! ```
//!
//! # Exactness
//!
//! * The bucket starts full: with rate 1000/s and burst 500 the first second
//!   admits 1500 requests (500 at once, then one per millisecond, the last
//!   at exactly one second).
//! * After any idle time at most `burst` requests pass at once.
//! * `burst` 0 rejects every request (API Gateway's rate 0 / burst 0);
//!   governor cannot express an empty bucket, so this layer answers it
//!   without one.
//! * Fractional rates are allowed (0.5/s is one request every 2 s); the
//!   interval between tokens is `1 / rate` to the nanosecond.
//! * `Retry-After` is honest: no request passes before the moment it names
//!   (whole seconds, rounded up), and the next one passes at it unless
//!   another client took the token first.
//! * Decisions are exact under concurrency: 64 threads racing for a bucket
//!   of `B` get exactly `B` tokens.
//!
//! # Keys
//!
//! [`KeySource`] picks whose bucket a request takes from: the whole stage
//! ([`Stage`], the default), the matched route ([`Route`], API Gateway's
//! per-method limits), the client IP ([`SourceIp`]: the peer address, and
//! `X-Forwarded-For` or RFC 7239 `Forwarded` ([`ForwardedHeader`]) only from
//! [trusted proxies](TokenBucketThrottleLayerBuilder::trusted_proxies)),
//! the API key ([`ApiKeyHeader`]), the principal ([`Principal`]) or your own
//! function ([`with_key_extractor`](TokenBucketThrottleLayerBuilder::with_key_extractor)).
//! Requests without a key share one bucket, so omitting a header never buys
//! a fresh one.
//!
//! Per-route limits ([`route`](TokenBucketThrottleLayerBuilder::route))
//! take `GET /orders/{id}` or API Gateway's `/orders/{id}/GET`; the route
//! comes from the [`RouteMatch`](crate::route::RouteMatch) extension, axum's
//! `MatchedPath`, or the layer's own matching of the configured routes.
//!
//! # Memory
//!
//! Keyed buckets live in a bounded, sharded map
//! ([`max_keys`](TokenBucketThrottleLayerBuilder::max_keys), default
//! 100,000 per limit). A bucket that has refilled is forgotten when room is
//! needed — a full bucket is exactly what an unknown key gets — so no cleanup
//! thread runs and no decision changes. Only when more keys than `max_keys`
//! are active within one window does the map drop the buckets closest to full,
//! which can give those keys back the few tokens they had yet to regain.
//!
//! # Stacking
//!
//! Several throttles stack into API Gateway's hierarchy; put the coarsest
//! outermost. A request takes one token from each level it reaches: an outer
//! level counts it once, and a level that rejects never counts it. A request
//! an inner level rejects has still used the outer level's token, as in API
//! Gateway, where every level sees every request that reaches it.
//!
//! # Rejections
//!
//! | when | status | problem `type` | headers |
//! |---|---|---|---|
//! | bucket empty | 429 `THROTTLED` | `urn:apigw:problem:throttled:bucket-empty` | `Retry-After`, `RateLimit`, `RateLimit-Policy` |
//! | burst 0 | 429 `THROTTLED` | `urn:apigw:problem:throttled:blocked` | `RateLimit`, `RateLimit-Policy` |
//! | store failed, [`FailurePolicy::Closed`](crate::store::FailurePolicy) | 503 `DEFAULT_5XX` | `urn:apigw:problem:throttled:store-unavailable` | — |
//! | store failed, [`FailurePolicy::Local`](crate::store::FailurePolicy) | as the local bucket at `limit / replicas` decides | as above | as above |
//!
//! The [`ThrottleRejection`] is in the response extensions. With
//! [`rate_limit_headers`](TokenBucketThrottleLayerBuilder::rate_limit_headers)
//! admitted responses carry `RateLimit: "throttle";r=<tokens left>;t=<seconds to full>`
//! and `RateLimit-Policy: "throttle";q=<burst>;w=<seconds to refill>`
//! (draft-ietf-httpapi-ratelimit-headers), where `throttle` is the layer's
//! [`name`](TokenBucketThrottleLayerBuilder::name). Stacked layers each append
//! their own item, so a client sees every level's budget.
//!
//! # Performance
//!
//! With the in-memory store a decision is one governor check (a lock-free
//! compare-and-swap for the stage bucket, one sharded map lookup for keyed
//! buckets) and no allocation; see `BENCHMARKS.md`.

pub(crate) mod bucket;
mod future;
mod key;
mod layer;
mod service;

use serde::Serialize;

pub use bucket::Limit;
pub use future::ResponseFuture;
#[cfg(feature = "usage-plan")]
pub(crate) use future::Verdict;
pub use key::{
    ApiKeyHeader, ExtractKey, ForwardedHeader, KeySource, Principal, RequestInfo, Route, SourceIp,
    Stage, TrustedProxy,
};
#[cfg(feature = "usage-plan")]
pub(crate) use layer::parse_method_key;
pub use layer::{
    DEFAULT_MAX_KEYS, ThrottleSettings, TokenBucketThrottleConfig, TokenBucketThrottleLayer,
    TokenBucketThrottleLayerBuilder,
};
pub use service::TokenBucketThrottle;
#[cfg(feature = "usage-plan")]
pub(crate) use service::{Budget, FieldList, RATE_LIMIT, RATE_LIMIT_POLICY, route_of, throttled};

/// Why a throttle rejected a request; in the rejection's response extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ThrottleRejection {
    /// What happened.
    pub kind: ThrottleRejectionKind,
    /// The `Retry-After` sent, in seconds.
    pub retry_after: Option<u64>,
}

/// The kinds of throttle rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum ThrottleRejectionKind {
    /// The bucket was empty.
    BucketEmpty,
    /// The bucket has no room at all (burst 0).
    Blocked,
    /// The store failed and the layer fails closed.
    StoreUnavailable,
}

impl ThrottleRejectionKind {
    /// The stable problem `type`.
    #[must_use]
    pub const fn problem_type(self) -> &'static str {
        match self {
            Self::BucketEmpty => "urn:apigw:problem:throttled:bucket-empty",
            Self::Blocked => "urn:apigw:problem:throttled:blocked",
            Self::StoreUnavailable => "urn:apigw:problem:throttled:store-unavailable",
        }
    }
}
