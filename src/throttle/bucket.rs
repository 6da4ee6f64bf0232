//! The token bucket itself, with no tower types: the [`Limit`], governor's
//! clock over our [`Clock`](crate::clock::Clock), and the bounded keyed state
//! governor keeps its buckets in.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::Quota;
use governor::nanos::Nanos;
use governor::state::StateStore;
use siphasher::sip::SipHasher13;

use crate::clock::SharedClock;
use crate::error::ConfigError;
use crate::prehashed::BuildPassThrough;

/// A token bucket: `rate` tokens per second refill a bucket of `burst`
/// tokens; each request takes one.
///
/// * The bucket starts full, so with rate 1000/s and burst 500 the first
///   second admits 1500 requests (500 at once, then one per millisecond).
/// * After any idle time at most `burst` requests pass at once.
/// * `burst` 0 rejects every request (API Gateway's "rate 0, burst 0").
/// * Rates may be fractional (`0.5` is one request every two seconds). The
///   interval between tokens is `1 / rate` rounded to the nanosecond, so a
///   rate of 3/s emits a token every 333,333,333 ns.
#[derive(Clone, Copy, PartialEq)]
pub struct Limit {
    rate: f64,
    burst: u32,
    interval: Duration,
}

impl Limit {
    /// A bucket that admits nothing (rate 0, burst 0).
    #[cfg(feature = "usage-plan")]
    pub(crate) const BLOCKED: Limit = Limit {
        rate: 0.0,
        burst: 0,
        interval: Duration::MAX,
    };

    /// The fastest rate: one token per nanosecond.
    pub const MAX_RATE: f64 = 1e9;

    /// A bucket of `burst` tokens refilled at `rate` per second.
    ///
    /// `rate` must be finite, at most [`MAX_RATE`](Self::MAX_RATE) and
    /// positive; 0 is accepted only with `burst` 0 (a bucket that never
    /// admits).
    pub fn new(rate: f64, burst: u32) -> Result<Self, ConfigError> {
        if !rate.is_finite() || !(0.0..=Self::MAX_RATE).contains(&rate) {
            return Err(ConfigError::new(format!(
                "throttle rate {rate} must be a finite number of requests per second in 0..=1e9"
            )));
        }
        if rate == 0.0 {
            if burst != 0 {
                return Err(ConfigError::new(
                    "throttle rate 0 never refills: use burst 0 to reject every request",
                ));
            }
            return Ok(Self {
                rate,
                burst,
                interval: Duration::MAX,
            });
        }
        let nanos = (1e9 / rate).round();
        if nanos < 1.0 || nanos >= u64::MAX as f64 {
            return Err(ConfigError::new(format!(
                "throttle rate {rate} is out of range"
            )));
        }
        Ok(Self {
            rate,
            burst,
            interval: Duration::from_nanos(nanos as u64),
        })
    }

    /// `rate` whole requests per second, bucket of `burst`.
    pub fn per_second(rate: u32, burst: u32) -> Result<Self, ConfigError> {
        Self::new(f64::from(rate), burst)
    }

    /// The refill rate, requests per second.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The bucket size.
    #[must_use]
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time between two tokens (`1 / rate`, to the nanosecond).
    /// `Duration::MAX` when the bucket never refills.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long an empty bucket takes to fill up: `burst × interval`. This is
    /// the window (`w`) of the `RateLimit-Policy` header.
    #[must_use]
    pub fn window(&self) -> Duration {
        self.interval.saturating_mul(self.burst)
    }

    /// This bucket split among `replicas` processes: rate `rate / replicas`
    /// and burst `burst / replicas` rounded down but at least 1 (a bucket
    /// that admits anything keeps admitting something), so `replicas`
    /// processes together admit at most the whole rate and, unless `burst`
    /// is below `replicas`, at most the whole burst.
    #[must_use]
    pub fn share(&self, replicas: u32) -> Limit {
        let replicas = replicas.max(1);
        if self.burst == 0 || replicas == 1 {
            return *self;
        }
        let burst = (self.burst / replicas).max(1);
        Self::new(self.rate / f64::from(replicas), burst).unwrap_or(*self)
    }

    /// governor's quota, or `None` for a bucket that admits nothing.
    pub(crate) fn quota(&self) -> Option<Quota> {
        let burst = NonZeroU32::new(self.burst)?;
        Some(Quota::with_period(self.interval)?.allow_burst(burst))
    }
}

impl fmt::Debug for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limit")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .finish()
    }
}

