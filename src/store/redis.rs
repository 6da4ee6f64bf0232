//! Throttle buckets and quota counters in Redis, shared by every gateway
//! replica that points at the same server (feature `redis`).
//!
//! One [`RedisStore`] implements both [`RateLimitStore`] and [`QuotaStore`]:
//!
//! ```no_run
//! # async fn run() -> Result<(), apigw::ConfigError> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use apigw::store::{FailurePolicy, RedisStore};
//! use apigw::throttle::TokenBucketThrottleLayer;
//!
//! let store = Arc::new(
//!     RedisStore::builder()
//!         .url("redis://10.0.0.5:6379")
//!         .key_prefix("shop-prod")
//!         .timeout(Duration::from_millis(50))
//!         .build()?,
//! );
//! let throttle = TokenBucketThrottleLayer::builder()
//!     .rate(1000.0)
//!     .burst(500)
//!     .failure_policy(FailurePolicy::Open)
//!     .with_store(store.clone())
//!     .build()?;
//! # let _ = throttle;
//! # Ok(())
//! # }
//! ```
//!
//! and the same `store` goes to
//! [`UsagePlanLayerBuilder::with_rate_limit_store`](crate::usage_plan::UsagePlanLayerBuilder::with_rate_limit_store)
//! and
//! [`with_quota_store`](crate::usage_plan::UsagePlanLayerBuilder::with_quota_store).
//!
//! # Running replicas with one Redis
//!
//! Give every replica the same URL, the same key prefix and the same limits
//! (same throttle names, plans and quotas). The replicas then share one
//! bucket per key and one quota counter per API key: N replicas admit
//! exactly what one would. Different deployments (stages, environments)
//! sharing a server use different key prefixes.
//!
//! # One round trip per request
//!
//! Every check is one `EVALSHA` of one Lua script, loaded on first use;
//! when the server has lost it (`SCRIPT FLUSH`, restart, fail-over) the
//! client gets `NOSCRIPT`, loads it and retries once. The script:
//!
//! * runs GCRA on the server's clock (`TIME`), so replicas whose clocks
//!   disagree still agree on every bucket (the layers' [`Clock`] is not used
//!   for buckets);
//! * for a usage-plan request, checks the quota first, then takes a throttle
//!   token, then counts the request: a request over quota takes no token, a
//!   throttled request is never counted, and concurrent requests cannot
//!   over- or under-count (a script runs atomically).
//!
//! Quota periods (day, week, month, UTC) come from the layer's calendar as
//! in the in-memory store, and a period never goes back: a replica whose
//! clock lags behind the newest period the key has seen counts against the
//! newest.
//!
//! The store holds [`connections`](RedisStoreBuilder::connections)
//! multiplexed connections (redis-rs `ConnectionManager`s, default 1) and
//! gives them to requests in turn: concurrent requests are pipelined on
//! each, and each reconnects by itself after the server comes back; no
//! restart is needed. One connection carries tens of thousands of checks a
//! second (see `BENCHMARKS.md`); size it up when one gateway process sends
//! more, or when the server is far enough away that one socket's replies
//! queue up.
//!
//! # Local pre-check
//!
//! With [`local_precheck`](RedisStoreBuilder::local_precheck), the store
//! remembers, per bucket, the state Redis last reported (on this process's
//! clock), and rejects a request without a round trip when that state shows
//! the bucket empty for longer than a tolerance (default: two timeouts).
//! This takes the load of a client hammering an empty bucket off Redis
//! without changing any decision:
//!
//! * a bucket's theoretical arrival time never moves back, and every other
//!   replica's requests only move it forward, so what Redis last said is a
//!   lower bound of the bucket's state;
//! * the remembered state is late by the answer's delay, and the request
//!   not sent would have reached Redis later by its own delay; each delay is
//!   at most the timeout for any answer a layer acts on, and clock offsets
//!   between this process and Redis cancel out (both sides of the
//!   comparison are on this process's clock). So with the tolerance at two
//!   timeouts, a request rejected locally is one Redis would have rejected;
//! * rejected requests never count, so the shared state is exactly what it
//!   would have been; admitted requests always go to Redis.
//!
//! What may differ: a locally rejected request's `Retry-After` comes from
//! the remembered state (Redis's own answer could be later), and a
//! usage-plan request both throttled and over quota is answered
//! `THROTTLED` where Redis checks the quota first and answers
//! `QUOTA_EXCEEDED`; either way it is a 429 that counts nothing. Quotas are
//! never pre-checked: a grant on another replica can reopen a spent quota
//! at any moment. The pre-check keeps at most
//! [`local_precheck_keys`](RedisStoreBuilder::local_precheck_keys) buckets
//! (forgetting one only means no local rejection for it).
//!
//! # Keys and expiry
//!
//! All keys of one API key share one hash tag, so the script touches one
//! Redis Cluster slot. `<prefix>` is the key prefix (default `apigw`); ids,
//! names and bucket keys are percent-encoded (`{`, `}`, `:` and `%`):
//!
//! | Key | Holds | Expires |
//! |-----|-------|---------|
//! | `{<prefix>:t:<limit name>:<bucket>}` | a throttle bucket: its theoretical arrival time (`"<unix s> <ns>"`) | when the bucket is full again |
//! | `{<prefix>:k:<key id>}:t:<limit name>:<bucket>` | an API key's plan throttle bucket | when the bucket is full again |
//! | `{<prefix>:k:<key id>}:q` | hash: newest period (`p`, days since 1970) and requests used in it (`u`) | one day after the period ends |
//! | `{<prefix>:k:<key id>}:d` | hash: requests per UTC day (days since 1970 → count) | retention (default 90 days) after the last request; older days are removed when a new period starts |
//! | `{<prefix>:k:<key id>}:x` | hash: extra requests granted per period (first day → count) | as `:d` |
//!
//! `<bucket>` is `g` (one bucket for all), `i:<address>` or `s:<text>`.
//! Bucket keys expire on their own: a full bucket is what a missing key
//! means. The quota hash lives one day past its period so that a replica
//! whose clock lags cannot start the old period over.
//!
//! # Failures
//!
//! A request that gets no answer within the timeout (default 50 ms), or an
//! error (connection refused, reset, `LOADING`, …), is a [`StoreError`], and
//! the layer's [`FailurePolicy`] decides:
//!
//! * [`FailurePolicy::Open`]: the request is admitted and the failure logged
//!   (API Gateway's documented behaviour when it cannot enforce a usage
//!   plan). Nothing is counted while Redis is away.
//! * [`FailurePolicy::Closed`]: the request is answered 503.
//! * [`FailurePolicy::Local`] `{ replicas: N }`: the request is decided by
//!   this process's own in-memory bucket and quota counter at `limit / N`
//!   ([`Limit::share`]: rate and burst divided, the burst and a quota
//!   rounded down but at least 1). N processes that all lost Redis then
//!   admit about the shared limit together. The local state starts full
//!   (nothing used) when the layer is built and lives as long as the layer,
//!   so a second outage in the same period continues from the first's
//!   counts; nothing decided locally is written to Redis when it returns,
//!   so for the rest of that period up to `limit / N` more per process may
//!   pass than one shared budget would allow. Set N to the replica count.
//!
//! No request waits longer than the timeout for the store. While the server
//! is down, requests fail fast (the connection is known to be broken) and
//! the connection is re-established in the background; the first requests
//! after the server returns may still fail while it reconnects.
//!
//! A request that times out may still have reached the server and used a
//! token and a quota unit (the client stopped waiting, the script ran): set
//! the timeout above the server's normal latency under load, not at it.
//!
//! Limits to know: buckets whose window (`burst / rate`) is longer than about
//! 100 days lose sub-microsecond precision (Lua numbers are doubles), and
//! quota limits above 2^53 are treated as 2^53.
//!
//! [`Clock`]: crate::clock::Clock
//! [`FailurePolicy`]: super::FailurePolicy
//! [`FailurePolicy::Open`]: super::FailurePolicy::Open
//! [`FailurePolicy::Closed`]: super::FailurePolicy::Closed
//! [`FailurePolicy::Local`]: super::FailurePolicy::Local
//! [`Limit::share`]: crate::throttle::Limit::share

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

