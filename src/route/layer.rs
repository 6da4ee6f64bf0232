use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::RouteTable;
use crate::body::GatewayBody;
use crate::future::ResponseFuture;
use crate::problem::{GatewayResponseType, GatewayResponses, Rejection};

/// What a request that matches no route is answered with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unmatched {
    /// 403 `MISSING_AUTHENTICATION_TOKEN`, as API Gateway's REST APIs answer
    /// (it does not reveal which paths exist). Default.
    #[default]
    MissingAuthenticationToken,
    /// 404 `RESOURCE_NOT_FOUND`, as HTTP APIs answer.
    NotFound,
    /// Pass the request on without a [`RouteMatch`](super::RouteMatch), for a
    /// router behind that has its own fallback.
    PassThrough,
}

/// Matches each request once against a [`RouteTable`] and inserts the
/// [`RouteMatch`](super::RouteMatch), so the layers after it and the handler
/// share one match. A request that matches no route is answered as
/// [`Unmatched`] says. See [`MatchRoute`].
///
/// ```
/// use apigw::route::{MatchRouteLayer, RouteMatch, RouteTable};
/// use axum::{Router, routing::get};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let table = RouteTable::builder().route("GET /orders/{id}", ())?.build()?;
/// let app = Router::new()
///     .route("/orders/{id}", get(|m: RouteMatch| async move { m.route_key().to_string() }))
///     .layer(MatchRouteLayer::new(table));
///
/// let ok = app.clone().oneshot(http::Request::get("/orders/7").body(axum::body::Body::empty())?).await?;
/// assert_eq!(ok.status(), 200);
///
/// let unknown = app.oneshot(http::Request::get("/nope").body(axum::body::Body::empty())?).await?;
/// assert_eq!(unknown.status(), 403); // MISSING_AUTHENTICATION_TOKEN, as API Gateway
/// # Ok(()) }
/// ```
#[must_use]
pub struct MatchRouteLayer<T> {
    inner: Arc<Shared<T>>,
}

struct Shared<T> {
    table: RouteTable<T>,
    unmatched: Unmatched,
    responses: GatewayResponses,
}

impl<T> MatchRouteLayer<T> {
    /// Matches against `table`; unmatched requests get 403
    /// `MISSING_AUTHENTICATION_TOKEN`.
    pub fn new(table: RouteTable<T>) -> Self {
        Self::with_options(table, Unmatched::default(), GatewayResponses::default())
    }

    /// Matches against `table`, answering unmatched requests as `unmatched`
    /// says, with `responses`.
    pub fn with_options(
        table: RouteTable<T>,
        unmatched: Unmatched,
        responses: GatewayResponses,
    ) -> Self {
        Self {
            inner: Arc::new(Shared {
                table,
                unmatched,
                responses,
            }),
        }
    }
}

impl<T> Clone for MatchRouteLayer<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for MatchRouteLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchRouteLayer")
            .field("table", &self.inner.table)
            .field("unmatched", &self.inner.unmatched)
            .finish()
    }
}

impl<S, T> Layer<S> for MatchRouteLayer<T> {
    type Service = MatchRoute<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        MatchRoute {
            inner,
            shared: Arc::clone(&self.inner),
        }
    }
}

/// The service of [`MatchRouteLayer`].
pub struct MatchRoute<S, T> {
    inner: S,
    shared: Arc<Shared<T>>,
}

impl<S: Clone, T> Clone for MatchRoute<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for MatchRoute<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchRoute")
            .field("inner", &self.inner)
            .field("unmatched", &self.shared.unmatched)
            .finish_non_exhaustive()
    }
}

impl<S, T, ReqBody, ResBody> Service<Request<ReqBody>> for MatchRoute<S, T>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<GatewayBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        let matched = self
            .shared
            .table
            .lookup(request.method(), path)
            .map(|(_, m)| m);
        let response_type = match (matched, self.shared.unmatched) {
            (Some(matched), _) => {
                crate::observe::insert(request.extensions_mut(), matched);
                return ResponseFuture::inner(self.inner.call(request));
            }
            (None, Unmatched::PassThrough) => {
                return ResponseFuture::inner(self.inner.call(request));
            }
            (None, Unmatched::MissingAuthenticationToken) => {
                GatewayResponseType::MissingAuthenticationToken
            }
            (None, Unmatched::NotFound) => GatewayResponseType::ResourceNotFound,
        };
        let rejection = Rejection::new(response_type);
        ResponseFuture::ready(self.shared.responses.reject(&rejection, &request))
    }
}
