//! Stripped cluster objects: only what answers need (CoreDNS's `object/` package does the
//! same), so 100k objects stay small. Conversions from the `k8s-openapi` types live here.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use thiserror::Error;

use super::one_or_many::OneOrMany;

/// Why an object could not be turned into its stripped form.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ObjectError {
    /// A field every object of the kind needs is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A field holds a value we cannot use.
    #[error("invalid {field}: {value:?}")]
    Invalid {
        /// The field's path.
        field: &'static str,
        /// Its value.
        value: String,
    },
}

/// A transport protocol of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP (the Kubernetes default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    fn parse(value: Option<&str>) -> Result<Protocol, ObjectError> {
        match value {
            None | Some("TCP") => Ok(Protocol::Tcp),
            Some("UDP") => Ok(Protocol::Udp),
            Some("SCTP") => Ok(Protocol::Sctp),
            Some(other) => Err(ObjectError::Invalid {
                field: "protocol",
                value: other.to_string(),
            }),
        }
    }

    /// The lowercase name used in SRV labels (`_tcp`).
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// IPv4 or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressFamily {
    /// A records.
    V4,
    /// AAAA records.
    V6,
}

impl AddressFamily {
    /// The family of `ip`.
    pub fn of(ip: &IpAddr) -> AddressFamily {
        match ip {
            IpAddr::V4(_) => AddressFamily::V4,
            IpAddr::V6(_) => AddressFamily::V6,
        }
    }
}

/// A Namespace: its name and labels (for `namespace_labels`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// metadata.name
    pub name: Arc<str>,
    /// metadata.labels
    pub labels: BTreeMap<String, String>,
}

/// A port of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// The port's name, lowercase; empty for an unnamed port.
    pub name: Box<str>,
    /// Its protocol.
    pub protocol: Protocol,
    /// The port number.
    pub port: u16,
}

/// What kind of Service this is, with the data each kind answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// A Service with cluster IPs (one per family for dual-stack).
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: answers come from the ready endpoints.
    Headless,
    /// `type: ExternalName`: a CNAME to this name (without the trailing dot).
    ExternalName(Box<str>),
}

/// A Service, stripped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// metadata.name
    pub name: Arc<str>,
    /// metadata.namespace
    pub namespace: Arc<str>,
    /// The kind and its addresses.
    pub kind: ServiceKind,
    /// spec.ports
    pub ports: Vec<ServicePort>,
    /// Whether spec.selector is set (the `service_kind` of the DNS programming latency).
    pub has_selector: bool,
    /// spec.externalIPs and status.loadBalancer.ingress[].ip, for `k8s_external` (empty, and
    /// no allocation, for most Services).
    pub external: Box<[IpAddr]>,
    /// The first status.loadBalancer.ingress[].hostname, for `k8s_external` (a cloud load
    /// balancer known by name, as AWS's are).
    pub external_hostname: Option<Box<str>>,
}

/// One endpoint of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Its addresses (all of the slice's family; almost always one).
    pub addresses: OneOrMany<IpAddr>,
    /// `hostname`, if set.
    pub hostname: Option<Box<str>>,
    /// The name of the Pod in `targetRef`, if it is a Pod.
    pub pod_name: Option<Box<str>>,
    /// `conditions.ready`, where unset counts as ready (the spec's rule).
    pub ready: bool,
}

/// A port of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointPort {
    /// The port's name, lowercase; empty for an unnamed port.
    pub name: Box<str>,
    /// Its protocol.
    pub protocol: Protocol,
    /// The port number.
    pub port: u16,
}

/// An EndpointSlice, stripped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSlice {
    /// metadata.name
    pub name: Arc<str>,
    /// metadata.namespace
    pub namespace: Arc<str>,
    /// The Service it belongs to (label `kubernetes.io/service-name`).
    pub service: Arc<str>,
    /// Its endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Its ports (ports without a number are left out: they cannot be SRV targets).
    pub ports: Vec<EndpointPort>,
    /// The annotation `endpoints.kubernetes.io/last-change-trigger-time`: when the change
    /// that produced this version happened (for the DNS programming latency).
    pub trigger_time: Option<std::time::SystemTime>,
}

