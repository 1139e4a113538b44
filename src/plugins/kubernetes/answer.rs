//! Typed cluster name + index → records. Pure and synchronous: no I/O, no waiting.
//!
//! Each function returns a [`Lookup`]; the handler turns it into rcode and sections (SOA in
//! the authority section for NXDOMAIN and NODATA, fallthrough, the not-synced SERVFAIL).

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::name::{ClusterName, dashed_ip, parse_dashed_ip};
use super::setup::{KubernetesConfig, PodMode};
use crate::cluster::endpoint_tables::EndpointKey;
use crate::cluster::index::{ServiceEndpoints, with_service_key};
use crate::cluster::seen::{Positions, Seen};
use crate::cluster::{AddressFamily, ClusterIndex, Endpoint, Service, ServiceKind};

/// The TTL of `dns-version` (fixed by CoreDNS, whatever `ttl` says).
pub const DNS_VERSION_TTL: u32 = 28800;

/// The schema version of the Kubernetes DNS specification we implement.
pub const DNS_SCHEMA_VERSION: &str = "1.1.0";

/// What a name resolves to, before it becomes a response.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    /// The name has records of the asked type.
    Records {
        /// Answer section.
        answers: Vec<Record>,
        /// Additional section (SRV targets' addresses, NS glue).
        additional: Vec<Record>,
    },
    /// The name exists but has no data of the asked type.
    NoData,
    /// The name does not exist.
    NxDomain,
    /// The name is an alias (ExternalName): CNAME to this target, then follow it.
    Alias(Name),
}

impl Lookup {
    fn records(answers: Vec<Record>) -> Lookup {
        if answers.is_empty() {
            Lookup::NoData
        } else {
            Lookup::Records {
                answers,
                additional: Vec::new(),
            }
        }
    }
}

/// The matched zone with the question's case (the owner of SOA and NS, the suffix of SRV
/// targets), cut from the question name only when an answer needs it.
pub struct ZoneCase<'a> {
    qname: &'a Name,
    labels: u8,
    name: std::cell::OnceCell<Name>,
}

impl<'a> ZoneCase<'a> {
    /// The zone of `labels` labels at the end of `qname`.
    pub fn new(qname: &'a Name, labels: u8) -> ZoneCase<'a> {
        ZoneCase {
            qname,
            labels,
            name: std::cell::OnceCell::new(),
        }
    }

    /// The zone name.
    pub fn get(&self) -> &Name {
        self.name
            .get_or_init(|| self.qname.trim_to(usize::from(self.labels)))
    }
}

/// Everything a lookup reads.
pub struct Context<'a> {
    /// The cluster index.
    pub index: &'a ClusterIndex,
    /// The plugin's options.
    pub config: &'a KubernetesConfig,
    /// The question name, with the client's case (owner of the answers).
    pub qname: &'a Name,
    /// The matched zone, with the client's case (SRV targets, SOA).
    pub zone: &'a ZoneCase<'a>,
    /// This server's own addresses (NS glue, `ns.dns`).
    pub own_addresses: &'a [IpAddr],
    /// At most this many records per section are built
    /// ([`crate::plugin::records_worth_building`] of the client's limit), so a Service with
    /// 100,000 endpoints costs what its answer can carry, and a cut answer still overflows
    /// (TC=1).
    pub max_records: usize,
}

impl Context<'_> {
    fn ttl(&self) -> u32 {
        self.config.ttl
    }

    fn address_record(&self, owner: &Name, ip: IpAddr) -> Record {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        Record::from_rdata(owner.clone(), self.ttl(), data)
    }

    /// `<labels>.<zone>` with our lowercase labels and the question's zone case.
    fn name_in_zone(&self, labels: &[&str]) -> Name {
        Name::from_labels(labels.iter().map(|l| l.as_bytes()))
            .and_then(|n| n.append_domain(self.zone.get()))
            .unwrap_or_else(|_| self.zone.get().clone())
    }

    fn namespace_exposed(&self, namespace: &str) -> bool {
        crate::cluster::view::namespace_exposed(
            self.index,
            &self.config.namespaces,
            self.config.namespace_labels.is_some(),
            namespace,
        )
    }
}

/// The family a qtype asks for, if it asks for addresses.
fn family(qtype: RecordType) -> Option<AddressFamily> {
    match qtype {
        RecordType::A => Some(AddressFamily::V4),
        RecordType::AAAA => Some(AddressFamily::V6),
        _ => None,
    }
}

