//! WebSocket APIs over real TCP on 127.0.0.1: handshake and authorizers,
//! route selection, `@connections`, limits, `$disconnect` and shutdown.

#[path = "jwt_support/mod.rs"]
mod jwt_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apigw::clock::ManualClock;
use apigw::events::authorizer::{AuthorizerRequest, IamPolicyResponse};
use apigw::events::websocket;
use apigw::integration::{FunctionError, InvokeError};
use apigw::jwt::{IdentitySource, Issuer, JwtAuthorizerLayer};
use apigw::lambda_authorizer::{AuthorizeError, LambdaAuthorizerCacheLayer};
use apigw::throttle::Limit;
use apigw::websocket::{RouteIntegration, WebSocketApi, WebSocketApiBuilder};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use jwt_support::{AUD, ISS, TestKey, claims, jwks};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Events = mpsc::UnboundedReceiver<websocket::Request>;

const TOKEN: &str = "management-secret";

fn recording(tx: &mpsc::UnboundedSender<websocket::Request>) -> RouteIntegration {
    let tx = tx.clone();
    RouteIntegration::handler(move |event: websocket::Request| {
        let _ = tx.send(event);
        async { Ok::<_, InvokeError>(websocket::Response::new(200)) }
    })
}

fn reply(f: impl Fn(&websocket::Request) -> String + Send + Sync + 'static) -> RouteIntegration {
    RouteIntegration::handler(move |event: websocket::Request| {
        let body = f(&event);
        async move { Ok::<_, InvokeError>(websocket::Response::new(200).with_body(body)) }
    })
}

/// `$connect` and `$disconnect` record their events; `echo` echoes,
/// `whoami` answers the connection id, `$default` answers `default:` and
/// the message.
fn builder() -> (WebSocketApiBuilder, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    let builder = WebSocketApi::builder()
        .route("$connect", recording(&tx))
        .route("$disconnect", recording(&tx))
        .route("echo", reply(|e| e.body.clone().unwrap_or_default()))
        .route(
            "whoami",
            reply(|e| e.request_context.connection_id.clone().unwrap_or_default()),
        )
        .route(
            "$default",
            reply(|e| format!("default:{}", e.body.as_deref().unwrap_or_default())),
        )
        .management_token(TOKEN);
    (builder, rx)
}

async fn serve(api: &WebSocketApi) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = api.router();
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

async fn connect(addr: SocketAddr, query: &str) -> Client {
    let (client, response) = connect_async(format!("ws://{addr}/{query}")).await.unwrap();
    assert_eq!(response.status(), 101);
    client
}

async fn refused(addr: SocketAddr, query: &str) -> u16 {
    match connect_async(format!("ws://{addr}/{query}")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("the handshake was accepted"),
    }
}

