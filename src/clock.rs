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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time: a monotonic clock for intervals and a wall clock for
/// calendar periods and timestamps.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Monotonic time, for intervals, buckets and expiry.
    fn now(&self) -> Instant;

    /// Wall-clock time since the Unix epoch, for calendar periods (quotas) and
    /// timestamps (`requestTimeEpoch`, JWT `exp`). May jump, forwards or back.
    fn unix_time(&self) -> Duration;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn unix_time(&self) -> Duration {
        (**self).unix_time()
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
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    #[allow(clippy::disallowed_methods)] // The one place that reads the system clocks.
    fn unix_time(&self) -> Duration {
        let tokio_now = tokio::time::Instant::now().into_std();
        let real_now = Instant::now();
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        match tokio_now.checked_duration_since(real_now) {
            Some(ahead) => system + ahead,
            None => system.saturating_sub(real_now.duration_since(tokio_now)),
        }
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

    #[tokio::test]
    #[allow(clippy::disallowed_methods)]
    async fn tokio_clock_reads_the_system_time_when_not_paused() {
        let system = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let ours = TokioClock.unix_time();
        let skew = ours.abs_diff(system);
        assert!(skew < Duration::from_secs(1), "{skew:?}");
    }
}
