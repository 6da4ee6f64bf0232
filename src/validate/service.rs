use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use serde_json::Value;
use tower_service::Service;

use super::body::{ReadError, parse, read_limited};
use super::error::{RejectionKind, ValidationRejection, Violation};
use super::layer::{CompiledRoute, Shared};
use super::model::CompiledModel;
use super::params::missing;
use crate::body::GatewayBody;
use crate::future::ResponseFuture as SyncFuture;
use crate::identity::RequestId;
use crate::route::RouteMatch;

/// The parsed JSON body of a request that passed its model, in request
/// extensions: handlers read it instead of parsing the body again (the body
/// bytes are handed on unchanged too). Cheap to clone.
///
/// With the `axum` feature it is an extractor; without the layer in front,
/// extracting it answers a 500 naming `RequestValidatorLayer`.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedBody(Arc<Value>);

impl ValidatedBody {
    /// The parsed body.
    #[must_use]
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// The shared parsed body.
    #[must_use]
    pub fn into_inner(self) -> Arc<Value> {
        self.0
    }
}

impl Deref for ValidatedBody {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0
    }
}

/// The service of [`RequestValidatorLayer`](super::RequestValidatorLayer).
///
/// The inner service receives `Request<GatewayBody<B>>`: the original body
/// untouched when it was not read, or the exact bytes that were validated.
pub struct RequestValidator<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> RequestValidator<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl<S: Clone> Clone for RequestValidator<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for RequestValidator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestValidator")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// The response future of [`RequestValidator`]: decided at once (no body
    /// to read), or boxed while the body is read and checked.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Sync { #[pin] future: SyncFuture<F, B> },
        Boxed { future: BoxFuture<Result<Response<GatewayBody<B>>, E>> },
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
            KindProj::Sync { future } => future.poll(cx),
            KindProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

/// The media type of a request: the `Content-Type` essence (compare it
/// case-insensitively); `application/json` when there is none (API
/// Gateway's default).
fn media_type(headers: &HeaderMap) -> &str {
    headers.get(CONTENT_TYPE).map_or("application/json", |v| {
        v.to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
    })
}

fn is_json(media_type: &str) -> bool {
    let suffix = media_type
        .len()
        .checked_sub(5)
        .and_then(|i| media_type.get(i..));
    media_type.eq_ignore_ascii_case("application/json")
        || suffix.is_some_and(|s| s.eq_ignore_ascii_case("+json"))
}

fn declared_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

impl Shared {
    /// The rejection response for `rejection`, with the request's id.
    fn reject<B>(
        &self,
        rejection: &ValidationRejection,
        parts: &Parts,
    ) -> Response<GatewayBody<B>> {
        self.counters.rejected(rejection.kind());
        let id = RequestId::find(&parts.extensions, &parts.headers).unwrap_or_default();
        let mut response = self.responses.render(&rejection.to_rejection(), Some(&id));
        response.extensions_mut().insert(rejection.clone());
        response
    }

    /// `Some(response)` to reject; `None` when shadow mode lets it through.
    /// (A body over the size limit never comes here: it is always rejected.)
    fn fail<B>(
        &self,
        rejection: &ValidationRejection,
        parts: &Parts,
        matched: Option<&RouteMatch>,
    ) -> Option<Response<GatewayBody<B>>> {
        let route = matched.map(|m| m.route_key().to_string());
        if self.shadow {
            self.counters.shadowed(rejection.kind());
            tracing::warn!(
                route = route.as_deref().unwrap_or("-"),
                kind = ?rejection.kind(),
                missing = rejection.missing_parameters().len(),
                violations = rejection.violations().len(),
                "request validation failed (shadow mode: let through)"
            );
            return None;
        }
        tracing::debug!(
            route = route.as_deref().unwrap_or("-"),
            kind = ?rejection.kind(),
            "request validation failed"
        );
        Some(self.reject(rejection, parts))
    }

    /// Checks a body that was read.
    fn check_body<B>(
        &self,
        bytes: &[u8],
        model: &CompiledModel,
        parts: &Parts,
        matched: Option<&RouteMatch>,
    ) -> Checked<B> {
        let failed = match parse(bytes, self.max_depth) {
            Ok(value) => {
                let (violations, truncated) = model.violations(&value, self.max_violations);
                if violations.is_empty() {
                    return Checked::Valid(value);
                }
                ValidationRejection::body(
                    RejectionKind::InvalidBody,
                    violations,
                    truncated,
                    Some(model.name()),
                )
            }
            Err((kind, violation)) => {
                ValidationRejection::body(kind, vec![violation], false, Some(model.name()))
            }
        };
        match self.fail(&failed, parts, matched) {
            Some(response) => Checked::Rejected(response),
            None => Checked::LetThrough,
        }
    }
}

/// The outcome of checking a body.
enum Checked<B> {
    /// It matches its model.
    Valid(Value),
    /// Nothing to check (an optional empty body), or it failed in shadow mode.
    LetThrough,
    Rejected(Response<GatewayBody<B>>),
}

/// What `call` decided before any body is read.
enum Decision<'a, B> {
    Pass,
    Reject(Response<GatewayBody<B>>),
    /// Read the body and check it against `model`.
    ReadBody {
        model: &'a Arc<CompiledModel>,
        /// The parameters already failed (in shadow mode).
        params_failed: bool,
        /// An empty body passes unchecked.
        optional: bool,
    },
}

