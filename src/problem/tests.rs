use super::*;
use http::header::RETRY_AFTER;
use serde_json::json;

fn json_of(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).expect("the body is JSON")
}

fn id() -> RequestId {
    RequestId::parse("req-1").unwrap()
}

#[test]
fn there_are_the_21_api_gateway_types() {
    assert_eq!(GatewayResponseType::ALL.len(), 21);
    for ty in GatewayResponseType::ALL {
        assert_eq!(ty.as_str().parse::<GatewayResponseType>().unwrap(), ty);
        assert_eq!(serde_json::to_value(ty).unwrap(), json!(ty.as_str()));
    }
    assert!("NOT_A_TYPE".parse::<GatewayResponseType>().is_err());
}

#[test]
fn every_type_has_its_api_gateway_default_status() {
    use GatewayResponseType::*;
    let expected: [(GatewayResponseType, Option<u16>); 21] = [
        (AccessDenied, Some(403)),
        (ApiConfigurationError, Some(500)),
        (AuthorizerConfigurationError, Some(500)),
        (AuthorizerFailure, Some(500)),
        (BadRequestBody, Some(400)),
        (BadRequestParameters, Some(400)),
        (Default4xx, None),
        (Default5xx, None),
        (ExpiredToken, Some(403)),
        (IntegrationFailure, Some(504)),
        (IntegrationTimeout, Some(504)),
        (InvalidApiKey, Some(403)),
        (InvalidSignature, Some(403)),
        (MissingAuthenticationToken, Some(403)),
        (QuotaExceeded, Some(429)),
        (RequestTooLarge, Some(413)),
        (ResourceNotFound, Some(404)),
        (Throttled, Some(429)),
        (Unauthorized, Some(401)),
        (UnsupportedMediaType, Some(415)),
        (WafFiltered, Some(403)),
    ];
    assert_eq!(expected.map(|(ty, _)| ty), GatewayResponseType::ALL);
    let responses = GatewayResponses::default();
    for (ty, status) in expected {
        assert_eq!(ty.default_status().map(|s| s.as_u16()), status, "{ty}");
        let response = responses.render::<Bytes>(&Rejection::new(ty), Some(&id()));
        let body = json_of(&response);
        // Without a default status, DEFAULT_4XX renders 400 and DEFAULT_5XX 500.
        let rendered = status.unwrap_or(if ty == Default5xx { 500 } else { 400 });
        assert_eq!(response.status().as_u16(), rendered, "{ty}");
        assert_eq!(
            body["status"], rendered,
            "{ty}: status member equals the HTTP status"
        );
        assert_eq!(body["type"], ty.problem_type(), "{ty}");
        assert_eq!(body["title"], ty.title(), "{ty}");
        assert_eq!(body["responseType"], ty.as_str(), "{ty}");
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON, "{ty}");
    }
}

#[test]
fn every_type_has_its_api_gateway_default_message_in_aws_style() {
    use GatewayResponseType::*;
    let expected = [
        (
            AccessDenied,
            json!("User is not authorized to access this resource"),
        ),
        (AuthorizerConfigurationError, Value::Null),
        (BadRequestBody, json!("Invalid request body")),
        (IntegrationTimeout, json!("Endpoint request timed out")),
        (InvalidApiKey, json!("Forbidden")),
        (
            MissingAuthenticationToken,
            json!("Missing Authentication Token"),
        ),
        (QuotaExceeded, json!("Limit Exceeded")),
        (RequestTooLarge, json!("Request Too Long")),
        (ResourceNotFound, json!("Not Found")),
        (Throttled, json!("Too Many Requests")),
        (Unauthorized, json!("Unauthorized")),
        (UnsupportedMediaType, json!("Unsupported Media Type")),
        (WafFiltered, json!("Forbidden")),
    ];
    let responses = GatewayResponses::aws();
    for (ty, message) in expected {
        let response = responses.render::<Bytes>(&Rejection::new(ty), Some(&id()));
        assert_eq!(json_of(&response), json!({ "message": message }), "{ty}");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()["x-amzn-errortype"], ty.error_type());
        assert_eq!(response.headers()["x-amzn-requestid"], "req-1");
    }
    for ty in GatewayResponseType::ALL {
        let response = responses.render::<Bytes>(&Rejection::new(ty), None);
        assert_eq!(
            json_of(&response)["message"],
            json!(ty.default_message()),
            "{ty}"
        );
    }
}

#[test]
fn request_id_goes_into_instance_and_request_id_member() {
    let response = GatewayResponses::default()
        .render::<Bytes>(&Rejection::new(GatewayResponseType::Throttled), Some(&id()));
    let body = json_of(&response);
    assert_eq!(body["instance"], "req-1");
    assert_eq!(body["requestId"], "req-1");
}

