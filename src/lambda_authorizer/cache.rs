//! The authorizer result cache and its single-flight table.
//!
//! Results live in a moka cache keyed by [`CacheKey`]; each entry carries its
//! own expiry read from the layer's [`Clock`](crate::clock::Clock), and
//! moka's TTL (the configured maximum) only bounds memory. Concurrent misses
//! on one key share one [`Flight`]: a `futures` `Shared` future that whoever
//! is still waiting drives, so a waiter whose leader was cancelled still gets
//! the answer.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{Shared, WeakShared};

use super::error::LambdaAuthorizerRejection;
use super::policy::CachedPolicy;
use crate::identity::AuthorizerContext;

/// The cache key of one identity: the identity-source values, each
/// length-prefixed, so that `["a,b", "c"]` and `["a", "b,c"]` never share a
/// key.
///
/// ```
/// use apigw::lambda_authorizer::CacheKey;
///
/// assert_ne!(CacheKey::from_values(["a,b", "c"]), CacheKey::from_values(["a", "b,c"]));
/// assert_eq!(CacheKey::from_values(["t"]), CacheKey::from_values(["t"]));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(Box<[u8]>);

impl CacheKey {
    /// The key of these identity-source values, in configuration order (for
    /// a `TOKEN` authorizer: the token).
    pub fn from_values<I, V>(values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: AsRef<str>,
    {
        let mut buffer = Vec::new();
        for value in values {
            Self::encode(&mut buffer, value.as_ref());
        }
        Self(buffer.into_boxed_slice())
    }

    /// Appends one value: its length (8 bytes, big-endian), then its bytes.
    pub(crate) fn encode(buffer: &mut Vec<u8>, value: &str) {
        buffer.extend_from_slice(&(value.len() as u64).to_be_bytes());
        buffer.extend_from_slice(value.as_bytes());
    }

    pub(crate) fn from_encoded(encoded: Vec<u8>) -> Self {
        Self(encoded.into_boxed_slice())
    }
}

impl Borrow<[u8]> for CacheKey {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CacheKey {
    // Keys hold tokens: show their size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey(<{} bytes>)", self.0.len())
    }
}

/// A settled authorizer answer, as cached: the verdict to evaluate per
/// request and what flows on when it allows.
#[derive(Debug)]
pub(crate) struct Decision {
    pub(crate) verdict: Verdict,
    pub(crate) context: AuthorizerContext,
}

#[derive(Debug)]
pub(crate) enum Verdict {
    /// An IAM policy, bound to the layer's method-ARN prefix and evaluated
    /// against each request's ARN tail; shared by every identity given the
    /// same policy ([`ResultCache::intern`]).
    Policy(Arc<CachedPolicy>),
    /// A simple response: allows or denies every request with this identity.
    Simple(bool),
}

/// What a call gives: a decision, or the rejection a failure is answered
/// with (never cached).
pub(crate) type Outcome = Result<Arc<Decision>, LambdaAuthorizerRejection>;

type FlightFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// One authorizer call shared by every concurrent miss on its key.
pub(crate) type Flight = Shared<FlightFuture>;

#[derive(Clone)]
struct Entry {
    decision: Arc<Decision>,
    expires_at: Instant,
}

/// What a miss joins: a result cached meanwhile, or a flight.
pub(crate) enum Joined {
    Cached(Arc<Decision>),
    Flight(Flight),
}

pub(crate) struct ResultCache {
    entries: moka::sync::Cache<CacheKey, Entry>,
    flights: Mutex<HashMap<CacheKey, (u64, WeakShared<FlightFuture>)>>,
    next_flight: AtomicU64,
    /// Bumped by every invalidation, so a flight that started before one
    /// does not store its (possibly stale) result.
    epoch: AtomicU64,
    policies: Mutex<Policies>,
}

/// The distinct policies cached results hold: identities that got the same
/// policy share one copy, so a hit for any of 100,000 identities reads
/// policy memory that is likely in the CPU cache already.
#[derive(Default)]
struct Policies {
    set: HashSet<Arc<CachedPolicy>>,
    /// The set's size after the last sweep of policies no result holds.
    swept_len: usize,
}

impl fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultCache")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

/// Held by a flight's future: stores its result and leaves the flight table
/// when the flight ends, whether it completes or every waiter gave up.
pub(crate) struct FlightTicket {
    cache: Arc<ResultCache>,
    key: CacheKey,
    id: u64,
    epoch: u64,
}

impl FlightTicket {
    /// Caches `decision` until `expires_at`, unless the cache was
    /// invalidated since the flight started.
    pub(crate) fn store(&self, decision: Arc<Decision>, expires_at: Instant) {
        if self.cache.epoch.load(Ordering::Acquire) == self.epoch {
            self.cache.entries.insert(
                self.key.clone(),
                Entry {
                    decision,
                    expires_at,
                },
            );
        }
    }
}

impl Drop for FlightTicket {
    fn drop(&mut self) {
        let mut flights = self.cache.lock_flights();
        if flights.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            flights.remove(&self.key);
        }
    }
}

