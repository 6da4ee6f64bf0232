//! The local pre-check of [`RedisStore`](super::RedisStore): the last
//! bucket state Redis reported, per bucket key, on this process's clock.
//!
//! For every answer about a bucket, Redis reports how far the bucket's
//! theoretical arrival time (TAT) is ahead of its clock (`ahead`, from the
//! admitted `reset` or the rejected `retry`). The pre-check remembers
//! `local now + ahead`. A bucket's TAT never moves back, so this is a lower
//! bound of the bucket's state, shifted by the answer's delay and the clock
//! offset between this process and Redis. A request is rejected without a
//! round trip only when that remembered state says it would be rejected even
//! `tolerance` later. Clock offset cancels out (both sides of the comparison
//! are this process's clock); what is left is the delay of the remembered
//! answer plus the delay of the request not sent, each at most the store's
//! timeout for any answer the layer would act on. So with `tolerance` ≥ two
//! timeouts (the default), a request rejected locally is one Redis would have
//! rejected too, and since rejected requests never count, the shared state
//! is what it would have been. Only requests are saved, never admitted.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::SharedClock;

const SHARDS: usize = 16;

/// Remembered theoretical arrival times (ns on the pre-check's clock) by
/// Redis bucket key.
type Shard = Mutex<HashMap<Box<str>, u64>>;

pub(super) struct Precheck {
    tolerance: u64,
    clock: SharedClock,
    origin: Instant,
    hasher: RandomState,
    per_shard: usize,
    shards: Box<[Shard]>,
}

impl Precheck {
    pub(super) fn new(tolerance: Duration, max_keys: usize, clock: SharedClock) -> Self {
        let origin = clock.now();
        Self {
            tolerance: nanos(tolerance),
            clock,
            origin,
            hasher: RandomState::new(),
            per_shard: max_keys.div_ceil(SHARDS).max(1),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn now(&self) -> u64 {
        nanos(self.clock.now().saturating_duration_since(self.origin))
    }

    fn shard(&self, key: &str) -> &Shard {
        let index = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[index]
    }

    /// `Some(retry after)` when the remembered state rejects a request to
    /// `key` (GCRA with `interval` and `window`, ns) even `tolerance` later.
    pub(super) fn rejects(&self, key: &str, interval: u64, window: u64) -> Option<Duration> {
        let tat = *self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)?;
        let ahead = tat.checked_sub(self.now())?;
        let over = ahead.saturating_add(interval).checked_sub(window)?;
        (over > self.tolerance).then(|| Duration::from_nanos(over))
    }

    /// Redis reported `key`'s TAT `ahead` ns ahead of its clock.
    pub(super) fn record(&self, key: &str, ahead: u64) {
        let now = self.now();
        let tat = now.saturating_add(ahead);
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = shard.get_mut(key) {
            *known = (*known).max(tat);
            return;
        }
        if shard.len() >= self.per_shard {
            // A bucket whose TAT has passed is full: forgetting it changes
            // nothing. Should every entry still be live, forget them all: a
            // missing entry only means no local rejection.
            shard.retain(|_, known| *known > now);
            if shard.len() >= self.per_shard {
                shard.clear();
            }
        }
        shard.insert(key.into(), tat);
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn rejects_only_beyond_the_tolerance_and_forgets_within_its_bound() {
        let clock = ManualClock::new();
        let precheck = Precheck::new(Duration::from_millis(100), 32, Arc::new(clock.clone()));
        // Interval 1 s, window 3 s: a bucket 3 s ahead is empty for 1 s.
        assert_eq!(precheck.rejects("a", SEC, 3 * SEC), None, "unknown");
        precheck.record("a", 3 * SEC);
        assert_eq!(
            precheck.rejects("a", SEC, 3 * SEC),
            Some(Duration::from_secs(1))
        );
        // An older, smaller answer never moves the state back.
        precheck.record("a", SEC);
        clock.advance(Duration::from_millis(899));
        assert!(precheck.rejects("a", SEC, 3 * SEC).is_some());
        // Within the tolerance of the next token: ask Redis.
        clock.advance(Duration::from_millis(1));
        assert_eq!(precheck.rejects("a", SEC, 3 * SEC), None);
        // Bounded: far more keys than room keep at most the bound.
        for i in 0..1000 {
            precheck.record(&format!("k{i}"), 10 * SEC);
        }
        let held: usize = precheck
            .shards
            .iter()
            .map(|s| s.lock().unwrap().len())
            .sum();
        assert!(held <= 32, "{held}");
    }
}
