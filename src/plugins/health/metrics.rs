//! The `health` plugin's metric families.

use std::any::Any;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::metrics::TIME_BUCKETS;
use crate::metrics::histogram::AtomicHistogram;

/// `coredns_health_*`.
#[derive(Debug)]
pub struct HealthFamilies {
    /// `coredns_health_request_duration_seconds`.
    pub duration: AtomicHistogram,
    /// `coredns_health_request_failures_total`.
    pub failures: Counter,
}

/// Create and register the families.
pub fn register(registry: &mut Registry) -> Arc<dyn Any + Send + Sync> {
    let families = HealthFamilies {
        duration: AtomicHistogram::new(&TIME_BUCKETS),
        failures: Counter::default(),
    };
    let health = registry.sub_registry_with_prefix("health");
    health.register(
        "request_duration_seconds",
        "Histogram of the time (in seconds) each request took",
        families.duration.clone(),
    );
    health.register(
        "request_failures",
        "The number of times the health check failed",
        families.failures.clone(),
    );
    Arc::new(families)
}
