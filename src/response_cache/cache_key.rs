//! Cache keys: the exact bytes of what a request is keyed on. Pure
//! functions over request parts, no tower types.

use std::borrow::{Borrow, Cow};
use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, Method};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ConfigError;
use crate::identity::{ApiKeyIdentity, AuthorizerContext, JwtClaims};
use crate::route::RouteMatch;

/// A request parameter that is part of the cache key, in API Gateway's
/// `cacheKeyParameters` syntax:
///
/// * `method.request.querystring.<name>`: every value of the query string
///   parameter, in order (names and values percent-decoded and `+` read as a
///   space, as the backend's query parser reads them);
/// * `method.request.header.<name>`: every value of the header, in order;
/// * `method.request.path.<name>`: the decoded path parameter of the matched
///   route.
///
/// An absent parameter is keyed as absent, distinct from an empty one.
///
/// ```
/// use apigw::response_cache::CacheKeyParameter;
///
/// let p: CacheKeyParameter = "method.request.querystring.type".parse()?;
/// assert_eq!(p, CacheKeyParameter::QueryString("type".into()));
/// assert_eq!(p.to_string(), "method.request.querystring.type");
/// assert!("method.request.body.x".parse::<CacheKeyParameter>().is_err());
/// # Ok::<(), apigw::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheKeyParameter {
    /// `method.request.querystring.<name>`.
    QueryString(String),
    /// `method.request.header.<name>`.
    Header(HeaderName),
    /// `method.request.path.<name>`.
    Path(String),
}

impl FromStr for CacheKeyParameter {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let invalid = || {
            ConfigError::new(format!(
                "cache key parameter `{s}` is not `method.request.querystring.<name>`, \
                 `method.request.header.<name>` or `method.request.path.<name>`"
            ))
        };
        let rest = s.strip_prefix("method.request.").ok_or_else(invalid)?;
        let (kind, name) = rest.split_once('.').ok_or_else(invalid)?;
        if name.is_empty() {
            return Err(invalid());
        }
        match kind {
            "querystring" => Ok(Self::QueryString(name.to_owned())),
            "path" => Ok(Self::Path(name.to_owned())),
            "header" => HeaderName::from_bytes(name.as_bytes())
                .map(Self::Header)
                .map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for CacheKeyParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::QueryString(name) => write!(f, "method.request.querystring.{name}"),
            Self::Header(name) => write!(f, "method.request.header.{name}"),
            Self::Path(name) => write!(f, "method.request.path.{name}"),
        }
    }
}

impl Serialize for CacheKeyParameter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CacheKeyParameter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The key of one cache entry: the exact bytes of everything the request is
/// keyed on, each field tagged and length-prefixed. Two requests share an
/// entry only when these bytes are equal — there is no hash to collide. The
/// store hashes them with SipHash under random keys (std's `RandomState`), so
/// clients can neither predict nor aim bucket collisions.
///
/// Get one for a request with
/// [`ResponseCacheLayer::cache_key`](super::ResponseCacheLayer::cache_key).
/// It prints its length only: it holds caller identities.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(Arc<[u8]>);

impl CacheKey {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        Self(Arc::from(bytes))
    }

    /// The key of `parts` under `spec`.
    pub(crate) fn of(parts: &Parts, spec: KeySpec<'_>) -> Self {
        with_key(parts, spec, Self::from_bytes)
    }

    /// Its size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for CacheKey {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey(<{} bytes>)", self.0.len())
    }
}

/// What goes into a key besides the parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeySpec<'a> {
    /// The method the entry is stored under (GET for a HEAD).
    pub(crate) method: &'a Method,
    pub(crate) route: Option<&'a RouteMatch>,
    pub(crate) parameters: &'a [CacheKeyParameter],
    /// Whether the caller's identity goes into the key.
    pub(crate) identity: bool,
}

thread_local! {
    /// Each thread's buffer for building keys, so a hit allocates none.
    static KEY_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Keys longer than this do not keep their buffer's memory afterwards.
const KEPT_BUFFER: usize = 4096;

/// Calls `f` with the key bytes of `parts` under `spec`, built in this
/// thread's buffer.
pub(crate) fn with_key<R>(parts: &Parts, spec: KeySpec<'_>, f: impl FnOnce(&[u8]) -> R) -> R {
    KEY_BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            buffer.clear();
            write_key(&mut buffer, parts, spec);
            let result = f(&buffer);
            if buffer.capacity() > KEPT_BUFFER {
                *buffer = Vec::new();
            }
            result
        }
        // Re-entered from `f`: a buffer of its own.
        Err(_) => {
            let mut buffer = Vec::new();
            write_key(&mut buffer, parts, spec);
            f(&buffer)
        }
    })
}

