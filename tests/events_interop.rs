//! Events built by apigw deserialize with `aws_lambda_events` and convert
//! through `lambda_http` into an `http::Request` whose method, path, query,
//! headers, cookies and body equal the original request's.

use std::collections::BTreeMap;
use std::time::Duration;

use apigw::events::{EventOptions, v1, v2};
use apigw::route::{RouteKey, RouteMatch};
use http::Request;
use proptest::prelude::*;

const NOW: Duration = Duration::from_secs(1_583_348_638);

fn decoded_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                let s = s.replace('+', " ");
                percent_encoding::percent_decode_str(&s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect();
    // Keys are grouped by the event's maps; values keep their order per key.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

fn header_values(headers: &http::HeaderMap) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        out.entry(name.as_str().to_owned())
            .or_default()
            .push(value.to_str().unwrap().to_owned());
    }
    out
}

#[derive(Debug)]
struct Case {
    method: &'static str,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn build(case: &Case) -> (http::request::Parts, Vec<u8>) {
    let mut builder = Request::builder().method(case.method).uri(&case.uri);
    for (name, value) in &case.headers {
        builder = builder.header(name, value);
    }
    let mut request = builder.body(()).unwrap();
    request.extensions_mut().insert(RouteMatch::new(
        "ANY /{proxy+}".parse::<RouteKey>().unwrap(),
        vec![("proxy".into(), "x".into())],
        "$default",
    ));
    request
        .extensions_mut()
        .insert(apigw::identity::RequestId::parse("req-1").unwrap());
    let (parts, ()) = request.into_parts();
    (parts, case.body.clone())
}

fn check_v1(case: &Case) {
    let (parts, body) = build(case);
    let options = EventOptions::new()
        .binary_media_type("application/octet-stream")
        .unwrap();
    let event = v1::Request::from_http(&parts, &body, &options, NOW);
    let json = serde_json::to_string(&event).unwrap();
    let direct = v1::Request::json_from_http(&parts, &body, &options, NOW).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&direct).unwrap(),
        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        "json_from_http and from_http agree"
    );

    let peer: aws_lambda_events::apigw::ApiGatewayProxyRequest =
        serde_json::from_str(&json).expect("aws_lambda_events reads our 1.0 event");
    assert_eq!(peer.http_method, parts.method);

    let request = lambda_http::request::from_str(&json).expect("lambda_http reads our 1.0 event");
    assert_eq!(request.method(), parts.method);
    assert_eq!(request.uri().path(), parts.uri.path());
    assert_eq!(
        decoded_pairs(request.uri().query()),
        decoded_pairs(parts.uri.query())
    );
    let ours = header_values(&parts.headers);
    let theirs = header_values(request.headers());
    for (name, values) in &ours {
        let got = &theirs[name];
        // lambda_http merges `headers` over `multiValueHeaders`, keeping only
        // the last value of a repeated header: that loss is on its side.
        assert!(
            got == values || got == &vec![values.last().unwrap().clone()],
            "{name}: {got:?} vs {values:?}"
        );
    }
    assert_eq!(request.body().as_ref(), &body[..]);
}

fn check_v2(case: &Case) {
    let (parts, body) = build(case);
    let event = v2::Request::from_http(&parts, &body, &EventOptions::new(), NOW);
    let json = serde_json::to_string(&event).unwrap();
    let direct = v2::Request::json_from_http(&parts, &body, &EventOptions::new(), NOW).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&direct).unwrap(),
        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        "json_from_http and from_http agree"
    );

    let peer: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
        serde_json::from_str(&json).expect("aws_lambda_events reads our 2.0 event");
    assert_eq!(peer.request_context.http.method, parts.method);

    let request = lambda_http::request::from_str(&json).expect("lambda_http reads our 2.0 event");
    assert_eq!(request.method(), parts.method);
    assert_eq!(request.uri().path(), parts.uri.path());
    assert_eq!(
        request.uri().query().filter(|q| !q.is_empty()),
        parts.uri.query().filter(|q| !q.is_empty())
    );
    let ours = header_values(&parts.headers);
    let theirs = header_values(request.headers());
    for (name, values) in &ours {
        let got = theirs[name].join(",");
        if name == "cookie" {
            let cookies: Vec<&str> = values
                .iter()
                .flat_map(|v| v.split(';'))
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            assert_eq!(got, cookies.join("; "));
        } else {
            assert_eq!(got, values.join(","), "{name}");
        }
    }
    assert_eq!(request.body().as_ref(), &body[..]);
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            method: "GET",
            uri: "/orders/7?tag=a&tag=b&q=x+y&plus=%2B".into(),
            headers: vec![
                ("accept".into(), "*/*".into()),
                ("x-dup".into(), "one".into()),
                ("x-dup".into(), "two".into()),
                ("cookie".into(), "a=1; b=2".into()),
                ("cookie".into(), "c=3".into()),
                ("host".into(), "api.example.com".into()),
            ],
            body: Vec::new(),
        },
        Case {
            method: "POST",
            uri: "/upload".into(),
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body: vec![0, 159, 146, 150, 255, b'a'],
        },
        Case {
            method: "PUT",
            uri: "/json".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: r#"{"name":"ünïcode"}"#.as_bytes().to_vec(),
        },
        Case {
            method: "DELETE",
            uri: "/form?empty=&flag".into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: b"a=1&b=2".to_vec(),
        },
    ]
}

