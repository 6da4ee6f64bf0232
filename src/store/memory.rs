//! In-memory token buckets: governor's GCRA, driven by our clock, in bounded
//! keyed state.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use governor::RateLimiter;
use governor::clock::Clock as _;
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};

use super::{BucketKey, Decision, LimitSpec, Limiter, RateLimitStore, StoreError, StoreFuture};
use crate::clock::SharedClock;
use crate::throttle::bucket::{BoundedState, GovernorClock, SharedState};

type Direct = RateLimiter<NotKeyed, InMemoryState, GovernorClock, StateInformationMiddleware>;
type Keyed = RateLimiter<BucketKey, SharedState, GovernorClock, StateInformationMiddleware>;

/// Token buckets in this process's memory: exact GCRA through `governor`,
/// read from the layer's [`Clock`](crate::clock::Clock).
///
/// [`BucketKey::Global`] is one lock-free bucket; other keys live in a
/// sharded map bounded by [`LimitSpec::max_keys`]. Buckets that have refilled
/// are forgotten when room is needed (a full bucket is what a new key gets
/// anyway), so memory stays bounded with no cleanup thread.
#[derive(Clone, Debug, Default)]
pub struct MemoryRateLimitStore {
    _private: (),
}

impl MemoryRateLimitStore {
    /// A store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The in-memory limiter itself (what [`RateLimitStore::limiter`] returns).
    #[must_use]
    pub fn memory_limiter(&self, spec: &LimitSpec, clock: &SharedClock) -> MemoryLimiter {
        MemoryLimiter::new(spec.clone(), clock)
    }
}

impl RateLimitStore for MemoryRateLimitStore {
    fn limiter(&self, spec: &LimitSpec, clock: &SharedClock) -> Arc<dyn Limiter> {
        Arc::new(self.memory_limiter(spec, clock))
    }
}

/// The in-memory buckets of one limit.
pub struct MemoryLimiter {
    spec: LimitSpec,
    buckets: Option<Buckets>,
}

struct Buckets {
    clock: GovernorClock,
    /// The limit's interval in nanoseconds (at most `u64::MAX`, as checked by
    /// [`Limit::new`](crate::throttle::Limit::new)).
    interval_nanos: u64,
    direct: Direct,
    keyed: Keyed,
    state: Arc<BoundedState>,
}

impl Buckets {
    /// One token from `key`'s bucket: governor's answer, or the rejection.
    #[inline]
    fn take(&self, key: &BucketKey) -> Result<StateSnapshot, Decision> {
        let outcome = match key {
            BucketKey::Global => self.direct.check(),
            key => self.keyed.check_key(key),
        };
        outcome.map_err(|not_until| Decision::Rejected {
            retry_after: Some(not_until.wait_time_from(self.clock.now())),
        })
    }
}

impl MemoryLimiter {
    fn new(spec: LimitSpec, clock: &SharedClock) -> Self {
        let buckets = spec.limit().quota().map(|quota| {
            let clock = GovernorClock::new(Arc::clone(clock));
            let direct: Direct = RateLimiter::new(quota, InMemoryState::default(), clock.clone());
            let state = Arc::new(BoundedState::new(spec.max_keys(), clock.clone()));
            let keyed: Keyed =
                RateLimiter::new(quota, SharedState(Arc::clone(&state)), clock.clone());
            // Never before governor's own start: eviction stays on the safe side.
            let start: Nanos = clock.now();
            state.set_start(start);
            Buckets {
                clock,
                interval_nanos: u64::try_from(spec.limit().interval().as_nanos())
                    .unwrap_or(u64::MAX),
                direct,
                keyed,
                state,
            }
        });
        Self { spec, buckets }
    }

    /// Takes a token from `key`'s bucket; synchronous.
    pub fn check_now(&self, key: &BucketKey) -> Decision {
        let Some(buckets) = &self.buckets else {
            return Decision::Rejected { retry_after: None };
        };
        match buckets.take(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let taken = self.spec.limit().burst() - remaining;
                // `u64` nanoseconds unless that overflows (a window of more
                // than 584 years).
                let reset = buckets
                    .interval_nanos
                    .checked_mul(u64::from(taken))
                    .map_or_else(
                        || self.spec.limit().interval().saturating_mul(taken),
                        Duration::from_nanos,
                    );
                Decision::Admitted { remaining, reset }
            }
            Err(rejected) => rejected,
        }
    }

    /// Takes a token from `key`'s bucket like [`check_now`](Self::check_now),
    /// for a caller that does not report the budget: `Ok` when admitted
    /// (without computing what is left), else the rejection.
    #[inline]
    pub(crate) fn try_take(&self, key: &BucketKey) -> Result<(), Decision> {
        let Some(buckets) = &self.buckets else {
            return Err(Decision::Rejected { retry_after: None });
        };
        buckets.take(key).map(|_| ())
    }

    /// Keys held in the bounded map.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buckets.as_ref().map_or(0, |b| b.state.len())
    }

    /// Whether no key is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for MemoryLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("spec", &self.spec)
            .field("keys", &self.len())
            .finish()
    }
}

impl Limiter for MemoryLimiter {
    fn spec(&self) -> &LimitSpec {
        &self.spec
    }

    fn check(&self, key: &BucketKey) -> StoreFuture<Result<Decision, StoreError>> {
        StoreFuture::ready(Ok(self.check_now(key)))
    }

    fn keys_in_memory(&self) -> Option<usize> {
        Some(self.len())
    }
}
