//! A Lambda-style Rust handler served behind the gateway, locally.
//!
//! The handler is written exactly as for AWS (a function of the payload 2.0
//! event answering a 2.0 response); `LambdaIntegration` builds the event
//! API Gateway would send and turns the answer into the HTTP response.
//!
//! ```text
//! cargo run --example lambda_local
//! curl -i 'http://127.0.0.1:3000/hello/ana?greeting=hi' -H 'cookie: theme=dark'
//! ```
//!
//! Set `LAMBDA_ENDPOINT=http://127.0.0.1:9001` (and `LAMBDA_FUNCTION`) to call
//! a function in a Lambda-compatible local runtime through the Invoke API
//! instead of the in-process handler.

#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apigw::events::v2;
use apigw::integration::{HttpInvoker, Invoke, LambdaIntegration, PayloadFormat, handler_fn};
use apigw::problem::GatewayResponses;
use apigw::route::{MatchRouteLayer, RouteTable, Unmatched};
use axum::Router;

/// The function, as it would run on Lambda.
async fn hello(event: v2::Request) -> Result<v2::Response, std::convert::Infallible> {
    let name = event
        .path_parameters
        .as_ref()
        .and_then(|p| p.get("name").cloned())
        .unwrap_or_else(|| "world".to_owned());
    let greeting = event
        .query_string_parameters
        .as_ref()
        .and_then(|q| q.get("greeting").cloned())
        .unwrap_or_else(|| "hello".to_owned());
    let body = serde_json::json!({
        "message": format!("{greeting}, {name}"),
        "routeKey": event.route_key,
        "cookies": event.cookies,
        "requestId": event.request_context.request_id,
    });
    Ok(v2::Response::new(200)
        .with_header("content-type", "application/json")
        .with_cookie("visited=1; Path=/; HttpOnly")
        .with_body(body.to_string()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let function: Arc<dyn Invoke> = match std::env::var("LAMBDA_ENDPOINT") {
        Ok(endpoint) => Arc::new(
            HttpInvoker::builder()
                .endpoint(endpoint)
                .function_name(
                    std::env::var("LAMBDA_FUNCTION").unwrap_or_else(|_| "function".into()),
                )
                .build()?,
        ),
        Err(_) => Arc::new(handler_fn(hello)),
    };

    let integration = LambdaIntegration::builder(function)
        .payload_format(PayloadFormat::V2)
        .timeout(Duration::from_secs(10))
        .stage_variable("env", "local")
        .gateway_responses(GatewayResponses::aws())
        .build()?;

    let routes = RouteTable::builder()
        .route("GET /hello/{name}", ())?
        .route("ANY /{proxy+}", ())?
        .build()?;

    let app = Router::new()
        .fallback_service(integration)
        .layer(MatchRouteLayer::with_options(
            routes,
            Unmatched::NotFound,
            GatewayResponses::aws(),
        ));

    let addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{addr} (Ctrl-C to stop); try:");
    println!("  curl -i 'http://{addr}/hello/ana?greeting=hi' -H 'cookie: theme=dark'");
    axum::serve(listener, app).await?;
    Ok(())
}
