//! Every layer under `Router::layer` and `Router::route_layer`: breaking
//! axum's bounds fails to compile. One line per layer, as layers land.

use apigw::route::{MatchRouteLayer, RouteTable};
use axum::Router;
use axum::routing::get;

fn assert_send_sync_static<T: Send + Sync + 'static>() {}
fn assert_clone<T: Clone>() {}

#[test]
fn layers_fit_router_layer_and_route_layer() {
    let table = || {
        RouteTable::builder()
            .route("GET /", ())
            .unwrap()
            .build()
            .unwrap()
    };
    let _: Router = Router::new()
        .route("/", get(|| async {}))
        .layer(MatchRouteLayer::new(table()));
    let _: Router = Router::new()
        .route("/", get(|| async {}))
        .route_layer(MatchRouteLayer::new(table()));
    let authorizer = || {
        apigw::lambda_authorizer::LambdaAuthorizerCacheLayer::builder(
            |_: apigw::events::authorizer::AuthorizerRequest| async {
                Ok(apigw::events::authorizer::SimpleResponse::authorized())
            },
        )
        .identity_source("$request.header.Authorization")
        .payload_format_version(apigw::lambda_authorizer::PayloadFormatVersion::V2)
        .simple_responses(true)
        .build()
        .unwrap()
    };
    let _: Router = Router::new()
        .route("/", get(|| async {}))
        .layer(authorizer());
    let _: Router = Router::new()
        .route("/", get(|| async {}))
        .route_layer(authorizer());
}

#[test]
fn public_types_are_send_sync_and_layers_clone() {
    assert_send_sync_static::<MatchRouteLayer<()>>();
    assert_clone::<MatchRouteLayer<()>>();
    type Authorizer = Box<dyn apigw::lambda_authorizer::Authorize>;
    assert_send_sync_static::<apigw::lambda_authorizer::LambdaAuthorizerCacheLayer<Authorizer>>();
    assert_clone::<apigw::lambda_authorizer::LambdaAuthorizerCacheLayer<Authorizer>>();
    assert_send_sync_static::<apigw::lambda_authorizer::LambdaAuthorizerRejection>();
    assert_send_sync_static::<apigw::lambda_authorizer::AuthorizeError>();
    assert_send_sync_static::<apigw::lambda_authorizer::CacheKey>();
    assert_send_sync_static::<apigw::events::authorizer::AuthorizerRequest>();
    assert_send_sync_static::<apigw::problem::GatewayResponses>();
    assert_send_sync_static::<apigw::problem::Rejection>();
    assert_send_sync_static::<apigw::problem::ProblemDetails>();
    assert_send_sync_static::<apigw::route::RouteTable<()>>();
    assert_send_sync_static::<apigw::route::RouteMatch>();
    assert_send_sync_static::<apigw::identity::RequestId>();
    assert_send_sync_static::<apigw::identity::JwtClaims>();
    assert_send_sync_static::<apigw::identity::AuthorizerContext>();
    assert_send_sync_static::<apigw::identity::ApiKeyIdentity>();
    assert_send_sync_static::<apigw::clock::ManualClock>();
    assert_send_sync_static::<apigw::clock::SharedClock>();
    assert_send_sync_static::<apigw::body::GatewayBody<http_body_util::Full<bytes::Bytes>>>();
}