/// The name an endpoint's address goes by (CoreDNS's `endpointHostname`): its `hostname`,
/// else (with `endpoint_pod_names`) its pod's name when shorter than 64, else its dashed IP.
fn endpoint_name(endpoint: &Endpoint, pod_names: bool) -> Option<&str> {
    if let Some(hostname) = &endpoint.hostname {
        return Some(hostname);
    }
    endpoint
        .pod_name
        .as_deref()
        .filter(|p| pod_names && p.len() < 64)
}

/// The hostname label of address `ip` of `endpoint` ([`endpoint_name`]).
pub fn endpoint_label(endpoint: &Endpoint, ip: &IpAddr, pod_names: bool) -> String {
    endpoint_name(endpoint, pod_names).map_or_else(|| dashed_ip(ip), str::to_string)
}

/// Whether `label` names address `ip` of `endpoint`, without building the label; `label_ip`
/// is `label` read as a dashed IP, when it is the dashed form of one.
fn endpoint_is_named(
    endpoint: &Endpoint,
    ip: &IpAddr,
    pod_names: bool,
    label: &str,
    label_ip: Option<IpAddr>,
) -> bool {
    match endpoint_name(endpoint, pod_names) {
        Some(name) => name == label,
        None => label_ip == Some(*ip),
    }
}

/// Resolve `name` (under the forward zone) for `qtype`.
pub fn lookup(ctx: &Context<'_>, name: ClusterName<'_>, qtype: RecordType) -> Lookup {
    match name {
        ClusterName::Apex => apex(ctx, qtype),
        ClusterName::DnsVersion => {
            if qtype == RecordType::TXT {
                Lookup::records(vec![Record::from_rdata(
                    ctx.qname.clone(),
                    DNS_VERSION_TTL,
                    RData::TXT(TXT::new(vec![DNS_SCHEMA_VERSION.to_string()])),
                )])
            } else {
                // RFC 8020: the name exists, so NODATA (CoreDNS answers NXDOMAIN here).
                Lookup::NoData
            }
        }
        ClusterName::Dns | ClusterName::KindRoot => Lookup::NoData,
        ClusterName::NsDns => match family(qtype) {
            Some(fam) => Lookup::records(
                ctx.own_addresses
                    .iter()
                    .filter(|ip| AddressFamily::of(ip) == fam)
                    .map(|ip| ctx.address_record(ctx.qname, *ip))
                    .collect(),
            ),
            None => Lookup::NoData,
        },
        ClusterName::Namespace(namespace) => {
            if ctx.namespace_exposed(namespace) && ctx.index.namespace(namespace).is_some() {
                Lookup::NoData
            } else {
                Lookup::NxDomain
            }
        }
        ClusterName::Service { namespace, service } => {
            with_service(ctx, namespace, service, |svc, eps| {
                service_lookup(ctx, svc, eps, qtype)
            })
        }
        ClusterName::Endpoint {
            namespace,
            service,
            hostname,
        } => with_service(ctx, namespace, service, |svc, eps| {
            endpoint_lookup(ctx, svc, eps, hostname, qtype)
        }),
        ClusterName::Port {
            namespace,
            service,
            port,
            protocol,
        } => with_service(ctx, namespace, service, |svc, eps| {
            port_lookup(ctx, svc, eps, Some((port, protocol)), qtype)
        }),
        ClusterName::Pod { namespace, ip } => pod_lookup(ctx, namespace, ip, qtype),
        ClusterName::Unknown => Lookup::NxDomain,
    }
}

fn apex(ctx: &Context<'_>, qtype: RecordType) -> Lookup {
    match qtype {
        RecordType::SOA => Lookup::records(vec![soa_record(ctx.index, ctx.config, ctx.zone.get())]),
        RecordType::NS => {
            let (ns_name, glue) = nameserver(ctx);
            Lookup::Records {
                answers: vec![Record::from_rdata(
                    ctx.zone.get().clone(),
                    ctx.ttl(),
                    RData::NS(NS(ns_name.clone())),
                )],
                additional: glue
                    .iter()
                    .map(|ip| ctx.address_record(&ns_name, *ip))
                    .collect(),
            }
        }
        _ => Lookup::NoData,
    }
}

