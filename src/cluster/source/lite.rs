//! Pods as `pods verified` reads them from the API: only metadata's name, namespace, resource
//! version and deletion mark, and status's phase and IPs. Decoding a full `v1 Pod` (spec,
//! containers, managedFields…) for 100k pods costs CPU and memory for fields that are thrown
//! away; serde skips them without building them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Deserialize;

/// A Pod with only what answers need.
#[derive(Clone, Debug, Default)]
pub struct PodLite {
    /// name, namespace, resourceVersion, labels, deletionTimestamp.
    pub metadata: ObjectMeta,
    /// phase and addresses.
    pub status: PodStatusLite,
}

/// The part of a Pod's status that answers need.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatusLite {
    /// Pending, Running, Succeeded, Failed or Unknown.
    #[serde(default)]
    pub phase: Option<String>,
    /// The primary address.
    #[serde(default, rename = "podIP")]
    pub pod_ip: Option<String>,
    /// Every address (dual-stack).
    #[serde(default, rename = "podIPs")]
    pub pod_ips: Option<Vec<PodIpLite>>,
}

/// One entry of `status.podIPs`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodIpLite {
    /// The address.
    pub ip: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaLite {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    deletion_timestamp: Option<Time>,
}

#[derive(Deserialize)]
struct PodWire {
    #[serde(default)]
    metadata: Option<MetaLite>,
    #[serde(default)]
    status: Option<PodStatusLite>,
}

impl<'de> Deserialize<'de> for PodLite {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = PodWire::deserialize(deserializer)?;
        let metadata = wire
            .metadata
            .map(|m| ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                resource_version: m.resource_version,
                labels: m.labels,
                deletion_timestamp: m.deletion_timestamp,
                ..ObjectMeta::default()
            })
            .unwrap_or_default();
        Ok(PodLite {
            metadata,
            status: wire.status.unwrap_or_default(),
        })
    }
}

impl k8s_openapi::Resource for PodLite {
    const API_VERSION: &'static str = "v1";
    const GROUP: &'static str = "";
    const KIND: &'static str = "Pod";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "pods";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for PodLite {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_what_answers_need() {
        let pod: PodLite = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns","resourceVersion":"7",
               "managedFields":[{"manager":"kubelet"}],"labels":{"app":"x"}},
               "spec":{"containers":[{"name":"c","image":"i"}]},
               "status":{"phase":"Running","podIP":"10.0.0.1","podIPs":[{"ip":"10.0.0.1"},{"ip":"fd00::1"}]}}"#,
        )
        .expect("decodes");
        assert_eq!(pod.metadata.name.as_deref(), Some("p"));
        assert_eq!(pod.metadata.resource_version.as_deref(), Some("7"));
        assert!(pod.metadata.managed_fields.is_none());
        assert_eq!(pod.status.phase.as_deref(), Some("Running"));
        assert_eq!(pod.status.pod_ips.as_ref().map(Vec::len), Some(2));
    }
}
