//! The response future of [`JwtAuthorizer`](super::JwtAuthorizer).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::GatewayBody;

type Boxed<B, E> = Pin<Box<dyn Future<Output = Result<Response<GatewayBody<B>>, E>> + Send>>;

pin_project! {
    /// The response future of [`JwtAuthorizer`](super::JwtAuthorizer): the
    /// inner service's future or a rejection when the decision was made at
    /// once (a cached token, cached keys), or a boxed future when keys had
    /// to be fetched first.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Decided { #[pin] future: crate::future::ResponseFuture<F, B> },
        Fetching { future: Boxed<B, E> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn decided(future: crate::future::ResponseFuture<F, B>) -> Self {
        Self {
            kind: Kind::Decided { future },
        }
    }

    pub(crate) fn fetching(future: Boxed<B, E>) -> Self {
        Self {
            kind: Kind::Fetching { future },
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<GatewayBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Decided { future } => future.poll(cx),
            KindProj::Fetching { future } => future.as_mut().poll(cx),
        }
    }
}
