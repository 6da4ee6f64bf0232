//! The usage-plan layer, its builder, its configuration, and usage reports.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use tower_layer::Layer;

use super::quota::{Day, QuotaPeriod, QuotaSettings};
use super::service::UsagePlan;
use crate::clock::{SharedClock, default_clock};
use crate::error::ConfigError;
use crate::problem::GatewayResponses;
use crate::route::{RouteKey, RouteTable};
use crate::store::{
    ApiKey, FailurePolicy, KeyStore, LimitSpec, Limiter, MemoryKeyStore, MemoryQuotaStore,
    MemoryRateLimitStore, QuotaCheck, QuotaStore, RateLimitStore, StoreError, local_limiter,
};
use crate::throttle::{Limit, ThrottleSettings, parse_method_key};

/// Where the API key comes from (`apiKeySource`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ApiKeySource {
    /// The `x-api-key` header (or the configured one). Default.
    #[default]
    Header,
    /// The custom authorizer's `usageIdentifierKey`
    /// ([`AuthorizerContext`](crate::identity::AuthorizerContext)).
    Authorizer,
}

/// A usage plan: a throttle per API key (with per-method overrides) and a
/// quota, for some stages.
#[derive(Clone, Debug)]
#[must_use]
pub struct Plan {
    id: Arc<str>,
    stages: Vec<String>,
    throttle: Option<(f64, u32)>,
    methods: Vec<(String, f64, u32)>,
    quota: Option<QuotaSettings>,
    start_date: Option<Day>,
}

impl Plan {
    /// A plan with no throttle, no quota, for every stage.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self {
            id: id.into(),
            stages: Vec::new(),
            throttle: None,
            methods: Vec::new(),
            quota: None,
            start_date: None,
        }
    }

    /// The stages the plan applies to. Default: every stage.
    pub fn stage(mut self, stage: impl Into<String>) -> Self {
        self.stages.push(stage.into());
        self
    }

    /// Each key's bucket: `rate` per second, `burst` at once, across all the
    /// plan's stages. Default: none.
    pub fn throttle(mut self, rate: f64, burst: u32) -> Self {
        self.throttle = Some((rate, burst));
        self
    }

    /// A separate bucket per key for one method, replacing the plan's bucket
    /// there: `/pets/GET` or `GET /pets`. Default: none.
    pub fn method_throttle(mut self, method: &str, rate: f64, burst: u32) -> Self {
        self.methods.push((method.to_owned(), rate, burst));
        self
    }

    /// The quota. Default: none.
    pub fn quota(mut self, quota: QuotaSettings) -> Self {
        self.quota = Some(quota);
        self
    }

    /// The day the plan started: its quota `offset` applies to the period
    /// containing this day. Set it when the gateway restarts, or the offset
    /// applies again. Default: the day the layer is built.
    pub fn start_date(mut self, day: Day) -> Self {
        self.start_date = Some(day);
        self
    }
}

/// A plan's bucket in the store and, with [`FailurePolicy::Local`], its
/// in-memory share.
#[derive(Debug)]
pub(crate) struct PlanLimiter {
    pub(crate) shared: Arc<dyn Limiter>,
    pub(crate) local: Option<Arc<dyn Limiter>>,
}

pub(crate) struct BuiltPlan {
    pub(crate) id: Arc<str>,
    pub(crate) stages: Vec<String>,
    pub(crate) throttle: Option<PlanLimiter>,
    pub(crate) methods: Vec<(RouteKey, PlanLimiter)>,
    pub(crate) quota: Option<QuotaSettings>,
    pub(crate) first_period: Day,
    /// The quota period of the last day seen, so the calendar arithmetic
    /// runs once a day rather than on every request.
    pub(crate) period: PeriodMemo,
    /// The last `RateLimit-Policy` value sent: it changes only with the
    /// limits, the period's length or a grant, so most requests share it.
    pub(crate) policy: PolicyMemo,
}

/// A plan's last `RateLimit-Policy` value and what it was made of.
#[derive(Debug, Default)]
pub(crate) struct PolicyMemo(RwLock<Option<(PolicyInputs, HeaderValue)>>);

