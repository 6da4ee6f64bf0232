//! `LambdaIntegration` end to end with in-process functions: API Gateway's
//! recorded 1.0 answer rows (SECURITY.md §A6 L1/L2), 2.0 inference (L8),
//! cookies (L5), base64 (L3), timeouts and limits, and where identity data
//! lands in the event.

use std::time::Duration;

use apigw::events::{v1, v2};
use apigw::identity::{ApiKeyIdentity, AuthorizerContext, JwtClaims, RequestId};
use apigw::integration::{
    IntegrationRejection, IntegrationRejectionKind, InvokeError, LambdaIntegration,
    LambdaIntegrationConfig, PayloadFormat, handler_fn,
};
use apigw::problem::{GatewayResponses, Rejection};
use apigw::route::{RouteKey, RouteMatch};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt;

type Answer = (
    StatusCode,
    http::HeaderMap,
    Bytes,
    Option<IntegrationRejection>,
);

async fn send<I: apigw::integration::Invoke>(
    integration: LambdaIntegration<I>,
    request: Request<Full<Bytes>>,
) -> Answer {
    let response: Response<Full<Bytes>> = integration.oneshot(request).await.unwrap();
    let rejection = response.extensions().get::<IntegrationRejection>().copied();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body, rejection)
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).unwrap()
}

/// An integration whose function answers `answer` verbatim.
fn answering(
    format: PayloadFormat,
    answer: &'static str,
) -> LambdaIntegration<impl apigw::integration::Invoke> {
    LambdaIntegration::builder(
        move |_: Bytes| async move { Ok(Bytes::from_static(answer.as_bytes())) },
    )
    .payload_format(format)
    .build()
    .unwrap()
}

async fn v1_answer(answer: &'static str) -> Answer {
    send(answering(PayloadFormat::V1, answer), get("/")).await
}

async fn assert_v1_bad_gateway(answer: &'static str) {
    let (status, headers, body, rejection) = v1_answer(answer).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
    assert_eq!(headers["content-type"], "application/problem+json");
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        problem["type"],
        "urn:apigw:problem:integration-failure:malformed-response"
    );
    assert_eq!(problem["status"], 502);
    assert_eq!(
        rejection.unwrap().kind(),
        IntegrationRejectionKind::MalformedResponse
    );
    // Nothing of the function's answer reaches the client.
    let text = String::from_utf8_lossy(&body);
    for leak in ["wrongValue", "justAString", "value1", "test\""] {
        assert!(!text.contains(leak), "{text}");
    }
}

// --- SECURITY.md §A6 L1: malformed 1.0 answers, one test per recorded row ---

