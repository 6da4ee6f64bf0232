//! `RequestValidatorLayer`: every rule of issue 6 by name, and the security
//! classes S1–S7 of SECURITY.md §A5.
#![cfg(all(feature = "validate", feature = "axum"))]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use apigw::problem::{GatewayResponseType, GatewayResponses, Rejection};
use apigw::validate::{
    Draft, PatternEngine, RejectionKind, RequestValidatorConfig, RequestValidatorKind,
    RequestValidatorLayer, RouteRules, ValidatedBody, ValidationRejection,
};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt};

// ---------------------------------------------------------------- helpers

/// A backend that counts calls and echoes the body it received, with
/// `x-validated: yes` when a `ValidatedBody` came with it.
#[derive(Clone, Default)]
struct Echo {
    calls: Arc<AtomicUsize>,
}

impl<B> Service<Request<B>> for Echo
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Debug,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let validated = request.extensions().get::<ValidatedBody>().cloned();
            let bytes = request.into_body().collect().await.unwrap().to_bytes();
            let mut response = Response::new(Full::new(bytes));
            if let Some(value) = validated {
                response
                    .headers_mut()
                    .insert("x-validated", value.to_string().parse().unwrap());
            }
            Ok(response)
        })
    }
}

fn order_model() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "required": ["sku", "qty"],
        "properties": {
            "sku": {"type": "string", "pattern": "^[A-Z]-[0-9]+$"},
            "qty": {"type": "integer", "minimum": 1},
            "note": {"type": "string", "maxLength": 20}
        },
        "additionalProperties": false
    })
}

fn layer_with(rules: RouteRules) -> RequestValidatorLayer {
    RequestValidatorLayer::builder()
        .model("Order", order_model())
        .route("POST /orders", rules)
        .unwrap()
        .build()
        .unwrap()
}

fn orders_layer() -> RequestValidatorLayer {
    layer_with(
        RouteRules::new()
            .required_query("dryRun")
            .required_header("x-tenant")
            .model("application/json", "Order"),
    )
}

fn post(uri: &str) -> http::request::Builder {
    Request::post(uri)
        .header("x-tenant", "acme")
        .header("content-type", "application/json")
}

fn json_request(uri: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    post(uri).body(Full::new(body.into())).unwrap()
}

async fn send<B>(layer: &RequestValidatorLayer, request: Request<B>) -> (Response<Bytes>, usize)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + std::fmt::Debug,
{
    let echo = Echo::default();
    let calls = Arc::clone(&echo.calls);
    let response = layer.layer(echo).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, bytes),
        calls.load(Ordering::SeqCst),
    )
}

fn json_of(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

fn kind_of(response: &Response<Bytes>) -> RejectionKind {
    response
        .extensions()
        .get::<ValidationRejection>()
        .expect("typed rejection in the response extensions")
        .kind()
}

const GOOD: &str = r#"{"sku":"A-1","qty":2}"#;

/// A body that counts how often it is polled and yields `chunks` chunks of
/// `chunk` bytes, optionally claiming an exact size.
struct Probe {
    polls: Arc<AtomicUsize>,
    chunks: usize,
    chunk: usize,
    hint: Option<u64>,
}

impl Body for Probe {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.chunks == 0 {
            return Poll::Ready(None);
        }
        self.chunks -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; self.chunk])))))
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

// ---------------------------------------------------------------- parameters

#[tokio::test]
async fn missing_parameters_are_all_listed_in_one_bad_request_parameters() {
    let request = Request::post("/orders")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(GOOD)))
        .unwrap();
    let (response, calls) = send(&orders_layer(), request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(calls, 0, "a rejected request never reaches the backend");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem = json_of(&response);
    assert_eq!(
        problem["type"],
        "urn:apigw:problem:bad-request-parameters:missing-parameters"
    );
    assert_eq!(problem["responseType"], "BAD_REQUEST_PARAMETERS");
    assert_eq!(
        problem["detail"],
        "Missing required request parameters: [dryRun, x-tenant]"
    );
    assert_eq!(
        problem["errors"],
        json!([
            {"in": "querystring", "parameter": "dryRun", "message": "required parameter is missing or blank"},
            {"in": "header", "parameter": "x-tenant", "message": "required parameter is missing or blank"}
        ])
    );
    assert_eq!(kind_of(&response), RejectionKind::MissingParameters);
    let rejection = response.extensions().get::<Rejection>().unwrap();
    assert_eq!(
        rejection.response_type(),
        GatewayResponseType::BadRequestParameters
    );
}