#[test]
fn v1_events_convert_through_lambda_http_to_the_original_request() {
    for case in cases() {
        check_v1(&case);
    }
}

#[test]
fn v2_events_convert_through_lambda_http_to_the_original_request() {
    for case in cases() {
        check_v2(&case);
    }
}

#[test]
fn named_stages_reach_lambda_http_as_api_gateway_sends_them() {
    let (mut parts, _) = build(&cases()[0]);
    parts.extensions.insert(RouteMatch::new(
        "GET /orders/{id}".parse::<RouteKey>().unwrap(),
        vec![("id".into(), "7".into())],
        "prod",
    ));
    let v2_event = v2::Request::from_http(&parts, b"", &EventOptions::new(), NOW);
    assert_eq!(v2_event.raw_path, "/prod/orders/7");
    let request =
        lambda_http::request::from_str(&serde_json::to_string(&v2_event).unwrap()).unwrap();
    assert_eq!(request.uri().path(), "/prod/orders/7");

    let v1_event = v1::Request::from_http(&parts, b"", &EventOptions::new(), NOW);
    assert_eq!(v1_event.path, "/orders/7");
    assert_eq!(
        v1_event.request_context.path.as_deref(),
        Some("/prod/orders/7")
    );
    // lambda_http puts the stage back in front of 1.0 paths.
    let request =
        lambda_http::request::from_str(&serde_json::to_string(&v1_event).unwrap()).unwrap();
    assert_eq!(request.uri().path(), "/prod/orders/7");
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x-a".to_owned()),
        Just("x-b".to_owned()),
        Just("accept".to_owned()),
        "x-[a-z]{1,8}",
    ]
}

fn query_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b%2Bc".to_owned()),
        Just("d+e".to_owned()),
        Just("%E2%9C%93".to_owned()),
        "[a-z0-9]{1,5}",
    ]
}

prop_compose! {
    fn arbitrary_case()(
        method in prop_oneof![Just("GET"), Just("POST"), Just("PATCH")],
        path in "(/[a-z0-9]{1,6}){1,3}",
        query in proptest::collection::vec((query_piece(), query_piece()), 0..5),
        headers in proptest::collection::vec((header_name(), "[ -~&&[^,;]]{0,12}"), 0..6),
        binary in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) -> Case {
        let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        let uri = if query.is_empty() { path } else { format!("{path}?{}", query.join("&")) };
        let mut headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(n, v)| (n, v.trim().to_owned()))
            .collect();
        headers.push((
            "content-type".into(),
            if binary { "application/octet-stream".into() } else { "text/plain".into() },
        ));
        Case { method, uri, headers, body }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_requests_survive_the_trip_through_lambda_http(case in arbitrary_case()) {
        check_v1(&case);
        check_v2(&case);
    }
}

#[test]
fn json_from_http_matches_from_http_with_every_extension() {
    use apigw::identity::{ApiKeyIdentity, AuthorizerContext, JwtClaims};
    let (mut parts, body) = build(&cases()[0]);
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), "alice".into());
    claims.insert("groups".into(), serde_json::json!(["a", "b\"c"]));
    let mut context = serde_json::Map::new();
    context.insert("n".into(), 1.into());
    parts
        .extensions
        .insert(JwtClaims::new(claims, vec!["s1".into()]));
    parts
        .extensions
        .insert(AuthorizerContext::new(Some("p\\1".into()), context, None));
    parts
        .extensions
        .insert(ApiKeyIdentity::new("id", "key\t1", "plan"));
    parts
        .extensions
        .insert(std::net::IpAddr::from([198, 51, 100, 7]));
    let options = EventOptions::new()
        .stage("dev")
        .stage_variable("a", "1")
        .stage_variable("quote", "\"x\"");
    let value = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap();
    assert_eq!(
        value(&v1::Request::json_from_http(&parts, &body, &options, NOW).unwrap()),
        serde_json::to_value(v1::Request::from_http(&parts, &body, &options, NOW)).unwrap()
    );
    assert_eq!(
        value(&v2::Request::json_from_http(&parts, &body, &options, NOW).unwrap()),
        serde_json::to_value(v2::Request::from_http(&parts, &body, &options, NOW)).unwrap()
    );
}
