//! What may be stored and for how long: `Cache-Control`, `Vary`, statuses.
//! Pure functions over headers, no tower types.

use std::time::Duration;

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The `Cache-Control` directives this cache acts on (RFC 9111 §5.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CacheControl {
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    pub(crate) private: bool,
    pub(crate) max_age: Option<u64>,
    pub(crate) s_maxage: Option<u64>,
}

impl CacheControl {
    /// Parses every `Cache-Control` field of `headers`. Directive names are
    /// case-insensitive; an unparsable `max-age` counts as 0 (RFC 9111
    /// §4.2.1: treat an invalid freshness lifetime as stale).
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut cc = Self::default();
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(text) = value.to_str() else {
                // Unreadable directives: be conservative.
                cc.no_store = true;
                continue;
            };
            for directive in split_list(text) {
                let (name, arg) = match directive.split_once('=') {
                    Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
                    None => (directive, None),
                };
                let seconds = || arg.and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
                if name.eq_ignore_ascii_case("no-store") {
                    cc.no_store = true;
                } else if name.eq_ignore_ascii_case("no-cache") {
                    cc.no_cache = true;
                } else if name.eq_ignore_ascii_case("private") {
                    cc.private = true;
                } else if name.eq_ignore_ascii_case("max-age") {
                    cc.max_age = Some(cc.max_age.map_or(seconds(), |m| m.min(seconds())));
                } else if name.eq_ignore_ascii_case("s-maxage") {
                    cc.s_maxage = Some(cc.s_maxage.map_or(seconds(), |m| m.min(seconds())));
                }
            }
        }
        cc
    }

    /// The freshness lifetime the backend allows a shared cache:
    /// `s-maxage`, else `max-age` (RFC 9111 §4.2.1).
    pub(crate) fn shared_max_age(&self) -> Option<Duration> {
        self.s_maxage.or(self.max_age).map(Duration::from_secs)
    }
}

/// Whether a client's request asks to refetch: `Cache-Control: max-age=0`,
/// API Gateway's invalidation header.
pub(crate) fn requests_invalidation(headers: &HeaderMap) -> bool {
    headers.contains_key(CACHE_CONTROL) && CacheControl::parse(headers).max_age == Some(0)
}

/// Why a response was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotStored {
    Status,
    SetCookie,
    NoStore,
    Private,
    NoCache,
    ZeroMaxAge,
    VaryStar,
}

/// Whether a response with `status` and `headers` may be stored, and for how
/// long: the route's `ttl`, shortened by the backend's `s-maxage` / `max-age`
/// unless `ignore_cache_control` is set.
///
/// `Set-Cookie` and `Vary: *` are never stored, whatever the switch says.
pub(crate) fn storable(
    status: StatusCode,
    headers: &HeaderMap,
    statuses: &StatusSet,
    ttl: Duration,
    ignore_cache_control: bool,
) -> Result<Duration, NotStored> {
    if !statuses.contains(status) {
        return Err(NotStored::Status);
    }
    if headers.contains_key(SET_COOKIE) {
        return Err(NotStored::SetCookie);
    }
    if matches!(Vary::parse(headers), Vary::Any) {
        return Err(NotStored::VaryStar);
    }
    if ignore_cache_control {
        return Ok(ttl);
    }
    let cc = CacheControl::parse(headers);
    if cc.no_store {
        return Err(NotStored::NoStore);
    }
    if cc.private {
        return Err(NotStored::Private);
    }
    if cc.no_cache {
        return Err(NotStored::NoCache);
    }
    let ttl = cc.shared_max_age().map_or(ttl, |max| max.min(ttl));
    if ttl.is_zero() {
        return Err(NotStored::ZeroMaxAge);
    }
    Ok(ttl)
}

/// A response's `Vary`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Vary {
    /// `Vary: *`: never matches (RFC 9111 §4.1).
    Any,
    /// The nominated request headers (possibly none).
    Headers(Vec<HeaderName>),
}

