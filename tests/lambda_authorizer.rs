//! `LambdaAuthorizerCache`: each rule of API Gateway's custom authorizers,
//! with a counting authorizer that proves when it is and is not called.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use apigw::clock::ManualClock;
use apigw::events::authorizer::{
    AuthorizerRequest, Effect, IamPolicyResponse, PolicyDocument, SimpleResponse, Statement,
};
use apigw::identity::AuthorizerContext;
use apigw::integration::{FunctionError, InvokeError};
use apigw::lambda_authorizer::{
    Authorize, AuthorizeError, AuthorizerResponse, AuthorizerType, CacheKey, InvokeAuthorizer,
    LambdaAuthorizerCacheLayer, LambdaAuthorizerCacheLayerBuilder, LambdaAuthorizerConfig,
    LambdaAuthorizerRejection, PayloadFormatVersion, PolicyDecision, ServiceAuthorizer,
    evaluate_policy,
};
use apigw::problem::GatewayResponses;
use apigw::route::{RouteKey, RouteMatch};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt, service_fn};

const ARN_PREFIX: &str = "arn:aws:execute-api:us-east-1:123456789012:api1";

/// Counts calls and records the events the authorizer received.
#[derive(Clone, Default)]
struct Calls {
    count: Arc<AtomicUsize>,
    events: Arc<Mutex<Vec<AuthorizerRequest>>>,
}

impl Calls {
    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn last_event(&self) -> Value {
        let events = self.events.lock().unwrap();
        serde_json::to_value(events.last().expect("the authorizer was called")).unwrap()
    }

    /// An authorizer answering with `answer`, counting its calls.
    fn authorizer<R, F>(&self, answer: F) -> impl Authorize + Clone
    where
        F: Fn(&AuthorizerRequest) -> Result<R, AuthorizeError> + Clone + Send + Sync + 'static,
        R: Into<AuthorizerResponse> + Send + 'static,
    {
        let calls = self.clone();
        move |request: AuthorizerRequest| {
            calls.count.fetch_add(1, Ordering::SeqCst);
            let result = answer(&request);
            calls.events.lock().unwrap().push(request);
            async move { result }
        }
    }
}

fn allow_all(_: &AuthorizerRequest) -> Result<IamPolicyResponse, AuthorizeError> {
    Ok(IamPolicyResponse::allow("alice", "*")
        .with_context("tier", "gold")
        .with_usage_identifier_key("usage-key-1234567890"))
}

fn layer_builder<A: Authorize>(authorizer: A) -> LambdaAuthorizerCacheLayerBuilder<A> {
    LambdaAuthorizerCacheLayer::builder(authorizer)
        .region("us-east-1")
        .account_id("123456789012")
        .api_id("api1")
        .stage("prod")
}

type Backend =
    tower::util::BoxCloneService<Request<Full<Bytes>>, Response<Full<Bytes>>, Infallible>;

/// A backend that echoes the principal it was given and counts requests.
fn backend(hits: Arc<AtomicUsize>) -> Backend {
    tower::util::BoxCloneService::new(service_fn(move |request: Request<Full<Bytes>>| {
        hits.fetch_add(1, Ordering::SeqCst);
        let principal = request
            .extensions()
            .get::<AuthorizerContext>()
            .map(|c| c.principal_id().unwrap_or("<none>").to_owned())
            .unwrap_or_else(|| "<no context>".to_owned());
        async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(principal)))) }
    }))
}

struct Answer {
    status: StatusCode,
    rejection: Option<LambdaAuthorizerRejection>,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn send<S>(service: &S, request: Request<Full<Bytes>>) -> Answer
where
    S: Service<Request<Full<Bytes>>, Response = Response<apigw::body::GatewayBody<Full<Bytes>>>>
        + Clone,
    S::Error: std::fmt::Debug,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let rejection = response
        .extensions()
        .get::<LambdaAuthorizerRejection>()
        .copied();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        rejection,
        headers,
        body,
    }
}

fn get(uri: &str) -> http::request::Builder {
    Request::get(uri)
}

fn with_token(uri: &str, token: &str) -> Request<Full<Bytes>> {
    get(uri)
        .header("authorization", token)
        .body(Full::default())
        .unwrap()
}

// ---------------------------------------------------------------- identity sources

