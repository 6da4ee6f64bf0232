//! What the payload formats share: map types, the mTLS client certificate,
//! serde helpers for API Gateway's nulls, and claim stringification.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A JSON object of strings (`headers`, `queryStringParameters`,
/// `pathParameters`, `stageVariables`), in key order.
pub type StringMap = BTreeMap<String, String>;

/// A JSON object of string lists (`multiValueHeaders`,
/// `multiValueQueryStringParameters`), in key order.
pub type MultiValueMap = BTreeMap<String, Vec<String>>;

/// The client certificate of a mutual-TLS request
/// (`requestContext.identity.clientCert` in 1.0,
/// `requestContext.authentication.clientCert` in 2.0).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ClientCert {
    /// The PEM-encoded certificate.
    #[serde(default)]
    pub client_cert_pem: Option<String>,
    /// The subject's distinguished name.
    #[serde(default, rename = "subjectDN")]
    pub subject_dn: Option<String>,
    /// The issuer's distinguished name.
    #[serde(default, rename = "issuerDN")]
    pub issuer_dn: Option<String>,
    /// The serial number.
    #[serde(default)]
    pub serial_number: Option<String>,
    /// The validity period.
    #[serde(default)]
    pub validity: Option<Validity>,
}

/// A certificate's validity period, as API Gateway formats it
/// (`Aug 29 00:28:21 2020 GMT`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Validity {
    /// Not valid before.
    #[serde(default)]
    pub not_before: Option<String>,
    /// Not valid after.
    #[serde(default)]
    pub not_after: Option<String>,
}

/// Deserializes `null` as the type's default (`false`, `0`, an empty map).
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A JSON value as API Gateway stringifies authorizer values: strings as
/// they are, numbers and booleans as their JSON text, arrays Go-style as
/// `[a b c]`, objects as `map[k:v]` with sorted keys, `null` as `<nil>`.
///
/// This is how HTTP APIs render JWT claims (`cognito:groups` becomes
/// `"[admin users]"`) and how REST APIs render a custom authorizer's context
/// values (`1` becomes `"1"`, `true` becomes `"true"`).
#[must_use]
pub fn stringify_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            write_go_style(&mut out, other);
            out
        }
    }
}

fn write_go_style(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go_style(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                write_go_style(out, &map[key]);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_are_stringified_as_api_gateway_does() {
        assert_eq!(stringify_value(&json!("alice")), "alice");
        assert_eq!(stringify_value(&json!(1_583_352_238)), "1583352238");
        assert_eq!(stringify_value(&json!(true)), "true");
        assert_eq!(stringify_value(&json!(["admin", "users"])), "[admin users]");
        assert_eq!(stringify_value(&json!([1, [true]])), "[1 [true]]");
        assert_eq!(stringify_value(&json!({"b": 2, "a": "x"})), "map[a:x b:2]");
        assert_eq!(stringify_value(&Value::Null), "<nil>");
    }
}
