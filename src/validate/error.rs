//! What a rejected request is told, and what outer layers can read.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::problem::{GatewayResponseType, Rejection};

/// One violation of a request model: where in the body, which schema
/// keyword, and why — never the submitted value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pointer: String,
    keyword: Cow<'static, str>,
    message: Cow<'static, str>,
}

impl Violation {
    pub(crate) fn new(
        pointer: impl Into<String>,
        keyword: &str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            pointer: pointer.into(),
            keyword: Cow::Owned(keyword.to_owned()),
            message: message.into(),
        }
    }

    pub(crate) fn syntax(
        pointer: impl Into<String>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            pointer: pointer.into(),
            keyword: Cow::Borrowed("syntax"),
            message: message.into(),
        }
    }

    /// The JSON pointer (RFC 6901) into the request body; `""` is the whole
    /// body.
    #[must_use]
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// The schema keyword that failed (`required`, `type`, …), or `syntax`
    /// for a body that is not acceptable JSON.
    #[must_use]
    pub fn keyword(&self) -> &str {
        &self.keyword
    }

    /// A message that does not repeat the submitted value.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Where a required request parameter is read from, in API Gateway's words
/// (`method.request.path.id`, `method.request.querystring.q`,
/// `method.request.header.x-tenant`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ParameterLocation {
    /// A path parameter of the matched route.
    Path,
    /// A query-string parameter (case-sensitive name).
    #[serde(rename = "querystring")]
    QueryString,
    /// A header (case-insensitive name).
    Header,
}

impl ParameterLocation {
    /// API Gateway's word: `path`, `querystring` or `header`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::QueryString => "querystring",
            Self::Header => "header",
        }
    }
}

/// Why a request was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// Required parameters are missing or blank: 400 `BAD_REQUEST_PARAMETERS`.
    MissingParameters,
    /// The body does not match the model: 400 `BAD_REQUEST_BODY`.
    InvalidBody,
    /// The body is not JSON: 400 `BAD_REQUEST_BODY`.
    MalformedJson,
    /// An object in the body has the same key twice: 400 `BAD_REQUEST_BODY`.
    DuplicateKey,
    /// The body nests deeper than allowed: 400 `BAD_REQUEST_BODY`.
    TooDeep,
    /// The body is over the size limit: 413 `REQUEST_TOO_LARGE`.
    TooLarge,
    /// The route needs a JSON body and got another content type: 415
    /// `UNSUPPORTED_MEDIA_TYPE`.
    UnsupportedMediaType,
}

impl RejectionKind {
    /// The gateway response type this kind is answered with.
    #[must_use]
    pub fn response_type(self) -> GatewayResponseType {
        match self {
            Self::MissingParameters => GatewayResponseType::BadRequestParameters,
            Self::InvalidBody | Self::MalformedJson | Self::DuplicateKey | Self::TooDeep => {
                GatewayResponseType::BadRequestBody
            }
            Self::TooLarge => GatewayResponseType::RequestTooLarge,
            Self::UnsupportedMediaType => GatewayResponseType::UnsupportedMediaType,
        }
    }

    /// The stable problem `type` URI of this kind.
    #[must_use]
    pub fn problem_type(self) -> &'static str {
        match self {
            Self::MissingParameters => {
                "urn:apigw:problem:bad-request-parameters:missing-parameters"
            }
            Self::InvalidBody => "urn:apigw:problem:bad-request-body:invalid-body",
            Self::MalformedJson => "urn:apigw:problem:bad-request-body:malformed-json",
            Self::DuplicateKey => "urn:apigw:problem:bad-request-body:duplicate-key",
            Self::TooDeep => "urn:apigw:problem:bad-request-body:too-deep",
            Self::TooLarge => "urn:apigw:problem:request-too-large:body-too-large",
            Self::UnsupportedMediaType => {
                "urn:apigw:problem:unsupported-media-type:json-body-required"
            }
        }
    }
}