/// A Pod's lifecycle phase, as far as `pods verified` cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// Pending or Running: the pod answers.
    Live,
    /// Succeeded, Failed, Unknown or being deleted: it does not.
    Gone,
}

/// A Pod, stripped: what `pods verified` needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// metadata.name
    pub name: Arc<str>,
    /// metadata.namespace
    pub namespace: Arc<str>,
    /// status.podIPs (or status.podIP).
    pub ips: Vec<IpAddr>,
    /// Whether the pod is pending or running and not being deleted.
    pub phase: PodPhase,
}

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Arc<str> {
    Arc::from(meta.namespace.as_deref().unwrap_or("default"))
}

fn parse_ip(field: &'static str, value: &str) -> Result<IpAddr, ObjectError> {
    value.parse().map_err(|_| ObjectError::Invalid {
        field,
        value: value.to_string(),
    })
}

fn port_number(field: &'static str, port: i32) -> Result<u16, ObjectError> {
    u16::try_from(port).map_err(|_| ObjectError::Invalid {
        field,
        value: port.to_string(),
    })
}

impl Namespace {
    /// Strip a v1 Namespace.
    pub fn from_api(ns: &core::Namespace) -> Result<Namespace, ObjectError> {
        let name = ns
            .metadata
            .name
            .as_deref()
            .ok_or(ObjectError::Missing("metadata.name"))?;
        Ok(Namespace {
            name: Arc::from(name),
            labels: ns.metadata.labels.clone().unwrap_or_default(),
        })
    }
}

impl Service {
    /// Strip a v1 Service. Parts that do not fit (one bad address among several, a port with a
    /// bad protocol or number) are left out and described in `skipped`; a Service with nothing
    /// usable left is an error.
    pub fn from_api(
        svc: &core::Service,
        skipped: &mut Vec<String>,
    ) -> Result<Service, ObjectError> {
        let name = svc
            .metadata
            .name
            .as_deref()
            .ok_or(ObjectError::Missing("metadata.name"))?;
        let spec = svc.spec.as_ref().ok_or(ObjectError::Missing("spec"))?;
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            let target = spec
                .external_name
                .as_deref()
                .ok_or(ObjectError::Missing("spec.externalName"))?;
            ServiceKind::ExternalName(Box::from(target.trim_end_matches('.')))
        } else if spec.cluster_ip.as_deref() == Some("None") {
            ServiceKind::Headless
        } else {
            let listed: Vec<&String> = match (&spec.cluster_ips, &spec.cluster_ip) {
                (Some(list), _) if !list.is_empty() => list.iter().collect(),
                (_, Some(ip)) if !ip.is_empty() => vec![ip],
                _ => return Err(ObjectError::Missing("spec.clusterIP")),
            };
            let mut ips = Vec::with_capacity(listed.len());
            let mut first_error = None;
            for text in listed {
                match parse_ip("spec.clusterIP", text) {
                    Ok(ip) => ips.push(ip),
                    Err(e) => {
                        skipped.push(e.to_string());
                        first_error.get_or_insert(e);
                    }
                }
            }
            if ips.is_empty() {
                return Err(first_error.unwrap_or(ObjectError::Missing("spec.clusterIP")));
            }
            ServiceKind::ClusterIp(ips)
        };
        let mut ports = Vec::new();
        for port in spec.ports.iter().flatten() {
            let parsed = Protocol::parse(port.protocol.as_deref())
                .and_then(|protocol| Ok((protocol, port_number("spec.ports[].port", port.port)?)));
            match parsed {
                Ok((protocol, number)) => ports.push(ServicePort {
                    name: Box::from(port.name.as_deref().unwrap_or("").to_ascii_lowercase()),
                    protocol,
                    port: number,
                }),
                Err(e) => skipped.push(format!("port skipped: {e}")),
            }
        }
        let ingress = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref());
        let mut external = Vec::new();
        for text in spec
            .external_ips
            .iter()
            .flatten()
            .chain(ingress.into_iter().flatten().filter_map(|i| i.ip.as_ref()))
        {
            match parse_ip("external address", text) {
                Ok(ip) if !external.contains(&ip) => external.push(ip),
                Ok(_) => {}
                Err(e) => skipped.push(e.to_string()),
            }
        }
        let external_hostname = ingress
            .into_iter()
            .flatten()
            .filter_map(|i| i.hostname.as_deref())
            .find(|host| !host.is_empty())
            .map(Box::from);
        Ok(Service {
            name: Arc::from(name),
            namespace: namespace_of(&svc.metadata),
            kind,
            ports,
            has_selector: spec.selector.as_ref().is_some_and(|s| !s.is_empty()),
            external: external.into_boxed_slice(),
            external_hostname,
        })
    }
}

