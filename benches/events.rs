//! Payload round trips: request → event → JSON → (function answer) → parse
//! → HTTP response, for formats 1.0 and 2.0, through `apigw::events` and,
//! in the same run, through `aws_lambda_events` types (the conversions a
//! gateway would write around them; the peer has none of its own on this
//! side). Also event parsing, with `serde_json::Value` as the floor.
//!
//! `cargo bench --bench events`

use std::hint::black_box;
use std::time::Duration;

use apigw::events::{EventOptions, v1, v2};
use apigw::route::{RouteKey, RouteMatch};
use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayProxyResponse,
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body as PeerBody;
use aws_lambda_events::query_map::QueryMap;
use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use http::HeaderMap;
use http::request::Parts;

const NOW: Duration = Duration::from_millis(1_583_348_638_390);

/// A typical browser request through CloudFront: the header set of the AWS
/// sample events, a query string, a small JSON body.
fn typical_request() -> (Parts, Bytes) {
    let mut builder =
        http::Request::post("/orders/7?expand=items&expand=customer&currency=EUR&page=2");
    for (name, value) in [
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8",
        ),
        ("accept-encoding", "gzip, deflate, sdch, br"),
        ("accept-language", "en-US,en;q=0.8"),
        ("cache-control", "max-age=0"),
        ("cloudfront-forwarded-proto", "https"),
        ("cloudfront-is-desktop-viewer", "true"),
        ("cloudfront-is-mobile-viewer", "false"),
        ("cloudfront-is-smarttv-viewer", "false"),
        ("cloudfront-is-tablet-viewer", "false"),
        ("cloudfront-viewer-country", "US"),
        ("content-type", "application/json"),
        ("host", "1234567890.execute-api.us-east-1.amazonaws.com"),
        ("upgrade-insecure-requests", "1"),
        (
            "user-agent",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.82 Safari/537.36 OPR/39.0.2256.48",
        ),
        (
            "via",
            "1.1 fb7cca60f0ecd82ce07790c9c5eef16c.cloudfront.net (CloudFront)",
        ),
        (
            "x-amz-cf-id",
            "cDehVQoZnx43VYQb9j2-nvCh-9z396Uhbp027Y2JvkCPNLmGJHqlaA==",
        ),
        ("x-forwarded-for", "127.0.0.1, 127.0.0.2"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-proto", "https"),
        ("cookie", "session=abc123; theme=dark; lang=en"),
    ] {
        builder = builder.header(name, value);
    }
    let mut request = builder.body(()).unwrap();
    request.extensions_mut().insert(RouteMatch::new(
        "POST /orders/{id}".parse::<RouteKey>().unwrap(),
        vec![("id".into(), "7".into())],
        "prod",
    ));
    request
        .extensions_mut()
        .insert(std::net::SocketAddr::from(([203, 0, 113, 9], 4711)));
    // As behind `LambdaIntegration`, which sets the id before building the event.
    request
        .extensions_mut()
        .insert(apigw::identity::RequestId::parse("c6af9ac6-7b61-11e6-9a41-93e8deadbeef").unwrap());
    let (parts, ()) = request.into_parts();
    (
        parts,
        Bytes::from_static(br#"{"items":[{"sku":"A-1","qty":2}],"note":"leave at door"}"#),
    )
}

/// A typical function answer.
const V1_ANSWER: &[u8] = br#"{"statusCode":200,"headers":{"content-type":"application/json","x-request-id":"abc"},"multiValueHeaders":{"set-cookie":["a=1; Path=/","b=2; Path=/"]},"body":"{\"id\":7,\"status\":\"shipped\",\"items\":[{\"sku\":\"A-1\",\"qty\":2}]}","isBase64Encoded":false}"#;
const V2_ANSWER: &[u8] = br#"{"statusCode":200,"headers":{"content-type":"application/json","x-request-id":"abc"},"cookies":["a=1; Path=/","b=2; Path=/"],"body":"{\"id\":7,\"status\":\"shipped\",\"items\":[{\"sku\":\"A-1\",\"qty\":2}]}","isBase64Encoded":false}"#;

/// The same trip through the owned event (`from_http` + `to_vec`), for
/// handlers that want the struct.
#[inline(never)]
fn apigw_v1_owned(parts: &Parts, body: &[u8], options: &EventOptions) -> http::Response<Bytes> {
    let payload = serde_json::to_vec(&v1::Request::from_http(parts, body, options, NOW)).unwrap();
    black_box(&payload);
    v1::Response::from_slice(V1_ANSWER)
        .unwrap()
        .into_http(&parts.headers, options)
        .unwrap()
}

#[inline(never)]
fn apigw_v1(parts: &Parts, body: &[u8], options: &EventOptions) -> http::Response<Bytes> {
    let payload = v1::Request::json_from_http(parts, body, options, NOW).unwrap();
    black_box(&payload);
    v1::Response::from_slice(V1_ANSWER)
        .unwrap()
        .into_http(&parts.headers, options)
        .unwrap()
}

#[inline(never)]
fn apigw_v2(parts: &Parts, body: &[u8], options: &EventOptions) -> http::Response<Bytes> {
    let payload = v2::Request::json_from_http(parts, body, options, NOW).unwrap();
    black_box(&payload);
    v2::Response::from_slice(V2_ANSWER)
        .unwrap()
        .into_http()
        .unwrap()
}

/// The same trip with `aws_lambda_events` types: what a gateway builds
/// around them (they have no request → event conversion).
#[inline(never)]
fn peer_v1(parts: &Parts, body: &[u8]) -> http::Response<Bytes> {
    let query: QueryMap = parts.uri.query().unwrap_or_default().parse().unwrap();
    let mut context = ApiGatewayProxyRequestContext::default();
    context.http_method = parts.method.clone();
    context.stage = Some("prod".into());
    context.path = Some(format!("/prod{}", parts.uri.path()));
    context.request_id = Some("c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into());
    context.request_time = Some("04/Mar/2020:19:03:58 +0000".into());
    context.request_time_epoch = NOW.as_millis() as i64;
    context.resource_path = Some("/orders/{id}".into());
    context.identity.source_ip = Some("203.0.113.9".into());
    let mut event = ApiGatewayProxyRequest::default();
    event.resource = Some("/orders/{id}".into());
    event.path = Some(parts.uri.path().into());
    event.http_method = parts.method.clone();
    event.headers = parts.headers.clone();
    event.multi_value_headers = parts.headers.clone();
    event.query_string_parameters = query.clone();
    event.multi_value_query_string_parameters = query;
    event.path_parameters = [("id".to_owned(), "7".to_owned())].into_iter().collect();
    event.request_context = context;
    event.body = Some(String::from_utf8(body.to_vec()).unwrap());
    let payload = serde_json::to_vec(&event).unwrap();
    black_box(&payload);
    let answer: ApiGatewayProxyResponse = serde_json::from_slice(V1_ANSWER).unwrap();
    let mut headers: HeaderMap = answer.multi_value_headers;
    for (name, value) in &answer.headers {
        if !headers.get_all(name).iter().any(|v| v == value) {
            headers.append(name, value.clone());
        }
    }
    let body = match answer.body {
        Some(PeerBody::Text(text)) => Bytes::from(text),
        Some(PeerBody::Binary(bytes)) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(answer.status_code as u16).unwrap();
    *response.headers_mut() = headers;
    response
}

#[inline(never)]
fn peer_v2(parts: &Parts, body: &[u8]) -> http::Response<Bytes> {
    let raw_query = parts.uri.query().unwrap_or_default();
    let mut headers = HeaderMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        if name == http::header::COOKIE {
            cookies.extend(
                value
                    .to_str()
                    .unwrap()
                    .split(';')
                    .map(|c| c.trim().to_owned()),
            );
        } else {
            headers.append(name, value.clone());
        }
    }
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some("POST /orders/{id}".into());
    context.stage = Some("prod".into());
    context.request_id = Some("c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into());
    context.time = Some("04/Mar/2020:19:03:58 +0000".into());
    context.time_epoch = NOW.as_millis() as i64;
    context.http.method = parts.method.clone();
    context.http.path = Some(format!("/prod{}", parts.uri.path()));
    context.http.source_ip = Some("203.0.113.9".into());
    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some("POST /orders/{id}".into());
    event.raw_path = Some(format!("/prod{}", parts.uri.path()));
    event.raw_query_string = Some(raw_query.into());
    event.cookies = Some(cookies);
    event.headers = headers;
    event.query_string_parameters = raw_query.parse().unwrap();
    event.path_parameters = [("id".to_owned(), "7".to_owned())].into_iter().collect();
    event.request_context = context;
    event.body = Some(String::from_utf8(body.to_vec()).unwrap());
    let payload = serde_json::to_vec(&event).unwrap();
    black_box(&payload);
    let answer: ApiGatewayV2httpResponse = serde_json::from_slice(V2_ANSWER).unwrap();
    let mut headers = answer.headers;
    for cookie in &answer.cookies {
        headers.append(http::header::SET_COOKIE, cookie.parse().unwrap());
    }
    let body = match answer.body {
        Some(PeerBody::Text(text)) => Bytes::from(text),
        Some(PeerBody::Binary(bytes)) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(answer.status_code as u16).unwrap();
    *response.headers_mut() = headers;
    response
}

#[allow(clippy::print_stdout)] // the event sizes belong next to the figures
fn round_trips(c: &mut Criterion) {
    let (parts, body) = typical_request();
    let options = EventOptions::new();

    let v1_size = serde_json::to_vec(&v1::Request::from_http(&parts, &body, &options, NOW))
        .unwrap()
        .len();
    let v2_size = serde_json::to_vec(&v2::Request::from_http(&parts, &body, &options, NOW))
        .unwrap()
        .len();
    println!("typical 1.0 event: {v1_size} bytes, 2.0 event: {v2_size} bytes");

    let mut group = c.benchmark_group("v1_round_trip");
    group.bench_function("apigw", |b| {
        b.iter(|| apigw_v1(black_box(&parts), &body, &options));
    });
    group.bench_function("apigw_owned_event", |b| {
        b.iter(|| apigw_v1_owned(black_box(&parts), &body, &options));
    });
    group.bench_function("aws_lambda_events", |b| {
        b.iter(|| peer_v1(black_box(&parts), &body));
    });
    group.finish();

    let mut group = c.benchmark_group("v2_round_trip");
    group.bench_function("apigw", |b| {
        b.iter(|| apigw_v2(black_box(&parts), &body, &options));
    });
    group.bench_function("aws_lambda_events", |b| {
        b.iter(|| peer_v2(black_box(&parts), &body));
    });
    group.finish();
}

fn parsing(c: &mut Criterion) {
    let (parts, body) = typical_request();
    let options = EventOptions::new();
    let v1_json =
        serde_json::to_vec(&v1::Request::from_http(&parts, &body, &options, NOW)).unwrap();
    let v2_json =
        serde_json::to_vec(&v2::Request::from_http(&parts, &body, &options, NOW)).unwrap();

    let mut group = c.benchmark_group("parse_v1_event");
    group.bench_function("apigw", |b| {
        b.iter(|| serde_json::from_slice::<v1::Request>(black_box(&v1_json)).unwrap());
    });
    group.bench_function("aws_lambda_events", |b| {
        b.iter(|| serde_json::from_slice::<ApiGatewayProxyRequest>(black_box(&v1_json)).unwrap());
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&v1_json)).unwrap());
    });
    group.finish();

    let mut group = c.benchmark_group("parse_v2_event");
    group.bench_function("apigw", |b| {
        b.iter(|| serde_json::from_slice::<v2::Request>(black_box(&v2_json)).unwrap());
    });
    group.bench_function("aws_lambda_events", |b| {
        b.iter(|| serde_json::from_slice::<ApiGatewayV2httpRequest>(black_box(&v2_json)).unwrap());
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&v2_json)).unwrap());
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = round_trips, parsing
}

/// `EVENTS_LOOP=<name>:<n>` runs one round trip `n` times and exits, for
/// instruction counts under `valgrind --tool=callgrind` (repeatable whatever
/// the machine's load): names `apigw_v1`, `apigw_v1_owned`, `peer_v1`,
/// `apigw_v2`, `peer_v2`.
fn instruction_loop(spec: &str) {
    let (name, n) = spec.split_once(':').expect("EVENTS_LOOP=<name>:<n>");
    let n: usize = n.parse().expect("EVENTS_LOOP count");
    let (parts, body) = typical_request();
    let options = EventOptions::new();
    for _ in 0..n {
        let response = match name {
            "apigw_v1" => apigw_v1(black_box(&parts), &body, &options),
            "apigw_v1_owned" => apigw_v1_owned(black_box(&parts), &body, &options),
            "peer_v1" => peer_v1(black_box(&parts), &body),
            "apigw_v2" => apigw_v2(black_box(&parts), &body, &options),
            "peer_v2" => peer_v2(black_box(&parts), &body),
            other => panic!("unknown round trip {other}"),
        };
        black_box(response);
    }
}

fn main() {
    if let Ok(spec) = std::env::var("EVENTS_LOOP") {
        instruction_loop(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