impl Vary {
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut names = Vec::new();
        for value in headers.get_all(VARY) {
            let Ok(text) = value.to_str() else {
                return Vary::Any;
            };
            for name in split_list(text) {
                if name == "*" {
                    return Vary::Any;
                }
                match HeaderName::from_bytes(name.as_bytes()) {
                    Ok(name) if !names.contains(&name) => names.push(name),
                    Ok(_) => {}
                    Err(_) => return Vary::Any,
                }
            }
        }
        Vary::Headers(names)
    }
}

/// The request's values of the headers a response varies on, to compare a
/// later request with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VaryValues(Vec<(HeaderName, Vec<HeaderValue>)>);

impl VaryValues {
    /// The values of `names` in `request`.
    pub(crate) fn capture(names: &[HeaderName], request: &HeaderMap) -> Self {
        Self(
            names
                .iter()
                .map(|name| {
                    (
                        name.clone(),
                        request.get_all(name).iter().cloned().collect(),
                    )
                })
                .collect(),
        )
    }

    /// Whether `request` nominates the same values (RFC 9111 §4.1: all
    /// fields match, in order, byte for byte; absent matches only absent).
    pub(crate) fn matches(&self, request: &HeaderMap) -> bool {
        self.0.iter().all(|(name, values)| {
            let mut current = request.get_all(name).iter();
            values.iter().all(|v| current.next() == Some(v)) && current.next().is_none()
        })
    }
}

/// A set of HTTP statuses (100–999).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StatusSet([u64; 15]);

impl StatusSet {
    pub(crate) fn empty() -> Self {
        Self([0; 15])
    }

    /// Every 2xx status except 206 Partial Content (a part is not the
    /// resource).
    pub(crate) fn successful() -> Self {
        let mut set = Self::empty();
        for code in 200..300 {
            if code != 206 {
                set.insert_code(code);
            }
        }
        set
    }

    pub(crate) fn insert_code(&mut self, code: u16) {
        let i = usize::from(code.saturating_sub(100));
        if let Some(word) = self.0.get_mut(i / 64) {
            *word |= 1 << (i % 64);
        }
    }

    pub(crate) fn contains(&self, status: StatusCode) -> bool {
        let i = usize::from(status.as_u16().saturating_sub(100));
        self.0
            .get(i / 64)
            .is_some_and(|word| word & (1 << (i % 64)) != 0)
    }

    fn codes(&self) -> impl Iterator<Item = u16> + '_ {
        (100u16..1000).filter(|&c| StatusCode::from_u16(c).is_ok_and(|s| self.contains(s)))
    }
}

impl std::fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.codes()).finish()
    }
}

