use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::request::Parts;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use regex::Regex;
use serde_json::Value;
use tower_service::Service;

use super::authorize::{Authorize, AuthorizeError, AuthorizerResponse, ResponseKind};
use super::cache::{CacheKey, Decision, Joined, Outcome, ResultCache, Verdict};
use super::convert::{self, EventInput};
use super::error::{LambdaAuthorizerRejection, MAX_METHOD_ARN_LEN};
use super::identity_source::{ContextVariable, Environment, IdentitySource};
use super::policy::{BoundPolicy, CachedPolicy, CompiledPolicy, PolicyDecision};
use crate::body::GatewayBody;
use crate::clock::SharedClock;
use crate::events::authorizer::AuthorizerRequest;
use crate::identity::{AuthorizerContext, RequestId};
use crate::problem::GatewayResponses;
use crate::route::{DEFAULT_STAGE, RouteMatch};

/// Which event the authorizer receives and which answer it must give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// REST `TOKEN`: IAM policy.
    Token,
    /// REST `REQUEST`: IAM policy.
    RestRequest,
    /// HTTP API payload 1.0: IAM policy.
    HttpV1,
    /// HTTP API payload 2.0: simple response or IAM policy.
    HttpV2 { simple: bool },
}

impl Flavor {
    /// Payload 1.0: context values must be strings, numbers or booleans.
    fn scalar_context(self) -> bool {
        !matches!(self, Self::HttpV2 { .. })
    }

    /// Whether a missing identity source is refused even with caching off
    /// (TOKEN and HTTP APIs; REST REQUEST only requires them when caching).
    fn always_requires_sources(self) -> bool {
        !matches!(self, Self::RestRequest)
    }
}

/// Everything `build()` validated.
pub(crate) struct Settings {
    pub(crate) flavor: Flavor,
    pub(crate) sources: Vec<IdentitySource>,
    pub(crate) validation: Option<Regex>,
    pub(crate) ttl: Duration,
    pub(crate) timeout: Duration,
    /// `arn:aws:execute-api:{region}:{account}:{apiId}/`.
    pub(crate) arn_prefix: String,
    /// What every method ARN starts with: [`arn_prefix`](Self::arn_prefix),
    /// then `{stage}/` when the stage is configured. Cached policies are
    /// bound to it ([`BoundPolicy`]), so a hit matches only the rest.
    pub(crate) policy_prefix: String,
    pub(crate) account_id: String,
    pub(crate) api_id: String,
    pub(crate) stage: Option<String>,
    pub(crate) stage_variables: HashMap<String, String>,
    pub(crate) responses: GatewayResponses,
    pub(crate) www_authenticate: HeaderValue,
    pub(crate) clock: SharedClock,
    /// Whether an identity source reads the route (so the hit path must
    /// build a `RouteMatch` from axum's `MatchedPath`).
    pub(crate) sources_need_route: bool,
}

impl Settings {
    fn caching(&self) -> bool {
        !self.ttl.is_zero()
    }

    fn env<'a>(&'a self, route: Option<&'a RouteMatch>) -> Environment<'a> {
        Environment {
            stage: self
                .stage
                .as_deref()
                .or_else(|| route.map(RouteMatch::stage))
                .unwrap_or(DEFAULT_STAGE),
            api_id: &self.api_id,
            account_id: &self.account_id,
            stage_variables: &self.stage_variables,
        }
    }

    /// The length of [`method_arn`](Self::method_arn), without building it.
    fn method_arn_len(&self, parts: &Parts, stage: &str) -> usize {
        if parts.extensions.get::<WebSocketConnect>().is_some() {
            return self.arn_prefix.len() + stage.len() + CONNECT_ROUTE.len() + 1;
        }
        let path = parts.uri.path();
        self.arn_prefix.len()
            + stage.len()
            + parts.method.as_str().len()
            + path.strip_prefix('/').unwrap_or(path).len()
            + 2
    }

