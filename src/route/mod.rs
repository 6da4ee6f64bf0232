//! Routes keyed as API Gateway keys them: `GET /orders/{id}`, `ANY /{proxy+}`,
//! `$default`.
//!
//! Per-route settings (scopes, models, cache on/off, method throttles) live in
//! one [`RouteTable<T>`], matched with [`matchit`] (the router axum uses) under
//! API Gateway's precedence:
//!
//! 1. the most specific path wins, segment by segment: a literal segment beats
//!    a `{param}`, which beats a greedy `{proxy+}`;
//! 2. for equally specific paths, a route for the request's method beats `ANY`;
//! 3. `$default` catches whatever nothing else matched.
//!
//! ```
//! use apigw::route::RouteTable;
//! use http::Method;
//!
//! let table = RouteTable::builder()
//!     .stage("prod")
//!     .route("GET /orders/{id}", "one order")?
//!     .route("ANY /orders/{id}", "any method")?
//!     .route("GET /{proxy+}", "catch-all")?
//!     .route("$default", "fallback")?
//!     .build()?;
//!
//! let (value, matched) = table.lookup(&Method::GET, "/orders/42").unwrap();
//! assert_eq!(*value, "one order");
//! assert_eq!(matched.route_key().to_string(), "GET /orders/{id}");
//! assert_eq!(matched.path_parameter("id"), Some("42"));
//! assert_eq!(matched.stage(), "prod");
//!
//! assert_eq!(*table.lookup(&Method::DELETE, "/orders/42").unwrap().0, "any method");
//! assert_eq!(*table.lookup(&Method::GET, "/a/b/c").unwrap().0, "catch-all");
//! assert_eq!(*table.lookup(&Method::POST, "/a/b/c").unwrap().0, "fallback");
//! # Ok::<(), apigw::ConfigError>(())
//! ```
//!
//! A layer can also be applied per route with axum's `route_layer`, with no
//! route table: [`RouteMatch::from_axum`] builds the match from axum's
//! `MatchedPath`.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use http::Method;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ConfigError;
use crate::prehashed::BuildPassThrough;

mod layer;

pub use layer::{MatchRoute, MatchRouteLayer, Unmatched};

/// The stage name of API Gateway's default stage.
pub const DEFAULT_STAGE: &str = "$default";

/// An API Gateway route key: `METHOD /path`, `ANY /path` or `$default`.
///
/// Path segments are literals, `{name}` parameters, or a final greedy
/// `{name+}` that matches one or more segments.
///
/// Hashing a key costs a few instructions whatever its length: its hash is
/// computed once, when it is made (layers look their per-route settings up
/// by route key on every request).
#[derive(Clone)]
pub struct RouteKey {
    method: Option<Method>,
    path: Option<Arc<str>>,
    /// [`key_hash`] of method and path.
    hash: u64,
}

/// The hash of method and path, computed once per key: std's SipHash-1-3
/// with its fixed keys (route keys come from the configuration, not from
/// clients).
fn key_hash(method: Option<&Method>, path: Option<&str>) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    method.hash(&mut hasher);
    path.hash(&mut hasher);
    hasher.finish()
}

impl PartialEq for RouteKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.method == other.method && self.path == other.path
    }
}

impl Eq for RouteKey {}

impl Hash for RouteKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A map keyed by [`RouteKey`], hashed with its precomputed hash.
pub(crate) type RouteKeyMap<V> = HashMap<RouteKey, V, BuildPassThrough>;

impl RouteKey {
    fn from_parts(method: Option<Method>, path: Option<Arc<str>>) -> Self {
        let hash = key_hash(method.as_ref(), path.as_deref());
        Self { method, path, hash }
    }

    /// `$default`.
    #[must_use]
    pub fn default_route() -> Self {
        Self::from_parts(None, None)
    }

    /// A route for `method` (`None` for `ANY`) and a path template.
    pub fn new(method: Option<Method>, path: &str) -> Result<Self, ConfigError> {
        validate_template(path)?;
        Ok(Self::from_parts(method, Some(Arc::from(path))))
    }

