use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::*;
use crate::clock::ManualClock;
use crate::identity::{ApiKeyIdentity, AuthorizerContext, JwtClaims, RequestId};
use crate::observe;
use crate::route::{MatchRouteLayer, RouteTable};

type Lines = Arc<Mutex<Vec<String>>>;

fn collecting(format: &str) -> (AccessLogLayerBuilder, Lines) {
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    let builder = AccessLogLayer::builder()
        .format(format)
        .sink(move |line: &str| sink.lock().unwrap().push(line.to_owned()));
    (builder, lines)
}

fn ok_backend() -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|_request: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
    })
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).unwrap()
}

#[tokio::test]
async fn the_default_format_is_json_with_api_gateways_fields() {
    let (builder, lines) = collecting(DEFAULT_FORMAT);
    let table = RouteTable::builder()
        .route("GET /orders/{id}", ())
        .unwrap()
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(builder.build().unwrap())
        .layer(MatchRouteLayer::new(table))
        .service(ok_backend());
    let request = Request::get("/orders/1")
        .header("x-request-id", "rid-7")
        .body(Full::default())
        .unwrap();
    service.oneshot(request).await.unwrap();
    let line: Value = serde_json::from_str(&lines.lock().unwrap()[0]).unwrap();
    assert_eq!(line["requestId"], "rid-7");
    assert_eq!(line["httpMethod"], "GET");
    assert_eq!(line["routeKey"], "GET /orders/{id}");
    assert_eq!(line["status"], "200");
    assert_eq!(line["protocol"], "HTTP/1.1");
    assert_eq!(line["responseLength"], "5");
    assert_eq!(line["ip"], "-");
    assert!(line["requestTime"].as_str().unwrap().ends_with(" +0000"));
}

#[tokio::test]
async fn rejections_fill_the_error_variables() {
    let (builder, lines) = collecting(
        r#"{"status":"$context.status","type":"$context.error.responseType","message":$context.error.messageString,"route":"$context.routeKey"}"#,
    );
    let table = RouteTable::builder()
        .route("GET /orders", ())
        .unwrap()
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(builder.build().unwrap())
        .layer(MatchRouteLayer::new(table))
        .service(ok_backend());
    service.oneshot(get("/admin")).await.unwrap();
    let line: Value = serde_json::from_str(&lines.lock().unwrap()[0]).unwrap();
    assert_eq!(line["status"], "403");
    assert_eq!(line["type"], "MISSING_AUTHENTICATION_TOKEN");
    assert_eq!(line["message"], "Missing Authentication Token");
    assert_eq!(line["route"], "-");
}

#[tokio::test]
async fn identity_recorded_by_inner_layers_is_logged_but_api_key_values_never_are() {
    let (builder, lines) = collecting(
        "$context.authorizer.principalId $context.authorizer.tenant $context.identity.apiKeyId $context.identity.apiKey",
    );
    let backend = service_fn(|mut request: Request<Full<Bytes>>| async move {
        let mut context = serde_json::Map::new();
        context.insert("tenant".into(), "acme".into());
        observe::insert(
            request.extensions_mut(),
            AuthorizerContext::new(Some("alice".into()), context, None),
        );
        observe::insert(
            request.extensions_mut(),
            ApiKeyIdentity::new("key-1", "SECRETVALUE0123456789", "gold"),
        );
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    });
    ServiceBuilder::new()
        .layer(builder.build().unwrap())
        .service(backend)
        .oneshot(get("/"))
        .await
        .unwrap();
    let line = lines.lock().unwrap()[0].clone();
    assert_eq!(line, "alice acme key-1 -");
    assert!(!line.contains("SECRET"));
}

#[tokio::test]
async fn jwt_subject_and_claims_are_logged() {
    let (builder, lines) =
        collecting("$context.authorizer.principalId $context.authorizer.claims.scope");
    let backend = service_fn(|mut request: Request<Full<Bytes>>| async move {
        let claims = serde_json::json!({"sub": "bob", "scope": "orders.read"});
        let claims = JwtClaims::new(
            claims.as_object().unwrap().clone(),
            vec!["orders.read".into()],
        );
        observe::insert(request.extensions_mut(), claims);
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    });
    ServiceBuilder::new()
        .layer(builder.build().unwrap())
        .service(backend)
        .oneshot(get("/"))
        .await
        .unwrap();
    assert_eq!(lines.lock().unwrap()[0], "bob orders.read");
}

