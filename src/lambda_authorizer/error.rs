//! Every way the layer turns a request away.

use std::fmt;

use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;

use crate::problem::{GatewayResponseType, Rejection};

/// Why [`LambdaAuthorizerCache`](super::LambdaAuthorizerCache) rejected a
/// request. Inserted into the rejection's response extensions; its
/// [`problem_type`](Self::problem_type) is the problem `type` of the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LambdaAuthorizerRejection {
    /// 401 `UNAUTHORIZED`: an identity source is missing or empty; the
    /// authorizer was not called.
    MissingIdentitySource,
    /// 401 `UNAUTHORIZED`: the token does not match
    /// `identityValidationExpression`; the authorizer was not called.
    IdentityValidationFailed,
    /// 401 `UNAUTHORIZED`: the authorizer answered `Unauthorized`.
    Unauthorized,
    /// 403 `ACCESS_DENIED`: a `Deny` statement covers the method ARN.
    ExplicitDeny,
    /// 403 `ACCESS_DENIED`: no `Allow` statement covers the method ARN.
    ImplicitDeny,
    /// 403 `ACCESS_DENIED`: a simple response said `"isAuthorized": false`.
    NotAuthorized,
    /// 414 (`DEFAULT_4XX` with status 414, `Request URI too long`): the
    /// request's method ARN is longer than API Gateway's
    /// [`MAX_METHOD_ARN_LEN`] bytes; the authorizer was not called.
    MethodArnTooLong,
    /// 500 `AUTHORIZER_CONFIGURATION_ERROR`: the authorizer failed or could
    /// not be reached.
    AuthorizerError,
    /// 500 `AUTHORIZER_CONFIGURATION_ERROR`: the authorizer did not answer in
    /// time.
    Timeout,
    /// 500 `AUTHORIZER_CONFIGURATION_ERROR`: the authorizer's answer is
    /// invalid (malformed, over 8 KB, wrong response format, nested 1.0
    /// context values, an `isAuthorized` that is not a boolean, an `Effect`
    /// that is neither `Allow` nor `Deny`).
    InvalidResponse,
}

/// API Gateway's message for an explicit deny.
pub const EXPLICIT_DENY_MESSAGE: &str =
    "User is not authorized to access this resource with an explicit deny";

/// API Gateway's limit on the length of a method ARN when the method uses
/// an authorizer, in bytes; a longer one is answered 414 `Request URI too
/// long` (API Gateway quotas, "Method ARN length").
pub const MAX_METHOD_ARN_LEN: usize = 1600;

/// API Gateway's message for a method ARN over [`MAX_METHOD_ARN_LEN`].
pub const METHOD_ARN_TOO_LONG_MESSAGE: &str = "Request URI too long";

/// API Gateway's message for an implicit deny.
pub const IMPLICIT_DENY_MESSAGE: &str = "User is not authorized to access this resource";

impl LambdaAuthorizerRejection {
    /// The gateway response type it is answered with.
    #[must_use]
    pub const fn response_type(self) -> GatewayResponseType {
        match self {
            Self::MissingIdentitySource | Self::IdentityValidationFailed | Self::Unauthorized => {
                GatewayResponseType::Unauthorized
            }
            Self::ExplicitDeny | Self::ImplicitDeny | Self::NotAuthorized => {
                GatewayResponseType::AccessDenied
            }
            Self::MethodArnTooLong => GatewayResponseType::Default4xx,
            Self::AuthorizerError | Self::Timeout | Self::InvalidResponse => {
                GatewayResponseType::AuthorizerConfigurationError
            }
        }
    }

    /// The stable problem `type` URI, e.g.
    /// `urn:apigw:problem:access-denied:explicit-deny`.
    #[must_use]
    pub const fn problem_type(self) -> &'static str {
        match self {
            Self::MissingIdentitySource => "urn:apigw:problem:unauthorized:missing-identity-source",
            Self::IdentityValidationFailed => {
                "urn:apigw:problem:unauthorized:identity-validation-failed"
            }
            Self::Unauthorized => "urn:apigw:problem:unauthorized:authorizer-unauthorized",
            Self::ExplicitDeny => "urn:apigw:problem:access-denied:explicit-deny",
            Self::ImplicitDeny => "urn:apigw:problem:access-denied:implicit-deny",
            Self::NotAuthorized => "urn:apigw:problem:access-denied:not-authorized",
            Self::MethodArnTooLong => "urn:apigw:problem:default-4xx:method-arn-too-long",
            Self::AuthorizerError => {
                "urn:apigw:problem:authorizer-configuration-error:authorizer-error"
            }
            Self::Timeout => "urn:apigw:problem:authorizer-configuration-error:timeout",
            Self::InvalidResponse => {
                "urn:apigw:problem:authorizer-configuration-error:invalid-response"
            }
        }
    }

    /// The rejection rendered through `GatewayResponses`. 401s carry
    /// `www_authenticate`.
    pub(crate) fn rejection(self, www_authenticate: &HeaderValue) -> Rejection {
        let rejection = Rejection::new(self.response_type()).with_problem_type(self.problem_type());
        match self {
            Self::MissingIdentitySource | Self::IdentityValidationFailed | Self::Unauthorized => {
                rejection.with_header(WWW_AUTHENTICATE, www_authenticate.clone())
            }
            Self::ExplicitDeny => rejection.with_message(EXPLICIT_DENY_MESSAGE),
            Self::ImplicitDeny => rejection.with_message(IMPLICIT_DENY_MESSAGE),
            // HTTP APIs answer a simple `false` with `{"message":"Forbidden"}`.
            Self::NotAuthorized => rejection.with_message("Forbidden"),
            Self::MethodArnTooLong => rejection
                .with_status(http::StatusCode::URI_TOO_LONG)
                .with_message(METHOD_ARN_TOO_LONG_MESSAGE),
            Self::AuthorizerError | Self::Timeout | Self::InvalidResponse => rejection,
        }
    }
}

impl fmt::Display for LambdaAuthorizerRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingIdentitySource => "an identity source is missing or empty",
            Self::IdentityValidationFailed => "the token does not match the validation expression",
            Self::Unauthorized => "the authorizer answered Unauthorized",
            Self::ExplicitDeny => EXPLICIT_DENY_MESSAGE,
            Self::ImplicitDeny => IMPLICIT_DENY_MESSAGE,
            Self::NotAuthorized => "the authorizer answered isAuthorized: false",
            Self::MethodArnTooLong => "the method ARN is longer than 1600 bytes",
            Self::AuthorizerError => "the authorizer failed",
            Self::Timeout => "the authorizer timed out",
            Self::InvalidResponse => "the authorizer's answer is invalid",
        })
    }
}
