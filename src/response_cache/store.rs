//! The stored responses, their counters, and the in-flight misses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version};
use moka::notification::RemovalCause;
use tokio::sync::watch;

use super::cache_key::{CacheKey, PreHashed};
use super::policy::VaryValues;
use crate::route::RouteKey;

/// A stored response.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// When it was stored, on the layer's clock.
    pub(crate) stored_at: Instant,
    /// When it stops being served, on the layer's clock.
    pub(crate) expires_at: Instant,
    /// The `Age` the backend reported, in seconds.
    pub(crate) initial_age: u64,
    /// The request header values the response varies on.
    pub(crate) vary: VaryValues,
    pub(crate) info: EntryInfo,
    pub(crate) weight: u32,
}

/// What an entry is, for [`invalidate_if`](super::ResponseCacheLayer::invalidate_if)
/// predicates. The caller identity is not kept here.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryInfo {
    /// The method the entry is stored under.
    pub method: Method,
    /// The request path, as routed.
    pub path: Arc<str>,
    /// The matched route key, when the request had one.
    pub route_key: Option<RouteKey>,
    /// The stored status.
    pub status: StatusCode,
}

/// The hit, miss, store and eviction counters of one cache, read with
/// [`ResponseCacheLayer::stats`](super::ResponseCacheLayer::stats).
///
/// A request counts once, as a hit or a miss, when it was eligible for the
/// cache; requests the cache does not apply to count as bypasses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Requests answered from the cache (including waiters served by another
    /// request's fetch).
    pub hits: u64,
    /// Eligible requests that went to the backend.
    pub misses: u64,
    /// Responses stored.
    pub stores: u64,
    /// Entries removed for capacity or age (not flushes, invalidations or
    /// replacements).
    pub evictions: u64,
    /// Hits that waited for a concurrent miss's fetch instead of calling the
    /// backend.
    pub coalesced: u64,
    /// Requests the cache did not apply to (method or route not cached,
    /// `Authorization` without a principal, caching disabled).
    pub bypasses: u64,
    /// Responses stored now.
    pub entries: u64,
    /// Bytes the stored responses weigh.
    pub weighted_size: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) stores: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) bypasses: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The response store: moka, weighted in bytes. moka's own TTL only bounds
/// memory; entries are served by their own expiry from the layer's clock.
#[derive(Clone)]
pub(crate) struct Store {
    cache: moka::sync::Cache<CacheKey, Arc<Entry>, PreHashed>,
    pub(crate) counters: Arc<Counters>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("entries", &self.cache.entry_count())
            .field("weighted_size", &self.cache.weighted_size())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store of at most `capacity` bytes, whose entries moka drops after
    /// `memory_ttl` whatever their own expiry.
    pub(crate) fn new(capacity: u64, memory_ttl: Duration) -> Self {
        let counters = Arc::new(Counters::default());
        let listener_counters = Arc::clone(&counters);
        let cache = moka::sync::Cache::builder()
            .name("apigw-response-cache")
            .max_capacity(capacity)
            .weigher(|_key: &CacheKey, entry: &Arc<Entry>| entry.weight)
            .time_to_live(memory_ttl)
            .support_invalidation_closures()
            .eviction_listener(move |_key, _entry, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    Counters::bump(&listener_counters.evictions);
                }
            })
            .build_with_hasher(PreHashed);
        Self { cache, counters }
    }

    /// The fresh entry under `key` at `now`. An expired one is removed.
    pub(crate) fn get(&self, key: &CacheKey, now: Instant) -> Option<Arc<Entry>> {
        let entry = self.cache.get(key)?;
        if now < entry.expires_at {
            return Some(entry);
        }
        self.cache.invalidate(key);
        Counters::bump(&self.counters.evictions);
        None
    }

    pub(crate) fn insert(&self, key: CacheKey, entry: Arc<Entry>) {
        self.cache.insert(key, entry);
        Counters::bump(&self.counters.stores);
    }

    pub(crate) fn invalidate(&self, key: &CacheKey) {
        self.cache.invalidate(key);
    }

    pub(crate) fn invalidate_if(
        &self,
        predicate: impl Fn(&EntryInfo) -> bool + Send + Sync + 'static,
    ) {
        if let Err(error) = self
            .cache
            .invalidate_entries_if(move |_key, entry| predicate(&entry.info))
        {
            // Only possible without `support_invalidation_closures`, which
            // `new` always sets; fall back to a full scan.
            tracing::warn!(%error, "response cache: predicate invalidation unavailable");
        }
    }

    pub(crate) fn flush(&self) {
        self.cache.invalidate_all();
    }

    pub(crate) fn stats(&self) -> CacheStats {
        self.cache.run_pending_tasks();
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            stores: c.stores.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            coalesced: c.coalesced.load(Ordering::Relaxed),
            bypasses: c.bypasses.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
            weighted_size: self.cache.weighted_size(),
        }
    }
}

/// How a fetch other requests wait on ended.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Pending,
    /// Stored: waiters answer with it.
    Stored(Arc<Entry>),
    /// Not storable: waiters fetch for themselves.
    NotStored,
}

/// The misses in flight, one fetch per key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    in_flight: Mutex<HashMap<CacheKey, (u64, watch::Receiver<Outcome>)>>,
    next_id: AtomicU64,
}

/// What a miss does: fetch (and tell the others), or wait.
#[derive(Debug)]
pub(crate) enum Role {
    Lead(FlightGuard),
    Wait(watch::Receiver<Outcome>),
}

impl Flights {
    pub(crate) fn join(self: &Arc<Self>, key: CacheKey) -> Role {
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, receiver)) = map.get(&key) {
            return Role::Wait(receiver.clone());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = watch::channel(Outcome::Pending);
        map.insert(key, (id, receiver));
        Role::Lead(FlightGuard {
            flights: Arc::clone(self),
            key,
            id,
            sender,
        })
    }
}

/// The leader's side of a flight. Dropped without [`complete`](Self::complete)
/// (the leader was cancelled, or its body dropped), it withdraws the flight
/// and the waiters elect a new leader among themselves.
#[derive(Debug)]
pub(crate) struct FlightGuard {
    flights: Arc<Flights>,
    key: CacheKey,
    id: u64,
    sender: watch::Sender<Outcome>,
}

impl FlightGuard {
    pub(crate) fn complete(self, outcome: Outcome) {
        self.sender.send_replace(outcome);
        // `Drop` withdraws the flight.
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut map = self
            .flights
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            map.remove(&self.key);
        }
    }
}