    fn method_arn(&self, parts: &Parts, stage: &str) -> String {
        let mut arn = String::with_capacity(self.method_arn_len(parts, stage));
        self.push_method_arn(&mut arn, parts, stage);
        arn
    }

    /// Appends this request's method ARN to `arn`: `{prefix}{stage}/{VERB}/{path}`,
    /// or `{prefix}{stage}/$connect` for a WebSocket `$connect` ([`WebSocketConnect`]).
    fn push_method_arn(&self, arn: &mut String, parts: &Parts, stage: &str) {
        arn.push_str(&self.policy_prefix);
        self.push_method_arn_tail(arn, parts, stage);
    }

    /// Appends what follows [`policy_prefix`](Self::policy_prefix) in this
    /// request's method ARN: `{stage}/` unless the stage is configured, then
    /// `{VERB}/{path}` or `$connect`.
    fn push_method_arn_tail(&self, tail: &mut String, parts: &Parts, stage: &str) {
        if self.stage.is_none() {
            tail.push_str(stage);
            tail.push('/');
        }
        if parts.extensions.get::<WebSocketConnect>().is_some() {
            tail.push_str(CONNECT_ROUTE);
        } else {
            convert::push_method_arn_tail(tail, parts.method.as_str(), parts.uri.path());
        }
    }
}

/// The route key of a WebSocket API's connection request.
pub(crate) const CONNECT_ROUTE: &str = "$connect";

/// A request extension the WebSocket endpoint adds for its `$connect`
/// authorizer: the method ARN a policy is judged against is
/// `…/{stage}/$connect`, as API Gateway's, and the REQUEST event has API
/// Gateway's WebSocket shape (`connectionId`, `connectedAt`, `routeKey`,
/// `eventType`).
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "websocket"), allow(dead_code))]
pub(crate) struct WebSocketConnect {
    pub(crate) connection_id: String,
    pub(crate) connected_at: i64,
}

pub(crate) struct Shared<A> {
    pub(crate) authorizer: A,
    pub(crate) settings: Settings,
    pub(crate) cache: Arc<ResultCache>,
}

impl<A> fmt::Debug for Shared<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaAuthorizer")
            .field("flavor", &self.settings.flavor)
            .field("identity_sources", &self.settings.sources)
            .field("ttl", &self.settings.ttl)
            .field("timeout", &self.settings.timeout)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Runs a custom authorizer in front of the inner service, with API
/// Gateway's identity sources, result cache and policy evaluation. Made by
/// [`LambdaAuthorizerCacheLayer`](super::LambdaAuthorizerCacheLayer); see the
/// [module docs](super).
pub struct LambdaAuthorizerCache<S, A> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared<A>>,
}

impl<S: Clone, A> Clone for LambdaAuthorizerCache<S, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, A> fmt::Debug for LambdaAuthorizerCache<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaAuthorizerCache")
            .field("inner", &self.inner)
            .field("authorizer", &self.shared)
            .finish()
    }
}

type BoxResponseFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<GatewayBody<B>>, E>> + Send + 'static>>;

