//! `HttpInvoker` against a real HTTP server on 127.0.0.1 that plays the
//! Lambda Invoke API: success, function error, slow, dropped connection,
//! huge answer, and behind `LambdaIntegration`.

use std::net::SocketAddr;
use std::time::Duration;

use apigw::integration::{
    HttpInvoker, HttpInvokerConfig, IntegrationRejection, IntegrationRejectionKind, Invoke,
    InvokeError, LambdaIntegration, PayloadFormat,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use http_body_util::{BodyExt, Full};
use tokio::io::AsyncReadExt;
use tower::ServiceExt;

async fn invocations(
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    assert_eq!(headers["x-amz-invocation-type"], "RequestResponse");
    match name.as_str() {
        "echo" => body.into_response(),
        "v2" => r#"{"statusCode":201,"body":"from the function"}"#.into_response(),
        "fails" => (
            [("x-amz-function-error", "Unhandled")],
            r#"{"errorMessage":"boom: secret detail","errorType":"Error"}"#,
        )
            .into_response(),
        "huge" => vec![b'x'; 64 * 1024].into_response(),
        "slow" => {
            // Never answers within the test's timeouts.
            std::future::pending::<axum::response::Response>().await
        }
        "redirect" => (StatusCode::FOUND, [("location", "/elsewhere")]).into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            r#"{"Type":"User","Message":"Function not found"}"#,
        )
            .into_response(),
    }
}

async fn lambda_api() -> SocketAddr {
    let app = Router::new().route(
        "/2015-03-31/functions/{name}/invocations",
        post(invocations),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn invoker(addr: SocketAddr, name: &str) -> HttpInvoker {
    HttpInvoker::builder()
        .endpoint(format!("http://{addr}"))
        .function_name(name)
        .max_answer_bytes(16 * 1024)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_successful_invocation_returns_the_answer() {
    let addr = lambda_api().await;
    let answer = invoker(addr, "echo")
        .invoke(Bytes::from_static(b"{\"a\":1}"))
        .await
        .unwrap();
    assert_eq!(answer, "{\"a\":1}");
}

#[tokio::test]
async fn x_amz_function_error_is_a_function_error() {
    let addr = lambda_api().await;
    match invoker(addr, "fails").invoke(Bytes::new()).await {
        Err(InvokeError::Function(err)) => {
            assert_eq!(err.error_type(), Some("Error"));
            assert_eq!(err.message(), Some("boom: secret detail"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn an_answer_over_the_limit_is_too_large() {
    let addr = lambda_api().await;
    match invoker(addr, "huge").invoke(Bytes::new()).await {
        Err(InvokeError::TooLarge { limit }) => assert_eq!(limit, 16 * 1024),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    // Bind then drop: nothing listens on the port any more.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    assert!(matches!(
        invoker(addr, "echo").invoke(Bytes::new()).await,
        Err(InvokeError::Unreachable(_))
    ));
}

#[tokio::test]
async fn a_dropped_connection_is_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Accept, read part of the request, hang up without answering.
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let _ = socket.read(&mut buf).await;
        drop(socket);
    });
    assert!(matches!(
        invoker(addr, "echo").invoke(Bytes::new()).await,
        Err(InvokeError::Unreachable(_))
    ));
}

#[tokio::test]
async fn redirects_are_not_followed_and_other_statuses_fail() {
    let addr = lambda_api().await;
    assert!(matches!(
        invoker(addr, "redirect").invoke(Bytes::new()).await,
        Err(InvokeError::Other(_))
    ));
    assert!(matches!(
        invoker(addr, "missing").invoke(Bytes::new()).await,
        Err(InvokeError::Other(_))
    ));
}

async fn through_integration(
    addr: SocketAddr,
    name: &str,
    timeout: Duration,
) -> (StatusCode, Bytes, Option<IntegrationRejection>) {
    let integration = LambdaIntegration::builder(invoker(addr, name))
        .payload_format(PayloadFormat::V2)
        .timeout(timeout)
        .build()
        .unwrap();
    let response = integration
        .oneshot(
            http::Request::get("/x")
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let rejection = response.extensions().get::<IntegrationRejection>().copied();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
        rejection,
    )
}

#[tokio::test]
async fn behind_the_integration_an_answer_becomes_the_response() {
    let addr = lambda_api().await;
    let (status, body, _) = through_integration(addr, "v2", Duration::from_secs(5)).await;
    assert_eq!(status, 201);
    assert_eq!(body, "from the function");
}

#[tokio::test]
async fn behind_the_integration_a_function_error_is_a_generic_5xx() {
    let addr = lambda_api().await;
    let (status, body, rejection) =
        through_integration(addr, "fails", Duration::from_secs(5)).await;
    assert_eq!(status, 500);
    assert_eq!(
        rejection.unwrap().kind(),
        IntegrationRejectionKind::FunctionError
    );
    assert!(!String::from_utf8_lossy(&body).contains("secret"));
}

#[tokio::test]
async fn behind_the_integration_a_slow_function_times_out() {
    // A short configured timeout: the test waits 200 ms of real time for the
    // timer, it never sleeps itself.
    let addr = lambda_api().await;
    let (status, _, rejection) =
        through_integration(addr, "slow", Duration::from_millis(200)).await;
    assert_eq!(status, 504);
    assert_eq!(rejection.unwrap().kind(), IntegrationRejectionKind::Timeout);
}

#[tokio::test]
async fn behind_the_integration_a_huge_answer_is_refused() {
    let addr = lambda_api().await;
    let (status, _, rejection) = through_integration(addr, "huge", Duration::from_secs(5)).await;
    assert_eq!(status, 500);
    assert_eq!(
        rejection.unwrap().kind(),
        IntegrationRejectionKind::AnswerTooLarge
    );
}

#[test]
fn the_invoker_is_configurable_from_json() {
    let config: HttpInvokerConfig = serde_json::from_str(
        r#"{"endpoint": "http://127.0.0.1:9001/", "functionName": "my fn", "maxAnswerBytes": 1024}"#,
    )
    .unwrap();
    let invoker = HttpInvoker::try_from(config).unwrap();
    assert_eq!(
        invoker.url(),
        "http://127.0.0.1:9001/2015-03-31/functions/my%20fn/invocations"
    );
    assert!(HttpInvoker::builder().function_name("f").build().is_err());
    assert!(HttpInvoker::builder().endpoint("http://x").build().is_err());
    assert!(
        HttpInvoker::builder()
            .endpoint("http://x")
            .function_name("f")
            .max_answer_bytes(0)
            .build()
            .is_err()
    );
}