#[tokio::test]
async fn hostile_header_values_cannot_break_or_forge_a_json_line() {
    let (builder, lines) =
        collecting(r#"{"ua":"$context.identity.userAgent","status":"$context.status"}"#);
    let service = ServiceBuilder::new()
        .layer(builder.build().unwrap())
        .service(ok_backend());
    let hostile = "x\", \"status\":\"999\\";
    let request = Request::get("/")
        .header("user-agent", hostile)
        .body(Full::default())
        .unwrap();
    service.oneshot(request).await.unwrap();
    let line: Value = serde_json::from_str(&lines.lock().unwrap()[0]).unwrap();
    assert_eq!(line["ua"], hostile);
    assert_eq!(line["status"], "200");
}

#[tokio::test]
async fn long_values_are_cut() {
    let (builder, lines) = collecting("$context.identity.userAgent");
    let service = ServiceBuilder::new()
        .layer(builder.build().unwrap())
        .service(ok_backend());
    let request = Request::get("/")
        .header("user-agent", "a".repeat(10_000))
        .body(Full::default())
        .unwrap();
    service.oneshot(request).await.unwrap();
    assert_eq!(lines.lock().unwrap()[0].len(), 512);
}

#[tokio::test]
async fn latency_and_request_time_come_from_the_clock() {
    let clock = ManualClock::at_unix_time(Duration::from_secs(1_583_349_317));
    let (builder, lines) =
        collecting("$context.requestTime|$context.requestTimeEpoch|$context.responseLatency");
    let backend_clock = clock.clone();
    let backend = service_fn(move |_request: Request<Full<Bytes>>| {
        backend_clock.advance(Duration::from_millis(25));
        async { Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())) }
    });
    let layer = builder.with_clock(Arc::new(clock)).build().unwrap();
    ServiceBuilder::new()
        .layer(layer)
        .service(backend)
        .oneshot(get("/"))
        .await
        .unwrap();
    // The AWS documentation's example time.
    assert_eq!(
        lines.lock().unwrap()[0],
        "04/Mar/2020:19:15:17 +0000|1583349317000|25"
    );
}

#[tokio::test]
async fn the_request_id_it_sets_is_the_one_inner_layers_see() {
    let (builder, lines) = collecting("$context.requestId");
    let seen = Arc::new(Mutex::new(None));
    let seen_by_backend = seen.clone();
    let backend = service_fn(move |request: Request<Full<Bytes>>| {
        *seen_by_backend.lock().unwrap() = request.extensions().get::<RequestId>().cloned();
        async { Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())) }
    });
    ServiceBuilder::new()
        .layer(builder.build().unwrap())
        .service(backend)
        .oneshot(get("/"))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone().unwrap();
    assert_eq!(lines.lock().unwrap()[0], seen.as_str());
}

#[test]
fn control_characters_are_escaped() {
    let mut out = String::new();
    layer::push_escaped(&mut out, "a\nb\u{1}c\u{7f}\"");
    assert_eq!(out, "a\\nb\\u0001c\\u007f\\\"");
}

#[test]
fn the_word_at_a_time_check_flags_exactly_the_bytes_that_need_escaping() {
    for byte in 0..=255u8 {
        let flagged = byte < 0x20 || byte == b'"' || byte == b'\\' || byte >= 0x7f;
        // Every position of a word, of the next word and of the tail; clean
        // bytes around it, including the neighbours of each flagged range.
        for len in 1..=19 {
            for at in 0..len {
                for fill in [b'a', b' ', b'!', b'#', b'[', b']', b'~', b'0'] {
                    let mut value = vec![fill; len];
                    value[at] = byte;
                    assert_eq!(
                        layer::needs_escape(&value),
                        flagged,
                        "byte {byte:#04x} at {at} of {len} among {fill:#04x}"
                    );
                }
            }
        }
    }
    assert!(!layer::needs_escape(b""));
}

#[test]
fn configuration_loads_and_validates_the_format() {
    let config: AccessLogConfig =
        serde_json::from_value(serde_json::json!({"format": "$context.status"})).unwrap();
    assert!(AccessLogLayer::try_from(config).is_ok());
    let bad: AccessLogConfig =
        serde_json::from_value(serde_json::json!({"format": "$context.nope"})).unwrap();
    assert!(AccessLogLayer::try_from(bad).is_err());
    assert!(
        serde_json::from_value::<AccessLogConfig>(serde_json::json!({"destinationArn": "x"}))
            .is_err()
    );
}

