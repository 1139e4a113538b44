//! The `kubernetes` plugin: answers the cluster zone and the reverse zones from the
//! [`ClusterIndex`], as the Kubernetes DNS-Based Service Discovery specification says.
//! See `README.md` beside this file for the operator's manual.
//!
//! - [`setup`]: the directive's options.
//! - [`name`]: the query-name grammar.
//! - [`answer`]: typed name + index → records.
//! - `handler`: zone match, qtype dispatch, NXDOMAIN/NODATA with SOA, fallthrough, CNAME chase.

pub mod answer;
mod handler;
pub mod name;
pub mod setup;

use std::net::IpAddr;
use std::sync::Arc;

use thiserror::Error;

pub use setup::{KubernetesConfig, PodMode};

use crate::cluster::ClusterIndex;
use crate::cluster::source::manifests::{self, ManifestsError};

/// Why the plugin could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The manifests directory could not be read.
    #[error(transparent)]
    Manifests(#[from] ManifestsError),
    /// The manifests directory could not be watched.
    #[error("manifests: cannot watch for changes: {0}")]
    Watch(#[from] notify::Error),
}

/// Aborts a background task when dropped (the plugin's sources stop with it).
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The running plugin.
#[derive(Debug)]
pub struct Kubernetes {
    config: KubernetesConfig,
    index: Arc<ClusterIndex>,
    own_addresses: Vec<IpAddr>,
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
            config,
            index,
            own_addresses,
            _source: None,
        }
    }

    /// Load the source once and keep it live. Must run inside a tokio runtime.
    pub fn start(config: KubernetesConfig) -> Result<Kubernetes, StartError> {
        let index = Arc::new(ClusterIndex::new());
        let mut source = None;
        if let Some(dir) = &config.manifests {
            let filter = config.source_filter();
            manifests::sync_once(dir, &filter, &index)?;
            source = Some(AbortOnDrop(manifests::watch(
                dir.clone(),
                filter,
                index.clone(),
            )?));
        }
        Ok(Kubernetes {
            config,
            index,
            own_addresses: local_addresses(),
            _source: source,
        })
    }

    /// The index it answers from.
    pub fn index(&self) -> &Arc<ClusterIndex> {
        &self.index
    }
}

#[cfg(test)]
mod tests;