async fn next_text(client: &mut Client) -> String {
    loop {
        match client
            .next()
            .await
            .expect("the connection ended")
            .expect("read failed")
        {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// The close code the server sent.
async fn next_close(client: &mut Client) -> CloseCode {
    loop {
        match client.next().await {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code,
            Some(Ok(Message::Close(None))) => panic!("a close frame without a code"),
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!("read failed before the close frame: {error}"),
            None => panic!("the connection ended without a close frame"),
        }
    }
}

async fn send(client: &mut Client, text: &str) {
    client.send(Message::text(text)).await.unwrap();
}

async fn whoami(client: &mut Client) -> String {
    send(client, r#"{"action":"whoami"}"#).await;
    next_text(client).await
}

async fn next_event(events: &mut Events, event_type: &str) -> websocket::Request {
    loop {
        let event = events.recv().await.expect("no more events");
        if event.request_context.event_type.as_deref() == Some(event_type) {
            return event;
        }
    }
}

fn management(addr: SocketAddr, id: &str) -> String {
    format!("http://{addr}/@connections/{id}")
}

#[tokio::test]
async fn messages_are_routed_by_the_selection_expression() {
    let (builder, _events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;

    send(&mut client, r#"{"action":"echo","data":1}"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"{"action":"echo","data":1}"#
    );
    // A key with no route, and a message that is not JSON, go to $default.
    send(&mut client, r#"{"action":"nope"}"#).await;
    assert_eq!(next_text(&mut client).await, r#"default:{"action":"nope"}"#);
    send(&mut client, "plain text").await;
    assert_eq!(next_text(&mut client).await, "default:plain text");
}

#[tokio::test]
async fn nested_paths_select_routes() {
    let api = WebSocketApi::builder()
        .route_selection_expression("$request.body.meta.kind")
        .route("join", reply(|_| "joined".into()))
        .build()
        .unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    send(&mut client, r#"{"meta":{"kind":"join"}}"#).await;
    assert_eq!(next_text(&mut client).await, "joined");
}

#[tokio::test]
async fn without_default_unmatched_messages_get_the_forbidden_frame() {
    let api = WebSocketApi::builder()
        .route("echo", reply(|e| e.body.clone().unwrap_or_default()))
        .route(
            "whoami",
            reply(|e| e.request_context.connection_id.clone().unwrap()),
        )
        .build()
        .unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    let id = whoami(&mut client).await;

    send(&mut client, "not json").await;
    let frame = next_text(&mut client).await;
    assert!(
        frame.starts_with(&format!(
            r#"{{"message": "Forbidden", "connectionId":"{id}", "requestId":""#
        )),
        "{frame}"
    );
    let frame: Value = serde_json::from_str(&frame).unwrap();
    assert!(!frame["requestId"].as_str().unwrap().is_empty());
    // The connection stays open.
    send(&mut client, r#"{"action":"echo"}"#).await;
    assert_eq!(next_text(&mut client).await, r#"{"action":"echo"}"#);
}

#[tokio::test]
async fn events_carry_the_connection_and_route() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let api = WebSocketApi::builder()
        .route("$connect", recording(&tx))
        .route("send", recording(&tx))
        .domain_name("chat.example")
        .build()
        .unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "?room=1").await;

    let connect = next_event(&mut events, "CONNECT").await;
    let context = &connect.request_context;
    assert_eq!(context.route_key.as_deref(), Some("$connect"));
    assert_eq!(context.domain_name.as_deref(), Some("chat.example"));
    assert_eq!(context.stage.as_deref(), Some("$default"));
    assert_eq!(
        context.identity.as_ref().unwrap().source_ip.as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        connect.query_string_parameters.as_ref().unwrap()["room"],
        "1"
    );
    assert!(
        connect
            .headers
            .as_ref()
            .unwrap()
            .contains_key("sec-websocket-key")
    );

    send(&mut client, r#"{"action":"send","text":"hi"}"#).await;
    let message = next_event(&mut events, "MESSAGE").await;
    let m = &message.request_context;
    assert_eq!(m.route_key.as_deref(), Some("send"));
    assert_eq!(m.connection_id, context.connection_id);
    assert_eq!(m.connected_at, context.connected_at);
    assert_eq!(m.message_direction.as_deref(), Some("IN"));
    assert!(m.message_id.is_some() && m.request_id.is_some() && m.request_time_epoch.is_some());
    assert_eq!(
        message.body.as_deref(),
        Some(r#"{"action":"send","text":"hi"}"#)
    );
    assert!(!message.is_base64_encoded);
}

#[tokio::test]
async fn connect_integration_may_refuse_the_handshake() {
    let api = WebSocketApi::builder()
        .route(
            "$connect",
            RouteIntegration::handler(|event: websocket::Request| async move {
                let allowed = event
                    .query_string_parameters
                    .is_some_and(|q| q.get("name").is_some_and(|n| n == "alice"));
                Ok::<_, InvokeError>(websocket::Response::new(if allowed { 200 } else { 401 }))
            }),
        )
        .build()
        .unwrap();
    let addr = serve(&api).await;
    assert_eq!(refused(addr, "?name=mallory").await, 401);
    connect(addr, "?name=alice").await;
}

#[tokio::test]
async fn failing_connect_integration_refuses_with_500() {
    let api = WebSocketApi::builder()
        .route(
            "$connect",
            RouteIntegration::handler(|_event: websocket::Request| async {
                Err::<websocket::Response, _>(InvokeError::Function(FunctionError::new("boom")))
            }),
        )
        .build()
        .unwrap();
    let addr = serve(&api).await;
    assert_eq!(refused(addr, "").await, 500);
}

#[tokio::test]
async fn jwt_authorizer_admits_a_valid_token_and_refuses_others() {
    let key = TestKey::ec256("k1");
    let clock = ManualClock::at_unix_time(Duration::from_secs(1_900_000_000));
    let jwt = JwtAuthorizerLayer::builder()
        .issuer(Issuer::new(ISS).audience(AUD).jwks(jwks(&[&key])))
        .identity_source(IdentitySource::parse("$request.querystring.token").unwrap())
        .with_clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let api = WebSocketApi::builder()
        .authorizer(jwt)
        .route("$connect", recording(&tx))
        .route("$default", recording(&tx))
        .build()
        .unwrap();
    let addr = serve(&api).await;

    assert_eq!(refused(addr, "").await, 401);
    assert_eq!(refused(addr, "?token=not.a.jwt").await, 401);
    let token = key.sign(&claims(&clock));
    let mut client = connect(addr, &format!("?token={token}")).await;

    let connect = next_event(&mut events, "CONNECT").await;
    let authorizer = connect.request_context.authorizer.unwrap();
    assert_eq!(authorizer["claims"]["sub"], "alice");
    // Later messages carry the authorizer's output too.
    send(&mut client, "hello").await;
    let message = next_event(&mut events, "MESSAGE").await;
    assert_eq!(
        message.request_context.authorizer.unwrap()["claims"]["sub"],
        "alice"
    );
}

#[tokio::test]
async fn lambda_authorizer_reads_the_query_string_and_passes_its_context() {
    let authorizer = |request: AuthorizerRequest| async move {
        let token = match &request {
            AuthorizerRequest::RequestV1(event) => event
                .query_string_parameters
                .as_ref()
                .and_then(|query| query.get("token").cloned()),
            _ => None,
        };
        match token.as_deref() {
            Some("good") => Ok(IamPolicyResponse::allow("alice", "*").with_context("room", "blue")),
            Some(_) => Ok(IamPolicyResponse::deny("mallory", "*")),
            None => Err(AuthorizeError::Unauthorized),
        }
    };
    let layer = LambdaAuthorizerCacheLayer::builder(authorizer)
        .identity_source("$request.querystring.token")
        .build()
        .unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let api = WebSocketApi::builder()
        .authorizer(layer)
        .route("$connect", recording(&tx))
        .build()
        .unwrap();
    let addr = serve(&api).await;

    assert_eq!(refused(addr, "").await, 401);
    assert_eq!(refused(addr, "?token=bad").await, 403);
    connect(addr, "?token=good").await;
    let connect = next_event(&mut events, "CONNECT").await;
    let authorizer = connect.request_context.authorizer.unwrap();
    assert_eq!(authorizer["principalId"], "alice");
    assert_eq!(authorizer["room"], "blue");
}

#[tokio::test]
async fn lambda_authorizer_policies_are_judged_against_the_connect_route_arn() {
    let authorizer = |request: AuthorizerRequest| async move {
        let (token, method_arn) = match &request {
            AuthorizerRequest::RequestV1(event) => (
                event
                    .query_string_parameters
                    .as_ref()
                    .and_then(|query| query.get("token").cloned()),
                event.method_arn.clone(),
            ),
            _ => (None, String::new()),
        };
        // The event's `methodArn` names the route too, and its context is
        // API Gateway's WebSocket `$connect` context.
        let websocket_shaped = match &request {
            AuthorizerRequest::RequestV1(event) => {
                let context = &event.request_context;
                context.route_key.as_deref() == Some("$connect")
                    && context.event_type.as_deref() == Some("CONNECT")
                    && context
                        .connection_id
                        .as_deref()
                        .is_some_and(|id| !id.is_empty())
                    && context.connected_at.is_some()
                    && event.http_method.is_none()
            }
            _ => false,
        };
        if !method_arn.ends_with("/$connect") || !websocket_shaped {
            return Ok(IamPolicyResponse::deny("anyone", "*"));
        }
        match token.as_deref() {
            Some("connect") => Ok(IamPolicyResponse::allow(
                "alice",
                "arn:aws:execute-api:*/$connect",
            )),
            Some(_) => Ok(IamPolicyResponse::allow(
                "bob",
                "arn:aws:execute-api:*/GET/*",
            )),
            None => Err(AuthorizeError::Unauthorized),
        }
    };
    let layer = LambdaAuthorizerCacheLayer::builder(authorizer)
        .identity_source("$request.querystring.token")
        .build()
        .unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let api = WebSocketApi::builder()
        .authorizer(layer)
        .route("$connect", recording(&tx))
        .build()
        .unwrap();
    let addr = serve(&api).await;

    // An Allow for the HTTP handshake's `GET /` does not open `$connect`.
    assert_eq!(refused(addr, "?token=http").await, 403);
    connect(addr, "?token=connect").await;
    next_event(&mut events, "CONNECT").await;
}

#[tokio::test]
async fn lambda_functions_are_called_through_invoke() {
    let function = |payload: Bytes| async move {
        let event: Value = serde_json::from_slice(&payload).unwrap();
        let answer = json!({
            "statusCode": 200,
            "body": format!("{}:{}", event["requestContext"]["routeKey"].as_str().unwrap(), event["body"].as_str().unwrap()),
        });
        Ok::<_, InvokeError>(Bytes::from(answer.to_string()))
    };
    let api = WebSocketApi::builder()
        .route(
            "$default",
            RouteIntegration::function(function).two_way(true),
        )
        .route("quiet", RouteIntegration::function(function))
        .build()
        .unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    // One-way: no answer is sent; the next two-way answer is the first frame.
    send(&mut client, r#"{"action":"quiet"}"#).await;
    send(&mut client, "hi").await;
    assert_eq!(next_text(&mut client).await, "$default:hi");
}

#[tokio::test]
async fn failing_integrations_send_the_internal_error_frame() {
    let api = WebSocketApi::builder()
        .route(
            "$default",
            RouteIntegration::handler(|_event: websocket::Request| async {
                Err::<websocket::Response, _>(InvokeError::Function(FunctionError::new(
                    "secret detail",
                )))
            }),
        )
        .build()
        .unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    send(&mut client, "x").await;
    let frame: Value = serde_json::from_str(&next_text(&mut client).await).unwrap();
    assert_eq!(frame["message"], "Internal server error");
}

#[tokio::test]
async fn post_pushes_to_a_connection_and_get_describes_it() {
    let (builder, _events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    let id = whoami(&mut client).await;
    let http = reqwest::Client::new();

    let pushed = http
        .post(management(addr, &id))
        .bearer_auth(TOKEN)
        .body("hello from the backend")
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 200);
    assert_eq!(next_text(&mut client).await, "hello from the backend");

    let info = http
        .get(management(addr, &id))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let info: Value = serde_json::from_slice(&info.bytes().await.unwrap()).unwrap();
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");
    assert!(info["connectedAt"].as_str().unwrap().ends_with('Z'));
    assert!(info["lastActiveAt"].is_string());

    // The Rust handle does the same.
    api.connections().send_text(&id, "from rust").unwrap();
    assert_eq!(next_text(&mut client).await, "from rust");
}

#[tokio::test]
async fn management_is_closed_without_access() {
    let api = WebSocketApi::builder().build().unwrap();
    let addr = serve(&api).await;
    let http = reqwest::Client::new();
    let response = http.get(management(addr, "any")).send().await.unwrap();
    assert_eq!(response.status(), 403);

    let (builder, _events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let wrong = http
        .post(management(addr, "any"))
        .bearer_auth("guess")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
}

#[tokio::test]
async fn closed_and_unknown_connections_are_gone() {
    let (builder, mut events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    let id = whoami(&mut client).await;
    client.close(None).await.unwrap();
    next_event(&mut events, "DISCONNECT").await;

    let http = reqwest::Client::new();
    for request in [
        http.post(management(addr, &id)).body("late"),
        http.get(management(addr, &id)),
        http.delete(management(addr, &id)),
        http.get(management(addr, "never-existed")),
    ] {
        let response = request.bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 410);
        let problem: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(problem["type"], "urn:apigw:problem:gone");
    }
}

#[tokio::test]
async fn delete_closes_the_connection_and_runs_disconnect() {
    let (builder, mut events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    let id = whoami(&mut client).await;
    let response = reqwest::Client::new()
        .delete(management(addr, &id))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(next_close(&mut client).await, CloseCode::Normal);
    let disconnect = next_event(&mut events, "DISCONNECT").await;
    assert_eq!(
        disconnect.request_context.connection_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        disconnect.request_context.disconnect_status_code,
        Some(1000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_pushes_to_a_thousand_connections() {
    let (builder, _events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..1000 {
        let mut client = connect(addr, "").await;
        ids.push(whoami(&mut client).await);
        clients.push(client);
    }
    assert_eq!(api.connections().len(), 1000);

    let http = reqwest::Client::new();
    for (i, id) in ids.iter().enumerate() {
        let response = http
            .post(management(addr, id))
            .bearer_auth(TOKEN)
            .body(format!("push {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(next_text(client).await, format!("push {i}"));
    }
    // And a broadcast through the Rust handle reaches every one.
    assert_eq!(api.connections().broadcast_text("all"), 1000);
    for client in &mut clients {
        assert_eq!(next_text(client).await, "all");
    }
}

#[tokio::test]
async fn disconnect_runs_when_the_client_closes() {
    let (builder, mut events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    let id = whoami(&mut client).await;
    client
        .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: CloseCode::Library(4000),
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    let disconnect = next_event(&mut events, "DISCONNECT").await;
    let context = disconnect.request_context;
    assert_eq!(context.route_key.as_deref(), Some("$disconnect"));
    assert_eq!(context.connection_id.as_deref(), Some(id.as_str()));
    assert_eq!(context.disconnect_status_code, Some(4000));
    assert_eq!(context.disconnect_reason.as_deref(), Some("bye"));
    assert!(api.connections().is_empty());
}

#[tokio::test]
async fn shutdown_closes_with_going_away_and_runs_disconnect() {
    let (builder, mut events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let mut a = connect(addr, "").await;
    let mut b = connect(addr, "").await;
    whoami(&mut a).await;
    whoami(&mut b).await;

    api.shutdown().await;
    // Both have run $disconnect by the time shutdown returns.
    for _ in 0..2 {
        let event = next_event(&mut events, "DISCONNECT").await;
        assert_eq!(event.request_context.disconnect_status_code, Some(1001));
    }
    assert_eq!(next_close(&mut a).await, CloseCode::Away);
    assert_eq!(next_close(&mut b).await, CloseCode::Away);
    assert_eq!(refused(addr, "").await, 503);
}

#[tokio::test(start_paused = true)]
async fn idle_connections_close_after_the_idle_timeout() {
    let (builder, mut events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    // Activity at 5 min and 9 min postpones the cut to 19 min.
    let start = tokio::time::Instant::now();
    for at in [5, 9] {
        tokio::time::sleep_until(start + Duration::from_secs(at * 60)).await;
        send(&mut client, r#"{"action":"echo"}"#).await;
        assert_eq!(next_text(&mut client).await, r#"{"action":"echo"}"#);
    }
    assert_eq!(next_close(&mut client).await, CloseCode::Away);
    let closed_at = start.elapsed();
    assert!(closed_at >= Duration::from_secs(19 * 60), "{closed_at:?}");
    assert!(
        closed_at < Duration::from_secs(19 * 60 + 1),
        "{closed_at:?}"
    );
    let event = next_event(&mut events, "DISCONNECT").await;
    assert_eq!(event.request_context.disconnect_status_code, Some(1001));
}

#[tokio::test(start_paused = true)]
async fn connections_close_at_the_maximum_lifetime_however_active() {
    let (builder, _events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    let start = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(5 * 60)).await;
        send(&mut client, r#"{"action":"echo"}"#).await;
        match client.next().await.unwrap().unwrap() {
            Message::Text(_) => {}
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Away);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let closed_at = start.elapsed();
    assert!(closed_at >= Duration::from_secs(2 * 3600), "{closed_at:?}");
    assert!(
        closed_at <= Duration::from_secs(2 * 3600 + 5 * 60),
        "{closed_at:?}"
    );
}

#[tokio::test]
async fn oversized_messages_close_with_1009() {
    let (builder, mut events) = builder();
    let api = builder.build().unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    send(&mut client, &"x".repeat(129 * 1024)).await;
    assert_eq!(next_close(&mut client).await, CloseCode::Size);
    let event = next_event(&mut events, "DISCONNECT").await;
    assert_eq!(event.request_context.disconnect_status_code, Some(1009));
}

#[tokio::test]
async fn a_message_over_the_limit_in_small_frames_closes_with_1009() {
    let (builder, _events) = builder();
    let api = builder
        .max_frame_size(1 << 20)
        .max_message_size(1024)
        .build()
        .unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    send(&mut client, &"x".repeat(1000)).await;
    assert_eq!(
        next_text(&mut client).await,
        format!("default:{}", "x".repeat(1000))
    );
    send(&mut client, &"x".repeat(1025)).await;
    assert_eq!(next_close(&mut client).await, CloseCode::Size);
}

#[tokio::test]
async fn binary_frames_close_with_1003_unless_enabled() {
    let (refusing, _events) = builder();
    let api = refusing.build().unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    client.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(next_close(&mut client).await, CloseCode::Unsupported);

    let (enabled, _events) = builder();
    let api = enabled.binary_frames(true).build().unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    client.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(next_text(&mut client).await, "default:AQID");
}

#[tokio::test(start_paused = true)]
async fn frame_rate_is_limited_per_connection() {
    let (builder, _events) = builder();
    let api = builder
        .frame_rate(Limit::new(1.0, 2).unwrap())
        .build()
        .unwrap();
    let addr = serve(&api).await;
    let mut client = connect(addr, "").await;
    let mut other = connect(addr, "").await;
    for _ in 0..2 {
        send(&mut client, r#"{"action":"echo"}"#).await;
        assert_eq!(next_text(&mut client).await, r#"{"action":"echo"}"#);
    }
    send(&mut client, r#"{"action":"echo"}"#).await;
    let frame: Value = serde_json::from_str(&next_text(&mut client).await).unwrap();
    assert_eq!(frame["message"], "Too Many Requests");
    // Another connection has its own bucket.
    send(&mut other, r#"{"action":"echo"}"#).await;
    assert_eq!(next_text(&mut other).await, r#"{"action":"echo"}"#);
}