impl EndpointSlice {
    /// Strip a discovery.k8s.io/v1 EndpointSlice. FQDN slices carry no IPs and are refused, as
    /// is a slice without its service-name label. Bad addresses and ports are left out and
    /// described in `skipped`.
    pub fn from_api(
        slice: &discovery::EndpointSlice,
        skipped: &mut Vec<String>,
    ) -> Result<EndpointSlice, ObjectError> {
        let name = slice
            .metadata
            .name
            .as_deref()
            .ok_or(ObjectError::Missing("metadata.name"))?;
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(SERVICE_NAME_LABEL))
            .ok_or(ObjectError::Missing("label kubernetes.io/service-name"))?;
        let family = match slice.address_type.as_str() {
            "IPv4" => AddressFamily::V4,
            "IPv6" => AddressFamily::V6,
            other => {
                return Err(ObjectError::Invalid {
                    field: "addressType",
                    value: other.to_string(),
                });
            }
        };
        let mut endpoints = Vec::with_capacity(slice.endpoints.len());
        for ep in &slice.endpoints {
            let mut addresses = Vec::with_capacity(ep.addresses.len());
            for address in &ep.addresses {
                match parse_ip("endpoints[].addresses", address) {
                    Ok(ip) if AddressFamily::of(&ip) == family => addresses.push(ip),
                    Ok(_) => skipped.push(format!(
                        "address {address:?} skipped: not of the slice's addressType"
                    )),
                    Err(e) => skipped.push(format!("address skipped: {e}")),
                }
            }
            if addresses.is_empty() {
                continue;
            }
            let pod_name = ep
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| r.name.as_deref())
                .map(|n| Box::from(n.to_ascii_lowercase()));
            endpoints.push(Endpoint {
                addresses: addresses.into_iter().collect(),
                hostname: ep
                    .hostname
                    .as_deref()
                    .map(|h| Box::from(h.to_ascii_lowercase())),
                pod_name,
                ready: ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true),
            });
        }
        let mut ports = Vec::new();
        for port in slice.ports.iter().flatten() {
            let Some(number) = port.port else { continue };
            let parsed = Protocol::parse(port.protocol.as_deref())
                .and_then(|protocol| Ok((protocol, port_number("ports[].port", number)?)));
            match parsed {
                Ok((protocol, number)) => ports.push(EndpointPort {
                    name: Box::from(port.name.as_deref().unwrap_or("").to_ascii_lowercase()),
                    protocol,
                    port: number,
                }),
                Err(e) => skipped.push(format!("port skipped: {e}")),
            }
        }
        Ok(EndpointSlice {
            name: Arc::from(name),
            namespace: namespace_of(&slice.metadata),
            service: Arc::from(service.as_str()),
            endpoints,
            ports,
            trigger_time: slice
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("endpoints.kubernetes.io/last-change-trigger-time"))
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(std::time::SystemTime::from),
        })
    }
}

