//! Quota counters: the [`QuotaStore`] trait and the in-memory
//! [`MemoryQuotaStore`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::{BucketKey, Decision, Limiter, StoreError, StoreFuture};
use crate::usage_plan::Day;

/// The quota part of a [`MeterRequest`]: the period the request falls in and
/// what it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaCheck {
    /// The first day of the period.
    pub period_start: Day,
    /// The first day after the period (a shared store expires counters
    /// then).
    pub period_end: Day,
    /// The UTC day of the request.
    pub day: Day,
    /// The period's limit (after the first period's offset), before granted
    /// extensions.
    pub limit: u64,
}

/// One request to meter for an API key: its throttle, then its quota.
#[derive(Clone, Copy, Debug)]
pub struct MeterRequest<'a> {
    /// The API key's id.
    pub key_id: &'a str,
    /// The key's throttle and its bucket key, if its plan has one.
    pub throttle: Option<(&'a dyn Limiter, &'a BucketKey)>,
    /// The key's quota, if its plan has one.
    pub quota: Option<QuotaCheck>,
}

/// What [`QuotaStore::meter`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MeterOutcome {
    /// Counted: a token was taken and the quota counted the request.
    Admitted {
        /// The throttle's answer.
        throttle: Option<Decision>,
        /// Requests used in the period, this one included, and the period's
        /// limit including granted extensions.
        quota: Option<(u64, u64)>,
    },
    /// The throttle had no token; nothing was counted.
    Throttled(Decision),
    /// The quota is spent; no token was taken and nothing was counted.
    QuotaExceeded {
        /// Requests used in the period.
        used: u64,
        /// The period's limit including granted extensions.
        limit: u64,
    },
}

/// What a key used, for usage reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// Requests counted per UTC day, in day order, days without requests
    /// left out.
    pub days: Vec<(Day, u64)>,
    /// Extra requests granted per period (by first day of the period).
    pub extra: Vec<(Day, u64)>,
}

/// Where quota counters live.
///
/// [`meter`](Self::meter) is the one call per request: a shared store does
/// it in one atomic round trip (one script).
pub trait QuotaStore: Send + Sync + fmt::Debug + 'static {
    /// In one atomic step: if the quota is spent, answer
    /// [`MeterOutcome::QuotaExceeded`]; else take a throttle token, and if
    /// there is none answer [`MeterOutcome::Throttled`]; else count the
    /// request against the period and the day. Rejected requests never
    /// count. A period never goes back: a request whose period starts before
    /// the newest one the key has seen (a wall clock moved backwards) counts
    /// against the newest.
    fn meter(&self, request: &MeterRequest<'_>) -> StoreFuture<Result<MeterOutcome, StoreError>>;

    /// What `key_id` used on the days `from..=to`, and what it was granted.
    fn usage(&self, key_id: &str, from: Day, to: Day) -> StoreFuture<Result<KeyUsage, StoreError>>;

    /// Grants `key_id` `extra` more requests in the period that starts on
    /// `period_start`.
    fn grant(
        &self,
        key_id: &str,
        period_start: Day,
        extra: u64,
    ) -> StoreFuture<Result<(), StoreError>>;
}

/// Quota counters in memory, exact under concurrency (one lock per API key;
/// only known keys reach it). Day counts are kept for
/// [`retention_days`](Self::with_retention_days). Cheap to clone; clones
/// share the counters.
#[derive(Clone)]
pub struct MemoryQuotaStore {
    inner: Arc<QuotaInner>,
}

/// Counters by key id. Ids come from the key store, never from a request
/// (a request reaches the quota only with a known key), so a fast, randomly
/// seeded hasher will do: there is no one to flood it.
type UsageMap = HashMap<Arc<str>, Arc<Mutex<Usage>>, foldhash::fast::RandomState>;

struct QuotaInner {
    keys: RwLock<UsageMap>,
    retention_days: i64,
}

#[derive(Default)]
struct Usage {
    period_start: Option<Day>,
    used: u64,
    days: BTreeMap<Day, u64>,
    extra: BTreeMap<Day, u64>,
}

impl Default for MemoryQuotaStore {
    fn default() -> Self {
        Self::with_retention_days(90)
    }
}