/// Items of a comma-separated header list, trimmed, empties dropped.
fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const TTL: Duration = Duration::from_secs(300);

    fn store(pairs: &[(&'static str, &'static str)]) -> Result<Duration, NotStored> {
        storable(
            StatusCode::OK,
            &headers(pairs),
            &StatusSet::successful(),
            TTL,
            false,
        )
    }

    #[test]
    fn cache_control_directives_are_case_insensitive_and_span_fields() {
        let cc = CacheControl::parse(&headers(&[
            ("cache-control", "Public, MAX-AGE=60"),
            ("cache-control", "s-maxage=\"30\", No-Store"),
        ]));
        assert_eq!(cc.max_age, Some(60));
        assert_eq!(cc.s_maxage, Some(30));
        assert!(cc.no_store);
        assert_eq!(cc.shared_max_age(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn an_invalid_max_age_counts_as_zero() {
        let cc = CacheControl::parse(&headers(&[("cache-control", "max-age=soon")]));
        assert_eq!(cc.max_age, Some(0));
    }

    #[test]
    fn no_store_private_no_cache_and_set_cookie_are_never_stored() {
        assert_eq!(
            store(&[("cache-control", "no-store")]),
            Err(NotStored::NoStore)
        );
        assert_eq!(
            store(&[("cache-control", "private, max-age=60")]),
            Err(NotStored::Private)
        );
        assert_eq!(
            store(&[("cache-control", "no-cache")]),
            Err(NotStored::NoCache)
        );
        assert_eq!(
            store(&[("set-cookie", "session=1")]),
            Err(NotStored::SetCookie)
        );
    }

    #[test]
    fn set_cookie_and_vary_star_are_refused_even_when_cache_control_is_ignored() {
        let statuses = StatusSet::successful();
        let cookie = headers(&[("set-cookie", "a=b"), ("cache-control", "public")]);
        assert_eq!(
            storable(StatusCode::OK, &cookie, &statuses, TTL, true),
            Err(NotStored::SetCookie)
        );
        let vary = headers(&[("vary", "accept, *")]);
        assert_eq!(
            storable(StatusCode::OK, &vary, &statuses, TTL, true),
            Err(NotStored::VaryStar)
        );
        let private = headers(&[("cache-control", "private, no-store")]);
        assert_eq!(
            storable(StatusCode::OK, &private, &statuses, TTL, true),
            Ok(TTL)
        );
    }

    #[test]
    fn backend_max_age_shortens_the_ttl_but_never_lengthens_it() {
        assert_eq!(
            store(&[("cache-control", "max-age=60")]),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(store(&[("cache-control", "max-age=86400")]), Ok(TTL));
        assert_eq!(
            store(&[("cache-control", "max-age=0")]),
            Err(NotStored::ZeroMaxAge)
        );
        assert_eq!(store(&[]), Ok(TTL));
    }

    #[test]
    fn only_2xx_but_206_by_default() {
        let set = StatusSet::successful();
        assert!(set.contains(StatusCode::OK));
        assert!(set.contains(StatusCode::NO_CONTENT));
        assert!(!set.contains(StatusCode::PARTIAL_CONTENT));
        assert!(!set.contains(StatusCode::NOT_FOUND));
        assert!(!set.contains(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!set.contains(StatusCode::MOVED_PERMANENTLY));
        let mut custom = StatusSet::empty();
        custom.insert_code(404);
        assert!(custom.contains(StatusCode::NOT_FOUND));
        assert_eq!(format!("{custom:?}"), "{404}");
    }

    #[test]
    fn request_max_age_zero_is_an_invalidation() {
        assert!(requests_invalidation(&headers(&[(
            "cache-control",
            "max-age=0"
        )])));
        assert!(!requests_invalidation(&headers(&[(
            "cache-control",
            "max-age=10"
        )])));
        assert!(!requests_invalidation(&HeaderMap::new()));
    }

    // RFC 9111 §4.1, after rusty-http-cache-semantics' tests/vary.rs.
    #[test]
    fn vary_star_never_matches() {
        assert_eq!(Vary::parse(&headers(&[("vary", "*")])), Vary::Any);
        assert_eq!(Vary::parse(&headers(&[("vary", "Accept, *")])), Vary::Any);
    }

    #[test]
    fn vary_names_are_case_insensitive_and_whitespace_tolerant() {
        assert_eq!(
            Vary::parse(&headers(&[
                ("vary", " Accept ,ACCEPT-Language"),
                ("vary", "accept")
            ])),
            Vary::Headers(vec![
                HeaderName::from_static("accept"),
                HeaderName::from_static("accept-language")
            ])
        );
    }

    #[test]
    fn vary_values_match_exactly_and_absence_is_meaningful() {
        let names = [HeaderName::from_static("accept")];
        let json = headers(&[("accept", "application/json")]);
        let captured = VaryValues::capture(&names, &json);
        assert!(captured.matches(&json));
        assert!(!captured.matches(&headers(&[("accept", "Application/JSON")])));
        assert!(!captured.matches(&HeaderMap::new()));
        let absent = VaryValues::capture(&names, &HeaderMap::new());
        assert!(absent.matches(&HeaderMap::new()));
        assert!(!absent.matches(&json));
        let two = headers(&[("accept", "a"), ("accept", "b")]);
        let captured = VaryValues::capture(&names, &two);
        assert!(!captured.matches(&headers(&[("accept", "b"), ("accept", "a")])));
        assert!(!captured.matches(&headers(&[("accept", "a")])));
    }
}