#[tokio::test]
async fn blank_query_parameter_counts_as_missing() {
    for uri in ["/orders?dryRun=", "/orders?dryRun=%20", "/orders?dryrun=1"] {
        let (response, calls) = send(&orders_layer(), json_request(uri, GOOD)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(calls, 0);
        assert_eq!(
            json_of(&response)["errors"][0]["parameter"],
            "dryRun",
            "{uri}"
        );
    }
    let (response, calls) = send(&orders_layer(), json_request("/orders?dryRun=0", GOOD)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn aws_style_lists_missing_parameters_as_api_gateway_does() {
    let layer = RequestValidatorLayer::builder()
        .route(
            "GET /search",
            RouteRules::new()
                .required_header("x-header-param")
                .required_query("issuer")
                .required_query("qs1"),
        )
        .unwrap()
        .gateway_responses(GatewayResponses::aws())
        .build()
        .unwrap();
    let request = Request::get("/search")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (response, _) = send(&layer, request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        json_of(&response),
        json!({"message": "Missing required request parameters: [x-header-param, issuer, qs1]"})
    );
}

#[tokio::test]
async fn parameters_are_checked_before_the_body() {
    let request = Request::post("/orders?dryRun=1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from("not json")))
        .unwrap();
    let (response, _) = send(&orders_layer(), request).await;
    assert_eq!(kind_of(&response), RejectionKind::MissingParameters);
}

#[tokio::test]
async fn path_parameters_are_required_under_axum_route_layer() {
    use axum::Router;
    use axum::routing::get;

    let layer = RequestValidatorLayer::builder()
        .route("$default", RouteRules::new().required_path("id"))
        .unwrap()
        .build()
        .unwrap();
    let app: Router = Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .route("/orders/{id}/", get(|| async { "order" }))
        .route_layer(layer);
    let ok = app
        .clone()
        .oneshot(
            Request::get("/orders/7")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let blank = app
        .oneshot(
            Request::get("/orders/%20/")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(blank.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn parameters_validator_does_not_read_the_body() {
    let layer = layer_with(
        RouteRules::new()
            .validator(RequestValidatorKind::Parameters)
            .required_header("x-tenant")
            .model("application/json", "Order"),
    );
    let (response, calls) = send(&layer, json_request("/orders", "not json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls, 1);
    assert_eq!(response.body(), "not json");
}

#[tokio::test]
async fn body_validator_does_not_check_parameters() {
    let layer = layer_with(
        RouteRules::new()
            .validator(RequestValidatorKind::Body)
            .required_query("dryRun")
            .model("application/json", "Order"),
    );
    let (response, _) = send(&layer, json_request("/orders", GOOD)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (response, _) = send(&layer, json_request("/orders", "{}")).await;
    assert_eq!(kind_of(&response), RejectionKind::InvalidBody);
}

// ---------------------------------------------------------------- body

#[tokio::test]
async fn every_body_violation_is_reported_with_pointer_keyword_and_message() {
    let body = r#"{"sku":"bad sku","qty":0,"note":"a note that is far too long","extra":1}"#;
    let (response, calls) = send(&orders_layer(), json_request("/orders?dryRun=1", body)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(calls, 0);
    let problem = json_of(&response);
    assert_eq!(
        problem["type"],
        "urn:apigw:problem:bad-request-body:invalid-body"
    );
    assert_eq!(problem["responseType"], "BAD_REQUEST_BODY");
    let mut errors: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
            (
                e["pointer"].as_str().unwrap().to_owned(),
                e["keyword"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            ("/extra".into(), "additionalProperties".into()),
            ("/note".into(), "maxLength".into()),
            ("/qty".into(), "minimum".into()),
            ("/sku".into(), "pattern".into()),
        ]
    );
    let rejection = response.extensions().get::<ValidationRejection>().unwrap();
    assert_eq!(rejection.model(), Some("Order"));
    assert_eq!(rejection.violations().len(), 4);
}

#[tokio::test]
async fn aws_style_says_invalid_request_body() {
    let layer = RequestValidatorLayer::builder()
        .model("Order", order_model())
        .route(
            "POST /orders",
            RouteRules::new().model("application/json", "Order"),
        )
        .unwrap()
        .gateway_responses(GatewayResponses::aws())
        .build()
        .unwrap();
    let (response, _) = send(&layer, json_request("/orders", "{}")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(&response),
        json!({"message": "Invalid request body"})
    );
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "BadRequestException"
    );
}

#[tokio::test]
async fn valid_body_reaches_the_backend_byte_for_byte_with_the_parsed_value() {
    let body = "{ \"qty\" : 2 ,\n \"sku\":\"A-1\" }";
    let (response, calls) = send(&orders_layer(), json_request("/orders?dryRun=1", body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls, 1);
    assert_eq!(response.body(), body, "the bytes are handed on unchanged");
    let parsed: Value =
        serde_json::from_str(response.headers()["x-validated"].to_str().unwrap()).unwrap();
    assert_eq!(parsed, json!({"sku": "A-1", "qty": 2}));
}

#[tokio::test]
async fn content_type_without_model_passes_through_unread() {
    let polls = Arc::new(AtomicUsize::new(0));
    let body = Probe {
        polls: Arc::clone(&polls),
        chunks: 1,
        chunk: 5,
        hint: None,
    };
    let layer = orders_layer();
    let echo = Echo::default();
    let calls = Arc::clone(&echo.calls);
    let mut service = layer.layer(echo);
    let request = Request::post("/orders?dryRun=1")
        .header("x-tenant", "acme")
        .header("content-type", "text/plain")
        .body(body)
        .unwrap();
    let future = ServiceExt::<Request<Probe>>::ready(&mut service)
        .await
        .unwrap()
        .call(request);
    assert_eq!(polls.load(Ordering::SeqCst), 0, "not read by the validator");
    let response = future.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(response.headers().get("x-validated").is_none());
}

#[tokio::test]
async fn route_requiring_json_answers_415_for_other_content_types() {
    let layer = layer_with(
        RouteRules::new()
            .require_json(true)
            .model("application/json", "Order"),
    );
    let request = Request::post("/orders")
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from("<order/>")))
        .unwrap();
    let (response, calls) = send(&layer, request).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(calls, 0);
    assert_eq!(
        json_of(&response)["type"],
        "urn:apigw:problem:unsupported-media-type:json-body-required"
    );
    // `application/json; charset=utf-8` and `+json` types are JSON.
    let request = Request::post("/orders")
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(Full::new(Bytes::from(GOOD)))
        .unwrap();
    assert_eq!(send(&layer, request).await.0.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_content_type_is_validated_as_json() {
    let request = Request::post("/orders?dryRun=1")
        .header("x-tenant", "acme")
        .body(Full::new(Bytes::from("{}")))
        .unwrap();
    let (response, _) = send(&orders_layer(), request).await;
    assert_eq!(kind_of(&response), RejectionKind::InvalidBody);
}

#[tokio::test]
async fn default_model_applies_to_content_types_without_their_own() {
    let layer = layer_with(RouteRules::new().model("$default", "Order"));
    let request = Request::post("/orders")
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from("{}")))
        .unwrap();
    assert_eq!(
        kind_of(&send(&layer, request).await.0),
        RejectionKind::InvalidBody
    );
}

#[tokio::test]
async fn malformed_json_is_bad_request_body() {
    let (response, calls) = send(
        &orders_layer(),
        json_request("/orders?dryRun=1", "{\"sku\":"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(calls, 0);
    let problem = json_of(&response);
    assert_eq!(
        problem["type"],
        "urn:apigw:problem:bad-request-body:malformed-json"
    );
    assert_eq!(problem["errors"][0]["keyword"], "syntax");
    assert_eq!(problem["errors"][0]["pointer"], "");
}

#[tokio::test]
async fn empty_body_is_malformed_unless_the_body_is_optional() {
    let (response, _) = send(&orders_layer(), json_request("/orders?dryRun=1", "")).await;
    assert_eq!(kind_of(&response), RejectionKind::MalformedJson);
    let layer = layer_with(
        RouteRules::new()
            .body_required(false)
            .model("application/json", "Order"),
    );
    let (response, calls) = send(&layer, json_request("/orders", "")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn empty_model_accepts_any_object_only() {
    let layer = layer_with(RouteRules::new().model("application/json", "Empty"));
    assert_eq!(
        send(&layer, json_request("/orders", r#"{"a":1}"#))
            .await
            .0
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        kind_of(&send(&layer, json_request("/orders", "[1]")).await.0),
        RejectionKind::InvalidBody
    );
}

#[tokio::test]
async fn models_refer_to_each_other_and_drafts_are_selectable() {
    let layer = RequestValidatorLayer::builder()
        .draft(Draft::Draft202012)
        .model("Line", json!({"type": "object", "required": ["sku"]}))
        .model(
            "Order",
            json!({"type": "object", "properties": {
                "lines": {"type": "array", "items": {"$ref": "Line"}},
                "pair": {"prefixItems": [{"type": "string"}, {"type": "integer"}]}
            }}),
        )
        .route(
            "POST /orders",
            RouteRules::new().model("application/json", "Order"),
        )
        .unwrap()
        .build()
        .unwrap();
    let (response, _) = send(
        &layer,
        json_request("/orders", r#"{"lines":[{"sku":"a"},{}]}"#),
    )
    .await;
    assert_eq!(json_of(&response)["errors"][0]["pointer"], "/lines/1");
    // prefixItems is a 2020-12 keyword.
    let (response, _) = send(&layer, json_request("/orders", r#"{"pair":[1,"x"]}"#)).await;
    assert_eq!(kind_of(&response), RejectionKind::InvalidBody);

    // Draft 4 does not know prefixItems.
    let draft4 = RequestValidatorLayer::builder()
        .route(
            "POST /orders",
            RouteRules::new().model_schema(
                "application/json",
                json!({"prefixItems": [{"type": "string"}]}),
            ),
        )
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        send(&draft4, json_request("/orders", "[1]"))
            .await
            .0
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn requests_on_routes_without_rules_pass_untouched() {
    let request = Request::get("/health")
        .body(Full::new(Bytes::from("x")))
        .unwrap();
    let (response, calls) = send(&orders_layer(), request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls, 1);
    assert_eq!(orders_layer().counters().checked, 0);
}

#[tokio::test]
async fn undefined_model_and_bad_settings_are_config_errors() {
    let undefined = RequestValidatorLayer::builder()
        .route(
            "POST /orders",
            RouteRules::new().model("application/json", "Nope"),
        )
        .unwrap()
        .build()
        .unwrap_err();
    assert!(undefined.message().contains("`Nope`"), "{undefined}");
    assert!(
        RequestValidatorLayer::builder()
            .max_depth(128)
            .build()
            .is_err()
    );
    assert!(
        RequestValidatorLayer::builder()
            .max_depth(0)
            .build()
            .is_err()
    );
    assert!(
        RequestValidatorLayer::builder()
            .max_body_bytes(0)
            .build()
            .is_err()
    );
    assert!(
        RequestValidatorLayer::builder()
            .route("POST /x", RouteRules::new().required_header("bad header"))
            .unwrap()
            .build()
            .is_err()
    );
    assert!(
        RequestValidatorLayer::builder()
            .route("BAD", RouteRules::new())
            .is_err()
    );
}

// ---------------------------------------------------------------- shadow mode

#[tokio::test]
async fn shadow_mode_lets_failures_through_and_counts_them() {
    let layer = RequestValidatorLayer::builder()
        .model("Order", order_model())
        .route(
            "POST /orders",
            RouteRules::new()
                .required_query("dryRun")
                .model("application/json", "Order"),
        )
        .unwrap()
        .shadow(true)
        .build()
        .unwrap();
    let (response, calls) = send(&layer, json_request("/orders", "{}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls, 1);
    assert!(
        response.headers().get("x-validated").is_none(),
        "an invalid body is not presented as validated"
    );
    let (response, _) = send(&layer, json_request("/orders?dryRun=1", "{not json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "{not json");
    let (response, _) = send(&layer, json_request("/orders?dryRun=1", GOOD)).await;
    assert!(response.headers().get("x-validated").is_some());

    let counters = layer.counters();
    assert_eq!(counters.checked, 3);
    assert_eq!(counters.passed, 1);
    assert_eq!(counters.shadowed(RejectionKind::MissingParameters), 1);
    assert_eq!(counters.shadowed(RejectionKind::InvalidBody), 1);
    assert_eq!(counters.shadowed(RejectionKind::MalformedJson), 1);
    assert_eq!(counters.rejected(RejectionKind::InvalidBody), 0);
}

#[tokio::test]
async fn counters_count_rejections_by_kind() {
    let layer = orders_layer();
    send(&layer, json_request("/orders?dryRun=1", "{}")).await;
    send(&layer, json_request("/orders", GOOD)).await;
    send(&layer, json_request("/orders?dryRun=1", GOOD)).await;
    let counters = layer.counters();
    assert_eq!(counters.checked, 3);
    assert_eq!(counters.passed, 1);
    assert_eq!(counters.rejected(RejectionKind::InvalidBody), 1);
    assert_eq!(counters.rejected(RejectionKind::MissingParameters), 1);
}

// ---------------------------------------------------------------- configuration

#[tokio::test]
async fn config_in_api_gateway_vocabulary_builds_the_same_layer() {
    let config: RequestValidatorConfig = serde_json::from_value(json!({
        "requestValidators": {
            "params-only": {"validateRequestParameters": true},
            "all": {"validateRequestBody": true, "validateRequestParameters": true}
        },
        "requestValidator": "all",
        "models": {"Order": order_model()},
        "routes": {
            "POST /orders": {
                "requestParameters": {
                    "method.request.querystring.dryRun": true,
                    "method.request.header.x-tenant": true,
                    "method.request.querystring.optional": false
                },
                "requestModels": {"application/json": "Order"}
            },
            "GET /orders/{id}": {
                "requestValidator": "params-only",
                "requestParameters": {"method.request.header.x-tenant": true}
            }
        },
        "maxBodyBytes": 1024,
        "gatewayResponses": {"style": "aws"}
    }))
    .unwrap();
    let layer = RequestValidatorLayer::try_from(config).unwrap();
    let (response, _) = send(&layer, json_request("/orders", GOOD)).await;
    assert_eq!(
        json_of(&response),
        json!({"message": "Missing required request parameters: [dryRun]"})
    );
    let (response, _) = send(&layer, json_request("/orders?dryRun=1", "{}")).await;
    assert_eq!(
        json_of(&response),
        json!({"message": "Invalid request body"})
    );
    let request = Request::get("/orders/1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        send(&layer, request).await.0.status(),
        StatusCode::BAD_REQUEST
    );

    assert!(serde_json::from_value::<RequestValidatorConfig>(json!({"unknown": 1})).is_err());
    let bad_validator: RequestValidatorConfig = serde_json::from_value(json!({
        "routes": {"GET /": {"requestValidator": "nope"}}
    }))
    .unwrap();
    assert!(RequestValidatorLayer::try_from(bad_validator).is_err());
    let bad_parameter: RequestValidatorConfig = serde_json::from_value(json!({
        "routes": {"GET /": {"requestParameters": {"method.request.cookie.a": true}}}
    }))
    .unwrap();
    assert!(RequestValidatorLayer::try_from(bad_parameter).is_err());
}

// ---------------------------------------------------------------- S1 ReDoS

#[tokio::test]
async fn s1_redos_pattern_runs_in_linear_time_by_default() {
    let layer = RequestValidatorLayer::builder()
        .route(
            "POST /orders",
            RouteRules::new().model_schema("application/json", json!({"pattern": "^(a+)+$"})),
        )
        .unwrap()
        .build()
        .unwrap();
    let evil = format!("\"{}!\"", "a".repeat(50_000));
    let (response, _) = send(&layer, json_request("/orders", evil)).await;
    assert_eq!(kind_of(&response), RejectionKind::InvalidBody);
    let good = format!("\"{}\"", "a".repeat(50_000));
    assert_eq!(
        send(&layer, json_request("/orders", good)).await.0.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn s1_lookaround_needs_the_backtracking_engine_which_is_bounded() {
    let schema = json!({"pattern": "(?=(a+)+$)x"});
    let linear = RequestValidatorLayer::builder()
        .route(
            "POST /orders",
            RouteRules::new().model_schema("application/json", schema.clone()),
        )
        .unwrap()
        .build();
    assert!(
        linear.is_err(),
        "the linear engine cannot compile look-around"
    );

    let layer = RequestValidatorLayer::builder()
        .pattern_engine(PatternEngine::Backtracking {
            backtrack_limit: 10_000.try_into().unwrap(),
        })
        .route(
            "POST /orders",
            RouteRules::new().model_schema("application/json", schema),
        )
        .unwrap()
        .build()
        .unwrap();
    let evil = format!("\"{}!\"", "a".repeat(30));
    let (response, _) = send(&layer, json_request("/orders", evil)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "fails closed");
    let problem = json_of(&response);
    assert_eq!(problem["errors"][0]["keyword"], "pattern");
}

#[tokio::test]
async fn s1_huge_bounded_repetition_does_not_panic() {
    let built = RequestValidatorLayer::builder()
        .route(
            "POST /orders",
            RouteRules::new().model_schema("application/json", json!({"pattern": "^.{0,404600}$"})),
        )
        .unwrap()
        .build();
    // Either the engine refuses the pattern at build time, or it validates.
    if let Ok(layer) = built {
        let (response, _) = send(&layer, json_request("/orders", "\"abc\"")).await;
        assert!(
            response.status() == StatusCode::OK || response.status() == StatusCode::BAD_REQUEST
        );
    } else {
        assert!(built.unwrap_err().message().contains("does not compile"));
    }
}

// ---------------------------------------------------------------- S2 nesting

#[tokio::test]
async fn s2_deep_nesting_is_400_not_a_stack_overflow() {
    let layer = orders_layer();
    let deep = "[".repeat(100_000);
    let (response, calls) = send(&layer, json_request("/orders?dryRun=1", deep)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(calls, 0);
    assert_eq!(
        json_of(&response)["type"],
        "urn:apigw:problem:bad-request-body:too-deep"
    );
    let deep_object = format!("{}1{}", "{\"a\":".repeat(65), "}".repeat(65));
    let (response, _) = send(&layer, json_request("/orders?dryRun=1", deep_object)).await;
    assert_eq!(kind_of(&response), RejectionKind::TooDeep);
}

#[tokio::test]
async fn s2_recursive_ref_against_a_127_deep_instance_finishes() {
    let layer = RequestValidatorLayer::builder()
        .max_depth(127)
        .model(
            "Tree",
            json!({"type": "object", "properties": {"child": {"$ref": "Tree"}}, "required": ["v"]}),
        )
        .route(
            "POST /trees",
            RouteRules::new().model("application/json", "Tree"),
        )
        .unwrap()
        .build()
        .unwrap();
    let good = format!(
        "{}{}",
        "{\"v\":1,\"child\":".repeat(126),
        "{\"v\":1}".to_owned() + &"}".repeat(126)
    );
    assert_eq!(
        send(&layer, json_request("/trees", good)).await.0.status(),
        StatusCode::OK
    );
    let bad = format!(
        "{}{}",
        "{\"v\":1,\"child\":".repeat(126),
        "{}".to_owned() + &"}".repeat(126)
    );
    let (response, _) = send(&layer, json_request("/trees", bad)).await;
    assert_eq!(kind_of(&response), RejectionKind::InvalidBody);
    let pointer = json_of(&response)["errors"][0]["pointer"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pointer, "/child".repeat(126));
}

// ---------------------------------------------------------------- S3 huge arrays and numbers

#[tokio::test]
async fn s3_huge_unique_array_and_extreme_numbers_are_deterministic() {
    let layer = RequestValidatorLayer::builder()
        .route(
            "POST /a",
            RouteRules::new().model_schema("application/json", json!({"uniqueItems": true})),
        )
        .unwrap()
        .route(
            "POST /n",
            RouteRules::new().model_schema("application/json", json!({"multipleOf": 0.0001})),
        )
        .unwrap()
        .build()
        .unwrap();
    let unique: Vec<u32> = (0..1_000_000).collect();
    let body = serde_json::to_vec(&unique).unwrap();
    assert_eq!(
        send(&layer, json_request("/a", body)).await.0.status(),
        StatusCode::OK
    );
    let mut repeated = unique;
    repeated.push(999_999);
    let body = serde_json::to_vec(&repeated).unwrap();
    let (response, _) = send(&layer, json_request("/a", body)).await;
    assert_eq!(json_of(&response)["errors"][0]["keyword"], "uniqueItems");

    // Out of f64 range: not representable, so not acceptable JSON here.
    for number in ["1e400".to_owned(), "9".repeat(10_000)] {
        let (response, _) = send(&layer, json_request("/n", number)).await;
        assert_eq!(kind_of(&response), RejectionKind::MalformedJson);
    }
    // Huge but finite: a defined answer, the same every time.
    let first = send(&layer, json_request("/n", "1e308")).await.0.status();
    let second = send(&layer, json_request("/n", "1e308")).await.0.status();
    assert_eq!(first, second);
    assert_eq!(
        send(&layer, json_request("/n", "0.0003")).await.0.status(),
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- S4 body size

#[tokio::test]
async fn s4_content_length_over_the_limit_is_413_before_reading() {
    let polls = Arc::new(AtomicUsize::new(0));
    let body = Probe {
        polls: Arc::clone(&polls),
        chunks: 1,
        chunk: 1,
        hint: None,
    };
    let request = post("/orders?dryRun=1")
        .header("content-length", "10485761")
        .body(body)
        .unwrap();
    let (response, calls) = send(&orders_layer(), request).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(calls, 0);
    assert_eq!(polls.load(Ordering::SeqCst), 0, "nothing was read");
    assert_eq!(
        json_of(&response)["type"],
        "urn:apigw:problem:request-too-large:body-too-large"
    );
    // The same from a body's exact size hint (hyper sets it from Content-Length).
    let body = Probe {
        polls: Arc::clone(&polls),
        chunks: 1,
        chunk: 1,
        hint: Some(10 * 1024 * 1024 + 1),
    };
    let request = post("/orders?dryRun=1").body(body).unwrap();
    assert_eq!(
        send(&orders_layer(), request).await.0.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(polls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn s4_chunked_body_crossing_the_limit_is_413_mid_stream() {
    let layer = layer_with(RouteRules::new().model("application/json", "Order"));
    let polls = Arc::new(AtomicUsize::new(0));
    let body = Probe {
        polls: Arc::clone(&polls),
        chunks: 2_000,
        chunk: 8 * 1024,
        hint: None,
    };
    let (response, calls) = send(&layer, post("/orders").body(body).unwrap()).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(calls, 0);
    let read = polls.load(Ordering::SeqCst);
    assert!(
        read <= 1282,
        "stopped soon after 10 MiB, read {read} chunks"
    );
    assert_eq!(kind_of(&response), RejectionKind::TooLarge);
}

#[tokio::test]
async fn s4_max_body_bytes_is_configurable() {
    let layer = RequestValidatorLayer::builder()
        .max_body_bytes(10)
        .route(
            "POST /x",
            RouteRules::new().model("application/json", "Empty"),
        )
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        send(&layer, json_request("/x", r#"{"a":"12345678"}"#))
            .await
            .0
            .status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        send(&layer, json_request("/x", r#"{"a":1}"#))
            .await
            .0
            .status(),
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- S5 $ref SSRF

#[tokio::test]
async fn s5_ref_to_a_url_or_file_is_a_config_error_with_no_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for reference in [
        format!("http://127.0.0.1:{port}/x"),
        format!("http://127.0.0.1:{port}/x#/definitions/a"),
        "file:///etc/passwd".to_owned(),
        "https://apigw.invalid/models/NotThere".to_owned(),
    ] {
        let as_model = RequestValidatorLayer::builder()
            .model("M", json!({"properties": {"a": {"$ref": reference}}}))
            .route("POST /m", RouteRules::new().model("application/json", "M"))
            .unwrap()
            .build();
        let error = as_model.expect_err("unregistered $ref must not build");
        assert!(error.message().contains("not registered"), "{error}");
        let inline = RequestValidatorLayer::builder()
            .route(
                "POST /m",
                RouteRules::new().model_schema("application/json", json!({"$ref": reference})),
            )
            .unwrap()
            .build();
        assert!(inline.is_err());
    }
    // `$schema` pointing at the listener is not fetched either.
    let _ = RequestValidatorLayer::builder()
        .model(
            "S",
            json!({"$schema": format!("http://127.0.0.1:{port}/schema")}),
        )
        .route("POST /m", RouteRules::new().model("application/json", "S"))
        .unwrap()
        .build();
    let mut accepted = 0;
    while listener.accept().is_ok() {
        accepted += 1;
    }
    assert_eq!(accepted, 0, "no connection was made");
}

// ---------------------------------------------------------------- S6 duplicate keys

#[tokio::test]
async fn s6_duplicate_keys_are_rejected_so_the_backend_cannot_disagree() {
    let layer = RequestValidatorLayer::builder()
        .route(
            "POST /users",
            RouteRules::new().model_schema(
                "application/json",
                json!({"properties": {"role": {"enum": ["user"]}}}),
            ),
        )
        .unwrap()
        .build()
        .unwrap();
    let (response, calls) = send(
        &layer,
        json_request("/users", r#"{"role":"user","role":"admin"}"#),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(calls, 0);
    let problem = json_of(&response);
    assert_eq!(
        problem["type"],
        "urn:apigw:problem:bad-request-body:duplicate-key"
    );
    assert_eq!(problem["errors"][0]["pointer"], "/role");
    let nested = r#"{"a":{"b":[{"role":"user"},{"x":1,"x":1}]}}"#;
    let (response, _) = send(&layer, json_request("/users", nested)).await;
    assert_eq!(json_of(&response)["errors"][0]["pointer"], "/a/b/1/x");
}

// ---------------------------------------------------------------- S7 leakage

#[tokio::test]
async fn s7_rejections_do_not_echo_submitted_values() {
    let secret = "hunter2-SECRET";
    let body = format!(
        r#"{{"sku":"{secret}","qty":"{secret}","note":"{secret}{secret}","extra":"{secret}"}}"#
    );
    let (response, _) = send(&orders_layer(), json_request("/orders?dryRun=1", body)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = std::str::from_utf8(response.body()).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(json_of(&response)["errors"].as_array().unwrap().len() >= 4);

    let malformed = format!(r#"{{"password": {secret}}}"#);
    let (response, _) = send(&orders_layer(), json_request("/orders?dryRun=1", malformed)).await;
    let text = std::str::from_utf8(response.body()).unwrap();
    assert!(!text.contains("hunter2"), "{text}");

    let enum_layer = RequestValidatorLayer::builder()
        .route(
            "POST /x",
            RouteRules::new().model_schema(
                "application/json",
                json!({"properties": {"a": {"enum": ["x"]}, "b": {"const": 1}, "c": {"not": {"type": "string"}}},
                       "propertyNames": {"maxLength": 3}}),
            ),
        )
        .unwrap()
        .build()
        .unwrap();
    let body = format!(r#"{{"a":"{secret}","b":"{secret}","c":"{secret}","{secret}":1}}"#);
    let (response, _) = send(&enum_layer, json_request("/x", body)).await;
    let text = std::str::from_utf8(response.body()).unwrap();
    // The offending property name appears only in a pointer, never in a message.
    for error in json_of(&response)["errors"].as_array().unwrap() {
        assert!(
            !error["message"].as_str().unwrap().contains("hunter2"),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------- bodies of other stacks

#[tokio::test]
async fn works_in_front_of_an_axum_router_with_the_validated_body_extractor() {
    use axum::Router;
    use axum::routing::post;

    let app: Router = Router::new()
        .route(
            "/orders",
            post(
                |body: ValidatedBody, raw: String| async move { format!("{}|{raw}", body["qty"]) },
            ),
        )
        .route(
            "/other",
            post(|body: Option<ValidatedBody>| async move { body.is_none().to_string() }),
        )
        .layer(orders_layer());
    let request = Request::post("/orders?dryRun=1")
        .header("x-tenant", "acme")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(GOOD))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, format!("2|{GOOD}"));

    let request = Request::post("/other")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "true"
    );
}

#[tokio::test]
async fn validated_body_extractor_without_the_layer_is_a_500_naming_it() {
    use axum::Router;
    use axum::routing::post;

    let app: Router = Router::new().route("/orders", post(|_: ValidatedBody| async { "" }));
    let response = app
        .oneshot(
            Request::post("/orders")
                .body(axum::body::Body::from("{}"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let problem: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("RequestValidatorLayer")
    );
}

#[tokio::test]
async fn works_over_a_real_hyper_connection_with_its_incoming_body() {
    use hyper_util::rt::TokioIo;

    let layer = RequestValidatorLayer::builder()
        .max_body_bytes(64)
        .model("Order", order_model())
        .route(
            "POST /orders",
            RouteRules::new().model("application/json", "Order"),
        )
        .unwrap()
        .build()
        .unwrap();
    let service = layer.layer(Echo::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    let send = |request: Request<Full<Bytes>>| async move {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    };
    let (status, body) = send(json_request("/orders", GOOD)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, GOOD);
    let (status, _) = send(json_request("/orders", r#"{"sku":"A-1"}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Over the limit with a Content-Length: hyper's size hint says so before reading.
    let big = format!(r#"{{"sku":"A-1","qty":2,"note":"{}"}}"#, "x".repeat(100));
    let (status, _) = send(json_request("/orders", big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}
