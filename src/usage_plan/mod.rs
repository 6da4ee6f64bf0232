//! API keys, usage plans and quotas, as API Gateway meters REST APIs:
//! [`UsagePlanLayer`].
//!
//! On a route that requires an API key (`apiKeyRequired`, the default), the
//! layer reads the key from the `x-api-key` header (or another header, or
//! the custom authorizer's `usageIdentifierKey`), finds it in the
//! [`KeyStore`](crate::store::KeyStore), picks the key's plan for the
//! request's stage, takes a token from the key's bucket and counts the
//! request against the plan's quota. The request goes on with an
//! [`ApiKeyIdentity`](crate::identity::ApiKeyIdentity) (key id, value, plan
//! id) in its extensions, which the Lambda integration copies to
//! `requestContext.identity.apiKey` / `apiKeyId`. On routes that do not
//! require a key, keys are ignored and nothing is counted.
//!
//! ```
//! use apigw::store::ApiKey;
//! use apigw::usage_plan::{Plan, QuotaPeriod, QuotaSettings, UsagePlanLayer};
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let plans = UsagePlanLayer::builder()
//!     .plan(Plan::new("gold").throttle(100.0, 200).quota(QuotaSettings::new(1000, QuotaPeriod::Day)))
//!     .api_key(ApiKey::new("key-1", "a1b2c3d4e5f6g7h8i9j0k1l2")?.plan("gold"))
//!     .build()?;
//! let app = Router::new().route("/", get(|| async { "hello" })).layer(plans);
//!
//! let with_key = http::Request::get("/")
//!     .header("x-api-key", "a1b2c3d4e5f6g7h8i9j0k1l2")
//!     .body(axum::body::Body::empty())?;
//! let ok = app.clone().oneshot(with_key).await?;
//! assert_eq!(ok.status(), 200);
//! assert!(ok.headers()["ratelimit"].to_str()?.starts_with("\"quota\";r=999;t="));
//!
//! let unknown = http::Request::get("/")
//!     .header("x-api-key", "not0the0right0key0at0all")
//!     .body(axum::body::Body::empty())?;
//! let forbidden = app.oneshot(unknown).await?;
//! assert_eq!(forbidden.status(), 403); // INVALID_API_KEY
//! # Ok(()) }
//! ```
//!
//! # Plans
//!
//! A [`Plan`] has a throttle per API key (`rate`, `burst`, aggregated across
//! the plan's stages), per-method throttles that replace it on one method
//! (`/orders/POST` or `POST /orders`, with a bucket per key and method), and a
//! quota: `limit` requests per `DAY`, `WEEK` or `MONTH`, calendar periods in
//! UTC computed from the [`Clock`](crate::clock::Clock)'s wall time.
//! Weeks start on Monday 00:00 UTC (ISO 8601; API Gateway does not document
//! its anchor). `offset` is what API Gateway's current docs define: requests
//! subtracted from the limit of the plan's first period (the period of
//! [`Plan::start_date`], default the day the layer is built). A key belongs
//! to plans; the one that serves the request's stage applies.
//!
//! # Exactness
//!
//! Throttle and quota are one atomic step in the store
//! ([`QuotaStore::meter`](crate::store::QuotaStore::meter)): over quota, no
//! token is taken; throttled, nothing is counted. Concurrent requests are
//! counted exactly: a quota of `N` admits exactly `N`. A wall clock moved
//! backwards never takes a key back to an earlier period, so it cannot reset
//! usage. A period's counter starts afresh at the period's UTC boundary.
//!
//! # Rejections
//!
//! | when | status | problem `type` |
//! |---|---|---|
//! | no key on a route that requires one | 403 `INVALID_API_KEY` | `urn:apigw:problem:invalid-api-key:missing` |
//! | unknown or disabled key, or no plan for the stage | 403 `INVALID_API_KEY` | `urn:apigw:problem:invalid-api-key:invalid` |
//! | key's bucket empty | 429 `THROTTLED` | `urn:apigw:problem:throttled:usage-plan` |
//! | quota spent | 429 `QUOTA_EXCEEDED` | `urn:apigw:problem:quota-exceeded:period` |
//! | store failed, [`FailurePolicy::Closed`](crate::store::FailurePolicy) | 503 `DEFAULT_5XX` | `urn:apigw:problem:usage-plan:store-unavailable` |
//!
//! Unknown, disabled and plan-less keys share one problem type, as API
//! Gateway answers all three with `Forbidden`: a client cannot learn which
//! key values exist. The [`UsagePlanRejection`] in the response extensions
//! tells them apart for logs. 429s carry `Retry-After` (for a spent quota,
//! the seconds to the period's end) and `RateLimit` / `RateLimit-Policy`.
//! Admitted responses carry `RateLimit: "quota";r=<remaining>;t=<seconds to period end>`
//! and `RateLimit-Policy: "quota";q=<limit>;w=<period seconds>` (and the
//! throttle's with [`rate_limit_headers`](UsagePlanLayerBuilder::rate_limit_headers)).
//!
//! # Usage
//!
//! [`UsagePlanLayer::usage`] answers API Gateway's usage report: per key,
//! per day, `[used, remaining]`. [`UsagePlanLayer::grant`] extends a key's
//! remaining quota for the current period.
//!
//! # Security
//!
//! Keys are looked up by a keyed hash of their value and compared in
//! constant time; values never appear in `Debug` output or logs. Unknown keys
//! are rejected before any throttle or quota state is created. As API
//! Gateway warns, API keys identify callers for metering; they are not
//! authentication.

mod layer;
mod quota;
mod service;

use serde::Serialize;

pub use layer::{
    ApiKeyConfig, ApiKeySource, MAX_REPORT_DAYS, MAX_REPORT_PAGE, Plan, PlanConfig, RouteSettings,
    UsagePlanConfig, UsagePlanLayer, UsagePlanLayerBuilder, UsageReport,
};
pub use quota::{Day, QuotaPeriod, QuotaSettings};
pub use service::UsagePlan;

/// Why a usage plan rejected a request; in the rejection's response
/// extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UsagePlanRejection {
    /// What happened.
    pub kind: UsagePlanRejectionKind,
    /// The `Retry-After` sent, in seconds.
    pub retry_after: Option<u64>,
}

/// The kinds of usage-plan rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum UsagePlanRejectionKind {
    /// The request carried no key.
    MissingKey,
    /// No key has this value.
    UnknownKey,
    /// The key is disabled.
    DisabledKey,
    /// None of the key's plans serves this stage.
    NoPlanForStage,
    /// The key's bucket was empty.
    Throttled,
    /// The key's quota for the period is spent.
    QuotaExceeded,
    /// A store failed and the layer fails closed.
    StoreUnavailable,
}

impl UsagePlanRejectionKind {
    /// The stable problem `type` (the same for every invalid key).
    #[must_use]
    pub const fn problem_type(self) -> &'static str {
        match self {
            Self::MissingKey => "urn:apigw:problem:invalid-api-key:missing",
            Self::UnknownKey | Self::DisabledKey | Self::NoPlanForStage => {
                "urn:apigw:problem:invalid-api-key:invalid"
            }
            Self::Throttled => "urn:apigw:problem:throttled:usage-plan",
            Self::QuotaExceeded => "urn:apigw:problem:quota-exceeded:period",
            Self::StoreUnavailable => "urn:apigw:problem:usage-plan:store-unavailable",
        }
    }
}
