//! End to end: the layer calls a Lambda-style authorizer over HTTP, through
//! the Lambda Invoke API path, on a real loopback server.
//!
//! The crate's HTTP invoker belongs to the integration block; this file has
//! a small test-only [`Invoke`] over hyper's client that speaks the same
//! protocol: `POST /2015-03-31/functions/{name}/invocations`, with
//! `X-Amz-Function-Error` marking a function error.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use apigw::identity::AuthorizerContext;
use apigw::integration::{FunctionError, Invoke, InvokeError, InvokeFuture};
use apigw::lambda_authorizer::{
    InvokeAuthorizer, LambdaAuthorizerCacheLayer, LambdaAuthorizerRejection,
};
use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// A test-only invoker: the Lambda Invoke API over plain HTTP.
struct HttpInvoke {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
}

impl HttpInvoke {
    fn new(addr: SocketAddr, function: &str) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            url: format!("http://{addr}/2015-03-31/functions/{function}/invocations"),
        }
    }
}

impl Invoke for HttpInvoke {
    fn invoke(&self, payload: Bytes) -> InvokeFuture {
        let request = Request::post(&self.url)
            .header("content-type", "application/json")
            .body(Full::new(payload));
        let client = self.client.clone();
        Box::pin(async move {
            let request = request.map_err(|e| InvokeError::Other(e.to_string()))?;
            let response = client
                .request(request)
                .await
                .map_err(|e| InvokeError::Unreachable(e.to_string()))?;
            let failed = response.headers().contains_key("x-amz-function-error");
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| InvokeError::Unreachable(e.to_string()))?
                .to_bytes();
            if failed {
                Err(InvokeError::Function(FunctionError::from_payload(body)))
            } else if status.is_success() {
                Ok(body)
            } else {
                Err(InvokeError::Other(format!("invoke API answered {status}")))
            }
        })
    }
}

/// A loopback "Lambda" whose function `authorizer` reads the TOKEN event.
async fn lambda_server(calls: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let calls = calls.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let calls = calls.clone();
                        async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            let path = request.uri().path().to_owned();
                            let event: Value = serde_json::from_slice(
                                &request.into_body().collect().await.unwrap().to_bytes(),
                            )
                            .unwrap_or(Value::Null);
                            Ok::<_, Infallible>(answer(&path, &event))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn answer(path: &str, event: &Value) -> Response<Full<Bytes>> {
    let reply = |body: Value, function_error: bool| {
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        if function_error {
            response
                .headers_mut()
                .insert("x-amz-function-error", "Unhandled".parse().unwrap());
        }
        response
    };
    if path != "/2015-03-31/functions/authorizer/invocations" {
        let mut response = reply(json!({"message": "Function not found"}), false);
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    let arn = event["methodArn"].as_str().unwrap_or_default();
    match event["authorizationToken"].as_str().unwrap_or_default() {
        "allow" => reply(
            json!({
                "principalId": "user-1",
                "policyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}]
                },
                "context": {"plan": "gold", "n": 1}
            }),
            false,
        ),
        "deny" => reply(
            json!({
                "principalId": "user-2",
                "policyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": arn}]
                }
            }),
            false,
        ),
        "garbage" => reply(json!({"isAuthorized": "yes"}), false),
        "crash" => reply(json!({"errorMessage": "boom", "errorType": "Error"}), true),
        _ => reply(
            json!({"errorMessage": "Unauthorized", "errorType": "Error"}),
            true,
        ),
    }
}

#[tokio::test]
async fn a_lambda_authorizer_over_the_invoke_api_decides_for_an_axum_app() {
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = lambda_server(calls.clone()).await;
    let layer = LambdaAuthorizerCacheLayer::builder(InvokeAuthorizer::new(HttpInvoke::new(
        addr,
        "authorizer",
    )))
    .token("Authorization")
    .stage("prod")
    .build()
    .unwrap();
    let app = Router::new()
        .route(
            "/orders",
            get(|context: AuthorizerContext| async move {
                format!(
                    "{} {}",
                    context.principal_id().unwrap_or_default(),
                    context.context()["plan"]
                )
            }),
        )
        .layer(layer);
    let send = |token: &str| {
        let app = app.clone();
        let request = Request::get("/orders")
            .header("authorization", token)
            .body(axum::body::Body::empty())
            .unwrap();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let rejection = response
                .extensions()
                .get::<LambdaAuthorizerRejection>()
                .copied();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, rejection, body)
        }
    };

    let (status, _, body) = send("allow").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "user-1 \"gold\"");
    // Cached: the second request does not reach the function.
    assert_eq!(send("allow").await.0, StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let (status, rejection, _) = send("deny").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rejection, Some(LambdaAuthorizerRejection::ExplicitDeny));

    let (status, rejection, _) = send("who-knows").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(rejection, Some(LambdaAuthorizerRejection::Unauthorized));

    let (status, rejection, _) = send("crash").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(rejection, Some(LambdaAuthorizerRejection::AuthorizerError));

    let (status, rejection, _) = send("garbage").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(rejection, Some(LambdaAuthorizerRejection::InvalidResponse));
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn an_unknown_function_or_a_dead_server_is_500_never_an_allow() {
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = lambda_server(calls.clone()).await;
    let wrong = LambdaAuthorizerCacheLayer::builder(InvokeAuthorizer::new(HttpInvoke::new(
        addr, "missing",
    )))
    .token("Authorization")
    .build()
    .unwrap();
    // A port nothing listens on: bind, read the port, close.
    let dead_addr = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let dead = LambdaAuthorizerCacheLayer::builder(InvokeAuthorizer::new(HttpInvoke::new(
        dead_addr,
        "authorizer",
    )))
    .token("Authorization")
    .build()
    .unwrap();
    for layer in [wrong, dead] {
        let app = Router::new()
            .route("/", get(|| async { "secret" }))
            .layer(layer);
        let request = Request::get("/")
            .header("authorization", "allow")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(!String::from_utf8_lossy(&body).contains("secret"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
