//! The usage-plan service.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderValue, Request, Response, StatusCode};
use tower_service::Service;

use super::ApiKeySource;
use super::layer::{PolicyInputs, PolicyMemo, Shared};
use super::{UsagePlanRejection, UsagePlanRejectionKind};
use crate::body::GatewayBody;
use crate::identity::{AuthorizerContext, RequestId};
use crate::problem::{GatewayResponseType, Rejection};
use crate::route::RouteMatch;
use crate::store::{
    BucketKey, Decision, FailurePolicy, Limiter, MeterOutcome, MeterRequest, QuotaCheck, StoreError,
};
use crate::throttle::bucket::ceil_secs;
use crate::throttle::{
    Budget, FieldList, Limit, RATE_LIMIT, RATE_LIMIT_POLICY, ResponseFuture, Verdict, route_of,
    throttled,
};

/// The service of [`UsagePlanLayer`](super::UsagePlanLayer): finds the API
/// key, meters it against its plan, and passes the request on with an
/// [`ApiKeyIdentity`](crate::identity::ApiKeyIdentity), or rejects it.
pub struct UsagePlan<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S: Clone> Clone for UsagePlan<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for UsagePlan<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsagePlan")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}

/// What the decision needs besides the store's answer.
struct Metered {
    throttle: Option<Limit>,
    quota: Option<QuotaCheck>,
    now: Duration,
    /// With [`FailurePolicy::Local`]: the key and its in-memory bucket.
    local: Option<(BucketKey, Option<Arc<dyn Limiter>>)>,
}

type Settled = Result<Option<Budget>, Box<(Rejection, UsagePlanRejection)>>;

fn invalid_key(kind: UsagePlanRejectionKind) -> (Rejection, UsagePlanRejection) {
    let rejection =
        Rejection::new(GatewayResponseType::InvalidApiKey).with_problem_type(kind.problem_type());
    (
        rejection,
        UsagePlanRejection {
            kind,
            retry_after: None,
        },
    )
}

/// A quota limit split among `replicas` processes: rounded down, at least 1
/// unless it is 0.
fn share(limit: u64, replicas: u32) -> u64 {
    if limit == 0 {
        return 0;
    }
    (limit / u64::from(replicas.max(1))).max(1)
}

fn seconds_to(end: crate::usage_plan::Day, now: Duration) -> Duration {
    end.start_unix().saturating_sub(now)
}

fn period_length(quota: QuotaCheck) -> Duration {
    quota
        .period_end
        .start_unix()
        .saturating_sub(quota.period_start.start_unix())
}

impl PolicyInputs {
    /// The `RateLimit-Policy` value: the throttle's item, then the quota's.
    pub(crate) fn value(self) -> HeaderValue {
        let mut policies = FieldList::new();
        if let Some((burst, window)) = self.throttle {
            policies.policy("throttle", burst, window);
        }
        if let Some((limit, length)) = self.quota {
            policies.policy("quota", limit, length);
        }
        policies.value()
    }
}

impl Metered {
    /// Adds the quota's items to the two header lists; `false` without a quota.
    fn quota_items(
        &self,
        used: u64,
        limit: u64,
        policies: &mut FieldList,
        states: &mut FieldList,
    ) -> bool {
        let Some(quota) = self.quota else {
            return false;
        };
        policies.policy("quota", limit, period_length(quota));
        states.state(
            "quota",
            limit.saturating_sub(used),
            seconds_to(quota.period_end, self.now),
        );
        true
    }
}

impl Shared {
    /// Meters the request with this process's share of the limits, for
    /// [`FailurePolicy::Local`] when the store failed.
    fn meter_locally(&self, metered: &Metered, error: &StoreError) -> Option<MeterOutcome> {
        let ((replicas, quotas), (bucket, limiter)) =
            (self.local_quotas.as_ref()?, metered.local.as_ref()?);
        tracing::warn!(%error, "Usage Plan store failed; deciding locally");
        let BucketKey::Text(key_id) = bucket else {
            return None;
        };
        let quota = metered.quota.map(|quota| QuotaCheck {
            limit: share(quota.limit, *replicas),
            ..quota
        });
        let request = MeterRequest {
            key_id,
            throttle: limiter.as_ref().map(|l| (l.as_ref(), bucket)),
            quota,
        };
        quotas.meter_now(&request).ok()
    }