/// Whole seconds, rounded up, as `Retry-After` and the `RateLimit` header's
/// `t` carry them.
#[must_use]
pub(crate) fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// governor's clock, read from our [`Clock`](crate::clock::Clock): time is
/// the monotonic nanoseconds since `origin`, so [`ManualClock`] and tokio's
/// paused time drive every bucket.
///
/// [`ManualClock`]: crate::clock::ManualClock
#[derive(Clone, Debug)]
pub(crate) struct GovernorClock {
    clock: SharedClock,
    origin: Instant,
}

impl GovernorClock {
    pub(crate) fn new(clock: SharedClock) -> Self {
        let origin = clock.now();
        Self { clock, origin }
    }
}

impl governor::clock::Clock for GovernorClock {
    type Instant = Nanos;

    #[inline]
    fn now(&self) -> Nanos {
        // In `u64` arithmetic: governor's `From<Duration>` goes through
        // `u128` and panics past 584 years, where this saturates.
        let elapsed = self
            .clock
            .now()
            .checked_duration_since(self.origin)
            .unwrap_or_default();
        Nanos::new(
            elapsed
                .as_secs()
                .saturating_mul(1_000_000_000)
                .saturating_add(u64::from(elapsed.subsec_nanos())),
        )
    }
}

/// A key with its keyed hash, computed once per request.
#[derive(Clone)]
struct Hashed<K> {
    hash: u64,
    key: K,
}

impl<K: PartialEq> PartialEq for Hashed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl<K: Eq> Eq for Hashed<K> {}

impl<K> Hash for Hashed<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

type Shard<K> = HashMap<Hashed<K>, Nanos, BuildPassThrough>;

/// SipHash-1-3 with a random key: the algorithm of std's `RandomState`
/// (same DoS resistance for attacker-chosen keys such as client addresses),
/// from the `siphasher` crate, whose integer writes are hashed in place
/// without std's generic byte buffering (std's `RandomState` spent 156
/// instructions on an IPv4 key, see BENCHMARKS.md).
#[derive(Clone, Copy)]
pub(crate) struct SipKey {
    k0: u64,
    k1: u64,
}

impl SipKey {
    /// A key no client can predict: two outputs of std's randomly keyed
    /// SipHash.
    pub(crate) fn random() -> Self {
        let random = RandomState::new();
        Self {
            k0: random.hash_one(0x243f_6a88_85a3_08d3_u64),
            k1: random.hash_one(0x1319_8a2e_0370_7344_u64),
        }
    }

    #[inline]
    fn hasher(self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.k0, self.k1)
    }

    #[inline]
    pub(crate) fn hash_one<T: Hash + ?Sized>(self, value: &T) -> u64 {
        let mut hasher = self.hasher();
        value.hash(&mut hasher);
        hasher.finish()
    }
}

/// A [`BuildHasher`] of [`SipKey`]'s SipHash-1-3, random per instance: for
/// maps keyed by what clients send (API key values, key ids).
#[cfg(feature = "usage-plan")]
#[derive(Clone, Copy)]
pub(crate) struct SipBuildHasher(SipKey);

#[cfg(feature = "usage-plan")]
impl Default for SipBuildHasher {
    fn default() -> Self {
        Self(SipKey::random())
    }
}

#[cfg(feature = "usage-plan")]
impl BuildHasher for SipBuildHasher {
    type Hasher = SipHasher13;

    #[inline]
    fn build_hasher(&self) -> SipHasher13 {
        self.0.hasher()
    }
}

/// Shards of the keyed state: a power of two.
const SHARDS: usize = 64;

/// governor's keyed state, bounded: at most `capacity` keys (rounded up to a
/// multiple of 64), evicted on access, with no cleanup thread.
///
/// A key's state is its theoretical arrival time (TAT). A bucket whose TAT
/// is not after now is full, and a full bucket is exactly what an unknown key
/// gets, so such keys are forgotten with no effect on any decision. A shard
/// that is full of keys whose buckets are not full drops the eighth of them
/// closest to full; only then can a forgotten key get more than its bucket
/// (at most the tokens it had yet to regain). Size the capacity for the
/// number of keys active within one `window`.
pub(crate) struct BoundedState<K> {
    shards: Box<[Mutex<Shard<K>>]>,
    hasher: SipKey,
    shard_capacity: usize,
    clock: GovernorClock,
    /// The governor limiter's start, on `clock`; set after the limiter is made,
    /// so it is never before governor's own start and eviction stays exact.
    start: AtomicU64,
}