    /// The method; `None` for `ANY` and `$default`.
    #[must_use]
    pub fn method(&self) -> Option<&Method> {
        self.method.as_ref()
    }

    /// The path template (API Gateway's `resource`); `None` for `$default`.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Whether this is `$default`.
    #[must_use]
    pub fn is_default(&self) -> bool {
        self.path.is_none()
    }

    /// Whether the route applies to `method`.
    #[must_use]
    pub fn accepts(&self, method: &Method) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.method, &self.path) {
            (_, None) => f.write_str(DEFAULT_STAGE),
            (None, Some(path)) => write!(f, "ANY {path}"),
            (Some(method), Some(path)) => write!(f, "{method} {path}"),
        }
    }
}

impl fmt::Debug for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RouteKey({self})")
    }
}

impl FromStr for RouteKey {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let s = s.trim();
        if s == "$default" {
            return Ok(Self::default_route());
        }
        let (method, path) = s.split_once(' ').ok_or_else(|| {
            ConfigError::new(format!(
                "route key `{s}` is not `METHOD /path` or `$default`"
            ))
        })?;
        let method = match method {
            "ANY" => None,
            _ => Some(
                Method::from_bytes(method.as_bytes())
                    .ok()
                    .filter(|m| m.as_str().bytes().all(|b| b.is_ascii_uppercase()))
                    .ok_or_else(|| {
                        ConfigError::new(format!("route key `{s}` has an invalid method"))
                    })?,
            ),
        };
        Self::new(method, path.trim())
    }
}

impl Serialize for RouteKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RouteKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Greedy,
    Param,
    Literal,
}

fn segments(template: &str) -> impl Iterator<Item = (Segment, &str)> {
    template.split('/').skip(1).map(|segment| {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            match name.strip_suffix('+') {
                Some(name) => (Segment::Greedy, name),
                None => (Segment::Param, name),
            }
        } else {
            (Segment::Literal, segment)
        }
    })
}

