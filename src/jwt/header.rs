//! The compact JWS, read by hand before any cryptography: size limit,
//! segments, strict base64url, JSON without duplicate keys, and the JOSE
//! header checks `jsonwebtoken` does not make (`crit`, `b64`, nested JWTs,
//! JWE markers). `jku`, `x5u`, `jwk` and `x5c` are never read.

use std::fmt;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::{JwtError, JwtErrorKind};
use super::keys::Algorithm;

/// base64url without padding; padding, `+`, `/`, whitespace and
/// non-canonical trailing bits are refused.
pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// The longest `kid` looked up; longer ones are unknown without a lookup.
pub(crate) const MAX_KID_LEN: usize = 256;

const fn malformed(reason: &'static str) -> JwtError {
    JwtError::new(JwtErrorKind::Malformed, reason)
}

/// The three segments of a compact JWS.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Compact<'a> {
    pub(crate) header: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: &'a str,
    /// `header.payload`, what the signature covers.
    pub(crate) signing_input: &'a str,
}

/// Splits a compact JWS, refusing anything over `max_len` bytes before
/// looking at it, JWE (five segments) and JSON serializations.
pub(crate) fn split(token: &str, max_len: usize) -> Result<Compact<'_>, JwtError> {
    if token.len() > max_len {
        return Err(malformed("token exceeds the size limit"));
    }
    if token.starts_with('{') {
        return Err(malformed("JSON serialization is not accepted"));
    }
    let bytes = token.as_bytes();
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(malformed("character outside base64url"));
    }
    let dots = bytes.iter().filter(|&&b| b == b'.').count();
    match dots {
        2 => {}
        4 => return Err(malformed("JWE (five segments) is not accepted")),
        _ => return Err(malformed("not three segments")),
    }
    let first = token.find('.').unwrap_or(0);
    let second = token.rfind('.').unwrap_or(0);
    let compact = Compact {
        header: &token[..first],
        payload: &token[first + 1..second],
        signature: &token[second + 1..],
        signing_input: &token[..second],
    };
    if compact.header.is_empty() || compact.signature.is_empty() {
        return Err(malformed("empty header or signature"));
    }
    Ok(compact)
}

/// A JSON value whose objects, at any depth, have no duplicate keys.
/// (`serde_json::Value` would silently keep the last one.)
pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            if object.insert(key, value).is_some() {
                return Err(de::Error::custom("duplicate key"));
            }
        }
        Ok(Value::Object(object))
    }
}

/// Decodes one base64url segment into a JSON object without duplicate keys.
pub(crate) fn decode_object(segment: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = B64
        .decode(segment)
        .map_err(|_| malformed("segment is not base64url"))?;
    match serde_json::from_slice::<StrictValue>(&bytes) {
        Ok(StrictValue(Value::Object(object))) => Ok(object),
        Ok(_) => Err(malformed("segment is not a JSON object")),
        Err(_) => Err(malformed("segment is not JSON without duplicate keys")),
    }
}

/// The JOSE header fields this crate acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

