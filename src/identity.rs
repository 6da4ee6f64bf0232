//! What flows between layers: the request id and what authorizers established.
//!
//! Layers talk through request extensions, never through globals. Each type
//! here is inserted by one layer and read by the layers after it, by the
//! [`LambdaIntegration`](crate) (which copies it into the event where API
//! Gateway puts it) and by handlers through axum extractors (feature `axum`).
//!
//! | extension | inserted by | Lambda event (2.0 / 1.0) |
//! |---|---|---|
//! | [`RequestId`] | the first layer that needs one, or tower-http's request-id layer | `requestContext.requestId` |
//! | [`JwtClaims`] | `JwtAuthorizerLayer` | `authorizer.jwt.claims` + `authorizer.jwt.scopes` / `authorizer.claims` |
//! | [`AuthorizerContext`] | `LambdaAuthorizerCacheLayer` | `authorizer.lambda` / `authorizer.principalId` + context |
//! | [`ApiKeyIdentity`] | `UsagePlanLayer` | `identity.apiKey`, `identity.apiKeyId` |
//! | [`RouteMatch`](crate::route::RouteMatch) | `RouteTable` users, or axum's `MatchedPath` | `routeKey`, `resource`, `pathParameters` |
//!
//! With the `axum` feature each type is an extractor. A handler that asks for
//! one that no layer inserted answers a 500 problem
//! (`API_CONFIGURATION_ERROR`) naming the layer to add; ask for `Option<T>`
//! to make it optional.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// The header a request id is read from when no layer inserted one:
/// `x-request-id`, the header tower-http's request-id layers set.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a header; longer ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The id of one request, as API Gateway's `requestId`.
///
/// Found, in order, in this crate's extension, then the `x-request-id`
/// header (what tower-http's `SetRequestIdLayer` sets, whatever its version),
/// when it is at most 128 visible ASCII characters. Otherwise a layer that
/// needs one makes a UUID v4.
///
/// Held as the header value itself: taking the id from the header, copying it
/// into a response header or cloning it shares one buffer (no copy, no
/// allocation).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

/// A UUID v4's text, the buffer a fresh [`RequestId`] shares.
struct UuidText([u8; uuid::fmt::Hyphenated::LENGTH]);

