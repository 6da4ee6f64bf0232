//! Where throttle buckets, quota counters and API keys live: the
//! [`RateLimitStore`], [`QuotaStore`] and [`KeyStore`] traits and their
//! in-memory implementations.
//!
//! The layers never touch state directly; they ask a store. The in-memory
//! stores here are the defaults: exact, bounded, lock-sharded, and they answer
//! synchronously ([`StoreFuture::ready`]), so a request through an in-memory
//! store never allocates a future. A shared store (Redis, for many gateway
//! replicas) implements the same traits and answers asynchronously.
//!
//! # One round trip per request
//!
//! * [`RateLimitStore::limiter`] is called once per configured limit when a
//!   layer is built. It returns a [`Limiter`] that knows its [`LimitSpec`]
//!   (a name unique within the layer plus rate and burst), so a request's
//!   check carries only the bucket key.
//! * [`QuotaStore::meter`] checks an API key's quota, takes a token from its
//!   throttle bucket and counts the request, all in one atomic step: a shared
//!   store does it in one script call. Nothing is consumed unless everything
//!   admits; a request rejected by the throttle does not count against the
//!   quota, and a request over quota takes no token.
//!
//! # Failures
//!
//! A store answers [`StoreError`] when it cannot decide (a network store that
//! is down or slow). The layer, not the store, decides what that means
//! ([`FailurePolicy`]): admit (API Gateway's documented behaviour for usage
//! plans), reject with 503, or decide with local in-memory limits at
//! `limit / replicas`.

use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::clock::SharedClock;
use crate::throttle::Limit;

mod fallback;
#[cfg(feature = "usage-plan")]
mod keys;
mod memory;
#[cfg(feature = "usage-plan")]
mod quota;
#[cfg(feature = "redis")]
pub mod redis;

#[cfg(feature = "usage-plan")]
#[cfg(feature = "redis")]
pub use self::redis::{RedisLimiter, RedisStore, RedisStoreBuilder};
pub(crate) use fallback::FallbackLimiter;
#[cfg(feature = "usage-plan")]
pub(crate) use fallback::local_limiter;
#[cfg(feature = "usage-plan")]
pub use keys::{ApiKey, KeyStore, MemoryKeyStore};
pub use memory::{MemoryLimiter, MemoryRateLimitStore};
#[cfg(feature = "usage-plan")]
pub use quota::{KeyUsage, MemoryQuotaStore, MeterOutcome, MeterRequest, QuotaCheck, QuotaStore};

/// Whom a bucket belongs to: the whole stage, a client address, or a string
/// (route key, API key id, principal, or a user function's key).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BucketKey {
    /// One bucket for every request.
    Global,
    /// A client IP address.
    Ip(IpAddr),
    /// Any other key.
    Text(Arc<str>),
}

impl BucketKey {
    /// A text key.
    #[must_use]
    pub fn text(key: impl Into<Arc<str>>) -> Self {
        Self::Text(key.into())
    }
}

// By hand: one `write` per address instead of the derive's three (two
// discriminants and the bits), which the keyed per-request hash pays for.
impl Hash for BucketKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Self::Global => state.write_u8(0),
            Self::Ip(IpAddr::V4(ip)) => state.write_u64((1 << 32) | u64::from(ip.to_bits())),
            Self::Ip(IpAddr::V6(ip)) => state.write_u128(ip.to_bits()),
            // The bytes while the hasher's buffer is still empty, then the
            // tag (no length: the keyed hashes count it). Two writes, not
            // `str`'s three with the tag first.
            Self::Text(text) => {
                state.write(text.as_bytes());
                state.write_u8(2);
            }
        }
    }
}

impl fmt::Debug for BucketKey {
    // Text keys may be API key ids or principals: show their length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global => f.write_str("Global"),
            Self::Ip(ip) => write!(f, "Ip({ip})"),
            Self::Text(text) => write!(f, "Text(<{} bytes>)", text.len()),
        }
    }
}

/// A limit as a store sees it: a name that is unique among the limits of a
/// layer (a shared store puts it in its keys) and the bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitSpec {
    name: Arc<str>,
    limit: Limit,
    max_keys: usize,
}

impl LimitSpec {
    /// A limit named `name`.
    #[must_use]
    pub fn new(name: impl Into<Arc<str>>, limit: Limit, max_keys: usize) -> Self {
        Self {
            name: name.into(),
            limit,
            max_keys,
        }
    }

    /// The name, e.g. `stage`, `GET /orders/{id}`, `plan:gold`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bucket.
    #[must_use]
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// How many keys an in-memory store keeps for this limit.
    #[must_use]
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }
}

/// A bucket's answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// A token was taken.
    Admitted {
        /// Tokens left in the bucket.
        remaining: u32,
        /// Time until the bucket is full again (an upper bound).
        reset: Duration,
    },
    /// No token: the request must be rejected.
    Rejected {
        /// When a request would first pass again (nothing passes before it,
        /// one passes at it, unless others take the token first); `None`
        /// when no request ever passes (burst 0).
        retry_after: Option<Duration>,
    },
}

impl Decision {
    /// Whether a token was taken.
    #[must_use]
    pub fn is_admitted(&self) -> bool {
        matches!(self, Self::Admitted { .. })
    }
}

/// A store could not decide: unreachable, timed out, or answered nonsense.
/// The message goes to `tracing`, never to a client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rate limit store failed: {message}")]
pub struct StoreError {
    message: Arc<str>,
}

