//! A small chat on a WebSocket API: `cargo run --example websocket_chat`.
//!
//! * `$connect` admits clients with `?token=chat-token` and remembers their
//!   name (`?name=…`); anything else is refused with 401.
//! * `{"action": "sendmessage", "data": "…"}` is broadcast to every
//!   connection through the push handle, as a chat Lambda would call
//!   `@connections`.
//! * `$disconnect` forgets the name.
//!
//! The program serves on 127.0.0.1, connects three clients (one with a bad
//! token), chats, prints what each client receives, and shuts down
//! gracefully. Pass `--serve` to keep serving instead and try it with any
//! WebSocket client (`websocat 'ws://127.0.0.1:PORT/?token=chat-token&name=me'`).

#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use apigw::events::websocket;
use apigw::integration::InvokeError;
use apigw::websocket::{Connections, RouteIntegration, WebSocketApi};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "chat-token";

type Names = Arc<Mutex<HashMap<String, String>>>;

fn connection_id(event: &websocket::Request) -> String {
    event
        .request_context
        .connection_id
        .clone()
        .unwrap_or_default()
}

fn chat(push: Arc<OnceLock<Connections>>) -> Result<WebSocketApi, apigw::ConfigError> {
    let names: Names = Arc::default();
    let on_connect = {
        let names = names.clone();
        move |event: websocket::Request| {
            let query = event.query_string_parameters.clone().unwrap_or_default();
            let admitted = query.get("token").is_some_and(|t| t == TOKEN);
            if admitted {
                let name = query
                    .get("name")
                    .cloned()
                    .unwrap_or_else(|| "anonymous".into());
                names.lock().unwrap().insert(connection_id(&event), name);
            }
            async move {
                Ok::<_, InvokeError>(websocket::Response::new(if admitted { 200 } else { 401 }))
            }
        }
    };
    let on_message = {
        let names = names.clone();
        move |event: websocket::Request| {
            let body: Value =
                serde_json::from_str(event.body.as_deref().unwrap_or("{}")).unwrap_or_default();
            let from = names
                .lock()
                .unwrap()
                .get(&connection_id(&event))
                .cloned()
                .unwrap_or_default();
            let line = json!({"from": from, "data": body["data"]}).to_string();
            if let Some(push) = push.get() {
                let reached = push.broadcast_text(line);
                println!("server: broadcast from {from} to {reached} connections");
            }
            async { Ok::<_, InvokeError>(websocket::Response::new(200)) }
        }
    };
    let on_disconnect = move |event: websocket::Request| {
        names.lock().unwrap().remove(&connection_id(&event));
        async { Ok::<_, InvokeError>(websocket::Response::new(200)) }
    };
    WebSocketApi::builder()
        .route("$connect", RouteIntegration::handler(on_connect))
        .route("sendmessage", RouteIntegration::handler(on_message))
        .route("$disconnect", RouteIntegration::handler(on_disconnect))
        .build()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let push = Arc::new(OnceLock::new());
    let api = chat(push.clone())?;
    let _ = push.set(api.connections());

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = api.router();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    println!("serving ws://{addr}/?token={TOKEN}&name=…");
    if std::env::args().any(|a| a == "--serve") {
        server.await??;
        return Ok(());
    }

    match connect_async(format!("ws://{addr}/?token=wrong&name=mallory")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            println!("mallory: refused with {}", response.status());
        }
        other => println!("mallory: unexpected {:?}", other.map(|_| ())),
    }
    let (mut alice, _) = connect_async(format!("ws://{addr}/?token={TOKEN}&name=alice")).await?;
    let (mut bob, _) = connect_async(format!("ws://{addr}/?token={TOKEN}&name=bob")).await?;

    alice
        .send(Message::text(r#"{"action":"sendmessage","data":"hi bob"}"#))
        .await?;
    for (name, client) in [("alice", &mut alice), ("bob", &mut bob)] {
        if let Some(Ok(Message::Text(text))) = client.next().await {
            println!("{name} received: {text}");
        }
    }
    // Not JSON and no `$default` route: API Gateway's error frame.
    bob.send(Message::text("hello?")).await?;
    if let Some(Ok(Message::Text(text))) = bob.next().await {
        println!("bob received: {text}");
    }

    api.shutdown().await;
    if let Some(Ok(Message::Close(Some(frame)))) = alice.next().await {
        println!(
            "alice: closed with {} ({})",
            u16::from(frame.code),
            frame.reason
        );
    }
    Ok(())
}
