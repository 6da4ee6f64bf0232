//! One connection's task: reads frames, routes messages, writes answers and
//! pushes, enforces the limits, and runs `$disconnect` when it ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use base64::Engine as _;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use governor::RateLimiter;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use tokio::sync::mpsc;

use super::api::{Inner, Registration, error_frame, new_id, stamp};
use super::hub::{ConnectionState, Outbound};
use super::integration::{HandlerFuture, RouteIntegration};
use super::limits::close;
use crate::events::websocket::{Request as Event, RequestContext};
use crate::throttle::bucket::GovernorClock;

type Limiter = RateLimiter<NotKeyed, InMemoryState, GovernorClock, NoOpMiddleware<Nanos>>;

/// Why the connection ended: the `$disconnect` event's status and reason.
struct Ended {
    code: u16,
    reason: String,
}

impl Ended {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// What a message turns into.
enum Dispatch {
    /// Nothing to send now.
    None,
    /// A frame to send now (an error frame).
    Reply(Message),
    /// An integration call, answering a frame to send or nothing.
    Call(HandlerCall),
}

type HandlerCall = std::pin::Pin<Box<dyn std::future::Future<Output = Option<Message>> + Send>>;

pub(crate) struct Session {
    inner: Arc<Inner>,
    state: Arc<ConnectionState>,
    base: RequestContext,
    rx: mpsc::Receiver<Outbound>,
    registration: Registration,
    limiter: Option<Option<Limiter>>,
}

impl Session {
    pub(crate) fn new(
        inner: Arc<Inner>,
        state: Arc<ConnectionState>,
        base: RequestContext,
        rx: mpsc::Receiver<Outbound>,
        registration: Registration,
    ) -> Self {
        // `Some(None)`: a bucket of 0, which admits nothing.
        let limiter = inner.limits.frame_rate.map(|limit| {
            limit.quota().map(|quota| {
                RateLimiter::direct_with_clock(quota, GovernorClock::new(inner.clock.clone()))
            })
        });
        Self {
            inner,
            state,
            base,
            rx,
            registration,
            limiter,
        }
    }

    pub(crate) async fn run(mut self, mut socket: WebSocket) {
        let ended = self.serve(&mut socket).await;
        drop(socket);
        self.registration.unregister().await;
        if let Some(disconnect) = &self.inner.disconnect {
            let mut context = self.base.clone();
            context.route_key = Some("$disconnect".to_owned());
            context.event_type = Some("DISCONNECT".to_owned());
            context.disconnect_status_code = Some(i64::from(ended.code));
            context.disconnect_reason = Some(ended.reason);
            stamp(&mut context, self.inner.clock.unix_time(), &new_id());
            let event = Event {
                request_context: context,
                ..Event::default()
            };
            // Best effort, as API Gateway: the client is gone either way.
            match tokio::time::timeout(
                self.inner.limits.integration_timeout,
                disconnect.call(event),
            )
            .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the $disconnect integration failed"),
                Err(_) => tracing::warn!("the $disconnect integration timed out"),
            }
        }
    }

    async fn serve(&mut self, socket: &mut WebSocket) -> Ended {
        let limits = &self.inner.limits;
        let mut shutdown = self.inner.shutdown.subscribe();
        if *shutdown.borrow_and_update() {
            return close_with(socket, close::GOING_AWAY, "Going away").await;
        }
        // Kept across iterations: registering with the watch on every
        // wake-up would cost each connection a lock per message.
        let mut shutdown = std::pin::pin!(shutdown.changed());
        let lifetime_end = self.state.connected_mono + limits.max_lifetime;
        let mut timer = Box::pin(tokio::time::sleep(
            self.next_deadline(self.inner.clock.now(), lifetime_end),
        ));
        let mut in_flight: FuturesUnordered<HandlerCall> = FuturesUnordered::new();
        let max_in_flight = limits.max_in_flight;
        loop {
            tokio::select! {
                frame = socket.recv(), if in_flight.len() < max_in_flight => {
                    let frame = match frame {
                        None => return Ended::new(close::ABNORMAL, "Connection lost"),
                        Some(Err(error)) => {
                            if is_too_big(&error) {
                                return close_with(socket, close::TOO_BIG, "Message too big").await;
                            }
                            tracing::debug!(%error, "WebSocket read failed");
                            return Ended::new(close::ABNORMAL, "Connection lost");
                        }
                        Some(Ok(frame)) => frame,
                    };
                    self.state.touch(self.inner.clock.now());
                    let dispatch = match frame {
                        Message::Text(text) => self.dispatch(text.as_str(), false),
                        Message::Binary(data) => {
                            if !self.inner.limits.binary_frames {
                                return close_with(socket, close::UNSUPPORTED_DATA, "Binary frames are not supported").await;
                            }
                            let text = base64::engine::general_purpose::STANDARD.encode(&data);
                            self.dispatch(&text, true)
                        }
                        Message::Close(frame) => {
                            return match frame {
                                Some(frame) => Ended::new(frame.code, frame.reason.as_str()),
                                None => Ended::new(close::NO_STATUS, "Client-side close frame status not set"),
                            };
                        }
                        Message::Ping(_) | Message::Pong(_) => Dispatch::None,
                    };
                    match dispatch {
                        Dispatch::None => {}
                        Dispatch::Reply(message) => {
                            if socket.send(message).await.is_err() {
                                return Ended::new(close::ABNORMAL, "Connection lost");
                            }
                        }
                        Dispatch::Call(mut call) => {
                            // Most in-process handlers answer at once: skip
                            // the queue of calls in flight for them.
                            let ready = std::future::poll_fn(|cx| {
                                std::task::Poll::Ready(call.as_mut().poll(cx))
                            })
                            .await;
                            match ready {
                                std::task::Poll::Ready(Some(message)) => {
                                    if socket.send(message).await.is_err() {
                                        return Ended::new(close::ABNORMAL, "Connection lost");
                                    }
                                }
                                std::task::Poll::Ready(None) => {}
                                std::task::Poll::Pending => in_flight.push(call),
                            }
                        }
                    }
                }
                Some(answer) = in_flight.next(), if !in_flight.is_empty() => {
                    if let Some(message) = answer
                        && socket.send(message).await.is_err()
                    {
                        return Ended::new(close::ABNORMAL, "Connection lost");
                    }
                }
                outbound = self.rx.recv() => match outbound {
                    Some(Outbound::Frame(message)) => {
                        if socket.send(message).await.is_err() {
                            return Ended::new(close::ABNORMAL, "Connection lost");
                        }
                    }
                    Some(Outbound::Close(code, reason)) => return close_with(socket, code, reason).await,
                    None => return close_with(socket, close::NORMAL, "").await,
                },
                () = &mut timer => {
                    let now = self.inner.clock.now();
                    if now >= lifetime_end {
                        return close_with(socket, close::GOING_AWAY, "Going away").await;
                    }
                    let idle_end = self.idle_end();
                    if now >= idle_end {
                        return close_with(socket, close::GOING_AWAY, "Going away").await;
                    }
                    timer = Box::pin(tokio::time::sleep(self.next_deadline(now, lifetime_end)));
                }
                _ = &mut shutdown => {
                    return close_with(socket, close::GOING_AWAY, "Going away").await;
                }
            }
        }
    }