impl AsRef<[u8]> for UuidText {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl RequestId {
    /// A fresh random id (UUID v4).
    #[must_use]
    pub fn new() -> Self {
        let mut text = UuidText([0; uuid::fmt::Hyphenated::LENGTH]);
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text.0);
        // One allocation, shared by every clone (`from_owner` never copies).
        match HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(text)) {
            Ok(value) => Self(value),
            // Unreachable: hex digits and hyphens are valid header bytes.
            Err(_) => Self(HeaderValue::from_static("-")),
        }
    }

    /// An id from a string, if it is 1–128 visible ASCII characters.
    #[must_use]
    pub fn parse(id: &str) -> Option<Self> {
        Self::from_header_value(&HeaderValue::from_str(id).ok()?)
    }

    /// An id from a header value (shared, not copied), if it is 1–128
    /// visible ASCII characters.
    #[must_use]
    pub fn from_header_value(value: &HeaderValue) -> Option<Self> {
        let id = value.as_bytes();
        // `!`..=`~`, checked without an early exit so that it vectorizes.
        let graphic = id
            .iter()
            .fold(true, |ok, &b| ok & (b.wrapping_sub(b'!') <= b'~' - b'!'));
        let valid = !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && graphic;
        valid.then(|| Self(value.clone()))
    }

    /// The request's id from its extensions or `x-request-id` header, if any.
    #[must_use]
    pub fn find(extensions: &Extensions, headers: &HeaderMap) -> Option<Self> {
        Self::from_extensions(extensions).or_else(|| {
            headers
                .get(REQUEST_ID_HEADER)
                .and_then(Self::from_header_value)
        })
    }

    /// The id a layer inserted into the extensions.
    #[must_use]
    pub fn from_extensions(extensions: &Extensions) -> Option<Self> {
        extensions.get::<Self>().cloned()
    }

    /// The request's id: the extension's, else the header's, else a fresh
    /// one, which is then inserted so that every later [`find`](Self::find)
    /// agrees. An id taken from the header is not inserted: `find` reads the
    /// same one from the header (and the extension map stays smaller).
    pub fn get_or_insert<B>(request: &mut http::Request<B>) -> Self {
        if let Some(id) = Self::find(request.extensions(), request.headers()) {
            return id;
        }
        Self::insert_fresh(request.extensions_mut())
    }

    /// A fresh id, inserted into `extensions`.
    fn insert_fresh(extensions: &mut Extensions) -> Self {
        let id = Self::new();
        extensions.insert(id.clone());
        id
    }

    /// The id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever held (checked on the way in), so UTF-8's
        // check (word at a time) always passes; `HeaderValue::to_str` would
        // check every byte again.
        std::str::from_utf8(self.0.as_bytes()).unwrap_or_default()
    }

    /// The id as a header value (for `x-request-id`, `x-amzn-requestid`),
    /// sharing its buffer.
    #[must_use]
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }

    /// The id as a URI reference for a problem's `instance`
    /// (percent-encoded where a URI needs it).
    #[must_use]
    pub fn as_uri_reference(&self) -> String {
        const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        // Colons are encoded too, so the reference never parses as a scheme.
        percent_encoding::utf8_percent_encode(self.as_str(), SET).to_string()
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IPv4 address as text ("255.255.255.255" at most), written without the
/// formatting machinery: `Display` costs more than the rest of building an
/// event or an access-log line's address.
#[cfg(any(feature = "events", feature = "access-log"))]
pub(crate) struct Ipv4Text {
    text: [u8; 15],
    len: usize,
}

#[cfg(any(feature = "events", feature = "access-log"))]
impl Ipv4Text {
    pub(crate) fn new(ip: std::net::Ipv4Addr) -> Self {
        let mut text = [0u8; 15];
        let mut len = 0;
        for (i, octet) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                text[len] = b'.';
                len += 1;
            }
            if octet >= 100 {
                text[len] = b'0' + octet / 100;
                len += 1;
            }
            if octet >= 10 {
                text[len] = b'0' + octet / 10 % 10;
                len += 1;
            }
            text[len] = b'0' + octet % 10;
            len += 1;
        }
        Self { text, len }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Digits and dots only.
        std::str::from_utf8(&self.text[..self.len]).unwrap_or_default()
    }
}

/// The address of the peer that sent the request, as the server recorded it:
/// axum's `ConnectInfo<SocketAddr>` (feature `axum`, with
/// `into_make_service_with_connect_info`), or a `SocketAddr` or `IpAddr`
/// request extension (what a hyper server loop can insert).
///
/// This is the TCP peer. `X-Forwarded-For` is not read here: only layers
/// configured with trusted proxies may believe it.
#[must_use]
#[inline]
pub fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    extensions
        .get::<SocketAddr>()
        .map(SocketAddr::ip)
        .or_else(|| extensions.get::<IpAddr>().copied())
}

/// The protocol as API Gateway writes it (`HTTP/1.1`, `HTTP/2.0`).
#[cfg(any(feature = "events", feature = "access-log"))]
pub(crate) fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// The claims of a verified JWT and the scopes it grants, inserted by the JWT
/// authorizer. Cheap to clone.
#[derive(Clone, PartialEq)]
pub struct JwtClaims {
    inner: Arc<ClaimsInner>,
}

#[derive(PartialEq)]
struct ClaimsInner {
    claims: Map<String, Value>,
    scopes: Vec<String>,
}

impl JwtClaims {
    /// Claims and the scopes read from their `scope` / `scp` claim.
    #[must_use]
    pub fn new(claims: Map<String, Value>, scopes: Vec<String>) -> Self {
        Self {
            inner: Arc::new(ClaimsInner { claims, scopes }),
        }
    }