use super::{
    BucketKey, Decision, KeyUsage, LimitSpec, Limiter, MeterOutcome, MeterRequest, QuotaStore,
    RateLimitStore, StoreError, StoreFuture,
};
use crate::clock::{SharedClock, default_clock};
use crate::error::ConfigError;

mod precheck;

use crate::throttle::Limit;
use crate::usage_plan::Day;
use precheck::Precheck;

/// The one script: a quota check, a GCRA bucket on the server's clock, and
/// the count, atomically.
///
/// `KEYS`: bucket, quota hash, day hash, extra hash (the last three only
/// with a quota). `ARGV`: burst (-1: no throttle), interval ns, window ns,
/// quota limit (-1: no quota), period start day, request day, quota hash
/// expiry (Unix s), day/extra hash expiry (Unix s), oldest day kept.
///
/// Answers `{0, reset ns or -1, used, limit}` (admitted), `{1, retry ns or
/// -1}` (throttled), `{2, used, limit}` (quota exceeded).
const SCRIPT: &str = r"
local burst = tonumber(ARGV[1])
local limit = tonumber(ARGV[4])
local used, total, period, day, rollover = 0, 0, 0, 0, false
if limit >= 0 then
  period = tonumber(ARGV[5])
  day = tonumber(ARGV[6])
  local state = redis.call('HMGET', KEYS[2], 'p', 'u')
  local newest = tonumber(state[1])
  if newest and period <= newest then
    period = newest
    if day < newest then day = newest end
    used = tonumber(state[2]) or 0
  else
    rollover = true
  end
  total = limit + (tonumber(redis.call('HGET', KEYS[4], string.format('%d', period))) or 0)
  if used >= total then return {2, used, total} end
