//! Time, injected: every layer that keeps time reads it through a [`Clock`].
//!
//! * [`TokioClock`], the default, reads tokio's clock. Under
//!   `#[tokio::test(start_paused = true)]` (tokio's `test-util` feature) it
//!   stands still until `tokio::time::advance` moves it, and its wall clock
//!   moves with it, so tests never sleep.
//! * [`ManualClock`] is moved by hand, monotonic and wall clock independently
//!   (to test a wall clock that jumps backwards, for example). It is public so
//!   that users can test their own stacks the same way.
//!
//! ```
//! use std::time::Duration;
//! use apigw::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new();
//! let start = clock.now();
//! clock.advance(Duration::from_secs(90));
//! assert_eq!(clock.now() - start, Duration::from_secs(90));
//! assert_eq!(clock.unix_time(), Duration::from_secs(1_700_000_090));
//! ```
//!
//! Caches built on libraries with their own notion of time (moka) keep each
//! entry's expiry from this clock and use the library's TTL only to bound
//! memory.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time: a monotonic clock for intervals and a wall clock for
/// calendar periods and timestamps.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Monotonic time, for intervals, buckets and expiry.
    fn now(&self) -> Instant;

    /// Wall-clock time since the Unix epoch, for calendar periods (quotas) and
    /// timestamps (`requestTimeEpoch`, JWT `exp`). May jump, forwards or back.
    fn unix_time(&self) -> Duration;

    /// Monotonic time as nanoseconds from a point fixed for this clock, for
    /// a clock that can tell it more cheaply than [`now`](Self::now) (token
    /// buckets read it on every request); `None`, the default, when it
    /// cannot. A clock that answers `Some` once answers `Some` always.
    fn monotonic_nanos(&self) -> Option<u64> {
        None
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn unix_time(&self) -> Duration {
        (**self).unix_time()
    }

    fn monotonic_nanos(&self) -> Option<u64> {
        (**self).monotonic_nanos()
    }
}

/// A shared clock, as layers hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The default clock for layers.
#[must_use]
pub fn default_clock() -> SharedClock {
    Arc::new(TokioClock)
}

/// tokio's clock: real time, or tokio's paused test time.
///
/// `now()` is `tokio::time::Instant::now()`. `unix_time()` is the system
/// time plus however far tokio's clock is ahead of real time, so when tokio's
/// time is paused and advanced (tokio's `test-util` feature) the wall clock
/// advances with it, and otherwise it is the system time.
///
/// The offset between the system clock and the monotonic clock is read at
/// most once per second of tokio's time and shared by the whole process, so
/// a `unix_time()` costs one clock read; a step of the system clock (an NTP
/// correction, an operator's change) shows within a second.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn unix_time(&self) -> Duration {
        WallClock::get().unix_time(tokio::time::Instant::now().into_std())
    }
}

/// The wall clock as an offset from a monotonic origin: `unix = offset +
/// (instant − origin)`, with the offset (system time − real monotonic time)
/// re-read once the instant passes `refresh_at`.
///
/// Applied to tokio's instant this is exactly "system time plus how far
/// tokio's clock is ahead of real time", with one clock read instead of
/// three. Under tokio's paused clock the offset is still the real one: it is
/// only ever computed from the two real clocks, read together.
struct WallClock {
    origin: Instant,
    /// Unix nanoseconds at `origin`, as of the last refresh.
    offset: AtomicI64,
    /// Nanoseconds after `origin` from which the offset is read again.
    refresh_at: AtomicI64,
}

/// How long an offset is used before the system clock is read again.
const WALL_CLOCK_REFRESH: i64 = 1_000_000_000;

