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
pub(crate) use enabled::{Exporter, RouteCounters};

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::{Exporter, RouteCounters};

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

        pub(crate) fn record(&self, labels: Labels<'_>, event: Event, count: u64) {
            self.counters(labels).record(event, count);
        }

        /// The counters of the route `labels` names: registered on first
        /// use, then kept. Entries keep theirs, so a hit records without
        /// looking them up.
        pub(crate) fn counters(&self, (route, stage): Labels<'_>) -> RouteCounters {
            let key = (route.cloned(), stage.cloned());
            let found = self
                .handles
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key)
                .cloned();
            found.map_or_else(
                || {
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
                    RouteCounters(handles)
                },
                RouteCounters,
            )
        }
    }

    /// One route's registered counters.
    #[derive(Clone, Debug)]
    pub(crate) struct RouteCounters(Handles);

    impl RouteCounters {
        pub(crate) fn record(&self, event: Event, count: u64) {
            self.0[event as usize].increment(count);
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

        #[allow(clippy::unused_self)]
        pub(crate) fn counters(&self, _labels: Labels<'_>) -> RouteCounters {
            RouteCounters
        }
    }

    /// Without the `metrics` feature: nothing to record to.
    #[derive(Clone, Debug)]
    pub(crate) struct RouteCounters;

    impl RouteCounters {
        #[allow(clippy::unused_self)]
        pub(crate) fn record(&self, _event: Event, _count: u64) {}
    }
}