impl PolicyMemo {
    /// The value for `inputs`: the last one (shared, not copied) when they
    /// are the same, else a new one, kept for the next request.
    pub(crate) fn value(&self, inputs: PolicyInputs) -> HeaderValue {
        if let Some((seen, value)) = &*self.0.read().unwrap_or_else(PoisonError::into_inner)
            && *seen == inputs
        {
            return value.clone();
        }
        let value = inputs.value();
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some((inputs, value.clone()));
        value
    }
}

/// What a `RateLimit-Policy` value is made of: the throttle's burst and
/// window, and the quota's limit and period length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PolicyInputs {
    pub(crate) throttle: Option<(u64, Duration)>,
    pub(crate) quota: Option<(u64, Duration)>,
}

/// A day and its quota period, packed into one atomic: the day (32 bits),
/// how many days the period started before it (16 bits) and the period's
/// length in days (16 bits). Empty until the first request.
#[derive(Debug)]
pub(crate) struct PeriodMemo(AtomicU64);

impl PeriodMemo {
    const EMPTY: u64 = u64::MAX;

    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(Self::EMPTY))
    }

    /// The period containing `day`: its first day and the first day after it.
    pub(crate) fn bounds(&self, period: QuotaPeriod, day: Day) -> (Day, Day) {
        let packed = self.0.load(Ordering::Relaxed);
        let today = day.days_since_epoch();
        if packed != Self::EMPTY && i64::from((packed >> 32) as u32 as i32) == today {
            let before = i64::from((packed >> 16) as u16);
            let length = i64::from(packed as u16);
            let start = today - before;
            return (
                Day::from_days_since_epoch(start),
                Day::from_days_since_epoch(start + length),
            );
        }
        // A new day (once a day per plan): read the calendar.
        let (start, end) = (period.start(day), period.end(day));
        let start_days = start.days_since_epoch();
        let end_days = end.days_since_epoch();
        if let (Ok(day32), Ok(before), Ok(length)) = (
            i32::try_from(today),
            u16::try_from(today - start_days),
            u16::try_from(end_days - start_days),
        ) {
            let packed =
                (u64::from(day32 as u32) << 32) | (u64::from(before) << 16) | u64::from(length);
            if packed != Self::EMPTY {
                self.0.store(packed, Ordering::Relaxed);
            }
        }
        (start, end)
    }
}

impl fmt::Debug for BuiltPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("id", &self.id)
            .field("stages", &self.stages)
            .field("throttle", &self.throttle)
            .field("methods", &self.methods)
            .field("quota", &self.quota)
            .finish()
    }
}

impl BuiltPlan {
    pub(crate) fn serves(&self, stage: &str) -> bool {
        self.stages.is_empty() || self.stages.iter().any(|s| s == stage)
    }

    pub(crate) fn limiter(&self, route: Option<&RouteKey>) -> Option<&PlanLimiter> {
        route
            .and_then(|route| self.methods.iter().find(|(key, _)| key == route))
            .map(|(_, limiter)| limiter)
            .or(self.throttle.as_ref())
    }
}

pub(crate) struct Shared {
    /// By id; plan ids are configuration, not request input, so a fast
    /// hasher will do.
    pub(crate) plans: HashMap<Arc<str>, BuiltPlan, foldhash::fast::RandomState>,
    pub(crate) keys: Arc<dyn KeyStore>,
    pub(crate) quotas: Arc<dyn QuotaStore>,
    pub(crate) source: ApiKeySource,
    pub(crate) header: HeaderName,
    pub(crate) required: bool,
    pub(crate) routes: Vec<(RouteKey, bool)>,
    pub(crate) table: Option<RouteTable<()>>,
    pub(crate) needs_route: bool,
    pub(crate) stage: Arc<str>,
    pub(crate) quota_headers: bool,
    pub(crate) throttle_headers: bool,
    pub(crate) responses: GatewayResponses,
    pub(crate) failure: FailurePolicy,
    /// With [`FailurePolicy::Local`]: the replica count and the quota
    /// counters used while the store fails.
    pub(crate) local_quotas: Option<(u32, MemoryQuotaStore)>,
    pub(crate) clock: SharedClock,
    /// The latest wall-clock second seen: a wall clock moved backwards never
    /// takes the quota back to an earlier period.
    pub(crate) wall_high_water: AtomicU64,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsagePlan")
            .field("plans", &self.plans)
            .field("keys", &self.keys)
            .field("quotas", &self.quotas)
            .field("source", &self.source)
            .field("header", &self.header)
            .field("required", &self.required)
            .field("stage", &self.stage)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Today, by the wall clock, never earlier than a day already seen.
    pub(crate) fn today(&self) -> (Day, Duration) {
        let now = self.clock.unix_time().as_secs();
        let seen = self.wall_high_water.fetch_max(now, Ordering::Relaxed);
        let now = Duration::from_secs(now.max(seen));
        (Day::from_unix(now), now)
    }

