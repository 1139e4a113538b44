//! The `reload` plugin's metric families (`coredns_reload_*`), counted by the reload
//! sequence of [`crate::run`].

use std::any::Any;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    hash: String,
    value: String,
}

/// `coredns_reload_*`.
#[derive(Debug, Default)]
pub struct ReloadFamilies {
    /// `coredns_reload_failed_total`.
    pub failed: Counter,
    version: Family<VersionLabels, Gauge>,
}

/// Create and register the families.
pub fn register(registry: &mut Registry) -> Arc<dyn Any + Send + Sync> {
    let families = ReloadFamilies::default();
    let reload = registry.sub_registry_with_prefix("reload");
    reload.register(
        "failed",
        "Counter of the number of failed reload attempts",
        families.failed.clone(),
    );
    reload.register(
        "version_info",
        "A metric with a constant '1' value labeled by hash, and value which type of hash generated",
        families.version.clone(),
    );
    Arc::new(families)
}

impl ReloadFamilies {
    /// `coredns_reload_version_info{hash="sha512",value=HEX}` of the running Corefile: the
    /// previous config's series goes.
    pub fn set_version(&self, sha512_hex: &str) {
        self.version.clear();
        self.version
            .get_or_create(&VersionLabels {
                hash: "sha512".into(),
                value: sha512_hex.into(),
            })
            .set(1);
    }
}
