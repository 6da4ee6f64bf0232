//! Access-log templates: text with API Gateway's `$context.…` variables.

use crate::error::ConfigError;

/// Longest template, as API Gateway's 3 KB limit.
const MAX_TEMPLATE_LEN: usize = 3 * 1024;

/// One `$context` variable this crate can fill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Variable {
    RequestId,
    ExtendedRequestId,
    RouteKey,
    ResourcePath,
    HttpMethod,
    Path,
    Protocol,
    Stage,
    DomainName,
    Status,
    ResponseLatency,
    ResponseLength,
    IntegrationLatency,
    IntegrationStatus,
    IntegrationError,
    RequestTime,
    RequestTimeEpoch,
    SourceIp,
    UserAgent,
    ApiKeyId,
    ApiKeyRedacted,
    PrincipalId,
    AuthorizerError,
    Claim(String),
    AuthorizerProperty(String),
    ErrorMessage,
    ErrorMessageString,
    ErrorResponseType,
    ApiId,
    AccountId,
}

impl Variable {
    fn parse(name: &str) -> Option<Self> {
        use Variable::*;
        Some(match name {
            "requestId" => RequestId,
            "extendedRequestId" | "awsEndpointRequestId" => ExtendedRequestId,
            "routeKey" => RouteKey,
            "resourcePath" => ResourcePath,
            "httpMethod" => HttpMethod,
            "path" => Path,
            "protocol" => Protocol,
            "stage" => Stage,
            "domainName" => DomainName,
            "status" => Status,
            "responseLatency" => ResponseLatency,
            "responseLength" => ResponseLength,
            "integrationLatency" | "integration.latency" => IntegrationLatency,
            "integrationStatus" | "integration.status" | "integration.integrationStatus" => {
                IntegrationStatus
            }
            "integrationErrorMessage" | "integration.error" => IntegrationError,
            "requestTime" => RequestTime,
            "requestTimeEpoch" => RequestTimeEpoch,
            "identity.sourceIp" => SourceIp,
            "identity.userAgent" => UserAgent,
            "identity.apiKeyId" => ApiKeyId,
            "identity.apiKey" => ApiKeyRedacted,
            "authorizer.principalId" => PrincipalId,
            "authorizer.error" => AuthorizerError,
            "error.message" => ErrorMessage,
            "error.messageString" => ErrorMessageString,
            "error.responseType" => ErrorResponseType,
            "apiId" => ApiId,
            "accountId" => AccountId,
            _ => {
                if let Some(claim) = name.strip_prefix("authorizer.claims.") {
                    Claim(claim.to_owned())
                } else if let Some(property) = name.strip_prefix("authorizer.") {
                    AuthorizerProperty(property.to_owned())
                } else {
                    return None;
                }
            }
        })
    }
}

/// A piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Literal(String),
    Variable(Variable),
}

/// Parses `$context.name` variables out of `template`. Unknown variables are a
/// configuration error, so a typo never logs a silent `-`.
pub(crate) fn parse(template: &str) -> Result<Vec<Piece>, ConfigError> {
    if template.len() > MAX_TEMPLATE_LEN {
        return Err(ConfigError::new(format!(
            "access-log format is {} bytes; the limit is {MAX_TEMPLATE_LEN}",
            template.len()
        )));
    }
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("$context.") {
        if start > 0 {
            pieces.push(Piece::Literal(rest[..start].to_owned()));
        }
        let after = &rest[start + "$context.".len()..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')))
            .unwrap_or(after.len());
        let name = after[..len].trim_end_matches('.');
        let variable = Variable::parse(name).ok_or_else(|| {
            ConfigError::new(format!(
                "access-log format uses unknown variable `$context.{name}`"
            ))
        })?;
        pieces.push(Piece::Variable(variable));
        rest = &after[name.len()..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest.to_owned()));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_literals_are_split() {
        let pieces =
            parse(r#"{"id":"$context.requestId","c":"$context.authorizer.claims.sub"}."#).unwrap();
        assert_eq!(
            pieces,
            vec![
                Piece::Literal(r#"{"id":""#.into()),
                Piece::Variable(Variable::RequestId),
                Piece::Literal(r#"","c":""#.into()),
                Piece::Variable(Variable::Claim("sub".into())),
                Piece::Literal(r#""}."#.into()),
            ]
        );
    }

    #[test]
    fn a_trailing_dot_is_a_literal() {
        let pieces = parse("status $context.status.").unwrap();
        assert_eq!(pieces.last(), Some(&Piece::Literal(".".into())));
    }

    #[test]
    fn unknown_variables_and_oversized_templates_are_configuration_errors() {
        assert!(parse("$context.requestid").is_err());
        assert!(parse(&"x".repeat(3 * 1024 + 1)).is_err());
    }
}