    fn idle_end(&self) -> Instant {
        self.state.connected_mono + self.state.idle_since() + self.inner.limits.idle_timeout
    }

    /// How long until the idle timeout or the lifetime may be reached.
    fn next_deadline(&self, now: Instant, lifetime_end: Instant) -> Duration {
        self.idle_end()
            .min(lifetime_end)
            .saturating_duration_since(now)
    }

    /// Routes one message.
    fn dispatch(&self, body: &str, is_base64: bool) -> Dispatch {
        let request_id = new_id();
        if let Some(limiter) = &self.limiter
            && limiter.as_ref().is_none_or(|l| l.check().is_err())
        {
            return Dispatch::Reply(self.error("Too Many Requests", &request_id));
        }
        let selected = if is_base64 {
            None
        } else {
            self.inner.selection.select(body)
        };
        let (route_key, integration): (&str, &RouteIntegration) = match selected
            .as_deref()
            .and_then(|key| self.inner.routes.get_key_value(key))
        {
            Some((key, route)) => (key.as_str(), route),
            None => match &self.inner.default {
                Some(route) => ("$default", route),
                None => return Dispatch::Reply(self.error("Forbidden", &request_id)),
            },
        };
        let mut context = self.base.clone();
        context.route_key = Some(route_key.to_owned());
        context.event_type = Some("MESSAGE".to_owned());
        context.message_id = Some(new_id());
        stamp(&mut context, self.inner.clock.unix_time(), &request_id);
        let event = Event {
            request_context: context,
            body: Some(body.to_owned()),
            is_base64_encoded: is_base64,
            ..Event::default()
        };
        let call: HandlerFuture = integration.call(event);
        let two_way = integration.is_two_way();
        let deadline = tokio::time::Instant::now() + self.inner.limits.integration_timeout;
        let connection_id = self.state.id.clone();
        Dispatch::Call(Box::pin(async move {
            let Ok(answer) = tokio::time::timeout_at(deadline, call).await else {
                let text = error_text("Endpoint request timed out", &connection_id, &request_id);
                return Some(text);
            };
            match answer {
                Ok(answer) => {
                    let body = answer.body.filter(|_| two_way)?;
                    if !answer.is_base64_encoded {
                        return Some(Message::Text(Utf8Bytes::from(body)));
                    }
                    match base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
                        Ok(data) => Some(Message::Binary(data.into())),
                        Err(_) => Some(error_text(
                            "Internal server error",
                            &connection_id,
                            &request_id,
                        )),
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "a WebSocket route integration failed");
                    Some(error_text(
                        "Internal server error",
                        &connection_id,
                        &request_id,
                    ))
                }
            }
        }))
    }

    fn error(&self, message: &str, request_id: &str) -> Message {
        Message::Text(Utf8Bytes::from(error_frame(
            message,
            &self.state.id,
            request_id,
        )))
    }
}

fn error_text(message: &str, connection_id: &str, request_id: &str) -> Message {
    Message::Text(Utf8Bytes::from(error_frame(
        message,
        connection_id,
        request_id,
    )))
}

async fn close_with(socket: &mut WebSocket, code: u16, reason: &'static str) -> Ended {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    if let Err(error) = socket.send(Message::Close(Some(frame))).await {
        tracing::debug!(%error, "could not send a WebSocket close frame");
    }
    Ended::new(code, reason)
}

fn is_too_big(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(tungstenite::Error::Capacity(_)) = e.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}
