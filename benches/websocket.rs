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
use std::time::Duration;

use apigw::events::websocket;
use apigw::integration::InvokeError;
use apigw::websocket::{Connections, DEFAULT_READ_BUFFER_SIZE, RouteIntegration, WebSocketApi};
use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message as AxumMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async_with_config, connect_async};
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

type TcpClient = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn tcp_client(runtime: &Runtime, app: Router) -> TcpClient {
    runtime.block_on(async {
        let addr = serve_tcp(app).await;
        let (mut client, _) = connect_async(format!("ws://{addr}/")).await.unwrap();
        // Both answer the same message with the same message.
        client.send(Message::text(MESSAGE)).await.unwrap();
        let answer = client.next().await.unwrap().unwrap();
        assert_eq!(answer.into_text().unwrap().as_str(), MESSAGE);
        client
    })
}

/// `iters` round trips; client and server run on `runtime`'s one thread,
/// so everything both do is inside this call (callgrind counts it whole).
#[inline(never)]
fn measured_round_trips(runtime: &Runtime, client: &mut TcpClient, iters: u64) -> Duration {
    runtime.block_on(async {
        let started = tokio::time::Instant::now();
        for _ in 0..iters {
            client.send(Message::text(MESSAGE)).await.unwrap();
            client.next().await.unwrap().unwrap();
        }
        started.elapsed()
    })
}

fn round_trips(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("websocket/round_trip");
    for (name, app) in [
        ("bare_axum_echo", bare_echo_router()),
        ("apigw_routed", api().router()),
    ] {
        let client = RefCell::new(tcp_client(&runtime, app));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| measured_round_trips(&runtime, &mut client.borrow_mut(), iters));
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

/// A way to push one message to every connection.
enum Pusher {
    Bare(Vec<mpsc::Sender<AxumMessage>>),
    Apigw(Connections),
}

impl Pusher {
    fn push(&self) {
        match self {
            Self::Bare(senders) => {
                let text = Utf8Bytes::from_static("tick");
                for tx in senders {
                    tx.try_send(AxumMessage::Text(text.clone())).unwrap();
                }
            }
            Self::Apigw(connections) => {
                assert_eq!(connections.broadcast_text("tick"), connections.len());
            }
        }
    }
}

fn fan_out_setup(runtime: &Runtime, apigw: bool, n: usize) -> (Pusher, Vec<DuplexClient>) {
    let senders = Arc::new(Mutex::new(Vec::new()));
    let api = api();
    let app = if apigw {
        api.router()
    } else {
        bare_fan_out_router(senders.clone())
    };
    let clients = runtime.block_on(async {
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n {
            clients.push(connect_duplex(app.clone()).await);
        }
        clients
    });
    let pusher = if apigw {
        assert_eq!(api.connections().len(), n);
        Pusher::Apigw(api.connections())
    } else {
        let senders = senders.lock().unwrap().clone();
        assert_eq!(senders.len(), n);
        Pusher::Bare(senders)
    };
    (pusher, clients)
}

/// `iters` pushes of one message to every connection, each received by
/// every client.
#[inline(never)]
fn measured_fan_out(
    runtime: &Runtime,
    pusher: &Pusher,
    clients: &mut [DuplexClient],
    iters: u64,
) -> Duration {
    runtime.block_on(async {
        let started = tokio::time::Instant::now();
        for _ in 0..iters {
            pusher.push();
            receive_all(clients).await;
        }
        started.elapsed()
    })
}

fn fan_out(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("websocket/fan_out_10k");
    group.sample_size(10);
    for (name, apigw) in [("bare_axum_channels", false), ("apigw_broadcast", true)] {
        let (pusher, mut clients) = fan_out_setup(&runtime, apigw, FAN_OUT);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| measured_fan_out(&runtime, &pusher, &mut clients, iters));
        });
    }
    group.finish();
}

criterion_group!(benches, round_trips, fan_out);

/// `APIGW_WS_CALLGRIND={echo|routed|fan_out_bare|fan_out_apigw}` runs
/// `APIGW_WS_ITERS` iterations (default 1000) of one case and exits, for
/// `valgrind --tool=callgrind --toggle-collect='*measured_*'`; the fan-out
/// cases use `APIGW_WS_CONNECTIONS` connections (default 10,000).
fn callgrind(case: &str) {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let iters = env("APIGW_WS_ITERS", 1000);
    let connections = usize::try_from(env("APIGW_WS_CONNECTIONS", FAN_OUT as u64)).unwrap();
    let runtime = runtime();
    match case {
        "echo" | "routed" => {
            let app = if case == "echo" {
                bare_echo_router()
            } else {
                api().router()
            };
            let mut client = tcp_client(&runtime, app);
            measured_round_trips(&runtime, &mut client, iters);
        }
        "fan_out_bare" | "fan_out_apigw" => {
            let (pusher, mut clients) =
                fan_out_setup(&runtime, case == "fan_out_apigw", connections);
            measured_fan_out(&runtime, &pusher, &mut clients, iters);
        }
        other => panic!("unknown case {other}"),
    }
}

fn main() {
    if let Ok(case) = std::env::var("APIGW_WS_CALLGRIND") {
        callgrind(&case);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
