//! tower-http's request-id and CORS layers in front of apigw's rejections:
//! the request id reaches problems and access logs, and CORS headers reach
//! gateway error responses (what API Gateway users configure DEFAULT_4XX for).

use std::sync::{Arc, Mutex};

use apigw::access_log::AccessLogLayer;
use apigw::route::{MatchRouteLayer, RouteTable};
use axum::Router;
use axum::routing::get;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::cors::CorsLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

fn routes() -> RouteTable<()> {
    RouteTable::builder()
        .route("GET /orders", ())
        .unwrap()
        .build()
        .unwrap()
}

#[tokio::test]
async fn tower_http_request_ids_reach_problems_logs_and_the_response() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(
                    AccessLogLayer::builder()
                        .format("$context.requestId")
                        .sink(move |line: &str| sink.lock().unwrap().push(line.to_owned()))
                        .build()
                        .unwrap(),
                )
                .layer(MatchRouteLayer::new(routes())),
        );
    let response = app
        .oneshot(
            Request::get("/admin")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "tower-http made a UUID: {id}");
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["requestId"], id.as_str());
    assert_eq!(body["instance"], id.as_str());
    assert_eq!(lines.lock().unwrap().as_slice(), [id]);
}

#[tokio::test]
async fn cors_headers_reach_gateway_error_responses() {
    let cors = CorsLayer::new()
        .allow_origin(HeaderValue::from_static("https://app.example.com"))
        .allow_methods([Method::GET]);
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .layer(
            ServiceBuilder::new()
                .layer(cors)
                .layer(MatchRouteLayer::new(routes())),
        );

    let request = Request::get("/admin")
        .header("origin", "https://app.example.com")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    // Preflights are answered by the CORS layer before any gateway check.
    let preflight = Request::options("/orders")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.oneshot(preflight).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}