#[tokio::test]
async fn token_missing_header_is_401_without_calling_the_authorizer() {
    let calls = Calls::default();
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = layer_builder(calls.authorizer(allow_all))
        .token("Authorization")
        .build()
        .unwrap();
    let service = layer.layer(backend(hits.clone()));
    let answer = send(&service, get("/pets").body(Full::default()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.rejection,
        Some(LambdaAuthorizerRejection::MissingIdentitySource)
    );
    assert_eq!(
        answer.json()["type"],
        "urn:apigw:problem:unauthorized:missing-identity-source"
    );
    assert_eq!(answer.headers["www-authenticate"], "Bearer");
    assert_eq!(calls.count(), 0);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn token_empty_header_is_401_without_calling_the_authorizer_even_with_caching_off() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .token("Authorization")
        .ttl(Duration::ZERO)
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let answer = send(&service, with_token("/pets", "")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(calls.count(), 0);
}

#[tokio::test]
async fn token_failing_the_validation_expression_is_401_without_calling_the_authorizer() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .token("Authorization")
        .identity_validation_expression("Bearer [a-z]+")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    // A partial match is not enough: the whole token must match.
    for token in ["Bearer abc1", "xBearer abc", "bearer abc"] {
        let answer = send(&service, with_token("/pets", token)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(
            answer.rejection,
            Some(LambdaAuthorizerRejection::IdentityValidationFailed)
        );
    }
    assert_eq!(calls.count(), 0);
    let answer = send(&service, with_token("/pets", "Bearer abc")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn token_event_carries_the_raw_header_value_and_the_method_arn() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .token("Authorization")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    send(&service, with_token("/pets/7", "Bearer abc.def")).await;
    let event = calls.last_event();
    assert_eq!(
        event,
        json!({
            "type": "TOKEN",
            "authorizationToken": "Bearer abc.def",
            "methodArn": format!("{ARN_PREFIX}/prod/GET/pets/7"),
        })
    );
}

#[tokio::test]
async fn root_path_method_arn_has_a_trailing_slash() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .token("Authorization")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    send(&service, with_token("/", "t")).await;
    assert_eq!(
        calls.last_event()["methodArn"],
        format!("{ARN_PREFIX}/prod/GET/")
    );
}

#[tokio::test]
async fn request_authorizer_missing_source_with_caching_is_401_without_calling() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .identity_source("$request.header.X-User")
        .identity_source("$request.querystring.tenant")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let only_header = get("/pets")
        .header("x-user", "u1")
        .body(Full::default())
        .unwrap();
    let answer = send(&service, only_header).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let empty_query = get("/pets?tenant=")
        .header("x-user", "u1")
        .body(Full::default())
        .unwrap();
    assert_eq!(
        send(&service, empty_query).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(calls.count(), 0);
}

#[tokio::test]
async fn rest_request_authorizer_without_caching_calls_even_with_a_source_missing() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .identity_source("$request.header.X-User")
        .ttl(Duration::ZERO)
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let answer = send(&service, get("/pets").body(Full::default()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn http_api_authorizer_missing_source_is_401_even_without_caching() {
    let calls = Calls::default();
    let layer =
        layer_builder(calls.authorizer(|_: &AuthorizerRequest| {
            Ok::<_, AuthorizeError>(SimpleResponse::authorized())
        }))
        .identity_source("$request.header.X-User")
        .payload_format_version(PayloadFormatVersion::V2)
        .simple_responses(true)
        .ttl(Duration::ZERO)
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let answer = send(&service, get("/pets").body(Full::default()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(calls.count(), 0);
}

#[tokio::test]
async fn header_sources_are_case_insensitive() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .identity_source("$request.header.X-Api-Token")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let request = get("/pets")
        .header("X-API-TOKEN", "t1")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(&service, request).await.status, StatusCode::OK);
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn query_string_sources_are_case_sensitive() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .identity_source("$request.querystring.User")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let wrong_case = get("/pets?user=a").body(Full::default()).unwrap();
    assert_eq!(
        send(&service, wrong_case).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(calls.count(), 0);
    let right_case = get("/pets?User=a").body(Full::default()).unwrap();
    assert_eq!(send(&service, right_case).await.status, StatusCode::OK);
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn route_key_context_source_caches_per_route_and_stage_variables_are_read() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .identity_source("$request.header.Authorization")
        .identity_source("$context.routeKey")
        .identity_source("$stageVariables.tenant")
        .stage_variable("tenant", "acme")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let routed = |path: &str, key: &str| {
        let mut request = with_token(path, "tok");
        request.extensions_mut().insert(RouteMatch::new(
            key.parse::<RouteKey>().unwrap(),
            vec![],
            "prod",
        ));
        request
    };
    for _ in 0..2 {
        assert_eq!(
            send(&service, routed("/a", "GET /a")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            send(&service, routed("/b", "GET /b")).await.status,
            StatusCode::OK
        );
    }
    // One call per route, then hits.
    assert_eq!(calls.count(), 2);
}

#[tokio::test]
async fn identity_values_with_separators_never_share_a_cache_entry() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .identity_source("$request.header.X-A")
        .identity_source("$request.header.X-B")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let request = |a: &str, b: &str| {
        get("/pets")
            .header("x-a", a)
            .header("x-b", b)
            .body(Full::default())
            .unwrap()
    };
    send(&service, request("a,b", "c")).await;
    send(&service, request("a", "b,c")).await;
    assert_eq!(calls.count(), 2);
    send(&service, request("a,b", "c")).await;
    assert_eq!(calls.count(), 2);
}

// ---------------------------------------------------------------- cache

#[tokio::test]
async fn an_allow_is_cached_and_the_context_reaches_the_backend() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .token("Authorization")
        .build()
        .unwrap();
    let context = Arc::new(Mutex::new(None));
    let seen = context.clone();
    let inner = service_fn(move |request: Request<Full<Bytes>>| {
        *seen.lock().unwrap() = request.extensions().get::<AuthorizerContext>().cloned();
        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
    });
    let service = layer.layer(inner);
    for _ in 0..3 {
        assert_eq!(
            send(&service, with_token("/pets", "tok")).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(calls.count(), 1);
    let context = context.lock().unwrap().clone().unwrap();
    assert_eq!(context.principal_id(), Some("alice"));
    assert_eq!(context.context()["tier"], "gold");
    assert_eq!(context.usage_identifier_key(), Some("usage-key-1234567890"));
}

#[tokio::test]
async fn a_deny_is_cached_and_answers_403_explicit_deny() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(|_: &AuthorizerRequest| {
        Ok::<_, AuthorizeError>(IamPolicyResponse::deny("mallory", "*"))
    }))
    .token("Authorization")
    .gateway_responses(GatewayResponses::aws())
    .build()
    .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let service = layer.layer(backend(hits.clone()));
    for _ in 0..2 {
        let answer = send(&service, with_token("/pets", "tok")).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(
            answer.rejection,
            Some(LambdaAuthorizerRejection::ExplicitDeny)
        );
        assert_eq!(
            answer.json(),
            json!({"message": "User is not authorized to access this resource with an explicit deny"})
        );
        assert_eq!(answer.headers["x-amzn-errortype"], "AccessDeniedException");
    }
    assert_eq!(calls.count(), 1);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_cached_allow_for_one_method_does_not_open_another() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(|request: &AuthorizerRequest| {
        // Allow exactly the method ARN asked about, as many authorizers do.
        Ok::<_, AuthorizeError>(IamPolicyResponse::allow("alice", request.method_arn()))
    }))
    .token("Authorization")
    .gateway_responses(GatewayResponses::aws())
    .build()
    .unwrap();
    let service = layer.layer(backend(Arc::default()));
    assert_eq!(
        send(&service, with_token("/alpha", "tok")).await.status,
        StatusCode::OK
    );
    let beta = send(&service, with_token("/beta", "tok")).await;
    assert_eq!(beta.status, StatusCode::FORBIDDEN);
    assert_eq!(
        beta.rejection,
        Some(LambdaAuthorizerRejection::ImplicitDeny)
    );
    assert_eq!(
        beta.json(),
        json!({"message": "User is not authorized to access this resource"})
    );
    let post = Request::post("/alpha")
        .header("authorization", "tok")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(&service, post).await.status, StatusCode::FORBIDDEN);
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn a_cached_wildcard_policy_covers_every_route() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(|_: &AuthorizerRequest| {
        Ok::<_, AuthorizeError>(IamPolicyResponse::allow(
            "alice",
            format!("{ARN_PREFIX}/prod/*"),
        ))
    }))
    .token("Authorization")
    .build()
    .unwrap();
    let service = layer.layer(backend(Arc::default()));
    for path in ["/alpha", "/beta/1", "/"] {
        assert_eq!(
            send(&service, with_token(path, "tok")).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn unauthorized_answers_401_and_is_not_cached() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(|_: &AuthorizerRequest| {
        Err::<IamPolicyResponse, _>(AuthorizeError::Unauthorized)
    }))
    .token("Authorization")
    .gateway_responses(GatewayResponses::aws())
    .build()
    .unwrap();
    let service = layer.layer(backend(Arc::default()));
    for _ in 0..2 {
        let answer = send(&service, with_token("/pets", "tok")).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            answer.rejection,
            Some(LambdaAuthorizerRejection::Unauthorized)
        );
        assert_eq!(answer.json(), json!({"message": "Unauthorized"}));
    }
    assert_eq!(calls.count(), 2);
}

#[tokio::test]
async fn authorizer_errors_answer_500_and_are_not_cached() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(|_: &AuthorizerRequest| {
        Err::<IamPolicyResponse, _>(AuthorizeError::failed("database down: secret=hunter2"))
    }))
    .token("Authorization")
    .gateway_responses(GatewayResponses::aws())
    .build()
    .unwrap();
    let service = layer.layer(backend(Arc::default()));
    for _ in 0..2 {
        let answer = send(&service, with_token("/pets", "tok")).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            answer.rejection,
            Some(LambdaAuthorizerRejection::AuthorizerError)
        );
        assert_eq!(answer.json(), json!({"message": null}));
        assert_eq!(
            answer.headers["x-amzn-errortype"],
            "AuthorizerConfigurationException"
        );
        assert!(!String::from_utf8_lossy(&answer.body).contains("hunter2"));
    }
    assert_eq!(calls.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_answers_500_after_ten_seconds_and_is_not_cached() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let slow = move |_: AuthorizerRequest| {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_secs(11)).await;
            Ok::<_, AuthorizeError>(IamPolicyResponse::allow("late", "*"))
        }
    };
    let layer = layer_builder(slow).token("Authorization").build().unwrap();
    let service = layer.layer(backend(Arc::default()));
    let start = tokio::time::Instant::now();
    for _ in 0..2 {
        let answer = send(&service, with_token("/pets", "tok")).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.rejection, Some(LambdaAuthorizerRejection::Timeout));
        assert_eq!(
            answer.json()["type"],
            "urn:apigw:problem:authorizer-configuration-error:timeout"
        );
    }
    assert_eq!(start.elapsed(), Duration::from_secs(20));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn nested_context_values_in_payload_1_0_answer_500_and_are_not_cached() {
    for nested in [json!({"a": 1}), json!([1, 2]), Value::Null] {
        let calls = Calls::default();
        let value = nested.clone();
        let layer = layer_builder(calls.authorizer(move |_: &AuthorizerRequest| {
            Ok::<_, AuthorizeError>(
                IamPolicyResponse::allow("p", "*").with_context("bad", value.clone()),
            )
        }))
        .token("Authorization")
        .build()
        .unwrap();
        let service = layer.layer(backend(Arc::default()));
        for _ in 0..2 {
            let answer = send(&service, with_token("/pets", "tok")).await;
            assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{nested}");
            assert_eq!(
                answer.rejection,
                Some(LambdaAuthorizerRejection::InvalidResponse)
            );
        }
        assert_eq!(calls.count(), 2);
    }
}

