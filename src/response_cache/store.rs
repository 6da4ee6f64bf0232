//! The stored responses, their counters, and the in-flight misses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version};
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use tokio::sync::watch;

use super::cache_key::CacheKey;
use super::export::{Event, Exporter, Labels, RouteCounters};
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
    /// The `metrics` counters of `info`'s route, resolved when the entry
    /// was made, so a hit does not look them up.
    pub(crate) counters: RouteCounters,
    pub(crate) weight: u32,
}

impl Entry {
    /// Whether `labels` name this entry's route and stage (a request
    /// answered from it counts under its own labels).
    pub(crate) fn labelled(&self, (route, stage): Labels<'_>) -> bool {
        self.info.route_key.as_ref() == route && self.info.stage.as_ref() == stage
    }
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
    /// The stage of the matched route, when the request had one.
    pub stage: Option<Arc<str>>,
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
    /// Responses stored now (each `Vary` variant counts).
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

/// The variants stored under one key, newest first: one per distinct set of
/// request values of the headers the response's `Vary` nominates. Replaced
/// whole (copy on write), never mutated.
#[derive(Debug)]
pub(crate) struct Variants {
    entries: Box<[Arc<Entry>]>,
    weight: u32,
}

impl Variants {
    fn new(entries: Vec<Arc<Entry>>) -> Arc<Self> {
        let weight = entries
            .iter()
            .fold(0u32, |sum, entry| sum.saturating_add(entry.weight));
        Arc::new(Self {
            entries: entries.into_boxed_slice(),
            weight,
        })
    }

    fn count(&self) -> u64 {
        self.entries.len() as u64
    }
}

/// The response store: moka, weighted in bytes. moka's own TTL only bounds
/// memory; entries are served by their own expiry from the layer's clock.
#[derive(Clone)]
pub(crate) struct Store {
    cache: moka::sync::Cache<CacheKey, Arc<Variants>>,
    max_variants: usize,
    pub(crate) counters: Arc<Counters>,
    export: Arc<Exporter>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("entries", &self.cache.entry_count())
            .field("weighted_size", &self.cache.weighted_size())
            .field("max_variants", &self.max_variants)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store of at most `capacity` bytes and `max_variants` variants per
    /// key, whose entries moka drops after `memory_ttl` whatever their own
    /// expiry.
    pub(crate) fn new(
        capacity: u64,
        max_variants: usize,
        memory_ttl: Duration,
        export: Exporter,
    ) -> Self {
        let counters = Arc::new(Counters::default());
        let listener_counters = Arc::clone(&counters);
        let export = Arc::new(export);
        let cache = moka::sync::Cache::builder()
            .name("apigw-response-cache")
            .max_capacity(capacity)
            .weigher(|_key: &CacheKey, variants: &Arc<Variants>| variants.weight)
            .time_to_live(memory_ttl)
            .support_invalidation_closures()
            .eviction_listener(move |_key, variants: Arc<Variants>, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    listener_counters
                        .evictions
                        .fetch_add(variants.count(), Ordering::Relaxed);
                    for entry in &variants.entries {
                        entry.counters.record(Event::Eviction, 1);
                    }
                }
            })
            .build();
        Self {
            cache,
            max_variants,
            counters,
            export,
        }
    }

    /// Counts a hit, miss, store or eviction of the route `labels` names,
    /// in [`CacheStats`] and through the `metrics` facade.
    pub(crate) fn count(&self, event: Event, labels: Labels<'_>) {
        let counter = match event {
            Event::Hit => &self.counters.hits,
            Event::Miss => &self.counters.misses,
            Event::Store => &self.counters.stores,
            Event::Eviction => &self.counters.evictions,
        };
        Counters::bump(counter);
        self.export.record(labels, event, 1);
    }

    /// The `metrics` counters of the route `labels` names, for a new entry.
    pub(crate) fn counters(&self, labels: Labels<'_>) -> RouteCounters {
        self.export.counters(labels)
    }

    /// Counts a hit on `entry` by a request of the route `labels` names:
    /// through the entry's own counters when it is that route's (always,
    /// but for a HEAD routed apart from the GET that stored it).
    pub(crate) fn count_hit(&self, entry: &Entry, labels: Labels<'_>) {
        Counters::bump(&self.counters.hits);
        if entry.labelled(labels) {
            entry.counters.record(Event::Hit, 1);
        } else {
            self.export.record(labels, Event::Hit, 1);
        }
    }

    /// The fresh variant under `key` whose `Vary` values `request` matches,
    /// at `now`. An expired one is removed.
    pub(crate) fn get(&self, key: &[u8], request: &HeaderMap, now: Instant) -> Option<Arc<Entry>> {
        let variants = self.cache.get(key)?;
        let entry = variants
            .entries
            .iter()
            .find(|entry| entry.vary.matches(request))?;
        if now < entry.expires_at {
            return Some(Arc::clone(entry));
        }
        let expired = Arc::clone(entry);
        drop(variants);
        self.remove_expired(key, &expired);
        None
    }

    #[cold]
    fn remove_expired(&self, key: &[u8], expired: &Arc<Entry>) {
        self.cache
            .entry(CacheKey::from_bytes(key))
            .and_compute_with(|current| {
                let Some(current) = current else {
                    return Op::Nop;
                };
                let rest: Vec<Arc<Entry>> = current
                    .value()
                    .entries
                    .iter()
                    .filter(|entry| !Arc::ptr_eq(entry, expired))
                    .cloned()
                    .collect();
                if rest.len() == current.value().entries.len() {
                    Op::Nop
                } else if rest.is_empty() {
                    Op::Remove
                } else {
                    Op::Put(Variants::new(rest))
                }
            });
        Counters::bump(&self.counters.evictions);
        expired.counters.record(Event::Eviction, 1);
    }

    /// Stores `entry` under `key`, replacing the variant with the same `Vary`
    /// values and dropping expired ones; the oldest go beyond
    /// `max_variants`.
    pub(crate) fn insert(&self, key: CacheKey, entry: &Arc<Entry>, now: Instant) {
        let max_variants = self.max_variants;
        self.cache.entry(key).and_compute_with(|current| {
            let mut entries = Vec::with_capacity(
                current
                    .as_ref()
                    .map_or(1, |c| c.value().entries.len() + 1)
                    .min(max_variants),
            );
            entries.push(Arc::clone(entry));
            if let Some(current) = &current {
                entries.extend(
                    current
                        .value()
                        .entries
                        .iter()
                        .filter(|old| now < old.expires_at && old.vary != entry.vary)
                        .take(max_variants.saturating_sub(1))
                        .cloned(),
                );
            }
            Op::Put(Variants::new(entries))
        });
        Counters::bump(&self.counters.stores);
        entry.counters.record(Event::Store, 1);
    }

    pub(crate) fn invalidate(&self, key: &CacheKey) {
        self.cache.invalidate(key);
    }

    pub(crate) fn invalidate_if(
        &self,
        predicate: impl Fn(&EntryInfo) -> bool + Send + Sync + 'static,
    ) {
        if let Err(error) = self.cache.invalidate_entries_if(move |_key, variants| {
            variants.entries.iter().any(|entry| predicate(&entry.info))
        }) {
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
            entries: self
                .cache
                .iter()
                .map(|(_, variants)| variants.count())
                .sum(),
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
        map.insert(key.clone(), (id, receiver));
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
