//! `JwtAuthorizer`, the service.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::claims;
use super::error::{JwtError, JwtErrorKind, JwtRejection};
use super::future::ResponseFuture;
use super::layer::Shared;
use super::verify::Step;
use crate::body::GatewayBody;
use crate::future::ResponseFuture as Decided;
use crate::identity::JwtClaims;
use crate::route::RouteMatch;

/// The service of [`JwtAuthorizerLayer`](super::JwtAuthorizerLayer): checks
/// the request's JWT, inserts [`JwtClaims`] and calls the inner service, or
/// answers with a rejection without calling it.
pub struct JwtAuthorizer<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> JwtAuthorizer<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl<S: Clone> Clone for JwtAuthorizer<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for JwtAuthorizer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthorizer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The scopes the request's route needs.
    fn required_scopes<B>(&self, request: &Request<B>) -> &[String] {
        let rules = &self.scopes;
        let routed = rules.routes.as_ref().and_then(|table| {
            match request.extensions().get::<RouteMatch>() {
                Some(matched) => table.get(matched.route_key()),
                None => table
                    .lookup(request.method(), request.uri().path())
                    .map(|(scopes, _)| scopes),
            }
        });
        routed.unwrap_or(&rules.fixed)
    }

    /// Verifies again after a fetch; never waits a second time.
    fn verify_after_fetch<B>(&self, request: &Request<B>) -> Result<JwtClaims, JwtError> {
        let token = self.source.extract(request)?;
        match self.verifier.verify(&token, None, false) {
            Step::Done(result) => result,
            Step::Wait(..) => Err(JwtError::new(
                JwtErrorKind::KeysUnavailable,
                "keys still missing after a fetch",
            )),
        }
    }

    /// Admits the request (claims inserted, `None`) or renders its rejection.
    fn decide<ReqBody, ResBody>(
        &self,
        result: Result<JwtClaims, JwtError>,
        request: &mut Request<ReqBody>,
    ) -> Option<Response<GatewayBody<ResBody>>> {
        let required = self.required_scopes(request);
        let error = match result {
            Ok(claims)
                if claims::has_scopes(claims.scopes(), required, self.scopes.require_all) =>
            {
                crate::observe::insert(request.extensions_mut(), claims);
                return None;
            }
            Ok(_) => JwtError::new(JwtErrorKind::InsufficientScope, "route scopes not granted"),
            Err(error) => error,
        };
        tracing::debug!(kind = ?error.kind(), reason = error.reason(), "JWT refused");
        crate::observe::record(request.extensions(), |observed| {
            observed.authorizer_error = Some(error.reason().to_owned());
        });
        let rejection = JwtRejection::new(error);
        let mut response = self
            .responses
            .reject(&rejection.to_rejection(required), request);
        response.extensions_mut().insert(rejection);
        Some(response)
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for JwtAuthorizer<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<GatewayBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let raw = self.shared.source.raw(&request);
        let remembered = raw.and_then(|raw| self.shared.verifier.last_hit(raw));
        let step = match remembered {
            Some(claims) => Step::Done(Ok(claims)),
            None => match self.shared.source.extract(&request) {
                Ok(token) => self.shared.verifier.verify(&token, raw, true),
                Err(error) => Step::Done(Err(error)),
            },
        };
        let (remote, done) = match step {
            Step::Done(result) => {
                return ResponseFuture::decided(match self.shared.decide(result, &mut request) {
                    None => Decided::inner(self.inner.call(request)),
                    Some(rejection) => Decided::ready(rejection),
                });
            }
            Step::Wait(remote, done) => (remote, done),
        };
        // Keys must be fetched: take the service that was made ready.
        let clone = self.inner.clone();
        let mut inner = mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        ResponseFuture::fetching(Box::pin(async move {
            remote.wait(done).await;
            let result = shared.verify_after_fetch(&request);
            match shared.decide(result, &mut request) {
                None => inner
                    .call(request)
                    .await
                    .map(|response| response.map(GatewayBody::new)),
                Some(rejection) => Ok(rejection),
            }
        }))
    }
}