#[tokio::test]
async fn nested_context_values_are_fine_in_payload_2_0_simple_responses() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(|_: &AuthorizerRequest| {
        Ok::<_, AuthorizeError>(
            SimpleResponse::authorized().with_context("groups", json!(["admin", {"x": 1}])),
        )
    }))
    .identity_source("$request.header.Authorization")
    .payload_format_version(PayloadFormatVersion::V2)
    .simple_responses(true)
    .build()
    .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let answer = send(&service, with_token("/pets", "tok")).await;
    assert_eq!(answer.status, StatusCode::OK);
    // A simple response has no principal.
    assert_eq!(answer.body, "<none>");
}

#[tokio::test]
async fn a_simple_false_answers_403_and_is_cached() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(|_: &AuthorizerRequest| {
        Ok::<_, AuthorizeError>(SimpleResponse::unauthorized())
    }))
    .identity_source("$request.header.Authorization")
    .payload_format_version(PayloadFormatVersion::V2)
    .simple_responses(true)
    .gateway_responses(GatewayResponses::aws())
    .build()
    .unwrap();
    let service = layer.layer(backend(Arc::default()));
    for _ in 0..2 {
        let answer = send(&service, with_token("/pets", "tok")).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(
            answer.rejection,
            Some(LambdaAuthorizerRejection::NotAuthorized)
        );
        assert_eq!(answer.json(), json!({"message": "Forbidden"}));
    }
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn an_answer_in_the_wrong_format_is_500() {
    let calls = Calls::default();
    let layer =
        layer_builder(calls.authorizer(|_: &AuthorizerRequest| {
            Ok::<_, AuthorizeError>(SimpleResponse::authorized())
        }))
        .token("Authorization")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let answer = send(&service, with_token("/pets", "tok")).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        answer.rejection,
        Some(LambdaAuthorizerRejection::InvalidResponse)
    );
}

