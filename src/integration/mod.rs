//! Calling functions the way API Gateway calls Lambda.
//!
//! [`Invoke`] is one call of a function with a JSON payload, answered with a
//! JSON payload or an [`InvokeError`]. Anything that calls a function
//! implements it: an in-process async closure over the raw bytes, or an HTTP
//! client for the Lambda Invoke API. The Lambda proxy integration and the
//! custom authorizer both call functions through it.
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

mod invoke;

pub use invoke::{FunctionError, Invoke, InvokeError, InvokeFuture};
