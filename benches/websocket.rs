//! WebSocket APIs: the cost per message of routing to an in-process
//! handler next to a bare axum WebSocket echo, and pushing one message to
//! 10,000 connections next to a bare axum fan-out, in the same run.
//!
//! Round trips run over TCP on 127.0.0.1 with client and server on one
//! current-thread runtime. The fan-out runs over in-memory duplex streams
//! (20,000 sockets would exceed the file descriptor limit), served by hyper
//! exactly as over TCP.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use apigw::events::websocket;
use apigw::integration::InvokeError;
use apigw::websocket::{DEFAULT_READ_BUFFER_SIZE, RouteIntegration, WebSocketApi};
use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message as AxumMessage, WebSocket, WebSocketUpgrade};
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config, connect_async};
use tower::ServiceExt;

const MESSAGE: &str = r#"{"action":"echo","data":"hello, world"}"#;
const FAN_OUT: usize = 10_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn bare_echo(socket: WebSocket) {
    let mut socket = socket;
    while let Some(Ok(message)) = socket.recv().await {
        if let AxumMessage::Text(_) = message
            && socket.send(message).await.is_err()
        {
            return;
        }
    }
}

/// The peers read with the same buffer as `WebSocketApi`'s default, so the
/// comparison is of routing, not of buffer sizes.
fn bare_upgrade(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade.read_buffer_size(DEFAULT_READ_BUFFER_SIZE)
}

fn bare_echo_router() -> Router {
    Router::new().route(
        "/",
        get(|upgrade: WebSocketUpgrade| async move { bare_upgrade(upgrade).on_upgrade(bare_echo) }),
    )
}

fn api() -> WebSocketApi {
    WebSocketApi::builder()
        .route(
            "echo",
            RouteIntegration::handler(|event: websocket::Request| async move {
                Ok::<_, InvokeError>(
                    websocket::Response::new(200).with_body(event.body.unwrap_or_default()),
                )
            }),
        )
        .build()
        .unwrap()
}

async fn serve_tcp(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

fn round_trips(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("websocket/round_trip");
    for (name, app) in [
        ("bare_axum_echo", bare_echo_router()),
        ("apigw_routed", api().router()),
    ] {
        let client = runtime.block_on(async {
            let addr = serve_tcp(app).await;
            let (mut client, _) = connect_async(format!("ws://{addr}/")).await.unwrap();
            // Both answer the same message with the same message.
            client.send(Message::text(MESSAGE)).await.unwrap();
            let answer = client.next().await.unwrap().unwrap();
            assert_eq!(answer.into_text().unwrap().as_str(), MESSAGE);
            client
        });
        let client = RefCell::new(client);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut client = client.borrow_mut();
                runtime.block_on(async {
                    let started = tokio::time::Instant::now();
                    for _ in 0..iters {
                        client.send(Message::text(MESSAGE)).await.unwrap();
                        client.next().await.unwrap().unwrap();
                    }
                    started.elapsed()
                })
            });
        });
    }
    group.finish();
}

type DuplexClient = WebSocketStream<DuplexStream>;

/// Opens a WebSocket to `app` over an in-memory stream, served by hyper.
async fn connect_duplex(app: Router) -> DuplexClient {
    let (client_io, server_io) = tokio::io::duplex(4096);
    tokio::spawn(async move {
        let service = hyper::service::service_fn(
            move |request: http::Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.oneshot(request.map(Body::new)).await.unwrap()) }
            },
        );
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server_io), service)
            .with_upgrades()
            .await;
    });
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (client, _) = client_async_with_config("ws://localhost/", client_io, Some(config))
        .await
        .unwrap();
    client
}

/// The bare peer: each connection's handler forwards what its channel
/// receives and reads the socket to notice a close, as a hand-written axum
/// fan-out would.
fn bare_fan_out_router(senders: Arc<Mutex<Vec<mpsc::Sender<AxumMessage>>>>) -> Router {
    Router::new().route(
        "/",
        get(move |upgrade: WebSocketUpgrade| {
            let senders = senders.clone();
            async move {
                let (tx, mut rx) = mpsc::channel::<AxumMessage>(256);
                senders.lock().unwrap().push(tx);
                bare_upgrade(upgrade).on_upgrade(move |mut socket| async move {
                    loop {
                        tokio::select! {
                            message = rx.recv() => match message {
                                Some(message) => {
                                    if socket.send(message).await.is_err() {
                                        return;
                                    }
                                }
                                None => return,
                            },
                            frame = socket.recv() => if !matches!(frame, Some(Ok(_))) {
                                return;
                            },
                        }
                    }
                })
            }
        }),
    )
}

async fn receive_all(clients: &mut [DuplexClient]) {
    for client in clients.iter_mut() {
        client.next().await.unwrap().unwrap();
    }
}

fn fan_out(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("websocket/fan_out_10k");
    group.sample_size(10);

    let senders = Arc::new(Mutex::new(Vec::new()));
    let bare = bare_fan_out_router(senders.clone());
    let mut bare_clients = runtime.block_on(async {
        let mut clients = Vec::with_capacity(FAN_OUT);
        for _ in 0..FAN_OUT {
            clients.push(connect_duplex(bare.clone()).await);
        }
        clients
    });
    let senders = senders.lock().unwrap().clone();
    assert_eq!(senders.len(), FAN_OUT);
    group.bench_function("bare_axum_channels", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = tokio::time::Instant::now();
                for _ in 0..iters {
                    let text = axum::extract::ws::Utf8Bytes::from_static("tick");
                    for tx in &senders {
                        tx.try_send(AxumMessage::Text(text.clone())).unwrap();
                    }
                    receive_all(&mut bare_clients).await;
                }
                started.elapsed()
            })
        });
    });

    let api = api();
    let connections = api.connections();
    let mut clients = runtime.block_on(async {
        let mut clients = Vec::with_capacity(FAN_OUT);
        for _ in 0..FAN_OUT {
            clients.push(connect_duplex(api.router()).await);
        }
        clients
    });
    assert_eq!(connections.len(), FAN_OUT);
    group.bench_function("apigw_broadcast", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = tokio::time::Instant::now();
                for _ in 0..iters {
                    assert_eq!(connections.broadcast_text("tick"), FAN_OUT);
                    receive_all(&mut clients).await;
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, round_trips, fan_out);
criterion_main!(benches);
