//! Whose bucket a request takes a token from.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName, Method, Uri};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::identity::{ApiKeyIdentity, AuthorizerContext, JwtClaims};
use crate::route::RouteKey;
use crate::store::BucketKey;

/// What a key extractor sees of a request: its head, and the route it
/// matched when one is known.
#[derive(Clone, Copy, Debug)]
pub struct RequestInfo<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) extensions: &'a Extensions,
    pub(crate) route: Option<&'a RouteKey>,
}

impl<'a> RequestInfo<'a> {
    /// The view of a request, with the route it matched.
    #[must_use]
    pub fn new<B>(request: &'a http::Request<B>, route: Option<&'a RouteKey>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
            route,
        }
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The URI.
    #[must_use]
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The headers.
    #[must_use]
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The extensions (identity, route match, peer address).
    #[must_use]
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// The matched route key, when known.
    #[must_use]
    pub fn route(&self) -> Option<&'a RouteKey> {
        self.route
    }
}

/// Picks the bucket for a request. `None` puts the request in the shared
/// bucket of requests without a key ([`BucketKey::Global`] of the limit),
/// so leaving a key out never buys a fresh bucket.
///
/// Closures `Fn(&RequestInfo<'_>) -> Option<BucketKey>` implement it.
pub trait ExtractKey: Send + Sync + 'static {
    /// The request's bucket key.
    fn extract(&self, request: &RequestInfo<'_>) -> Option<BucketKey>;
}

impl<F> ExtractKey for F
where
    F: Fn(&RequestInfo<'_>) -> Option<BucketKey> + Send + Sync + 'static,
{
    fn extract(&self, request: &RequestInfo<'_>) -> Option<BucketKey> {
        self(request)
    }
}

/// The built-in keys, as configuration names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum KeySource {
    /// One bucket for the whole stage ([`Stage`]). Default.
    #[default]
    Stage,
    /// One bucket per route key ([`Route`]): API Gateway's per-method limits.
    Route,
    /// One bucket per client IP ([`SourceIp`]).
    ClientIp,
    /// One bucket per API key ([`ApiKeyHeader`]).
    ApiKey,
    /// One bucket per principal ([`Principal`]).
    Principal,
}

/// One bucket for every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stage;

impl ExtractKey for Stage {
    fn extract(&self, _: &RequestInfo<'_>) -> Option<BucketKey> {
        Some(BucketKey::Global)
    }
}

/// One bucket per matched route key (`GET /orders/{id}`); requests that
/// matched no route share one bucket.
#[derive(Clone, Copy, Debug, Default)]
pub struct Route;

impl Route {
    /// The bucket of `route`.
    pub(crate) fn bucket_of(route: &RouteKey) -> BucketKey {
        BucketKey::text(route.to_string())
    }
}

impl ExtractKey for Route {
    fn extract(&self, request: &RequestInfo<'_>) -> Option<BucketKey> {
        request.route.map(Self::bucket_of)
    }
}

/// One bucket per principal: the JWT `sub`, else the custom authorizer's
/// `principalId`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Principal;

impl ExtractKey for Principal {
    fn extract(&self, request: &RequestInfo<'_>) -> Option<BucketKey> {
        let extensions = request.extensions;
        extensions
            .get::<JwtClaims>()
            .and_then(JwtClaims::subject)
            .or_else(|| {
                extensions
                    .get::<AuthorizerContext>()
                    .and_then(AuthorizerContext::principal_id)
            })
            .map(BucketKey::text)
    }
}

/// One bucket per API key: the key id the usage plan established
/// ([`ApiKeyIdentity`]), else the value of the API key header.
///
/// Anyone can invent header values; behind a [`UsagePlan`] only known keys
/// reach this layer. Without one, the bounded key map keeps memory in check
/// but each invented key gets a fresh bucket.
///
/// [`UsagePlan`]: crate::usage_plan::UsagePlan
#[derive(Clone, Debug)]
pub struct ApiKeyHeader {
    header: HeaderName,
}

impl ApiKeyHeader {
    /// Reads `x-api-key`.
    #[must_use]
    pub fn new() -> Self {
        Self::with_header(HeaderName::from_static("x-api-key"))
    }

    /// Reads `header`.
    #[must_use]
    pub fn with_header(header: HeaderName) -> Self {
        Self { header }
    }
}

impl Default for ApiKeyHeader {
    fn default() -> Self {
        Self::new()
    }
}

impl ExtractKey for ApiKeyHeader {
    fn extract(&self, request: &RequestInfo<'_>) -> Option<BucketKey> {
        if let Some(identity) = request.extensions.get::<ApiKeyIdentity>() {
            return Some(BucketKey::text(identity.key_id()));
        }
        let value = request.headers.get(&self.header)?.to_str().ok()?;
        (!value.is_empty()).then(|| BucketKey::text(value))
    }
}

