//! Sources that fill a [`super::ClusterIndex`]: the API server (`api`) and the `manifests`
//! directory (YAML files, live).

pub mod api;
pub mod manifests;

use super::LabelSelector;

/// Which objects a source keeps, from the `kubernetes` plugin's options.
#[derive(Clone, Debug, Default)]
pub struct SourceFilter {
    /// `labels`: applied to Services, EndpointSlices and Pods.
    pub labels: Option<LabelSelector>,
    /// `namespace_labels`: applied to Namespaces.
    pub namespace_labels: Option<LabelSelector>,
    /// Whether to keep Pods (`pods verified`).
    pub pods: bool,
    /// Whether to keep EndpointSlices (not with `noendpoints`).
    pub endpoints: bool,
}