#[tokio::test]
async fn an_effect_that_is_neither_allow_nor_deny_is_500_never_an_allow() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(|_: &AuthorizerRequest| {
        let mut statement = Statement::new(Effect::Allow, "*");
        statement.effect = "allow".to_owned();
        Ok::<_, AuthorizeError>(IamPolicyResponse::new(
            "p",
            PolicyDocument::new(vec![statement]),
        ))
    }))
    .token("Authorization")
    .build()
    .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let answer = send(&service, with_token("/pets", "tok")).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(calls.count(), 1);
}

#[tokio::test]
async fn the_ttl_expires_on_the_injected_clock() {
    let clock = ManualClock::new();
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .token("Authorization")
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    send(&service, with_token("/pets", "tok")).await;
    clock.advance(Duration::from_secs(299));
    send(&service, with_token("/pets", "tok")).await;
    assert_eq!(calls.count(), 1);
    clock.advance(Duration::from_secs(1));
    send(&service, with_token("/pets", "tok")).await;
    assert_eq!(calls.count(), 2);
}

#[tokio::test]
async fn a_per_result_ttl_shortens_but_never_lengthens_the_configured_ttl() {
    let clock = ManualClock::new();
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(|request: &AuthorizerRequest| {
        let ttl = match request.token().as_deref() {
            Some("short") => Duration::from_secs(10),
            _ => Duration::from_secs(3600),
        };
        Ok::<_, AuthorizeError>(
            AuthorizerResponse::from(IamPolicyResponse::allow("p", "*")).with_ttl(ttl),
        )
    }))
    .token("Authorization")
    .ttl(Duration::from_secs(60))
    .with_clock(Arc::new(clock.clone()))
    .build()
    .unwrap();
    let service = layer.layer(backend(Arc::default()));
    send(&service, with_token("/", "short")).await;
    send(&service, with_token("/", "long")).await;
    assert_eq!(calls.count(), 2);
    clock.advance(Duration::from_secs(10));
    send(&service, with_token("/", "short")).await;
    send(&service, with_token("/", "long")).await;
    assert_eq!(
        calls.count(),
        3,
        "the short entry expired, the long one did not"
    );
    clock.advance(Duration::from_secs(50));
    send(&service, with_token("/", "long")).await;
    assert_eq!(
        calls.count(),
        4,
        "the long entry expired at the configured 60 s"
    );
}