/// An address or CIDR block of proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// Whether `ip` is in this block.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for TrustedProxy {
    type Err = ConfigError;

    /// `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::new(format!("trusted proxy `{s}` is not an IP or CIDR"));
        let (ip, prefix) = match s.trim().split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix.parse::<u8>().map_err(|_| invalid())?)),
            None => (s.trim(), None),
        };
        let network = canonical(ip.parse::<IpAddr>().map_err(|_| invalid())?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(invalid());
        }
        Ok(Self { network, prefix })
    }
}

impl fmt::Debug for TrustedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[inline]
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Which header trusted proxies name the client in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: <client>, <proxy1>, …` (what API Gateway, ALB and
    /// most proxies send). Default.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=<client>;proto=https, for="[2001:db8::1]:4711"`:
    /// the `for` parameter of each element.
    Forwarded,
}

/// One bucket per client IP: the peer address of the connection (axum's
/// `ConnectInfo<SocketAddr>` or a `SocketAddr` request extension), and the
/// forwarding header ([`ForwardedHeader`]: `X-Forwarded-For` by default, or
/// RFC 7239 `Forwarded`) only when the peer is a configured trusted proxy.
///
/// With trusted proxies, the client is the rightmost address in the header
/// that is not itself a trusted proxy, so a client that sends its own header
/// cannot pick its bucket. An entry that is not an address (garbage,
/// `Forwarded`'s `unknown` or an obfuscated `_name`) ends the walk: the last
/// address read is the client. Read only the header your proxies write: one
/// they pass through untouched is the client's to forge. Without trusted
/// proxies, headers are ignored. A request with no peer address shares the
/// keyless bucket.
#[derive(Clone, Debug, Default)]
pub struct SourceIp {
    trusted: Arc<[TrustedProxy]>,
    header: ForwardedHeader,
}

impl SourceIp {
    /// The peer address only.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Believes `X-Forwarded-For` from these proxies.
    #[must_use]
    pub fn trusting(trusted: impl IntoIterator<Item = TrustedProxy>) -> Self {
        Self {
            trusted: trusted.into_iter().collect(),
            header: ForwardedHeader::XForwardedFor,
        }
    }

    /// Reads `header` from trusted proxies instead of `X-Forwarded-For`.
    #[must_use]
    pub fn with_header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|proxy| proxy.contains(ip))
    }

    /// The client address of a request.
    #[must_use]
    #[inline]
    pub fn client_ip(&self, request: &RequestInfo<'_>) -> Option<IpAddr> {
        self.client_ip_of(request.extensions, request.headers)
    }

    /// [`client_ip`](Self::client_ip) from the parts it reads: the layer's
    /// call needs no [`RequestInfo`] in memory for it.
    #[inline]
    pub(crate) fn client_ip_of(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
    ) -> Option<IpAddr> {
        let client = canonical(peer_ip(extensions)?);
        if self.trusted.is_empty() || !self.is_trusted(client) {
            return Some(client);
        }
        Some(self.forwarded_client(headers, client))
    }

    /// The client a trusted proxy at `client` forwarded the request for.
    #[cold]
    fn forwarded_client(&self, headers: &HeaderMap, mut client: IpAddr) -> IpAddr {
        let name = match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        let values = headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok());
        let hops: Vec<Option<IpAddr>> = match self.header {
            ForwardedHeader::XForwardedFor => values
                .flat_map(|value| value.split(','))
                .map(|hop| hop.trim().parse().ok())
                .collect(),
            ForwardedHeader::Forwarded => values.flat_map(forwarded_for).collect(),
        };
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else {
                break;
            };
            client = canonical(ip);
            if !self.is_trusted(client) {
                break;
            }
        }
        client
    }
}

/// The `for` node of each element of an RFC 7239 `Forwarded` value, in
/// order; `None` for an element whose `for` is missing, `unknown`,
/// obfuscated or malformed.
fn forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    split_unquoted(value, ',')
        .into_iter()
        .map(|element| {
            split_unquoted(element, ';').into_iter().find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                if !name.trim().eq_ignore_ascii_case("for") {
                    return None;
                }
                Some(forwarded_node(value.trim()))
            })?
        })
        .collect()
}

