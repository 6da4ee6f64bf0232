//! The `@connections` management API as HTTP routes:
//! `POST /@connections/{id}` sends, `GET` describes, `DELETE` closes.

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, Utf8Bytes};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use http::{Request, StatusCode, header};

use super::api::WebSocketApi;
use super::hub::{Outbound, PushError, push};
use super::limits::close;
use crate::identity::RequestId;
use crate::problem::{GatewayResponseType, Rejection};

pub(crate) fn router(api: WebSocketApi) -> Router {
    Router::new()
        .route(
            "/@connections/{id}",
            post(send).get(describe).delete(disconnect),
        )
        .with_state(api)
}

/// The problem `type` of a 410 for a gone connection.
pub const GONE_PROBLEM_TYPE: &str = "urn:apigw:problem:gone";

fn gone() -> Rejection {
    Rejection::new(GatewayResponseType::Default4xx)
        .with_status(StatusCode::GONE)
        .with_problem_type(GONE_PROBLEM_TYPE)
        .with_message("GoneException")
        .with_detail("the connection is gone")
}

/// Checks access; answers the request id, or the refusal.
fn admit<B>(api: &WebSocketApi, request: &Request<B>) -> Result<RequestId, Box<Response>> {
    let request_id = RequestId::find(request.extensions(), request.headers()).unwrap_or_default();
    let (parts, ()) = clone_head(request).into_parts();
    let allowed = api
        .inner
        .management_access
        .as_ref()
        .is_some_and(|allow| allow(&parts));
    if allowed {
        Ok(request_id)
    } else {
        let rejection = Rejection::new(GatewayResponseType::AccessDenied);
        Err(Box::new(
            api.inner.responses.render(&rejection, Some(&request_id)),
        ))
    }
}

fn clone_head<B>(request: &Request<B>) -> Request<()> {
    let mut head = Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.uri().clone();
    *head.version_mut() = request.version();
    *head.headers_mut() = request.headers().clone();
    *head.extensions_mut() = request.extensions().clone();
    head
}

fn render(api: &WebSocketApi, rejection: &Rejection, request_id: &RequestId) -> Response {
    api.inner.responses.render(rejection, Some(request_id))
}

fn push_refused(api: &WebSocketApi, error: PushError, request_id: &RequestId) -> Response {
    let rejection = match error {
        PushError::Full => Rejection::new(GatewayResponseType::Throttled)
            .with_detail("the connection's outbound queue is full"),
        PushError::Gone => gone(),
    };
    render(api, &rejection, request_id)
}

async fn send(
    State(api): State<WebSocketApi>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Response {
    let request_id = match admit(&api, &request) {
        Ok(id) => id,
        Err(refusal) => return *refusal,
    };
    let Some(local) = api.inner.hub.get(&id) else {
        return render(&api, &gone(), &request_id);
    };
    let limit = api.inner.limits.max_message_size;
    let Ok(data) = axum::body::to_bytes(request.into_body(), limit).await else {
        let rejection = Rejection::new(GatewayResponseType::RequestTooLarge);
        return render(&api, &rejection, &request_id);
    };
    let message = match Utf8Bytes::try_from(data.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(data),
    };
    match push(&local.tx, Outbound::Frame(message)) {
        Ok(()) => empty(StatusCode::OK),
        Err(error) => push_refused(&api, error, &request_id),
    }
}

async fn describe(
    State(api): State<WebSocketApi>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Response {
    let request_id = match admit(&api, &request) {
        Ok(id) => id,
        Err(refusal) => return *refusal,
    };
    let info = match api.inner.hub.get(&id) {
        Some(local) => Some(local.state.info()),
        None => match api.inner.registry.lookup(&id).await {
            Ok(info) => info,
            Err(error) => {
                tracing::error!(%error, "could not read the connection registry");
                return render(
                    &api,
                    &Rejection::new(GatewayResponseType::Default5xx),
                    &request_id,
                );
            }
        },
    };
    match info {
        Some(info) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(info.to_json().to_string()))
            .unwrap_or_default(),
        None => render(&api, &gone(), &request_id),
    }
}

async fn disconnect(
    State(api): State<WebSocketApi>,
    Path(id): Path<String>,
    request: Request<Body>,
) -> Response {
    let request_id = match admit(&api, &request) {
        Ok(id) => id,
        Err(refusal) => return *refusal,
    };
    let Some(local) = api.inner.hub.get(&id) else {
        return render(&api, &gone(), &request_id);
    };
    // A close must not be lost behind a full queue: wait for room.
    match local.tx.send(Outbound::Close(close::NORMAL, "")).await {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(_) => render(&api, &gone(), &request_id),
    }
}

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}
