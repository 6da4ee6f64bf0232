//! The integration's typed rejection.

use std::fmt;

use http::StatusCode;

use super::PayloadFormat;
use crate::problem::{GatewayResponseType, Rejection};

/// Why [`LambdaIntegration`](super::LambdaIntegration) answered with a
/// gateway response instead of the function's. Inserted into the response
/// extensions next to the [`Rejection`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IntegrationRejection {
    kind: IntegrationRejectionKind,
}

/// The kind of an [`IntegrationRejection`]. Each has a stable problem `type`.
///
/// | kind | status | response type | problem `type` |
/// |---|---|---|---|
/// | `RequestTooLarge` | 413 | `REQUEST_TOO_LARGE` | `urn:apigw:problem:request-too-large:body` |
/// | `UnreadableBody` | 400 | `BAD_REQUEST_BODY` | `urn:apigw:problem:bad-request-body:unreadable` |
/// | `FunctionError` | 502 (1.0) / 500 (2.0) | `INTEGRATION_FAILURE` | `urn:apigw:problem:integration-failure:function-error` |
/// | `MalformedResponse` | 502 (1.0) / 500 (2.0) | `INTEGRATION_FAILURE` | `urn:apigw:problem:integration-failure:malformed-response` |
/// | `AnswerTooLarge` | 502 (1.0) / 500 (2.0) | `INTEGRATION_FAILURE` | `urn:apigw:problem:integration-failure:answer-too-large` |
/// | `InvalidBase64` | 500 | `API_CONFIGURATION_ERROR` | `urn:apigw:problem:api-configuration-error:invalid-base64` |
/// | `Timeout` | 504 | `INTEGRATION_TIMEOUT` | `urn:apigw:problem:integration-timeout:timeout` |
/// | `Unreachable` | 504 | `INTEGRATION_FAILURE` | `urn:apigw:problem:integration-failure:unreachable` |
/// | `InvokeFailed` | 504 | `INTEGRATION_FAILURE` | `urn:apigw:problem:integration-failure:invoke-failed` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IntegrationRejectionKind {
    /// The request body exceeds the integration's limit.
    RequestTooLarge,
    /// The request body could not be read.
    UnreadableBody,
    /// The function failed (`X-Amz-Function-Error`, a handler's error).
    FunctionError,
    /// The function's answer is not a valid proxy response.
    MalformedResponse,
    /// The function's answer exceeds the invoker's size limit.
    AnswerTooLarge,
    /// `isBase64Encoded` with a body that is not base64, binary support on.
    InvalidBase64,
    /// The function did not answer within the integration timeout.
    Timeout,
    /// The function could not be reached.
    Unreachable,
    /// The invocation failed otherwise (an unexpected Invoke API status).
    InvokeFailed,
}

impl IntegrationRejection {
    pub(crate) fn new(kind: IntegrationRejectionKind) -> Self {
        Self { kind }
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> IntegrationRejectionKind {
        self.kind
    }

    /// The gateway rejection for this kind under `format`.
    pub(crate) fn rejection(self, format: PayloadFormat) -> Rejection {
        use IntegrationRejectionKind as K;
        let (response_type, kind) = match self.kind {
            K::RequestTooLarge => (GatewayResponseType::RequestTooLarge, "body"),
            K::UnreadableBody => (GatewayResponseType::BadRequestBody, "unreadable"),
            K::FunctionError => (GatewayResponseType::IntegrationFailure, "function-error"),
            K::MalformedResponse => (
                GatewayResponseType::IntegrationFailure,
                "malformed-response",
            ),
            K::AnswerTooLarge => (GatewayResponseType::IntegrationFailure, "answer-too-large"),
            K::InvalidBase64 => (GatewayResponseType::ApiConfigurationError, "invalid-base64"),
            K::Timeout => (GatewayResponseType::IntegrationTimeout, "timeout"),
            K::Unreachable => (GatewayResponseType::IntegrationFailure, "unreachable"),
            K::InvokeFailed => (GatewayResponseType::IntegrationFailure, "invoke-failed"),
        };
        let mut rejection = Rejection::new(response_type)
            .with_problem_type(format!("{}:{kind}", response_type.problem_type()));
        let bad_answer = matches!(
            self.kind,
            K::FunctionError | K::MalformedResponse | K::AnswerTooLarge
        );
        if bad_answer {
            // API Gateway's answer to a bad Lambda proxy response: 502
            // "Internal server error" for REST (1.0), 500 "Internal Server
            // Error" for HTTP APIs (2.0).
            rejection = match format {
                PayloadFormat::V1 => rejection
                    .with_status(StatusCode::BAD_GATEWAY)
                    .with_message("Internal server error"),
                PayloadFormat::V2 => rejection
                    .with_status(StatusCode::INTERNAL_SERVER_ERROR)
                    .with_message("Internal Server Error"),
            };
        }
        rejection
    }
}

impl fmt::Display for IntegrationRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}