#[tokio::test]
async fn a_ttl_of_zero_disables_caching() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .token("Authorization")
        .ttl(Duration::ZERO)
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    for _ in 0..3 {
        send(&service, with_token("/pets", "tok")).await;
    }
    assert_eq!(calls.count(), 3);
}

#[tokio::test]
async fn invalidate_forgets_one_identity_and_invalidate_all_forgets_every_one() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(allow_all))
        .token("Authorization")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    send(&service, with_token("/", "a")).await;
    send(&service, with_token("/", "b")).await;
    layer.invalidate(&CacheKey::from_values(["a"]));
    send(&service, with_token("/", "a")).await;
    send(&service, with_token("/", "b")).await;
    assert_eq!(calls.count(), 3);
    layer.invalidate_all();
    send(&service, with_token("/", "a")).await;
    send(&service, with_token("/", "b")).await;
    assert_eq!(calls.count(), 5);
}

// ---------------------------------------------------------------- single flight

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_concurrent_misses_make_exactly_one_call() {
    let calls = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let (counter, gate) = (calls.clone(), arrived.clone());
    let authorizer = move |_: AuthorizerRequest| {
        counter.fetch_add(1, Ordering::SeqCst);
        let gate = gate.clone();
        async move {
            // Hold the answer until every request has been sent.
            while gate.load(Ordering::SeqCst) < 100 {
                tokio::task::yield_now().await;
            }
            Ok::<_, AuthorizeError>(IamPolicyResponse::allow("p", "*"))
        }
    };
    let layer = layer_builder(authorizer)
        .token("Authorization")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let service = service.clone();
            let arrived = arrived.clone();
            tokio::spawn(async move {
                let request = with_token("/pets", "same-token");
                let response = service.oneshot(request);
                arrived.fetch_add(1, Ordering::SeqCst);
                response.await.unwrap().status()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Polls a future once.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *future).poll(cx))).await
}