/// Reads and checks the protected header.
pub(crate) fn parse_header(segment: &str) -> Result<Header, JwtError> {
    let mut header = decode_object(segment)?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg,
        Some(_) => return Err(malformed("alg is not a string")),
        None => return Err(malformed("alg is missing")),
    };
    let alg = Algorithm::from_name(alg).ok_or(JwtError::new(
        JwtErrorKind::UnsupportedAlgorithm,
        "alg is none, HMAC or unknown",
    ))?;
    if header.contains_key("enc") || header.contains_key("zip") {
        return Err(malformed("JWE header parameters"));
    }
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: a recipient must reject a JWS whose `crit`
        // lists an extension it does not understand; this crate understands
        // none, and an empty or non-array `crit` is invalid anyway.
        return Err(JwtError::new(
            JwtErrorKind::CriticalHeader,
            "crit header is present",
        ));
    }
    if header.contains_key("b64") {
        return Err(JwtError::new(
            JwtErrorKind::CriticalHeader,
            "b64 (unencoded payload) is not supported",
        ));
    }
    if let Some(cty) = header.get("cty") {
        match cty {
            Value::String(cty) if cty.eq_ignore_ascii_case("JWT") => {
                return Err(malformed("nested JWT (cty: JWT) is not accepted"));
            }
            Value::String(_) => {}
            _ => return Err(malformed("cty is not a string")),
        }
    }
    let kid = match header.remove("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid),
        Some(_) => return Err(malformed("kid is not a string")),
    };
    Ok(Header { alg, kid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        B64.encode(json)
    }

    #[test]
    fn split_refuses_oversized_tokens_before_reading_them() {
        let token = format!("{}.{}.{}", "a".repeat(5000), "b".repeat(5000), "c");
        assert_eq!(
            split(&token, 8192).unwrap_err().reason(),
            "token exceeds the size limit"
        );
    }

    #[test]
    fn split_refuses_jwe_and_json_serializations_and_stray_characters() {
        assert_eq!(
            split("a.b.c.d.e", 100).unwrap_err().kind(),
            JwtErrorKind::Malformed
        );
        assert!(split("{\"payload\":\"x\"}", 100).is_err());
        assert!(split("a.b", 100).is_err());
        assert!(split("a.b.c.d", 100).is_err());
        assert!(split("a=.b.c", 100).is_err());
        assert!(split("a+.b.c", 100).is_err());
        assert!(split("a .b.c", 100).is_err());
        assert!(split(".b.c", 100).is_err());
        assert!(split("a.b.", 100).is_err());
        let ok = split("aa.bb.cc", 100).unwrap();
        assert_eq!(
            (ok.header, ok.payload, ok.signature, ok.signing_input),
            ("aa", "bb", "cc", "aa.bb")
        );
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert!(decode_object(&b64(r#"{"alg":"RS256","alg":"none"}"#)).is_err());
        assert!(decode_object(&b64(r#"{"a":{"b":1,"b":2}}"#)).is_err());
        assert!(decode_object(&b64(r#"{"a":[{"b":1,"b":2}]}"#)).is_err());
        assert!(decode_object(&b64(r#"{"a":{"b":1,"c":2}}"#)).is_ok());
    }

    #[test]
    fn non_objects_and_padded_base64_are_refused() {
        assert!(decode_object(&b64("[]")).is_err());
        assert!(decode_object(&b64("null")).is_err());
        assert!(decode_object(&b64("\"s\"")).is_err());
        let padded = base64::engine::general_purpose::URL_SAFE.encode(r#"{"a":1}"#);
        assert!(padded.ends_with('='));
        assert!(decode_object(&padded).is_err());
    }

    #[test]
    fn header_checks() {
        let parse = |json: &str| parse_header(&b64(json));
        assert_eq!(
            parse(r#"{"alg":"RS256","kid":"k"}"#).unwrap(),
            Header {
                alg: Algorithm::RS256,
                kid: Some("k".into())
            }
        );
        for alg in ["none", "None", "NONE", "nOnE", "HS256", "RS1", ""] {
            let json = format!(r#"{{"alg":"{alg}"}}"#);
            assert_eq!(
                parse(&json).unwrap_err().kind(),
                JwtErrorKind::UnsupportedAlgorithm,
                "{alg}"
            );
        }
        assert_eq!(
            parse(r#"{"alg":"RS256","crit":["exp"]}"#)
                .unwrap_err()
                .kind(),
            JwtErrorKind::CriticalHeader
        );
        assert_eq!(
            parse(r#"{"alg":"RS256","b64":false}"#).unwrap_err().kind(),
            JwtErrorKind::CriticalHeader
        );
        assert_eq!(
            parse(r#"{"alg":"RS256","cty":"jwt"}"#).unwrap_err().kind(),
            JwtErrorKind::Malformed
        );
        assert_eq!(
            parse(r#"{"alg":"RS256","kid":1}"#).unwrap_err().kind(),
            JwtErrorKind::Malformed
        );
        assert_eq!(
            parse(r#"{"alg":["RS256"]}"#).unwrap_err().kind(),
            JwtErrorKind::Malformed
        );
        assert_eq!(parse(r#"{}"#).unwrap_err().kind(), JwtErrorKind::Malformed);
    }
}