end
local reset = -1
if burst >= 0 then
  if burst == 0 then return {1, -1} end
  local interval = tonumber(ARGV[2])
  local window = tonumber(ARGV[3])
  local t = redis.call('TIME')
  local now_s = tonumber(t[1])
  local now_ns = tonumber(t[2]) * 1000
  local ahead = 0
  local tat = redis.call('GET', KEYS[1])
  if tat then
    local s, ns = string.match(tat, '^(%d+) (%d+)$')
    if s then
      ahead = (tonumber(s) - now_s) * 1e9 + (tonumber(ns) - now_ns)
      if ahead < 0 then ahead = 0 end
    end
  end
  local new_ahead = ahead + interval
  if new_ahead > window then return {1, new_ahead - window} end
  local total_ns = now_ns + new_ahead
  local carry = math.floor(total_ns / 1e9)
  redis.call('SET', KEYS[1], string.format('%d %d', now_s + carry, total_ns - carry * 1e9),
    'PX', math.ceil(new_ahead / 1e6) + 1)
  reset = new_ahead
end
if limit >= 0 then
  used = used + 1
  redis.call('HSET', KEYS[2], 'p', string.format('%d', period), 'u', used)
  if period == tonumber(ARGV[5]) then redis.call('EXPIREAT', KEYS[2], ARGV[7]) end
  redis.call('HINCRBY', KEYS[3], string.format('%d', day), 1)
  redis.call('EXPIREAT', KEYS[3], ARGV[8])
  if rollover then
    local oldest = tonumber(ARGV[9])
    for _, hash in ipairs({KEYS[3], KEYS[4]}) do
      for _, field in ipairs(redis.call('HKEYS', hash)) do
        local d = tonumber(field)
        if d and d < oldest then redis.call('HDEL', hash, field) end
      end
    end
    redis.call('EXPIREAT', KEYS[4], ARGV[8])
  end
end
return {0, reset, used, total}
";

/// The largest integer a Lua number holds exactly.
const LUA_MAX_INT: u64 = 1 << 53;

