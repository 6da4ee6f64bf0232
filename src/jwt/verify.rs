//! The verification pipeline shared by every clone of the layer: claims
//! cache, header, issuer and key selection, signature, then claims.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::watch;

use super::claims::{self, ClaimRules};
use super::error::{JwtError, JwtErrorKind};
use super::header::{self, Compact, Header};
use super::jwks::{RemoteKeys, Snapshot};
use super::keys::{self, AlgorithmSet, KeySet, Selected};
use crate::clock::SharedClock;
use crate::identity::JwtClaims;

/// Where one issuer's keys live.
#[derive(Debug)]
pub(crate) enum Keys {
    Static(KeySet),
    Remote(Arc<RemoteKeys>),
}

/// One trusted issuer.
#[derive(Debug)]
pub(crate) struct IssuerEntry {
    pub(crate) rules: ClaimRules,
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) keys: Keys,
}

/// A verified token, as cached.
pub(crate) struct Verified {
    pub(crate) claims: JwtClaims,
    /// `exp + leeway`, seconds since the epoch.
    valid_until: f64,
    /// Monotonic bound on how long the entry is trusted.
    cached_until: Instant,
}

type ClaimsCache = moka::sync::Cache<Arc<str>, Arc<Verified>, foldhash::fast::RandomState>;

/// The outcome of the synchronous part.
pub(crate) enum Step {
    Done(Result<JwtClaims, JwtError>),
    /// Keys must be fetched first: wait for `done`, then verify again.
    Wait(Arc<RemoteKeys>, watch::Receiver<u64>),
}

pub(crate) struct Verifier {
    /// Tells this verifier's entries in [`LAST_HIT`] from another's.
    pub(crate) id: u64,
    pub(crate) issuers: Vec<IssuerEntry>,
    pub(crate) require_kid: bool,
    pub(crate) max_token_bytes: usize,
    pub(crate) clock: SharedClock,
    pub(crate) cache: Option<ClaimsCache>,
    pub(crate) cache_ttl: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuers", &self.issuers)
            .field("require_kid", &self.require_kid)
            .field("max_token_bytes", &self.max_token_bytes)
            .field(
                "claims_cache",
                &self.cache.as_ref().map(|c| c.entry_count()),
            )
            .finish_non_exhaustive()
    }
}

/// A verifier's [`Verifier::id`], unique in the process.
pub(crate) fn next_verifier_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The last entry this thread found in a claims cache: whose cache, and the
/// identity source's value the token was read from.
///
/// A caller repeats its token, and a connection stays on one thread, so most
/// cached tokens are found here with one comparison of the header's bytes,
/// without reading the token out of them again and without the shared
/// cache's hashing and bookkeeping. The same bytes always give the same
/// token, and the entry is checked against the clock exactly as a cache
/// entry is, so it decides nothing the cache would not. It holds one entry
/// per thread beyond the cache's bound.
struct LastHit {
    verifier: u64,
    raw: Vec<u8>,
    verified: Arc<Verified>,
}

thread_local! {
    static LAST_HIT: RefCell<Option<LastHit>> = const { RefCell::new(None) };
}

pub(crate) fn claims_cache(max_bytes: u64, ttl: Duration) -> ClaimsCache {
    moka::sync::Cache::builder()
        .max_capacity(max_bytes)
        // Token length plus a rough allowance for the parsed claims.
        .weigher(|token: &Arc<str>, _: &Arc<Verified>| {
            u32::try_from(token.len().saturating_mul(3)).unwrap_or(u32::MAX)
        })
        // Only bounds memory; validity is checked against our clock.
        .time_to_live(ttl.max(Duration::from_secs(1)))
        .build_with_hasher(foldhash::fast::RandomState::default())
}

impl Verifier {
    /// Everything that can be decided without waiting for a fetch. `raw` is
    /// the identity source's value `token` was read from, when the source is
    /// a header with one value.
    pub(crate) fn verify(&self, token: &str, raw: Option<&[u8]>, may_wait: bool) -> Step {
        if token.len() > self.max_token_bytes {
            return Step::Done(Err(JwtError::new(
                JwtErrorKind::Malformed,
                "token exceeds the size limit",
            )));
        }
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.get(token)
        {
            if self.still_valid(&hit) {
                let claims = hit.claims.clone();
                if let Some(raw) = raw {
                    self.remember(raw, hit);
                }
                return Step::Done(Ok(claims));
            }
            cache.invalidate(token);
        }
        match self.verify_uncached(token, may_wait) {
            Ok(verified) => {
                let claims = verified.claims.clone();
                if let Some(cache) = &self.cache {
                    cache.insert(Arc::from(token), Arc::new(verified));
                }
                Step::Done(Ok(claims))
            }
            Err(Pending::Fail(error)) => Step::Done(Err(error)),
            Err(Pending::Wait(remote, done)) => Step::Wait(remote, done),
        }
    }

    /// Whether a cached entry may still be used: within `exp` (and the
    /// leeway) and within the cache's TTL.
    fn still_valid(&self, hit: &Verified) -> bool {
        self.clock.unix_time().as_secs_f64() < hit.valid_until
            && self.clock.now() < hit.cached_until
    }