    /// All claims.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.inner.claims
    }

    /// One claim.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.inner.claims.get(name)
    }

    /// The `sub` claim, when it is a string.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.get("sub").and_then(Value::as_str)
    }

    /// The `iss` claim, when it is a string.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.get("iss").and_then(Value::as_str)
    }

    /// The scopes the token grants.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }
}

impl fmt::Debug for JwtClaims {
    // Claims are personal data: show which, not their values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtClaims")
            .field("claims", &self.inner.claims.keys().collect::<Vec<_>>())
            .field("scopes", &self.inner.scopes)
            .finish()
    }
}

/// What a custom (Lambda) authorizer answered: the principal, its context and
/// the API key to meter the request against. Cheap to clone.
#[derive(Clone, PartialEq)]
pub struct AuthorizerContext {
    inner: Arc<AuthorizerInner>,
}

#[derive(PartialEq)]
struct AuthorizerInner {
    principal_id: Option<String>,
    context: Map<String, Value>,
    usage_identifier_key: Option<String>,
}

impl AuthorizerContext {
    /// A context for `principal_id` (absent for 2.0 simple responses).
    #[must_use]
    pub fn new(
        principal_id: Option<String>,
        context: Map<String, Value>,
        usage_identifier_key: Option<String>,
    ) -> Self {
        Self {
            inner: Arc::new(AuthorizerInner {
                principal_id,
                context,
                usage_identifier_key,
            }),
        }
    }

    /// The authorizer's `principalId`.
    #[must_use]
    pub fn principal_id(&self) -> Option<&str> {
        self.inner.principal_id.as_deref()
    }

    /// The authorizer's `context`.
    #[must_use]
    pub fn context(&self) -> &Map<String, Value> {
        &self.inner.context
    }

    /// The authorizer's `usageIdentifierKey`: an API key value for usage plans
    /// whose key source is the authorizer.
    #[must_use]
    pub fn usage_identifier_key(&self) -> Option<&str> {
        self.inner.usage_identifier_key.as_deref()
    }
}

impl fmt::Debug for AuthorizerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizerContext")
            .field("principal_id", &self.inner.principal_id)
            .field("context", &self.inner.context.keys().collect::<Vec<_>>())
            .field(
                "usage_identifier_key",
                &self
                    .inner
                    .usage_identifier_key
                    .as_ref()
                    .map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The API key a request was metered against, inserted by the usage plan.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyIdentity {
    inner: Arc<ApiKeyInner>,
}

#[derive(PartialEq, Eq)]
struct ApiKeyInner {
    key_id: String,
    api_key: String,
    plan_id: String,
}

impl ApiKeyIdentity {
    /// The key `key_id` with value `api_key`, in usage plan `plan_id`.
    #[must_use]
    pub fn new(
        key_id: impl Into<String>,
        api_key: impl Into<String>,
        plan_id: impl Into<String>,
    ) -> Self {
        Self {
            inner: Arc::new(ApiKeyInner {
                key_id: key_id.into(),
                api_key: api_key.into(),
                plan_id: plan_id.into(),
            }),
        }
    }

    /// The key's id (`identity.apiKeyId`).
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.inner.key_id
    }

    /// The key's value (`identity.apiKey`). Never log it.
    #[must_use]
    pub fn api_key(&self) -> &str {
        &self.inner.api_key
    }

    /// The usage plan's id.
    #[must_use]
    pub fn plan_id(&self) -> &str {
        &self.inner.plan_id
    }
}

