//! Why a token was refused: the typed rejection and its kinds.

use std::fmt;

use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;

use crate::problem::{GatewayResponseType, Rejection};

/// The kind of a JWT rejection. Each kind has a stable problem `type`
/// (`urn:apigw:problem:<response-type>:<slug>`), a status and an RFC 6750
/// `WWW-Authenticate` challenge.
///
/// | kind | status | problem `type` |
/// |---|---|---|
/// | [`MissingToken`](Self::MissingToken) | 401 | `urn:apigw:problem:unauthorized:missing-token` |
/// | [`Malformed`](Self::Malformed) | 401 | `urn:apigw:problem:unauthorized:malformed-token` |
/// | [`UnsupportedAlgorithm`](Self::UnsupportedAlgorithm) | 401 | `urn:apigw:problem:unauthorized:unsupported-algorithm` |
/// | [`CriticalHeader`](Self::CriticalHeader) | 401 | `urn:apigw:problem:unauthorized:critical-header` |
/// | [`InvalidSignature`](Self::InvalidSignature) | 401 | `urn:apigw:problem:unauthorized:invalid-signature` |
/// | [`Expired`](Self::Expired) | 401 | `urn:apigw:problem:unauthorized:expired` |
/// | [`NotYetValid`](Self::NotYetValid) | 401 | `urn:apigw:problem:unauthorized:not-yet-valid` |
/// | [`InvalidIssuer`](Self::InvalidIssuer) | 401 | `urn:apigw:problem:unauthorized:invalid-issuer` |
/// | [`InvalidAudience`](Self::InvalidAudience) | 401 | `urn:apigw:problem:unauthorized:invalid-audience` |
/// | [`InvalidClaims`](Self::InvalidClaims) | 401 | `urn:apigw:problem:unauthorized:invalid-claims` |
/// | [`InsufficientScope`](Self::InsufficientScope) | 403 | `urn:apigw:problem:access-denied:insufficient-scope` |
/// | [`KeysUnavailable`](Self::KeysUnavailable) | 500 | `urn:apigw:problem:authorizer-failure:keys-unavailable` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtErrorKind {
    /// The identity source holds no token.
    MissingToken,
    /// Not a compact JWS: too large, wrong number of segments, JWE, JSON
    /// serialization, bad base64url, bad or duplicate-key JSON, nested JWT.
    Malformed,
    /// `alg` is `none`, HMAC, unknown, or not allowed for the issuer.
    UnsupportedAlgorithm,
    /// The header has `crit` (no extension is understood) or `b64`.
    CriticalHeader,
    /// No key verifies the signature. An unknown `kid` is reported as this
    /// too, so clients cannot probe which keys exist.
    InvalidSignature,
    /// `exp` has passed (a token is expired when `now >= exp + leeway`).
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    NotYetValid,
    /// `iss` is missing or not a configured issuer.
    InvalidIssuer,
    /// Neither `aud` nor (when `aud` is absent) `client_id` is a configured
    /// audience.
    InvalidAudience,
    /// A claim has the wrong type (a non-numeric time claim, a non-string
    /// scope) or a required claim is missing.
    InvalidClaims,
    /// The token is valid but grants none (or, if all are required, not
    /// all) of the route's scopes.
    InsufficientScope,
    /// No usable key set: the issuer never answered, or has been down for
    /// longer than the stale window.
    KeysUnavailable,
}