    /// Decides on the store's answer; `policy` keeps the plan's last
    /// `RateLimit-Policy` value.
    fn settle(
        &self,
        outcome: Result<MeterOutcome, StoreError>,
        metered: &Metered,
        policy: Option<&PolicyMemo>,
    ) -> Settled {
        let outcome = match outcome {
            Err(error) if metered.local.is_some() => {
                self.meter_locally(metered, &error).ok_or(error)
            }
            outcome => outcome,
        };
        match outcome {
            Ok(MeterOutcome::Admitted { throttle, quota }) => {
                let throttle = match (self.throttle_headers, metered.throttle, throttle) {
                    (true, Some(limit), Some(Decision::Admitted { remaining, reset })) => {
                        Some((limit, remaining, reset))
                    }
                    _ => None,
                };
                let quota = quota
                    .filter(|_| self.quota_headers)
                    .and_then(|(used, limit)| Some((metered.quota?, used, limit)));
                let mut states = FieldList::new();
                if let Some((_, remaining, reset)) = throttle {
                    states.state("throttle", u64::from(remaining), reset);
                }
                if let Some((check, used, limit)) = quota {
                    states.state(
                        "quota",
                        limit.saturating_sub(used),
                        seconds_to(check.period_end, metered.now),
                    );
                }
                if states.is_empty() {
                    return Ok(None);
                }
                let inputs = PolicyInputs {
                    throttle: throttle
                        .map(|(limit, ..)| (u64::from(limit.burst()), limit.window())),
                    quota: quota.map(|(check, _, limit)| (limit, period_length(check))),
                };
                Ok(Some(Budget {
                    policy: policy.map_or_else(|| inputs.value(), |memo| memo.value(inputs)),
                    state: states.value(),
                }))
            }
            Ok(MeterOutcome::Throttled(decision)) => {
                let retry_after = match decision {
                    Decision::Rejected { retry_after } => retry_after,
                    Decision::Admitted { .. } => Some(Duration::ZERO),
                };
                let limit = metered.throttle.unwrap_or(Limit::BLOCKED);
                let (rejection, _) = throttled("throttle", limit, retry_after);
                let kind = UsagePlanRejectionKind::Throttled;
                let rejection = rejection.with_problem_type(kind.problem_type());
                Err(Box::new((
                    rejection,
                    UsagePlanRejection {
                        kind,
                        retry_after: retry_after.map(ceil_secs),
                    },
                )))
            }
            Ok(MeterOutcome::QuotaExceeded { used, limit }) => {
                let kind = UsagePlanRejectionKind::QuotaExceeded;
                let mut rejection = Rejection::new(GatewayResponseType::QuotaExceeded)
                    .with_problem_type(kind.problem_type());
                let mut retry = None;
                if let Some(quota) = metered.quota {
                    let wait = seconds_to(quota.period_end, metered.now);
                    let secs = ceil_secs(wait);
                    retry = Some(secs);
                    rejection = rejection
                        .with_header(RETRY_AFTER, HeaderValue::from(secs))
                        .with_extension("retryAfter", secs);
                }
                let (mut policy, mut state) = (FieldList::new(), FieldList::new());
                if metered.quota_items(used, limit, &mut policy, &mut state) {
                    rejection = rejection
                        .with_header(RATE_LIMIT_POLICY, policy.value())
                        .with_header(RATE_LIMIT, state.value());
                }
                Err(Box::new((
                    rejection,
                    UsagePlanRejection {
                        kind,
                        retry_after: retry,
                    },
                )))
            }
            Err(error) => match self.failure {
                // `Local` decides above; should that fail, admit.
                FailurePolicy::Open | FailurePolicy::Local { .. } => {
                    tracing::warn!(%error, "Usage Plan check failed due to an internal error; admitting (fail open)");
                    Ok(None)
                }
                FailurePolicy::Closed => {
                    tracing::error!(%error, "Usage Plan check failed due to an internal error; rejecting (fail closed)");
                    let kind = UsagePlanRejectionKind::StoreUnavailable;
                    let rejection = Rejection::new(GatewayResponseType::Default5xx)
                        .with_status(StatusCode::SERVICE_UNAVAILABLE)
                        .with_problem_type(kind.problem_type());
                    Err(Box::new((
                        rejection,
                        UsagePlanRejection {
                            kind,
                            retry_after: None,
                        },
                    )))
                }
            },
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for UsagePlan<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ReqBody: Send + 'static,
{
    type Response = Response<GatewayBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        let route = if shared.needs_route {
            route_of(&request, shared.table.as_ref())
        } else {
            None
        };
        let required = route
            .as_deref()
            .and_then(|r| shared.routes.iter().find(|(key, _)| key == r))
            .map_or(shared.required, |(_, required)| *required);
        if !required {
            return ResponseFuture::inner(self.inner.call(request), None);
        }
        let found = {
            let value = match shared.source {
                ApiKeySource::Header => request
                    .headers()
                    .get(&shared.header)
                    .and_then(|v| v.to_str().ok()),
                ApiKeySource::Authorizer => request
                    .extensions()
                    .get::<AuthorizerContext>()
                    .and_then(AuthorizerContext::usage_identifier_key),
            };
            match value.filter(|v| !v.is_empty()) {
                None => Err(UsagePlanRejectionKind::MissingKey),
                Some(value) => match shared.keys.find(value) {
                    None => Err(UsagePlanRejectionKind::UnknownKey),
                    Some(key) if !key.is_enabled() => Err(UsagePlanRejectionKind::DisabledKey),
                    Some(key) => {
                        let stage = request
                            .extensions()
                            .get::<RouteMatch>()
                            .map_or(&*shared.stage, RouteMatch::stage);
                        let plan = key
                            .plans()
                            .filter_map(|id| shared.plans.get(id))
                            .find(|plan| plan.serves(stage));
                        match plan {
                            Some(plan) => Ok((key, plan)),
                            None => Err(UsagePlanRejectionKind::NoPlanForStage),
                        }
                    }
                },
            }
        };
        let (key, plan) = match found {
            Ok(found) => found,
            Err(kind) => {
                let (rejection, typed) = invalid_key(kind);
                let mut response = shared.responses.reject(&rejection, &request);
                response.extensions_mut().insert(typed);
                return ResponseFuture::ready(response);
            }
        };
        let limiter = plan.limiter(route.as_deref());
        drop(route);
        let bucket = BucketKey::Text(key.shared_id());
        let (quota, now) = if plan.quota.is_some() {
            let (day, now) = shared.today();
            (shared.quota_check(plan, day), now)
        } else {
            (None, Duration::ZERO)
        };
        let metered = Metered {
            throttle: limiter.map(|l| l.shared.spec().limit()),
            quota,
            now,
            local: shared
                .local_quotas
                .is_some()
                .then(|| (bucket.clone(), limiter.and_then(|l| l.local.clone()))),
        };
        let meter = MeterRequest {
            key_id: key.id(),
            throttle: limiter.map(|l| (l.shared.as_ref(), &bucket)),
            quota,
        };
        let identity = key.identity(&plan.id);
        match shared.quotas.meter(&meter).into_ready() {
            Ok(outcome) => match shared.settle(outcome, &metered, Some(&plan.policy)) {
                Ok(budget) => {
                    crate::observe::insert(request.extensions_mut(), identity);
                    ResponseFuture::inner(self.inner.call(request), budget)
                }
                Err(rejected) => {
                    let (rejection, typed) = *rejected;
                    let mut response = shared.responses.reject(&rejection, &request);
                    response.extensions_mut().insert(typed);
                    ResponseFuture::ready(response)
                }
            },
            Err(pending) => {
                let clone = self.inner.clone();
                let service = mem::replace(&mut self.inner, clone);
                let plan_id = Arc::clone(&plan.id);
                let shared = Arc::clone(&self.shared);
                let check = Box::pin(async move {
                    let outcome = pending.await;
                    let policy = shared.plans.get(&plan_id).map(|plan| &plan.policy);
                    match shared.settle(outcome, &metered, policy) {
                        Ok(budget) => {
                            crate::observe::insert(request.extensions_mut(), identity);
                            Verdict::Admit { request, budget }
                        }
                        Err(rejected) => Verdict::Reject {
                            responses: shared.responses.clone(),
                            typed: rejected.1.into(),
                            rejection: Box::new(rejected.0),
                            request_id: RequestId::find(request.extensions(), request.headers())
                                .unwrap_or_default(),
                        },
                    }
                });
                ResponseFuture::waiting(check, service)
            }
        }
    }
}
