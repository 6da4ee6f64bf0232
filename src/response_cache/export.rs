//! The cache's hit, miss, store and eviction counts through the `metrics`
//! facade (feature `metrics`); without the feature, nothing.

use std::sync::Arc;

use crate::route::RouteKey;

/// What happened, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Hit = 0,
    Miss,
    Store,
    Eviction,
}

/// The route an event belongs to: its key and stage, when known.
pub(crate) type Labels<'a> = (Option<&'a RouteKey>, Option<&'a Arc<str>>);

#[cfg(feature = "metrics")]
pub(crate) use enabled::Exporter;

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::Exporter;

#[cfg(feature = "metrics")]
mod enabled {
    use std::collections::HashMap;
    use std::sync::{Arc, PoisonError, RwLock};

    use ::metrics::Counter;

    use super::{Event, Labels};
    use crate::route::RouteKey;

    /// Most (route, stage) pairs whose handles are kept, as in
    /// [`crate::metrics`].
    const MAX_LABEL_SETS: usize = 10_000;

    type Handles = Arc<[Counter; 4]>;
    type LabelSet = (Option<RouteKey>, Option<Arc<str>>);

    /// Registers and keeps one set of counters per (route, stage).
    #[derive(Debug)]
    pub(crate) struct Exporter {
        names: [String; 4],
        handles: RwLock<HashMap<LabelSet, Handles>>,
    }

    impl Exporter {
        pub(crate) fn new(prefix: &str) -> Self {
            let name = |base: &str| format!("{prefix}{base}");
            Self {
                names: [
                    name("CacheHitCount"),
                    name("CacheMissCount"),
                    name("CacheStoreCount"),
                    name("CacheEvictionCount"),
                ],
                handles: RwLock::default(),
            }
        }

        pub(crate) fn record(&self, (route, stage): Labels<'_>, event: Event, count: u64) {
            let key = (route.cloned(), stage.cloned());
            let found = self
                .handles
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key)
                .cloned();
            let handles = found.unwrap_or_else(|| {
                // Labelled as `GatewayMetricsLayer` labels, so the series
                // are the same.
                let labels = [
                    (
                        "route",
                        route.map_or_else(|| "UNMATCHED".to_owned(), ToString::to_string),
                    ),
                    (
                        "stage",
                        stage.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    ),
                ];
                let handles: Handles = Arc::new(
                    self.names
                        .clone()
                        .map(|name| ::metrics::counter!(name, &labels)),
                );
                let mut map = self.handles.write().unwrap_or_else(PoisonError::into_inner);
                if map.len() < MAX_LABEL_SETS {
                    map.insert(key, Arc::clone(&handles));
                }
                handles
            });
            handles[event as usize].increment(count);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use super::{Event, Labels};

    /// Without the `metrics` feature: counts only in [`CacheStats`](super::super::CacheStats).
    #[derive(Debug)]
    pub(crate) struct Exporter;

    impl Exporter {
        pub(crate) fn new(_prefix: &str) -> Self {
            Self
        }

        #[allow(clippy::unused_self)]
        pub(crate) fn record(&self, _labels: Labels<'_>, _event: Event, _count: u64) {}
    }
}