impl JwtErrorKind {
    /// The kind's stable slug, the last part of its problem `type`.
    #[must_use]
    pub fn slug(self) -> &'static str {
        match self {
            Self::MissingToken => "missing-token",
            Self::Malformed => "malformed-token",
            Self::UnsupportedAlgorithm => "unsupported-algorithm",
            Self::CriticalHeader => "critical-header",
            Self::InvalidSignature => "invalid-signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not-yet-valid",
            Self::InvalidIssuer => "invalid-issuer",
            Self::InvalidAudience => "invalid-audience",
            Self::InvalidClaims => "invalid-claims",
            Self::InsufficientScope => "insufficient-scope",
            Self::KeysUnavailable => "keys-unavailable",
        }
    }

    /// The gateway response type the kind is answered with.
    #[must_use]
    pub fn response_type(self) -> GatewayResponseType {
        match self {
            Self::InsufficientScope => GatewayResponseType::AccessDenied,
            Self::KeysUnavailable => GatewayResponseType::AuthorizerFailure,
            _ => GatewayResponseType::Unauthorized,
        }
    }

    /// The problem `type` URI of the kind.
    #[must_use]
    pub fn problem_type(self) -> &'static str {
        match self {
            Self::MissingToken => "urn:apigw:problem:unauthorized:missing-token",
            Self::Malformed => "urn:apigw:problem:unauthorized:malformed-token",
            Self::UnsupportedAlgorithm => "urn:apigw:problem:unauthorized:unsupported-algorithm",
            Self::CriticalHeader => "urn:apigw:problem:unauthorized:critical-header",
            Self::InvalidSignature => "urn:apigw:problem:unauthorized:invalid-signature",
            Self::Expired => "urn:apigw:problem:unauthorized:expired",
            Self::NotYetValid => "urn:apigw:problem:unauthorized:not-yet-valid",
            Self::InvalidIssuer => "urn:apigw:problem:unauthorized:invalid-issuer",
            Self::InvalidAudience => "urn:apigw:problem:unauthorized:invalid-audience",
            Self::InvalidClaims => "urn:apigw:problem:unauthorized:invalid-claims",
            Self::InsufficientScope => "urn:apigw:problem:access-denied:insufficient-scope",
            Self::KeysUnavailable => "urn:apigw:problem:authorizer-failure:keys-unavailable",
        }
    }

    /// What the client is told (`detail` and `error_description`). Fixed
    /// text: it never contains the token or any part of it.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Self::MissingToken => "the request has no bearer token",
            Self::Malformed => "the token is not a well-formed compact JWS",
            Self::UnsupportedAlgorithm => "the token's signing algorithm is not accepted",
            Self::CriticalHeader => "the token has a critical header that is not supported",
            Self::InvalidSignature => "the token's signature could not be verified",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::InvalidIssuer => "the token does not have a valid issuer",
            Self::InvalidAudience => "the token does not have a valid audience",
            Self::InvalidClaims => "the token's claims are not valid",
            Self::InsufficientScope => "the token does not grant the scope this route requires",
            Self::KeysUnavailable => "the issuer's signing keys are unavailable",
        }
    }

    /// The RFC 6750 `WWW-Authenticate` challenge, `None` for
    /// [`KeysUnavailable`](Self::KeysUnavailable) (a server failure).
    fn challenge(self, scopes: &[String]) -> Option<String> {
        match self {
            // RFC 6750 §3.1: no error code when the request has no credentials.
            Self::MissingToken => Some("Bearer".to_owned()),
            Self::KeysUnavailable => None,
            Self::InsufficientScope => Some(format!(
                "Bearer error=\"insufficient_scope\", error_description=\"{}\", scope=\"{}\"",
                self.description(),
                scopes.join(" ")
            )),
            _ => Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                self.description()
            )),
        }
    }
}

impl fmt::Display for JwtErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// A token refused, with the kind the client sees and a finer reason for
/// logs (never sent to the client, never containing the token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JwtError {
    kind: JwtErrorKind,
    reason: &'static str,
}

impl JwtError {
    pub(crate) const fn new(kind: JwtErrorKind, reason: &'static str) -> Self {
        Self { kind, reason }
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> JwtErrorKind {
        self.kind
    }

    /// The finer reason, for logs.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.description(), self.reason)
    }
}

impl std::error::Error for JwtError {}

/// The typed rejection of the JWT authorizer, inserted into the extensions of
/// every response it rejects (next to the generic
/// [`Rejection`](crate::problem::Rejection)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtRejection {
    error: JwtError,
}

impl JwtRejection {
    pub(crate) fn new(error: JwtError) -> Self {
        Self { error }
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> JwtErrorKind {
        self.error.kind
    }

    /// The error, with its reason for logs.
    #[must_use]
    pub fn error(&self) -> &JwtError {
        &self.error
    }

    /// The generic rejection rendered by [`GatewayResponses`](crate::problem::GatewayResponses).
    pub(crate) fn to_rejection(&self, scopes: &[String]) -> Rejection {
        let kind = self.error.kind;
        let mut rejection = Rejection::new(kind.response_type())
            .with_problem_type(kind.problem_type())
            .with_detail(kind.description());
        if let Some(value) = kind
            .challenge(scopes)
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            rejection = rejection.with_header(WWW_AUTHENTICATE, value);
        }
        rejection
    }
}
