//! Why `apigw` owns its wire types: where `aws_lambda_events` 1.x
//! serializes differently from API Gateway, next to what our types do with
//! the same input. If one of these starts failing because the peer fixed
//! it, revisit the decision in `src/events/mod.rs`.

use apigw::events::{v1, v2};
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use serde_json::{Value, json};

fn v1_sample() -> Value {
    json!({
        "resource": "/{proxy+}",
        "path": "/a",
        "httpMethod": "GET",
        "headers": {"X-Custom-Header": "second", "Accept": "*/*"},
        "multiValueHeaders": {"X-Custom-Header": ["first", "second"], "Accept": ["*/*"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {"httpMethod": "GET", "path": "/prod/a", "stage": "prod",
                           "identity": {"sourceIp": "203.0.113.9", "apiKey": null}},
        "body": null,
        "isBase64Encoded": false
    })
}

fn v2_sample() -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/a", "rawQueryString": "",
        "headers": {"accept": "*/*"},
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
            "http": {"method": "GET", "path": "/a", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "x"},
            "stage": "$default", "requestId": "id", "routeKey": "$default", "time": "t", "timeEpoch": 1},
        "isBase64Encoded": false
    })
}

#[test]
fn peer_writes_empty_objects_where_api_gateway_sends_null() {
    let peer: ApiGatewayProxyRequest = serde_json::from_value(v1_sample()).unwrap();
    let theirs = serde_json::to_value(&peer).unwrap();
    let ours =
        serde_json::to_value(serde_json::from_value::<v1::Request>(v1_sample()).unwrap()).unwrap();
    for key in [
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
    ] {
        assert_eq!(theirs[key], json!({}), "peer {key}");
        assert_eq!(ours[key], Value::Null, "ours {key}");
    }
}

#[test]
fn peer_lowercases_v1_header_names() {
    let peer: ApiGatewayProxyRequest = serde_json::from_value(v1_sample()).unwrap();
    let theirs = serde_json::to_value(&peer).unwrap();
    assert!(theirs["headers"].get("X-Custom-Header").is_none());
    assert_eq!(theirs["headers"]["x-custom-header"], "second");
    let ours =
        serde_json::to_value(serde_json::from_value::<v1::Request>(v1_sample()).unwrap()).unwrap();
    assert_eq!(ours["headers"]["X-Custom-Header"], "second");
}

#[test]
fn peer_single_value_headers_hold_the_first_value_not_the_last() {
    let mut peer = ApiGatewayProxyRequest::default();
    peer.headers.append("x-dup", "first".parse().unwrap());
    peer.headers.append("x-dup", "last".parse().unwrap());
    let theirs = serde_json::to_value(&peer).unwrap();
    // API Gateway puts the last value in `headers`.
    assert_eq!(theirs["headers"]["x-dup"], "first");

    let request = http::Request::get("/")
        .header("x-dup", "first")
        .header("x-dup", "last")
        .body(())
        .unwrap();
    let (parts, ()) = request.into_parts();
    let ours = v1::Request::from_http(&parts, b"", &Default::default(), Default::default());
    assert_eq!(ours.headers.unwrap()["x-dup"], "last");
}

#[test]
fn peer_adds_members_that_v2_events_never_have() {
    let peer: ApiGatewayV2httpRequest = serde_json::from_value(v2_sample()).unwrap();
    let theirs = serde_json::to_value(&peer).unwrap();
    let ours =
        serde_json::to_value(serde_json::from_value::<v2::Request>(v2_sample()).unwrap()).unwrap();
    for key in [
        "httpMethod",
        "methodArn",
        "type",
        "identitySource",
        "authorizationToken",
        "resource",
    ] {
        assert!(theirs.get(key).is_some(), "peer {key}");
        assert!(ours.get(key).is_none(), "ours {key}");
    }
    // And `stageVariables: {}` where API Gateway leaves the member out.
    assert_eq!(theirs["stageVariables"], json!({}));
    assert!(ours.get("stageVariables").is_none());
}
