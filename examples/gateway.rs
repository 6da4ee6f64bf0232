//! The demo gateway: `cargo run --example gateway`.
//!
//! A self-contained gateway on 127.0.0.1 in front of a small axum "orders"
//! API. Routes are declared in API Gateway's vocabulary; a request for a route
//! that is not declared is answered as API Gateway's REST APIs answer it:
//! 403 `MISSING_AUTHENTICATION_TOKEN`, before anything else runs (pass
//! `--not-found` to answer 404 `RESOURCE_NOT_FOUND` as HTTP APIs do).
//!
//! Options: `--port N` (or `PORT`, default 8080), `--aws` for API Gateway's
//! `{"message": …}` error bodies instead of RFC 9457 problems. Stops on Ctrl-C.
//!
//! This example grows as blocks land: authorizers, throttles, usage plans,
//! validation, the cache and a Lambda-style route.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;

use apigw::problem::GatewayResponses;
use apigw::route::{MatchRouteLayer, RouteMatch, RouteTable, Unmatched};
use axum::Router;
use axum::extract::Json;
use axum::routing::get;
use serde_json::{Value, json};

struct Options {
    port: u16,
    aws: bool,
    not_found: bool,
}

fn options() -> Result<Options, String> {
    let mut port = std::env::var("PORT").ok();
    let mut aws = false;
    let mut not_found = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = Some(args.next().ok_or("--port needs a value")?),
            "--aws" => aws = true,
            "--not-found" => not_found = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let port = match port {
        Some(port) => port.parse().map_err(|_| format!("invalid port `{port}`"))?,
        None => 8080,
    };
    Ok(Options {
        port,
        aws,
        not_found,
    })
}

/// The orders API behind the gateway.
fn orders_api() -> Router {
    Router::new()
        .route(
            "/orders",
            get(|| async { Json(json!([{"id": "1", "item": "book"}])) }).post(
                |Json(order): Json<Value>| async move { Json(json!({"id": "2", "order": order})) },
            ),
        )
        .route(
            "/orders/{id}",
            get(|route: RouteMatch| async move {
                Json(json!({
                    "id": route.path_parameter("id"),
                    "routeKey": route.route_key().to_string(),
                    "stage": route.stage(),
                }))
            }),
        )
}

/// The whole gateway: the routes it serves, in API Gateway's vocabulary, in
/// front of the orders API.
pub fn gateway(aws: bool, not_found: bool) -> Result<Router, apigw::ConfigError> {
    let routes = RouteTable::builder()
        .stage("prod")
        .route("GET /orders", ())?
        .route("POST /orders", ())?
        .route("GET /orders/{id}", ())?
        .build()?;
    let responses = if aws {
        GatewayResponses::aws()
    } else {
        GatewayResponses::default()
    };
    let unmatched = if not_found {
        Unmatched::NotFound
    } else {
        Unmatched::MissingAuthenticationToken
    };
    Ok(orders_api().layer(MatchRouteLayer::with_options(routes, unmatched, responses)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options().map_err(|err| {
        eprintln!("{err}\nusage: gateway [--port N] [--aws] [--not-found]");
        err
    })?;
    let app = gateway(options.aws, options.not_found)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], options.port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("apigw demo gateway on {base} (Ctrl-C to stop)\n");
    println!("Try:");
    println!("  curl -i {base}/orders/42        # 200, served by the orders API");
    println!(
        "  curl -i {base}/admin            # no such route: 403 MISSING_AUTHENTICATION_TOKEN problem"
    );
    println!("  curl -i -X DELETE {base}/orders # method not declared: 403 as well\n");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            println!("shutting down");
        })
        .await?;
    Ok(())
}
