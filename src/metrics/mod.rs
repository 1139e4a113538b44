//! CoreDNS's server metrics (`coredns_dns_*`, `coredns_panics_total`, `coredns_build_info`,
//! `coredns_plugin_enabled`), with its names, labels and buckets so dashboards and alerts work
//! unchanged.
//!
//! A series exists from its first observation, as in CoreDNS. Counting on the query path
//! takes no lock after that: each zone keeps a `OnceLock` slot per label combination it can
//! produce, filled from the family (prometheus-client's `Family` locks to look a label set up)
//! the first time it is counted, and histograms are our own atomic ones
//! ([`histogram::AtomicHistogram`]: prometheus-client's takes a mutex per observation).

pub mod histogram;
pub mod lazy;

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use histogram::AtomicHistogram;

/// CoreDNS's `plugin.TimeBuckets`: 0.25 ms to 8 s, doubling.
pub const TIME_BUCKETS: [f64; 16] = [
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024,
    2.048, 4.096, 8.192,
];

/// CoreDNS's `plugin.SizeBuckets`.
pub const SIZE_BUCKETS: [f64; 14] = [
    0.0, 100.0, 200.0, 300.0, 400.0, 511.0, 1023.0, 2047.0, 4095.0, 8291.0, 16e3, 32e3, 48e3, 64e3,
];

/// The `type` label values CoreDNS uses; anything else is `other`.
const TYPES: [(RecordType, &str); 18] = [
    (RecordType::A, "A"),
    (RecordType::AAAA, "AAAA"),
    (RecordType::MX, "MX"),
    (RecordType::SOA, "SOA"),
    (RecordType::CNAME, "CNAME"),
    (RecordType::PTR, "PTR"),
    (RecordType::TXT, "TXT"),
    (RecordType::NS, "NS"),
    (RecordType::SRV, "SRV"),
    (RecordType::DS, "DS"),
    (RecordType::DNSKEY, "DNSKEY"),
    (RecordType::RRSIG, "RRSIG"),
    (RecordType::NSEC, "NSEC"),
    (RecordType::NSEC3, "NSEC3"),
    (RecordType::HTTPS, "HTTPS"),
    (RecordType::IXFR, "IXFR"),
    (RecordType::AXFR, "AXFR"),
    (RecordType::ANY, "ANY"),
];

fn type_index(qtype: RecordType) -> usize {
    TYPES
        .iter()
        .position(|(t, _)| *t == qtype)
        .unwrap_or(TYPES.len())
}