/// Our NS name and its addresses: the Service whose endpoints hold one of our own addresses
/// (in a cluster: `kube-dns.kube-system.svc.<zone>` and its ClusterIP, as CoreDNS finds it);
/// otherwise `ns.dns.<zone>` with our own addresses.
fn nameserver(ctx: &Context<'_>) -> (Name, Vec<IpAddr>) {
    for ip in ctx.own_addresses {
        for key in ctx.index.services_with_endpoint_ip(ip) {
            if let Some(svc) = ctx.index.service(&key)
                && let ServiceKind::ClusterIp(ips) = &svc.kind
            {
                return (
                    ctx.name_in_zone(&[&svc.name, &svc.namespace, "svc"]),
                    ips.clone(),
                );
            }
        }
    }
    (ctx.name_in_zone(&["ns", "dns"]), ctx.own_addresses.to_vec())
}

/// The zone's SOA: `ns.dns.<zone> hostmaster.<zone> SERIAL 7200 1800 86400 TTL`, where the
/// serial is the time of the last cluster change; the record's TTL is `min(ttl, 300)`.
pub fn soa_record(index: &ClusterIndex, config: &KubernetesConfig, zone: &Name) -> Record {
    let mname = Name::from_labels([b"ns".as_slice(), b"dns"])
        .and_then(|n| n.append_domain(zone))
        .unwrap_or_else(|_| zone.clone());
    let rname = Name::from_labels([b"hostmaster".as_slice()])
        .and_then(|n| n.append_domain(zone))
        .unwrap_or_else(|_| zone.clone());
    let soa = hickory_proto::rr::rdata::SOA::new(
        mname,
        rname,
        index.modified() as u32,
        7200,
        1800,
        86400,
        config.ttl,
    );
    Record::from_rdata(zone.clone(), config.ttl.min(300), RData::SOA(soa))
}

fn with_service(
    ctx: &Context<'_>,
    namespace: &str,
    service: &str,
    then: impl FnOnce(&Service, Option<&ServiceEndpoints>) -> Lookup,
) -> Lookup {
    if !ctx.namespace_exposed(namespace) {
        return Lookup::NxDomain;
    }
    let found = with_service_key(service, namespace, |key| {
        let svc = ctx.index.service(key)?;
        let eps = if ctx.config.noendpoints {
            None
        } else {
            ctx.index.endpoints(key)
        };
        Some((svc, eps))
    });
    let Some((svc, eps)) = found else {
        return Lookup::NxDomain;
    };
    let has_ready = eps.as_deref().is_some_and(ServiceEndpoints::has_ready);
    match svc.kind {
        // `ignore empty_service`: a ClusterIP service without ready endpoints does not exist.
        ServiceKind::ClusterIp(_) if ctx.config.ignore_empty_service && !has_ready => {
            Lookup::NxDomain
        }
        // Spec §2.4.1: a headless service without ready endpoints is NXDOMAIN.
        ServiceKind::Headless if !has_ready => Lookup::NxDomain,
        _ => then(&svc, eps.as_deref()),
    }
}

fn service_lookup(
    ctx: &Context<'_>,
    svc: &Service,
    eps: Option<&ServiceEndpoints>,
    qtype: RecordType,
) -> Lookup {
    if let ServiceKind::ExternalName(target) = &svc.kind {
        return match Name::from_ascii(format!("{target}.")) {
            Ok(target) => Lookup::Alias(target),
            Err(_) => Lookup::NoData,
        };
    }
    if qtype == RecordType::SRV {
        return port_lookup(ctx, svc, eps, None, qtype);
    }
    let Some(fam) = family(qtype) else {
        return Lookup::NoData;
    };
    let record =
        |ip: &IpAddr| (AddressFamily::of(ip) == fam).then(|| ctx.address_record(ctx.qname, *ip));
    Lookup::records(match (&svc.kind, eps) {
        (ServiceKind::ClusterIp(ips), _) => ips.iter().filter_map(record).collect(),
        (ServiceKind::Headless, Some(eps)) => eps
            .ready_of(fam)
            .take(ctx.max_records)
            .map(|(ip, _)| ctx.address_record(ctx.qname, ip))
            .collect(),
        _ => Vec::new(),
    })
}

