//! The `kubernetes` plugin: answers the cluster zone and the reverse zones from the
//! [`ClusterIndex`], as the Kubernetes DNS-Based Service Discovery specification says.
//! See `README.md` beside this file for the operator's manual.
//!
//! - [`setup`]: the directive's options.
//! - [`metrics`]: the `coredns_kubernetes_*` families.
//! - [`name`]: the query-name grammar.
//! - [`answer`]: typed name + index → records.
//! - `handler`: zone match, qtype dispatch, NXDOMAIN/NODATA with SOA, fallthrough, CNAME chase.

pub mod answer;
mod handler;
pub mod metrics;
pub mod name;
pub mod setup;

use std::net::IpAddr;
use std::sync::Arc;

use thiserror::Error;

pub use setup::{KubernetesConfig, PodMode};

use crate::cluster::{ClusterIndex, ClusterView};
use crate::cluster::source::api::{self, ConnectError};
use crate::cluster::source::manifests::{self, ManifestsError};
use crate::plugin::{
    AbortOnDrop, BlockSettings, Definition, Plugin, Setup, StartContext, StartError as PluginStartError, StartFuture,
};
use metrics::{KubernetesFamilies, KubernetesMetrics};

/// `kubernetes` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: Some(metrics::register),
    repeatable: false,
    requires: None,
};

impl Setup for KubernetesConfig {
    fn configure(&self, block: &mut BlockSettings) {
        block.pods_verified = self.pods == PodMode::Verified;
    }

    fn start(self: Box<Self>, context: &StartContext) -> StartFuture<'_> {
        let metrics = context
            .metrics
            .families::<KubernetesFamilies>()
            .map(|f| f.handles());
        let block = context.block.clone();
        Box::pin(async move {
            let plugin = Kubernetes::start(*self, metrics)
                .await
                .map_err(|e| PluginStartError::new("kubernetes", e))?;
            // A block holds one `kubernetes`: the first to start is the one shared.
            let _ = block.cluster.set(plugin.view());
            Ok(Some(Arc::new(plugin) as Arc<dyn Plugin>))
        })
    }
}

/// Why the plugin could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The manifests directory could not be read.
    #[error(transparent)]
    Manifests(#[from] ManifestsError),
    /// The manifests directory could not be watched.
    #[error("manifests: cannot watch for changes: {0}")]
    Watch(#[from] notify::Error),
    /// No API client could be built from the configuration.
    #[error(transparent)]
    Api(#[from] ConnectError),
}

/// The running plugin.
#[derive(Debug)]
pub struct Kubernetes {
    config: KubernetesConfig,
    index: Arc<ClusterIndex>,
    own_addresses: Vec<IpAddr>,
    /// Until when queries wait for the first sync (`startup_timeout` after start).
    wait_until: tokio::time::Instant,
    _source: Option<AbortOnDrop>,
}

/// This host's non-loopback addresses (CoreDNS's `localPodIP` lookup).
fn local_addresses() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|list| {
            list.into_iter()
                .map(|i| i.ip())
                .filter(|ip| !ip.is_loopback())
                .collect()
        })
        .unwrap_or_default()
}

impl Kubernetes {
    /// A plugin over an index someone else fills (tests, benchmarks).
    pub fn with_index(
        config: KubernetesConfig,
        index: Arc<ClusterIndex>,
        own_addresses: Vec<IpAddr>,
    ) -> Kubernetes {
        Kubernetes {
            wait_until: tokio::time::Instant::now() + config.startup_timeout,
            config,
            index,
            own_addresses,
            _source: None,
        }
    }

    /// What `k8s_external` answers from: the index, the namespaces exposed, our addresses.
    pub fn view(&self) -> ClusterView {
        ClusterView {
            index: self.index.clone(),
            namespaces: self.config.namespaces.clone(),
            filtered_by_labels: self.config.namespace_labels.is_some(),
            own_addresses: self.own_addresses.clone(),
            zones: self.config.zones.clone(),
        }
    }

    /// Start the source: the manifests directory is read before this returns; the API
    /// watchers start in the background (the listeners must not wait for the API). Must run
    /// inside a tokio runtime.
    /// With `metrics`, the DNS programming latency of slice changes after the sync and the
    /// API client's requests are recorded.
    pub async fn start(
        config: KubernetesConfig,
        metrics: Option<KubernetesMetrics>,
    ) -> Result<Kubernetes, StartError> {
        let index = Arc::new(ClusterIndex::new());
        let rest = metrics.map(|m| {
            index.record_programming_latency(m.programming);
            m.rest_client
        });
        let filter = config.source_filter();
        let source = match &config.manifests {
            Some(dir) => {
                manifests::sync_once(dir, &filter, &index)?;
                manifests::watch(dir.clone(), filter, index.clone())?
            }
            None => {
                let client = api::client(&config.connection, rest).await?;
                api::spawn(client, &filter, index.clone())
            }
        };
        Ok(Kubernetes {
            wait_until: tokio::time::Instant::now() + config.startup_timeout,
            config,
            index,
            own_addresses: local_addresses(),
            _source: Some(AbortOnDrop(source)),
        })
    }

    /// The index it answers from.
    pub fn index(&self) -> &Arc<ClusterIndex> {
        &self.index
    }
}

#[cfg(test)]
mod tests;
