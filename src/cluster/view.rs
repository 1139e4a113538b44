//! What the `kubernetes` plugin of a server block shares with the plugins that answer from the
//! same cluster data under other names (`k8s_external`): its index, which namespaces it
//! exposes, and the server's own addresses.

use std::net::IpAddr;
use std::sync::Arc;

use super::ClusterIndex;

/// The cluster as the block's `kubernetes` plugin serves it.
#[derive(Clone, Debug)]
pub struct ClusterView {
    /// The index it fills.
    pub index: Arc<ClusterIndex>,
    /// `namespaces`: the only namespaces exposed (empty: all).
    pub namespaces: Vec<String>,
    /// Whether `namespace_labels` filters namespaces (only those in the index are exposed).
    pub filtered_by_labels: bool,
    /// This server's addresses (the `ns.dns` glue).
    pub own_addresses: Vec<IpAddr>,
    /// The zones the `kubernetes` plugin answers (lowercase).
    pub zones: Vec<hickory_proto::rr::Name>,
}

impl ClusterView {
    /// Whether names of `namespace` are answered: listed in `namespaces` (when set) and, with
    /// `namespace_labels`, selected by it.
    pub fn namespace_exposed(&self, namespace: &str) -> bool {
        namespace_exposed(
            &self.index,
            &self.namespaces,
            self.filtered_by_labels,
            namespace,
        )
    }
}

/// The exposure rule of [`ClusterView::namespace_exposed`], for a plugin that holds the parts.
pub fn namespace_exposed(
    index: &ClusterIndex,
    namespaces: &[String],
    filtered_by_labels: bool,
    namespace: &str,
) -> bool {
    if !namespaces.is_empty() && !namespaces.iter().any(|n| n == namespace) {
        return false;
    }
    !filtered_by_labels || index.namespace(namespace).is_some()
}