fn endpoint_lookup(
    ctx: &Context<'_>,
    svc: &Service,
    eps: Option<&ServiceEndpoints>,
    hostname: &str,
    qtype: RecordType,
) -> Lookup {
    if matches!(svc.kind, ServiceKind::ExternalName(_)) {
        return Lookup::NxDomain;
    }
    let Some(eps) = eps else {
        return Lookup::NxDomain;
    };
    let label_ip = parse_dashed_ip(hostname).filter(|ip| dashed_ip(ip) == hostname);
    let pod_names = ctx.config.endpoint_pod_names;
    // The endpoints that could go by this name; `endpoint_is_named` decides.
    let mut keys = vec![EndpointKey::Hostname(hostname)];
    if pod_names {
        keys.push(EndpointKey::PodName(hostname));
    }
    keys.extend(label_ip.map(EndpointKey::Address));
    let mut seen = Seen::default();
    let matching: Vec<IpAddr> = eps
        .find(&keys)
        .filter(|ep| ep.ready)
        .flat_map(|ep| ep.addresses.as_slice().iter().map(move |ip| (*ip, ep)))
        .filter(|(ip, ep)| endpoint_is_named(ep, ip, pod_names, hostname, label_ip))
        .map(|(ip, _)| ip)
        .filter(|ip| seen.insert(ip))
        .take(ctx.max_records)
        .collect();
    if matching.is_empty() {
        return Lookup::NxDomain;
    }
    let Some(fam) = family(qtype) else {
        return Lookup::NoData;
    };
    Lookup::records(
        matching
            .into_iter()
            .filter(|ip| AddressFamily::of(ip) == fam)
            .map(|ip| ctx.address_record(ctx.qname, ip))
            .collect(),
    )
}

/// SRV for `_port._proto.<svc>` (`wanted` set) or for the bare service name (every port,
/// CoreDNS's extension). A named port that does not exist is NXDOMAIN. Linear in the
/// endpoints, and it stops once [`Context::max_records`] SRV records are found.
fn port_lookup(
    ctx: &Context<'_>,
    svc: &Service,
    eps: Option<&ServiceEndpoints>,
    wanted: Option<(&str, &str)>,
    qtype: RecordType,
) -> Lookup {
    let matches = |name: &str, protocol: crate::cluster::Protocol| match wanted {
        Some((port, proto)) => name == port && protocol.label() == proto,
        None => true,
    };
    let mut targets = SrvTargets::default();
    match &svc.kind {
        ServiceKind::ExternalName(_) => {
            return if wanted.is_some() {
                Lookup::NxDomain
            } else {
                Lookup::NoData
            };
        }
        ServiceKind::ClusterIp(ips) => {
            for port in svc.ports.iter().filter(|p| matches(&p.name, p.protocol)) {
                let target = targets.target(None);
                for ip in ips {
                    targets.address(target, *ip);
                }
                targets.srv(target, port.port);
            }
            if wanted.is_some() && targets.is_empty() {
                return Lookup::NxDomain;
            }
        }
        ServiceKind::Headless => {
            let Some(eps) = eps else {
                return Lookup::NxDomain;
            };
            let mut port_found = false;
            'slices: for slice in eps.slices() {
                let ports: Vec<u16> = slice
                    .ports
                    .iter()
                    .filter(|p| matches(&p.name, p.protocol))
                    .map(|p| p.port)
                    .collect();
                port_found |= !ports.is_empty();
                if ports.is_empty() {
                    continue;
                }
                for ep in slice.endpoints.iter().filter(|e| e.ready) {
                    for ip in ep.addresses.as_slice() {
                        let host = endpoint_label(ep, ip, ctx.config.endpoint_pod_names);
                        let target = targets.target(Some(host));
                        targets.address(target, *ip);
                        for port in &ports {
                            targets.srv(target, *port);
                        }
                        if targets.srv.len() >= ctx.max_records {
                            break 'slices;
                        }
                    }
                }
            }
            if wanted.is_some() && !port_found {
                return Lookup::NxDomain;
            }
        }
    }
    if qtype != RecordType::SRV || targets.is_empty() {
        return Lookup::NoData;
    }
    let weight = u16::try_from((100 / targets.srv.len()).max(1)).unwrap_or(1);
    let service = [svc.name.as_ref(), svc.namespace.as_ref(), "svc"];
    let names: Vec<Name> = targets
        .hosts
        .items()
        .iter()
        .map(|host| match host {
            Some(host) => ctx.name_in_zone(&[host, service[0], service[1], service[2]]),
            None => ctx.name_in_zone(&service),
        })
        .collect();
    let answers = targets
        .srv
        .iter()
        .take(ctx.max_records)
        .map(|(host, port)| {
            Record::from_rdata(
                ctx.qname.clone(),
                ctx.ttl(),
                RData::SRV(SRV::new(0, weight, *port, names[*host].clone())),
            )
        })
        .collect();
    let additional = targets
        .addresses
        .iter()
        .zip(&names)
        .flat_map(|(ips, name)| ips.iter().map(|ip| ctx.address_record(name, *ip)))
        .take(ctx.max_records)
        .collect();
    Lookup::Records {
        answers,
        additional,
    }
}