/// What is percent-encoded in key parts: the hash-tag braces, the separator
/// and the escape character.
const KEY_PART: &AsciiSet = &CONTROLS.add(b'{').add(b'}').add(b':').add(b'%');

fn encode(part: &str) -> impl fmt::Display + '_ {
    utf8_percent_encode(part, KEY_PART)
}

fn bucket_part(key: &BucketKey) -> String {
    match key {
        BucketKey::Global => "g".to_owned(),
        BucketKey::Ip(ip) => format!("i:{}", encode(&ip.to_string())),
        BucketKey::Text(text) => format!("s:{}", encode(text)),
    }
}

/// Builds a [`RedisStore`].
#[derive(Clone)]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
    retention_days: u32,
    connections: usize,
    precheck: bool,
    tolerance: Option<Duration>,
    precheck_keys: usize,
    clock: Option<SharedClock>,
}

impl fmt::Debug for RedisStoreBuilder {
    // The URL may carry a password: never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("retention_days", &self.retention_days)
            .field("connections", &self.connections)
            .field("precheck", &self.precheck)
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".to_owned(),
            prefix: "apigw".to_owned(),
            timeout: Duration::from_millis(50),
            retention_days: 90,
            connections: 1,
            precheck: false,
            tolerance: None,
            precheck_keys: 100_000,
            clock: None,
        }
    }
}

impl RedisStoreBuilder {
    /// The server, as a redis-rs URL (`redis://[user:password@]host:port[/db]`,
    /// `rediss://` needs a TLS feature of the `redis` crate). Default:
    /// `redis://127.0.0.1:6379`.
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// The first part of every key (no `{` or `}`). Default: `apigw`.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a request waits for the store before it counts as a failure
    /// (the layer's [`FailurePolicy`](super::FailurePolicy) applies). Also
    /// the connect timeout. Default: 50 ms.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many days of daily counts are kept for usage reports (at least
    /// 31). Default: 90.
    #[must_use]
    pub fn retention_days(mut self, days: u32) -> Self {
        self.retention_days = days;
        self
    }

    /// How many multiplexed connections to open; requests take them in
    /// turn. One connection pipelines every concurrent request and is enough
    /// for most gateways; more spread the work of encoding and decoding
    /// over more tasks and the server's replies over more sockets. Default: 1.
    #[must_use]
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// Whether to reject, without a round trip, requests to a bucket that
    /// Redis's last answer already shows empty for longer than the
    /// [tolerance](Self::local_precheck_tolerance); see the
    /// [module docs](self#local-pre-check). Default: off.
    #[must_use]
    pub fn local_precheck(mut self, enabled: bool) -> Self {
        self.precheck = enabled;
        self
    }

    /// How far the pre-check's remembered state may be behind Redis's:
    /// it must cover the delay of two answers. Default: twice the
    /// [timeout](Self::timeout), which always does.
    #[must_use]
    pub fn local_precheck_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = Some(tolerance);
        self
    }

    /// How many buckets the pre-check remembers (the oldest are forgotten
    /// first when room is needed). Default: 100,000.
    #[must_use]
    pub fn local_precheck_keys(mut self, keys: usize) -> Self {
        self.precheck_keys = keys;
        self
    }

    /// The clock of the pre-check (Redis's own time decides every bucket).
    /// Default: [`default_clock()`].
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The store. Connects lazily: the first request opens the connection,
    /// so a server that is down at start-up is a request failure, not a
    /// start-up failure. Must be called within a Tokio runtime.
    pub fn build(self) -> Result<RedisStore, ConfigError> {
        if self.prefix.contains(['{', '}']) {
            return Err(ConfigError::new(
                "redis key prefix must not contain `{` or `}`",
            ));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new("redis store timeout must be positive"));
        }
        if self.connections == 0 {
            return Err(ConfigError::new("redis store needs at least 1 connection"));
        }
        let client = Client::open(self.url.as_str())
            // The URL may carry a password: the error never repeats it.
            .map_err(|_| ConfigError::new("redis URL is not valid"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(200));
        let conns = (0..self.connections)
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
            .collect::<Result<Box<[_]>, _>>()
            .map_err(|e| ConfigError::new(format!("redis connection: {e}")))?;
        let precheck = self.precheck.then(|| {
            Precheck::new(
                self.tolerance.unwrap_or(self.timeout.saturating_mul(2)),
                self.precheck_keys,
                self.clock.unwrap_or_else(default_clock),
            )
        });
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conns,
                next: AtomicUsize::new(0),
                precheck,
                script: Script::new(SCRIPT),
                prefix: self.prefix.into(),
                timeout: self.timeout,
                retention_days: self.retention_days.max(31),
            }),
        })
    }
}

