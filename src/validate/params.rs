//! Required request parameters: present and non-blank. No tower types here.

use http::HeaderName;
use http::request::Parts;
use percent_encoding::percent_decode_str;

use super::error::ParameterLocation;
use crate::error::ConfigError;
use crate::route::RouteMatch;

/// One required parameter, checked as API Gateway does: present and not
/// blank (`?q=` and `?q=%20` count as missing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Required {
    Path(String),
    Query(String),
    Header(HeaderName, String),
}

impl Required {
    pub(crate) fn new(location: ParameterLocation, name: &str) -> Result<Self, ConfigError> {
        if name.is_empty() {
            return Err(ConfigError::new(
                "request validator: a required parameter has an empty name",
            ));
        }
        Ok(match location {
            ParameterLocation::Path => Self::Path(name.to_owned()),
            ParameterLocation::QueryString => Self::Query(name.to_owned()),
            ParameterLocation::Header => {
                let header = HeaderName::try_from(name).map_err(|_| {
                    ConfigError::new(format!(
                        "request validator: `{name}` is not a valid header name"
                    ))
                })?;
                Self::Header(header, name.to_owned())
            }
        })
    }

    fn location(&self) -> ParameterLocation {
        match self {
            Self::Path(_) => ParameterLocation::Path,
            Self::Query(_) => ParameterLocation::QueryString,
            Self::Header(..) => ParameterLocation::Header,
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Path(name) | Self::Query(name) | Self::Header(_, name) => name,
        }
    }
}

fn blank(value: &[u8]) -> bool {
    value.iter().all(u8::is_ascii_whitespace)
}

fn decoded(raw: &str) -> std::borrow::Cow<'_, [u8]> {
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        std::borrow::Cow::Owned(percent_decode_str(&spaced).collect())
    } else {
        percent_decode_str(raw).into()
    }
}

fn query_has(query: Option<&str>, name: &str) -> bool {
    let Some(query) = query else {
        return false;
    };
    query.split('&').any(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        *decoded(key) == *name.as_bytes() && !blank(&decoded(value))
    })
}

fn path_has(matched: Option<&RouteMatch>, parts: &Parts, name: &str) -> bool {
    let present = |m: &RouteMatch| m.path_parameter(name).is_some_and(|v| !blank(v.as_bytes()));
    if matched.is_some_and(present) {
        return true;
    }
    // Under `route_layer`, axum's `MatchedPath` has the parameters.
    RouteMatch::from_request_parts(parts).is_some_and(|m| present(&m))
}

/// The required parameters `parts` lacks, in declaration order.
pub(crate) fn missing(
    required: &[Required],
    parts: &Parts,
    matched: Option<&RouteMatch>,
) -> Vec<(ParameterLocation, String)> {
    required
        .iter()
        .filter(|parameter| !match parameter {
            Required::Path(name) => path_has(matched, parts, name),
            Required::Query(name) => query_has(parts.uri.query(), name),
            Required::Header(header, _) => parts
                .headers
                .get_all(header)
                .iter()
                .any(|v| !blank(v.as_bytes())),
        })
        .map(|parameter| (parameter.location(), parameter.name().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::get(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn required() -> Vec<Required> {
        vec![
            Required::new(ParameterLocation::QueryString, "q").unwrap(),
            Required::new(ParameterLocation::Header, "X-Tenant").unwrap(),
        ]
    }

    #[test]
    fn present_and_non_blank_parameters_pass() {
        let p = parts("/?q=a%20b", &[("x-tenant", "t1")]);
        assert!(missing(&required(), &p, None).is_empty());
    }

    #[test]
    fn empty_blank_and_absent_parameters_are_missing() {
        for uri in ["/", "/?q=", "/?q=%20", "/?q=+", "/?qq=1", "/?q"] {
            let p = parts(uri, &[("x-tenant", "  ")]);
            assert_eq!(
                missing(&required(), &p, None),
                vec![
                    (ParameterLocation::QueryString, "q".to_owned()),
                    (ParameterLocation::Header, "X-Tenant".to_owned())
                ],
                "{uri}"
            );
        }
    }

    #[test]
    fn encoded_query_names_match() {
        let required = vec![Required::new(ParameterLocation::QueryString, "a b").unwrap()];
        assert!(missing(&required, &parts("/?a%20b=1", &[]), None).is_empty());
        assert!(missing(&required, &parts("/?a+b=1", &[]), None).is_empty());
    }

    #[test]
    fn path_parameters_come_from_the_route_match() {
        let required = vec![Required::new(ParameterLocation::Path, "id").unwrap()];
        let key = "GET /orders/{id}".parse().unwrap();
        let matched = RouteMatch::new(key, vec![("id".into(), "7".into())], "$default");
        let p = parts("/orders/7", &[]);
        assert!(missing(&required, &p, Some(&matched)).is_empty());
        assert_eq!(missing(&required, &p, None).len(), 1);
    }

    #[test]
    fn invalid_header_name_is_a_config_error() {
        assert!(Required::new(ParameterLocation::Header, "bad header").is_err());
        assert!(Required::new(ParameterLocation::QueryString, "").is_err());
    }
}
