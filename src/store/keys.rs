//! API keys: the [`KeyStore`] trait and the in-memory [`MemoryKeyStore`].

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use crate::error::ConfigError;
use crate::identity::ApiKeyIdentity;
use crate::prehashed::BuildPassThrough;
use crate::throttle::bucket::SipBuildHasher;

/// An API key: its id, its secret value, whether it is enabled, and the usage
/// plans it belongs to. Cheap to clone. `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    inner: Arc<ApiKeyInner>,
}

#[derive(Clone, PartialEq, Eq)]
struct ApiKeyInner {
    id: Arc<str>,
    value: Arc<str>,
    name: Option<Arc<str>>,
    enabled: bool,
    plans: Vec<Arc<str>>,
    /// The identity for each plan, made once so requests only clone an `Arc`.
    identities: Vec<ApiKeyIdentity>,
}

impl ApiKey {
    /// An enabled key `id` with secret `value`: 20 to 128 ASCII letters and
    /// digits, as API Gateway requires.
    pub fn new(id: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Result<Self, ConfigError> {
        let id = id.into();
        let value = value.into();
        if id.is_empty() {
            return Err(ConfigError::new("API key id must not be empty"));
        }
        if !(20..=128).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError::new(format!(
                "API key `{id}`: the value must be 20 to 128 ASCII letters and digits"
            )));
        }
        Ok(Self {
            inner: Arc::new(ApiKeyInner {
                id,
                value,
                name: None,
                enabled: true,
                plans: Vec::new(),
                identities: Vec::new(),
            }),
        })
    }

    /// Adds the key to a usage plan (one plan per stage is used).
    #[must_use]
    pub fn plan(mut self, plan_id: impl Into<Arc<str>>) -> Self {
        let plan_id = plan_id.into();
        let inner = Arc::make_mut(&mut self.inner);
        let identity = ApiKeyIdentity::new(&*inner.id, &*inner.value, &*plan_id);
        inner.plans.push(plan_id);
        inner.identities.push(identity);
        self
    }

    /// A display name.
    #[must_use]
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        Arc::make_mut(&mut self.inner).name = Some(name.into());
        self
    }

    /// Enabled or disabled. Default: enabled.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.inner).enabled = enabled;
        self
    }

    /// The id (`identity.apiKeyId`).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The identity requests metered in `plan_id` carry.
    pub(crate) fn identity(&self, plan_id: &str) -> ApiKeyIdentity {
        self.inner
            .plans
            .iter()
            .zip(&self.inner.identities)
            .find(|(plan, _)| &***plan == plan_id)
            .map_or_else(
                || ApiKeyIdentity::new(self.id(), self.value(), plan_id),
                |(_, identity)| identity.clone(),
            )
    }

    pub(crate) fn shared_id(&self) -> Arc<str> {
        Arc::clone(&self.inner.id)
    }

    /// The secret value (`identity.apiKey`). Never log it.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.inner.value
    }

    /// The display name.
    #[must_use]
    pub fn display_name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Whether the key is enabled.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    /// The usage plans the key belongs to.
    pub fn plans(&self) -> impl Iterator<Item = &str> {
        self.inner.plans.iter().map(|p| &**p)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.inner.id)
            .field("value", &"<redacted>")
            .field("name", &self.inner.name)
            .field("enabled", &self.inner.enabled)
            .field("plans", &self.inner.plans)
            .finish()
    }
}

/// Where API keys live. Implement it over your own database (keep lookups
/// in memory: it is called on every request that needs a key).
pub trait KeyStore: Send + Sync + fmt::Debug + 'static {
    /// The key whose value is `value`, enabled or not. Implementations must
    /// not reveal through timing how much of a value matched.
    fn find(&self, value: &str) -> Option<ApiKey>;

    /// The key with id `id`.
    fn get(&self, id: &str) -> Option<ApiKey>;

    /// Every key (for usage reports).
    fn keys(&self) -> Vec<ApiKey>;
}

/// API keys in memory, changeable at runtime: [`add`](Self::add),
/// [`remove`](Self::remove), [`enable`](Self::enable),
/// [`disable`](Self::disable) take effect on the next request.
///
/// Keys are found by a keyed hash of their value (SipHash-1-3 with a random
/// per-store key, so timing reveals nothing about the value) and then
/// compared in constant time. Cheap to clone; clones share the keys.
#[derive(Clone, Default)]
pub struct MemoryKeyStore {
    inner: Arc<KeysInner>,
}

#[derive(Default)]
struct KeysInner {
    hasher: SipBuildHasher,
    maps: RwLock<Maps>,
}

#[derive(Default)]
struct Maps {
    /// By the keyed hash of the value, used as it is (hashing it again
    /// would add a second SipHash to every lookup).
    by_hash: HashMap<u64, Vec<ApiKey>, BuildPassThrough>,
    by_id: HashMap<Arc<str>, ApiKey>,
}

impl fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKeyStore")
            .field("keys", &self.len())
            .finish()
    }
}