fn validate_template(path: &str) -> Result<(), ConfigError> {
    let invalid = |why: &str| Err(ConfigError::new(format!("route path `{path}` {why}")));
    if !path.starts_with('/') {
        return invalid("must start with `/`");
    }
    if path.contains(char::is_whitespace) {
        return invalid("must not contain whitespace");
    }
    let all: Vec<_> = segments(path).collect();
    for (i, (kind, text)) in all.iter().enumerate() {
        match kind {
            Segment::Literal if text.contains(['{', '}', '*']) => {
                return invalid("has a malformed segment");
            }
            Segment::Param | Segment::Greedy
                if text.is_empty() || !text.bytes().all(is_param_char) =>
            {
                return invalid("has a parameter with an invalid name");
            }
            Segment::Greedy if i + 1 != all.len() => {
                return invalid("has a greedy parameter before its end");
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_param_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// The template in `matchit`'s syntax: `{proxy+}` becomes `{*proxy}`.
fn matchit_template(template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 1);
    for (kind, text) in segments(template) {
        out.push('/');
        match kind {
            Segment::Literal => out.push_str(text),
            Segment::Param => {
                out.push('{');
                out.push_str(text);
                out.push('}');
            }
            Segment::Greedy => {
                out.push_str("{*");
                out.push_str(text);
                out.push('}');
            }
        }
    }
    out
}

/// Orders templates by API Gateway's specificity: greater is more specific.
fn specificity(a: &str, b: &str) -> Ordering {
    let ranks = |t| segments(t).map(|(kind, _)| kind);
    let mut a_ranks = ranks(a);
    let mut b_ranks = ranks(b);
    loop {
        match (a_ranks.next(), b_ranks.next()) {
            (Some(x), Some(y)) if x != y => return x.cmp(&y),
            (Some(_), Some(_)) => {}
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (None, None) => return Ordering::Equal,
        }
    }
}

/// The route a request matched: its route key, path parameters and stage.
///
/// Inserted into request extensions by whatever matched the request; read by
/// every layer with per-route settings and by the Lambda integration
/// (`routeKey`, `resource`, `pathParameters`, `stage`). Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct RouteMatch {
    inner: Arc<MatchInner>,
}

#[derive(PartialEq, Eq)]
struct MatchInner {
    route_key: RouteKey,
    path_parameters: Vec<(String, String)>,
    stage: Arc<str>,
}

impl RouteMatch {
    /// A match of `route_key` with the given (decoded) path parameters.
    #[must_use]
    pub fn new(
        route_key: RouteKey,
        path_parameters: Vec<(String, String)>,
        stage: impl Into<Arc<str>>,
    ) -> Self {
        Self {
            inner: Arc::new(MatchInner {
                route_key,
                path_parameters,
                stage: stage.into(),
            }),
        }
    }

    /// The matched route key, e.g. `GET /orders/{id}`.
    #[must_use]
    pub fn route_key(&self) -> &RouteKey {
        &self.inner.route_key
    }

    /// The path template (API Gateway's `resource`), `None` for `$default`.
    #[must_use]
    pub fn resource(&self) -> Option<&str> {
        self.inner.route_key.path()
    }

    /// The path parameters, percent-decoded, in template order.
    #[must_use]
    pub fn path_parameters(&self) -> &[(String, String)] {
        &self.inner.path_parameters
    }

    /// One path parameter.
    #[must_use]
    pub fn path_parameter(&self, name: &str) -> Option<&str> {
        self.inner
            .path_parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The stage; `$default` unless configured.
    #[must_use]
    pub fn stage(&self) -> &str {
        &self.inner.stage
    }

    /// The stage, shared.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn stage_shared(&self) -> &Arc<str> {
        &self.inner.stage
    }

    /// A match built from an axum route template (`MatchedPath`, e.g.
    /// `/orders/{id}` or `/files/{*rest}`) and the request's path, in `stage`.
    ///
    /// The route key's method is the request's: axum matches methods after
    /// paths, so the route is as specific as the handler that runs.
    /// Returns `None` when the path does not fit the template.
    #[must_use]
    pub fn from_axum(method: &Method, matched_path: &str, path: &str, stage: &str) -> Option<Self> {
        let mut template = String::with_capacity(matched_path.len());
        let mut parameters = Vec::new();
        let mut path_segments = path.strip_prefix('/')?.split('/');
        let mut template_segments = matched_path.strip_prefix('/')?.split('/').peekable();
        while let Some(segment) = template_segments.next() {
            template.push('/');
            if let Some(name) = segment.strip_prefix("{*").and_then(|s| s.strip_suffix('}')) {
                let rest: Vec<&str> = path_segments.by_ref().collect();
                let rest = rest.join("/");
                if rest.is_empty() || template_segments.peek().is_some() {
                    return None;
                }
                template.push('{');
                template.push_str(name);
                template.push_str("+}");
                parameters.push((name.to_owned(), decode(&rest)));
            } else if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let value = path_segments.next().filter(|v| !v.is_empty())?;
                template.push_str(segment);
                parameters.push((name.to_owned(), decode(value)));
            } else {
                if path_segments.next()? != segment {
                    return None;
                }
                template.push_str(segment);
            }
        }
        if path_segments.next().is_some() {
            return None;
        }
        let route_key = RouteKey::from_parts(Some(method.clone()), Some(Arc::from(template)));
        Some(Self::new(route_key, parameters, stage))
    }

    /// The request's match: the `RouteMatch` extension, else one built from
    /// axum's `MatchedPath` (feature `axum`) in the `$default` stage.
    #[must_use]
    pub fn from_request_parts(parts: &http::request::Parts) -> Option<Self> {
        if let Some(matched) = parts.extensions.get::<Self>() {
            return Some(matched.clone());
        }
        #[cfg(feature = "axum")]
        if let Some(matched) = parts.extensions.get::<axum::extract::MatchedPath>() {
            return Self::from_axum(
                &parts.method,
                matched.as_str(),
                parts.uri.path(),
                DEFAULT_STAGE,
            );
        }
        None
    }
}

fn decode(value: &str) -> String {
    percent_decode_str(value).decode_utf8_lossy().into_owned()
}

impl fmt::Debug for RouteMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteMatch")
            .field("route_key", &self.inner.route_key)
            .field("path_parameters", &self.inner.path_parameters)
            .field("stage", &self.inner.stage)
            .finish()
    }
}

