//! WebSocket APIs, as API Gateway runs them: [`WebSocketApi`].
//!
//! A client opens a WebSocket on the endpoint; every message it sends is
//! routed by the **route selection expression** to a route's integration;
//! backends push to any connection through the `@connections` management
//! API or the [`Connections`] handle.
//!
//! ```
//! use apigw::events::websocket;
//! use apigw::integration::InvokeError;
//! use apigw::websocket::{RouteIntegration, WebSocketApi};
//!
//! # fn main() -> Result<(), apigw::ConfigError> {
//! let api = WebSocketApi::builder()
//!     .route_selection_expression("$request.body.action")
//!     .route("echo", RouteIntegration::handler(|event: websocket::Request| async move {
//!         Ok::<_, InvokeError>(websocket::Response::new(200).with_body(event.body.unwrap_or_default()))
//!     }))
//!     .management_token("s3cret")
//!     .build()?;
//! // `GET /` upgrades; `/@connections/{id}` manages connections.
//! let app: axum::Router = axum::Router::new().nest("/prod", api.router());
//! # let _ = app; Ok(()) }
//! ```
//!
//! # The connection's life
//!
//! 1. **Handshake.** The upgrade request goes through the
//!    [authorizer](WebSocketApiBuilder::authorizer), if any (a
//!    [`JwtAuthorizerLayer`](crate::jwt::JwtAuthorizerLayer) or a
//!    [`LambdaAuthorizerCacheLayer`](crate::lambda_authorizer::LambdaAuthorizerCacheLayer),
//!    whose identity sources can read headers and the query string): its
//!    401 / 403 / 500 refuses the handshake. Then the `$connect` integration
//!    runs, if any, with a `CONNECT` event carrying the request's headers and
//!    query string; an answer outside 2xx refuses the handshake with that
//!    status, a failure with 500, no answer in time with 504. A
//!    `Sec-WebSocket-Protocol` header in its answer selects the subprotocol.
//! 2. **Messages.** Each text message is routed by the expression
//!    (`$request.body.action`, nested paths like `$request.body.meta.kind`,
//!    `${request.body.a}-${request.body.b}` templates). A message that is not
//!    JSON, lacks the member, or selects a key with no route goes to
//!    `$default`; with no `$default` the client gets API Gateway's error
//!    frame `{"message": "Forbidden", "connectionId":"…", "requestId":"…"}`.
//!    The integration gets a `MESSAGE` event; a two-way route's answer
//!    `body` is sent back on the connection. A failed integration sends
//!    `{"message": "Internal server error", …}`, a slow one
//!    `{"message": "Endpoint request timed out", …}`. Messages of one
//!    connection run concurrently (up to
//!    [`max_in_flight`](WebSocketApiBuilder::max_in_flight)).
//! 3. **Close.** Whoever closes, `$disconnect` runs once the connection is
//!    gone, with `disconnectStatusCode` and `disconnectReason`, best effort:
//!    its answer and failures are only logged.
//!
//! Every event carries `requestContext.connectionId`, `routeKey`,
//! `eventType`, `messageId` (messages), `domainName`, `stage`, `apiId`,
//! `connectedAt`, `requestTimeEpoch`, `identity.sourceIp` /
//! `identity.userAgent`, and the authorizer's output in `authorizer`
//! (`principalId` and context, or `claims`) — on every route, as API
//! Gateway does.
//!
//! # Limits
//!
//! | limit | default | when reached |
//! |---|---|---|
//! | idle timeout | 10 min | close 1001 (going away) |
//! | connection lifetime | 2 h | close 1001 |
//! | message size | 128 KiB | close 1009 (message too big) |
//! | frame size | 32 KiB | close 1009 |
//! | binary frames | refused | close 1003 (unsupported data), unless [enabled](WebSocketApiBuilder::binary_frames) |
//! | frame rate per connection | none | error frame `{"message": "Too Many Requests", …}`, message dropped |
//! | integration timeout | 29 s | error frame (`$connect`: 504) |
//!
//! # `@connections`
//!
//! | request | answer |
//! |---|---|
//! | `POST /@connections/{id}` with the message as body | 200; 413 over the message size; 429 when the connection's queue is full |
//! | `GET /@connections/{id}` | 200 `{"connectedAt", "identity": {"sourceIp", "userAgent"}, "lastActiveAt"}` |
//! | `DELETE /@connections/{id}` | 204; the connection closes (1000) and `$disconnect` runs |
//! | unknown or closed connection | 410 (`urn:apigw:problem:gone`) |
//! | caller not allowed | 403 `ACCESS_DENIED` |
//!
//! Access is decided by [`management_access`](WebSocketApiBuilder::management_access)
//! (or [`management_token`](WebSocketApiBuilder::management_token)); without
//! either, every management request is refused. The same operations are
//! available in-process through [`WebSocketApi::connections`].
//!
//! # Shutdown
//!
//! [`WebSocketApi::shutdown`] refuses new handshakes (503), closes every
//! connection with 1001 and resolves when each has run `$disconnect`.
//!
//! # Several nodes
//!
//! A [`ConnectionRegistry`] records connections for every node to see
//! (`GET` answers from it for connections held elsewhere). Delivery is by
//! the node holding the socket: `POST` and `DELETE` for a connection on
//! another node answer 410 here.

mod api;
mod authorizer;
mod hub;
mod integration;
mod limits;
mod management;
mod registry;
mod selection;
mod session;

pub use api::{ManagementAccess, WebSocketApi, WebSocketApiBuilder};
pub use authorizer::Probe;
pub use hub::{Connections, PushError};
pub use integration::{HandleEvent, HandlerFuture, RouteIntegration};
pub use limits::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_LIFETIME, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_READ_BUFFER_SIZE,
};
pub use management::GONE_PROBLEM_TYPE;
pub use registry::{
    ConnectionInfo, ConnectionRegistry, InMemoryConnectionRegistry, RegistryError, RegistryFuture,
};
