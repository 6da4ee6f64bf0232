//! Where the token is read from.

use std::borrow::Cow;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderName, Request};
use percent_encoding::percent_decode_str;

use super::error::{JwtError, JwtErrorKind};
use crate::ConfigError;

/// Where a request's token is read from: API Gateway's identity source.
///
/// A header's value may be the bare token or `Bearer <token>` (the scheme is
/// matched case-insensitively). A request with several values for the
/// source is refused as malformed rather than guessing which one counts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentitySource {
    /// A header, `$request.header.<name>`. Default: `Authorization`.
    Header(HeaderName),
    /// A query string parameter, `$request.querystring.<name>`.
    QueryString(String),
    /// A cookie, `$request.cookie.<name>` (API Gateway itself has no cookie
    /// identity source; this is an extension).
    Cookie(String),
}

impl Default for IdentitySource {
    fn default() -> Self {
        Self::Header(AUTHORIZATION)
    }
}

impl IdentitySource {
    /// Parses an API Gateway selection expression:
    /// `$request.header.<name>`, `$request.querystring.<name>`, or
    /// `$request.cookie.<name>`.
    pub fn parse(expression: &str) -> Result<Self, ConfigError> {
        let invalid = || {
            ConfigError::new(
                "identitySource must be $request.header.<name>, $request.querystring.<name> or $request.cookie.<name>",
            )
        };
        let (kind, name) = expression
            .strip_prefix("$request.")
            .and_then(|rest| rest.split_once('.'))
            .filter(|(_, name)| !name.is_empty())
            .ok_or_else(invalid)?;
        match kind {
            "header" => HeaderName::from_bytes(name.as_bytes())
                .map(Self::Header)
                .map_err(|_| invalid()),
            "querystring" => Ok(Self::QueryString(name.to_owned())),
            "cookie" => Ok(Self::Cookie(name.to_owned())),
            _ => Err(invalid()),
        }
    }

    /// The bytes the token is read from, when the source is a header with
    /// exactly one value: equal bytes always give the same token (or the
    /// same refusal).
    pub(crate) fn raw<'r, B>(&self, request: &'r Request<B>) -> Option<&'r [u8]> {
        let Self::Header(name) = self else {
            return None;
        };
        let mut values = request.headers().get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => Some(value.as_bytes()),
            _ => None,
        }
    }

    /// The token in `request`, if any.
    pub(crate) fn extract<'r, B>(&self, request: &'r Request<B>) -> Result<Cow<'r, str>, JwtError> {
        let missing = JwtError::new(JwtErrorKind::MissingToken, "identity source is empty");
        let several = JwtError::new(
            JwtErrorKind::Malformed,
            "identity source has several values",
        );
        let value: Cow<'r, str> = match self {
            Self::Header(name) => {
                let value = only(request.headers().get_all(name).iter(), missing, several)?
                    .to_str()
                    .map_err(|_| {
                        JwtError::new(JwtErrorKind::Malformed, "header is not visible ASCII")
                    })?
                    .trim();
                Cow::Borrowed(strip_bearer(value))
            }
            Self::QueryString(name) => {
                let query = request.uri().query().unwrap_or("");
                let found = query.split('&').filter_map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode_str(key).decode_utf8_lossy() == name.as_str()).then_some(value)
                });
                percent_decode_str(only(found, missing, several)?)
                    .decode_utf8()
                    .map_err(|_| {
                        JwtError::new(JwtErrorKind::Malformed, "query value is not UTF-8")
                    })?
            }
            Self::Cookie(name) => {
                let found = request
                    .headers()
                    .get_all(COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(';'))
                    .filter_map(|pair| {
                        let (key, value) = pair.trim().split_once('=')?;
                        (key == name).then_some(value.trim_matches('"'))
                    });
                Cow::Borrowed(only(found, missing, several)?)
            }
        };
        if value.is_empty() {
            return Err(missing);
        }
        Ok(value)
    }
}