/// Per-route values of type `T`, matched with API Gateway's precedence.
///
/// See the [module docs](self). Built once, then shared (`Clone` when `T` is;
/// wrap it in an `Arc` to share a large table).
///
/// A lookup is one `matchit` search over every path template, then a scan of
/// the few routes on the matched path; the [`RouteMatch`] of a route without
/// parameters is built once and shared, so matching it allocates nothing.
#[derive(Clone)]
pub struct RouteTable<T> {
    routes: Vec<(RouteKey, T)>,
    /// Every path template once, with the routes on it. `None` when two
    /// templates that only differ in parameter names sit on different methods
    /// (one router cannot hold both); then every lookup takes the per-method
    /// routers.
    paths: Option<matchit::Router<PathRoutes>>,
    /// One router per method: a handful, searched linearly (cheaper than hashing a `Method`).
    by_method: Vec<(Method, matchit::Router<usize>)>,
    /// Route key → position in `routes`, for matches made elsewhere.
    index: RouteKeyMap<usize>,
    any: matchit::Router<usize>,
    default: Option<usize>,
    /// The match of each route that has no path parameters, built once.
    fixed: Vec<Option<RouteMatch>>,
    stage: Arc<str>,
}

/// The routes on one path template.
#[derive(Clone, Debug, Default)]
struct PathRoutes {
    methods: Vec<(Method, usize)>,
    any: Option<usize>,
}

impl PathRoutes {
    /// The route for `method` on this path: the method's own, else (for
    /// `HEAD`) `GET`'s, else `ANY`.
    fn route_for(&self, method: &Method) -> Option<usize> {
        let own = |wanted: &Method| {
            self.methods
                .iter()
                .find(|(m, _)| m == wanted)
                .map(|&(_, i)| i)
        };
        own(method)
            .or_else(|| {
                (*method == Method::HEAD)
                    .then(|| own(&Method::GET))
                    .flatten()
            })
            .or(self.any)
    }
}

impl<T> RouteTable<T> {
    /// A builder.
    pub fn builder() -> RouteTableBuilder<T> {
        RouteTableBuilder {
            routes: Vec::new(),
            stage: Arc::from(DEFAULT_STAGE),
        }
    }

