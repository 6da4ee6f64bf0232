//! The remote key set of one issuer: fetched from a JWKS URL or through OIDC
//! discovery, read through lock-free snapshots, refreshed by one fetch at a
//! time, rate-limited against `kid` floods, and kept through outages.
//!
//! Reads load an `Arc<Snapshot>` from an `ArcSwapOption`: no lock is ever
//! held while a fetch runs, so a slow issuer never blocks a token whose key
//! is cached. The only lock is a `std::sync::Mutex` around a few words of
//! fetch state, never held across an `.await`.
//!
//! A fetch runs as a tokio task spawned on access (never from a
//! constructor), bounded by the fetch timeout, so it ends on its own and no
//! request's cancellation can leave the set half-refreshed. Requests that
//! need its result wait on a `watch` channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use http::header::{ACCEPT, CACHE_CONTROL};
use tokio::sync::watch;

use super::keys::{AlgorithmSet, KeySet};
use crate::ConfigError;
use crate::clock::SharedClock;

/// Most unknown `kid`s remembered per snapshot.
const MAX_NEGATIVE: usize = 4096;

/// How key sets are fetched and kept. See the builder for each default.
#[derive(Clone, Debug)]
pub(crate) struct FetchOptions {
    pub(crate) timeout: Duration,
    pub(crate) max_body: usize,
    pub(crate) default_ttl: Duration,
    pub(crate) min_ttl: Duration,
    pub(crate) max_ttl: Duration,
    pub(crate) cooldown: Duration,
    pub(crate) stale_window: Duration,
    pub(crate) allow_http: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(1500),
            max_body: 150_000,
            default_ttl: Duration::from_secs(600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            cooldown: Duration::from_secs(30),
            stale_window: Duration::from_secs(3600),
            allow_http: false,
        }
    }
}

/// Where an issuer's keys come from.
#[derive(Clone, Debug)]
pub(crate) enum RemoteSource {
    Jwks(Arc<str>),
    Discovery(Arc<str>),
}