#[tokio::test]
async fn v1_status_only_is_200_with_an_empty_body() {
    let (status, _, body, rejection) = v1_answer(r#"{"statusCode":200}"#).await;
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert!(rejection.is_none());
}

#[tokio::test]
async fn v1_non_string_header_values_are_stringified() {
    let (status, headers, _, _) =
        v1_answer(r#"{"statusCode":200,"headers":{"test-header":"value","header-bool":true}}"#)
            .await;
    assert_eq!(status, 200);
    assert_eq!(headers["test-header"], "value");
    assert_eq!(headers["header-bool"], "true");
}

#[tokio::test]
async fn v1_null_headers_are_accepted() {
    let (status, ..) = v1_answer(r#"{"statusCode":200,"headers":null}"#).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn v1_unknown_top_level_key_is_502() {
    assert_v1_bad_gateway(r#"{"statusCode":200,"wrongValue":"value"}"#).await;
}

#[tokio::test]
async fn v1_empty_object_is_502() {
    assert_v1_bad_gateway("{}").await;
}

#[tokio::test]
async fn v1_base64_body_without_binary_media_types_passes_through_as_text() {
    let (status, _, body, _) =
        v1_answer(r#"{"statusCode":200,"body":"dGVzdC1kYXRh","isBase64Encoded":true}"#).await;
    assert_eq!(status, 200);
    assert_eq!(body, "dGVzdC1kYXRh");
}

#[tokio::test]
async fn v1_multi_value_headers_are_all_sent() {
    let (_, headers, ..) =
        v1_answer(r#"{"statusCode":200,"multiValueHeaders":{"test-multi":["value1","value2"]}}"#)
            .await;
    let values: Vec<_> = headers.get_all("test-multi").iter().collect();
    assert_eq!(values, ["value1", "value2"]);
}

#[tokio::test]
async fn v1_headers_and_multi_value_headers_merge_multi_first() {
    let (_, headers, ..) = v1_answer(
        r#"{"statusCode":200,"multiValueHeaders":{"test-multi":["value-multi"]},"headers":{"test-multi":"value-solo"}}"#,
    )
    .await;
    let values: Vec<_> = headers.get_all("test-multi").iter().collect();
    assert_eq!(values, ["value-multi", "value-solo"]);
}

#[tokio::test]
async fn v1_merge_is_case_insensitive_on_header_names() {
    let (_, headers, ..) = v1_answer(
        r#"{"statusCode":200,"multiValueHeaders":{"tesT-Multi":["value-multi"]},"headers":{"test-multi":"value-solo"}}"#,
    )
    .await;
    let values: Vec<_> = headers.get_all("test-multi").iter().collect();
    assert_eq!(values, ["value-multi", "value-solo"]);
}

#[tokio::test]
async fn v1_the_same_pair_in_both_maps_is_sent_once() {
    let (_, headers, ..) = v1_answer(
        r#"{"statusCode":200,"multiValueHeaders":{"x":["same"]},"headers":{"X":"same"}}"#,
    )
    .await;
    assert_eq!(headers.get_all("x").iter().count(), 1);
}

#[tokio::test]
async fn v1_string_multi_value_headers_are_502() {
    assert_v1_bad_gateway(r#"{"statusCode":200,"multiValueHeaders":{"x":"value1"}}"#).await;
}

#[tokio::test]
async fn v1_non_numeric_status_code_is_502() {
    assert_v1_bad_gateway(r#"{"statusCode":"test"}"#).await;
}

#[tokio::test]
async fn v1_numeric_string_status_code_is_accepted() {
    let (status, ..) = v1_answer(r#"{"statusCode":"201"}"#).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn v1_bare_string_is_502() {
    assert_v1_bad_gateway(r#""justAString""#).await;
}

#[tokio::test]
async fn v1_missing_status_code_with_headers_is_200() {
    let (status, headers, ..) = v1_answer(r#"{"headers":{"test-header":"value"}}"#).await;
    assert_eq!(status, 200);
    assert_eq!(headers["test-header"], "value");
}

#[tokio::test]
async fn v1_non_json_and_non_string_body_are_502() {
    assert_v1_bad_gateway("not json").await;
    assert_v1_bad_gateway(r#"{"statusCode":200,"body":{"a":1}}"#).await;
    assert_v1_bad_gateway(r#"{"statusCode":999}"#).await;
}

#[tokio::test]
async fn v1_default_content_type_is_json() {
    let (_, headers, ..) = v1_answer(r#"{"statusCode":200,"body":"{}"}"#).await;
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test]
async fn v1_aws_style_body_is_api_gateways() {
    let integration =
        LambdaIntegration::builder(|_: Bytes| async { Ok(Bytes::from_static(b"{}")) })
            .payload_format(PayloadFormat::V1)
            .gateway_responses(GatewayResponses::aws())
            .build()
            .unwrap();
    let (status, _, body, _) = send(integration, get("/")).await;
    assert_eq!(status, 502);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"message": "Internal server error"})
    );
}

// --- L3: binary ---

#[tokio::test]
async fn v1_base64_is_decoded_when_binary_support_is_enacted() {
    let integration = LambdaIntegration::builder(|_: Bytes| async {
        Ok(Bytes::from_static(
            br#"{"statusCode":200,"headers":{"content-type":"image/png"},"body":"AAEC/w==","isBase64Encoded":true}"#,
        ))
    })
    .payload_format(PayloadFormat::V1)
    .binary_media_type("image/png")
    .build()
    .unwrap();
    let (status, _, body, _) = send(integration, get("/")).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], &[0, 1, 2, 255]);
}

#[tokio::test]
async fn v1_invalid_base64_under_binary_support_is_500() {
    let integration = LambdaIntegration::builder(|_: Bytes| async {
        Ok(Bytes::from_static(
            br#"{"statusCode":200,"body":"***","isBase64Encoded":true}"#,
        ))
    })
    .payload_format(PayloadFormat::V1)
    .binary_media_type("*/*")
    .build()
    .unwrap();
    let (status, _, body, rejection) = send(integration, get("/")).await;
    assert_eq!(status, 500);
    assert_eq!(
        rejection.unwrap().kind(),
        IntegrationRejectionKind::InvalidBase64
    );
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        problem["type"],
        "urn:apigw:problem:api-configuration-error:invalid-base64"
    );
}

#[tokio::test]
async fn binary_request_bodies_reach_the_function_byte_exact() {
    for format in [PayloadFormat::V1, PayloadFormat::V2] {
        let integration = LambdaIntegration::builder(handler_fn(|event: Value| async move {
            Ok::<_, String>(json!({
                "statusCode": 200,
                "headers": {"content-type": "application/octet-stream"},
                "body": event["body"],
                "isBase64Encoded": event["isBase64Encoded"],
            }))
        }))
        .payload_format(format)
        .binary_media_type("application/octet-stream")
        .build()
        .unwrap();
        let bytes = vec![0u8, 255, 10, 13, 128, 64];
        let request = Request::post("/")
            .header("content-type", "application/octet-stream")
            .body(Full::new(Bytes::from(bytes.clone())))
            .unwrap();
        let (status, _, body, _) = send(integration, request).await;
        assert_eq!(status, 200);
        assert_eq!(&body[..], &bytes[..], "{format:?}");
    }
}

// --- L8 / L5: 2.0 inference and cookies ---

#[tokio::test]
async fn v2_bare_string_is_a_200_with_that_text() {
    let (status, headers, body, _) =
        send(answering(PayloadFormat::V2, r#""Hello""#), get("/")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, "Hello");
}

#[tokio::test]
async fn v2_object_without_status_code_is_a_200_json_body() {
    let (status, headers, body, _) =
        send(answering(PayloadFormat::V2, r#"{"message":"x"}"#), get("/")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, r#"{"message":"x"}"#);
}

#[tokio::test]
async fn v2_the_same_inputs_are_502_in_1_0() {
    assert_v1_bad_gateway(r#"{"message":"x"}"#).await;
    assert_v1_bad_gateway(r#""Hello""#).await;
}

#[tokio::test]
async fn v2_numbers_and_arrays_are_inferred_too() {
    let (status, _, body, _) = send(answering(PayloadFormat::V2, "[1, 2]"), get("/")).await;
    assert_eq!((status.as_u16(), &body[..]), (200, &b"[1, 2]"[..]));
}

#[tokio::test]
async fn v2_invalid_answers_are_500() {
    for answer in [
        "not json",
        r#"{"statusCode":"nope"}"#,
        r#"{"statusCode":200,"body":"%%","isBase64Encoded":true}"#,
    ] {
        let (status, _, body, _) = send(answering(PayloadFormat::V2, answer), get("/")).await;
        assert_eq!(status, 500, "{answer}");
        assert!(!String::from_utf8_lossy(&body).contains("nope"));
    }
}

#[tokio::test]
async fn v2_cookies_become_separate_set_cookie_headers_even_with_commas() {
    let (status, headers, ..) = send(
        answering(
            PayloadFormat::V2,
            r#"{"statusCode":200,"cookies":["a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT","b=2; Expires=Thu, 22 Oct 2026 07:28:00 GMT","c=3"]}"#,
        ),
        get("/"),
    )
    .await;
    assert_eq!(status, 200);
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 3);
    assert_eq!(cookies[0], "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT");
}

#[tokio::test]
async fn v2_base64_bodies_are_always_decoded() {
    let (_, _, body, _) = send(
        answering(
            PayloadFormat::V2,
            r#"{"statusCode":200,"body":"aGk=","isBase64Encoded":true}"#,
        ),
        get("/"),
    )
    .await;
    assert_eq!(body, "hi");
}

#[tokio::test]
async fn hop_by_hop_and_invalid_headers_from_the_function_are_dropped() {
    let (status, headers, ..) = send(
        answering(
            PayloadFormat::V2,
            r#"{"statusCode":200,"headers":{"content-length":"999","transfer-encoding":"chunked","x-bad":"a\r\nb","x-ok":"1"}}"#,
        ),
        get("/"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(headers.get("content-length").is_none());
    assert!(headers.get("transfer-encoding").is_none());
    assert!(headers.get("x-bad").is_none());
    assert_eq!(headers["x-ok"], "1");
}

// --- failures of the call itself ---

#[tokio::test]
async fn function_errors_are_502_in_1_0_and_500_in_2_0_without_their_text() {
    for (format, expected) in [(PayloadFormat::V1, 502), (PayloadFormat::V2, 500)] {
        let integration = LambdaIntegration::builder(handler_fn(|_: Value| async {
            Err::<Value, _>("secret stack trace")
        }))
        .payload_format(format)
        .build()
        .unwrap();
        let (status, _, body, rejection) = send(integration, get("/")).await;
        assert_eq!(status, expected);
        assert_eq!(
            rejection.unwrap().kind(),
            IntegrationRejectionKind::FunctionError
        );
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("urn:apigw:problem:integration-failure:function-error"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_function_is_504_integration_timeout_at_the_configured_timeout() {
    let integration = LambdaIntegration::builder(|_: Bytes| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(Bytes::from_static(b"{}"))
    })
    .timeout(Duration::from_secs(2))
    .build()
    .unwrap();
    let start = tokio::time::Instant::now();
    let (status, _, body, rejection) = send(integration, get("/")).await;
    assert_eq!(status, 504);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(rejection.unwrap().kind(), IntegrationRejectionKind::Timeout);
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["responseType"], "INTEGRATION_TIMEOUT");
    assert_eq!(
        problem["type"],
        "urn:apigw:problem:integration-timeout:timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_timeout_is_29_seconds() {
    let integration = LambdaIntegration::builder(|_: Bytes| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(Bytes::new())
    })
    .build()
    .unwrap();
    let start = tokio::time::Instant::now();
    let (status, ..) = send(integration, get("/")).await;
    assert_eq!(status, 504);
    assert_eq!(start.elapsed(), Duration::from_secs(29));
}

#[tokio::test]
async fn an_unreachable_function_is_integration_failure() {
    let integration = LambdaIntegration::builder(|_: Bytes| async {
        Err::<Bytes, _>(InvokeError::Unreachable("connection refused".into()))
    })
    .build()
    .unwrap();
    let (status, _, body, rejection) = send(integration, get("/")).await;
    assert_eq!(status, 504);
    assert_eq!(
        rejection.unwrap().kind(),
        IntegrationRejectionKind::Unreachable
    );
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        problem["type"],
        "urn:apigw:problem:integration-failure:unreachable"
    );
    assert!(!problem.to_string().contains("refused"));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_without_calling_the_function() {
    let integration = LambdaIntegration::builder(|_: Bytes| async {
        panic!("the function must not be called");
    })
    .body_limit(8)
    .build()
    .unwrap();
    let request = Request::post("/")
        .body(Full::new(Bytes::from_static(b"123456789")))
        .unwrap();
    let (status, _, body, rejection) = send(integration.clone(), request).await;
    assert_eq!(status, 413);
    assert_eq!(
        rejection.unwrap().kind(),
        IntegrationRejectionKind::RequestTooLarge
    );
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["type"], "urn:apigw:problem:request-too-large:body");
    // Also when the length is declared up front.
    let request = Request::post("/")
        .header("content-length", "100")
        .body(Full::new(Bytes::from_static(b"1")))
        .unwrap();
    assert_eq!(send(integration, request).await.0, 413);
}

#[tokio::test]
async fn the_rejection_is_in_the_response_extensions() {
    let response = answering(PayloadFormat::V1, "{}")
        .oneshot(get("/"))
        .await
        .unwrap();
    assert!(response.extensions().get::<Rejection>().is_some());
    assert!(
        response
            .extensions()
            .get::<IntegrationRejection>()
            .is_some()
    );
}

// --- what lands in the event ---

async fn event_of(format: PayloadFormat, request: Request<Full<Bytes>>) -> Value {
    let integration = LambdaIntegration::builder(handler_fn(|event: Value| async move {
        Ok::<_, String>(json!({"statusCode": 200, "body": event.to_string()}))
    }))
    .payload_format(format)
    .stage_variable("env", "test")
    .build()
    .unwrap();
    let (status, _, body, _) = send(integration, request).await;
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

fn with_identity(mut request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), json!("alice"));
    claims.insert("cognito:groups".into(), json!(["admin", "users"]));
    claims.insert("exp".into(), json!(1_700_000_000));
    let mut context = serde_json::Map::new();
    context.insert("tier".into(), json!(3));
    context.insert("beta".into(), json!(true));
    let ext = request.extensions_mut();
    ext.insert(JwtClaims::new(claims, vec!["orders:read".into()]));
    ext.insert(AuthorizerContext::new(Some("user|1".into()), context, None));
    ext.insert(ApiKeyIdentity::new("key-id-1", "key-value-1", "plan"));
    ext.insert(RequestId::parse("req-123").unwrap());
    ext.insert(RouteMatch::new(
        "GET /orders/{id}".parse::<RouteKey>().unwrap(),
        vec![("id".into(), "7".into())],
        "prod",
    ));
    ext.insert(std::net::SocketAddr::from(([203, 0, 113, 9], 4711)));
    request
}

#[tokio::test]
async fn v2_events_carry_authorizer_data_where_api_gateway_puts_it() {
    let event = event_of(PayloadFormat::V2, with_identity(get("/orders/7?x=1"))).await;
    let context = &event["requestContext"];
    assert_eq!(context["authorizer"]["jwt"]["claims"]["sub"], "alice");
    assert_eq!(
        context["authorizer"]["jwt"]["claims"]["cognito:groups"],
        "[admin users]"
    );
    assert_eq!(context["authorizer"]["jwt"]["claims"]["exp"], "1700000000");
    assert_eq!(
        context["authorizer"]["jwt"]["scopes"],
        json!(["orders:read"])
    );
    assert_eq!(
        context["authorizer"]["lambda"],
        json!({"tier": 3, "beta": true})
    );
    assert_eq!(context["requestId"], "req-123");
    assert_eq!(context["stage"], "prod");
    assert_eq!(context["routeKey"], "GET /orders/{id}");
    assert_eq!(context["http"]["sourceIp"], "203.0.113.9");
    assert_eq!(event["routeKey"], "GET /orders/{id}");
    assert_eq!(event["rawPath"], "/prod/orders/7");
    assert_eq!(event["pathParameters"], json!({"id": "7"}));
    assert_eq!(event["stageVariables"], json!({"env": "test"}));
}

#[tokio::test]
async fn v1_events_carry_authorizer_data_and_the_api_key_where_api_gateway_puts_them() {
    let event = event_of(PayloadFormat::V1, with_identity(get("/orders/7"))).await;
    let context = &event["requestContext"];
    assert_eq!(context["authorizer"]["principalId"], "user|1");
    assert_eq!(context["authorizer"]["tier"], "3");
    assert_eq!(context["authorizer"]["beta"], "true");
    assert_eq!(context["authorizer"]["claims"]["sub"], "alice");
    assert_eq!(context["identity"]["apiKey"], "key-value-1");
    assert_eq!(context["identity"]["apiKeyId"], "key-id-1");
    assert_eq!(context["identity"]["sourceIp"], "203.0.113.9");
    assert_eq!(context["requestId"], "req-123");
    assert_eq!(context["path"], "/prod/orders/7");
    assert_eq!(context["resourcePath"], "/orders/{id}");
    assert_eq!(event["resource"], "/orders/{id}");
    assert_eq!(event["path"], "/orders/7");
    assert!(event["queryStringParameters"].is_null());
    assert!(event["multiValueQueryStringParameters"].is_null());
    assert!(event["body"].is_null());
}

#[tokio::test]
async fn v1_query_strings_follow_api_gateway() {
    let event = event_of(
        PayloadFormat::V1,
        get("/p?category=electronics&category=books&q=a+b&plus=%2B"),
    )
    .await;
    assert_eq!(event["queryStringParameters"]["category"], "books");
    assert_eq!(
        event["multiValueQueryStringParameters"]["category"],
        json!(["electronics", "books"])
    );
    assert_eq!(event["queryStringParameters"]["q"], "a b");
    assert_eq!(event["queryStringParameters"]["plus"], "+");
}

#[tokio::test]
async fn v2_query_strings_join_repeats_and_keep_the_raw_string() {
    let event = event_of(PayloadFormat::V2, get("/p?a=1&a=2&b=1%2C2")).await;
    assert_eq!(event["queryStringParameters"]["a"], "1,2");
    assert_eq!(event["queryStringParameters"]["b"], "1,2");
    assert_eq!(event["rawQueryString"], "a=1&a=2&b=1%2C2");
    assert!(event.get("cookies").is_none());
    assert_eq!(event["routeKey"], "$default");
}

#[tokio::test]
async fn v2_headers_are_comma_joined_and_cookies_split_out() {
    let request = Request::get("/")
        .header("x-dup", "value1")
        .header("x-dup", "value2")
        .header("cookie", "a=1; b=2")
        .body(Full::default())
        .unwrap();
    let event = event_of(PayloadFormat::V2, request).await;
    assert_eq!(event["headers"]["x-dup"], "value1,value2");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
}

#[tokio::test]
async fn request_time_comes_from_the_clock() {
    let clock = apigw::clock::ManualClock::new();
    let integration = LambdaIntegration::builder(handler_fn(|event: v2::Request| async move {
        Ok::<_, String>(v2::Response::new(200).with_body(format!(
            "{} {}",
            event.request_context.time, event.request_context.time_epoch
        )))
    }))
    .with_clock(std::sync::Arc::new(clock))
    .build()
    .unwrap();
    let (_, _, body, _) = send(integration, get("/")).await;
    assert_eq!(body, "14/Nov/2023:22:13:20 +0000 1700000000000");
}

#[tokio::test]
async fn typed_v1_handlers_work_end_to_end() {
    let integration = LambdaIntegration::builder(handler_fn(|event: v1::Request| async move {
        Ok::<_, String>(
            v1::Response::new(201)
                .with_header("x-method", event.http_method)
                .with_body("made"),
        )
    }))
    .payload_format(PayloadFormat::V1)
    .build()
    .unwrap();
    let (status, headers, body, _) = send(
        integration,
        Request::post("/").body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(headers["x-method"], "POST");
    assert_eq!(body, "made");
}

#[test]
fn configuration_is_validated_before_serving() {
    let invoker = |_: Bytes| async { Ok(Bytes::new()) };
    assert!(
        LambdaIntegration::builder(invoker)
            .timeout(Duration::ZERO)
            .build()
            .is_err()
    );
    assert!(
        LambdaIntegration::builder(invoker)
            .body_limit(0)
            .build()
            .is_err()
    );
    assert!(
        LambdaIntegration::builder(invoker)
            .binary_media_type("nope")
            .build()
            .is_err()
    );
    let config: LambdaIntegrationConfig = serde_json::from_value(json!({
        "payloadFormatVersion": "1.0",
        "timeoutInMillis": 5000,
        "stageVariables": {"env": "prod"},
        "binaryMediaTypes": ["image/*"]
    }))
    .unwrap();
    let integration = LambdaIntegration::try_from((config, invoker)).unwrap();
    assert_eq!(integration.payload_format(), PayloadFormat::V1);
    assert!(serde_json::from_value::<LambdaIntegrationConfig>(json!({"timeout": 1})).is_err());
}

#[test]
fn the_integration_is_send_sync_clone_and_static() {
    fn assert_bounds<T: Send + Sync + Clone + 'static>() {}
    assert_bounds::<LambdaIntegration<apigw::integration::HttpInvoker>>();
}

#[tokio::test]
async fn the_integration_mounts_in_an_axum_router_behind_route_matching() {
    use apigw::route::{MatchRouteLayer, RouteTable};
    let integration = LambdaIntegration::builder(handler_fn(|event: v2::Request| async move {
        Ok::<_, String>(v2::Response::new(200).with_body(event.route_key))
    }))
    .build()
    .unwrap();
    let routes = RouteTable::builder()
        .route("GET /orders/{id}", ())
        .unwrap()
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route_service("/health", integration.clone())
        .fallback_service(integration)
        .layer(MatchRouteLayer::new(routes));
    let response = app
        .oneshot(
            Request::get("/orders/9")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "GET /orders/{id}");
}