impl WallClock {
    #[allow(clippy::disallowed_methods)] // The anchor of every `TokioClock` reading.
    fn get() -> &'static WallClock {
        static WALL_CLOCK: OnceLock<WallClock> = OnceLock::new();
        WALL_CLOCK.get_or_init(|| WallClock::new(Instant::now()))
    }

    fn new(origin: Instant) -> Self {
        let wall = WallClock {
            origin,
            offset: AtomicI64::new(0),
            refresh_at: AtomicI64::new(i64::MIN),
        };
        wall.refresh(0);
        wall
    }

    fn unix_time(&self, instant: Instant) -> Duration {
        let since = signed_nanos(instant, self.origin);
        if since >= self.refresh_at.load(Ordering::Relaxed) {
            self.refresh(since);
        }
        let unix = self.offset.load(Ordering::Relaxed).saturating_add(since);
        Duration::from_nanos(u64::try_from(unix).unwrap_or(0))
    }

    /// Reads the system clock and the real monotonic clock together.
    #[allow(clippy::disallowed_methods)] // The one place that reads the system clock.
    fn refresh(&self, since: i64) {
        let real = signed_nanos(Instant::now(), self.origin);
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let system = i64::try_from(system.as_nanos()).unwrap_or(i64::MAX);
        self.offset
            .store(system.saturating_sub(real), Ordering::Relaxed);
        self.refresh_at
            .store(since.saturating_add(WALL_CLOCK_REFRESH), Ordering::Relaxed);
    }
}

/// `instant − origin` in nanoseconds, negative when `instant` is earlier
/// (tokio's paused clock can stand before the origin).
fn signed_nanos(instant: Instant, origin: Instant) -> i64 {
    match instant.checked_duration_since(origin) {
        Some(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        None => i64::try_from(origin.duration_since(instant).as_nanos())
            .map_or(i64::MIN, |before| -before),
    }
}

/// The CPU's time-stamp counter through [`quanta`], as `governor` and
/// `tower_governor` read time: about a third of the cost of
/// `Instant::now()` per read (12 against 33 ns on a KVM guest, see
/// BENCHMARKS.md), for throttles on a hot path.
///
/// It does not follow tokio's paused time: tests of stacks that use it
/// drive time with [`ManualClock`] instead. `unix_time()` is the system
/// time. quanta falls back to the OS clock where the counter is not
/// usable.
///
/// ```
/// # use std::sync::Arc;
/// use apigw::clock::{Clock, QuantaClock};
///
/// let clock = QuantaClock::new();
/// let start = clock.now();
/// assert!(clock.now() >= start);
/// assert!(clock.monotonic_nanos().is_some());
/// # let _: apigw::clock::SharedClock = Arc::new(clock);
/// ```
#[cfg(feature = "quanta")]
#[derive(Clone, Debug)]
pub struct QuantaClock {
    clock: quanta::Clock,
    origin_raw: u64,
    origin: Instant,
}

#[cfg(feature = "quanta")]
impl QuantaClock {
    /// A clock calibrated now (quanta measures the counter's frequency
    /// once per process, in a few milliseconds).
    #[must_use]
    #[allow(clippy::disallowed_methods)] // The anchor of `now()`.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let origin_raw = clock.raw();
        Self {
            clock,
            origin_raw,
            origin: Instant::now(),
        }
    }

    fn nanos(&self) -> u64 {
        self.clock.delta_as_nanos(self.origin_raw, self.clock.raw())
    }
}

#[cfg(feature = "quanta")]
impl Default for QuantaClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "quanta")]
impl Clock for QuantaClock {
    fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.nanos())
    }

    #[allow(clippy::disallowed_methods)] // The system clock, as documented.
    fn unix_time(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }

    fn monotonic_nanos(&self) -> Option<u64> {
        Some(self.nanos())
    }
}

/// A clock moved by hand. Clones share the same time.
///
/// Starts at an arbitrary monotonic instant and at wall-clock
/// 2023-11-14T22:13:20Z (Unix time 1,700,000,000). [`advance`](Self::advance)
/// moves both; [`set_unix_time`](Self::set_unix_time) moves the wall clock
/// alone, in either direction.
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    base: Instant,
    elapsed_nanos: AtomicU64,
    unix_nanos: AtomicU64,
}

impl ManualClock {
    /// Wall-clock start: 2023-11-14T22:13:20Z.
    pub const DEFAULT_UNIX_TIME: Duration = Duration::from_secs(1_700_000_000);