pin_project! {
    /// The response future of [`LambdaAuthorizerCache`]: decided at once on
    /// a cache hit or a rejection before any call, boxed only while an
    /// authorizer call is awaited.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Decided { #[pin] future: crate::future::ResponseFuture<F, B> },
        Authorizing { future: BoxResponseFuture<B, E> },
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
            KindProj::Authorizing { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    fn inner(future: F) -> Self {
        Self {
            kind: Kind::Decided {
                future: crate::future::ResponseFuture::inner(future),
            },
        }
    }

    fn ready(response: Response<GatewayBody<B>>) -> Self {
        Self {
            kind: Kind::Decided {
                future: crate::future::ResponseFuture::ready(response),
            },
        }
    }
}

impl<A: Authorize> Shared<A> {
    fn reject<ReqBody, B>(
        &self,
        kind: LambdaAuthorizerRejection,
        request: &Request<ReqBody>,
    ) -> Response<GatewayBody<B>> {
        let rejection = kind.rejection(&self.settings.www_authenticate);
        let mut response = self.settings.responses.reject(&rejection, request);
        crate::observe::record(request.extensions(), |observed| {
            observed.authorizer_error = Some(format!("{kind}"));
        });
        response.extensions_mut().insert(kind);
        response
    }

    /// The cache key of the request's identity, checking presence and the
    /// TOKEN validation expression. `None` for the key when an optional
    /// source is missing (caching off).
    fn identify(
        &self,
        parts: &Parts,
        route: Option<&RouteMatch>,
        key: &mut Vec<u8>,
    ) -> Result<(), LambdaAuthorizerRejection> {
        let settings = &self.settings;
        let env = settings.env(route);
        if settings.method_arn_len(parts, env.stage) > MAX_METHOD_ARN_LEN {
            return Err(LambdaAuthorizerRejection::MethodArnTooLong);
        }
        let required = settings.caching() || settings.flavor.always_requires_sources();
        for source in &settings.sources {
            match source.resolve(parts, route, &env) {
                Some(value) if !value.is_empty() => {
                    if let Some(regex) = &settings.validation
                        && !regex.is_match(&value)
                    {
                        return Err(LambdaAuthorizerRejection::IdentityValidationFailed);
                    }
                    CacheKey::encode(key, &value);
                }
                _ if required => return Err(LambdaAuthorizerRejection::MissingIdentitySource),
                _ => {}
            }
        }
        Ok(())
    }

    /// Applies a decision to one request.
    fn judge(
        &self,
        decision: &Decision,
        parts: &Parts,
        route: Option<&RouteMatch>,
    ) -> Result<(), LambdaAuthorizerRejection> {
        match &decision.verdict {
            Verdict::Simple(true) => Ok(()),
            Verdict::Simple(false) => Err(LambdaAuthorizerRejection::NotAuthorized),
            Verdict::Policy(policy) => {
                // The policy is bound to the ARN's fixed prefix: only the
                // rest is matched.
                let websocket = parts.extensions.get::<WebSocketConnect>().is_some();
                let decision = match (policy.for_method(&parts.method), policy.any()) {
                    // `{prefix}{VERB}/` is bound too: the path is the rest.
                    (Some(bound), _) if !websocket => {
                        let path = parts.uri.path();
                        bound.evaluate(path.strip_prefix('/').unwrap_or(path))
                    }
                    (_, BoundPolicy::Always(decision)) => *decision,
                    (_, bound) => {
                        let stage = self.settings.env(route).stage;
                        // The rest is built in this thread's buffer.
                        with_buffer(&ARN_BUFFER, String::clear, |tail| {
                            self.settings.push_method_arn_tail(tail, parts, stage);
                            bound.evaluate(tail)
                        })
                    }
                };
                match decision {
                    PolicyDecision::Allow => Ok(()),
                    PolicyDecision::ExplicitDeny => Err(LambdaAuthorizerRejection::ExplicitDeny),
                    PolicyDecision::ImplicitDeny => Err(LambdaAuthorizerRejection::ImplicitDeny),
                }
            }
        }
    }

    /// The authorizer event for this request.
    fn event(
        &self,
        parts: &Parts,
        route: Option<&RouteMatch>,
        request_id: &str,
    ) -> AuthorizerRequest {
        let settings = &self.settings;
        let env = settings.env(route);
        let identity_values = settings
            .sources
            .iter()
            .filter_map(|source| source.resolve(parts, route, &env))
            .filter(|value| !value.is_empty())
            .map(Cow::into_owned)
            .collect();
        let input = EventInput {
            parts,
            route,
            env: &env,
            method_arn: settings.method_arn(parts, env.stage),
            identity_values,
            request_id,
            unix_time: settings.clock.unix_time(),
        };
        match settings.flavor {
            Flavor::Token => convert::token_event(input).into(),
            Flavor::RestRequest => convert::request_v1_event(input, false).into(),
            Flavor::HttpV1 => convert::request_v1_event(input, true).into(),
            Flavor::HttpV2 { .. } => convert::request_v2_event(input).into(),
        }
    }

    /// Calls the authorizer (with the timeout) and settles its answer into
    /// a decision and how long it may be cached.
    async fn call_authorizer(
        &self,
        event: AuthorizerRequest,
    ) -> Result<(Arc<Decision>, Duration), LambdaAuthorizerRejection> {
        let answer =
            match tokio::time::timeout(self.settings.timeout, self.authorizer.authorize(event))
                .await
            {
                Ok(answer) => answer,
                Err(_) => Err(AuthorizeError::Timeout),
            };
        match answer {
            Ok(response) => self.settle(response),
            Err(AuthorizeError::Unauthorized) => Err(LambdaAuthorizerRejection::Unauthorized),
            Err(AuthorizeError::Timeout) => {
                tracing::warn!(timeout = ?self.settings.timeout, "the custom authorizer timed out");
                Err(LambdaAuthorizerRejection::Timeout)
            }
            Err(AuthorizeError::Malformed(why)) => {
                tracing::warn!(%why, "the custom authorizer's answer is invalid");
                Err(LambdaAuthorizerRejection::InvalidResponse)
            }
            Err(AuthorizeError::Failed(error)) => {
                tracing::warn!(%error, "the custom authorizer failed");
                Err(LambdaAuthorizerRejection::AuthorizerError)
            }
        }
    }

    /// Checks an answer against the configured response format and compiles it.
    fn settle(
        &self,
        response: AuthorizerResponse,
    ) -> Result<(Arc<Decision>, Duration), LambdaAuthorizerRejection> {
        let invalid = |why: &str| {
            tracing::warn!(why, "the custom authorizer's answer is invalid");
            LambdaAuthorizerRejection::InvalidResponse
        };
        let flavor = self.settings.flavor;
        let ttl = response
            .ttl
            .map_or(self.settings.ttl, |ttl| ttl.min(self.settings.ttl));
        let decision = match (response.kind, flavor) {
            (ResponseKind::Simple(simple), Flavor::HttpV2 { simple: true }) => Decision {
                verdict: Verdict::Simple(simple.is_authorized),
                context: AuthorizerContext::new(None, simple.context.unwrap_or_default(), None),
            },
            (ResponseKind::Simple(_), _) => {
                return Err(invalid("a simple response where an IAM policy is required"));
            }
            (ResponseKind::Policy(_), Flavor::HttpV2 { simple: true }) => {
                return Err(invalid("an IAM policy where a simple response is required"));
            }
            (ResponseKind::Policy(policy), _) => {
                let context = policy.context.unwrap_or_default();
                if flavor.scalar_context()
                    && !context
                        .values()
                        .all(|v| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)))
                {
                    return Err(invalid(
                        "a 1.0 context value is not a string, number or boolean",
                    ));
                }
                let compiled = CompiledPolicy::compile(&policy.policy_document)
                    .map_err(|error| invalid(&error.to_string()))?;
                // With the stage configured, the method follows the prefix.
                let per_method = self.settings.stage.is_some();
                let bound = CachedPolicy::new(&compiled, &self.settings.policy_prefix, per_method);
                Decision {
                    verdict: Verdict::Policy(self.cache.intern(bound)),
                    context: AuthorizerContext::new(
                        Some(policy.principal_id),
                        context,
                        policy.usage_identifier_key,
                    ),
                }
            }
        };
        Ok((Arc::new(decision), ttl))
    }

    /// The decision for a miss: through the single-flight table when
    /// caching, else a direct call.
    fn decide(self: &Arc<Self>, key: Vec<u8>, event: AuthorizerRequest) -> DecisionFuture {
        if !self.settings.caching() {
            let shared = Arc::clone(self);
            return Box::pin(async move { shared.call_authorizer(event).await.map(|(d, _)| d) });
        }
        let now = self.settings.clock.now();
        let shared = Arc::clone(self);
        let joined = self
            .cache
            .join_or_start(CacheKey::from_encoded(key), now, move |ticket| {
                Box::pin(async move {
                    let outcome = shared.call_authorizer(event).await;
                    match outcome {
                        Ok((decision, ttl)) => {
                            if !ttl.is_zero() {
                                let expires_at = shared.settings.clock.now() + ttl;
                                ticket.store(Arc::clone(&decision), expires_at);
                            }
                            drop(ticket);
                            Ok(decision)
                        }
                        Err(rejection) => Err(rejection),
                    }
                })
            });
        match joined {
            Joined::Cached(decision) => Box::pin(std::future::ready(Ok(decision))),
            Joined::Flight(flight) => Box::pin(flight),
        }
    }
}

type DecisionFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

impl<S, A, ReqBody, ResBody> Service<Request<ReqBody>> for LambdaAuthorizerCache<S, A>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    A: Authorize,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<GatewayBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        let (mut parts, body) = request.into_parts();
        let route = if shared.settings.sources_need_route {
            RouteMatch::from_request_parts(&parts)
        } else {
            parts.extensions.get::<RouteMatch>().cloned()
        };

        // The key is built in this thread's buffer; only a miss copies it.
        let looked_up = with_buffer(&KEY_BUFFER, Vec::clear, |key| {
            shared.identify(&parts, route.as_ref(), key)?;
            if shared.settings.caching()
                && let Some(decision) = shared.cache.get(key, shared.settings.clock.now())
            {
                return Ok(Ok(decision));
            }
            Ok(Err(key.clone()))
        });
        let key = match looked_up {
            Ok(Err(key)) => key,
            Err(kind) => {
                let request = Request::from_parts(parts, body);
                return ResponseFuture::ready(shared.reject(kind, &request));
            }
            Ok(Ok(decision)) => {
                let verdict = shared.judge(&decision, &parts, route.as_ref());
                return match verdict {
                    Ok(()) => {
                        crate::observe::insert(&mut parts.extensions, decision.context.clone());
                        ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)))
                    }
                    Err(kind) => {
                        let request = Request::from_parts(parts, body);
                        ResponseFuture::ready(shared.reject(kind, &request))
                    }
                };
            }
        };

        // A miss: build the event now, await the authorizer in a boxed future.
        let route = route.or_else(|| RouteMatch::from_request_parts(&parts));
        let request_id = RequestId::find(&parts.extensions, &parts.headers).unwrap_or_default();
        parts.extensions.insert(request_id.clone());
        let event = shared.event(&parts, route.as_ref(), request_id.as_str());
        let decision = shared.decide(key, event);
        let shared = Arc::clone(shared);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            kind: Kind::Authorizing {
                future: Box::pin(async move {
                    let verdict = match decision.await {
                        Ok(decision) => shared
                            .judge(&decision, &parts, route.as_ref())
                            .map(|()| decision),
                        Err(kind) => Err(kind),
                    };
                    match verdict {
                        Ok(decision) => {
                            crate::observe::insert(&mut parts.extensions, decision.context.clone());
                            let response = inner.call(Request::from_parts(parts, body)).await?;
                            Ok(response.map(GatewayBody::new))
                        }
                        Err(kind) => Ok(shared.reject(kind, &Request::from_parts(parts, body))),
                    }
                }),
            },
        }
    }
}

thread_local! {
    /// Each thread's buffers for a hit's cache key and method ARN tail.
    static KEY_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static ARN_BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` with this thread's `buffer`, emptied with `clear`; with a fresh
/// one if re-entered.
fn with_buffer<T: Default, R>(
    buffer: &'static std::thread::LocalKey<RefCell<T>>,
    clear: fn(&mut T),
    f: impl FnOnce(&mut T) -> R,
) -> R {
    buffer.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            clear(&mut buffer);
            f(&mut buffer)
        }
        Err(_) => f(&mut T::default()),
    })
}

/// Whether any identity source reads the matched route.
pub(crate) fn sources_need_route(sources: &[IdentitySource]) -> bool {
    sources.iter().any(|source| {
        matches!(
            source,
            IdentitySource::Context(ContextVariable::RouteKey | ContextVariable::ResourcePath)
        )
    })
}