/// Constant-time equality of two byte strings of the same length; strings
/// of different lengths are unequal (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Eight bytes at a time, never stopping early.
    let word = |bytes: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        u64::from_le_bytes(word)
    };
    let (mut xs, mut ys) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut diff = (&mut xs)
        .zip(&mut ys)
        .fold(0u64, |acc, (x, y)| acc | (word(x) ^ word(y)));
    for (x, y) in xs.remainder().iter().zip(ys.remainder()) {
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

impl MemoryKeyStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.inner
            .maps
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.inner
            .maps
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// One write of the value's bytes: SipHash counts the length itself,
    /// so a length prefix (`[u8]`'s `Hash`) would only add a round.
    fn hash(&self, value: &str) -> u64 {
        let mut hasher = self.inner.hasher.build_hasher();
        hasher.write(value.as_bytes());
        hasher.finish()
    }

    /// Adds a key; ids and values must be unique.
    pub fn add(&self, key: ApiKey) -> Result<(), ConfigError> {
        let hash = self.hash(key.value());
        let mut maps = self.write();
        if maps.by_id.contains_key(key.id()) {
            return Err(ConfigError::new(format!(
                "API key id `{}` exists",
                key.id()
            )));
        }
        let same_value = maps.by_hash.get(&hash).is_some_and(|keys| {
            keys.iter()
                .any(|k| constant_time_eq(k.value().as_bytes(), key.value().as_bytes()))
        });
        if same_value {
            return Err(ConfigError::new(format!(
                "API key `{}`: another key has the same value",
                key.id()
            )));
        }
        maps.by_id.insert(key.inner.id.clone(), key.clone());
        maps.by_hash.entry(hash).or_default().push(key);
        Ok(())
    }

    /// Removes a key; `false` if there was none.
    #[must_use = "`false` means there was no such key"]
    pub fn remove(&self, id: &str) -> bool {
        let mut maps = self.write();
        let Some(key) = maps.by_id.remove(id) else {
            return false;
        };
        let hash = self.hash(key.value());
        if let Some(keys) = maps.by_hash.get_mut(&hash) {
            keys.retain(|k| k.id() != id);
            if keys.is_empty() {
                maps.by_hash.remove(&hash);
            }
        }
        true
    }

    /// Replaces a key with the same id; `false` if there was none.
    fn update(&self, id: &str, change: impl FnOnce(ApiKey) -> ApiKey) -> bool {
        let mut maps = self.write();
        let Some(old) = maps.by_id.get(id).cloned() else {
            return false;
        };
        let new = change(old);
        let hash = self.hash(new.value());
        if let Some(keys) = maps.by_hash.get_mut(&hash) {
            for k in keys.iter_mut().filter(|k| k.id() == id) {
                *k = new.clone();
            }
        }
        maps.by_id.insert(new.inner.id.clone(), new);
        true
    }

    /// Enables a key; `false` if there is none.
    #[must_use = "`false` means there was no such key"]
    pub fn enable(&self, id: &str) -> bool {
        self.update(id, |k| k.enabled(true))
    }

    /// Disables a key: its requests get 403 from the next one on; `false` if
    /// there is none.
    #[must_use = "`false` means there was no such key"]
    pub fn disable(&self, id: &str) -> bool {
        self.update(id, |k| k.enabled(false))
    }

    /// The number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// Whether there are no keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl KeyStore for MemoryKeyStore {
    fn find(&self, value: &str) -> Option<ApiKey> {
        let hash = self.hash(value);
        let maps = self.read();
        maps.by_hash
            .get(&hash)?
            .iter()
            .find(|k| constant_time_eq(k.value().as_bytes(), value.as_bytes()))
            .cloned()
    }

    fn get(&self, id: &str) -> Option<ApiKey> {
        self.read().by_id.get(id).cloned()
    }

    fn keys(&self) -> Vec<ApiKey> {
        let mut keys: Vec<ApiKey> = self.read().by_id.values().cloned().collect();
        keys.sort_by(|a, b| a.id().cmp(b.id()));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "abcdefghijklmnopqrstuvwxyz0123";

    #[test]
    fn key_values_follow_api_gateway_rules() {
        assert!(ApiKey::new("k", "short").is_err());
        assert!(ApiKey::new("k", "has-a-dash-in-it-0123456").is_err());
        assert!(ApiKey::new("", VALUE).is_err());
        assert!(ApiKey::new("k", VALUE).is_ok());
    }

    #[test]
    fn debug_never_shows_the_value() {
        let key = ApiKey::new("k1", VALUE).unwrap();
        assert!(!format!("{key:?}").contains(VALUE));
        let store = MemoryKeyStore::new();
        store.add(key).unwrap();
        assert!(!format!("{store:?}").contains(VALUE));
    }

    #[test]
    fn add_find_disable_enable_remove_at_runtime() {
        let store = MemoryKeyStore::new();
        store
            .add(ApiKey::new("k1", VALUE).unwrap().plan("gold"))
            .unwrap();
        assert!(
            store
                .add(ApiKey::new("k1", "x".repeat(20)).unwrap())
                .is_err()
        );
        assert!(store.add(ApiKey::new("k2", VALUE).unwrap()).is_err());
        assert_eq!(store.find(VALUE).unwrap().id(), "k1");
        assert!(store.find("abcdefghijklmnopqrstuvwxyz0124").is_none());
        assert!(store.disable("k1"));
        assert!(!store.find(VALUE).unwrap().is_enabled());
        assert!(store.enable("k1"));
        assert!(store.find(VALUE).unwrap().is_enabled());
        assert!(store.remove("k1"));
        assert!(store.find(VALUE).is_none());
        assert!(!store.remove("k1"));
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        // A difference anywhere: in a word or in the tail.
        let value = VALUE.as_bytes();
        for at in 0..value.len() {
            let mut other = value.to_vec();
            other[at] ^= 0x20;
            assert!(!constant_time_eq(value, &other), "{at}");
        }
        assert!(constant_time_eq(value, VALUE.as_bytes()));
    }
}