    /// A clock at [`DEFAULT_UNIX_TIME`](Self::DEFAULT_UNIX_TIME).
    #[must_use]
    pub fn new() -> Self {
        Self::at_unix_time(Self::DEFAULT_UNIX_TIME)
    }

    /// A clock whose wall clock starts at `unix_time`.
    #[must_use]
    #[allow(clippy::disallowed_methods)] // Only an anchor: the clock never reads it again.
    pub fn at_unix_time(unix_time: Duration) -> Self {
        Self {
            inner: Arc::new(ManualInner {
                base: Instant::now(),
                elapsed_nanos: AtomicU64::new(0),
                unix_nanos: AtomicU64::new(duration_to_nanos(unix_time)),
            }),
        }
    }

    /// Moves both clocks forward.
    pub fn advance(&self, by: Duration) {
        let nanos = duration_to_nanos(by);
        self.inner.elapsed_nanos.fetch_add(nanos, Ordering::SeqCst);
        self.inner.unix_nanos.fetch_add(nanos, Ordering::SeqCst);
    }

    /// Sets the wall clock alone (forwards or backwards); the monotonic clock
    /// does not move.
    pub fn set_unix_time(&self, unix_time: Duration) {
        self.inner
            .unix_nanos
            .store(duration_to_nanos(unix_time), Ordering::SeqCst);
    }

    /// Time elapsed on the monotonic clock since the clock was made.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.elapsed_nanos.load(Ordering::SeqCst))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .field("unix_time", &self.unix_time())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.inner.base + self.elapsed()
    }

    fn unix_time(&self) -> Duration {
        Duration::from_nanos(self.inner.unix_nanos.load(Ordering::SeqCst))
    }
}

fn duration_to_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_advances_both_clocks() {
        let clock = ManualClock::new();
        let start = clock.now();
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now() - start, Duration::from_millis(1500));
        assert_eq!(
            clock.unix_time(),
            ManualClock::DEFAULT_UNIX_TIME + Duration::from_millis(1500)
        );
    }

    #[test]
    fn manual_clock_wall_time_can_go_backwards_without_moving_monotonic_time() {
        let clock = ManualClock::new();
        let start = clock.now();
        clock.set_unix_time(Duration::from_secs(10));
        assert_eq!(clock.unix_time(), Duration::from_secs(10));
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let clock = ManualClock::new();
        let other = clock.clone();
        other.advance(Duration::from_secs(5));
        assert_eq!(clock.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time_for_both_clocks() {
        let clock = TokioClock;
        let start = clock.now();
        let wall = clock.unix_time();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(clock.now() - start, Duration::from_secs(3600));
        let moved = clock.unix_time() - wall;
        // The wall clock is read from the system clock each time; allow the
        // real time the test takes, and read-to-read jitter, either way.
        assert!(
            moved.abs_diff(Duration::from_secs(3600)) < Duration::from_secs(1),
            "{moved:?}"
        );
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn wall_clock_reads_instants_before_and_after_its_origin() {
        let origin = Instant::now();
        let wall = WallClock::new(origin);
        let system = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let at = |instant| wall.unix_time(instant).abs_diff(system);
        assert!(at(origin) < Duration::from_secs(1));
        // Past the refresh point: the offset is read again, same answer.
        let later = origin + Duration::from_secs(10);
        assert!(
            wall.unix_time(later)
                .abs_diff(system + Duration::from_secs(10))
                < Duration::from_secs(1)
        );
        assert!(wall.refresh_at.load(Ordering::Relaxed) > 10_000_000_000);
        // Before the origin (tokio's paused clock can be): earlier, not zero.
        if let Some(earlier) = origin.checked_sub(Duration::from_secs(5)) {
            assert!(
                wall.unix_time(earlier)
                    .abs_diff(system - Duration::from_secs(5))
                    < Duration::from_secs(1)
            );
        }
    }

    #[tokio::test]
    #[allow(clippy::disallowed_methods)]
    async fn tokio_clock_reads_the_system_time_when_not_paused() {
        let system = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let ours = TokioClock.unix_time();
        let skew = ours.abs_diff(system);
        assert!(skew < Duration::from_secs(1), "{skew:?}");
    }
}
