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
    #[cfg(feature = "response-cache")]
    {
        let cache = apigw::response_cache::ResponseCacheLayer::builder()
            .build()
            .unwrap();
        let _: Router = Router::new()
            .route("/", get(|| async {}))
            .layer(cache.clone());
        let _: Router = Router::new()
            .route("/", get(|| async {}))
            .route_layer(cache);
    }
}

#[test]
fn public_types_are_send_sync_and_layers_clone() {
    assert_send_sync_static::<MatchRouteLayer<()>>();
    assert_clone::<MatchRouteLayer<()>>();
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
    #[cfg(feature = "response-cache")]
    {
        use apigw::response_cache as cache;
        assert_send_sync_static::<cache::ResponseCacheLayer>();
        assert_clone::<cache::ResponseCacheLayer>();
        assert_send_sync_static::<cache::ResponseCache<axum::Router>>();
        assert_send_sync_static::<cache::CacheBody<http_body_util::Full<bytes::Bytes>>>();
        assert_send_sync_static::<cache::CacheStats>();
        assert_send_sync_static::<cache::CacheKey>();
        assert_send_sync_static::<cache::ResponseCacheConfig>();
        assert_send_sync_static::<cache::RouteCacheSettings>();
    }
}