impl ResultCache {
    pub(crate) fn new(max_entries: u64, max_ttl: Duration) -> Self {
        let mut builder = moka::sync::Cache::builder().max_capacity(max_entries);
        if !max_ttl.is_zero() {
            builder = builder.time_to_live(max_ttl);
        }
        Self {
            entries: builder.build(),
            flights: Mutex::new(HashMap::new()),
            next_flight: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            policies: Mutex::default(),
        }
    }

    /// The shared copy of `policy`. Called once per authorizer answer, never
    /// on a hit. Policies no one holds any more are dropped when the set has
    /// doubled since the last sweep, so it stays within twice the live ones
    /// (plus a small floor).
    pub(crate) fn intern(&self, policy: CachedPolicy) -> Arc<CachedPolicy> {
        const SWEEP_FLOOR: usize = 64;
        let mut policies = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = policies.set.get(&policy) {
            return Arc::clone(shared);
        }
        if policies.set.len() >= (2 * policies.swept_len).max(SWEEP_FLOOR) {
            // Only the set holds a policy whose count is 1, and only this
            // lock hands out copies: it cannot be revived meanwhile.
            policies.set.retain(|policy| Arc::strong_count(policy) > 1);
            policies.swept_len = policies.set.len();
        }
        let shared = Arc::new(policy);
        policies.set.insert(Arc::clone(&shared));
        shared
    }

    fn lock_flights(&self) -> MutexGuard<'_, HashMap<CacheKey, (u64, WeakShared<FlightFuture>)>> {
        // The table stays consistent whatever panicked while it was held.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The decision cached for `key`, if it has not expired at `now`.
    pub(crate) fn get(&self, key: &[u8], now: Instant) -> Option<Arc<Decision>> {
        self.entries
            .get(key)
            .filter(|entry| now < entry.expires_at)
            .map(|entry| entry.decision)
    }

    /// Joins the flight for `key`, or starts one with `start`. Checks the
    /// cache again under the table's lock, so a miss that raced a finishing
    /// flight reads its result instead of calling again.
    pub(crate) fn join_or_start(
        self: &Arc<Self>,
        key: CacheKey,
        now: Instant,
        start: impl FnOnce(FlightTicket) -> FlightFuture,
    ) -> Joined {
        let mut flights = self.lock_flights();
        if let Some(flight) = flights.get(&key).and_then(|(_, weak)| weak.upgrade()) {
            return Joined::Flight(flight);
        }
        if let Some(decision) = self.get(&key.0, now) {
            return Joined::Cached(decision);
        }
        let id = self.next_flight.fetch_add(1, Ordering::Relaxed);
        let ticket = FlightTicket {
            cache: Arc::clone(self),
            key: key.clone(),
            id,
            epoch: self.epoch.load(Ordering::Acquire),
        };
        let flight = start(ticket).shared();
        if let Some(weak) = flight.downgrade() {
            flights.insert(key, (id, weak));
        }
        Joined::Flight(flight)
    }

    /// Forgets the result for `key` (and lets the next miss call afresh).
    pub(crate) fn invalidate(&self, key: &CacheKey) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.lock_flights().remove(key);
        self.entries.invalidate(key);
    }

    /// Forgets every result.
    pub(crate) fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.lock_flights().clear();
        self.entries.invalidate_all();
    }
}