    pub(crate) fn quota_check(&self, plan: &BuiltPlan, day: Day) -> Option<QuotaCheck> {
        let quota = plan.quota?;
        let (period_start, period_end) = plan.period.bounds(quota.period, day);
        Some(QuotaCheck {
            period_start,
            period_end,
            day,
            limit: quota.limit_of(period_start, plan.first_period),
        })
    }
}

/// Meters requests by API key with usage plans: see the [module docs](super).
#[derive(Clone)]
#[must_use]
pub struct UsagePlanLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for UsagePlanLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsagePlanLayer")
            .field("shared", &self.shared)
            .finish()
    }
}

impl<S> Layer<S> for UsagePlanLayer {
    type Service = UsagePlan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UsagePlan {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// API Gateway's usage report: per key, one `[used, remaining]` pair per day
/// of the range (`remaining` is `null` for a plan without a quota).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UsageReport {
    /// The plan.
    pub usage_plan_id: String,
    /// The first day.
    pub start_date: Day,
    /// The last day (inclusive).
    pub end_date: Day,
    /// By key id (API Gateway's JSON calls this `values`).
    #[serde(rename = "values")]
    pub items: BTreeMap<String, Vec<(u64, Option<u64>)>>,
    /// Where the next page starts, for
    /// [`usage_page`](UsagePlanLayer::usage_page); `None` on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// The most keys one usage-report page holds (API Gateway's `limit` maximum).
pub const MAX_REPORT_PAGE: usize = 500;

/// The longest range a usage report covers: 366 days.
pub const MAX_REPORT_DAYS: i64 = 366;

impl UsagePlanLayer {
    /// A builder.
    pub fn builder() -> UsagePlanLayerBuilder {
        UsagePlanLayerBuilder::default()
    }

    /// The key store, to add, disable or remove keys at runtime.
    #[must_use]
    pub fn key_store(&self) -> &Arc<dyn KeyStore> {
        &self.shared.keys
    }

    /// The usage of `plan_id`'s keys on the days `start..=end`, like API
    /// Gateway's `GET /usageplans/{id}/usage`; only `key_id` when given.
    /// Every key in one report; [`usage_page`](Self::usage_page) pages.
    pub async fn usage(
        &self,
        plan_id: &str,
        start: Day,
        end: Day,
        key_id: Option<&str>,
    ) -> Result<UsageReport, StoreError> {
        self.report(plan_id, start, end, key_id, None, usize::MAX)
            .await
    }

    /// One page of [`usage`](Self::usage), as API Gateway's `GetUsage`
    /// pages: at most `limit` keys (1 to [`MAX_REPORT_PAGE`]), in key-id
    /// order, starting after `position` (`None` for the first page, then
    /// the previous page's [`UsageReport::position`], an opaque token).
    /// The last page has no `position`.
    pub async fn usage_page(
        &self,
        plan_id: &str,
        start: Day,
        end: Day,
        position: Option<&str>,
        limit: usize,
    ) -> Result<UsageReport, StoreError> {
        if !(1..=MAX_REPORT_PAGE).contains(&limit) {
            return Err(StoreError::new(format!(
                "a usage report page holds 1 to {MAX_REPORT_PAGE} keys"
            )));
        }
        self.report(plan_id, start, end, None, position, limit)
            .await
    }

    async fn report(
        &self,
        plan_id: &str,
        start: Day,
        end: Day,
        key_id: Option<&str>,
        position: Option<&str>,
        limit: usize,
    ) -> Result<UsageReport, StoreError> {
        let shared = &self.shared;
        let plan = shared
            .plans
            .get(plan_id)
            .ok_or_else(|| StoreError::new(format!("no usage plan `{plan_id}`")))?;
        let span = end.days_since_epoch() - start.days_since_epoch();
        if !(0..MAX_REPORT_DAYS).contains(&span) {
            return Err(StoreError::new("a usage report covers 1 to 366 days"));
        }
        let from = plan.quota.map_or(start, |q| q.period.start(start));
        let mut keys: Vec<ApiKey> = shared
            .keys
            .keys()
            .into_iter()
            .filter(|key| {
                key_id.is_none_or(|id| id == key.id())
                    && position.is_none_or(|after| key.id() > after)
                    && key.plans().any(|p| p == plan_id)
            })
            .collect();
        keys.sort_unstable_by(|a, b| a.id().cmp(b.id()));
        let next = (keys.len() > limit).then(|| keys[limit - 1].id().to_owned());
        keys.truncate(limit);
        let mut items = BTreeMap::new();
        for key in keys {
            let usage = shared.quotas.usage(key.id(), from, end).await?;
            let used: BTreeMap<Day, u64> = usage.days.into_iter().collect();
            let extra: BTreeMap<Day, u64> = usage.extra.into_iter().collect();
            let mut pairs = Vec::new();
            let mut day = start;
            while day <= end {
                let used_today = used.get(&day).copied().unwrap_or(0);
                let remaining = plan.quota.map(|quota| {
                    let period = quota.period.start(day);
                    let limit = quota
                        .limit_of(period, plan.first_period)
                        .saturating_add(extra.get(&period).copied().unwrap_or(0));
                    let so_far: u64 = used.range(period..=day).map(|(_, n)| n).sum();
                    limit.saturating_sub(so_far)
                });
                pairs.push((used_today, remaining));
                day = day.next();
            }
            items.insert(key.id().to_owned(), pairs);
        }
        Ok(UsageReport {
            usage_plan_id: plan_id.to_owned(),
            start_date: start,
            end_date: end,
            items,
            position: next,
        })
    }

    /// Grants `key_id` `extra` more requests in its plan's current quota
    /// period (API Gateway's usage "extension").
    pub async fn grant(&self, key_id: &str, extra: u64) -> Result<(), StoreError> {
        let shared = &self.shared;
        let key = shared
            .keys
            .get(key_id)
            .ok_or_else(|| StoreError::new(format!("no API key `{key_id}`")))?;
        let quota = key
            .plans()
            .filter_map(|p| shared.plans.get(p))
            .find_map(|plan| plan.quota)
            .ok_or_else(|| {
                StoreError::new(format!("API key `{key_id}` has no plan with a quota"))
            })?;
        let (today, _) = shared.today();
        shared
            .quotas
            .grant(key_id, quota.period.start(today), extra)
            .await
    }
}

/// Builds a [`UsagePlanLayer`].
#[must_use]
pub struct UsagePlanLayerBuilder {
    plans: Vec<Plan>,
    keys: Vec<ApiKey>,
    key_store: Option<Arc<dyn KeyStore>>,
    source: ApiKeySource,
    header: HeaderName,
    required: bool,
    routes: Vec<(String, bool)>,
    stage: String,
    quota_headers: bool,
    throttle_headers: bool,
    max_keys: usize,
    responses: GatewayResponses,
    failure: FailurePolicy,
    clock: Option<SharedClock>,
    rate_store: Option<Arc<dyn RateLimitStore>>,
    quota_store: Option<Arc<dyn QuotaStore>>,
}

impl Default for UsagePlanLayerBuilder {
    fn default() -> Self {
        Self {
            plans: Vec::new(),
            keys: Vec::new(),
            key_store: None,
            source: ApiKeySource::Header,
            header: HeaderName::from_static("x-api-key"),
            required: true,
            routes: Vec::new(),
            stage: crate::route::DEFAULT_STAGE.to_owned(),
            quota_headers: true,
            throttle_headers: false,
            max_keys: crate::throttle::DEFAULT_MAX_KEYS,
            responses: GatewayResponses::default(),
            failure: FailurePolicy::Open,
            clock: None,
            rate_store: None,
            quota_store: None,
        }
    }
}

impl fmt::Debug for UsagePlanLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsagePlanLayerBuilder")
            .field("plans", &self.plans)
            .field("keys", &self.keys)
            .field("source", &self.source)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl UsagePlanLayerBuilder {
    /// Adds a plan.
    pub fn plan(mut self, plan: Plan) -> Self {
        self.plans.push(plan);
        self
    }

    /// Adds a key to the default [`MemoryKeyStore`] (ignored with
    /// [`with_key_store`](Self::with_key_store)).
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Where keys live. Default: a [`MemoryKeyStore`] of the
    /// [`api_key`](Self::api_key)s.
    pub fn with_key_store(mut self, store: Arc<dyn KeyStore>) -> Self {
        self.key_store = Some(store);
        self
    }

    /// Where the key comes from. Default: [`ApiKeySource::Header`].
    pub fn api_key_source(mut self, source: ApiKeySource) -> Self {
        self.source = source;
        self
    }

    /// The key header. Default: `x-api-key`.
    pub fn api_key_header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Whether routes require a key (`apiKeyRequired`) unless
    /// [`route`](Self::route) says otherwise. Where no key is required, keys
    /// are ignored and nothing is counted. Default: `true`.
    pub fn api_key_required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// `apiKeyRequired` for one route (`GET /pets` or `/pets/GET`).
    pub fn route(mut self, route: &str, api_key_required: bool) -> Self {
        self.routes.push((route.to_owned(), api_key_required));
        self
    }

    /// The stage of requests without a [`RouteMatch`](crate::route::RouteMatch).
    /// Default: `$default`.
    pub fn stage(mut self, stage: impl Into<String>) -> Self {
        self.stage = stage.into();
        self
    }

    /// `RateLimit` / `RateLimit-Policy` for the quota (`"quota";r=<remaining>;t=<seconds to period end>`)
    /// on admitted responses. Default: `true`.
    pub fn quota_headers(mut self, enabled: bool) -> Self {
        self.quota_headers = enabled;
        self
    }

    /// `RateLimit` / `RateLimit-Policy` for the key's bucket on admitted
    /// responses. Default: `false`.
    pub fn rate_limit_headers(mut self, enabled: bool) -> Self {
        self.throttle_headers = enabled;
        self
    }

    /// Keys kept per throttle in memory. Default: 100,000.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// How rejections are rendered. Default: `GatewayResponses::default()`.
    pub fn gateway_responses(mut self, responses: GatewayResponses) -> Self {
        self.responses = responses;
        self
    }

    /// What happens when a store fails. Default: [`FailurePolicy::Open`]
    /// (API Gateway serves the request when it cannot enforce a plan).
    /// [`FailurePolicy::Local`] keeps an in-memory share of every limit
    /// (`limit / replicas`) next to the store's and decides with it while
    /// the store fails.
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure = policy;
        self
    }

    /// The clock. Default: [`default_clock()`].
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Where buckets live. Default: a [`MemoryRateLimitStore`].
    pub fn with_rate_limit_store(mut self, store: Arc<dyn RateLimitStore>) -> Self {
        self.rate_store = Some(store);
        self
    }

    /// Where quota counters live. Default: a [`MemoryQuotaStore`].
    pub fn with_quota_store(mut self, store: Arc<dyn QuotaStore>) -> Self {
        self.quota_store = Some(store);
        self
    }

    /// The layer, or what is wrong with the configuration.
    pub fn build(self) -> Result<UsagePlanLayer, ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::new("usage plan maxKeys must be at least 1"));
        }
        self.failure.validate()?;
        let replicas = self.failure.replicas();
        let clock = self.clock.unwrap_or_else(default_clock);
        let rate_store = self
            .rate_store
            .unwrap_or_else(|| Arc::new(MemoryRateLimitStore::new()));
        let today = Day::from_unix(clock.unix_time());
        let mut plans = HashMap::with_hasher(foldhash::fast::RandomState::default());
        for plan in self.plans {
            if plan.id.is_empty() || plans.contains_key(&plan.id) {
                return Err(ConfigError::new(format!(
                    "usage plan id `{}` is empty or used twice",
                    plan.id
                )));
            }
            let limiter = |name: String, limit| {
                let spec = LimitSpec::new(name, limit, self.max_keys);
                PlanLimiter {
                    shared: rate_store.limiter(&spec, &clock),
                    local: replicas.map(|n| local_limiter(&spec, n, &clock)),
                }
            };
            let throttle = match plan.throttle {
                Some((rate, burst)) => Some(limiter(
                    format!("plan:{}", plan.id),
                    Limit::new(rate, burst)?,
                )),
                None => None,
            };
            let mut methods: Vec<(RouteKey, PlanLimiter)> = Vec::new();
            for (method, rate, burst) in &plan.methods {
                let key = parse_method_key(method)?.ok_or_else(|| {
                    ConfigError::new("set a plan's default throttle with `throttle`, not `*/*`")
                })?;
                if methods.iter().any(|(k, _)| *k == key) {
                    return Err(ConfigError::new(format!(
                        "method throttle `{method}` is set twice"
                    )));
                }
                let limit = Limit::new(*rate, *burst)?;
                methods.push((
                    key.clone(),
                    limiter(format!("plan:{}:{key}", plan.id), limit),
                ));
            }
            if let Some(quota) = &plan.quota {
                quota.validate()?;
            }
            let first_day = plan.start_date.unwrap_or(today);
            let first_period = plan.quota.map_or(first_day, |q| q.period.start(first_day));
            plans.insert(
                Arc::clone(&plan.id),
                BuiltPlan {
                    id: plan.id,
                    stages: plan.stages,
                    throttle,
                    methods,
                    quota: plan.quota,
                    first_period,
                    period: PeriodMemo::new(),
                    policy: PolicyMemo::default(),
                },
            );
        }
        let keys: Arc<dyn KeyStore> = match self.key_store {
            Some(store) => store,
            None => {
                let store = MemoryKeyStore::new();
                for key in self.keys {
                    store.add(key)?;
                }
                Arc::new(store)
            }
        };
        let mut routes = Vec::new();
        for (route, required) in self.routes {
            let key = parse_method_key(&route)?.ok_or_else(|| {
                ConfigError::new("set the default with `api_key_required`, not `*/*`")
            })?;
            routes.push((key, required));
        }
        let method_routes = plans
            .values()
            .flat_map(|p| p.methods.iter().map(|(k, _)| k.clone()));
        let all_routes: Vec<RouteKey> = routes
            .iter()
            .map(|(k, _)| k.clone())
            .chain(method_routes)
            .collect();
        let table = if all_routes.is_empty() {
            None
        } else {
            let mut builder = RouteTable::builder().stage(self.stage.clone());
            let mut seen = Vec::new();
            for key in all_routes {
                if !seen.contains(&key) {
                    builder = builder.route_key(key.clone(), ());
                    seen.push(key);
                }
            }
            Some(builder.build()?)
        };
        Ok(UsagePlanLayer {
            shared: Arc::new(Shared {
                needs_route: table.is_some(),
                plans,
                keys,
                quotas: self
                    .quota_store
                    .unwrap_or_else(|| Arc::new(MemoryQuotaStore::new())),
                source: self.source,
                header: self.header,
                required: self.required,
                routes,
                table,
                stage: Arc::from(self.stage),
                quota_headers: self.quota_headers,
                throttle_headers: self.throttle_headers,
                responses: self.responses,
                failure: self.failure,
                local_quotas: replicas.map(|n| (n, MemoryQuotaStore::new())),
                wall_high_water: AtomicU64::new(clock.unix_time().as_secs()),
                clock,
            }),
        })
    }
}

