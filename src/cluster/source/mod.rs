//! Sources that fill a [`super::ClusterIndex`]: the API server (`api`) and the `manifests`
//! directory (YAML files, live).

pub mod api;
pub mod line_cap;
mod list_split;
pub mod lite;
pub mod manifests;
pub mod rest_metrics;

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
    /// Whether to keep the pod name of endpoints (`endpoint_pod_names`).
    pub pod_names: bool,
}

impl SourceFilter {
    /// Drop from `slice` what the options make useless (the pod names, unless
    /// `endpoint_pod_names`): 100k endpoints × a name is megabytes.
    pub fn trim(&self, slice: &mut super::EndpointSlice) {
        if !self.pod_names {
            for endpoint in &mut slice.endpoints {
                endpoint.pod_name = None;
            }
        }
    }
}