impl Pod {
    /// Strip a v1 Pod. Bad addresses are left out and described in `skipped`.
    pub fn from_api(pod: &core::Pod, skipped: &mut Vec<String>) -> Result<Pod, ObjectError> {
        let status = pod.status.as_ref();
        let listed: Vec<&str> = match status.and_then(|s| s.pod_ips.as_ref()) {
            Some(list) if !list.is_empty() => list.iter().map(|ip| ip.ip.as_str()).collect(),
            _ => status
                .and_then(|s| s.pod_ip.as_deref())
                .into_iter()
                .collect(),
        };
        let phase = status.and_then(|s| s.phase.as_deref());
        Pod::from_parts(&pod.metadata, phase, &listed, skipped)
    }

    /// Strip a Pod read in its light form (see `source::lite`).
    pub fn from_lite(
        pod: &crate::cluster::source::lite::PodLite,
        skipped: &mut Vec<String>,
    ) -> Result<Pod, ObjectError> {
        let status = &pod.status;
        let listed: Vec<&str> = match status.pod_ips.as_ref() {
            Some(list) if !list.is_empty() => list.iter().map(|ip| ip.ip.as_str()).collect(),
            _ => status.pod_ip.as_deref().into_iter().collect(),
        };
        Pod::from_parts(&pod.metadata, status.phase.as_deref(), &listed, skipped)
    }