impl<K> fmt::Debug for BoundedState<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedState")
            .field("keys", &self.len())
            .field("capacity", &(self.shard_capacity * SHARDS))
            .finish()
    }
}

impl<K> BoundedState<K> {
    pub(crate) fn new(capacity: usize, clock: GovernorClock) -> Self {
        let hasher = SipKey::random();
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(HashMap::default()))
            .collect();
        Self {
            shards,
            hasher,
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            clock,
            start: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_start(&self, start: Nanos) {
        self.start.store(start.as_u64(), Ordering::Relaxed);
    }

    /// Keys currently held.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    fn now(&self) -> Nanos {
        use governor::clock::Clock as _;
        let start = Nanos::from(self.start.load(Ordering::Relaxed));
        self.clock.now().saturating_sub(start)
    }
}

impl<K: Hash + Eq + Clone> StateStore for BoundedState<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // One keyed hash per request: it picks the shard and is the map's hash.
        // Bits 32..38 pick the shard: the map uses the low bits for buckets
        // and the top seven for tags.
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shards[((hash >> 32) as usize) & (SHARDS - 1)]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = Hashed {
            hash,
            key: key.clone(),
        };
        if let Some(tat) = shard.get_mut(&key) {
            let (result, next) = f(Some(*tat))?;
            *tat = next;
            return Ok(result);
        }
        let (result, next) = f(None)?;
        if shard.len() >= self.shard_capacity {
            evict(&mut shard, self.now(), self.shard_capacity);
        }
        shard.insert(key, next);
        Ok(result)
    }
}

/// A [`BoundedState`] shared between governor's limiter and its owner.
#[derive(Debug)]
pub(crate) struct SharedState<K>(pub(crate) std::sync::Arc<BoundedState<K>>);

impl<K: Hash + Eq + Clone> StateStore for SharedState<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

/// Frees room in a full shard: forget full buckets (exact), then, if none
/// were full, the eighth closest to full.
fn evict<K: Eq>(shard: &mut Shard<K>, now: Nanos, capacity: usize) {
    shard.retain(|_, tat| *tat > now);
    if shard.len() < capacity {
        return;
    }
    let mut tats: Vec<Nanos> = shard.values().copied().collect();
    let drop = (capacity / 8).max(1).min(tats.len());
    let (_, cutoff, _) = tats.select_nth_unstable(drop - 1);
    let cutoff = *cutoff;
    let mut removed = 0;
    shard.retain(|_, tat| {
        if *tat < cutoff || (*tat == cutoff && removed < drop) {
            removed += 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_rejects_nonsense_rates() {
        assert!(Limit::new(f64::NAN, 1).is_err());
        assert!(Limit::new(-1.0, 1).is_err());
        assert!(Limit::new(2e9, 1).is_err());
        assert!(Limit::new(0.0, 5).is_err());
        assert!(Limit::new(0.0, 0).is_ok());
    }

    #[test]
    fn limit_interval_is_the_inverse_rate_to_the_nanosecond() {
        assert_eq!(
            Limit::new(0.5, 1).unwrap().interval(),
            Duration::from_secs(2)
        );
        assert_eq!(
            Limit::per_second(1000, 500).unwrap().interval(),
            Duration::from_millis(1)
        );
        assert_eq!(
            Limit::per_second(3, 1).unwrap().interval(),
            Duration::from_nanos(333_333_333)
        );
        assert_eq!(
            Limit::per_second(10, 20).unwrap().window(),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn burst_zero_has_no_governor_quota() {
        assert!(Limit::per_second(10, 0).unwrap().quota().is_none());
        assert!(Limit::per_second(10, 1).unwrap().quota().is_some());
    }

    #[test]
    fn sip_key_hashes_as_std_siphash_1_3_and_depends_on_the_key() {
        // std's `DefaultHasher::new()` is SipHash-1-3 with a zero key (an
        // implementation detail, but the reference at hand).
        let zero = SipKey { k0: 0, k1: 0 };
        let mut std = std::hash::DefaultHasher::new();
        (0x0a00_0001_u64, "a text key").hash(&mut std);
        assert_eq!(
            zero.hash_one(&(0x0a00_0001_u64, "a text key")),
            std.finish()
        );
        // Keyed: another key, another hash.
        assert_ne!(SipKey::random().hash_one(&1u64), zero.hash_one(&1u64));
    }

    #[test]
    fn ceil_secs_rounds_up_partial_seconds() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
    }
}
