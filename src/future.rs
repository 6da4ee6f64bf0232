//! The response future shared by the layers that decide synchronously.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::GatewayBody;

pin_project! {
    /// The response future of this crate's layers that decide synchronously:
    /// the inner service's future, or a response the layer made (a
    /// rejection, a cached response), ready at once.
    ///
    /// Polled again after it has returned `Ready`, it returns
    /// `Poll::Pending` for ever, as `futures`' `Fuse` does, and never polls
    /// the inner future again: a misbehaving caller cannot panic the server
    /// or get a second, made-up response.
    /// [`is_terminated`](Self::is_terminated) says when it has completed.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[project_replace = KindReplace]
    enum Kind<F, B> {
        Inner { #[pin] future: F },
        Ready { response: Option<Response<GatewayBody<B>>> },
        Done,
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn ready(response: Response<GatewayBody<B>>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    /// Whether the future has returned its response (`futures`'
    /// `FusedFuture::is_terminated`).
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        matches!(self.kind, Kind::Done)
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("terminated", &self.is_terminated())
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<GatewayBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        let output = match kind.as_mut().project() {
            KindProj::Inner { future } => {
                std::task::ready!(future.poll(cx)).map(|response| response.map(GatewayBody::new))
            }
            KindProj::Ready { response } => match response.take() {
                Some(response) => Ok(response),
                None => return Poll::Pending,
            },
            KindProj::Done => {
                tracing::warn!("ResponseFuture polled after completion");
                return Poll::Pending;
            }
        };
        kind.project_replace(Kind::Done);
        Poll::Ready(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    type Fut = ResponseFuture<std::future::Ready<Result<Response<()>, ()>>, ()>;

    fn poll(future: Pin<&mut Fut>) -> Poll<Result<Response<GatewayBody<()>>, ()>> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_completed_future_is_pending_for_ever_and_never_polls_its_inner_future_again() {
        // `std::future::Ready` panics when polled twice: it must not be.
        let mut inner = std::pin::pin!(Fut::inner(std::future::ready(Ok(Response::new(())))));
        assert!(matches!(poll(inner.as_mut()), Poll::Ready(Ok(_))));
        assert!(inner.is_terminated());
        assert!(poll(inner.as_mut()).is_pending());
        assert!(poll(inner.as_mut()).is_pending());

        let mut ready = std::pin::pin!(Fut::ready(Response::new(GatewayBody::empty())));
        assert!(!ready.is_terminated());
        assert!(matches!(poll(ready.as_mut()), Poll::Ready(Ok(_))));
        assert!(ready.is_terminated());
        assert!(poll(ready.as_mut()).is_pending());
    }
}
