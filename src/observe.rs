//! What the layers of one request learned, for the layers outside them.
//!
//! A layer sees the request on its way in and the response on its way out,
//! but not what inner layers put into the request's extensions: by then the
//! request has moved on. Access logs and metrics sit outermost and need the
//! route, the principal and the API key that inner layers established.
//!
//! So an observing layer puts an [`Observation`] into the request's
//! extensions, and every layer of this crate inserts what it establishes with
//! [`insert`], which also records it there. Without an observing layer,
//! [`insert`] is a plain extension insert.
//!
//! ```
//! use apigw::observe::{self, Observation};
//! use apigw::identity::ApiKeyIdentity;
//!
//! let mut request = http::Request::new(());
//! let observation = Observation::attach(request.extensions_mut());
//! observe::insert(request.extensions_mut(), ApiKeyIdentity::new("key-1", "v", "plan-1"));
//! assert_eq!(observation.snapshot().api_key.unwrap().key_id(), "key-1");
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Extensions;

use crate::identity::{ApiKeyIdentity, AuthorizerContext, JwtClaims};
use crate::route::RouteMatch;

/// What inner layers recorded for one request. Cheap to clone: clones share
/// the same record.
#[derive(Clone, Default)]
pub struct Observation {
    inner: Arc<Mutex<Observed>>,
}

/// A snapshot of an [`Observation`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Observed {
    /// The matched route.
    pub route: Option<RouteMatch>,
    /// The verified JWT's claims.
    pub jwt: Option<JwtClaims>,
    /// The custom authorizer's answer.
    pub authorizer: Option<AuthorizerContext>,
    /// The API key the request was metered against.
    pub api_key: Option<ApiKeyIdentity>,
    /// How long the integration (the backend call) took.
    pub integration_latency: Option<Duration>,
    /// The status the integration answered with, before any mapping.
    pub integration_status: Option<u16>,
    /// Why the integration failed, for logs (never sent to clients).
    pub integration_error: Option<String>,
    /// Why the authorizer failed, for logs (never sent to clients).
    pub authorizer_error: Option<String>,
    /// Whether a response cache counted this request's hit or miss through
    /// the `metrics` facade itself, so `GatewayMetricsLayer` does not count
    /// its `X-Cache` header again.
    pub cache_counted: bool,
}

impl Observation {
    /// A fresh observation inserted into `extensions`, or the one already
    /// there (an outer observing layer's), so several observers share it.
    pub fn attach(extensions: &mut Extensions) -> Self {
        extensions.get_or_insert_with(Self::default).clone()
    }

    /// A copy of what has been recorded so far.
    #[must_use]
    pub fn snapshot(&self) -> Observed {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads what has been recorded so far, without copying it. `read` runs
    /// under the observation's lock: keep it short.
    pub fn read<R>(&self, read: impl FnOnce(&Observed) -> R) -> R {
        read(&self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records something with `update`.
    pub fn record(&self, update: impl FnOnce(&mut Observed)) {
        update(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

impl fmt::Debug for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Observation")
            .field(&self.snapshot())
            .finish()
    }
}

/// Records `update` in the request's [`Observation`], if an observing layer
/// attached one.
pub fn record(extensions: &Extensions, update: impl FnOnce(&mut Observed)) {
    if let Some(observation) = extensions.get::<Observation>() {
        observation.record(update);
    }
}

/// A value layers establish and observers want: the identity extensions and
/// the route match.
pub trait Observable: Clone + Send + Sync + 'static {
    /// Stores a clone of `self` in the snapshot.
    fn store(&self, observed: &mut Observed);
}

impl Observable for RouteMatch {
    fn store(&self, observed: &mut Observed) {
        observed.route = Some(self.clone());
    }
}

impl Observable for JwtClaims {
    fn store(&self, observed: &mut Observed) {
        observed.jwt = Some(self.clone());
    }
}

impl Observable for AuthorizerContext {
    fn store(&self, observed: &mut Observed) {
        observed.authorizer = Some(self.clone());
    }
}

impl Observable for ApiKeyIdentity {
    fn store(&self, observed: &mut Observed) {
        observed.api_key = Some(self.clone());
    }
}

/// Inserts `value` into the request's extensions and records it in the
/// request's [`Observation`], if any. Layers insert what they establish with
/// this, never with a bare `extensions.insert`.
pub fn insert<T: Observable>(extensions: &mut Extensions, value: T) {
    record(extensions, |observed| value.store(observed));
    extensions.insert(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_without_an_observer_is_a_plain_insert() {
        let mut extensions = Extensions::new();
        insert(&mut extensions, ApiKeyIdentity::new("k", "v", "p"));
        assert_eq!(extensions.get::<ApiKeyIdentity>().unwrap().key_id(), "k");
        assert!(extensions.get::<Observation>().is_none());
    }

    #[test]
    fn observers_share_one_observation() {
        let mut extensions = Extensions::new();
        let outer = Observation::attach(&mut extensions);
        let inner = Observation::attach(&mut extensions);
        insert(
            &mut extensions,
            AuthorizerContext::new(Some("alice".into()), serde_json::Map::new(), None),
        );
        inner.record(|o| o.integration_latency = Some(Duration::from_millis(3)));
        let seen = outer.snapshot();
        assert_eq!(seen.authorizer.unwrap().principal_id(), Some("alice"));
        assert_eq!(seen.integration_latency, Some(Duration::from_millis(3)));
    }
}
