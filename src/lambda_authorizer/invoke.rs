//! A Lambda function as an authorizer, through [`Invoke`].

use std::fmt;

use bytes::Bytes;
use serde_json::Value;

use super::authorize::{Authorize, AuthorizeError, AuthorizeFuture, AuthorizerResponse};
use crate::events::authorizer::{AuthorizerRequest, IamPolicyResponse, SimpleResponse};
use crate::integration::{Invoke, InvokeError};

/// The largest authorizer answer API Gateway accepts: 8 KB.
pub const MAX_ANSWER_BYTES: usize = 8 * 1024;

/// A Lambda function, called through any [`Invoke`], as an authorizer.
///
/// Sends the authorizer event as JSON and reads the function's answer as API
/// Gateway does:
///
/// * an answer with `isAuthorized` is a [`SimpleResponse`]; `isAuthorized`
///   must be a JSON boolean (`"false"` is invalid);
/// * any other answer is an [`IamPolicyResponse`]: a JSON object with a
///   string `principalId` and an object `policyDocument`;
/// * a function error whose message is exactly `Unauthorized` is
///   [`AuthorizeError::Unauthorized`] (401);
/// * an answer over 8 KB, one that is not such JSON, any other function
///   error, a timeout or an unreachable function is a failure (500
///   `AUTHORIZER_CONFIGURATION_ERROR`), never cached.
///
/// ```
/// use apigw::integration::InvokeError;
/// use apigw::lambda_authorizer::InvokeAuthorizer;
/// use bytes::Bytes;
///
/// let function = |_event: Bytes| async {
///     Ok::<_, InvokeError>(Bytes::from_static(br#"{"isAuthorized": true}"#))
/// };
/// let authorizer = InvokeAuthorizer::new(function);
/// # let _ = authorizer;
/// ```
#[derive(Clone)]
pub struct InvokeAuthorizer<I> {
    invoke: I,
}

impl<I> InvokeAuthorizer<I> {
    /// Calls the function behind `invoke`.
    pub fn new(invoke: I) -> Self {
        Self { invoke }
    }
}

impl<I> fmt::Debug for InvokeAuthorizer<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvokeAuthorizer").finish_non_exhaustive()
    }
}

impl<I: Invoke> Authorize for InvokeAuthorizer<I> {
    fn authorize(&self, request: AuthorizerRequest) -> AuthorizeFuture {
        let payload = match serde_json::to_vec(&request) {
            Ok(payload) => Bytes::from(payload),
            Err(error) => return Box::pin(async move { Err(AuthorizeError::failed(error)) }),
        };
        let answer = self.invoke.invoke(payload);
        Box::pin(async move {
            match answer.await {
                Ok(answer) => parse_answer(&answer),
                Err(InvokeError::Function(error)) if error.message() == Some("Unauthorized") => {
                    Err(AuthorizeError::Unauthorized)
                }
                Err(InvokeError::Timeout) => Err(AuthorizeError::Timeout),
                Err(InvokeError::TooLarge { limit }) => Err(AuthorizeError::Malformed(format!(
                    "the answer exceeds the invoker's {limit}-byte limit"
                ))),
                Err(error) => Err(AuthorizeError::failed(error)),
            }
        })
    }
}

/// Reads a Lambda authorizer's answer.
pub(crate) fn parse_answer(answer: &[u8]) -> Result<AuthorizerResponse, AuthorizeError> {
    let malformed = |why: &str| Err(AuthorizeError::Malformed(why.to_owned()));
    if answer.len() > MAX_ANSWER_BYTES {
        return malformed("the answer exceeds 8 KB");
    }
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(answer) else {
        return malformed("the answer is not a JSON object");
    };
    if let Some(is_authorized) = object.get("isAuthorized") {
        if !is_authorized.is_boolean() {
            return malformed("isAuthorized is not a JSON boolean");
        }
        if !matches!(
            object.get("context"),
            None | Some(Value::Object(_) | Value::Null)
        ) {
            return malformed("context is not an object");
        }
        return serde_json::from_value::<SimpleResponse>(Value::Object(object))
            .map(Into::into)
            .map_err(|error| AuthorizeError::Malformed(error.to_string()));
    }
    if !matches!(object.get("principalId"), Some(Value::String(_))) {
        return malformed("principalId is missing or not a string");
    }
    if !matches!(object.get("policyDocument"), Some(Value::Object(_))) {
        return malformed("policyDocument is missing or not an object");
    }
    serde_json::from_value::<IamPolicyResponse>(Value::Object(object))
        .map(Into::into)
        .map_err(|error| AuthorizeError::Malformed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_is_authorized_is_malformed() {
        assert!(matches!(
            parse_answer(br#"{"isAuthorized":"true"}"#),
            Err(AuthorizeError::Malformed(_))
        ));
    }

    #[test]
    fn missing_principal_or_policy_is_malformed() {
        for answer in [
            r#"{"policyDocument":{"Statement":[]}}"#,
            r#"{"principalId":"p"}"#,
            r#"{"principalId":1,"policyDocument":{}}"#,
            "[]",
            "not json",
        ] {
            assert!(
                matches!(
                    parse_answer(answer.as_bytes()),
                    Err(AuthorizeError::Malformed(_))
                ),
                "{answer}"
            );
        }
    }

    #[test]
    fn answers_over_eight_kilobytes_are_malformed() {
        let padding = "x".repeat(MAX_ANSWER_BYTES);
        let answer = format!(r#"{{"isAuthorized":true,"context":{{"pad":"{padding}"}}}}"#);
        assert!(matches!(
            parse_answer(answer.as_bytes()),
            Err(AuthorizeError::Malformed(_))
        ));
    }
}
