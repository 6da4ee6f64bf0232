//! Reading a body under a size limit, and parsing it as JSON that has no
//! duplicate keys and no nesting beyond a limit. No tower types here.

use std::fmt;

use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

use super::error::{RejectionKind, Violation};
use super::model::escape_pointer_token;

/// The deepest nesting `serde_json` itself parses (its recursion limit).
pub(crate) const MAX_DEPTH_BOUND: usize = 127;

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Over the limit, found mid-stream.
    TooLarge,
    /// The body stream failed (the client went away, a framing error).
    Failed,
}

/// Reads the whole body, refusing more than `limit` bytes. Trailers are not
/// kept.
pub(crate) async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ReadError::TooLarge)
        }
        Err(error) => {
            tracing::debug!(%error, "request body could not be read");
            Err(ReadError::Failed)
        }
    }
}

/// Parses `bytes` as one JSON value, refusing duplicate object keys and
/// containers nested deeper than `max_depth`. On failure: the kind and one
/// violation saying where, never echoing the value.
pub(crate) fn parse(bytes: &[u8], max_depth: usize) -> Result<Value, (RejectionKind, Violation)> {
    let mut state = State {
        max_depth,
        failure: None,
        path: Vec::new(),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = ValueSeed {
        state: &mut state,
        depth: 0,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(value),
        Err(error) => Err(state.violation(&error, bytes.is_empty())),
    }
}

enum Failure {
    Duplicate,
    TooDeep,
}

enum Segment {
    Key(String),
    Index(usize),
}

struct State {
    max_depth: usize,
    failure: Option<Failure>,
    /// Innermost first, filled as the failure unwinds.
    path: Vec<Segment>,
}

impl State {
    fn pointer(&self) -> String {
        let mut pointer = String::new();
        for segment in self.path.iter().rev() {
            pointer.push('/');
            match segment {
                Segment::Key(key) => pointer.push_str(&escape_pointer_token(key)),
                Segment::Index(index) => pointer.push_str(&index.to_string()),
            }
        }
        pointer
    }

    fn violation(&self, error: &serde_json::Error, empty: bool) -> (RejectionKind, Violation) {
        let pointer = self.pointer();
        match self.failure {
            Some(Failure::Duplicate) => (
                RejectionKind::DuplicateKey,
                Violation::syntax(pointer, "object key appears more than once"),
            ),
            Some(Failure::TooDeep) => (
                RejectionKind::TooDeep,
                Violation::syntax(
                    pointer,
                    format!("nesting exceeds the limit of {}", self.max_depth),
                ),
            ),
            None if empty => (
                RejectionKind::MalformedJson,
                Violation::syntax("", "request body is empty"),
            ),
            None => (
                RejectionKind::MalformedJson,
                Violation::syntax(
                    "",
                    format!(
                        "request body is not valid JSON (line {}, column {})",
                        error.line(),
                        error.column()
                    ),
                ),
            ),
        }
    }
}

struct ValueSeed<'s> {
    state: &'s mut State,
    depth: usize,
}

