//! Maps whose keys hash themselves once: the key's `Hash` writes one `u64`
//! it computed when it was made, and the map's hasher passes it through.

use std::hash::{BuildHasherDefault, Hasher};

/// Passes a key's precomputed hash through (route keys, the throttle's
/// keyed buckets).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        // Not reached by the keys above (they write one `u64`); FNV-1a,
        // to stay a hasher for anything else.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The [`BuildHasher`](std::hash::BuildHasher) of maps keyed by prehashed keys.
pub(crate) type BuildPassThrough = BuildHasherDefault<PassThrough>;
