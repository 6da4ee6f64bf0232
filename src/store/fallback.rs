//! [`FailurePolicy::Local`](super::FailurePolicy::Local): a shared limiter
//! with an in-memory limiter at `limit / replicas` that decides whenever the
//! shared one fails.

use std::fmt;
use std::sync::Arc;

use super::{
    BucketKey, Decision, LimitSpec, Limiter, MemoryRateLimitStore, StoreError, StoreFuture,
};
use crate::clock::SharedClock;

/// The in-memory limiter at `spec`'s limit split among `replicas`.
pub(crate) fn local_limiter(
    spec: &LimitSpec,
    replicas: u32,
    clock: &SharedClock,
) -> Arc<dyn Limiter> {
    let local = LimitSpec::new(
        spec.name().to_owned(),
        spec.limit().share(replicas),
        spec.max_keys(),
    );
    Arc::new(MemoryRateLimitStore::new().memory_limiter(&local, clock))
}

/// Asks `shared`; when it fails, logs the failure and asks `local` (always
/// ready: an in-memory limiter).
pub(crate) struct FallbackLimiter {
    shared: Arc<dyn Limiter>,
    local: Arc<dyn Limiter>,
}

impl FallbackLimiter {
    pub(crate) fn new(shared: Arc<dyn Limiter>, replicas: u32, clock: &SharedClock) -> Self {
        let local = local_limiter(shared.spec(), replicas, clock);
        Self { shared, local }
    }
}

impl fmt::Debug for FallbackLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLimiter")
            .field("shared", &self.shared)
            .field("local", &self.local)
            .finish()
    }
}

fn fall_back(local: &dyn Limiter, key: &BucketKey, error: &StoreError) -> Decision {
    tracing::warn!(limit = local.spec().name(), %error, "throttle store failed; deciding locally");
    match local.check(key).into_ready() {
        Ok(Ok(decision)) => decision,
        // An in-memory limiter answers at once and never fails; should one
        // not, admit as fail-open would.
        _ => Decision::Admitted {
            remaining: 0,
            reset: std::time::Duration::ZERO,
        },
    }
}

impl Limiter for FallbackLimiter {
    fn spec(&self) -> &LimitSpec {
        self.shared.spec()
    }

    fn check(&self, key: &BucketKey) -> StoreFuture<Result<Decision, StoreError>> {
        match self.shared.check(key).into_ready() {
            Ok(Ok(decision)) => StoreFuture::ready(Ok(decision)),
            Ok(Err(error)) => StoreFuture::ready(Ok(fall_back(self.local.as_ref(), key, &error))),
            Err(pending) => {
                let local = Arc::clone(&self.local);
                let key = key.clone();
                StoreFuture::new(async move {
                    match pending.await {
                        Ok(decision) => Ok(decision),
                        Err(error) => Ok(fall_back(local.as_ref(), &key, &error)),
                    }
                })
            }
        }
    }

    fn keys_in_memory(&self) -> Option<usize> {
        self.local.keys_in_memory()
    }
}
