//! The route selection expression, with no socket types: which route key a
//! message selects.
//!
//! API Gateway accepts `$request.body.{path}` (the whole expression),
//! `${request.body.{path}}` placeholders mixed with literal text, and a
//! static route key. A path names members of nested JSON objects
//! (`$request.body.meta.action`). A message that is not JSON, lacks a
//! member, or holds an object, array or `null` there selects nothing, and
//! goes to `$default`.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::ConfigError;

/// A parsed route selection expression.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RouteSelection {
    source: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Body(Vec<String>),
}

const BODY_PREFIX: &str = "request.body.";

impl RouteSelection {
    /// Parses `expression`.
    pub(crate) fn parse(expression: &str) -> Result<Self, ConfigError> {
        let invalid = |why: &str| {
            ConfigError::new(format!("route selection expression `{expression}`: {why}"))
        };
        if expression.is_empty() {
            return Err(invalid("must not be empty"));
        }
        let mut parts = Vec::new();
        if let Some(path) = expression
            .strip_prefix('$')
            .and_then(|e| e.strip_prefix(BODY_PREFIX))
        {
            parts.push(Part::Body(
                parse_path(path).ok_or_else(|| invalid("bad JSON path"))?,
            ));
        } else {
            let mut rest = expression;
            while let Some(start) = rest.find("${") {
                if start > 0 {
                    parts.push(Part::Literal(rest[..start].to_owned()));
                }
                let after = &rest[start + 2..];
                let end = after.find('}').ok_or_else(|| invalid("unclosed `${`"))?;
                let path = after[..end]
                    .strip_prefix(BODY_PREFIX)
                    .ok_or_else(|| invalid("only `${request.body.…}` can be selected"))?;
                parts.push(Part::Body(
                    parse_path(path).ok_or_else(|| invalid("bad JSON path"))?,
                ));
                rest = &after[end + 1..];
            }
            if !rest.is_empty() {
                parts.push(Part::Literal(rest.to_owned()));
            }
        }
        Ok(Self {
            source: expression.to_owned(),
            parts,
        })
    }

    /// The route key `message` selects, or `None` (→ `$default`).
    pub(crate) fn select(&self, message: &str) -> Option<String> {
        let mut key = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => key.push_str(text),
                Part::Body(path) => key.push_str(&select_path(message, path)?),
            }
        }
        Some(key)
    }
}

impl fmt::Debug for RouteSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn parse_path(path: &str) -> Option<Vec<String>> {
    let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
    segments
        .iter()
        .all(|s| !s.is_empty() && !s.contains(['{', '}', '$']))
        .then_some(segments)
}

/// The scalar at `path` in the JSON document `message`, as text, without
/// building the document: every other member is skipped.
fn select_path(message: &str, path: &[String]) -> Option<String> {
    let mut deserializer = serde_json::Deserializer::from_str(message);
    let found = PathSeed { path }.deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    found
}

struct PathSeed<'p> {
    path: &'p [String],
}

impl<'de> DeserializeSeed<'de> for PathSeed<'_> {
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PathSeed<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.path.is_empty().then(|| v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(self.path.is_empty().then_some(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.path.is_empty().then(|| v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.path.is_empty().then(|| v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.path.is_empty().then(|| v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self.path.is_empty().then(|| v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        // The last duplicate wins, as when the document is parsed whole.
        let mut found = None;
        while let Some(matches) = map.next_key_seed(KeyIs(first))? {
            if matches {
                found = map.next_value_seed(PathSeed { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Compares a member name with the wanted one without keeping it.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select(expression: &str, message: &str) -> Option<String> {
        RouteSelection::parse(expression).unwrap().select(message)
    }

    #[test]
    fn top_level_member_selects() {
        assert_eq!(
            select(
                "$request.body.action",
                r#"{"data":[1,{"x":2}],"action":"send"}"#
            )
            .as_deref(),
            Some("send")
        );
    }

    #[test]
    fn nested_path_selects() {
        let message = r#"{"meta":{"kind":{"name":"join"},"n":1},"action":"x"}"#;
        assert_eq!(
            select("$request.body.meta.kind.name", message).as_deref(),
            Some("join")
        );
        assert_eq!(
            select("${request.body.meta.n}", message).as_deref(),
            Some("1")
        );
    }

    #[test]
    fn escaped_member_names_and_values_are_decoded() {
        assert_eq!(
            select("$request.body.action", r#"{"act\u0069on":"s\"nd"}"#).as_deref(),
            Some("s\"nd")
        );
    }

    #[test]
    fn non_json_missing_and_non_scalar_select_nothing() {
        assert_eq!(select("$request.body.action", "hello"), None);
        assert_eq!(
            select("$request.body.action", r#"{"action":"a"} trailing"#),
            None
        );
        assert_eq!(select("$request.body.action", r#"{"other":"a"}"#), None);
        assert_eq!(
            select("$request.body.action", r#"{"action":{"a":1}}"#),
            None
        );
        assert_eq!(select("$request.body.action", r#"{"action":null}"#), None);
        assert_eq!(select("$request.body.action", r#"["action"]"#), None);
        assert_eq!(select("$request.body.action.x", r#"{"action":"a"}"#), None);
    }

    #[test]
    fn templates_mix_literals_and_members() {
        assert_eq!(
            select(
                "${request.body.service}-v${request.body.version}",
                r#"{"service":"chat","version":2}"#
            )
            .as_deref(),
            Some("chat-v2")
        );
        assert_eq!(select("static", "anything").as_deref(), Some("static"));
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in [
            "",
            "${request.body.a",
            "${request.header.x}",
            "$request.body.",
            "$request.body.a..b",
        ] {
            assert!(RouteSelection::parse(bad).is_err(), "{bad}");
        }
    }
}