    fn from_parts(
        metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        phase: Option<&str>,
        listed: &[&str],
        skipped: &mut Vec<String>,
    ) -> Result<Pod, ObjectError> {
        let name = metadata
            .name
            .as_deref()
            .ok_or(ObjectError::Missing("metadata.name"))?;
        let mut ips = Vec::with_capacity(listed.len());
        for text in listed {
            match parse_ip("status.podIPs", text) {
                Ok(ip) => ips.push(ip),
                Err(e) => skipped.push(format!("address skipped: {e}")),
            }
        }
        let live_phase = matches!(phase, Some("Running") | Some("Pending"));
        let phase = if live_phase && metadata.deletion_timestamp.is_none() {
            PodPhase::Live
        } else {
            PodPhase::Gone
        };
        Ok(Pod {
            name: Arc::from(name),
            namespace: namespace_of(metadata),
            ips,
            phase,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Result<Service, ObjectError> {
        let svc: core::Service = serde_norway::from_str(yaml).expect("test yaml");
        Service::from_api(&svc, &mut Vec::new())
    }

    #[test]
    fn dual_stack_service_keeps_every_cluster_ip() {
        let svc = service(
            "metadata: {name: web, namespace: shop}\nspec:\n  clusterIP: 10.0.0.1\n  clusterIPs: [10.0.0.1, 'fd00::1']\n  ports: [{name: HTTP, port: 80}]\n",
        )
        .expect("valid");
        assert_eq!(
            svc.kind,
            ServiceKind::ClusterIp(vec![
                "10.0.0.1".parse().expect("ip"),
                "fd00::1".parse().expect("ip")
            ])
        );
        assert_eq!(&*svc.ports[0].name, "http");
        assert_eq!(svc.ports[0].protocol, Protocol::Tcp);
    }

    #[test]
    fn external_ips_and_load_balancer_addresses_are_kept_once() {
        let svc = service(
            "metadata: {name: web}\nspec:\n  type: LoadBalancer\n  clusterIP: 10.0.0.1\n  externalIPs: [192.0.2.10, 192.0.2.10]\n  ports: [{port: 80}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: 203.0.113.7}, {hostname: lb.example.com}]\n",
        )
        .expect("valid");
        let external: Vec<String> = svc.external.iter().map(ToString::to_string).collect();
        assert_eq!(external, ["192.0.2.10", "203.0.113.7"]);
        assert_eq!(svc.external_hostname.as_deref(), Some("lb.example.com"));
        let plain = service("metadata: {name: db}\nspec: {clusterIP: None}\n").expect("valid");
        assert!(plain.external.is_empty());
    }

    #[test]
    fn headless_and_external_name_are_recognised() {
        let headless = service("metadata: {name: db}\nspec: {clusterIP: None}\n").expect("valid");
        assert_eq!(headless.kind, ServiceKind::Headless);
        assert_eq!(&*headless.namespace, "default");
        let ext = service(
            "metadata: {name: ext}\nspec: {type: ExternalName, externalName: example.org.}\n",
        )
        .expect("valid");
        assert_eq!(
            ext.kind,
            ServiceKind::ExternalName(Box::from("example.org"))
        );
    }

    #[test]
    fn service_with_a_bad_cluster_ip_is_refused() {
        let err = service("metadata: {name: x}\nspec: {clusterIP: 10.0.0.300}\n").unwrap_err();
        assert!(matches!(
            err,
            ObjectError::Invalid {
                field: "spec.clusterIP",
                ..
            }
        ));
    }

    #[test]
    fn endpoint_without_ready_condition_counts_as_ready() {
        let slice: discovery::EndpointSlice = serde_norway::from_str(
            "metadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}, annotations: {endpoints.kubernetes.io/last-change-trigger-time: '2026-11-22T10:00:00Z'}}\naddressType: IPv4\nendpoints:\n- addresses: [10.1.0.1]\n- addresses: [10.1.0.2]\n  conditions: {ready: false}\nports: [{name: http, port: 8080}, {name: noport}]\n",
        )
        .expect("test yaml");
        let mut skipped = Vec::new();
        let slice = EndpointSlice::from_api(&slice, &mut skipped).expect("valid");
        assert!(skipped.is_empty(), "{skipped:?}");
        assert!(slice.endpoints[0].ready);
        assert!(!slice.endpoints[1].ready);
        assert_eq!(slice.ports.len(), 1, "a port without a number is left out");
        assert_eq!(&*slice.service, "web");
        let trigger = slice.trigger_time.expect("annotation read");
        assert_eq!(
            trigger
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs(),
            1_795_341_600
        );
    }

    #[test]
    fn pod_being_deleted_is_gone() {
        let pod: core::Pod = serde_norway::from_str(
            "metadata: {name: p, deletionTimestamp: '2026-01-01T00:00:00Z'}\nstatus: {phase: Running, podIP: 10.2.0.1}\n",
        )
        .expect("test yaml");
        assert_eq!(
            Pod::from_api(&pod, &mut Vec::new()).expect("valid").phase,
            PodPhase::Gone
        );
    }

    #[test]
    fn bad_parts_are_skipped_and_the_rest_kept() {
        let svc: core::Service = serde_norway::from_str(
            "metadata: {name: web}\nspec:\n  clusterIPs: [10.0.0.1, bogus]\n  ports: [{port: 80}, {port: 70000}, {port: 53, protocol: QUIC}]\n",
        )
        .expect("test yaml");
        let mut skipped = Vec::new();
        let svc = Service::from_api(&svc, &mut skipped).expect("kept");
        assert_eq!(
            svc.kind,
            ServiceKind::ClusterIp(vec!["10.0.0.1".parse().expect("ip")])
        );
        assert_eq!(svc.ports.len(), 1);
        assert_eq!(skipped.len(), 3, "{skipped:?}");

        let slice: discovery::EndpointSlice = serde_norway::from_str(
            "metadata: {name: s, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints:\n- addresses: [10.1.0.1]\n- addresses: ['fd00::1']\n- addresses: [nonsense]\n",
        )
        .expect("test yaml");
        let mut skipped = Vec::new();
        let slice = EndpointSlice::from_api(&slice, &mut skipped).expect("kept");
        assert_eq!(slice.endpoints.len(), 1);
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn slice_without_service_label_is_refused() {
        let slice: discovery::EndpointSlice =
            serde_norway::from_str("metadata: {name: s}\naddressType: IPv4\nendpoints: []\n")
                .expect("test yaml");
        assert_eq!(
            EndpointSlice::from_api(&slice, &mut Vec::new()),
            Err(ObjectError::Missing("label kubernetes.io/service-name"))
        );
    }
}