/// A plan in API Gateway's words (`CreateUsagePlan`, flattened to one API).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanConfig {
    /// The plan id.
    pub id: String,
    /// Stages the plan applies to. Default: every stage.
    #[serde(default)]
    pub stages: Vec<String>,
    /// Each key's bucket. Default: none.
    #[serde(default)]
    pub throttle: Option<ThrottleSettings>,
    /// Per-method buckets by `/resource/path/METHOD` or route key
    /// (`apiStages[].throttle`). Default: none.
    #[serde(default)]
    pub method_throttle: BTreeMap<String, ThrottleSettings>,
    /// The quota. Default: none.
    #[serde(default)]
    pub quota: Option<QuotaSettings>,
    /// The day the plan started (the offset's period). Default: the day the
    /// layer is built.
    #[serde(default)]
    pub start_date: Option<Day>,
}

/// An API key in configuration. `Debug` hides the value.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key id.
    pub id: String,
    /// The secret value.
    pub value: String,
    /// A display name. Default: none.
    #[serde(default)]
    pub name: Option<String>,
    /// Default: `true`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The plans the key belongs to.
    #[serde(default)]
    pub usage_plan_ids: Vec<String>,
}

impl fmt::Debug for ApiKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyConfig")
            .field("id", &self.id)
            .field("value", &"<redacted>")
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("usage_plan_ids", &self.usage_plan_ids)
            .finish()
    }
}

