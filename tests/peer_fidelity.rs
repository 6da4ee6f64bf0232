//! The evidence for owning the wire types: how `aws_lambda_events` 1.x
//! serializes what API Gateway sends. Each test pins one deviation.
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
        "requestContext": {"httpMethod": "GET", "path": "/prod/a", "stage": "prod", "identity": {"sourceIp": "1.2.3.4", "apiKey": null}},
        "body": null,
        "isBase64Encoded": false
    })
}

#[test]
fn experiment() {
    let parsed: ApiGatewayProxyRequest = serde_json::from_value(v1_sample()).unwrap();
    let out = serde_json::to_value(&parsed).unwrap();
    println!("V1 {}", serde_json::to_string_pretty(&out).unwrap());
    let v2 = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/a", "rawQueryString": "",
        "headers": {"accept": "*/*"},
        "requestContext": {"http": {"method": "GET", "path": "/a", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "x"}, "stage": "$default", "requestId": "id", "routeKey": "$default", "time": "t", "timeEpoch": 1},
        "isBase64Encoded": false
    });
    let parsed: ApiGatewayV2httpRequest = serde_json::from_value(v2).unwrap();
    println!(
        "V2 {}",
        serde_json::to_string_pretty(&serde_json::to_value(&parsed).unwrap()).unwrap()
    );
}