/// Throttle buckets and quota counters in Redis. See the
/// [module docs](self). Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conns: Box<[ConnectionManager]>,
    next: AtomicUsize,
    precheck: Option<Precheck>,
    script: Script,
    prefix: Arc<str>,
    timeout: Duration,
    retention_days: u32,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("retention_days", &self.inner.retention_days)
            .field("connections", &self.inner.conns.len())
            .field("precheck", &self.inner.precheck.is_some())
            .finish_non_exhaustive()
    }
}

fn store_error(error: &redis::RedisError) -> StoreError {
    StoreError::new(format!("redis: {error}"))
}

/// The throttle arguments of the script for `limit`: burst, interval,
/// window.
fn throttle_args(limit: Limit) -> [u64; 3] {
    if limit.burst() == 0 {
        return [0, 0, 0];
    }
    let interval = u64::try_from(limit.interval().as_nanos())
        .unwrap_or(u64::MAX)
        .min(LUA_MAX_INT);
    let window = interval
        .saturating_mul(u64::from(limit.burst()))
        .min(LUA_MAX_INT);
    [u64::from(limit.burst()), interval, window]
}

fn nanos(value: i64) -> Duration {
    Duration::from_nanos(u64::try_from(value).unwrap_or(0))
}

/// The admitted decision for a bucket that is `reset` ns from full.
fn admitted(limit: Limit, reset: i64) -> Decision {
    let [burst, interval, window] = throttle_args(limit);
    let reset_ns = u64::try_from(reset).unwrap_or(0);
    let remaining = window.saturating_sub(reset_ns) / interval.max(1);
    Decision::Admitted {
        remaining: u32::try_from(remaining.min(burst)).unwrap_or(0),
        reset: Duration::from_nanos(reset_ns),
    }
}

fn rejected(retry: i64) -> Decision {
    Decision::Rejected {
        retry_after: (retry >= 0).then(|| nanos(retry)),
    }
}

impl Inner {
    /// The next connection, in turn.
    fn connection(&self) -> ConnectionManager {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[index].clone()
    }