fn decide<'a, B, ReqBody: Body>(
    shared: &Shared,
    route: &'a CompiledRoute,
    parts: &Parts,
    body: &ReqBody,
    matched: &RouteMatch,
) -> Decision<'a, B> {
    let mut failed = false;
    if route.validator.parameters() && !route.parameters.is_empty() {
        let missing = missing(&route.parameters, parts, Some(matched));
        if !missing.is_empty() {
            let rejection = ValidationRejection::missing(missing);
            match shared.fail(&rejection, parts, Some(matched)) {
                Some(response) => return Decision::Reject(response),
                None => failed = true,
            }
        }
    }
    if !route.validator.body() {
        return pass(shared, failed);
    }
    let media_type = media_type(&parts.headers);
    if route.require_json && !is_json(media_type) {
        let rejection = ValidationRejection::new(RejectionKind::UnsupportedMediaType);
        return match shared.fail(&rejection, parts, Some(matched)) {
            Some(response) => Decision::Reject(response),
            None => pass(shared, true),
        };
    }
    let Some(model) = route.model_for(media_type) else {
        return pass(shared, failed);
    };
    let limit = shared.max_body_bytes as u64;
    if declared_length(parts).is_some_and(|n| n > limit) || body.size_hint().lower() > limit {
        let rejection = ValidationRejection::new(RejectionKind::TooLarge);
        return Decision::Reject(shared.reject(&rejection, parts));
    }
    Decision::ReadBody {
        model,
        params_failed: failed,
        optional: route.body_optional,
    }
}

fn pass<B>(shared: &Shared, failed: bool) -> Decision<'static, B> {
    if !failed {
        shared.counters.passed();
    }
    Decision::Pass
}

impl<S, B, ResBody> Service<Request<B>> for RequestValidator<S>
where
    S: Service<Request<GatewayBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Send + 'static,
{
    type Response = Response<GatewayBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let shared = Arc::clone(&self.shared);
        let Some((route, matched)) = shared.routes.lookup_request(&parts) else {
            return sync(
                self.inner
                    .call(Request::from_parts(parts, GatewayBody::new(body))),
            );
        };
        shared.counters.checked();
        let (model, failed, optional) = match decide(&shared, route, &parts, &body, &matched) {
            Decision::Pass => {
                return sync(
                    self.inner
                        .call(Request::from_parts(parts, GatewayBody::new(body))),
                );
            }
            Decision::Reject(response) => {
                return ResponseFuture {
                    kind: Kind::Sync {
                        future: SyncFuture::ready(response),
                    },
                };
            }
            Decision::ReadBody {
                model,
                params_failed,
                optional,
            } => (Arc::clone(model), params_failed, optional),
        };
        // The ready service goes into the future; a fresh clone stays here.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let future = async move {
            let bytes = match read_limited(body, shared.max_body_bytes).await {
                Ok(bytes) => bytes,
                Err(ReadError::TooLarge) => {
                    let rejection = ValidationRejection::new(RejectionKind::TooLarge);
                    return Ok(shared.reject(&rejection, &parts));
                }
                Err(ReadError::Failed) => {
                    let rejection = ValidationRejection::body(
                        RejectionKind::MalformedJson,
                        vec![Violation::syntax("", "request body could not be read")],
                        false,
                        Some(model.name()),
                    );
                    return Ok(shared.reject(&rejection, &parts));
                }
            };
            let checked = if optional && bytes.is_empty() {
                if !failed {
                    shared.counters.passed();
                }
                Checked::LetThrough
            } else {
                shared.check_body(&bytes, &model, &parts, Some(&matched))
            };
            match checked {
                Checked::Valid(value) => {
                    if !failed {
                        shared.counters.passed();
                    }
                    parts.extensions.insert(ValidatedBody(Arc::new(value)));
                }
                Checked::LetThrough => {}
                Checked::Rejected(response) => return Ok(response),
            }
            let request = Request::from_parts(parts, GatewayBody::full(bytes));
            inner
                .call(request)
                .await
                .map(|response| response.map(GatewayBody::new))
        };
        ResponseFuture {
            kind: Kind::Boxed {
                future: Box::pin(future),
            },
        }
    }
}

fn sync<F, B, E>(future: F) -> ResponseFuture<F, B, E> {
    ResponseFuture {
        kind: Kind::Sync {
            future: SyncFuture::inner(future),
        },
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::ValidatedBody;
    use crate::identity::RequestId;
    use crate::problem::{GatewayResponseType, GatewayResponses, Rejection};

    /// The rejection of the [`ValidatedBody`] extractor when no
    /// `RequestValidatorLayer` validated the request: a 500
    /// `API_CONFIGURATION_ERROR` problem naming the layer.
    #[derive(Debug)]
    pub struct MissingValidatedBody {
        request_id: Option<RequestId>,
    }

    impl IntoResponse for MissingValidatedBody {
        fn into_response(self) -> Response {
            tracing::error!("handler extracted a ValidatedBody that no layer set");
            let rejection = Rejection::new(GatewayResponseType::ApiConfigurationError)
                .with_problem_type("urn:apigw:problem:api-configuration-error:missing-extension")
                .with_detail(
                    "`ValidatedBody` is missing: add `RequestValidatorLayer` with a model for this route",
                );
            GatewayResponses::default()
                .render(&rejection, Some(&self.request_id.unwrap_or_default()))
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for ValidatedBody {
        type Rejection = MissingValidatedBody;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<ValidatedBody>()
                .cloned()
                .ok_or_else(|| MissingValidatedBody {
                    request_id: RequestId::find(&parts.extensions, &parts.headers),
                })
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for ValidatedBody {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<ValidatedBody>().cloned())
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::MissingValidatedBody;
