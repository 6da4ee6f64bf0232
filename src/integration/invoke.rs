use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

/// The future of one invocation.
pub type InvokeFuture = Pin<Box<dyn Future<Output = Result<Bytes, InvokeError>> + Send + 'static>>;

/// One synchronous invocation of a function: a JSON payload in, a JSON
/// payload out (Lambda's `RequestResponse` invocation type).
///
/// Implemented for every `Fn(Bytes) -> impl Future<Output = Result<Bytes,
/// InvokeError>>` closure (an in-process function over raw JSON), for
/// `Arc<I>` and for `Box<dyn Invoke>`.
///
/// Invokers enforce their own transport limits (connect failures, answer
/// size); the caller — the integration or the authorizer — applies the
/// overall timeout, so an invoker need not.
pub trait Invoke: Send + Sync + 'static {
    /// Calls the function with `payload`.
    fn invoke(&self, payload: Bytes) -> InvokeFuture;
}

impl<F, Fut> Invoke for F
where
    F: Fn(Bytes) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Bytes, InvokeError>> + Send + 'static,
{
    fn invoke(&self, payload: Bytes) -> InvokeFuture {
        Box::pin(self(payload))
    }
}

impl<I: Invoke + ?Sized> Invoke for Arc<I> {
    fn invoke(&self, payload: Bytes) -> InvokeFuture {
        (**self).invoke(payload)
    }
}

impl Invoke for Box<dyn Invoke> {
    fn invoke(&self, payload: Bytes) -> InvokeFuture {
        (**self).invoke(payload)
    }
}

/// Why an invocation gave no answer.
///
/// The `Display` text is for logs. None of it is ever sent to a client: the
/// gateway answers with a gateway response (`INTEGRATION_FAILURE`,
/// `INTEGRATION_TIMEOUT`, `AUTHORIZER_CONFIGURATION_ERROR`, …) instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// The function ran and failed (Lambda's `X-Amz-Function-Error`, or an
    /// in-process handler's error).
    #[error("the function failed: {0}")]
    Function(FunctionError),
    /// The invoker gave up waiting.
    #[error("the function did not answer in time")]
    Timeout,
    /// The function could not be reached (connection refused or dropped).
    #[error("the function could not be reached: {0}")]
    Unreachable(String),
    /// The answer exceeded the invoker's size limit.
    #[error("the function's answer exceeds {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Anything else (an unexpected status from the Invoke API, …).
    #[error("the invocation failed: {0}")]
    Other(String),
}

/// A function's own error: Lambda's error payload,
/// `{"errorMessage": "…", "errorType": "…"}`.
#[derive(Clone, PartialEq, Eq)]
pub struct FunctionError {
    message: Option<String>,
    error_type: Option<String>,
    payload: Bytes,
}

impl FunctionError {
    /// A function error from its raw payload. Lambda's
    /// `{"errorMessage", "errorType"}` members are read when present; a bare
    /// JSON string is taken as the message.
    #[must_use]
    pub fn from_payload(payload: Bytes) -> Self {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            error_message: Option<String>,
            error_type: Option<String>,
        }
        let (message, error_type) = match serde_json::from_slice::<serde_json::Value>(&payload) {
            Ok(serde_json::Value::String(message)) => (Some(message), None),
            Ok(value) => serde_json::from_value::<Payload>(value)
                .map(|p| (p.error_message, p.error_type))
                .unwrap_or_default(),
            Err(_) => (None, None),
        };
        Self {
            message,
            error_type,
            payload,
        }
    }

    /// A function error with a message, as an in-process handler reports it.
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        let payload = serde_json::json!({ "errorMessage": message }).to_string();
        Self {
            message: Some(message),
            error_type: None,
            payload: Bytes::from(payload),
        }
    }

    /// `errorMessage`. A custom authorizer that fails with exactly
    /// `Unauthorized` means 401.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// `errorType`.
    #[must_use]
    pub fn error_type(&self) -> Option<&str> {
        self.error_type.as_deref()
    }

    /// The raw error payload.
    #[must_use]
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

impl fmt::Debug for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionError")
            .field("message", &self.message)
            .field("error_type", &self.error_type)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.error_type, &self.message) {
            (Some(ty), Some(message)) => write!(f, "{ty}: {message}"),
            (None, Some(message)) => f.write_str(message),
            (Some(ty), None) => f.write_str(ty),
            (None, None) => f.write_str("unspecified function error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closures_over_bytes_are_functions() {
        let upper = |payload: Bytes| async move {
            Ok::<_, InvokeError>(Bytes::from(payload.to_ascii_uppercase()))
        };
        let shared: Arc<dyn Invoke> = Arc::new(upper);
        assert_eq!(
            shared.invoke(Bytes::from_static(b"\"a\"")).await.unwrap(),
            "\"A\""
        );
        let boxed: Box<dyn Invoke> = Box::new(|_payload: Bytes| async {
            Err::<Bytes, _>(InvokeError::Function(FunctionError::new("Unauthorized")))
        });
        match boxed.invoke(Bytes::new()).await {
            Err(InvokeError::Function(err)) => assert_eq!(err.message(), Some("Unauthorized")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn function_errors_read_lambda_error_payloads() {
        let err = FunctionError::from_payload(Bytes::from_static(
            br#"{"errorMessage":"Unauthorized","errorType":"Error","trace":[]}"#,
        ));
        assert_eq!(err.message(), Some("Unauthorized"));
        assert_eq!(err.error_type(), Some("Error"));
        assert_eq!(err.to_string(), "Error: Unauthorized");

        let bare = FunctionError::from_payload(Bytes::from_static(b"\"Unauthorized\""));
        assert_eq!(bare.message(), Some("Unauthorized"));

        let garbage = FunctionError::from_payload(Bytes::from_static(b"\xff not json"));
        assert_eq!(garbage.message(), None);
        assert_eq!(garbage.to_string(), "unspecified function error");
        assert_eq!(garbage.payload(), &Bytes::from_static(b"\xff not json"));
    }
}
