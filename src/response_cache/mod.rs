//! API Gateway's stage cache as a layer, without its cross-tenant leak.
//!
//! [`ResponseCacheLayer`] answers repeated requests from memory, as API
//! Gateway's response cache does, with its controls (TTL, cache-key
//! parameters, per-method settings, `Cache-Control: max-age=0` invalidation
//! and its three strategies, flush) — and closes the hole API Gateway leaves
//! open: there, the key is only method, path and the listed parameters, so
//! one caller can be answered with another's response. Here the caller's
//! identity is part of the key by default.
//!
//! ```
//! use std::time::Duration;
//! use apigw::response_cache::ResponseCacheLayer;
//! use axum::{Router, routing::get};
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cache = ResponseCacheLayer::builder()
//!     .ttl(Duration::from_secs(60))
//!     .cache_key_parameters(["method.request.querystring.currency".parse()?])
//!     .build()?;
//! let app = Router::new()
//!     .route("/prices", get(|| async { "42 EUR" }))
//!     .layer(cache.clone());
//!
//! let request = || http::Request::get("/prices?currency=EUR").body(axum::body::Body::empty());
//! let miss = app.clone().oneshot(request()?).await?;
//! assert_eq!(miss.headers()["x-cache"], "Miss");
//! // Reading the body is what stores it: the body streams through the cache.
//! assert_eq!(miss.into_body().collect().await?.to_bytes(), "42 EUR");
//!
//! let hit = app.oneshot(request()?).await?;
//! assert_eq!(hit.headers()["x-cache"], "Hit");
//! assert_eq!(hit.headers()["age"], "0");
//! assert_eq!(cache.stats().hits, 1);
//! # Ok(()) }
//! ```
//!
//! # What is cached
//!
//! * **Methods.** GET by default; HEAD is answered from GET entries (and a
//!   HEAD miss goes to the backend without storing anything). Other methods
//!   only where [`methods`](ResponseCacheLayerBuilder::methods) or a route's
//!   [`RouteCacheSettings`] enable them; enabling caching on a route key with
//!   a method (`POST /search`) enables that method there. Their bodies are not
//!   part of the key, as in API Gateway.
//! * **Statuses.** Every 2xx but 206 by default
//!   ([`cacheable_statuses`](ResponseCacheLayerBuilder::cacheable_statuses)).
//!   Errors are not stored, so a backend's 400/431/5xx answer to one crafted
//!   request cannot deny service to everyone (CPDoS).
//! * **Never stored:** a response with `Set-Cookie`, `Vary: *`, or a backend
//!   `Cache-Control: no-store`, `private` or `no-cache`, or `max-age=0`.
//!   [`ignore_backend_cache_control`](ResponseCacheLayerBuilder::ignore_backend_cache_control)
//!   ignores `Cache-Control` as API Gateway does — **unsafe**, for parity
//!   only; `Set-Cookie` and `Vary: *` are still refused.
//! * **`Vary`.** As in HTTP caches, a key keeps several variants: each
//!   stored response remembers the request's values of the headers its
//!   `Vary` nominates, and a lookup serves the variant whose values the
//!   request matches (all of them, byte for byte; absent matches only
//!   absent). A request matching none is a miss, and its response is added
//!   beside the others, replacing only a variant with the same values. A key
//!   keeps at most [`max_variants`](ResponseCacheLayerBuilder::max_variants)
//!   (8) — storing one more drops the oldest — and all its variants weigh
//!   against the capacity together. An operator's `Cache-Control: max-age=0`
//!   refetch drops every variant of the key.
//! * **Size.** Bodies over [`max_item_size`](ResponseCacheLayerBuilder::max_item_size)
//!   (1 MiB, API Gateway's limit) are served and not stored. The backend's
//!   body is never buffered ahead of the client: each frame is passed on as
//!   it arrives and copied aside only while the total stays within the limit
//!   (a body whose `Content-Length` or size hint already exceeds it is not
//!   copied at all). The response is stored when its body ends, so a miss
//!   whose client never reads the body stores nothing. Total size is bounded
//!   in bytes ([`max_capacity`](ResponseCacheLayerBuilder::max_capacity),
//!   64 MiB); moka evicts by its TinyLFU policy when full.
//! * **Fat GETs.** A GET or HEAD that carries a body (`Content-Length` above
//!   0 or `Transfer-Encoding`) may be answered from the cache, but its own
//!   response is never stored: the key does not see the body.
//!
//! # The key
//!
//! Method (GET for HEAD), the path exactly as routed — percent-encoding,
//! double and trailing slashes, `;` parameters kept, nothing normalised, and
//! nothing inferred from file extensions (so `/account;x.css` and
//! `/account/x.css` are never `/account`'s entry) — the matched route key and
//! stage when known, and only the configured [`CacheKeyParameter`]s
//! (`method.request.querystring.x`, `…header.x`, `…path.x`): as in API
//! Gateway, unlisted query strings and headers do **not** vary the key.
//!
//! **Identity.** When a request carries [`JwtClaims`](crate::identity::JwtClaims)
//! with a `sub`, an [`AuthorizerContext`](crate::identity::AuthorizerContext)
//! with a principal or an [`ApiKeyIdentity`](crate::identity::ApiKeyIdentity),
//! those are part of the key, so callers never share entries. A request
//! with an `Authorization` header but none of these bypasses the cache
//! entirely, unless
//! [`share_unidentified_authorization`](ResponseCacheLayerBuilder::share_unidentified_authorization)
//! allows it (layer or route). [`aws_parity`](ResponseCacheLayerBuilder::aws_parity)
//! switches to API Gateway's keys — **unsafe**.
//!
//! The key is the exact bytes of these fields, tagged and length-prefixed
//! ([`CacheKey`]): two requests share an entry only when every keyed field
//! is equal, so there is no hash to collide; the store hashes keys with
//! SipHash under random keys, so clients cannot aim bucket
//! collisions. Put this layer after the authorizers, so their identity
//! extensions are there to key on.
//!
//! **Unkeyed inputs.** Headers like `X-Forwarded-Host` or
//! `X-HTTP-Method-Override` change what many backends answer but are not in
//! the key: they are how caches get poisoned. The layer removes the
//! [`UNKEYED_HEADERS`] from every request whose response it may store (unless
//! they are cache-key parameters, or
//! [`strip_unkeyed_headers(false)`](ResponseCacheLayerBuilder::strip_unkeyed_headers));
//! [`strip_unkeyed_headers`] does the same for your own stack. Query strings
//! are matched as the backend decodes them (`%74ype` is `type`).
//!
//! # Time
//!
//! TTL 300 s by default, 0 disables, over 3600 s is a [`ConfigError`](crate::ConfigError);
//! routes override it; a backend `s-maxage` / `max-age` may shorten it,
//! never lengthen it. Each entry keeps its own expiry from the layer's
//! [`Clock`](crate::clock::Clock), so tests run on tokio's paused time or a
//! [`ManualClock`](crate::clock::ManualClock); moka's own TTL (3660 s) only
//! bounds memory.
//!
//! # Invalidation
//!
//! A client's `Cache-Control: max-age=0` refetches and replaces the entry
//! when the [invalidation authorizer](AuthorizeInvalidation) allows it
//! (default: nobody, [`DenyInvalidation`]), or when
//! [`require_authorization_for_cache_control(false)`](ResponseCacheLayerBuilder::require_authorization_for_cache_control)
//! lets anyone. Otherwise API Gateway's
//! [`UnauthorizedCacheControlHeaderStrategy`] applies:
//!
//! | strategy | answer |
//! |---|---|
//! | `FAIL_WITH_403` | 403 `ACCESS_DENIED`, problem type `urn:apigw:problem:access-denied:unauthorized-cache-invalidation` |
//! | `SUCCEED_WITH_RESPONSE_HEADER` (default) | served as usual (from the cache when it can), plus `Warning: 199 apigw "…"` |
//! | `SUCCEED_WITHOUT_RESPONSE_HEADER` | served as usual |
//!
//! So a flood of unauthorized `max-age=0` never reaches the backend.
//! Operators call [`flush`](ResponseCacheLayer::flush),
//! [`invalidate`](ResponseCacheLayer::invalidate) (a key from
//! [`cache_key`](ResponseCacheLayer::cache_key)) or
//! [`invalidate_if`](ResponseCacheLayer::invalidate_if) (a predicate over
//! [`EntryInfo`]).
//!
//! # Concurrent misses
//!
//! Concurrent misses on one key make one backend call: the first leads, the
//! others wait and are answered with what it stored (`X-Cache: Hit`). If the
//! response cannot be stored they fetch for themselves; if the leader does not
//! finish within [`single_flight_timeout`](ResponseCacheLayerBuilder::single_flight_timeout)
//! (10 s) they stop waiting and fetch; if the leader is cancelled (its future
//! or body dropped) the first waiter takes over. Waiting needs tokio's timer.
//!
//! # Headers and counters
//!
//! Responses from the cache carry `X-Cache: Hit` and `Age`; responses an
//! eligible request fetched carry `X-Cache: Miss`; requests the cache does
//! not apply to pass through untouched. [`ResponseCacheLayer::stats`] reads
//! [`CacheStats`]: hits, misses, stores, evictions, coalesced waits and
//! bypasses. With the `metrics` feature, hits, misses, stores and evictions
//! also go through the `metrics` facade as `CacheHitCount`,
//! `CacheMissCount` (API Gateway's names), `CacheStoreCount` and
//! `CacheEvictionCount`, labelled `route` and `stage` as
//! `GatewayMetricsLayer` labels (prefix:
//! [`metrics_prefix`](ResponseCacheLayerBuilder::metrics_prefix)); the cache
//! marks the request's [`Observation`](crate::observe::Observation) so an
//! outer `GatewayMetricsLayer` does not count the `X-Cache` header again.
//!
//! # Rejections
//!
//! Only `FAIL_WITH_403`, rendered by the layer's
//! [`GatewayResponses`](crate::problem::GatewayResponses) with the
//! [`Rejection`](crate::problem::Rejection) in the response extensions.
//!
//! # Performance
//!
//! A hit writes the key's fields into a per-thread buffer (no allocation),
//! makes one moka lookup, counts through the route counters its entry keeps,
//! and builds the response when polled: one clone of the stored headers
//! (`Age` replaced in place) and the shared, reference-counted body; no
//! await. See `benches/response_cache.rs` and `BENCHMARKS.md`.

mod body;
mod cache_key;
mod export;
mod layer;
mod policy;
mod service;
mod store;

pub use body::CacheBody;
pub use cache_key::{CacheKey, CacheKeyParameter};
pub use layer::{
    AuthorizeInvalidation, DEFAULT_CAPACITY, DEFAULT_MAX_ITEM_SIZE, DEFAULT_MAX_VARIANTS,
    DEFAULT_TTL, DEFAULT_WAIT_TIMEOUT, DenyInvalidation, MAX_TTL, ResponseCacheConfig,
    ResponseCacheLayer, ResponseCacheLayerBuilder, RouteCacheConfig, RouteCacheSettings,
    UnauthorizedCacheControlHeaderStrategy,
};
pub use service::{
    INVALIDATION_DENIED, INVALIDATION_IGNORED_WARNING, ResponseCache, ResponseFuture,
    UNKEYED_HEADERS, X_CACHE, strip_unkeyed_headers,
};
pub use store::{CacheStats, EntryInfo};
