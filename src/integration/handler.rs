//! In-process functions over typed events.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{FunctionError, Invoke, InvokeError, InvokeFuture};

/// A function written as an async closure over a typed event, the way
/// Lambda handlers are written: it receives the event deserialized
/// (`events::v1::Request`, `events::v2::Request`, or any `Deserialize`
/// type), and answers anything `Serialize` (`events::v1::Response`, a
/// `v2::Response`, or a bare JSON value that format 2.0 infers a response
/// from). An `Err` is a function error, as Lambda reports an unhandled
/// exception. Make one with [`handler_fn`].
///
/// ```
/// use apigw::events::v2;
/// use apigw::integration::{Invoke, handler_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let function = handler_fn(|event: v2::Request| async move {
///     Ok::<_, std::convert::Infallible>(v2::Response::new(200).with_body(event.raw_path))
/// });
/// let answer = function.invoke(r#"{"rawPath": "/hi"}"#.into()).await.unwrap();
/// assert_eq!(answer, r#"{"statusCode":200,"body":"/hi","isBase64Encoded":false}"#);
/// # }
/// ```
pub struct HandlerFn<F, E> {
    handler: F,
    event: PhantomData<fn(E)>,
}

/// A [`HandlerFn`] from an async closure over a typed event.
pub fn handler_fn<F, E>(handler: F) -> HandlerFn<F, E> {
    HandlerFn {
        handler,
        event: PhantomData,
    }
}

impl<F: Clone, E> Clone for HandlerFn<F, E> {
    fn clone(&self) -> Self {
        handler_fn(self.handler.clone())
    }
}

impl<F, E> fmt::Debug for HandlerFn<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerFn")
            .field("event", &std::any::type_name::<E>())
            .finish_non_exhaustive()
    }
}

impl<F, E, Fut, R, Err> Invoke for HandlerFn<F, E>
where
    F: Fn(E) -> Fut + Send + Sync + 'static,
    E: DeserializeOwned + 'static,
    Fut: Future<Output = Result<R, Err>> + Send + 'static,
    R: Serialize,
    Err: fmt::Display,
{
    fn invoke(&self, payload: Bytes) -> InvokeFuture {
        let event = match serde_json::from_slice::<E>(&payload) {
            Ok(event) => event,
            Err(err) => {
                let error = FunctionError::new(format!("could not read the event: {err}"));
                return Box::pin(std::future::ready(Err(InvokeError::Function(error))));
            }
        };
        let answer = (self.handler)(event);
        Box::pin(async move {
            match answer.await {
                Ok(answer) => serde_json::to_vec(&answer).map(Bytes::from).map_err(|err| {
                    InvokeError::Function(FunctionError::new(format!(
                        "could not write the answer: {err}"
                    )))
                }),
                Err(err) => Err(InvokeError::Function(FunctionError::new(err.to_string()))),
            }
        })
    }
}
