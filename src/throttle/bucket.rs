//! The token bucket itself, with no tower types: the [`Limit`], governor's
//! clock over our [`Clock`](crate::clock::Clock), and the bounded keyed state
//! governor keeps its buckets in.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
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
use crate::store::BucketKey;

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
    /// `origin` as seconds and nanoseconds, when [`InstantParts`] reads
    /// instants correctly on this platform (checked in [`new`](Self::new)).
    origin_parts: Option<InstantParts>,
    /// The clock's [`monotonic_nanos`](crate::clock::Clock::monotonic_nanos)
    /// at `origin`, for a clock that has them: then they are read instead
    /// of instants.
    origin_nanos: Option<u64>,
}

impl GovernorClock {
    pub(crate) fn new(clock: SharedClock) -> Self {
        let origin = clock.now();
        let origin_parts = InstantParts::of(origin).filter(|&parts| parts.agree_with_std(origin));
        let origin_nanos = clock.monotonic_nanos();
        Self {
            clock,
            origin,
            origin_parts,
            origin_nanos,
        }
    }

    /// Nanoseconds from `origin` to `now` (0 if `now` is earlier), in `u64`
    /// arithmetic: governor's `From<Duration>` goes through `u128` and panics
    /// past 584 years, where this saturates.
    #[inline]
    fn since_origin(&self, now: Instant) -> u64 {
        if let (Some(origin), Some(now)) = (self.origin_parts, InstantParts::of(now)) {
            return now.nanos_since(origin);
        }
        let elapsed = now.checked_duration_since(self.origin).unwrap_or_default();
        elapsed
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(elapsed.subsec_nanos()))
    }
}

impl governor::clock::Clock for GovernorClock {
    type Instant = Nanos;

    #[inline]
    fn now(&self) -> Nanos {
        if let Some(origin) = self.origin_nanos {
            let now = self.clock.monotonic_nanos().unwrap_or(origin);
            return Nanos::new(now.saturating_sub(origin));
        }
        Nanos::new(self.since_origin(self.clock.now()))
    }
}

/// An [`Instant`] read as the seconds and nanoseconds it holds.
///
/// std offers no numeric view of an `Instant`: the only way is a
/// subtraction, `checked_duration_since`, which is not inlined and costs
/// ~55 instructions per read (std's `sub_timespec`, see BENCHMARKS.md), as
/// much as the rest of the bucket check. An `Instant`'s `Hash` (derived)
/// writes its seconds and then its nanoseconds, which this reads instead.
/// That is std's implementation, not its promise, so
/// [`agree_with_std`](Self::agree_with_std) checks it against the
/// subtraction once per clock, and any other shape of `Hash` (other writes,
/// other widths) reads as `None`: the clock then subtracts as before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InstantParts {
    secs: i64,
    nanos: u32,
}

impl InstantParts {
    #[inline]
    fn of(instant: Instant) -> Option<Self> {
        let mut reader = PartsReader::default();
        instant.hash(&mut reader);
        match reader {
            PartsReader {
                writes: 2,
                secs,
                nanos,
                odd: false,
            } if nanos < 1_000_000_000 => Some(Self { secs, nanos }),
            _ => None,
        }
    }

    /// Nanoseconds from `earlier` to `self`, 0 if `self` is earlier,
    /// saturating at `u64::MAX`.
    #[inline]
    fn nanos_since(self, earlier: Self) -> u64 {
        let nanos = i64::from(self.nanos) - i64::from(earlier.nanos);
        match self.secs.checked_sub(earlier.secs) {
            // At least one second, so `nanos` (above -1 s) cannot underflow.
            Some(secs) if secs > 0 => (secs as u64)
                .checked_mul(1_000_000_000)
                .map_or(u64::MAX, |whole| whole.saturating_add_signed(nanos)),
            Some(0) if nanos > 0 => nanos as u64,
            Some(_) => 0,
            // Only for instants centuries apart.
            None if self.secs > earlier.secs => u64::MAX,
            None => 0,
        }
    }

    /// Whether reading instants after `origin` this way gives what std's
    /// subtraction gives.
    fn agree_with_std(self, origin: Instant) -> bool {
        [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999_999_999),
            Duration::from_millis(1500),
            Duration::new(86_400 * 365, 123_456_789),
        ]
        .into_iter()
        .all(|offset| {
            origin.checked_add(offset).is_none_or(|later| {
                Self::of(later).map(|parts| parts.nanos_since(self))
                    == u64::try_from(later.duration_since(origin).as_nanos()).ok()
            })
        })
    }
}

/// The [`Hasher`] that [`InstantParts::of`] reads an `Instant` with: one
/// 64-bit write (seconds), then one 32-bit write (nanoseconds); anything
/// else marks it `odd`.
#[derive(Default)]
struct PartsReader {
    writes: u8,
    secs: i64,
    nanos: u32,
    odd: bool,
}

impl Hasher for PartsReader {
    fn write(&mut self, _: &[u8]) {
        self.odd = true;
    }