#[tokio::test]
async fn an_inner_error_is_logged_without_a_status() {
    let (builder, lines) = collecting("$context.status");
    let failing = service_fn(|_request: Request<Full<Bytes>>| async {
        Err::<Response<Full<Bytes>>, _>(std::io::Error::other("boom"))
    });
    let result = ServiceBuilder::new()
        .layer(builder.build().unwrap())
        .service(failing)
        .oneshot(get("/"))
        .await;
    assert!(result.is_err());
    assert_eq!(lines.lock().unwrap()[0], "-");
    let _ = StatusCode::OK;
}

#[tokio::test]
async fn request_fields_are_logged_when_the_format_uses_them() {
    let (builder, lines) = collecting(
        "$context.path $context.domainName $context.identity.userAgent $context.identity.sourceIp $context.httpMethod",
    );
    let service = ServiceBuilder::new()
        .layer(builder.build().unwrap())
        .service(ok_backend());
    let mut request = Request::post("/orders/7?x=1")
        .header("host", "api.example.com")
        .header("user-agent", "curl/8")
        .body(Full::default())
        .unwrap();
    request
        .extensions_mut()
        .insert(std::net::SocketAddr::from(([203, 0, 113, 9], 4711)));
    service.oneshot(request).await.unwrap();
    assert_eq!(
        lines.lock().unwrap()[0],
        "/orders/7 api.example.com curl/8 203.0.113.9 POST"
    );
}

#[test]
fn non_ascii_text_is_kept_and_c1_controls_are_escaped() {
    let mut out = String::new();
    layer::push_escaped(&mut out, "café\u{85}ß\\x");
    assert_eq!(out, "café\\u0085ß\\\\x");
}

/// A sink that counts lines and can say it is off.
struct Switchable {
    on: bool,
    lines: Arc<Mutex<usize>>,
}

impl WriteAccessLog for Switchable {
    fn write_line(&self, _line: &str) {
        *self.lines.lock().unwrap() += 1;
    }

    fn enabled(&self) -> bool {
        self.on
    }
}

#[tokio::test]
async fn a_disabled_sink_gets_no_line_and_the_request_id_is_still_set() {
    for on in [false, true] {
        let lines = Arc::new(Mutex::new(0));
        let seen = Arc::new(Mutex::new(None));
        let seen_by_backend = seen.clone();
        let backend = service_fn(move |request: Request<Full<Bytes>>| {
            *seen_by_backend.lock().unwrap() = request.extensions().get::<RequestId>().cloned();
            async { Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())) }
        });
        let layer = AccessLogLayer::builder()
            .sink(Switchable {
                on,
                lines: lines.clone(),
            })
            .build()
            .unwrap();
        let response = ServiceBuilder::new()
            .layer(layer)
            .service(backend)
            .oneshot(get("/"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(seen.lock().unwrap().is_some());
        assert_eq!(*lines.lock().unwrap(), usize::from(on));
    }
}

#[test]
fn the_tracing_sink_is_off_without_a_subscriber() {
    assert!(!TracingSink.enabled());
}

/// A backend answering `hello` with `content-length` set to `length`.
fn with_content_length(
    length: &'static str,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(move |_request: Request<Full<Bytes>>| async move {
        let mut response = Response::new(Full::new(Bytes::from_static(b"hello")));
        response.headers_mut().insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from_static(length),
        );
        Ok::<_, Infallible>(response)
    })
}

#[tokio::test]
async fn source_ips_and_lengths_are_written_as_they_are() {
    let cases: [(std::net::IpAddr, &str); 4] = [
        ([0, 0, 0, 0].into(), "0.0.0.0"),
        ([10, 20, 100, 255].into(), "10.20.100.255"),
        ([203, 0, 113, 9].into(), "203.0.113.9"),
        (
            "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().into(),
            "2001:db8::1",
        ),
    ];
    for (ip, text) in cases {
        let (builder, lines) = collecting("$context.identity.sourceIp $context.responseLength");
        let service = ServiceBuilder::new()
            .layer(builder.build().unwrap())
            .service(with_content_length("5"));
        let mut request = get("/");
        request.extensions_mut().insert(ip);
        service.oneshot(request).await.unwrap();
        assert_eq!(lines.lock().unwrap()[0], format!("{text} 5"));
    }
    // A Content-Length that is no number: the body's exact size instead.
    let (builder, lines) = collecting("$context.responseLength");
    let service = ServiceBuilder::new()
        .layer(builder.build().unwrap())
        .service(with_content_length("5\""));
    service.oneshot(get("/")).await.unwrap();
    assert_eq!(lines.lock().unwrap()[0], "5");
}
