//! The identity extensions as axum extractors.

use apigw::identity::{ApiKeyIdentity, AuthorizerContext, JwtClaims, RequestId};
use apigw::route::RouteMatch;
use axum::Router;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

async fn call(app: Router, request: Request<axum::body::Body>) -> (StatusCode, bytes::Bytes) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn get_req(path: &str) -> Request<axum::body::Body> {
    Request::get(path).body(axum::body::Body::empty()).unwrap()
}

#[tokio::test]
async fn a_missing_extension_answers_a_500_problem_naming_the_layer() {
    for (path, layer) in [
        ("/jwt", "JwtAuthorizerLayer"),
        ("/lambda", "LambdaAuthorizerCacheLayer"),
        ("/key", "UsagePlanLayer"),
    ] {
        let app = Router::new()
            .route("/jwt", get(|_: JwtClaims| async { "" }))
            .route("/lambda", get(|_: AuthorizerContext| async { "" }))
            .route("/key", get(|_: ApiKeyIdentity| async { "" }));
        let (status, body) = call(app, get_req(path)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            problem["type"],
            "urn:apigw:problem:api-configuration-error:missing-extension"
        );
        assert_eq!(problem["status"], 500);
        assert_eq!(problem["responseType"], "API_CONFIGURATION_ERROR");
        assert!(
            problem["detail"].as_str().unwrap().contains(layer),
            "{problem}"
        );
        assert!(problem["instance"].is_string());
    }
}

#[tokio::test]
async fn optional_extractors_see_none_without_the_layer() {
    let app = Router::new().route(
        "/",
        get(
            |claims: Option<JwtClaims>, key: Option<ApiKeyIdentity>| async move {
                format!("{} {}", claims.is_some(), key.is_some())
            },
        ),
    );
    let (status, body) = call(app, get_req("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "false false");
}

#[tokio::test]
async fn extractors_read_what_a_layer_inserted() {
    let app = Router::new().route(
        "/",
        get(|claims: JwtClaims, key: ApiKeyIdentity| async move {
            format!("{} {}", claims.subject().unwrap(), key.key_id())
        }),
    );
    let mut request = get_req("/");
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), "alice".into());
    request
        .extensions_mut()
        .insert(JwtClaims::new(claims, vec![]));
    request
        .extensions_mut()
        .insert(ApiKeyIdentity::new("key-1", "v".repeat(20), "plan"));
    let (status, body) = call(app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "alice key-1");
}

#[tokio::test]
async fn request_id_extractor_uses_the_header_or_makes_one() {
    let app = Router::new().route("/", get(|id: RequestId| async move { id.to_string() }));
    let request = Request::get("/")
        .header("x-request-id", "abc")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(call(app.clone(), request).await.1, "abc");
    let fresh = call(app, get_req("/")).await.1;
    assert_eq!(fresh.len(), 36);
}

#[tokio::test]
async fn route_match_extractor_works_from_axum_matched_path() {
    let app = Router::new().route(
        "/orders/{id}",
        get(|m: RouteMatch| async move {
            format!("{} {}", m.route_key(), m.path_parameter("id").unwrap())
        }),
    );
    let (status, body) = call(app, get_req("/orders/42")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "GET /orders/{id} 42");
}
