//! The `kubernetes` plugin's metric families (`coredns_kubernetes_*`). The handles they give
//! are counted in by the cluster index and the API source ([`crate::cluster::metrics`]).

use std::any::Any;
use std::sync::Arc;

use prometheus_client::registry::Registry;

use crate::cluster::metrics::{ProgrammingFamily, ProgrammingMetrics, RestClientMetrics};

/// `coredns_kubernetes_*`.
#[derive(Debug, Default)]
pub struct KubernetesFamilies {
    programming: ProgrammingFamily,
    rest_client: RestClientMetrics,
}

/// Create and register the families.
pub fn register(registry: &mut Registry) -> Arc<dyn Any + Send + Sync> {
    let families = KubernetesFamilies::default();
    let kubernetes = registry.sub_registry_with_prefix("kubernetes");
    families.programming.register(kubernetes);
    families.rest_client.register(kubernetes);
    Arc::new(families)
}

impl KubernetesFamilies {
    /// The handles of one `kubernetes` plugin.
    pub fn handles(&self) -> KubernetesMetrics {
        KubernetesMetrics {
            programming: self.programming.handles(),
            rest_client: self.rest_client.clone(),
        }
    }
}

/// The kubernetes plugin's metric handles.
#[derive(Clone, Debug)]
pub struct KubernetesMetrics {
    /// `coredns_kubernetes_dns_programming_duration_seconds`.
    pub programming: ProgrammingMetrics,
    /// `coredns_kubernetes_rest_client_*`.
    pub rest_client: RestClientMetrics,
}