#[test]
fn uncustomised_type_inherits_a_customised_default_4xx() {
    let responses = GatewayResponses::builder()
        .response(
            GatewayResponseType::Default4xx,
            GatewayResponse::new()
                .status(StatusCode::IM_A_TEAPOT)
                .unwrap()
                .title("Custom")
                .header("access-control-allow-origin", "*")
                .unwrap(),
        )
        .build();
    for ty in GatewayResponseType::ALL
        .into_iter()
        .filter(|t| t.family() == Some(ResponseFamily::ClientError))
    {
        let response = responses.render::<Bytes>(&Rejection::new(ty), None);
        let body = json_of(&response);
        let expected = if ty == GatewayResponseType::Unauthorized {
            401
        } else {
            418
        };
        assert_eq!(response.status().as_u16(), expected, "{ty}");
        assert_eq!(body["status"], expected, "{ty}");
        assert_eq!(body["title"], "Custom", "{ty}");
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "*",
            "{ty}"
        );
    }
    // 5xx types are untouched by DEFAULT_4XX.
    let response = responses.render::<Bytes>(
        &Rejection::new(GatewayResponseType::IntegrationTimeout),
        None,
    );
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[test]
fn uncustomised_type_inherits_a_customised_default_5xx() {
    let responses = GatewayResponses::builder()
        .response(
            GatewayResponseType::Default5xx,
            GatewayResponse::new()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .unwrap()
                .detail("try later"),
        )
        .build();
    for ty in GatewayResponseType::ALL
        .into_iter()
        .filter(|t| t.family() == Some(ResponseFamily::ServerError))
    {
        let response = responses.render::<Bytes>(&Rejection::new(ty), None);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{ty}");
        assert_eq!(json_of(&response)["detail"], "try later", "{ty}");
    }
    let response = responses.render::<Bytes>(&Rejection::new(GatewayResponseType::Throttled), None);
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn specifically_customised_type_wins_over_default_4xx() {
    let responses = GatewayResponses::builder()
        .response(
            GatewayResponseType::Default4xx,
            GatewayResponse::new()
                .status(StatusCode::IM_A_TEAPOT)
                .unwrap()
                .header("x-default", "1")
                .unwrap(),
        )
        .response(
            GatewayResponseType::Throttled,
            GatewayResponse::new()
                .problem_type("https://example.com/slow-down")
                .header("x-own", "1")
                .unwrap(),
        )
        .build();
    let response = responses.render::<Bytes>(&Rejection::new(GatewayResponseType::Throttled), None);
    // Its own entry only: the built-in status, not DEFAULT_4XX's, and none of its headers.
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json_of(&response)["type"], "https://example.com/slow-down");
    assert_eq!(response.headers()["x-own"], "1");
    assert!(response.headers().get("x-default").is_none());
}

#[test]
fn unauthorized_keeps_401_unless_customised_itself() {
    let teapot = GatewayResponse::new()
        .status(StatusCode::IM_A_TEAPOT)
        .unwrap();
    let inherited = GatewayResponses::builder()
        .response(GatewayResponseType::Default4xx, teapot.clone())
        .build();
    let own = GatewayResponses::builder()
        .response(GatewayResponseType::Unauthorized, teapot)
        .build();
    let rejection = Rejection::new(GatewayResponseType::Unauthorized);
    assert_eq!(inherited.status(&rejection), StatusCode::UNAUTHORIZED);
    assert_eq!(own.status(&rejection), StatusCode::IM_A_TEAPOT);
}

#[test]
fn customised_detail_replaces_the_aws_message() {
    let responses = GatewayResponses::builder()
        .style(ResponseStyle::Aws)
        .response(
            GatewayResponseType::QuotaExceeded,
            GatewayResponse::new().detail("Monthly quota spent"),
        )
        .build();
    let response =
        responses.render::<Bytes>(&Rejection::new(GatewayResponseType::QuotaExceeded), None);
    assert_eq!(
        json_of(&response),
        json!({"message": "Monthly quota spent"})
    );
}

#[test]
fn rejection_detail_message_extensions_and_headers_are_rendered() {
    let rejection = Rejection::new(GatewayResponseType::BadRequestParameters)
        .with_problem_type("urn:apigw:problem:bad-request-parameters:missing")
        .with_detail("q is missing")
        .with_message("Missing required request parameters: [q]")
        .with_extension("errors", json!([{"name": "q"}]))
        .with_header(RETRY_AFTER, HeaderValue::from_static("1"));
    let problem = GatewayResponses::default().render::<Bytes>(&rejection, None);
    let body = json_of(&problem);
    assert_eq!(
        body["type"],
        "urn:apigw:problem:bad-request-parameters:missing"
    );
    assert_eq!(body["detail"], "q is missing");
    assert_eq!(body["errors"], json!([{"name": "q"}]));
    assert_eq!(problem.headers()[RETRY_AFTER], "1");
    let aws = GatewayResponses::aws().render::<Bytes>(&rejection, None);
    assert_eq!(
        json_of(&aws),
        json!({"message": "Missing required request parameters: [q]"})
    );
    assert_eq!(aws.headers()[RETRY_AFTER], "1");
}

#[test]
fn rejection_is_inserted_into_the_response_extensions() {
    let rejection = Rejection::new(GatewayResponseType::Throttled);
    let response = GatewayResponses::default().render::<Bytes>(&rejection, None);
    assert_eq!(response.extensions().get::<Rejection>(), Some(&rejection));
}