    /// The stage every match reports.
    #[must_use]
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// Every route and its value, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&RouteKey, &T)> {
        self.routes.iter().map(|(k, v)| (k, v))
    }

    /// The number of routes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table has no route.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The value of exactly this route key.
    #[must_use]
    pub fn get(&self, key: &RouteKey) -> Option<&T> {
        self.index.get(key).map(|&i| &self.routes[i].1)
    }

    /// Matches a request's method and path (the raw, percent-encoded path).
    ///
    /// A `HEAD` request matches `GET` routes when no `HEAD` route fits, as
    /// axum and API Gateway serve `HEAD` from `GET`; the match reports the
    /// `GET` route key.
    #[must_use]
    pub fn lookup(&self, method: &Method, path: &str) -> Option<(&T, RouteMatch)> {
        if let Some(found) = self.paths.as_ref().and_then(|paths| paths.at(path).ok())
            && let Some(index) = found.value.route_for(method)
        {
            return Some(self.matched(index, Some(&found.params)));
        }
        self.lookup_per_method(method, path)
    }

    /// The lookup through the per-method routers: the most specific of the
    /// method's match (for `HEAD`, also `GET`'s) and `ANY`'s, the method's on
    /// a tie; else `$default`. Slower than the single router, and the
    /// reference it must agree with.
    fn lookup_per_method(&self, method: &Method, path: &str) -> Option<(&T, RouteMatch)> {
        let router = |wanted: &Method| {
            self.by_method
                .iter()
                .find(|(m, _)| m == wanted)
                .and_then(|(_, router)| router.at(path).ok())
        };
        let head_as_get = (*method == Method::HEAD)
            .then(|| router(&Method::GET))
            .flatten();
        let candidates = [router(method), head_as_get, self.any.at(path).ok()];
        let mut chosen: Option<matchit::Match<'_, '_, &usize>> = None;
        for candidate in candidates.into_iter().flatten() {
            let better = chosen.as_ref().is_none_or(|best| {
                let best_path = self.routes[*best.value].0.path().unwrap_or_default();
                let path = self.routes[*candidate.value].0.path().unwrap_or_default();
                specificity(path, best_path) == Ordering::Greater
            });
            if better {
                chosen = Some(candidate);
            }
        }
        match chosen {
            Some(found) => Some(self.matched(*found.value, Some(&found.params))),
            None => self.default.map(|index| self.matched(index, None)),
        }
    }

    /// Route `index`'s value and match, with `params` from the router.
    fn matched(&self, index: usize, params: Option<&matchit::Params<'_, '_>>) -> (&T, RouteMatch) {
        let (key, value) = &self.routes[index];
        let matched = match (&self.fixed[index], params) {
            (Some(matched), _) => matched.clone(),
            (None, params) => RouteMatch::new(
                key.clone(),
                params
                    .into_iter()
                    .flat_map(matchit::Params::iter)
                    .map(|(name, value)| (name.to_owned(), decode(value)))
                    .collect(),
                Arc::clone(&self.stage),
            ),
        };
        (value, matched)
    }

    /// The request's route: when an outer layer already matched it (its
    /// [`RouteMatch`] extension), that route's entry in this table, if any —
    /// settings belong to route keys, so a request matched to a route this
    /// table does not list has none here, as in API Gateway; else a match of
    /// its method and path.
    #[must_use]
    pub fn lookup_request(&self, parts: &http::request::Parts) -> Option<(&T, RouteMatch)> {
        if let Some(matched) = parts.extensions.get::<RouteMatch>() {
            return self
                .get(matched.route_key())
                .map(|value| (value, matched.clone()));
        }
        self.lookup(&parts.method, parts.uri.path())
    }
}

impl<T: fmt::Debug> fmt::Debug for RouteTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteTable")
            .field("stage", &self.stage)
            .field("routes", &self.routes)
            .finish()
    }
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            paths: None,
            by_method: Vec::new(),
            index: RouteKeyMap::default(),
            any: matchit::Router::new(),
            default: None,
            fixed: Vec::new(),
            stage: Arc::from(DEFAULT_STAGE),
        }
    }
}

/// Builds a [`RouteTable`].
#[must_use]
pub struct RouteTableBuilder<T> {
    routes: Vec<(RouteKey, T)>,
    stage: Arc<str>,
}

impl<T> fmt::Debug for RouteTableBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteTableBuilder")
            .field(
                "routes",
                &self.routes.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("stage", &self.stage)
            .finish()
    }
}

impl<T> RouteTableBuilder<T> {
    /// The stage name matches report. Default: `$default`.
    pub fn stage(mut self, stage: impl Into<Arc<str>>) -> Self {
        self.stage = stage.into();
        self
    }

    /// Adds a route by its key's text (`GET /orders/{id}`).
    pub fn route(self, key: &str, value: T) -> Result<Self, ConfigError> {
        Ok(self.route_key(key.parse()?, value))
    }

    /// Adds a route by key. Duplicates and conflicts are reported by
    /// [`build`](Self::build).
    pub fn route_key(mut self, key: RouteKey, value: T) -> Self {
        self.routes.push((key, value));
        self
    }