/// The SRV records of a lookup, each (target, port) once, and each target's addresses once:
/// `hosts` holds the targets (`None`: the service's own name) with `addresses` at the same
/// positions, and `srv` points into them.
#[derive(Default)]
struct SrvTargets {
    hosts: Positions<Option<String>>,
    addresses: Vec<Vec<IpAddr>>,
    seen_addresses: Seen<(usize, IpAddr)>,
    srv: Vec<(usize, u16)>,
    seen_srv: Seen<(usize, u16)>,
}

impl SrvTargets {
    /// The index of the target `host`, added if new.
    fn target(&mut self, host: Option<String>) -> usize {
        let index = self.hosts.position(host);
        if index == self.addresses.len() {
            self.addresses.push(Vec::new());
        }
        index
    }

    /// `ip` is an address of target `index` (its glue).
    fn address(&mut self, index: usize, ip: IpAddr) {
        if self.seen_addresses.insert(&(index, ip)) {
            self.addresses[index].push(ip);
        }
    }

    /// An SRV record to target `index` on `port`, once.
    fn srv(&mut self, index: usize, port: u16) {
        if self.seen_srv.insert(&(index, port)) {
            self.srv.push((index, port));
        }
    }

    fn is_empty(&self) -> bool {
        self.srv.is_empty()
    }
}

fn pod_lookup(ctx: &Context<'_>, namespace: &str, ip: Option<IpAddr>, qtype: RecordType) -> Lookup {
    let Some(ip) = ip else {
        return Lookup::NxDomain;
    };
    let exists = match ctx.config.pods {
        PodMode::Disabled => false,
        PodMode::Insecure => {
            ctx.namespace_exposed(namespace) && ctx.index.namespace(namespace).is_some()
        }
        PodMode::Verified => {
            ctx.namespace_exposed(namespace) && ctx.index.live_pod_has_ip(namespace, &ip)
        }
    };
    if !exists {
        return Lookup::NxDomain;
    }
    match family(qtype) {
        Some(fam) if fam == AddressFamily::of(&ip) => {
            Lookup::records(vec![ctx.address_record(ctx.qname, ip)])
        }
        _ => Lookup::NoData,
    }
}

/// PTR for `ip`: the service owning it as a ClusterIP, else every service with a ready endpoint
/// at it (`<hostname>.<svc>.<ns>.svc.<primary zone>`).
pub fn reverse_lookup(
    index: &ClusterIndex,
    config: &KubernetesConfig,
    qname: &Name,
    ip: &IpAddr,
    qtype: RecordType,
) -> Lookup {
    let exposed = |ns: &str| {
        (config.namespaces.is_empty() || config.namespaces.iter().any(|n| n == ns))
            && (config.namespace_labels.is_none() || index.namespace(ns).is_some())
    };
    let mut targets: Vec<Name> = Vec::new();
    let name_of = |labels: &[&str]| {
        Name::from_labels(labels.iter().map(|l| l.as_bytes()))
            .and_then(|n| n.append_domain(&config.primary_zone))
            .ok()
    };
    for key in index.services_with_ip(ip) {
        if let Some(svc) = index.service(&key).filter(|s| exposed(&s.namespace)) {
            targets.extend(name_of(&[&svc.name, &svc.namespace, "svc"]));
            break;
        }
    }
    if targets.is_empty() && !config.noendpoints {
        for key in index.services_with_endpoint_ip(ip) {
            let (Some(svc), Some(eps)) = (index.service(&key), index.endpoints(&key)) else {
                continue;
            };
            if !exposed(&svc.namespace) {
                continue;
            }
            for ep in eps.find(&[EndpointKey::Address(*ip)]).filter(|e| e.ready) {
                let host = endpoint_label(ep, ip, config.endpoint_pod_names);
                targets.extend(name_of(&[&host, &svc.name, &svc.namespace, "svc"]));
            }
        }
    }
    targets.dedup();
    if targets.is_empty() {
        return Lookup::NxDomain;
    }
    if qtype != RecordType::PTR {
        return Lookup::NoData;
    }
    Lookup::records(
        targets
            .into_iter()
            .map(|t| Record::from_rdata(qname.clone(), config.ttl, RData::PTR(PTR(t))))
            .collect(),
    )
}

/// The CNAME record of an alias.
pub fn cname_record(owner: &Name, target: &Name, ttl: u32) -> Record {
    Record::from_rdata(owner.clone(), ttl, RData::CNAME(CNAME(target.clone())))
}