impl StoreError {
    /// A failure with an explanation for the logs.
    #[must_use]
    pub fn new(message: impl Into<Arc<str>>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The explanation.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// What a layer does when its store answers [`StoreError`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Admit the request and log the failure, as API Gateway does when it
    /// cannot enforce a usage plan. Default.
    #[default]
    Open,
    /// Reject with 503 (`DEFAULT_5XX`, problem type
    /// `urn:apigw:problem:<layer>:store-unavailable`).
    Closed,
    /// Decide with this process's own in-memory buckets and quota counters,
    /// each at `limit / replicas` (see [`Limit::share`]), so that `replicas`
    /// gateway processes that all lost the store admit about what the
    /// shared limit allows. The local state starts empty (full buckets,
    /// nothing used) when the layer is built and is kept across failures;
    /// requests decided locally are not written to the shared store. In
    /// configuration: `{"LOCAL": {"replicas": 3}}`.
    Local {
        /// How many gateway processes share the limit (at least 1).
        replicas: u32,
    },
}

impl FailurePolicy {
    /// The policy's own configuration errors (`Local` with 0 replicas).
    pub(crate) fn validate(self) -> Result<(), crate::error::ConfigError> {
        match self {
            Self::Local { replicas: 0 } => Err(crate::error::ConfigError::new(
                "failure policy LOCAL needs replicas of at least 1",
            )),
            _ => Ok(()),
        }
    }

    /// The replica count of [`Local`](Self::Local).
    pub(crate) fn replicas(self) -> Option<u32> {
        match self {
            Self::Local { replicas } => Some(replicas.max(1)),
            _ => None,
        }
    }
}

/// A store's answer: ready at once (in-memory stores) or a future (network
/// stores). Layers look at a ready answer without polling, so the in-memory
/// path costs no allocation.
#[must_use = "a store answer does nothing unless read"]
pub struct StoreFuture<T> {
    kind: StoreFutureKind<T>,
}

enum StoreFutureKind<T> {
    Ready(Option<T>),
    Pending(Pin<Box<dyn Future<Output = T> + Send + 'static>>),
}

impl<T> StoreFuture<T> {
    /// An answer available now.
    pub fn ready(value: T) -> Self {
        Self {
            kind: StoreFutureKind::Ready(Some(value)),
        }
    }

    /// An answer that needs waiting for.
    pub fn new(future: impl Future<Output = T> + Send + 'static) -> Self {
        Self {
            kind: StoreFutureKind::Pending(Box::pin(future)),
        }
    }

    /// The answer if it is ready without polling, else the future back.
    pub fn into_ready(self) -> Result<T, Self> {
        match self.kind {
            StoreFutureKind::Ready(Some(value)) => Ok(value),
            kind => Err(Self { kind }),
        }
    }
}

impl<T> fmt::Debug for StoreFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            StoreFutureKind::Ready(Some(_)) => "ready",
            StoreFutureKind::Ready(None) => "taken",
            StoreFutureKind::Pending(_) => "pending",
        };
        f.debug_tuple("StoreFuture").field(&state).finish()
    }
}

// The answer is moved out by value and the pending future is boxed: nothing
// is ever pinned in place.
impl<T> Unpin for StoreFuture<T> {}

impl<T> Future for StoreFuture<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.kind {
            StoreFutureKind::Ready(value) => match value.take() {
                Some(value) => Poll::Ready(value),
                // Polled again after completion: stay pending rather than panic.
                None => Poll::Pending,
            },
            StoreFutureKind::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

/// Where token buckets live.
///
/// Implement it to share buckets between gateway replicas. The in-memory
/// default is [`MemoryRateLimitStore`].
pub trait RateLimitStore: Send + Sync + fmt::Debug + 'static {
    /// The buckets of one limit. Called once per configured limit when a
    /// layer is built; `clock` is the layer's (a shared store may use its
    /// server's time instead).
    fn limiter(&self, spec: &LimitSpec, clock: &SharedClock) -> Arc<dyn Limiter>;
}

/// The buckets of one [`LimitSpec`], by [`BucketKey`].
pub trait Limiter: Send + Sync + fmt::Debug + 'static {
    /// The limit.
    fn spec(&self) -> &LimitSpec;

    /// Takes one token from `key`'s bucket if it has one.
    fn check(&self, key: &BucketKey) -> StoreFuture<Result<Decision, StoreError>>;

    /// The number of keys held in memory, for stores that keep any.
    fn keys_in_memory(&self) -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};

    use super::*;

    #[test]
    fn equal_keys_hash_alike_and_kinds_stay_apart() {
        let random = RandomState::new();
        let hash = |key: &BucketKey| random.hash_one(key);
        // Text keys by content, whatever `Arc` holds them.
        assert_eq!(
            hash(&BucketKey::text("GET /orders")),
            hash(&BucketKey::text(String::from("GET /orders")))
        );
        let keys = [
            BucketKey::Global,
            BucketKey::text(""),
            BucketKey::text("\0"),
            BucketKey::text("a"),
            BucketKey::text("ab"),
            BucketKey::Ip("10.0.0.1".parse().unwrap()),
            BucketKey::Ip("::1".parse().unwrap()),
        ];
        let hashes: HashSet<u64> = keys.iter().map(hash).collect();
        assert_eq!(hashes.len(), keys.len());
    }
}