    #[inline]
    fn write_i64(&mut self, secs: i64) {
        self.odd |= self.writes != 0;
        self.secs = secs;
        self.writes = self.writes.saturating_add(1);
    }

    #[inline]
    fn write_u64(&mut self, secs: u64) {
        match i64::try_from(secs) {
            Ok(secs) => self.write_i64(secs),
            Err(_) => self.odd = true,
        }
    }

    #[inline]
    fn write_u32(&mut self, nanos: u32) {
        self.odd |= self.writes != 1;
        self.nanos = nanos;
        self.writes = self.writes.saturating_add(1);
    }

    fn finish(&self) -> u64 {
        0
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

/// An IPv4 client with 32 bits of its keyed hash: with its TAT, a 16-byte
/// map entry, four to a cache line (a [`Hashed`] [`BucketKey`] entry is 40
/// bytes and often spans two lines). With many clients nearly every check
/// misses the cache, so the lines a lookup touches are most of its time.
#[derive(Clone, Copy, PartialEq, Eq)]
struct V4Key {
    hash: u32,
    ip: u32,
}

impl Hash for V4Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The map takes its bucket index from the low bits and its tag from
        // the top seven: both come from the stored 32 bits.
        let hash = u64::from(self.hash);
        state.write_u64(hash | (hash << 32));
    }
}

/// One shard's buckets: IPv4 clients apart, in small entries.
#[derive(Default)]
struct Shard {
    v4: HashMap<V4Key, Nanos, BuildPassThrough>,
    other: HashMap<Hashed<BucketKey>, Nanos, BuildPassThrough>,
}

impl Shard {
    fn len(&self) -> usize {
        self.v4.len() + self.other.len()
    }

    /// Frees room in a full shard: forget full buckets (exact), then, if
    /// none were full, the eighth closest to full.
    fn evict(&mut self, now: Nanos, capacity: usize) {
        self.v4.retain(|_, tat| *tat > now);
        self.other.retain(|_, tat| *tat > now);
        if self.len() < capacity {
            return;
        }
        let mut tats: Vec<Nanos> = self
            .v4
            .values()
            .chain(self.other.values())
            .copied()
            .collect();
        let drop = (capacity / 8).max(1).min(tats.len());
        let (_, cutoff, _) = tats.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        let mut removed = 0;
        let mut keep = |tat: &mut Nanos| {
            if *tat < cutoff || (*tat == cutoff && removed < drop) {
                removed += 1;
                false
            } else {
                true
            }
        };
        self.v4.retain(|_, tat| keep(tat));
        self.other.retain(|_, tat| keep(tat));
    }
}

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
pub(crate) struct BoundedState {
    shards: Box<[Mutex<Shard>]>,
    hasher: SipKey,
    shard_capacity: usize,
    clock: GovernorClock,
    /// The governor limiter's start, on `clock`; set after the limiter is made,
    /// so it is never before governor's own start and eviction stays exact.
    start: AtomicU64,
}

impl fmt::Debug for BoundedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedState")
            .field("keys", &self.len())
            .field("capacity", &(self.shard_capacity * SHARDS))
            .finish()
    }
}

impl BoundedState {
    pub(crate) fn new(capacity: usize, clock: GovernorClock) -> Self {
        let hasher = SipKey::random();
        let shards = (0..SHARDS).map(|_| Mutex::default()).collect();
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

    /// `key`'s TAT in `shard`'s map `map`, replaced by what `f` makes of it;
    /// a new key may first make room.
    #[inline]
    fn update<Q, T, E>(
        &self,
        shard: &mut Shard,
        map: fn(&mut Shard) -> &mut HashMap<Q, Nanos, BuildPassThrough>,
        key: Q,
        f: impl Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    ) -> Result<T, E>
    where
        Q: Hash + Eq,
    {
        if let Some(tat) = map(shard).get_mut(&key) {
            let (result, next) = f(Some(*tat))?;
            *tat = next;
            return Ok(result);
        }
        let (result, next) = f(None)?;
        if shard.len() >= self.shard_capacity {
            shard.evict(self.now(), self.shard_capacity);
        }
        map(shard).insert(key, next);
        Ok(result)
    }
}

impl StateStore for BoundedState {
    type Key = BucketKey;

    // Inlined into the layer's call: governor's closure then needs no
    // environment in memory, and the call no frame of its own.
    #[inline]
    fn measure_and_replace<T, F, E>(&self, key: &BucketKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // One keyed hash per request: it picks the shard and is the map's hash.
        // Bits 32..38 pick the shard: the maps use the low bits for buckets
        // and the top seven (of the low 32 for IPv4 keys) for tags.
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shards[((hash >> 32) as usize) & (SHARDS - 1)]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let BucketKey::Ip(IpAddr::V4(ip)) = key {
            let key = V4Key {
                hash: hash as u32,
                ip: ip.to_bits(),
            };
            return self.update(&mut shard, |s| &mut s.v4, key, f);
        }
        // Cloned for the lookup too: std's map looks up by a borrowed form
        // of its key only, and a `Hashed` holds its key.
        let key = Hashed {
            hash,
            key: key.clone(),
        };
        self.update(&mut shard, |s| &mut s.other, key, f)
    }
}

/// A [`BoundedState`] shared between governor's limiter and its owner.
#[derive(Debug)]
pub(crate) struct SharedState(pub(crate) std::sync::Arc<BoundedState>);

impl StateStore for SharedState {
    type Key = BucketKey;