#[tokio::test]
async fn a_waiter_whose_leader_is_cancelled_still_gets_the_answer() {
    let calls = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicBool::new(false));
    let (counter, gate) = (calls.clone(), open.clone());
    let authorizer = move |_: AuthorizerRequest| {
        counter.fetch_add(1, Ordering::SeqCst);
        let gate = gate.clone();
        async move {
            while !gate.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
            Ok::<_, AuthorizeError>(IamPolicyResponse::allow("p", "*"))
        }
    };
    let layer = layer_builder(authorizer)
        .token("Authorization")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let mut leader = Box::pin(service.clone().oneshot(with_token("/", "tok")));
    let mut waiter = Box::pin(service.clone().oneshot(with_token("/", "tok")));
    assert!(poll_once(&mut leader).await.is_pending());
    assert!(poll_once(&mut waiter).await.is_pending());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(leader);
    open.store(true, Ordering::SeqCst);
    assert_eq!(waiter.await.unwrap().status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- adapters

#[tokio::test]
async fn a_tower_service_is_an_authorizer_and_can_answer_unauthorized() {
    let authorizer = ServiceAuthorizer::new(service_fn(|request: AuthorizerRequest| async move {
        match request.token().as_deref() {
            Some("good") => Ok(IamPolicyResponse::allow("svc", "*")),
            _ => Err(AuthorizeError::Unauthorized),
        }
    }));
    let layer = layer_builder(authorizer)
        .token("Authorization")
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let good = send(&service, with_token("/", "good")).await;
    assert_eq!(good.status, StatusCode::OK);
    assert_eq!(good.body, "svc");
    assert_eq!(
        send(&service, with_token("/", "bad")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

fn function<F>(answer: F) -> InvokeAuthorizer<impl apigw::integration::Invoke>
where
    F: Fn(Value) -> Result<Bytes, InvokeError> + Send + Sync + 'static,
{
    InvokeAuthorizer::new(move |payload: Bytes| {
        let event: Value = serde_json::from_slice(&payload).unwrap();
        let result = answer(event);
        async move { result }
    })
}

#[tokio::test]
async fn invoke_function_error_exactly_unauthorized_is_401_and_anything_else_500() {
    for (message, status) in [
        ("Unauthorized", StatusCode::UNAUTHORIZED),
        ("unauthorized", StatusCode::INTERNAL_SERVER_ERROR),
        ("Unauthorized ", StatusCode::INTERNAL_SERVER_ERROR),
        ("boom", StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        let authorizer = function(move |_| Err(InvokeError::Function(FunctionError::new(message))));
        let layer = layer_builder(authorizer)
            .token("Authorization")
            .build()
            .unwrap();
        let service = layer.layer(backend(Arc::default()));
        assert_eq!(
            send(&service, with_token("/", "t")).await.status,
            status,
            "{message:?}"
        );
    }
}

#[tokio::test]
async fn invoke_answers_that_are_invalid_are_500() {
    let oversized = format!(
        r#"{{"principalId":"p","policyDocument":{{"Version":"2012-10-17","Statement":[]}},"context":{{"pad":"{}"}}}}"#,
        "x".repeat(8 * 1024)
    );
    for (answer, simple) in [
        (r#"{"isAuthorized":"true"}"#.to_owned(), true),
        (r#"{"isAuthorized":1}"#.to_owned(), true),
        ("not json".to_owned(), false),
        (r#"{"policyDocument":{"Statement":[]}}"#.to_owned(), false),
        (r#"{"principalId":"p"}"#.to_owned(), false),
        (oversized, false),
    ] {
        let body = Bytes::from(answer.clone());
        let authorizer = function(move |_| Ok(body.clone()));
        let builder = layer_builder(authorizer).identity_source("$request.header.Authorization");
        let builder = if simple {
            builder
                .payload_format_version(PayloadFormatVersion::V2)
                .simple_responses(true)
        } else {
            builder
        };
        let service = builder.build().unwrap().layer(backend(Arc::default()));
        let response = send(&service, with_token("/", "t")).await;
        assert_eq!(
            response.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            &answer[..answer.len().min(60)]
        );
        assert_eq!(
            response.rejection,
            Some(LambdaAuthorizerRejection::InvalidResponse)
        );
    }
}

#[tokio::test]
async fn invoke_sends_the_request_2_0_event() {
    let seen = Arc::new(Mutex::new(Value::Null));
    let record = seen.clone();
    let authorizer = function(move |event| {
        *record.lock().unwrap() = event;
        Ok(Bytes::from_static(
            br#"{"isAuthorized":true,"context":{"k":"v"}}"#,
        ))
    });
    let layer = layer_builder(authorizer)
        .identity_source("$request.header.Authorization")
        .identity_source("$request.querystring.tenant")
        .payload_format_version(PayloadFormatVersion::V2)
        .simple_responses(true)
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let mut request = Request::get("/pets/7?tenant=acme&tag=a&tag=b")
        .header("authorization", "tok")
        .header("cookie", "c1=1; c2=2")
        .header("x-multi", "1")
        .header("x-multi", "2")
        .header("host", "abc.execute-api.example.com")
        .body(Full::default())
        .unwrap();
    request.extensions_mut().insert(RouteMatch::new(
        "GET /pets/{id}".parse().unwrap(),
        vec![("id".into(), "7".into())],
        "prod",
    ));
    assert_eq!(send(&service, request).await.status, StatusCode::OK);
    let event = seen.lock().unwrap().clone();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(event["routeArn"], format!("{ARN_PREFIX}/prod/GET/pets/7"));
    assert_eq!(event["identitySource"], json!(["tok", "acme"]));
    assert_eq!(event["routeKey"], "GET /pets/{id}");
    assert_eq!(event["rawPath"], "/pets/7");
    assert_eq!(event["rawQueryString"], "tenant=acme&tag=a&tag=b");
    assert_eq!(event["cookies"], json!(["c1=1", "c2=2"]));
    assert_eq!(event["headers"]["x-multi"], "1,2");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["queryStringParameters"]["tag"], "a,b");
    assert_eq!(event["pathParameters"], json!({"id": "7"}));
    assert_eq!(event["requestContext"]["stage"], "prod");
    assert_eq!(event["requestContext"]["domainPrefix"], "abc");
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
    assert_eq!(event["requestContext"]["accountId"], "123456789012");
}

#[tokio::test]
async fn invoke_sends_the_request_1_0_event_for_http_apis() {
    let seen = Arc::new(Mutex::new(Value::Null));
    let record = seen.clone();
    let authorizer = function(move |event| {
        *record.lock().unwrap() = event;
        Ok(Bytes::from(
            json!({
                "principalId": "user1",
                "policyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["*"]}
                ]},
                "context": {"n": 1, "b": true, "s": "x"}
            })
            .to_string(),
        ))
    });
    let layer = layer_builder(authorizer)
        .identity_source("$request.header.X-User")
        .identity_source("$request.querystring.id")
        .payload_format_version(PayloadFormatVersion::V1)
        .build()
        .unwrap();
    let service = layer.layer(backend(Arc::default()));
    let request = Request::get("/request?id=123&id=456")
        .header("x-user", "user1")
        .body(Full::default())
        .unwrap();
    let answer = send(&service, request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "user1");
    let event = seen.lock().unwrap().clone();
    assert_eq!(event["version"], "1.0");
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(event["identitySource"], "user1,123,456");
    assert_eq!(event["authorizationToken"], "user1,123,456");
    assert_eq!(event["methodArn"], format!("{ARN_PREFIX}/prod/GET/request"));
    assert_eq!(event["queryStringParameters"]["id"], "456");
    assert_eq!(
        event["multiValueQueryStringParameters"]["id"],
        json!(["123", "456"])
    );
    assert_eq!(event["headers"]["x-user"], "user1");
    assert_eq!(event["requestContext"]["httpMethod"], "GET");
}

// ---------------------------------------------------------------- configuration

#[test]
fn configuration_errors_are_refused_at_build() {
    let authorizer = |_: AuthorizerRequest| async { Ok(SimpleResponse::authorized()) };
    let cases: Vec<(&str, LambdaAuthorizerCacheLayerBuilder<_>)> = vec![
        (
            "ttl over 3600 s",
            layer_builder(authorizer)
                .token("A")
                .ttl(Duration::from_secs(3601)),
        ),
        (
            "caching without identity sources",
            layer_builder(authorizer),
        ),
        (
            "a bad selector",
            layer_builder(authorizer).identity_source("$request.path.id"),
        ),
        (
            "TOKEN with two sources",
            layer_builder(authorizer)
                .token("A")
                .identity_source("$request.header.B"),
        ),
        (
            "a validation expression on a REQUEST authorizer",
            layer_builder(authorizer)
                .identity_source("$request.header.A")
                .identity_validation_expression("x"),
        ),
        (
            "an invalid regex",
            layer_builder(authorizer)
                .token("A")
                .identity_validation_expression("("),
        ),
        (
            "simple responses with payload 1.0",
            layer_builder(authorizer)
                .identity_source("$request.header.A")
                .payload_format_version(PayloadFormatVersion::V1)
                .simple_responses(true),
        ),
        (
            "a zero timeout",
            layer_builder(authorizer).token("A").timeout(Duration::ZERO),
        ),
    ];
    for (what, builder) in cases {
        assert!(builder.build().is_err(), "{what} was accepted");
    }
    assert!(
        layer_builder(authorizer)
            .token("A")
            .ttl(Duration::from_secs(3600))
            .build()
            .is_ok()
    );
    assert!(
        layer_builder(authorizer)
            .ttl(Duration::ZERO)
            .build()
            .is_ok(),
        "without caching, identity sources are optional"
    );
}

#[tokio::test]
async fn configuration_in_api_gateway_vocabulary_builds_the_same_layer() {
    let config: LambdaAuthorizerConfig = serde_json::from_value(json!({
        "type": "TOKEN",
        "identitySource": "method.request.header.Authorization",
        "identityValidationExpression": "^Bearer .+$",
        "authorizerResultTtlInSeconds": 0,
        "accountId": "123456789012",
        "apiId": "api1",
        "stage": "prod"
    }))
    .unwrap();
    assert_eq!(config.authorizer_type, AuthorizerType::Token);
    let calls = Calls::default();
    let layer =
        LambdaAuthorizerCacheLayer::try_from((config, calls.authorizer(allow_all))).unwrap();
    let service = layer.layer(backend(Arc::default()));
    assert_eq!(
        send(&service, with_token("/", "nope")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&service, with_token("/", "Bearer x")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&service, with_token("/", "Bearer x")).await.status,
        StatusCode::OK
    );
    assert_eq!(calls.count(), 2, "TTL 0 in the config disables caching");

    let unknown = serde_json::from_value::<LambdaAuthorizerConfig>(json!({"identitySources": "x"}));
    assert!(unknown.is_err());
    let too_long: LambdaAuthorizerConfig = serde_json::from_value(json!({
        "identitySource": ["$request.header.A"],
        "authorizerResultTtlInSeconds": 3601
    }))
    .unwrap();
    assert!(LambdaAuthorizerCacheLayer::from_config(too_long, allow_closure()).is_err());
}

fn allow_closure() -> impl Authorize {
    |_: AuthorizerRequest| async { Ok(IamPolicyResponse::allow("p", "*")) }
}

// ---------------------------------------------------------------- IAM evaluation

#[test]
fn iam_evaluation_matches_the_table() {
    let arn = |rest: &str| format!("arn:aws:execute-api:us-east-1:123456789012:abcdef123/{rest}");
    let allow = |resource: &str| Statement::new(Effect::Allow, resource);
    let deny = |resource: &str| Statement::new(Effect::Deny, resource);
    let mut invoke_star = allow(&arn("prod/GET/*"));
    invoke_star.action = Some(apigw::events::authorizer::StringOrArray::One(
        "execute-api:*".into(),
    ));
    let mut other_action = allow("*");
    other_action.action = Some(apigw::events::authorizer::StringOrArray::Many(vec![
        "execute-api:ManageConnections".into(),
    ]));
    let mut list = allow("unused");
    list.resource = Some(apigw::events::authorizer::StringOrArray::Many(vec![
        arn("prod/GET/a"),
        arn("prod/GET/b"),
    ]));
    use PolicyDecision::{Allow, ExplicitDeny, ImplicitDeny};
    let table: Vec<(Vec<Statement>, String, PolicyDecision)> = vec![
        // The examples of the AWS documentation.
        (
            vec![allow("arn:aws:execute-api:*:*:*")],
            arn("prod/GET/pets"),
            Allow,
        ),
        (vec![allow(&arn("*"))], arn("test/POST/pets/1"), Allow),
        (vec![allow(&arn("test/*"))], arn("test/DELETE/a/b"), Allow),
        (vec![allow(&arn("test/*"))], arn("prod/GET/a"), ImplicitDeny),
        (vec![allow(&arn("*/GET/pets"))], arn("prod/GET/pets"), Allow),
        (
            vec![allow(&arn("*/GET/pets"))],
            arn("prod/GET/pets/1"),
            ImplicitDeny,
        ),
        (
            vec![allow(&arn("prod/GET/pets/a1b2"))],
            arn("prod/GET/pets/a1b2"),
            Allow,
        ),
        (
            vec![allow(&arn("prod/GET/pets/a1b2"))],
            arn("prod/GET/pets/a1b3"),
            ImplicitDeny,
        ),
        // Root resource: trailing slash.
        (vec![allow(&arn("prod/GET/"))], arn("prod/GET/"), Allow),
        (
            vec![allow(&arn("prod/GET/"))],
            arn("prod/GET/x"),
            ImplicitDeny,
        ),
        // `?` is one character; case-sensitive.
        (
            vec![allow(&arn("prod/GET/pets/?"))],
            arn("prod/GET/pets/7"),
            Allow,
        ),
        (
            vec![allow(&arn("prod/GET/pets/?"))],
            arn("prod/GET/pets/77"),
            ImplicitDeny,
        ),
        (
            vec![allow(&arn("prod/get/pets"))],
            arn("prod/GET/pets"),
            ImplicitDeny,
        ),
        // `*` crosses `/` and `:`.
        (
            vec![allow("arn:aws:execute-api:*")],
            arn("prod/GET/a/b/c"),
            Allow,
        ),
        // Explicit deny wins whatever the order.
        (
            vec![allow("*"), deny(&arn("prod/DELETE/*"))],
            arn("prod/DELETE/x"),
            ExplicitDeny,
        ),
        (
            vec![deny(&arn("prod/DELETE/*")), allow("*")],
            arn("prod/GET/x"),
            Allow,
        ),
        (vec![deny("*")], arn("prod/GET/x"), ExplicitDeny),
        // Actions: `execute-api:*` covers Invoke, another action does not.
        (vec![invoke_star], arn("prod/GET/x"), Allow),
        (vec![other_action], arn("prod/GET/x"), ImplicitDeny),
        // A Resource list.
        (vec![list.clone()], arn("prod/GET/b"), Allow),
        (vec![list], arn("prod/GET/c"), ImplicitDeny),
        // No statements.
        (vec![], arn("prod/GET/x"), ImplicitDeny),
    ];
    for (statements, method_arn, expected) in table {
        let document = PolicyDocument::new(statements.clone());
        assert_eq!(
            evaluate_policy(&document, &method_arn).unwrap(),
            expected,
            "{method_arn} with {statements:?}"
        );
    }
}

// ---------------------------------------------------------------- limits and conditions

#[tokio::test]
async fn a_method_arn_over_1600_bytes_is_414_without_calling_the_authorizer() {
    let calls = Calls::default();
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = layer_builder(calls.authorizer(allow_all))
        .token("Authorization")
        .gateway_responses(GatewayResponses::aws())
        .build()
        .unwrap();
    let service = layer.layer(backend(hits.clone()));
    // `{prefix}/prod/GET/{path without its leading slash}`.
    let fixed = format!("{ARN_PREFIX}/prod/GET/").len();
    let path = |arn_len: usize| format!("/{}", "a".repeat(arn_len - fixed));

    // Exactly 1600 bytes is allowed, and caches the identity.
    let answer = send(&service, with_token(&path(1600), "tok")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(calls.count(), 1);

    // 1601 bytes: 414 for the cached identity and for a new one, no call.
    for token in ["tok", "new-tok"] {
        let answer = send(&service, with_token(&path(1601), token)).await;
        assert_eq!(answer.status, StatusCode::URI_TOO_LONG);
        assert_eq!(
            answer.rejection,
            Some(LambdaAuthorizerRejection::MethodArnTooLong)
        );
        assert_eq!(answer.json(), json!({"message": "Request URI too long"}));
    }
    assert_eq!(calls.count(), 1);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_allow_with_a_condition_never_grants_and_the_denial_body_key_is_lower_case() {
    let calls = Calls::default();
    let layer = layer_builder(calls.authorizer(|_: &AuthorizerRequest| {
        let mut allow = Statement::new(Effect::Allow, "*");
        allow.condition = Some(json!({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}));
        Ok::<_, AuthorizeError>(IamPolicyResponse::new(
            "alice",
            PolicyDocument::new(vec![allow]),
        ))
    }))
    .token("Authorization")
    .gateway_responses(GatewayResponses::aws())
    .build()
    .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let service = layer.layer(backend(hits.clone()));
    let answer = send(&service, with_token("/pets", "tok")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.rejection,
        Some(LambdaAuthorizerRejection::ImplicitDeny)
    );
    // API Gateway's key is `message`, for the denials as for every other
    // gateway response: never `Message`.
    let body = answer.json();
    assert_eq!(
        body,
        json!({"message": "User is not authorized to access this resource"})
    );
    assert!(body.get("Message").is_none());
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
