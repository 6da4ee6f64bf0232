//! Calling functions the way API Gateway calls Lambda.
//!
//! [`Invoke`] is one call of a function with a JSON payload, answered with a
//! JSON payload or an [`InvokeError`]. Anything that calls a function
//! implements it:
//!
//! * an in-process async closure over the raw bytes
//!   (`Fn(Bytes) -> impl Future<Output = Result<Bytes, InvokeError>>`);
//! * an in-process handler over a typed event, [`handler_fn`], written as
//!   Lambda handlers are (`|event: v2::Request| async { … }`);
//! * [`HttpInvoker`], an HTTP client for the Lambda Invoke API
//!   (`POST {endpoint}/2015-03-31/functions/{name}/invocations`) that
//!   Lambda-compatible local runtimes serve.
//!
//! The Lambda proxy integration and the custom authorizer both call
//! functions through it.
//!
//! # `LambdaIntegration`
//!
//! [`LambdaIntegration`] is the Lambda proxy integration as a terminal
//! `tower::Service`: request → event ([`PayloadFormat`] 1.0 or 2.0, see
//! [`events`](crate::events)) → [`Invoke`] → answer → response, with
//! API Gateway's rules at each step. It rejects with:
//!
//! | what | status | gateway response |
//! |---|---|---|
//! | request body over the limit (default 10 MiB) | 413 | `REQUEST_TOO_LARGE` |
//! | function error (`X-Amz-Function-Error`, a handler's `Err`) | 502 (1.0) / 500 (2.0) | `INTEGRATION_FAILURE` |
//! | malformed answer (`{}`, unknown keys, bad `statusCode`, not JSON) | 502 (1.0) / 500 (2.0) | `INTEGRATION_FAILURE` |
//! | invalid base64 under binary support | 500 | `API_CONFIGURATION_ERROR` |
//! | no answer within the timeout (default 29 s) | 504 | `INTEGRATION_TIMEOUT` |
//! | function unreachable | 504 | `INTEGRATION_FAILURE` |
//!
//! See [`IntegrationRejectionKind`] for every problem `type`.
//!
//! ```
//! use apigw::integration::{Invoke, InvokeError};
//! use bytes::Bytes;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Any `Fn(Bytes) -> impl Future<Output = Result<Bytes, InvokeError>>` is a function.
//! let echo = |payload: Bytes| async move { Ok::<_, InvokeError>(payload) };
//! let answer = echo.invoke(Bytes::from_static(b"{\"ping\":1}")).await.unwrap();
//! assert_eq!(answer, "{\"ping\":1}");
//! # }
//! ```
//!
//! # Security
//!
//! The function's output and error text never reach the client: a refused
//! answer is a generic gateway response, and the cause goes to `tracing`.
//! Answers are read up to a size limit; the HTTP invoker follows no
//! redirects. Headers a function may not set (`Content-Length`,
//! `Transfer-Encoding`, `Connection`, …) and header values HTTP cannot carry
//! are dropped.

mod error;
mod handler;
mod invoke;
mod invoke_api;
mod service;

pub use error::{IntegrationRejection, IntegrationRejectionKind};
pub use handler::{HandlerFn, handler_fn};
pub use invoke::{FunctionError, Invoke, InvokeError, InvokeFuture};
pub use invoke_api::{HttpInvoker, HttpInvokerBuilder, HttpInvokerConfig};
pub use service::{
    DEFAULT_BODY_LIMIT, DEFAULT_TIMEOUT, LambdaIntegration, LambdaIntegrationBuilder,
    LambdaIntegrationConfig, PayloadFormat, ResponseFuture,
};
