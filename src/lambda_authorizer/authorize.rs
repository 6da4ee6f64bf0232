//! The authorizer strategy: anything that answers an authorizer request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tower_service::Service;

use crate::events::authorizer::{AuthorizerRequest, IamPolicyResponse, SimpleResponse};

/// A boxed error, as tower services return them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The future of one authorizer call.
pub type AuthorizeFuture =
    Pin<Box<dyn Future<Output = Result<AuthorizerResponse, AuthorizeError>> + Send + 'static>>;

/// A custom authorizer: receives the authorizer request API Gateway would
/// send a Lambda authorizer and answers with an IAM policy or a simple
/// response.
///
/// Implemented for every `Fn(AuthorizerRequest) -> impl Future<Output =
/// Result<R, AuthorizeError>>` closure where `R` is an
/// [`IamPolicyResponse`], a [`SimpleResponse`] or an [`AuthorizerResponse`];
/// for `Arc<A>`; for [`ServiceAuthorizer`] (any `tower::Service`) and for
/// [`InvokeAuthorizer`](super::InvokeAuthorizer) (a Lambda function through
/// [`Invoke`](crate::integration::Invoke)).
///
/// ```
/// use apigw::events::authorizer::{AuthorizerRequest, IamPolicyResponse};
/// use apigw::lambda_authorizer::{Authorize, AuthorizeError};
///
/// let authorizer = |request: AuthorizerRequest| async move {
///     match request.token().as_deref() {
///         Some("allow") => Ok(IamPolicyResponse::allow("user", request.method_arn())),
///         _ => Err(AuthorizeError::Unauthorized),
///     }
/// };
/// # fn is_authorizer(_: &impl Authorize) {}
/// # is_authorizer(&authorizer);
/// ```
pub trait Authorize: Send + Sync + 'static {
    /// Answers one authorizer request.
    fn authorize(&self, request: AuthorizerRequest) -> AuthorizeFuture;
}

impl<F, Fut, R> Authorize for F
where
    F: Fn(AuthorizerRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, AuthorizeError>> + Send + 'static,
    R: Into<AuthorizerResponse>,
{
    fn authorize(&self, request: AuthorizerRequest) -> AuthorizeFuture {
        let future = self(request);
        Box::pin(async move { future.await.map(Into::into) })
    }
}

impl<A: Authorize + ?Sized> Authorize for Arc<A> {
    fn authorize(&self, request: AuthorizerRequest) -> AuthorizeFuture {
        (**self).authorize(request)
    }
}

impl Authorize for Box<dyn Authorize> {
    fn authorize(&self, request: AuthorizerRequest) -> AuthorizeFuture {
        (**self).authorize(request)
    }
}

/// An authorizer's answer: an IAM policy or a simple response, and
/// optionally a shorter cache TTL for this one result.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthorizerResponse {
    pub(crate) kind: ResponseKind,
    pub(crate) ttl: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ResponseKind {
    Policy(IamPolicyResponse),
    Simple(SimpleResponse),
}

impl AuthorizerResponse {
    /// Caches this result for at most `ttl` (for example until the token
    /// expires). It can shorten the configured TTL, never lengthen it; zero
    /// means "do not cache". Not an API Gateway feature: a Lambda function
    /// called through `Invoke` cannot set it.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The IAM policy answer, if it is one.
    #[must_use]
    pub fn policy(&self) -> Option<&IamPolicyResponse> {
        match &self.kind {
            ResponseKind::Policy(policy) => Some(policy),
            ResponseKind::Simple(_) => None,
        }
    }

    /// The simple answer, if it is one.
    #[must_use]
    pub fn simple(&self) -> Option<&SimpleResponse> {
        match &self.kind {
            ResponseKind::Simple(simple) => Some(simple),
            ResponseKind::Policy(_) => None,
        }
    }

    /// The TTL set with [`with_ttl`](Self::with_ttl).
    #[must_use]
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
    }
}

impl From<IamPolicyResponse> for AuthorizerResponse {
    fn from(policy: IamPolicyResponse) -> Self {
        Self {
            kind: ResponseKind::Policy(policy),
            ttl: None,
        }
    }
}

impl From<SimpleResponse> for AuthorizerResponse {
    fn from(simple: SimpleResponse) -> Self {
        Self {
            kind: ResponseKind::Simple(simple),
            ttl: None,
        }
    }
}

/// Why an authorizer gave no answer.
///
/// [`Unauthorized`](Self::Unauthorized) is a verdict (401, like a Lambda
/// authorizer failing with exactly `Unauthorized`); everything else is a
/// failure (500 `AUTHORIZER_CONFIGURATION_ERROR`, never cached). The text is
/// logged, never sent to the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizeError {
    /// The caller is not authenticated: 401 `UNAUTHORIZED`. Not cached.
    #[error("unauthorized")]
    Unauthorized,
    /// The authorizer failed.
    #[error("the authorizer failed: {0}")]
    Failed(BoxError),
    /// The authorizer answered something that is not a valid answer.
    #[error("the authorizer's answer is invalid: {0}")]
    Malformed(String),
    /// The authorizer did not answer in time.
    #[error("the authorizer did not answer in time")]
    Timeout,
}

impl AuthorizeError {
    /// A failure from any error.
    pub fn failed(error: impl Into<BoxError>) -> Self {
        Self::Failed(error.into())
    }
}

/// Any `tower::Service<AuthorizerRequest>` as an authorizer.
///
/// The service is cloned for each call and driven to readiness first. Its
/// response is anything that converts into an [`AuthorizerResponse`]; an
/// error that is an [`AuthorizeError`] keeps its meaning (so a service can
/// answer `Unauthorized`), any other error is a failure (500).
///
/// ```
/// use apigw::events::authorizer::{AuthorizerRequest, SimpleResponse};
/// use apigw::lambda_authorizer::ServiceAuthorizer;
///
/// let authorizer = ServiceAuthorizer::new(tower::service_fn(|request: AuthorizerRequest| async move {
///     let mut answer = SimpleResponse::default();
///     answer.is_authorized = request.header("x-api-token") == Some("open sesame");
///     Ok::<_, std::convert::Infallible>(answer)
/// }));
/// # let _ = authorizer;
/// ```
#[derive(Clone)]
pub struct ServiceAuthorizer<S> {
    service: S,
}

impl<S> ServiceAuthorizer<S> {
    /// Wraps `service`.
    pub fn new(service: S) -> Self {
        Self { service }
    }
}

impl<S> fmt::Debug for ServiceAuthorizer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAuthorizer").finish_non_exhaustive()
    }
}

impl<S, R> Authorize for ServiceAuthorizer<S>
where
    S: Service<AuthorizerRequest, Response = R> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    R: Into<AuthorizerResponse>,
{
    fn authorize(&self, request: AuthorizerRequest) -> AuthorizeFuture {
        let mut service = self.service.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(from_service_error)?;
            service
                .call(request)
                .await
                .map(Into::into)
                .map_err(from_service_error)
        })
    }
}

fn from_service_error(error: impl Into<BoxError>) -> AuthorizeError {
    match error.into().downcast::<AuthorizeError>() {
        Ok(error) => *error,
        Err(error) => AuthorizeError::Failed(error),
    }
}
