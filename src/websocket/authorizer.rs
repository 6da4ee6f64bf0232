//! The `$connect` authorizer: any of this crate's authorizer layers
//! ([`JwtAuthorizerLayer`](crate::jwt::JwtAuthorizerLayer),
//! [`LambdaAuthorizerCacheLayer`](crate::lambda_authorizer::LambdaAuthorizerCacheLayer),
//! or any tower layer that rejects with a response) run over the upgrade
//! request.
//!
//! The layer wraps a probe service. A request the layer lets through reaches
//! the probe, which hands back what the layer established ([`JwtClaims`],
//! [`AuthorizerContext`]); any other response is the layer's rejection, and
//! refuses the handshake as it is.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::identity::{AuthorizerContext, JwtClaims};

/// The service an authorizer layer wraps on `$connect`: it answers 200 and
/// carries what the layer put in the request's extensions back in the
/// response's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Probe;

/// What the authorizer established, carried from [`Probe`] back out.
#[derive(Clone, Debug, Default)]
pub(crate) struct Authorized {
    pub(crate) claims: Option<JwtClaims>,
    pub(crate) context: Option<AuthorizerContext>,
}

impl Service<Request<Body>> for Probe {
    type Response = Response;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let authorized = Authorized {
            claims: request.extensions().get::<JwtClaims>().cloned(),
            context: request.extensions().get::<AuthorizerContext>().cloned(),
        };
        let mut response = Response::new(Body::empty());
        response.extensions_mut().insert(authorized);
        std::future::ready(Ok(response))
    }
}

type AuthorizeFuture = Pin<Box<dyn Future<Output = Result<Authorized, Response>> + Send>>;

/// An authorizer layer, type-erased.
pub(crate) trait ConnectAuthorizer: Send + Sync + 'static {
    fn authorize(&self, request: Request<Body>) -> AuthorizeFuture;
}

pub(crate) struct LayerAuthorizer<L>(pub(crate) L);

impl<L> fmt::Debug for LayerAuthorizer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LayerAuthorizer")
    }
}

impl<L, S, B> ConnectAuthorizer for LayerAuthorizer<L>
where
    L: Layer<Probe, Service = S> + Send + Sync + 'static,
    S: Service<Request<Body>, Response = http::Response<B>> + Send + 'static,
    S::Error: fmt::Display + Send,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    fn authorize(&self, request: Request<Body>) -> AuthorizeFuture {
        let mut service = self.0.layer(Probe);
        Box::pin(async move {
            std::future::poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(internal)?;
            let mut response = service.call(request).await.map_err(internal)?;
            match response.extensions_mut().remove::<Authorized>() {
                Some(authorized) => Ok(authorized),
                None => Err(response.map(Body::new)),
            }
        })
    }
}

fn internal(error: impl fmt::Display) -> Response {
    tracing::error!(%error, "the $connect authorizer failed");
    let rejection =
        crate::problem::Rejection::new(crate::problem::GatewayResponseType::AuthorizerFailure);
    crate::problem::GatewayResponses::default().render(&rejection, None)
}
