//! What a route calls: an in-process handler over
//! [`events::websocket`](crate::events::websocket) events, or a function
//! through [`Invoke`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::events::websocket::{Request, Response};
use crate::integration::{Invoke, InvokeError};

/// The future of one handler call.
pub type HandlerFuture =
    Pin<Box<dyn Future<Output = Result<Response, InvokeError>> + Send + 'static>>;

/// An in-process WebSocket route handler: a WebSocket event in, the
/// function's answer out, as a Lambda handler for a WebSocket API is
/// written — without the JSON round trip.
///
/// Implemented for every `Fn(websocket::Request) -> impl Future<Output =
/// Result<websocket::Response, InvokeError>>` closure.
pub trait HandleEvent: Send + Sync + 'static {
    /// Handles `event`.
    fn handle(&self, event: Request) -> HandlerFuture;
}

impl<F, Fut> HandleEvent for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response, InvokeError>> + Send + 'static,
{
    fn handle(&self, event: Request) -> HandlerFuture {
        Box::pin(self(event))
    }
}

#[derive(Clone)]
enum Target {
    Handler(Arc<dyn HandleEvent>),
    Function(Arc<dyn Invoke>),
}

/// A route's integration: what runs when the route is selected, and
/// whether its answer is sent back to the client (a two-way route, which
/// API Gateway calls a route with a route response).
///
/// ```
/// use apigw::events::websocket;
/// use apigw::integration::InvokeError;
/// use apigw::websocket::RouteIntegration;
///
/// // Echo the message back on the same connection.
/// let echo = RouteIntegration::handler(|event: websocket::Request| async move {
///     Ok::<_, InvokeError>(websocket::Response::new(200).with_body(event.body.unwrap_or_default()))
/// });
/// assert!(echo.is_two_way());
/// ```
#[derive(Clone)]
pub struct RouteIntegration {
    target: Target,
    two_way: bool,
}

impl fmt::Debug for RouteIntegration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.target {
            Target::Handler(_) => "handler",
            Target::Function(_) => "function",
        };
        f.debug_struct("RouteIntegration")
            .field("target", &kind)
            .field("two_way", &self.two_way)
            .finish()
    }
}

impl RouteIntegration {
    /// An in-process handler. Two-way by default: the `body` of its answer,
    /// when present, is sent back on the connection.
    pub fn handler(handler: impl HandleEvent) -> Self {
        Self {
            target: Target::Handler(Arc::new(handler)),
            two_way: true,
        }
    }

    /// A function through [`Invoke`] (a Lambda function through
    /// [`HttpInvoker`](crate::integration::HttpInvoker), or a closure over
    /// raw JSON), called with the event as JSON. One-way by default, as a
    /// route without a route response in API Gateway; make it two-way with
    /// [`two_way`](Self::two_way).
    pub fn function(function: impl Invoke) -> Self {
        Self {
            target: Target::Function(Arc::new(function)),
            two_way: false,
        }
    }

    /// Whether the answer's `body` is sent back to the client.
    #[must_use]
    pub fn two_way(mut self, two_way: bool) -> Self {
        self.two_way = two_way;
        self
    }

    /// Whether the answer's `body` is sent back to the client.
    #[must_use]
    pub fn is_two_way(&self) -> bool {
        self.two_way
    }

    /// Calls the integration with `event`.
    pub(crate) fn call(&self, event: Request) -> HandlerFuture {
        match &self.target {
            Target::Handler(handler) => handler.handle(event),
            Target::Function(function) => {
                let payload = match serde_json::to_vec(&event) {
                    Ok(payload) => Bytes::from(payload),
                    Err(e) => {
                        return Box::pin(std::future::ready(Err(InvokeError::Other(
                            e.to_string(),
                        ))));
                    }
                };
                let call = function.invoke(payload);
                Box::pin(async move {
                    let answer = call.await?;
                    parse_answer(&answer)
                })
            }
        }
    }
}

/// A function's answer: a `{statusCode, body, …}` object; an empty payload
/// or `null` is a 200 with no body.
fn parse_answer(answer: &[u8]) -> Result<Response, InvokeError> {
    let trimmed = answer.trim_ascii();
    if trimmed.is_empty() || trimmed == b"null" {
        return Ok(Response::new(200));
    }
    serde_json::from_slice(trimmed)
        .map_err(|e| InvokeError::Other(format!("malformed WebSocket integration answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn functions_get_the_event_as_json_and_answer_json() {
        let function = RouteIntegration::function(|payload: Bytes| async move {
            let event: Request = serde_json::from_slice(&payload).unwrap();
            let body = event.body.unwrap_or_default();
            Ok::<_, InvokeError>(Bytes::from(
                serde_json::json!({"statusCode": 200, "body": body}).to_string(),
            ))
        })
        .two_way(true);
        let event = Request {
            body: Some("hi".into()),
            ..Request::default()
        };
        let answer = function.call(event).await.unwrap();
        assert_eq!(answer.body.as_deref(), Some("hi"));
    }

    #[test]
    fn empty_and_null_answers_are_200() {
        assert_eq!(parse_answer(b"").unwrap().status_code, 200);
        assert_eq!(parse_answer(b" null ").unwrap().status_code, 200);
        assert!(parse_answer(b"[1]").is_err());
    }
}