fn yes() -> bool {
    true
}

/// `apiKeyRequired` for a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteSettings {
    /// Whether the route requires an API key.
    pub api_key_required: bool,
}

/// [`UsagePlanLayer`] as configuration:
///
/// ```json
/// {
///   "apiKeySource": "HEADER",
///   "routes": { "/health/GET": { "apiKeyRequired": false } },
///   "usagePlans": [{
///     "id": "gold", "stages": ["prod"],
///     "throttle": { "rateLimit": 100, "burstLimit": 200 },
///     "methodThrottle": { "/orders/POST": { "rateLimit": 5, "burstLimit": 10 } },
///     "quota": { "limit": 100000, "period": "MONTH", "offset": 2000 }
///   }],
///   "apiKeys": [{ "id": "k1", "value": "...", "usagePlanIds": ["gold"] }]
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsagePlanConfig {
    /// `HEADER` or `AUTHORIZER`. Default: `HEADER`.
    #[serde(default)]
    pub api_key_source: ApiKeySource,
    /// The key header. Default: `x-api-key`.
    #[serde(default = "default_header")]
    pub api_key_header: String,
    /// Whether routes require a key. Default: `true`.
    #[serde(default = "yes")]
    pub api_key_required: bool,
    /// Per-route `apiKeyRequired`. Default: none.
    #[serde(default)]
    pub routes: BTreeMap<String, RouteSettings>,
    /// The stage of requests without a route match. Default: `$default`.
    #[serde(default)]
    pub stage: Option<String>,
    /// The plans.
    #[serde(default)]
    pub usage_plans: Vec<PlanConfig>,
    /// The keys.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// Quota headers on admitted responses. Default: `true`.
    #[serde(default = "yes")]
    pub quota_headers: bool,
    /// Throttle headers on admitted responses. Default: `false`.
    #[serde(default)]
    pub rate_limit_headers: bool,
    /// Keys kept per throttle in memory. Default: 100,000.
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
    /// `OPEN`, `CLOSED` or `{"LOCAL": {"replicas": N}}`. Default: `OPEN`.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
}