    #[inline]
    fn measure_and_replace<T, F, E>(&self, key: &BucketKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
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
    #[allow(clippy::disallowed_methods)] // A real instant: what std's `Hash` is read from.
    fn instants_are_read_without_subtraction_and_agree_with_std() {
        let origin = Instant::now();
        // On this platform the clock takes the fast path; were std's `Hash`
        // to change, this fails (the clock would still be right, slower).
        let parts = InstantParts::of(origin).expect("std's Instant hashes as (secs, nanos)");
        assert!(parts.agree_with_std(origin));
        let later = InstantParts::of(origin + Duration::new(3, 999_999_999)).unwrap();
        assert_eq!(later.nanos_since(parts), 3_999_999_999);
        // Earlier than the origin: zero, as `checked_duration_since` gives.
        assert_eq!(parts.nanos_since(later), 0);
    }

    #[test]
    fn instant_parts_saturate_and_borrow_across_seconds() {
        let at = |secs, nanos| InstantParts { secs, nanos };
        assert_eq!(at(5, 100).nanos_since(at(4, 900)), 999_999_200);
        assert_eq!(at(5, 100).nanos_since(at(5, 100)), 0);
        assert_eq!(at(5, 99).nanos_since(at(5, 100)), 0);
        assert_eq!(at(i64::MAX, 0).nanos_since(at(i64::MIN, 0)), u64::MAX);
        assert_eq!(at(i64::MIN, 0).nanos_since(at(i64::MAX, 0)), 0);
        assert_eq!(at(i64::MAX, 0).nanos_since(at(0, 0)), u64::MAX);
        assert_eq!(at(i64::MAX, 0).nanos_since(at(0, 5)), u64::MAX);
    }

    #[test]
    fn parts_reader_rejects_any_other_shape_of_hash() {
        let read = |f: &dyn Fn(&mut PartsReader)| {
            let mut reader = PartsReader::default();
            f(&mut reader);
            (reader.writes, reader.odd)
        };
        assert_eq!(
            read(&|r| {
                r.write_i64(1);
                r.write_u32(2)
            }),
            (2, false)
        );
        assert!(
            read(&|r| {
                r.write_u32(2);
                r.write_i64(1)
            })
            .1
        );
        assert!(
            read(&|r| {
                r.write_i64(1);
                r.write_u32(2);
                r.write_u32(3)
            })
            .1
        );
        assert!(
            read(&|r| {
                r.write_i64(1);
                r.write_u8(2)
            })
            .1
        );
        assert!(read(&|r| r.write_u128(1)).1);
    }

    #[test]
    fn governor_clock_counts_manual_time_to_the_nanosecond() {
        use governor::clock::Clock as _;
        let manual = crate::clock::ManualClock::new();
        let clock = GovernorClock::new(std::sync::Arc::new(manual.clone()));
        assert!(clock.origin_parts.is_some());
        assert_eq!(clock.now().as_u64(), 0);
        manual.advance(Duration::new(2, 5));
        assert_eq!(clock.now().as_u64(), 2_000_000_005);
    }

    #[test]
    fn ipv4_and_other_keys_share_the_shard_bound_and_eviction() {
        let clock = crate::clock::ManualClock::new();
        // Three keys per shard: the three keys below fit even if they all
        // hash to one shard (the keys are random per state).
        let capacity = 3 * SHARDS;
        let state = BoundedState::new(capacity, GovernorClock::new(std::sync::Arc::new(clock)));
        let take = |key: &BucketKey| {
            state
                .measure_and_replace(key, |tat| {
                    // Never full: a TAT far ahead.
                    Ok::<_, ()>((tat.is_some(), Nanos::from(u64::MAX / 2)))
                })
                .unwrap()
        };
        let v4 = BucketKey::Ip(std::net::Ipv4Addr::new(10, 0, 0, 1).into());
        let v6 = BucketKey::Ip(std::net::Ipv6Addr::LOCALHOST.into());
        let text = BucketKey::text("a key");
        for key in [&v4, &v6, &text] {
            assert!(!take(key));
            assert!(take(key));
        }
        assert_eq!(state.len(), 3);
        // Many more keys of both kinds stay bounded at the capacity.
        for i in 0..10_000u32 {
            take(&BucketKey::Ip(std::net::Ipv4Addr::from(i).into()));
            take(&BucketKey::text(i.to_string()));
        }
        assert!(state.len() <= capacity, "{}", state.len());
    }

    #[test]
    fn ceil_secs_rounds_up_partial_seconds() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
    }
}