impl fmt::Debug for MemoryQuotaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryQuotaStore")
            .field("keys", &self.read().len())
            .field("retention_days", &self.inner.retention_days)
            .finish()
    }
}

impl MemoryQuotaStore {
    /// A store keeping 90 days of daily counts.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A store keeping `days` days of daily counts (at least the longest
    /// period, 31 days, is always kept). Default: 90.
    #[must_use]
    pub fn with_retention_days(days: u32) -> Self {
        Self {
            inner: Arc::new(QuotaInner {
                keys: RwLock::new(HashMap::default()),
                retention_days: i64::from(days.max(31)),
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, UsageMap> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn entry(&self, key_id: &str) -> Arc<Mutex<Usage>> {
        if let Some(entry) = self.read().get(key_id) {
            return Arc::clone(entry);
        }
        let mut keys = self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(keys.entry(Arc::from(key_id)).or_default())
    }

    /// The synchronous [`QuotaStore::meter`].
    pub fn meter_now(&self, request: &MeterRequest<'_>) -> Result<MeterOutcome, StoreError> {
        let entry = self.entry(request.key_id);
        let mut usage = entry.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counted = None;
        if let Some(quota) = request.quota {
            let newest = usage.period_start;
            let (period, day) = match newest {
                Some(newest) if quota.period_start < newest => (newest, quota.day.max(newest)),
                _ => (quota.period_start, quota.day),
            };
            if newest != Some(period) {
                usage.period_start = Some(period);
                usage.used = 0;
            }
            let limit = quota
                .limit
                .saturating_add(usage.extra.get(&period).copied().unwrap_or(0));
            if usage.used >= limit {
                return Ok(MeterOutcome::QuotaExceeded {
                    used: usage.used,
                    limit,
                });
            }
            counted = Some((day, limit));
        }
        let mut throttle = None;
        if let Some((limiter, key)) = request.throttle {
            let decision = limiter.check(key).into_ready().map_err(|_| {
                StoreError::new("the in-memory quota store needs an in-memory throttle store")
            })??;
            if !decision.is_admitted() {
                return Ok(MeterOutcome::Throttled(decision));
            }
            throttle = Some(decision);
        }
        let quota = counted.map(|(day, limit)| {
            usage.used += 1;
            *usage.days.entry(day).or_insert(0) += 1;
            let oldest =
                Day::from_days_since_epoch(day.days_since_epoch() - self.inner.retention_days);
            while usage
                .days
                .first_key_value()
                .is_some_and(|(d, _)| *d < oldest)
            {
                usage.days.pop_first();
            }
            while usage
                .extra
                .first_key_value()
                .is_some_and(|(d, _)| *d < oldest)
            {
                usage.extra.pop_first();
            }
            (usage.used, limit)
        });
        Ok(MeterOutcome::Admitted { throttle, quota })
    }
}

impl QuotaStore for MemoryQuotaStore {
    fn meter(&self, request: &MeterRequest<'_>) -> StoreFuture<Result<MeterOutcome, StoreError>> {
        StoreFuture::ready(self.meter_now(request))
    }

    fn usage(&self, key_id: &str, from: Day, to: Day) -> StoreFuture<Result<KeyUsage, StoreError>> {
        let Some(entry) = self.read().get(key_id).cloned() else {
            return StoreFuture::ready(Ok(KeyUsage::default()));
        };
        let usage = entry.lock().unwrap_or_else(PoisonError::into_inner);
        let days = usage.days.range(from..=to).map(|(d, n)| (*d, *n)).collect();
        let extra = usage.extra.iter().map(|(d, n)| (*d, *n)).collect();
        StoreFuture::ready(Ok(KeyUsage { days, extra }))
    }

    fn grant(
        &self,
        key_id: &str,
        period_start: Day,
        extra: u64,
    ) -> StoreFuture<Result<(), StoreError>> {
        let entry = self.entry(key_id);
        let mut usage = entry.lock().unwrap_or_else(PoisonError::into_inner);
        let granted = usage.extra.entry(period_start).or_insert(0);
        *granted = granted.saturating_add(extra);
        StoreFuture::ready(Ok(()))
    }
}