    /// The claims of the token in `raw` (the identity source's value) if it
    /// is this thread's last hit in this verifier's cache and still valid.
    pub(crate) fn last_hit(&self, raw: &[u8]) -> Option<JwtClaims> {
        self.cache.as_ref()?;
        LAST_HIT.with(|last| {
            let last = last.try_borrow().ok()?;
            let last = last.as_ref()?;
            (last.verifier == self.id && last.raw == raw && self.still_valid(&last.verified))
                .then(|| last.verified.claims.clone())
        })
    }

    /// Makes `hit`, read from `raw`, this thread's last hit.
    fn remember(&self, raw: &[u8], hit: Arc<Verified>) {
        LAST_HIT.with(|last| {
            let Ok(mut last) = last.try_borrow_mut() else {
                return;
            };
            match &mut *last {
                // The buffer is reused: no allocation once it is long enough.
                Some(last) => {
                    last.verifier = self.id;
                    last.raw.clear();
                    last.raw.extend_from_slice(raw);
                    last.verified = hit;
                }
                None => {
                    *last = Some(LastHit {
                        verifier: self.id,
                        raw: raw.to_vec(),
                        verified: hit,
                    });
                }
            }
        });
    }

    fn verify_uncached(&self, token: &str, may_wait: bool) -> Result<Verified, Pending> {
        let compact = header::split(token, self.max_token_bytes)?;
        let header = header::parse_header(compact.header)?;
        // The payload is read before the signature only to pick the issuer;
        // no claim is judged until the signature holds.
        let claims = header::decode_object(compact.payload)?;
        let issuer = self.issuer_for(&claims)?;
        if !issuer.algorithms.contains(header.alg) {
            return Err(Pending::Fail(JwtError::new(
                JwtErrorKind::UnsupportedAlgorithm,
                "alg is not allowed for this issuer",
            )));
        }
        match &issuer.keys {
            Keys::Static(set) => match self.check_with(set, &compact, &header) {
                Ok(()) => {}
                Err(Check::Fail(error)) => return Err(Pending::Fail(error)),
                Err(Check::NotFound) => return Err(Pending::Fail(keys::unknown_key())),
            },
            Keys::Remote(remote) => {
                let snapshot = remote.current();
                let checked = snapshot
                    .as_deref()
                    .map(|s| self.check_with(&s.keys, &compact, &header));
                match checked {
                    Some(Ok(())) => {}
                    Some(Err(Check::Fail(error))) => return Err(Pending::Fail(error)),
                    Some(Err(Check::NotFound)) | None => {
                        return Err(self.unknown(remote, snapshot.as_deref(), &header, may_wait));
                    }
                }
            }
        }
        let now = self.clock.unix_time().as_secs_f64();
        let valid_until = claims::validate(&claims, &issuer.rules, now)?;
        let scopes = claims::scopes(&claims)?;
        Ok(Verified {
            claims: JwtClaims::new(claims, scopes),
            valid_until,
            cached_until: self.clock.now() + self.cache_ttl,
        })
    }

    fn issuer_for(&self, claims: &Map<String, Value>) -> Result<&IssuerEntry, JwtError> {
        if let [only] = self.issuers.as_slice() {
            // One issuer: verify the signature first, judge `iss` after.
            return Ok(only);
        }
        let iss = claims.get("iss").and_then(Value::as_str);
        self.issuers
            .iter()
            .find(|i| Some(i.rules.issuer.as_str()) == iss)
            .ok_or(JwtError::new(
                JwtErrorKind::InvalidIssuer,
                "iss is not a configured issuer",
            ))
    }

    fn check_with(
        &self,
        set: &KeySet,
        compact: &Compact<'_>,
        header: &Header,
    ) -> Result<(), Check> {
        match set.select(header.kid.as_deref(), header.alg, self.require_kid) {
            Selected::Found(key) => {
                keys::verify_signature(compact, header.alg, key).map_err(Check::Fail)
            }
            Selected::Mismatch => Err(Check::Fail(JwtError::new(
                JwtErrorKind::InvalidSignature,
                "the kid's keys do not fit the alg, or the kid is ambiguous or missing",
            ))),
            Selected::NotFound => Err(Check::NotFound),
        }
    }

    /// The `kid` is not in the cached set (or no set is usable).
    fn unknown(
        &self,
        remote: &Arc<RemoteKeys>,
        snapshot: Option<&Snapshot>,
        header: &Header,
        may_wait: bool,
    ) -> Pending {
        let refused = if snapshot.is_some() {
            keys::unknown_key()
        } else {
            JwtError::new(
                JwtErrorKind::KeysUnavailable,
                "no key set could be loaded, or it is older than the stale window",
            )
        };
        if !may_wait || (header.kid.is_none() && snapshot.is_some()) {
            return Pending::Fail(refused);
        }
        match remote.refetch(snapshot, header.kid.as_deref()) {
            Some(done) => Pending::Wait(Arc::clone(remote), done),
            None => Pending::Fail(refused),
        }
    }
}

/// Why a key set did not verify.
enum Check {
    Fail(JwtError),
    NotFound,
}

/// Why the uncached path stopped.
pub(crate) enum Pending {
    Fail(JwtError),
    Wait(Arc<RemoteKeys>, watch::Receiver<u64>),
}

impl From<JwtError> for Pending {
    fn from(error: JwtError) -> Self {
        Self::Fail(error)
    }
}