fn default_header() -> String {
    "x-api-key".to_owned()
}

fn default_max_keys() -> usize {
    crate::throttle::DEFAULT_MAX_KEYS
}

impl TryFrom<UsagePlanConfig> for UsagePlanLayerBuilder {
    type Error = ConfigError;

    fn try_from(config: UsagePlanConfig) -> Result<Self, ConfigError> {
        let header = HeaderName::from_bytes(config.api_key_header.as_bytes()).map_err(|_| {
            ConfigError::new(format!(
                "apiKeyHeader `{}` is not a header name",
                config.api_key_header
            ))
        })?;
        let mut builder = UsagePlanLayer::builder()
            .api_key_source(config.api_key_source)
            .api_key_header(header)
            .api_key_required(config.api_key_required)
            .quota_headers(config.quota_headers)
            .rate_limit_headers(config.rate_limit_headers)
            .max_keys(config.max_keys)
            .failure_policy(config.failure_policy);
        if let Some(stage) = config.stage {
            builder = builder.stage(stage);
        }
        for (route, settings) in &config.routes {
            builder = builder.route(route, settings.api_key_required);
        }
        for plan in config.usage_plans {
            let mut built = Plan::new(plan.id);
            for stage in plan.stages {
                built = built.stage(stage);
            }
            if let Some(t) = plan.throttle {
                built = built.throttle(t.rate_limit, t.burst_limit);
            }
            for (method, t) in &plan.method_throttle {
                built = built.method_throttle(method, t.rate_limit, t.burst_limit);
            }
            if let Some(quota) = plan.quota {
                built = built.quota(quota);
            }
            if let Some(day) = plan.start_date {
                built = built.start_date(day);
            }
            builder = builder.plan(built);
        }
        for key in config.api_keys {
            let mut api_key = ApiKey::new(key.id, key.value)?.enabled(key.enabled);
            if let Some(name) = key.name {
                api_key = api_key.name(name);
            }
            for plan in key.usage_plan_ids {
                api_key = api_key.plan(plan);
            }
            builder = builder.api_key(api_key);
        }
        Ok(builder)
    }
}

impl TryFrom<UsagePlanConfig> for UsagePlanLayer {
    type Error = ConfigError;

    fn try_from(config: UsagePlanConfig) -> Result<Self, ConfigError> {
        UsagePlanLayerBuilder::try_from(config)?.build()
    }
}