/// Writes the key of `parts` under `spec`.
///
/// Every field is tagged and length-prefixed, so no two different inputs
/// write the same bytes (`["a,b","c"]` and `["a","b,c"]` differ).
fn write_key(out: &mut Vec<u8>, parts: &Parts, spec: KeySpec<'_>) {
    field(out, Tag::Method, spec.method.as_str().as_bytes());
    // The router's view of the path: exactly the bytes routed on, not
    // normalised (no dot-segment removal, no decoding, no slash folding).
    field(out, Tag::Path, parts.uri.path().as_bytes());
    if let Some(route) = spec.route {
        // The route's path template, not its method: HEAD shares GET's
        // entry, and the stored method is keyed above.
        match route.resource() {
            Some(template) => field(out, Tag::Route, template.as_bytes()),
            None => out.push(Tag::Absent as u8),
        }
        field(out, Tag::Stage, route.stage().as_bytes());
    }
    for parameter in spec.parameters {
        match parameter {
            CacheKeyParameter::QueryString(name) => {
                field(out, Tag::Query, name.as_bytes());
                for value in query_values(parts.uri.query().unwrap_or(""), name) {
                    field(out, Tag::Value, value.as_bytes());
                }
                out.push(Tag::End as u8);
            }
            CacheKeyParameter::Header(name) => {
                field(out, Tag::Header, name.as_str().as_bytes());
                for value in parts.headers.get_all(name) {
                    field(out, Tag::Value, value.as_bytes());
                }
                out.push(Tag::End as u8);
            }
            CacheKeyParameter::Path(name) => {
                field(out, Tag::PathParameter, name.as_bytes());
                match spec.route.and_then(|r| r.path_parameter(name)) {
                    Some(value) => field(out, Tag::Value, value.as_bytes()),
                    None => out.push(Tag::Absent as u8),
                }
            }
        }
    }
    if spec.identity {
        for_each_principal(parts, |tag, value| field(out, tag, value.as_bytes()));
    }
}

/// Whether the request carries an identity an authorizer or the usage plan
/// established.
pub(crate) fn has_principal(parts: &Parts) -> bool {
    let mut found = false;
    for_each_principal(parts, |_, _| found = true);
    found
}

/// Calls `f` with each identity the request carries: JWT issuer and subject,
/// authorizer principal, API key id.
fn for_each_principal(parts: &Parts, mut f: impl FnMut(Tag, &str)) {
    let ext = &parts.extensions;
    if let Some(claims) = ext.get::<JwtClaims>()
        && let Some(subject) = claims.subject()
    {
        f(Tag::JwtIssuer, claims.issuer().unwrap_or(""));
        f(Tag::JwtSubject, subject);
    }
    if let Some(principal) = ext
        .get::<AuthorizerContext>()
        .and_then(AuthorizerContext::principal_id)
    {
        f(Tag::AuthorizerPrincipal, principal);
    }
    if let Some(key) = ext.get::<ApiKeyIdentity>() {
        f(Tag::ApiKey, key.key_id());
    }
}

/// The decoded values of query parameter `name`, in order.
pub(crate) fn query_values<'q>(
    query: &'q str,
    name: &'q str,
) -> impl Iterator<Item = Cow<'q, str>> + 'q {
    query.split('&').filter_map(move |pair| {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_component(n) == name).then(|| decode_component(v))
    })
}

/// `application/x-www-form-urlencoded` decoding of one component: `+` is a
/// space, then percent-decoding (invalid UTF-8 replaced).
fn decode_component(s: &str) -> Cow<'_, str> {
    if !s.contains(['+', '%']) {
        return Cow::Borrowed(s);
    }
    let spaced = s.replace('+', " ");
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

#[derive(Clone, Copy)]
#[repr(u8)]
enum Tag {
    Method = 1,
    Path,
    Route,
    Stage,
    Query,
    Header,
    PathParameter,
    Value,
    Absent,
    JwtIssuer,
    JwtSubject,
    AuthorizerPrincipal,
    ApiKey,
    /// Ends a list of values.
    End,
}