/// Refuses URLs that are not `https`, unless plain `http` is allowed or the
/// host is a loopback address.
pub(crate) fn check_url(url: &str, allow_http: bool) -> Result<(), ConfigError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| ConfigError::new("a JWKS or issuer URL is not a valid URL"))?;
    let host = uri
        .host()
        .ok_or(ConfigError::new("a JWKS or issuer URL has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if allow_http || is_loopback(host) => Ok(()),
        Some("http") => Err(ConfigError::new(
            "JWKS and issuer URLs must be https (allow plain http explicitly with `allow_http`)",
        )),
        _ => Err(ConfigError::new("a JWKS or issuer URL is not http(s)")),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// One loaded key set and when it must be refreshed or dropped.
pub(crate) struct Snapshot {
    pub(crate) keys: KeySet,
    refresh_at: Instant,
    stale_until: Instant,
    /// `kid`s refused during a cooldown, with the instant the cooldown
    /// ends: answered without touching the fetch state until then.
    negative: Mutex<HashMap<Box<str>, Instant>>,
}

#[derive(Default)]
struct FetchState {
    in_flight: bool,
    last_attempt: Option<Instant>,
    generation: u64,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("request failed: {0}")]
    Transport(String),
    #[error("timed out")]
    Timeout,
    #[error("answered status {0} (redirects are not followed)")]
    Status(u16),
    #[error("body exceeds the size limit")]
    TooLarge,
    #[error("{0}")]
    Invalid(&'static str),
}

/// One issuer's remote key set, shared by every clone of the layer.
pub(crate) struct RemoteKeys {
    source: RemoteSource,
    allowed: AlgorithmSet,
    options: FetchOptions,
    client: reqwest::Client,
    clock: SharedClock,
    snapshot: ArcSwapOption<Snapshot>,
    state: Mutex<FetchState>,
    done: watch::Sender<u64>,
    jwks_uri: Mutex<Option<Arc<str>>>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("source", &self.source)
            .field("allowed", &self.allowed)
            .field("loaded", &self.snapshot.load().is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RemoteKeys {
    pub(crate) fn new(
        source: RemoteSource,
        allowed: AlgorithmSet,
        options: FetchOptions,
        client: reqwest::Client,
        clock: SharedClock,
    ) -> Self {
        Self {
            source,
            allowed,
            options,
            client,
            clock,
            snapshot: ArcSwapOption::empty(),
            state: Mutex::new(FetchState::default()),
            done: watch::Sender::new(0),
            jwks_uri: Mutex::new(None),
        }
    }

    /// The current key set if it may still be used, starting a background
    /// refresh when it is due. Never waits.
    pub(crate) fn current(self: &Arc<Self>) -> Option<Arc<Snapshot>> {
        let snapshot = self.snapshot.load_full()?;
        let now = self.clock.now();
        if now >= snapshot.refresh_at {
            // Contended means another request is already starting one.
            if let Ok(mut state) = self.state.try_lock() {
                self.start_if_allowed(&mut state, now);
            }
        }
        (now < snapshot.stale_until).then_some(snapshot)
    }

    /// A `kid` missing from `snapshot` (or no usable snapshot at all): joins
    /// the fetch in flight, or starts one if the cooldown allows. `None`
    /// means "refuse now": the set was fetched less than a cooldown ago.
    pub(crate) fn refetch(
        self: &Arc<Self>,
        snapshot: Option<&Snapshot>,
        kid: Option<&str>,
    ) -> Option<watch::Receiver<u64>> {
        let now = self.clock.now();
        if let (Some(snapshot), Some(kid)) = (snapshot, kid)
            && lock(&snapshot.negative)
                .get(kid)
                .is_some_and(|until| now < *until)
        {
            return None;
        }
        let mut state = lock(&self.state);
        if state.in_flight || self.start_if_allowed(&mut state, now) {
            return Some(self.done.subscribe());
        }
        // Refused until the cooldown lets the next fetch happen.
        let until = state
            .last_attempt
            .map_or(now, |last| last + self.options.cooldown);
        drop(state);
        if let (Some(snapshot), Some(kid)) = (snapshot, kid) {
            let mut negative = lock(&snapshot.negative);
            if negative.len() >= MAX_NEGATIVE {
                negative.retain(|_, until| now < *until);
            }
            if negative.len() < MAX_NEGATIVE {
                negative.insert(Box::from(kid), until);
            }
        }
        None
    }

    /// Waits for the fetch a receiver from [`refetch`](Self::refetch) joined.
    pub(crate) async fn wait(&self, mut done: watch::Receiver<u64>) {
        // The fetch is bounded by two timeouts (discovery, JWKS); this bound
        // only guards against a runtime that stopped running it.
        let bound = self.options.timeout * 3;
        let _ = tokio::time::timeout(bound, done.changed()).await;
    }

    /// Starts a fetch now, unless one is running; waits for it either way.
    pub(crate) async fn refresh_now(self: &Arc<Self>) {
        let done = {
            let mut state = lock(&self.state);
            if !state.in_flight {
                state.last_attempt = None;
                self.start_if_allowed(&mut state, self.clock.now());
            }
            state.in_flight.then(|| self.done.subscribe())
        };
        if let Some(done) = done {
            self.wait(done).await;
        }
    }

    /// Whether a key set is loaded (fresh or stale).
    pub(crate) fn is_loaded(&self) -> bool {
        self.snapshot.load().is_some()
    }

    fn start_if_allowed(self: &Arc<Self>, state: &mut FetchState, now: Instant) -> bool {
        if state.in_flight {
            return false;
        }
        let cooled = state
            .last_attempt
            .is_none_or(|last| now.saturating_duration_since(last) >= self.options.cooldown);
        if !cooled {
            return false;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("JWKS fetch needs a tokio runtime; none is running");
            return false;
        };
        state.in_flight = true;
        state.last_attempt = Some(now);
        runtime.spawn(Arc::clone(self).run_fetch());
        true
    }

    async fn run_fetch(self: Arc<Self>) {
        /// Ends the fetch even if the task is dropped mid-way.
        struct Finish<'a>(&'a RemoteKeys);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                let mut state = lock(&self.0.state);
                state.in_flight = false;
                state.generation += 1;
                let generation = state.generation;
                drop(state);
                self.0.done.send_replace(generation);
            }
        }
        let _finish = Finish(&self);
        match self.fetch().await {
            Ok((keys, _)) if keys.is_empty() => {
                tracing::warn!(source = ?self.source, "JWKS has no usable key; keeping the cached keys");
            }
            Ok((keys, max_age)) => {
                let ttl = max_age
                    .unwrap_or(self.options.default_ttl)
                    .clamp(self.options.min_ttl, self.options.max_ttl);
                let now = self.clock.now();
                tracing::debug!(source = ?self.source, keys = keys.len(), ?ttl, "JWKS loaded");
                self.snapshot.store(Some(Arc::new(Snapshot {
                    keys,
                    refresh_at: now + ttl - ttl / 4,
                    stale_until: now + ttl + self.options.stale_window,
                    negative: Mutex::new(HashMap::new()),
                })));
            }
            Err(error) => {
                tracing::warn!(source = ?self.source, %error, "JWKS fetch failed; keeping the cached keys");
            }
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Option<Duration>), FetchError> {
        let uri = match &self.source {
            RemoteSource::Jwks(uri) => Arc::clone(uri),
            RemoteSource::Discovery(issuer) => self.discover(issuer).await?,
        };
        let (body, max_age) = self.get(&uri).await?;
        let keys = KeySet::parse(&body, self.allowed)
            .map_err(|_| FetchError::Invalid("JWKS is not a key set"))?;
        Ok((keys, max_age))
    }

    async fn discover(&self, issuer: &str) -> Result<Arc<str>, FetchError> {
        if let Some(uri) = lock(&self.jwks_uri).clone() {
            return Ok(uri);
        }
        #[derive(serde::Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let (body, _) = self.get(&url).await?;
        let document: Discovery = serde_json::from_slice(&body)
            .map_err(|_| FetchError::Invalid("discovery document has no issuer or jwks_uri"))?;
        if document.issuer != issuer {
            return Err(FetchError::Invalid(
                "discovery document's issuer differs from the configured issuer",
            ));
        }
        check_url(&document.jwks_uri, self.options.allow_http)
            .map_err(|_| FetchError::Invalid("discovered jwks_uri is not an allowed URL"))?;
        let uri: Arc<str> = Arc::from(document.jwks_uri);
        *lock(&self.jwks_uri) = Some(Arc::clone(&uri));
        Ok(uri)
    }

    /// GET with the timeout on the whole exchange and the body cap enforced
    /// while reading (a lying or absent `Content-Length` does not help).
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<Duration>), FetchError> {
        let max = self.options.max_body;
        let exchange = async {
            let mut response = self
                .client
                .get(url)
                .header(ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| FetchError::Transport(e.without_url().to_string()))?;
            if response.status() != http::StatusCode::OK {
                return Err(FetchError::Status(response.status().as_u16()));
            }
            if response
                .content_length()
                .is_some_and(|len| len > max as u64)
            {
                return Err(FetchError::TooLarge);
            }
            let max_age = max_age(response.headers());
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| FetchError::Transport(e.without_url().to_string()))?
            {
                if body.len() + chunk.len() > max {
                    return Err(FetchError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok((body, max_age))
        };
        tokio::time::timeout(self.options.timeout, exchange)
            .await
            .map_err(|_| FetchError::Timeout)?
    }
}

/// `Cache-Control: max-age=N`, if any.
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_unless_loopback_or_allowed() {
        assert!(check_url("https://issuer.example/jwks", false).is_ok());
        assert!(check_url("http://issuer.example/jwks", false).is_err());
        assert!(check_url("http://issuer.example/jwks", true).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check_url("http://[::1]:8080/jwks", false).is_ok());
        assert!(check_url("http://localhost/jwks", false).is_ok());
        assert!(check_url("ftp://issuer.example/jwks", true).is_err());
        assert!(check_url("/jwks", true).is_err());
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = http::HeaderMap::new();
        headers.insert(CACHE_CONTROL, "public, max-age=120".parse().unwrap());
        assert_eq!(max_age(&headers), Some(Duration::from_secs(120)));
        headers.insert(CACHE_CONTROL, "no-cache".parse().unwrap());
        assert_eq!(max_age(&headers), None);
        headers.insert(CACHE_CONTROL, "max-age=abc".parse().unwrap());
        assert_eq!(max_age(&headers), None);
    }
}