    /// Remembers what Redis said about `bucket`, for the pre-check.
    fn learn(&self, bucket: &str, limit: Limit, decision: Decision) {
        let Some(precheck) = &self.precheck else {
            return;
        };
        let [_, interval, window] = throttle_args(limit);
        let ahead = match decision {
            Decision::Admitted { reset, .. } => reset,
            Decision::Rejected {
                retry_after: Some(retry),
            } => retry + Duration::from_nanos(window.saturating_sub(interval)),
            Decision::Rejected { retry_after: None } => return,
        };
        precheck.record(bucket, u64::try_from(ahead.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The pre-check's rejection of a request to `bucket`, if any.
    fn prejudge(&self, bucket: &str, limit: Limit) -> Option<Decision> {
        let [_, interval, window] = throttle_args(limit);
        let retry = self.precheck.as_ref()?.rejects(bucket, interval, window)?;
        Some(Decision::Rejected {
            retry_after: Some(retry),
        })
    }
}

impl RedisStore {
    /// A builder with the defaults.
    #[must_use]
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// The key prefix.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The SHA1 of the script, as `EVALSHA`, `SCRIPT EXISTS` and
    /// `redis-benchmark` name it.
    #[must_use]
    pub fn script_hash(&self) -> &str {
        self.inner.script.get_hash()
    }

    fn key_tag(&self, key_id: &str) -> String {
        format!("{{{}:k:{}}}", self.inner.prefix, encode(key_id))
    }

    /// Runs the script once, within the timeout.
    fn eval(
        &self,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> StoreFuture<Result<Vec<i64>, StoreError>> {
        let inner = Arc::clone(&self.inner);
        StoreFuture::new(async move {
            let mut conn = inner.connection();
            let mut invocation = inner.script.prepare_invoke();
            for key in &keys {
                invocation.key(key);
            }
            for arg in &args {
                invocation.arg(arg);
            }
            let call = invocation.invoke_async::<Vec<i64>>(&mut conn);
            match tokio::time::timeout(inner.timeout, call).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(error)) => Err(store_error(&error)),
                Err(_) => Err(StoreError::new(format!(
                    "redis: no answer within {:?}",
                    inner.timeout
                ))),
            }
        })
    }

    /// Runs plain commands (usage reports, grants), within the timeout.
    fn query<T: redis::FromRedisValue + Send + 'static>(
        &self,
        pipe: redis::Pipeline,
    ) -> StoreFuture<Result<T, StoreError>> {
        let inner = Arc::clone(&self.inner);
        StoreFuture::new(async move {
            let mut conn = inner.connection();
            let call = pipe.query_async::<T>(&mut conn);
            match tokio::time::timeout(inner.timeout, call).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(error)) => Err(store_error(&error)),
                Err(_) => Err(StoreError::new(format!(
                    "redis: no answer within {:?}",
                    inner.timeout
                ))),
            }
        })
    }
}

impl RateLimitStore for RedisStore {
    fn limiter(&self, spec: &LimitSpec, _clock: &SharedClock) -> Arc<dyn Limiter> {
        Arc::new(RedisLimiter {
            spec: spec.clone(),
            name: encode(spec.name()).to_string(),
            store: self.clone(),
        })
    }
}