/// A tag, the length (LEB128), the bytes.
fn field(out: &mut Vec<u8>, tag: Tag, bytes: &[u8]) {
    out.push(tag as u8);
    let mut len = bytes.len();
    while len >= 0x80 {
        // Truncation intended: the low seven bits, continuation bit set.
        #[allow(clippy::cast_possible_truncation)]
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(len as u8);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::RouteTable;
    use serde_json::Map;

    const NO_PARAMS: &[CacheKeyParameter] = &[];

    fn parts(uri: &str) -> Parts {
        http::Request::get(uri).body(()).unwrap().into_parts().0
    }

    fn spec<'a>(parameters: &'a [CacheKeyParameter]) -> KeySpec<'a> {
        KeySpec {
            method: &Method::GET,
            route: None,
            parameters,
            identity: true,
        }
    }

    #[test]
    fn parameters_parse_api_gateway_syntax() {
        assert_eq!(
            "method.request.header.Accept"
                .parse::<CacheKeyParameter>()
                .unwrap(),
            CacheKeyParameter::Header(HeaderName::from_static("accept"))
        );
        assert_eq!(
            "method.request.path.id"
                .parse::<CacheKeyParameter>()
                .unwrap(),
            CacheKeyParameter::Path("id".into())
        );
        for bad in [
            "method.request.querystring.",
            "integration.request.header.x",
            "method.request.header.bad header",
            "querystring.x",
        ] {
            assert!(bad.parse::<CacheKeyParameter>().is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_stable_and_print_their_length_only() {
        let a = CacheKey::of(&parts("/secret"), spec(NO_PARAMS));
        assert_eq!(a, CacheKey::of(&parts("/secret"), spec(NO_PARAMS)));
        assert_ne!(a, CacheKey::of(&parts("/secreT"), spec(NO_PARAMS)));
        assert!(!format!("{a:?}").contains("secret"));
        // Lengths are prefixed, in LEB128 past 127 bytes.
        let long = format!("/{}", "a".repeat(300));
        assert_ne!(
            CacheKey::of(&parts(&long), spec(NO_PARAMS)),
            CacheKey::of(&parts(&format!("{long}a")), spec(NO_PARAMS))
        );
    }

    #[test]
    fn unlisted_query_parameters_do_not_vary_the_key() {
        let params = ["method.request.querystring.type".parse().unwrap()];
        let key = |uri| CacheKey::of(&parts(uri), spec(&params));
        assert_eq!(
            key("/e?type=admin&department=A"),
            key("/e?type=admin&department=B")
        );
        assert_ne!(key("/e?type=admin"), key("/e?type=user"));
        assert_ne!(key("/e?type="), key("/e"));
        assert_ne!(key("/e?type=a&type=b"), key("/e?type=b&type=a"));
        assert_ne!(key("/e?type=a,b&type=c"), key("/e?type=a&type=b,c"));
    }

    #[test]
    fn query_names_are_matched_as_the_backend_decodes_them() {
        let params = ["method.request.querystring.type".parse().unwrap()];
        let key = |uri| CacheKey::of(&parts(uri), spec(&params));
        // `%74ype` is `type` to the backend: it must be keyed, not ignored.
        assert_ne!(key("/e?%74ype=evil"), key("/e"));
        assert_eq!(key("/e?%74ype=a+b"), key("/e?type=a%20b"));
    }

    #[test]
    fn path_is_keyed_byte_for_byte() {
        let key = |uri| CacheKey::of(&parts(uri), spec(NO_PARAMS));
        let paths = [
            "/account",
            "/account/",
            "//account",
            "/account;x.css",
            "/account/x.css",
            "/account/..%2f",
            "/a%2Bb",
            "/a+b",
        ];
        for (i, a) in paths.iter().enumerate() {
            for b in &paths[i + 1..] {
                assert_ne!(key(a), key(b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn headers_and_path_parameters_are_keyed_when_listed() {
        let params: Vec<CacheKeyParameter> = vec![
            "method.request.header.accept".parse().unwrap(),
            "method.request.path.id".parse().unwrap(),
        ];
        let table = RouteTable::builder()
            .route("GET /o/{id}", ())
            .unwrap()
            .build()
            .unwrap();
        let (_, route) = table.lookup(&Method::GET, "/o/1").unwrap();
        let with = |accept: Option<&'static str>| {
            let mut p = parts("/o/1");
            if let Some(a) = accept {
                p.headers.insert("accept", a.parse().unwrap());
            }
            CacheKey::of(
                &p,
                KeySpec {
                    route: Some(&route),
                    ..spec(&params)
                },
            )
        };
        assert_ne!(with(Some("a")), with(Some("b")));
        assert_ne!(with(Some("")), with(None));
        assert_eq!(with(Some("a")), with(Some("a")));
    }

    #[test]
    fn identity_is_keyed_unless_switched_off() {
        let as_user = |sub: &str| {
            let mut p = parts("/me");
            let mut claims = Map::new();
            claims.insert("sub".into(), sub.into());
            p.extensions.insert(JwtClaims::new(claims, vec![]));
            p
        };
        let (alice, bob) = (as_user("alice"), as_user("bob"));
        assert!(has_principal(&alice));
        assert!(!has_principal(&parts("/me")));
        assert_ne!(
            CacheKey::of(&alice, spec(NO_PARAMS)),
            CacheKey::of(&bob, spec(NO_PARAMS))
        );
        let shared = |p| {
            CacheKey::of(
                p,
                KeySpec {
                    identity: false,
                    ..spec(NO_PARAMS)
                },
            )
        };
        assert_eq!(shared(&alice), shared(&bob));
    }

    #[test]
    fn authorizer_principal_and_api_key_are_distinct_identities() {
        let mut by_principal = parts("/me");
        by_principal
            .extensions
            .insert(AuthorizerContext::new(Some("k1".into()), Map::new(), None));
        let mut by_key = parts("/me");
        by_key
            .extensions
            .insert(ApiKeyIdentity::new("k1", "secret", "plan"));
        assert_ne!(
            CacheKey::of(&by_principal, spec(NO_PARAMS)),
            CacheKey::of(&by_key, spec(NO_PARAMS))
        );
    }
}
