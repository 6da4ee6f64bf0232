//! Every layer under `Router::layer` and `Router::route_layer`: breaking
//! axum's bounds fails to compile. One line per layer, as layers land.

use apigw::access_log::AccessLogLayer;
use apigw::metrics::GatewayMetricsLayer;
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
    #[cfg(feature = "validate")]
    {
        let validator = || {
            apigw::validate::RequestValidatorLayer::builder()
                .route(
                    "$default",
                    apigw::validate::RouteRules::new().required_query("q"),
                )
                .unwrap()
                .build()
                .unwrap()
        };
        let _: Router = Router::new()
            .route("/", get(|| async {}))
            .layer(validator());
        let _: Router = Router::new()
            .route("/", get(|| async {}))
            .route_layer(validator());
    }
    #[cfg(feature = "usage-plan")]
    {
        let throttle = || {
            apigw::throttle::TokenBucketThrottleLayer::builder()
                .build()
                .unwrap()
        };
        let _: Router = Router::new().route("/", get(|| async {})).layer(throttle());
        let _: Router = Router::new()
            .route("/", get(|| async {}))
            .route_layer(throttle());
        let plans = || {
            apigw::usage_plan::UsagePlanLayer::builder()
                .build()
                .unwrap()
        };
        let _: Router = Router::new().route("/", get(|| async {})).layer(plans());
        let _: Router = Router::new()
            .route("/", get(|| async {}))
            .route_layer(plans());
    }
    #[cfg(feature = "lambda-authorizer")]
    {
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
    #[cfg(feature = "jwt")]
    {
        let jwt = || {
            apigw::jwt::JwtAuthorizerLayer::builder()
                .issuer(
                    apigw::jwt::Issuer::new("https://issuer.example")
                        .audience("api")
                        .jwks_url("https://issuer.example/jwks"),
                )
                .build()
                .unwrap()
        };
        let _: Router = Router::new().route("/", get(|| async {})).layer(jwt());
        let _: Router = Router::new()
            .route("/", get(|| async {}))
            .route_layer(jwt());
    }
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
    assert_send_sync_static::<AccessLogLayer>();
    assert_clone::<AccessLogLayer>();
    assert_send_sync_static::<GatewayMetricsLayer>();
    assert_clone::<GatewayMetricsLayer>();
    assert_send_sync_static::<apigw::observe::Observation>();
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
    #[cfg(feature = "validate")]
    {
        use apigw::validate::*;
        assert_send_sync_static::<RequestValidatorLayer>();
        assert_clone::<RequestValidatorLayer>();
        assert_send_sync_static::<RequestValidator<axum::routing::Route>>();
        assert_send_sync_static::<ValidatedBody>();
        assert_send_sync_static::<ValidationRejection>();
        assert_send_sync_static::<RequestValidatorConfig>();
        assert_send_sync_static::<ValidationCounters>();
    }
    #[cfg(feature = "usage-plan")]
    {
        assert_send_sync_static::<apigw::throttle::TokenBucketThrottleLayer>();
        assert_clone::<apigw::throttle::TokenBucketThrottleLayer>();
        assert_send_sync_static::<apigw::usage_plan::UsagePlanLayer>();
        assert_clone::<apigw::usage_plan::UsagePlanLayer>();
        assert_send_sync_static::<apigw::store::MemoryRateLimitStore>();
        assert_send_sync_static::<apigw::store::MemoryQuotaStore>();
        assert_send_sync_static::<apigw::store::MemoryKeyStore>();
        assert_send_sync_static::<apigw::store::ApiKey>();
        assert_send_sync_static::<apigw::throttle::ThrottleRejection>();
        assert_send_sync_static::<apigw::usage_plan::UsagePlanRejection>();
        assert_send_sync_static::<apigw::usage_plan::UsageReport>();
    }
    #[cfg(feature = "lambda-authorizer")]
    {
        type Authorizer = Box<dyn apigw::lambda_authorizer::Authorize>;
        assert_send_sync_static::<apigw::lambda_authorizer::LambdaAuthorizerCacheLayer<Authorizer>>(
        );
        assert_clone::<apigw::lambda_authorizer::LambdaAuthorizerCacheLayer<Authorizer>>();
        assert_send_sync_static::<apigw::lambda_authorizer::LambdaAuthorizerRejection>();
        assert_send_sync_static::<apigw::lambda_authorizer::AuthorizeError>();
        assert_send_sync_static::<apigw::lambda_authorizer::CacheKey>();
        assert_send_sync_static::<apigw::events::authorizer::AuthorizerRequest>();
    }
    #[cfg(feature = "jwt")]
    {
        assert_send_sync_static::<apigw::jwt::JwtAuthorizerLayer>();
        assert_clone::<apigw::jwt::JwtAuthorizerLayer>();
        assert_send_sync_static::<apigw::jwt::JwtAuthorizer<axum::routing::Route>>();
        assert_send_sync_static::<apigw::jwt::KeySet>();
        assert_send_sync_static::<apigw::jwt::JwtRejection>();
        assert_send_sync_static::<apigw::jwt::JwtAuthorizerConfig>();
    }
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
