//! The load-test server: the orders API bare on one port and behind the demo
//! gateway's whole stack on another, in one process, for `benches/load.sh`.
//!
//! `cargo run --release --example gateway_load -- BARE_PORT STACK_PORT`
//!
//! The stack is `examples/gateway.rs`'s, configured by
//! `examples/gateway_load.json`: every limit is high enough that a load test
//! is never throttled, and `GET /orders` needs a token and an API key. Access
//! log lines are formatted for every request and then dropped (not written
//! to a terminal, which would measure the terminal). Prints `TOKEN=…` and
//! `API_KEY=…` for the load generator, then serves until Ctrl-C.

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[allow(dead_code, unreachable_pub)]
#[path = "gateway.rs"]
mod gateway;

use std::future::IntoFuture;
use std::net::SocketAddr;

use gateway::{BoxError, GatewayConfig};

const CONFIG: &str = include_str!("gateway_load.json");

fn port(arg: Option<String>, default: u16) -> Result<u16, BoxError> {
    Ok(arg.map(|p| p.parse()).transpose()?.unwrap_or(default))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let bare_port = port(args.next(), 8081)?;
    let stack_port = port(args.next(), 8082)?;
    let bare = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], bare_port))).await?;
    let stack =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], stack_port))).await?;
    let base = format!("http://{}", stack.local_addr()?);
    let config = GatewayConfig::from_json(CONFIG)?;
    let (app, demo) = gateway::gateway(config, &base, |line: &str| {
        std::hint::black_box(line);
    })?;
    println!("BARE=http://{}", bare.local_addr()?);
    println!("STACK={base}");
    println!("TOKEN={}", demo.token);
    println!("API_KEY={}", demo.api_key.unwrap_or_default());
    let shutdown = || async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // Bare: the orders API as an axum application is served.
    let orders = gateway::orders_api(apigw::problem::GatewayResponses::default())?;
    let bare = axum::serve(
        bare,
        orders.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .into_future();
    let stack = gateway::serve(stack, app, shutdown());
    let (bare, stack) = tokio::join!(bare, stack);
    bare?;
    stack?;
    Ok(())
}