/// `192.0.2.1`, `"192.0.2.1:80"`, `"[2001:db8::1]"`, `"[2001:db8::1]:80"`.
fn forwarded_node(value: &str) -> Option<IpAddr> {
    let node = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    if let Some(rest) = node.strip_prefix('[') {
        let (v6, port) = rest.split_once(']')?;
        if !(port.is_empty() || port.starts_with(':')) {
            return None;
        }
        return v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let host = node.split_once(':').map_or(node, |(host, _)| host);
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Splits on `separator` outside double-quoted strings (with `\` escapes).
fn split_unquoted(value: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

impl ExtractKey for SourceIp {
    fn extract(&self, request: &RequestInfo<'_>) -> Option<BucketKey> {
        self.client_ip(request).map(BucketKey::Ip)
    }
}

use crate::identity::peer_ip;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn request(peer: &str, xff: Option<&str>) -> http::Request<()> {
        let mut builder = http::Request::get("/");
        if let Some(xff) = xff {
            builder = builder.header("x-forwarded-for", xff);
        }
        let mut request = builder.body(()).unwrap();
        request
            .extensions_mut()
            .insert(peer.parse::<SocketAddr>().unwrap());
        request
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn untrusted_peer_forwarded_for_is_ignored() {
        let r = request("203.0.113.9:5000", Some("1.2.3.4"));
        assert_eq!(
            SourceIp::new().client_ip(&RequestInfo::new(&r, None)),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_proxy_forwarded_for_gives_rightmost_untrusted_hop() {
        let extractor = SourceIp::trusting([
            "10.0.0.0/8".parse().unwrap(),
            "192.168.1.1".parse().unwrap(),
        ]);
        let r = request("10.1.2.3:443", Some("6.6.6.6, 198.51.100.7, 192.168.1.1"));
        assert_eq!(
            extractor.client_ip(&RequestInfo::new(&r, None)),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn trusted_proxy_with_garbage_hop_stops_at_the_last_parsed_address() {
        let extractor = SourceIp::trusting(["10.0.0.0/8".parse().unwrap()]);
        let r = request("10.1.2.3:443", Some("nonsense, 10.9.9.9"));
        assert_eq!(
            extractor.client_ip(&RequestInfo::new(&r, None)),
            ip("10.9.9.9")
        );
    }

    fn forwarded(peer: &str, value: &str) -> http::Request<()> {
        let mut request = http::Request::get("/")
            .header("forwarded", value)
            .header("x-forwarded-for", "6.6.6.6")
            .body(())
            .unwrap();
        request
            .extensions_mut()
            .insert(peer.parse::<SocketAddr>().unwrap());
        request
    }

    #[test]
    fn rfc_7239_forwarded_from_trusted_proxies() {
        let extractor = SourceIp::trusting(["10.0.0.0/8".parse().unwrap()])
            .with_header(ForwardedHeader::Forwarded);
        let client = |peer: &str, value: &str| {
            extractor.client_ip(&RequestInfo::new(&forwarded(peer, value), None))
        };
        // The rightmost untrusted `for`; X-Forwarded-For is not read.
        assert_eq!(
            client(
                "10.1.2.3:443",
                "for=6.6.6.6, for=198.51.100.7;proto=https;by=10.0.0.1, For=\"10.0.0.2:8080\""
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client("10.1.2.3:443", "for=\"[2001:db8:cafe::17]:4711\""),
            ip("2001:db8:cafe::17")
        );
        // `unknown`, obfuscated and malformed nodes end the walk.
        assert_eq!(
            client("10.1.2.3:443", "for=6.6.6.6, for=unknown, for=10.9.9.9"),
            ip("10.9.9.9")
        );
        assert_eq!(
            client("10.1.2.3:443", "for=6.6.6.6, for=_hidden"),
            ip("10.1.2.3")
        );
        assert_eq!(
            client("10.1.2.3:443", "for=\"[2001:db8::1]x\""),
            ip("10.1.2.3")
        );
        // A comma inside a quoted string splits nothing.
        assert_eq!(
            client("10.1.2.3:443", "for=192.0.2.9;x=\"a,for=6.6.6.6\""),
            ip("192.0.2.9")
        );
        // From an untrusted peer, the header is ignored.
        assert_eq!(client("203.0.113.9:1", "for=1.2.3.4"), ip("203.0.113.9"));
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let net: TrustedProxy = "fd00::/8".parse().unwrap();
        assert!(net.contains("fd12::1".parse().unwrap()));
        assert!(!net.contains("fe80::1".parse().unwrap()));
        let v4: TrustedProxy = "::ffff:10.0.0.0/8"
            .parse()
            .unwrap_or("10.0.0.0/8".parse().unwrap());
        assert!(v4.contains("::ffff:10.2.3.4".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<TrustedProxy>().is_err());
        assert!("not-an-ip".parse::<TrustedProxy>().is_err());
    }
}
