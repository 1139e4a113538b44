//! The metric families of the plugins (`coredns_cache_*`, `coredns_forward_*`,
//! `coredns_proxy_*`, `coredns_health_*`, `coredns_kubernetes_*`), registered once per process.
//! A plugin takes its handles when it starts, with every label combination it can produce
//! created then: counting on the query path is an atomic add, and counts carry over a reload.

use std::net::SocketAddr;

use hickory_proto::op::ResponseCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::histogram::AtomicHistogram;
use super::{HistogramFamily, TIME_BUCKETS, rcode_label, time_histogram};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    server: String,
    zones: String,
    view: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheTypeLabels {
    server: String,
    r#type: String,
    zones: String,
    view: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProxyLabels {
    proxy_name: String,
    to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProxyRcodeLabels {
    proxy_name: String,
    to: String,
    rcode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProxyProtoLabels {
    proxy_name: String,
    to: String,
    proto: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbHostLabels {
    verb: String,
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodCodeHostLabels {
    method: String,
    code: String,
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceKindLabels {
    service_kind: String,
}

/// The plugin families.
pub struct PluginFamilies {
    cache_entries: Family<CacheTypeLabels, Gauge>,
    cache_hits: Family<CacheTypeLabels, Counter>,
    cache_evictions: Family<CacheTypeLabels, Counter>,
    cache_misses: Family<CacheLabels, Counter>,
    cache_requests: Family<CacheLabels, Counter>,
    cache_prefetch: Family<CacheLabels, Counter>,
    cache_served_stale: Family<CacheLabels, Counter>,
    forward_broken: Counter,
    forward_rejects: Counter,
    proxy_duration: HistogramFamily<ProxyRcodeLabels>,
    proxy_health_failures: Family<ProxyLabels, Counter>,
    proxy_conn_hits: Family<ProxyProtoLabels, Counter>,
    proxy_conn_misses: Family<ProxyProtoLabels, Counter>,
    /// `coredns_health_request_duration_seconds`.
    pub health_duration: AtomicHistogram,
    /// `coredns_health_request_failures_total`.
    pub health_failures: Counter,
    programming: HistogramFamily<ServiceKindLabels>,
    rest_duration: HistogramFamily<VerbHostLabels>,
    rest_requests: Family<MethodCodeHostLabels, Counter>,
}

/// Prometheus's default buckets, which CoreDNS's REST client latency uses.
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn default_histogram() -> AtomicHistogram {
    AtomicHistogram::new(&DEFAULT_BUCKETS)
}

/// CoreDNS's buckets of `coredns_kubernetes_dns_programming_duration_seconds` (1 ms to about
/// 5 min, as Kubernetes' own network-programming latency SLI).
const PROGRAMMING_BUCKETS: [f64; 20] = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192, 16.384, 32.768, 65.536, 131.072, 262.144, 524.288,
];

fn programming_histogram() -> AtomicHistogram {
    AtomicHistogram::new(&PROGRAMMING_BUCKETS)
}

impl PluginFamilies {
    /// Create the families and register them under `coredns` in `registry`.
    pub fn register(registry: &mut Registry) -> PluginFamilies {
        let families = PluginFamilies {
            cache_entries: Family::default(),
            cache_hits: Family::default(),
            cache_evictions: Family::default(),
            cache_misses: Family::default(),
            cache_requests: Family::default(),
            cache_prefetch: Family::default(),
            cache_served_stale: Family::default(),
            forward_broken: Counter::default(),
            forward_rejects: Counter::default(),
            proxy_duration: Family::new_with_constructor(time_histogram as fn() -> AtomicHistogram),
            proxy_health_failures: Family::default(),
            proxy_conn_hits: Family::default(),
            proxy_conn_misses: Family::default(),
            health_duration: AtomicHistogram::new(&TIME_BUCKETS),
            health_failures: Counter::default(),
            programming: Family::new_with_constructor(
                programming_histogram as fn() -> AtomicHistogram,
            ),
            rest_duration: Family::new_with_constructor(
                default_histogram as fn() -> AtomicHistogram,
            ),
            rest_requests: Family::default(),
        };
        let cache = registry.sub_registry_with_prefix("cache");
        cache.register(
            "entries",
            "The number of elements in the cache",
            families.cache_entries.clone(),
        );
        cache.register(
            "hits",
            "The count of cache hits",
            families.cache_hits.clone(),
        );
        cache.register(
            "misses",
            "The count of cache misses. Deprecated, derive misses from cache hits/requests counters",
            families.cache_misses.clone(),
        );
        cache.register(
            "requests",
            "The count of cache requests",
            families.cache_requests.clone(),
        );
        cache.register(
            "prefetch",
            "The number of times the cache has prefetched a cached item",
            families.cache_prefetch.clone(),
        );
        cache.register(
            "served_stale",
            "The number of requests served from stale cache entries",
            families.cache_served_stale.clone(),
        );
        cache.register(
            "evictions",
            "The count of cache evictions",
            families.cache_evictions.clone(),
        );
        let forward = registry.sub_registry_with_prefix("forward");
        forward.register(
            "healthcheck_broken",
            "Counter of the number of complete failures of the healthchecks",
            families.forward_broken.clone(),
        );
        forward.register(
            "max_concurrent_rejects",
            "Counter of the number of queries rejected because the concurrent queries were at maximum",
            families.forward_rejects.clone(),
        );
        let proxy = registry.sub_registry_with_prefix("proxy");
        proxy.register(
            "request_duration_seconds",
            "Histogram of the time each request took",
            families.proxy_duration.clone(),
        );
        proxy.register(
            "healthcheck_failures",
            "Counter of the number of failed healthchecks",
            families.proxy_health_failures.clone(),
        );
        proxy.register(
            "conn_cache_hits",
            "Counter of connection cache hits per upstream and protocol",
            families.proxy_conn_hits.clone(),
        );
        proxy.register(
            "conn_cache_misses",
            "Counter of connection cache misses per upstream and protocol",
            families.proxy_conn_misses.clone(),
        );
        let health = registry.sub_registry_with_prefix("health");
        health.register(
            "request_duration_seconds",
            "Histogram of the time (in seconds) each request took",
            families.health_duration.clone(),
        );
        health.register(
            "request_failures",
            "The number of times the health check failed",
            families.health_failures.clone(),
        );
        let kubernetes = registry.sub_registry_with_prefix("kubernetes");
        kubernetes.register(
            "dns_programming_duration_seconds",
            "Histogram of the time (in seconds) it took to program a dns instance",
            families.programming.clone(),
        );
        kubernetes.register(
            "rest_client_request_duration_seconds",
            "Request latency in seconds. Broken down by verb and host",
            families.rest_duration.clone(),
        );
        kubernetes.register(
            "rest_client_requests",
            "Number of HTTP requests, partitioned by status code, method, and host",
            families.rest_requests.clone(),
        );
        families
    }

    /// The handles of one `cache` plugin: `server` of its block, `zones` its zones.
    pub fn cache(&self, server: &str, zones: &str) -> CacheMetrics {
        let labels = CacheLabels {
            server: server.into(),
            zones: zones.into(),
            view: String::new(),
        };
        let typed = |family: &Family<CacheTypeLabels, Counter>| {
            ["success", "denial"].map(|kind| {
                family
                    .get_or_create(&CacheTypeLabels {
                        server: server.into(),
                        r#type: kind.into(),
                        zones: zones.into(),
                        view: String::new(),
                    })
                    .clone()
            })
        };
        CacheMetrics {
            entries: ["success", "denial"].map(|kind| {
                self.cache_entries
                    .get_or_create(&CacheTypeLabels {
                        server: server.into(),
                        r#type: kind.into(),
                        zones: zones.into(),
                        view: String::new(),
                    })
                    .clone()
            }),
            hits: typed(&self.cache_hits),
            evictions: typed(&self.cache_evictions),
            misses: self.cache_misses.get_or_create(&labels).clone(),
            requests: self.cache_requests.get_or_create(&labels).clone(),
            prefetch: self.cache_prefetch.get_or_create(&labels).clone(),
            served_stale: self.cache_served_stale.get_or_create(&labels).clone(),
        }
    }

    /// The handles of one `forward` plugin over `upstreams`.
    pub fn forward(&self, upstreams: &[SocketAddr]) -> ForwardMetrics {
        let proxy = |to: &SocketAddr| ProxyLabels {
            proxy_name: "forward".into(),
            to: to.to_string(),
        };
        let proto = |family: &Family<ProxyProtoLabels, Counter>, to: &SocketAddr, proto: &str| {
            family
                .get_or_create(&ProxyProtoLabels {
                    proxy_name: "forward".into(),
                    to: to.to_string(),
                    proto: proto.into(),
                })
                .clone()
        };
        ForwardMetrics {
            broken: self.forward_broken.clone(),
            rejects: self.forward_rejects.clone(),
            upstreams: upstreams
                .iter()
                .map(|to| UpstreamMetrics {
                    duration: (0u8..=23)
                        .map(|code| {
                            self.proxy_duration
                                .get_or_create(&ProxyRcodeLabels {
                                    proxy_name: "forward".into(),
                                    to: to.to_string(),
                                    rcode: rcode_label(ResponseCode::from(0, code)),
                                })
                                .clone()
                        })
                        .collect(),
                    health_failures: self.proxy_health_failures.get_or_create(&proxy(to)).clone(),
                    udp_misses: proto(&self.proxy_conn_misses, to, "udp"),
                    tcp: ConnCache {
                        hits: proto(&self.proxy_conn_hits, to, "tcp"),
                        misses: proto(&self.proxy_conn_misses, to, "tcp"),
                    },
                    tls: ConnCache {
                        hits: proto(&self.proxy_conn_hits, to, "tcp-tls"),
                        misses: proto(&self.proxy_conn_misses, to, "tcp-tls"),
                    },
                })
                .collect(),
        }
    }

    /// `coredns_kubernetes_dns_programming_duration_seconds` for each service kind:
    /// `cluster_ip`, `headless_with_selector`, `headless_without_selector`.
    pub fn programming(&self) -> ProgrammingMetrics {
        let kind = |name: &str| {
            self.programming
                .get_or_create(&ServiceKindLabels {
                    service_kind: name.into(),
                })
                .clone()
        };
        ProgrammingMetrics {
            cluster_ip: kind("cluster_ip"),
            headless_with_selector: kind("headless_with_selector"),
            headless_without_selector: kind("headless_without_selector"),
        }
    }
}

impl PluginFamilies {
    /// The handles of the kubernetes plugin's API client.
    pub fn rest_client(&self) -> RestClientMetrics {
        RestClientMetrics {
            duration: self.rest_duration.clone(),
            requests: self.rest_requests.clone(),
        }
    }
}

/// `coredns_kubernetes_rest_client_*`: one observation per API request (its time to the
/// response headers, as client-go measures it). Not on the query path: label sets are looked
/// up per request.
#[derive(Clone, Debug)]
pub struct RestClientMetrics {
    duration: HistogramFamily<VerbHostLabels>,
    requests: Family<MethodCodeHostLabels, Counter>,
}

impl RestClientMetrics {
    /// Record one request: its method, the response's status code (or `<error>`), the API
    /// server's `host[:port]` and how long it took.
    pub fn observe(&self, method: &str, code: &str, host: &str, seconds: f64) {
        self.duration
            .get_or_create(&VerbHostLabels {
                verb: method.into(),
                host: host.into(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&MethodCodeHostLabels {
                method: method.into(),
                code: code.into(),
                host: host.into(),
            })
            .inc();
    }
}

/// One `cache` plugin's handles; `[success, denial]` where typed.
#[derive(Clone, Debug)]
pub struct CacheMetrics {
    /// `coredns_cache_entries`.
    pub entries: [Gauge; 2],
    /// `coredns_cache_hits_total`.
    pub hits: [Counter; 2],
    /// `coredns_cache_evictions_total`.
    pub evictions: [Counter; 2],
    /// `coredns_cache_misses_total`.
    pub misses: Counter,
    /// `coredns_cache_requests_total`.
    pub requests: Counter,
    /// `coredns_cache_prefetch_total`.
    pub prefetch: Counter,
    /// `coredns_cache_served_stale_total`.
    pub served_stale: Counter,
}

impl Default for CacheMetrics {
    /// Handles registered nowhere (unit tests, benches).
    fn default() -> Self {
        CacheMetrics {
            entries: Default::default(),
            hits: Default::default(),
            evictions: Default::default(),
            misses: Counter::default(),
            requests: Counter::default(),
            prefetch: Counter::default(),
            served_stale: Counter::default(),
        }
    }
}

/// Hits and misses of one pool of idle connections.
#[derive(Clone, Debug, Default)]
pub struct ConnCache {
    /// `coredns_proxy_conn_cache_hits_total`.
    pub hits: Counter,
    /// `coredns_proxy_conn_cache_misses_total`.
    pub misses: Counter,
}

/// One upstream's handles.
#[derive(Clone, Debug)]
pub struct UpstreamMetrics {
    duration: Vec<AtomicHistogram>,
    /// `coredns_proxy_healthcheck_failures_total`.
    pub health_failures: Counter,
    /// UDP queries: each is a new socket, a connection-cache miss as CoreDNS counts it.
    pub udp_misses: Counter,
    /// The TCP pool.
    pub tcp: ConnCache,
    /// The TLS pool.
    pub tls: ConnCache,
}

impl UpstreamMetrics {
    /// Handles registered nowhere.
    pub fn unregistered() -> UpstreamMetrics {
        UpstreamMetrics {
            duration: Vec::new(),
            health_failures: Counter::default(),
            udp_misses: Counter::default(),
            tcp: ConnCache::default(),
            tls: ConnCache::default(),
        }
    }

    /// `coredns_proxy_request_duration_seconds` of one reply.
    pub fn observe(&self, rcode: ResponseCode, seconds: f64) {
        if let Some(histogram) = self.duration.get(usize::from(u16::from(rcode))) {
            histogram.observe(seconds);
        }
    }
}

/// One `forward` plugin's handles.
#[derive(Clone, Debug)]
pub struct ForwardMetrics {
    /// `coredns_forward_healthcheck_broken_total`.
    pub broken: Counter,
    /// `coredns_forward_max_concurrent_rejects_total`.
    pub rejects: Counter,
    /// Per upstream, in the order of the directive.
    pub upstreams: Vec<UpstreamMetrics>,
}

/// The DNS programming latency histograms of the kubernetes plugin.
#[derive(Clone, Debug)]
pub struct ProgrammingMetrics {
    /// Services with a cluster IP.
    pub cluster_ip: AtomicHistogram,
    /// Headless services with a selector.
    pub headless_with_selector: AtomicHistogram,
    /// Headless services without one.
    pub headless_without_selector: AtomicHistogram,
}