impl fmt::Debug for ApiKeyIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyIdentity")
            .field("key_id", &self.inner.key_id)
            .field("api_key", &"<redacted>")
            .field("plan_id", &self.inner.plan_id)
            .finish()
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::{ApiKeyIdentity, AuthorizerContext, JwtClaims, RequestId};
    use crate::problem::{GatewayResponseType, GatewayResponses, Rejection};

    /// The rejection of an identity extractor whose layer is missing: a 500
    /// `API_CONFIGURATION_ERROR` problem naming the layer to add.
    #[derive(Debug)]
    pub struct MissingExtension {
        extension: &'static str,
        layer: &'static str,
        request_id: Option<RequestId>,
    }

    impl MissingExtension {
        /// The missing extension's type name.
        #[must_use]
        pub fn extension(&self) -> &'static str {
            self.extension
        }

        /// The layer that inserts it.
        #[must_use]
        pub fn layer(&self) -> &'static str {
            self.layer
        }
    }

    impl std::fmt::Display for MissingExtension {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "`{}` is missing: add `{}` in front of this handler",
                self.extension, self.layer
            )
        }
    }

    impl std::error::Error for MissingExtension {}

    impl IntoResponse for MissingExtension {
        fn into_response(self) -> Response {
            tracing::error!(
                extension = self.extension,
                layer = self.layer,
                "handler extracted a missing extension"
            );
            let rejection = Rejection::new(GatewayResponseType::ApiConfigurationError)
                .with_problem_type("urn:apigw:problem:api-configuration-error:missing-extension")
                .with_detail(self.to_string());
            let id = self.request_id.unwrap_or_default();
            GatewayResponses::default().render(&rejection, Some(&id))
        }
    }

    macro_rules! extension_extractor {
        ($ty:ty, $layer:literal) => {
            impl<S: Send + Sync> FromRequestParts<S> for $ty {
                type Rejection = MissingExtension;

                async fn from_request_parts(
                    parts: &mut Parts,
                    _state: &S,
                ) -> Result<Self, Self::Rejection> {
                    parts
                        .extensions
                        .get::<$ty>()
                        .cloned()
                        .ok_or_else(|| MissingExtension {
                            extension: stringify!($ty),
                            layer: $layer,
                            request_id: RequestId::find(&parts.extensions, &parts.headers),
                        })
                }
            }

            impl<S: Send + Sync> OptionalFromRequestParts<S> for $ty {
                type Rejection = std::convert::Infallible;

                async fn from_request_parts(
                    parts: &mut Parts,
                    _state: &S,
                ) -> Result<Option<Self>, Self::Rejection> {
                    Ok(parts.extensions.get::<$ty>().cloned())
                }
            }
        };
    }

    extension_extractor!(JwtClaims, "JwtAuthorizerLayer");
    extension_extractor!(AuthorizerContext, "LambdaAuthorizerCacheLayer");
    extension_extractor!(ApiKeyIdentity, "UsagePlanLayer");

    /// Never fails: the id a layer set, the `x-request-id` header, or a fresh
    /// one (then inserted, so later extractions agree), as
    /// [`RequestId::get_or_insert`] finds it.
    impl<S: Send + Sync> FromRequestParts<S> for RequestId {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            Ok(RequestId::find(&parts.extensions, &parts.headers)
                .unwrap_or_else(|| RequestId::insert_fresh(&mut parts.extensions)))
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::MissingExtension;

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn request_id_is_taken_from_the_x_request_id_header() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("abc-123"));
        let id = RequestId::find(&Extensions::new(), &headers).unwrap();
        assert_eq!(id.as_str(), "abc-123");
    }

    #[test]
    fn request_id_extension_wins_over_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("from-header"));
        let mut extensions = Extensions::new();
        extensions.insert(RequestId::parse("from-layer").unwrap());
        assert_eq!(
            RequestId::find(&extensions, &headers).unwrap().as_str(),
            "from-layer"
        );
    }

    #[test]
    fn oversized_or_invisible_request_ids_are_refused() {
        assert!(RequestId::parse(&"a".repeat(129)).is_none());
        assert!(RequestId::parse("has space").is_none());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse(&"a".repeat(128)).is_some());
    }

    #[test]
    fn fresh_request_ids_are_uuids() {
        let id = RequestId::new();
        assert_eq!(id.as_str().len(), 36);
        assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
        assert_ne!(id, RequestId::new());
    }

    #[test]
    fn request_ids_share_their_header_value() {
        let id = RequestId::new();
        assert_eq!(id.header_value().as_bytes(), id.as_str().as_bytes());
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, id.header_value());
        let found = RequestId::find(&Extensions::new(), &headers).unwrap();
        assert_eq!(found, id);
        assert_eq!(found.to_string(), id.as_str());
        // Header values that are no request id: obs-text, spaces, empty.
        for bad in [&b"caf\xc3\xa9"[..], b"a b", b""] {
            let value = HeaderValue::from_bytes(bad).unwrap();
            assert!(RequestId::from_header_value(&value).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn get_or_insert_keeps_the_same_id_for_the_request() {
        let mut request = http::Request::new(());
        let first = RequestId::get_or_insert(&mut request);
        assert_eq!(RequestId::get_or_insert(&mut request), first);
        assert_eq!(
            RequestId::find(request.extensions(), request.headers()),
            Some(first)
        );
        // From the header: the same id every time, and for `find` too.
        let mut request = http::Request::new(());
        request
            .headers_mut()
            .insert(REQUEST_ID_HEADER, HeaderValue::from_static("from-header"));
        assert_eq!(
            RequestId::get_or_insert(&mut request).as_str(),
            "from-header"
        );
        assert_eq!(
            RequestId::get_or_insert(&mut request).as_str(),
            "from-header"
        );
        assert_eq!(
            RequestId::find(request.extensions(), request.headers())
                .unwrap()
                .as_str(),
            "from-header"
        );
    }

    #[test]
    fn request_ids_take_every_visible_ascii_byte_and_no_other() {
        for byte in 0..=u8::MAX {
            let value = HeaderValue::from_bytes(&[b'a', byte, b'z']);
            let taken = value.ok().and_then(|v| RequestId::from_header_value(&v));
            assert_eq!(taken.is_some(), byte.is_ascii_graphic(), "byte {byte:#04x}");
        }
    }

    #[test]
    fn request_id_as_uri_reference_escapes_what_a_uri_cannot_hold() {
        assert_eq!(
            RequestId::parse("a/b?c#d").unwrap().as_uri_reference(),
            "a%2Fb%3Fc%23d"
        );
        assert_eq!(RequestId::parse("a:b").unwrap().as_uri_reference(), "a%3Ab");
    }

    #[test]
    fn peer_ip_reads_socket_addr_and_ip_addr_extensions() {
        let mut extensions = Extensions::new();
        assert_eq!(peer_ip(&extensions), None);
        extensions.insert(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(peer_ip(&extensions), Some(IpAddr::from([10, 0, 0, 1])));
        extensions.insert(SocketAddr::from(([192, 0, 2, 7], 443)));
        assert_eq!(peer_ip(&extensions), Some(IpAddr::from([192, 0, 2, 7])));
        #[cfg(feature = "axum")]
        {
            extensions.insert(axum::extract::ConnectInfo(SocketAddr::from((
                [198, 51, 100, 1],
                80,
            ))));
            assert_eq!(peer_ip(&extensions), Some(IpAddr::from([198, 51, 100, 1])));
        }
    }

    #[test]
    fn debug_output_redacts_secrets_and_claim_values() {
        let key = ApiKeyIdentity::new("k1", "supersecretvalue1234", "plan");
        assert!(!format!("{key:?}").contains("supersecret"));
        let mut claims = Map::new();
        claims.insert("email".into(), Value::from("alice@example.com"));
        let claims = JwtClaims::new(claims, vec![]);
        assert!(!format!("{claims:?}").contains("alice@"));
        let ctx =
            AuthorizerContext::new(Some("p".into()), Map::new(), Some("secretkeyvalue".into()));
        assert!(!format!("{ctx:?}").contains("secretkeyvalue"));
    }
}