#[test]
fn rejection_extensions_cannot_shadow_standard_or_reserved_members() {
    let rejection = Rejection::new(GatewayResponseType::Throttled)
        .with_extension("status", 200)
        .with_extension("type", "x")
        .with_extension("instance", "x")
        .with_extension("responseType", "OK")
        .with_extension("requestId", "forged");
    let response = GatewayResponses::default().render::<Bytes>(&rejection, Some(&id()));
    let body = json_of(&response);
    assert_eq!(body["status"], 429);
    assert_eq!(body["type"], "urn:apigw:problem:throttled");
    assert_eq!(body["responseType"], "THROTTLED");
    assert_eq!(body["requestId"], "req-1");
    assert_eq!(body["instance"], "req-1");
}

#[test]
fn problem_defaults_to_about_blank_with_the_reason_phrase_as_title() {
    let problem = ProblemDetails::new(StatusCode::NOT_FOUND);
    let body = serde_json::to_value(&problem).unwrap();
    assert_eq!(
        body,
        json!({"type": "about:blank", "title": "Not Found", "status": 404})
    );
    let response: Response<Bytes> = problem.into_response();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
}

#[test]
fn problem_with_a_type_has_no_default_title() {
    let problem = ProblemDetails::new(StatusCode::BAD_REQUEST).with_type("https://example.com/p");
    assert_eq!(problem.title(), None);
    assert!(
        serde_json::to_value(&problem)
            .unwrap()
            .get("title")
            .is_none()
    );
}

#[test]
fn problem_round_trips_through_json() {
    let problem = ProblemDetails::new(StatusCode::TOO_MANY_REQUESTS)
        .with_type("urn:apigw:problem:throttled")
        .with_title("Too Many Requests")
        .with_detail("slow down")
        .with_instance("abc")
        .with_extension("retryAfter", 3);
    let parsed: ProblemDetails = serde_json::from_slice(&problem.to_bytes()).unwrap();
    assert_eq!(parsed, problem);
}

#[test]
fn problem_deserialization_ignores_standard_members_of_the_wrong_type() {
    let parsed: ProblemDetails =
        serde_json::from_value(json!({"type": 5, "title": ["x"], "status": 400, "detail": null}))
            .unwrap();
    assert_eq!(parsed.problem_type(), ABOUT_BLANK);
    assert_eq!(parsed.title(), Some("Bad Request"));
    assert_eq!(parsed.detail(), None);
    assert!(serde_json::from_value::<ProblemDetails>(json!({"title": "no status"})).is_err());
}

#[test]
fn gateway_response_status_must_be_an_error_status() {
    assert!(GatewayResponse::new().status(StatusCode::OK).is_err());
    assert!(GatewayResponse::new().status(StatusCode::FOUND).is_err());
    assert!(GatewayResponse::new().header("bad header", "x").is_err());
    assert!(GatewayResponse::new().header("x-ok", "bad\nvalue").is_err());
}

#[test]
fn gateway_responses_load_from_api_gateway_vocabulary() {
    let config: GatewayResponsesConfig = serde_json::from_value(json!({
        "style": "aws",
        "responses": {
            "DEFAULT_4XX": { "responseParameters": { "Access-Control-Allow-Origin": "*" } },
            "THROTTLED": { "statusCode": 503, "message": "Slow down" }
        }
    }))
    .unwrap();
    let responses = GatewayResponses::try_from(config).unwrap();
    assert_eq!(responses.style(), ResponseStyle::Aws);
    let throttled =
        responses.render::<Bytes>(&Rejection::new(GatewayResponseType::Throttled), None);
    assert_eq!(throttled.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_of(&throttled), json!({"message": "Slow down"}));
    let denied =
        responses.render::<Bytes>(&Rejection::new(GatewayResponseType::AccessDenied), None);
    assert_eq!(denied.headers()["access-control-allow-origin"], "*");

    let bad = serde_json::from_value::<GatewayResponsesConfig>(json!({"responses": {"NOPE": {}}}));
    assert!(bad.is_err());
    let unknown_field =
        serde_json::from_value::<GatewayResponsesConfig>(json!({"style": "aws", "extra": 1}));
    assert!(unknown_field.is_err());
    let bad_status: GatewayResponsesConfig =
        serde_json::from_value(json!({"responses": {"THROTTLED": {"statusCode": 200}}})).unwrap();
    assert!(GatewayResponses::try_from(bad_status).is_err());
}

#[test]
fn occurrence_status_overrides_the_default_but_not_a_customisation() {
    let rejection = Rejection::new(GatewayResponseType::IntegrationFailure)
        .with_status(StatusCode::BAD_GATEWAY);
    assert_eq!(
        GatewayResponses::default().status(&rejection),
        StatusCode::BAD_GATEWAY
    );
    let customised = GatewayResponses::builder()
        .response(
            GatewayResponseType::IntegrationFailure,
            GatewayResponse::new()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .unwrap(),
        )
        .build();
    assert_eq!(
        customised.status(&rejection),
        StatusCode::SERVICE_UNAVAILABLE
    );
}