impl ValueSeed<'_> {
    fn enter<E: de::Error>(&mut self) -> Result<usize, E> {
        let depth = self.depth + 1;
        if depth > self.state.max_depth {
            self.state.failure = Some(Failure::TooDeep);
            return Err(E::custom("nesting limit"));
        }
        Ok(depth)
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json never produces a non-finite float from JSON text.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
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

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.enter()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let seed = ValueSeed {
                state: &mut *self.state,
                depth,
            };
            match seq.next_element_seed(seed) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Value::Array(items)),
                Err(error) => {
                    if self.state.failure.is_some() {
                        self.state.path.push(Segment::Index(items.len()));
                    }
                    return Err(error);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.enter()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let seed = ValueSeed {
                state: &mut *self.state,
                depth,
            };
            let value = match map.next_value_seed(seed) {
                Ok(value) => value,
                Err(error) => {
                    if self.state.failure.is_some() {
                        self.state.path.push(Segment::Key(key));
                    }
                    return Err(error);
                }
            };
            match object.entry(key) {
                Entry::Vacant(entry) => {
                    entry.insert(value);
                }
                Entry::Occupied(entry) => {
                    self.state.failure = Some(Failure::Duplicate);
                    self.state.path.push(Segment::Key(entry.key().clone()));
                    return Err(de::Error::custom("duplicate key"));
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[test]
    fn parses_like_serde_json() {
        let text = br#"{"a":[1,-2,3.5,true,null,"x"],"b":{"c":{}},"d":18446744073709551615}"#;
        let ours = parse(text, 64).unwrap();
        let theirs: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn duplicate_key_is_found_with_its_pointer() {
        let (kind, violation) = parse(br#"{"a":[{"x":1},{"r/o":1,"r/o":2}]}"#, 64).unwrap_err();
        assert_eq!(kind, RejectionKind::DuplicateKey);
        assert_eq!(violation.pointer(), "/a/1/r~1o");
        assert_eq!(violation.keyword(), "syntax");
    }

    #[test]
    fn nesting_over_the_limit_is_too_deep() {
        assert!(parse(b"[[[1]]]", 3).is_ok());
        let (kind, violation) = parse(br#"{"a":[[[1]]]}"#, 3).unwrap_err();
        assert_eq!(kind, RejectionKind::TooDeep);
        assert_eq!(violation.pointer(), "/a/0/0");
    }

    #[test]
    fn malformed_and_empty_and_trailing_bodies_are_malformed() {
        for text in [&b""[..], b"{", b"{\"a\":1} x", b"nul", b"{'a':1}"] {
            let (kind, violation) = parse(text, 64).unwrap_err();
            assert_eq!(kind, RejectionKind::MalformedJson, "{text:?}");
            assert_eq!(violation.pointer(), "");
        }
    }

    #[test]
    fn malformed_message_does_not_echo_input() {
        let (_, violation) = parse(br#"{"password": secret}"#, 64).unwrap_err();
        assert!(!violation.message().contains("secret"));
        assert!(violation.message().contains("line 1"));
    }

    /// A body of `n` chunks of ten bytes with no length hint.
    struct Chunked(usize);

    impl Body for Chunked {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            if self.0 == 0 {
                return std::task::Poll::Ready(None);
            }
            self.0 -= 1;
            std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
                b"0123456789",
            )))))
        }
    }

    #[tokio::test]
    async fn read_limited_stops_a_stream_over_the_limit() {
        assert_eq!(
            read_limited(Chunked(10), 50).await,
            Err(ReadError::TooLarge)
        );
        assert_eq!(read_limited(Chunked(5), 50).await.unwrap().len(), 50);
        let full = Full::new(Bytes::from_static(b"0123456789"));
        assert_eq!(read_limited(full, 10).await.unwrap(), "0123456789");
    }

    fn json_values() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| Value::Number(n.into())),
            any::<u64>().prop_map(|n| Value::Number(n.into())),
            (-1e300f64..1e300).prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Without duplicates or deep nesting, the checked parse is exactly
        /// `serde_json`'s.
        #[test]
        fn checked_parse_agrees_with_serde_json(value in json_values()) {
            let text = serde_json::to_vec(&value).unwrap();
            let theirs: Value = serde_json::from_slice(&text).unwrap();
            proptest::prop_assert_eq!(parse(&text, 64).unwrap(), theirs);
        }

        /// A repeated key anywhere is found, with its pointer.
        #[test]
        fn a_repeated_key_is_always_found(key in "[a-z/~]{1,4}", depth in 0usize..5) {
            let key_json = serde_json::to_string(&key).unwrap();
            let mut text = format!("{{{key_json}:1,{key_json}:2}}");
            let mut pointer = format!("/{}", escape_pointer_token(&key));
            for _ in 0..depth {
                text = format!("[{text}]");
                pointer = format!("/0{pointer}");
            }
            let (kind, violation) = parse(text.as_bytes(), 64).unwrap_err();
            proptest::prop_assert_eq!(kind, RejectionKind::DuplicateKey);
            proptest::prop_assert_eq!(violation.pointer(), pointer.as_str());
        }
    }
}
