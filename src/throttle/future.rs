//! The response future of the throttle and usage-plan layers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::service::Budget;
use crate::body::GatewayBody;
use crate::identity::RequestId;
use crate::problem::{GatewayResponses, Rejection};

/// What a layer decided once its store answered.
// Made once per asynchronous check and moved once: boxing would cost more.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Verdict<ReqBody> {
    /// Pass the request on; add these headers to the response.
    Admit {
        request: Request<ReqBody>,
        budget: Option<Budget>,
    },
    /// Answer with a rejection.
    Reject {
        responses: GatewayResponses,
        rejection: Box<Rejection>,
        typed: Typed,
        request_id: RequestId,
    },
}

/// The layer's typed rejection, for the response extensions.
pub(crate) enum Typed {
    Throttle(super::ThrottleRejection),
    #[cfg(feature = "usage-plan")]
    UsagePlan(crate::usage_plan::UsagePlanRejection),
}

impl From<super::ThrottleRejection> for Typed {
    fn from(rejection: super::ThrottleRejection) -> Self {
        Self::Throttle(rejection)
    }
}

#[cfg(feature = "usage-plan")]
impl From<crate::usage_plan::UsagePlanRejection> for Typed {
    fn from(rejection: crate::usage_plan::UsagePlanRejection) -> Self {
        Self::UsagePlan(rejection)
    }
}

impl Typed {
    fn insert_into(self, extensions: &mut http::Extensions) {
        match self {
            Self::Throttle(rejection) => {
                extensions.insert(rejection);
            }
            #[cfg(feature = "usage-plan")]
            Self::UsagePlan(rejection) => {
                extensions.insert(rejection);
            }
        }
    }
}

pub(crate) type Pending<ReqBody> = Pin<Box<dyn Future<Output = Verdict<ReqBody>> + Send>>;

pin_project! {
    /// The response future of [`TokenBucketThrottle`](super::TokenBucketThrottle)
    /// and [`UsagePlan`](crate::usage_plan::UsagePlan): the inner service's
    /// future (adding budget headers when enabled), a rejection ready at
    /// once, or, with an asynchronous store, the store's answer first.
    pub struct ResponseFuture<S, ReqBody, B>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        kind: Kind<S, ReqBody, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, ReqBody, B>
    where
        S: Service<Request<ReqBody>>,
    {
        // Admitted without headers to add: the common case, kept apart so
        // that its poll is a plain map of the inner future's.
        Plain { #[pin] future: S::Future },
        Waiting { check: Pending<ReqBody>, service: Option<S> },
        Inner { #[pin] future: S::Future, budget: Option<Budget> },
        Ready { response: Option<Response<GatewayBody<B>>> },
    }
}

impl<S, ReqBody, B> ResponseFuture<S, ReqBody, B>
where
    S: Service<Request<ReqBody>>,
{
    #[inline]
    pub(crate) fn inner(future: S::Future, budget: Option<Budget>) -> Self {
        let kind = match budget {
            None => Kind::Plain { future },
            // Inline: two header values, cheaper to move than to allocate.
            Some(budget) => Kind::Inner {
                future,
                budget: Some(budget),
            },
        };
        Self { kind }
    }

    pub(crate) fn ready(response: Response<GatewayBody<B>>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    /// Waits for `check`, then calls `service` (already ready) or rejects.
    pub(crate) fn waiting(check: Pending<ReqBody>, service: S) -> Self {
        Self {
            kind: Kind::Waiting {
                check,
                service: Some(service),
            },
        }
    }
}

impl<S, ReqBody, B> fmt::Debug for ResponseFuture<S, ReqBody, B>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, B> Future for ResponseFuture<S, ReqBody, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
{
    type Output = Result<Response<GatewayBody<B>>, S::Error>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let KindProj::Plain { future } = self.as_mut().project().kind.project() {
            return future
                .poll(cx)
                .map(|result| result.map(|response| response.map(GatewayBody::new)));
        }
        self.poll_other(cx)
    }
}

impl<S, ReqBody, B> ResponseFuture<S, ReqBody, B>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
{
    /// Every state but [`Kind::Plain`].
    #[inline(never)]
    fn poll_other(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Response<GatewayBody<B>>, S::Error>> {
        loop {
            match self.as_mut().project().kind.project() {
                KindProj::Waiting { check, service } => {
                    let verdict = ready!(check.as_mut().poll(cx));
                    match verdict {
                        Verdict::Admit { request, budget } => {
                            let Some(mut service) = service.take() else {
                                return Poll::Pending;
                            };
                            let future = service.call(request);
                            self.as_mut()
                                .project()
                                .kind
                                .set(Kind::Inner { future, budget });
                        }
                        Verdict::Reject {
                            responses,
                            rejection,
                            typed,
                            request_id,
                        } => {
                            let mut response: Response<GatewayBody<B>> =
                                responses.render(&rejection, Some(&request_id));
                            typed.insert_into(response.extensions_mut());
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                KindProj::Inner { future, budget } => {
                    let mut response = ready!(future.poll(cx))?.map(GatewayBody::new);
                    if let Some(budget) = budget.take() {
                        budget.insert_into(response.headers_mut());
                    }
                    return Poll::Ready(Ok(response));
                }
                KindProj::Ready { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        // Polled after completion: never panic in a layer.
                        None => Poll::Pending,
                    };
                }
                KindProj::Plain { future } => {
                    return future
                        .poll(cx)
                        .map(|result| result.map(|response| response.map(GatewayBody::new)));
                }
            }
        }
    }
}
