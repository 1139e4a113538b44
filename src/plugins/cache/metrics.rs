//! The `cache` plugin's metric families (`coredns_cache_*`) and the handles one cache counts
//! in. Every label combination a cache produces is created when it starts: counting on the
//! query path is an atomic add, and counts carry over a reload.

use std::any::Any;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::lazy::LazyCounter;

/// The labels of a series per cache.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    server: String,
    zones: String,
    view: String,
}

/// The labels of a series per cache and type (success, denial).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheTypeLabels {
    server: String,
    r#type: String,
    zones: String,
    view: String,
}

/// `coredns_cache_*`.
#[derive(Debug, Default)]
pub struct CacheFamilies {
    entries: Family<CacheTypeLabels, Gauge>,
    hits: Family<CacheTypeLabels, Counter>,
    evictions: Family<CacheTypeLabels, Counter>,
    misses: Family<CacheLabels, Counter>,
    requests: Family<CacheLabels, Counter>,
    prefetch: Family<CacheLabels, Counter>,
    served_stale: Family<CacheLabels, Counter>,
}

/// Create and register the families.
pub fn register(registry: &mut Registry) -> Arc<dyn Any + Send + Sync> {
    let families = CacheFamilies::default();
    let cache = registry.sub_registry_with_prefix("cache");
    cache.register(
        "entries",
        "The number of elements in the cache",
        families.entries.clone(),
    );
    cache.register("hits", "The count of cache hits", families.hits.clone());
    cache.register(
        "misses",
        "The count of cache misses. Deprecated, derive misses from cache hits/requests counters",
        families.misses.clone(),
    );
    cache.register(
        "requests",
        "The count of cache requests",
        families.requests.clone(),
    );
    cache.register(
        "prefetch",
        "The number of times the cache has prefetched a cached item",
        families.prefetch.clone(),
    );
    cache.register(
        "served_stale",
        "The number of requests served from stale cache entries",
        families.served_stale.clone(),
    );
    cache.register(
        "evictions",
        "The count of cache evictions",
        families.evictions.clone(),
    );
    Arc::new(families)
}

impl CacheFamilies {
    /// The handles of one `cache` plugin: `server` of its block, `zones` its zones.
    pub fn handles(&self, server: &str, zones: &str) -> CacheMetrics {
        let labels = CacheLabels {
            server: server.into(),
            zones: zones.into(),
            view: String::new(),
        };
        let typed_labels = |kind: &str| CacheTypeLabels {
            server: server.into(),
            r#type: kind.into(),
            zones: zones.into(),
            view: String::new(),
        };
        let typed = |family: &Family<CacheTypeLabels, Counter>| {
            ["success", "denial"].map(|kind| LazyCounter::new(family, typed_labels(kind)))
        };
        CacheMetrics {
            entries: ["success", "denial"]
                .map(|kind| self.entries.get_or_create(&typed_labels(kind)).clone()),
            hits: typed(&self.hits),
            evictions: typed(&self.evictions),
            misses: LazyCounter::new(&self.misses, labels.clone()),
            requests: LazyCounter::new(&self.requests, labels.clone()),
            prefetch: LazyCounter::new(&self.prefetch, labels.clone()),
            served_stale: LazyCounter::new(&self.served_stale, labels),
        }
    }
}

/// One `cache` plugin's handles; `[success, denial]` where typed.
#[derive(Clone, Debug, Default)]
pub struct CacheMetrics {
    /// `coredns_cache_entries`.
    pub entries: [Gauge; 2],
    /// `coredns_cache_hits_total`.
    pub hits: [LazyCounter<CacheTypeLabels>; 2],
    /// `coredns_cache_evictions_total`.
    pub evictions: [LazyCounter<CacheTypeLabels>; 2],
    /// `coredns_cache_misses_total`.
    pub misses: LazyCounter<CacheLabels>,
    /// `coredns_cache_requests_total`.
    pub requests: LazyCounter<CacheLabels>,
    /// `coredns_cache_prefetch_total`.
    pub prefetch: LazyCounter<CacheLabels>,
    /// `coredns_cache_served_stale_total`.
    pub served_stale: LazyCounter<CacheLabels>,
}
