//! Property: any request — random headers with duplicates and mixed case,
//! query strings with `+`, `%2B` and repeated keys, binary bodies —
//! survives request → event → (a handler that echoes the event) → response
//! without loss or panic, in both payload formats.

use apigw::integration::{LambdaIntegration, PayloadFormat, handler_fn};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Echoes the event: the body as it came, the headers and query maps as
/// JSON in response headers.
fn echo(format: PayloadFormat) -> LambdaIntegration<impl apigw::integration::Invoke> {
    LambdaIntegration::builder(handler_fn(|event: Value| async move {
        let (headers, query) = if event.get("version") == Some(&json!("2.0")) {
            (
                event["headers"].clone(),
                event["queryStringParameters"].clone(),
            )
        } else {
            (
                event["multiValueHeaders"].clone(),
                event["multiValueQueryStringParameters"].clone(),
            )
        };
        Ok::<_, String>(json!({
            "statusCode": 200,
            "headers": {
                "content-type": "application/octet-stream",
                "x-echo-headers": headers.to_string(),
                "x-echo-query": query.to_string(),
            },
            "body": event["body"],
            "isBase64Encoded": event["isBase64Encoded"],
        }))
    }))
    .payload_format(format)
    .binary_media_type("application/octet-stream")
    .build()
    .unwrap()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

prop_compose! {
    fn request_parts()(
        headers in proptest::collection::vec(
            (prop_oneof![Just("X-Dup"), Just("x-dup"), Just("X-Other"), Just("accept")], "[!-~][ -~]{0,10}[!-~]"),
            0..6,
        ),
        query in proptest::collection::vec(
            (prop_oneof![Just("k"), Just("a+b"), Just("%2B"), Just("q")], prop_oneof![Just("1"), Just("x+y"), Just("%2B"), Just("%2C"), Just("")]),
            0..6,
        ),
        body in proptest::collection::vec(any::<u8>(), 0..128),
    ) -> (Vec<(&'static str, String)>, Vec<(&'static str, &'static str)>, Vec<u8>) {
        (headers, query, body)
    }
}

fn run(format: PayloadFormat, headers: &[(&str, String)], query: &[(&str, &str)], body: &[u8]) {
    let raw_query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let uri = if raw_query.is_empty() {
        "/p".to_owned()
    } else {
        format!("/p?{}", raw_query.join("&"))
    };
    let mut builder = Request::post(&uri).header("content-type", "application/octet-stream");
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let request = builder
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime.block_on(echo(format).oneshot(request)).unwrap();
    assert_eq!(response.status(), 200);
    let echoed_headers: Value =
        serde_json::from_str(response.headers()["x-echo-headers"].to_str().unwrap()).unwrap();
    let echoed_query: Value =
        serde_json::from_str(response.headers()["x-echo-query"].to_str().unwrap()).unwrap();
    let got = runtime
        .block_on(response.into_body().collect())
        .unwrap()
        .to_bytes();
    assert_eq!(&got[..], body, "body");

    // Every header value, in order, per lowercased name.
    let mut expected: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in headers {
        expected
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value.clone());
    }
    let mut expected_query: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in query {
        expected_query.entry(decode(k)).or_default().push(decode(v));
    }
    match format {
        PayloadFormat::V1 => {
            for (name, values) in &expected {
                assert_eq!(echoed_headers[name], json!(values), "{name}");
            }
            if expected_query.is_empty() {
                assert!(echoed_query.is_null());
            } else {
                assert_eq!(echoed_query, json!(expected_query));
            }
        }
        _ => {
            for (name, values) in &expected {
                assert_eq!(echoed_headers[name], json!(values.join(",")), "{name}");
            }
            let joined: std::collections::BTreeMap<_, _> = expected_query
                .iter()
                .map(|(k, v)| (k.clone(), v.join(",")))
                .collect();
            if joined.is_empty() {
                assert!(echoed_query.is_null());
            } else {
                assert_eq!(echoed_query, json!(joined));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_request_survives_the_v1_round_trip((headers, query, body) in request_parts()) {
        run(PayloadFormat::V1, &headers, &query, &body);
    }

    #[test]
    fn any_request_survives_the_v2_round_trip((headers, query, body) in request_parts()) {
        run(PayloadFormat::V2, &headers, &query, &body);
    }
}