fn type_label(index: usize) -> &'static str {
    TYPES.get(index).map_or("other", |(_, name)| name)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    server: String,
    zone: String,
    view: String,
    proto: String,
    family: String,
    #[prometheus(flatten)]
    kind: TypeLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    server: String,
    zone: String,
    view: String,
    rcode: String,
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    server: String,
    zone: String,
    view: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SizeLabels {
    server: String,
    zone: String,
    view: String,
    proto: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ZoneLabels {
    server: String,
    view: String,
    zone: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    server: String,
    zone: String,
    view: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    revision: String,
    goversion: String,
}

/// A family of our atomic histograms.
pub type HistogramFamily<L> = Family<L, AtomicHistogram, fn() -> AtomicHistogram>;

/// Creates a plugin's metric families and registers them (under `coredns_`); the plugin finds
/// them again with [`ServerMetrics::families`].
pub type RegisterFamilies = fn(&mut Registry) -> Arc<dyn Any + Send + Sync>;

/// A histogram with CoreDNS's time buckets.
pub fn time_histogram() -> AtomicHistogram {
    AtomicHistogram::new(&TIME_BUCKETS)
}

fn size_histogram() -> AtomicHistogram {
    AtomicHistogram::new(&SIZE_BUCKETS)
}

/// The metric handles of one listener's bound on answers in flight.
#[derive(Clone, Debug, Default)]
pub struct PendingMetrics {
    /// `clusterdns_pending_answers`: answers in flight now.
    pub in_flight: Gauge,
    /// `clusterdns_pending_rejected_total`: queries refused at the bound.
    pub rejected: Counter,
}

/// The `coredns_dns_*` families every zone counts in (clones share their series).
#[derive(Clone)]
struct DnsFamilies {
    requests: Family<RequestLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
    duration: HistogramFamily<DurationLabels>,
    request_size: HistogramFamily<SizeLabels>,
    response_size: HistogramFamily<SizeLabels>,
    do_requests: Family<ZoneLabels, Counter>,
}

/// The server metrics, registered once per process.
pub struct ServerMetrics {
    registry: Registry,
    dns: DnsFamilies,
    plugin_enabled: Family<PluginLabels, Gauge>,
    /// `coredns_panics_total`.
    pub panics: Counter,
    pending_rejected: Family<ServerLabel, Counter>,
    pending_in_flight: Family<ServerLabel, Gauge>,
    /// The plugins' families, each registered once by its plugin's registration function.
    plugin_families: Vec<Arc<dyn Any + Send + Sync>>,
}

impl ServerMetrics {
    /// Create and register the server's families and those of `plugins` (each plugin's
    /// registration function, from the plugin registry).
    pub fn new(plugins: &[RegisterFamilies]) -> ServerMetrics {
        let mut registry = Registry::default();
        let plugin_families = {
            let prefixed = registry.sub_registry_with_prefix("coredns");
            plugins.iter().map(|register| register(prefixed)).collect()
        };
        let metrics = ServerMetrics {
            dns: DnsFamilies {
                requests: Family::default(),
                responses: Family::default(),
                duration: Family::new_with_constructor(time_histogram as fn() -> AtomicHistogram),
                request_size: Family::new_with_constructor(
                    size_histogram as fn() -> AtomicHistogram,
                ),
                response_size: Family::new_with_constructor(
                    size_histogram as fn() -> AtomicHistogram,
                ),
                do_requests: Family::default(),
            },
            plugin_enabled: Family::default(),
            panics: Counter::default(),
            pending_rejected: Family::default(),
            pending_in_flight: Family::default(),
            plugin_families,
            registry: Registry::default(),
        };
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: crate::VERSION.to_string(),
                // The commit and compiler of this build (build.rs); CoreDNS reports Go's.
                revision: env!("CLUSTERDNS_GIT_REVISION").to_string(),
                goversion: format!("rust {}", env!("CLUSTERDNS_RUSTC_VERSION")),
            })
            .set(1);
        let prefixed = registry.sub_registry_with_prefix("coredns");
        prefixed.register("build_info", "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built", build);
        prefixed.register(
            "panics",
            "A metrics that counts the number of panics",
            metrics.panics.clone(),
        );
        let dns = prefixed.sub_registry_with_prefix("dns");
        dns.register(
            "requests",
            "Counter of DNS requests made per zone, protocol and family",
            metrics.dns.requests.clone(),
        );
        dns.register(
            "responses",
            "Counter of response status codes",
            metrics.dns.responses.clone(),
        );
        dns.register(
            "request_duration_seconds",
            "Histogram of the time (in seconds) each request took per zone",
            metrics.dns.duration.clone(),
        );
        dns.register(
            "request_size_bytes",
            "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol",
            metrics.dns.request_size.clone(),
        );
        dns.register(
            "response_size_bytes",
            "Size of the returned response in bytes",
            metrics.dns.response_size.clone(),
        );
        dns.register(
            "do_requests",
            "Counter of DNS requests with DO bit set per zone",
            metrics.dns.do_requests.clone(),
        );
        prefixed.register(
            "plugin_enabled",
            "A metric that indicates whether a plugin is enabled on per server and zone basis",
            metrics.plugin_enabled.clone(),
        );
        let own = registry.sub_registry_with_prefix("clusterdns");
        own.register(
            "pending_rejected",
            "Counter of queries answered REFUSED because the listener had its maximum of answers in flight (-max-pending)",
            metrics.pending_rejected.clone(),
        );
        own.register(
            "pending_answers",
            "Answers in flight per listener: waiting on an upstream or on the first sync of the cluster",
            metrics.pending_in_flight.clone(),
        );
        ServerMetrics {
            registry,
            ..metrics
        }
    }

    /// The families a plugin registered, found by their type.
    pub fn families<F: Any + Send + Sync>(&self) -> Option<Arc<F>> {
        self.plugin_families
            .iter()
            .find_map(|f| f.clone().downcast::<F>().ok())
    }

    /// `clusterdns_pending_answers` and `clusterdns_pending_rejected_total` of the listener
    /// `server`.
    pub fn pending(&self, server: &str) -> PendingMetrics {
        let label = ServerLabel {
            server: server.into(),
        };
        PendingMetrics {
            in_flight: self.pending_in_flight.get_or_create(&label).clone(),
            rejected: self.pending_rejected.get_or_create(&label).clone(),
        }
    }

    /// The registry, for `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// `coredns_plugin_enabled` of the running config: (server, zone, plugin names) rows.
    /// Replaces the previous config's rows (as CoreDNS resets it on reload).
    pub fn set_plugins_enabled(&self, rows: &[(String, String, Vec<&'static str>)]) {
        self.plugin_enabled.clear();
        for (server, zone, names) in rows {
            for name in names {
                self.plugin_enabled
                    .get_or_create(&PluginLabels {
                        server: server.clone(),
                        zone: zone.clone(),
                        view: String::new(),
                        name: name.to_string(),
                    })
                    .set(1);
            }
        }
    }

    /// The handles of one zone of a listener (`server` as [`server_label`] writes it), for
    /// answers written by `plugins` (and the server itself). A series is created in its
    /// family when it is first counted, as CoreDNS does; after that, counting it is an atomic
    /// load and an add.
    pub fn zone(&self, server: &str, zone: &str, plugins: &[&'static str]) -> ZoneMetrics {
        let mut writers: Vec<&'static str> = plugins.to_vec();
        writers.extend(["server", "chain", "cache"]);
        let responses = writers
            .into_iter()
            .flat_map(|plugin| (0u16..=23).map(move |code| ((code, plugin), OnceLock::new())))
            .collect();
        ZoneMetrics {
            families: Arc::new(ZoneFamilies {
                server: server.to_string(),
                zone: zone.to_string(),
                dns: self.dns.clone(),
            }),
            requests: (0..4 * (TYPES.len() + 1))
                .map(|_| OnceLock::new())
                .collect(),
            duration: (0..=TYPES.len()).map(|_| OnceLock::new()).collect(),
            request_size: Default::default(),
            response_size: Default::default(),
            do_requests: OnceLock::new(),
            responses,
        }
    }
}

/// The families one zone counts in, and its labels, for creating its series on first use.
struct ZoneFamilies {
    server: String,
    zone: String,
    dns: DnsFamilies,
}

/// The `proto` label of slot index 0 (UDP) or 1 (TCP).
fn proto_label(tcp: usize) -> &'static str {
    if tcp == 1 { "tcp" } else { "udp" }
}

impl ZoneFamilies {
    fn request(&self, tcp: usize, ipv6: usize, index: usize) -> Counter {
        self.dns
            .requests
            .get_or_create(&RequestLabels {
                server: self.server.clone(),
                zone: self.zone.clone(),
                view: String::new(),
                proto: proto_label(tcp).to_string(),
                family: if ipv6 == 1 { "2" } else { "1" }.to_string(),
                kind: TypeLabel {
                    r#type: type_label(index).to_string(),
                },
            })
            .clone()
    }

    fn size(&self, family: &HistogramFamily<SizeLabels>, tcp: usize) -> AtomicHistogram {
        family
            .get_or_create(&SizeLabels {
                server: self.server.clone(),
                zone: self.zone.clone(),
                view: String::new(),
                proto: proto_label(tcp).to_string(),
            })
            .clone()
    }

    fn duration(&self, index: usize) -> AtomicHistogram {
        self.dns
            .duration
            .get_or_create(&DurationLabels {
                server: self.server.clone(),
                zone: self.zone.clone(),
                view: String::new(),
                r#type: type_label(index).to_string(),
            })
            .clone()
    }

    fn response(&self, code: u16, plugin: &'static str) -> Counter {
        let rcode = ResponseCode::from((code >> 4) as u8, (code & 0xf) as u8);
        self.dns
            .responses
            .get_or_create(&ResponseLabels {
                server: self.server.clone(),
                zone: self.zone.clone(),
                view: String::new(),
                rcode: rcode_label(rcode),
                plugin: plugin_label(plugin).to_string(),
            })
            .clone()
    }

    fn do_requests(&self) -> Counter {
        self.dns
            .do_requests
            .get_or_create(&ZoneLabels {
                server: self.server.clone(),
                view: String::new(),
                zone: self.zone.clone(),
            })
            .clone()
    }
}

/// The `plugin` label of a response: answers the server writes itself (REFUSED outside every
/// zone, SERVFAIL after a panic or at the end of the chain) have none, as in CoreDNS.
fn plugin_label(plugin: &'static str) -> &'static str {
    match plugin {
        "server" | "chain" => "",
        other => other,
    }
}

/// The `server` label of a listener: `dns://:PORT`, or `dns://IP:PORT` with `bind`.
pub fn server_label(bind: Option<IpAddr>, port: u16) -> String {
    match bind {
        None => format!("dns://:{port}"),
        Some(ip) => format!("dns://{}", SocketAddr::new(ip, port)),
    }
}

/// CoreDNS's rcode names (miekg/dns `RcodeToString`), as in its metrics and query log.
pub fn rcode_label(rcode: ResponseCode) -> String {
    match u16::from(rcode) {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        16 => "BADSIG".into(),
        other => format!("RCODE{other}"),
    }
}

/// What the server metrics count of one answered request.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    /// It came over TCP (`proto="tcp"`), else UDP.
    pub tcp: bool,
    /// The client's address is IPv6 (`family="2"`).
    pub ipv6: bool,
    /// The question type.
    pub qtype: RecordType,
    /// The DO bit was set.
    pub dnssec_ok: bool,
    /// Seconds from receipt to the response.
    pub seconds: f64,
    /// The request size CoreDNS reports: the EDNS buffer size (at least 512) over UDP, 65535
    /// over TCP.
    pub request_size: u16,
    /// The response's size on the wire.
    pub response_size: usize,
    /// The response code.
    pub rcode: ResponseCode,
    /// The plugin that wrote the response.
    pub plugin: &'static str,
}

/// One zone's handles: plain atomics, no lock on the query path; each series is created in
/// its family the first time it is counted.
#[derive(Clone)]
pub struct ZoneMetrics {
    families: Arc<ZoneFamilies>,
    requests: Vec<OnceLock<Counter>>,
    duration: Vec<OnceLock<AtomicHistogram>>,
    request_size: [OnceLock<AtomicHistogram>; 2],
    response_size: [OnceLock<AtomicHistogram>; 2],
    do_requests: OnceLock<Counter>,
    responses: HashMap<(u16, &'static str), OnceLock<Counter>>,
}

impl ZoneMetrics {
    /// Count one answered request.
    pub fn observe(&self, exchange: &Exchange) {
        let families = &self.families;
        let proto = usize::from(exchange.tcp);
        let family = usize::from(exchange.ipv6);
        let index = type_index(exchange.qtype);
        let per_proto = TYPES.len() + 1;
        if let Some(slot) = self.requests.get((proto * 2 + family) * per_proto + index) {
            slot.get_or_init(|| families.request(proto, family, index))
                .inc();
        }
        if exchange.dnssec_ok {
            self.do_requests
                .get_or_init(|| families.do_requests())
                .inc();
        }
        if let Some(slot) = self.duration.get(index) {
            slot.get_or_init(|| families.duration(index))
                .observe(exchange.seconds);
        }
        self.request_size[proto]
            .get_or_init(|| families.size(&families.dns.request_size, proto))
            .observe(f64::from(exchange.request_size));
        self.response_size[proto]
            .get_or_init(|| families.size(&families.dns.response_size, proto))
            .observe(exchange.response_size as f64);
        let code = u16::from(exchange.rcode);
        if let Some(slot) = self.responses.get(&(code, exchange.plugin)) {
            slot.get_or_init(|| families.response(code, exchange.plugin))
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_rcodes_use_coredns_labels() {
        assert_eq!(type_label(type_index(RecordType::A)), "A");
        assert_eq!(type_label(type_index(RecordType::CAA)), "other");
        assert_eq!(rcode_label(ResponseCode::NXDomain), "NXDOMAIN");
        assert_eq!(rcode_label(ResponseCode::ServFail), "SERVFAIL");
    }
}