/// The Redis buckets of one limit (from [`RedisStore`]'s
/// [`RateLimitStore::limiter`]).
pub struct RedisLimiter {
    spec: LimitSpec,
    name: String,
    store: RedisStore,
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Limiter for RedisLimiter {
    fn spec(&self) -> &LimitSpec {
        &self.spec
    }

    fn check(&self, key: &BucketKey) -> StoreFuture<Result<Decision, StoreError>> {
        let limit = self.spec.limit();
        if limit.burst() == 0 {
            return StoreFuture::ready(Ok(Decision::Rejected { retry_after: None }));
        }
        let bucket = format!(
            "{{{}:t:{}:{}}}",
            self.store.inner.prefix,
            self.name,
            bucket_part(key)
        );
        let inner = &self.store.inner;
        if let Some(decision) = inner.prejudge(&bucket, limit) {
            return StoreFuture::ready(Ok(decision));
        }
        let learn = inner
            .precheck
            .is_some()
            .then(|| (Arc::clone(inner), bucket.clone()));
        let [burst, interval, window] = throttle_args(limit);
        let args = vec![
            burst.to_string(),
            interval.to_string(),
            window.to_string(),
            "-1".to_owned(),
        ];
        let answer = self.store.eval(vec![bucket], args);
        StoreFuture::new(async move {
            let decision = match answer.await?.as_slice() {
                [0, reset, ..] => admitted(limit, *reset),
                [1, retry, ..] => rejected(*retry),
                _ => return Err(StoreError::new("redis: unexpected script answer")),
            };
            if let Some((inner, bucket)) = learn {
                inner.learn(&bucket, limit, decision);
            }
            Ok(decision)
        })
    }
}

impl QuotaStore for RedisStore {
    fn meter(&self, request: &MeterRequest<'_>) -> StoreFuture<Result<MeterOutcome, StoreError>> {
        let tag = self.key_tag(request.key_id);
        let (bucket, throttle) = match request.throttle {
            Some((limiter, key)) => (
                format!(
                    "{tag}:t:{}:{}",
                    encode(limiter.spec().name()),
                    bucket_part(key)
                ),
                Some(limiter.spec().limit()),
            ),
            None => (format!("{tag}:t"), None),
        };
        if let Some(limit) = throttle
            && let Some(decision) = self.inner.prejudge(&bucket, limit)
        {
            return StoreFuture::ready(Ok(MeterOutcome::Throttled(decision)));
        }
        let learn = match (&self.inner.precheck, throttle) {
            (Some(_), Some(limit)) => Some((Arc::clone(&self.inner), bucket.clone(), limit)),
            _ => None,
        };
        let mut args = match throttle {
            Some(limit) => throttle_args(limit).map(|n| n.to_string()).to_vec(),
            None => vec!["-1".to_owned(), "0".to_owned(), "0".to_owned()],
        };
        match request.quota {
            Some(quota) => {
                let retention = i64::from(self.inner.retention_days);
                let day_secs = |day: Day| day.start_unix().as_secs();
                args.extend([
                    quota.limit.min(LUA_MAX_INT).to_string(),
                    quota.period_start.days_since_epoch().to_string(),
                    quota.day.days_since_epoch().to_string(),
                    (day_secs(quota.period_end) + 86_400).to_string(),
                    day_secs(Day::from_days_since_epoch(
                        quota.day.days_since_epoch() + retention,
                    ))
                    .to_string(),
                    (quota.day.days_since_epoch() - retention).to_string(),
                ]);
            }
            None => args.push("-1".to_owned()),
        }
        let keys = vec![
            bucket,
            format!("{tag}:q"),
            format!("{tag}:d"),
            format!("{tag}:x"),
        ];
        let answer = self.eval(keys, args);
        let has_quota = request.quota.is_some();
        StoreFuture::new(async move {
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            let outcome = match answer.await?.as_slice() {
                [0, reset, used, total] => MeterOutcome::Admitted {
                    throttle: throttle.map(|limit| admitted(limit, *reset)),
                    quota: has_quota.then(|| (count(*used), count(*total))),
                },
                [1, retry, ..] => MeterOutcome::Throttled(rejected(*retry)),
                [2, used, total, ..] => MeterOutcome::QuotaExceeded {
                    used: count(*used),
                    limit: count(*total),
                },
                _ => return Err(StoreError::new("redis: unexpected script answer")),
            };
            if let Some((inner, bucket, limit)) = learn
                && let MeterOutcome::Admitted {
                    throttle: Some(decision),
                    ..
                }
                | MeterOutcome::Throttled(decision) = outcome
            {
                inner.learn(&bucket, limit, decision);
            }
            Ok(outcome)
        })
    }

    fn usage(&self, key_id: &str, from: Day, to: Day) -> StoreFuture<Result<KeyUsage, StoreError>> {
        let tag = self.key_tag(key_id);
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL")
            .arg(format!("{tag}:d"))
            .cmd("HGETALL")
            .arg(format!("{tag}:x"));
        let answer = self.query::<(HashMap<i64, u64>, HashMap<i64, u64>)>(pipe);
        StoreFuture::new(async move {
            let (days, extra) = answer.await?;
            let sorted = |map: HashMap<i64, u64>| {
                let mut list: Vec<(Day, u64)> = map
                    .into_iter()
                    .map(|(d, n)| (Day::from_days_since_epoch(d), n))
                    .collect();
                list.sort_unstable();
                list
            };
            let days = sorted(days)
                .into_iter()
                .filter(|(d, _)| (from..=to).contains(d))
                .collect();
            Ok(KeyUsage {
                days,
                extra: sorted(extra),
            })
        })
    }

    fn grant(
        &self,
        key_id: &str,
        period_start: Day,
        extra: u64,
    ) -> StoreFuture<Result<(), StoreError>> {
        let key = format!("{}:x", self.key_tag(key_id));
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HINCRBY")
            .arg(&key)
            .arg(period_start.days_since_epoch())
            .arg(extra.min(LUA_MAX_INT))
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(u64::from(self.inner.retention_days) * 86_400)
            .ignore();
        self.query::<()>(pipe)
    }
}