    /// The finished table, or why the routes conflict (the same key twice,
    /// two parameters with different names in the same place).
    pub fn build(self) -> Result<RouteTable<T>, ConfigError> {
        let mut by_method: Vec<(Method, matchit::Router<usize>)> = Vec::new();
        let mut any = matchit::Router::new();
        let mut default = None;
        let mut keys = RouteKeyMap::with_capacity_and_hasher(self.routes.len(), Default::default());
        for (index, (key, _)) in self.routes.iter().enumerate() {
            if keys.insert(key.clone(), index).is_some() {
                return Err(ConfigError::new(format!("route `{key}` is defined twice")));
            }
            let Some(path) = key.path() else {
                if default.replace(index).is_some() {
                    return Err(ConfigError::new("route `$default` is defined twice"));
                }
                continue;
            };
            let router = match key.method() {
                Some(method) => match by_method.iter().position(|(m, _)| m == method) {
                    Some(i) => &mut by_method[i].1,
                    None => {
                        by_method.push((method.clone(), matchit::Router::new()));
                        &mut by_method.last_mut().expect("just pushed").1
                    }
                },
                None => &mut any,
            };
            router
                .insert(matchit_template(path), index)
                .map_err(|err| {
                    ConfigError::new(format!("route `{key}` conflicts with another route: {err}"))
                })?;
        }
        let fixed = self
            .routes
            .iter()
            .map(|(key, _)| {
                let has_parameters = segments(key.path().unwrap_or_default())
                    .any(|(kind, _)| kind != Segment::Literal);
                (!has_parameters)
                    .then(|| RouteMatch::new(key.clone(), Vec::new(), Arc::clone(&self.stage)))
            })
            .collect();
        Ok(RouteTable {
            paths: single_router(&self.routes),
            routes: self.routes,
            by_method,
            index: keys,
            any,
            default,
            fixed,
            stage: self.stage,
        })
    }
}

/// One router over every path template, each with the routes on it; `None`
/// when two templates conflict (they may, on different methods).
fn single_router<T>(routes: &[(RouteKey, T)]) -> Option<matchit::Router<PathRoutes>> {
    let mut templates: Vec<(&str, PathRoutes)> = Vec::new();
    for (index, (key, _)) in routes.iter().enumerate() {
        let Some(path) = key.path() else { continue };
        let position = match templates.iter().position(|(t, _)| *t == path) {
            Some(position) => position,
            None => {
                templates.push((path, PathRoutes::default()));
                templates.len() - 1
            }
        };
        let on_path = &mut templates[position].1;
        match key.method() {
            Some(method) => on_path.methods.push((method.clone(), index)),
            None => on_path.any = Some(index),
        }
    }
    let mut router = matchit::Router::new();
    for (template, on_path) in templates {
        router.insert(matchit_template(template), on_path).ok()?;
    }
    Some(router)
}

#[cfg(feature = "axum")]
mod extract {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::RouteMatch;
    use crate::identity::RequestId;
    use crate::problem::{GatewayResponseType, GatewayResponses, Rejection};

    /// The rejection of the [`RouteMatch`] extractor outside a matched route.
    #[derive(Debug)]
    pub struct MissingRouteMatch {
        request_id: Option<RequestId>,
    }

    impl IntoResponse for MissingRouteMatch {
        fn into_response(self) -> Response {
            tracing::error!("handler extracted a RouteMatch outside a matched route");
            let rejection = Rejection::new(GatewayResponseType::ApiConfigurationError)
                .with_problem_type("urn:apigw:problem:api-configuration-error:missing-extension")
                .with_detail("`RouteMatch` is missing: match the request with a `RouteTable` or an axum route");
            GatewayResponses::default()
                .render(&rejection, Some(&self.request_id.unwrap_or_default()))
        }
    }

    /// The [`RouteMatch`] extension, or one built from axum's `MatchedPath`.
    impl<S: Send + Sync> FromRequestParts<S> for RouteMatch {
        type Rejection = MissingRouteMatch;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            RouteMatch::from_request_parts(parts).ok_or_else(|| MissingRouteMatch {
                request_id: RequestId::find(&parts.extensions, &parts.headers),
            })
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for RouteMatch {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(RouteMatch::from_request_parts(parts))
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::MissingRouteMatch;

#[cfg(test)]
mod tests;