/// The one item of `items`: none is `missing`, several are `several`.
fn only<T>(
    mut items: impl Iterator<Item = T>,
    missing: JwtError,
    several: JwtError,
) -> Result<T, JwtError> {
    match (items.next(), items.next()) {
        (Some(item), None) => Ok(item),
        (None, _) => Err(missing),
        (Some(_), Some(_)) => Err(several),
    }
}

/// `Bearer <token>` (any case) → `<token>`; a bare value is the token;
/// `Bearer` alone is no token.
fn strip_bearer(value: &str) -> &str {
    const SCHEME: &str = "bearer";
    match value.get(..SCHEME.len()) {
        Some(scheme) if scheme.eq_ignore_ascii_case(SCHEME) => {
            let rest = &value[SCHEME.len()..];
            if rest.is_empty() {
                ""
            } else if rest.starts_with([' ', '\t']) {
                rest.trim_start()
            } else {
                value
            }
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(source: &IdentitySource, request: &Request<()>) -> Result<String, JwtErrorKind> {
        source
            .extract(request)
            .map(|t| t.into_owned())
            .map_err(|e| e.kind())
    }

    fn with_header(name: &str, value: &str) -> Request<()> {
        Request::builder().header(name, value).body(()).unwrap()
    }

    #[test]
    fn authorization_accepts_bearer_in_any_case_or_a_bare_token() {
        let source = IdentitySource::default();
        assert_eq!(
            get(&source, &with_header("authorization", "Bearer a.b.c")).unwrap(),
            "a.b.c"
        );
        assert_eq!(
            get(&source, &with_header("authorization", "bEaReR   a.b.c")).unwrap(),
            "a.b.c"
        );
        assert_eq!(
            get(&source, &with_header("authorization", "a.b.c")).unwrap(),
            "a.b.c"
        );
        assert_eq!(
            get(&source, &with_header("authorization", "Bearer")),
            Err(JwtErrorKind::MissingToken)
        );
        assert_eq!(
            get(&source, &with_header("authorization", "Bearer ")),
            Err(JwtErrorKind::MissingToken)
        );
        assert_eq!(
            get(&source, &Request::new(())),
            Err(JwtErrorKind::MissingToken)
        );
    }

    #[test]
    fn several_authorization_headers_are_refused() {
        let request = Request::builder()
            .header("authorization", "Bearer a.b.c")
            .header("authorization", "Bearer d.e.f")
            .body(())
            .unwrap();
        assert_eq!(
            get(&IdentitySource::default(), &request),
            Err(JwtErrorKind::Malformed)
        );
    }

    #[test]
    fn query_string_and_cookie_sources() {
        let query = IdentitySource::parse("$request.querystring.token").unwrap();
        let request = Request::builder()
            .uri("/x?a=1&token=a.b.c")
            .body(())
            .unwrap();
        assert_eq!(get(&query, &request).unwrap(), "a.b.c");
        let request = Request::builder()
            .uri("/x?token=a&token=b")
            .body(())
            .unwrap();
        assert_eq!(get(&query, &request), Err(JwtErrorKind::Malformed));
        let request = Request::builder().uri("/x?a=1").body(()).unwrap();
        assert_eq!(get(&query, &request), Err(JwtErrorKind::MissingToken));

        let cookie = IdentitySource::parse("$request.cookie.session").unwrap();
        assert_eq!(
            get(&cookie, &with_header("cookie", "a=1; session=a.b.c")).unwrap(),
            "a.b.c"
        );
        assert_eq!(
            get(&cookie, &with_header("cookie", "a=1")),
            Err(JwtErrorKind::MissingToken)
        );
    }

    #[test]
    fn selection_expressions() {
        assert_eq!(
            IdentitySource::parse("$request.header.Authorization").unwrap(),
            IdentitySource::Header(AUTHORIZATION)
        );
        assert!(IdentitySource::parse("$request.body.token").is_err());
        assert!(IdentitySource::parse("$request.header.").is_err());
        assert!(IdentitySource::parse("Authorization").is_err());
    }
}