/// The typed rejection of [`RequestValidator`](super::RequestValidator),
/// inserted into the rejection response's extensions (next to the generic
/// [`Rejection`]) so outer layers, access logs and tests can read every
/// violation without parsing the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationRejection {
    kind: RejectionKind,
    missing: Vec<(ParameterLocation, String)>,
    violations: Vec<Violation>,
    truncated: bool,
    model: Option<String>,
}

impl ValidationRejection {
    pub(crate) fn new(kind: RejectionKind) -> Self {
        Self {
            kind,
            missing: Vec::new(),
            violations: Vec::new(),
            truncated: false,
            model: None,
        }
    }

    pub(crate) fn missing(missing: Vec<(ParameterLocation, String)>) -> Self {
        Self {
            missing,
            ..Self::new(RejectionKind::MissingParameters)
        }
    }

    pub(crate) fn body(
        kind: RejectionKind,
        violations: Vec<Violation>,
        truncated: bool,
        model: Option<&str>,
    ) -> Self {
        Self {
            violations,
            truncated,
            model: model.map(str::to_owned),
            ..Self::new(kind)
        }
    }

    /// Why the request was rejected.
    #[must_use]
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The missing or blank required parameters, in declaration order.
    #[must_use]
    pub fn missing_parameters(&self) -> &[(ParameterLocation, String)] {
        &self.missing
    }

    /// The body's violations.
    #[must_use]
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Whether there were more violations than the configured maximum.
    #[must_use]
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The model the body was checked against.
    #[must_use]
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The AWS-style message and the problem detail.
    fn message(&self) -> Option<String> {
        match self.kind {
            RejectionKind::MissingParameters => {
                let names: Vec<&str> = self.missing.iter().map(|(_, n)| n.as_str()).collect();
                Some(format!(
                    "Missing required request parameters: [{}]",
                    names.join(", ")
                ))
            }
            _ => None,
        }
    }

    fn detail(&self) -> Option<String> {
        let count = self.violations.len();
        let more = if self.truncated { " (and more)" } else { "" };
        match self.kind {
            RejectionKind::MissingParameters => self.message(),
            RejectionKind::InvalidBody => Some(format!(
                "The request body does not match the model `{}`: {count} violation{}{more}.",
                self.model.as_deref().unwrap_or("?"),
                if count == 1 { "" } else { "s" }
            )),
            RejectionKind::MalformedJson => Some("The request body is not valid JSON.".into()),
            RejectionKind::DuplicateKey => {
                Some("The request body has an object with a duplicate key.".into())
            }
            RejectionKind::TooDeep => Some("The request body nests too deeply.".into()),
            RejectionKind::TooLarge => Some("The request body is over the size limit.".into()),
            RejectionKind::UnsupportedMediaType => {
                Some("This route needs a JSON request body.".into())
            }
        }
    }

    /// The generic rejection the gateway responses render.
    pub(crate) fn to_rejection(&self) -> Rejection {
        let mut rejection =
            Rejection::new(self.kind.response_type()).with_problem_type(self.kind.problem_type());
        if let Some(message) = self.message() {
            rejection = rejection.with_message(message);
        }
        if let Some(detail) = self.detail() {
            rejection = rejection.with_detail(detail);
        }
        match self.kind {
            RejectionKind::MissingParameters => {
                let errors: Vec<Value> = self
                    .missing
                    .iter()
                    .map(|(location, name)| {
                        serde_json::json!({
                            "in": location.as_str(),
                            "parameter": name,
                            "message": "required parameter is missing or blank",
                        })
                    })
                    .collect();
                rejection = rejection.with_extension("errors", errors);
            }
            RejectionKind::InvalidBody
            | RejectionKind::MalformedJson
            | RejectionKind::DuplicateKey
            | RejectionKind::TooDeep => {
                let errors = serde_json::to_value(&self.violations).unwrap_or_default();
                rejection = rejection.with_extension("errors", errors);
                if self.truncated {
                    rejection = rejection.with_extension("errorsTruncated", true);
                }
            }
            RejectionKind::TooLarge | RejectionKind::UnsupportedMediaType => {}
        }
        rejection
    }
}
