//! The `forward` plugin's metric families (`coredns_forward_*`, `coredns_proxy_*`) and the
//! handles one `forward` counts in: per upstream, its reply durations created per rcode when
//! first seen.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use hickory_proto::op::ResponseCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::metrics::histogram::AtomicHistogram;
use crate::metrics::lazy::LazyCounter;
use crate::metrics::{HistogramFamily, rcode_label, time_histogram};

/// The labels of a series per upstream.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProxyLabels {
    proxy_name: String,
    to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProxyRcodeLabels {
    proxy_name: String,
    to: String,
    rcode: String,
}

/// The labels of a series per upstream and transport.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProxyProtoLabels {
    proxy_name: String,
    to: String,
    proto: String,
}

/// `coredns_forward_*` and `coredns_proxy_*`.
#[derive(Debug)]
pub struct ForwardFamilies {
    broken: Counter,
    rejects: Counter,
    duration: HistogramFamily<ProxyRcodeLabels>,
    health_failures: Family<ProxyLabels, Counter>,
    conn_hits: Family<ProxyProtoLabels, Counter>,
    conn_misses: Family<ProxyProtoLabels, Counter>,
}

/// Create and register the families.
pub fn register(registry: &mut Registry) -> Arc<dyn Any + Send + Sync> {
    let families = ForwardFamilies {
        broken: Counter::default(),
        rejects: Counter::default(),
        duration: Family::new_with_constructor(time_histogram as fn() -> AtomicHistogram),
        health_failures: Family::default(),
        conn_hits: Family::default(),
        conn_misses: Family::default(),
    };
    let forward = registry.sub_registry_with_prefix("forward");
    forward.register(
        "healthcheck_broken",
        "Counter of the number of complete failures of the healthchecks",
        families.broken.clone(),
    );
    forward.register(
        "max_concurrent_rejects",
        "Counter of the number of queries rejected because the concurrent queries were at maximum",
        families.rejects.clone(),
    );
    let proxy = registry.sub_registry_with_prefix("proxy");
    proxy.register(
        "request_duration_seconds",
        "Histogram of the time each request took",
        families.duration.clone(),
    );
    proxy.register(
        "healthcheck_failures",
        "Counter of the number of failed healthchecks",
        families.health_failures.clone(),
    );
    proxy.register(
        "conn_cache_hits",
        "Counter of connection cache hits per upstream and protocol",
        families.conn_hits.clone(),
    );
    proxy.register(
        "conn_cache_misses",
        "Counter of connection cache misses per upstream and protocol",
        families.conn_misses.clone(),
    );
    Arc::new(families)
}

impl ForwardFamilies {
    /// The handles of one `forward` plugin over `upstreams`.
    pub fn handles(&self, upstreams: &[SocketAddr]) -> ForwardMetrics {
        let proxy = |to: &SocketAddr| ProxyLabels {
            proxy_name: "forward".into(),
            to: to.to_string(),
        };
        let proto = |family: &Family<ProxyProtoLabels, Counter>, to: &SocketAddr, proto: &str| {
            LazyCounter::new(
                family,
                ProxyProtoLabels {
                    proxy_name: "forward".into(),
                    to: to.to_string(),
                    proto: proto.into(),
                },
            )
        };
        ForwardMetrics {
            broken: self.broken.clone(),
            rejects: self.rejects.clone(),
            upstreams: upstreams
                .iter()
                .map(|to| UpstreamMetrics {
                    duration: Some(Arc::new(Durations {
                        family: self.duration.clone(),
                        to: to.to_string(),
                        by_rcode: (0u8..=23).map(|_| OnceLock::new()).collect(),
                    })),
                    health_failures: LazyCounter::new(&self.health_failures, proxy(to)),
                    udp_misses: proto(&self.conn_misses, to, "udp"),
                    tcp: ConnCache {
                        hits: proto(&self.conn_hits, to, "tcp"),
                        misses: proto(&self.conn_misses, to, "tcp"),
                    },
                    tls: ConnCache {
                        hits: proto(&self.conn_hits, to, "tcp-tls"),
                        misses: proto(&self.conn_misses, to, "tcp-tls"),
                    },
                })
                .collect(),
        }
    }
}

/// Hits and misses of one pool of idle connections.
#[derive(Clone, Debug)]
pub struct ConnCache {
    /// `coredns_proxy_conn_cache_hits_total`.
    pub hits: LazyCounter<ProxyProtoLabels>,
    /// `coredns_proxy_conn_cache_misses_total`.
    pub misses: LazyCounter<ProxyProtoLabels>,
}

impl ConnCache {
    fn unregistered() -> ConnCache {
        ConnCache {
            hits: LazyCounter::unregistered(),
            misses: LazyCounter::unregistered(),
        }
    }
}

/// `coredns_proxy_request_duration_seconds` of one upstream, a series per rcode created when
/// that rcode is first seen.
#[derive(Debug)]
struct Durations {
    family: HistogramFamily<ProxyRcodeLabels>,
    to: String,
    by_rcode: Vec<OnceLock<AtomicHistogram>>,
}

/// One upstream's handles.
#[derive(Clone, Debug)]
pub struct UpstreamMetrics {
    duration: Option<Arc<Durations>>,
    /// `coredns_proxy_healthcheck_failures_total`.
    pub health_failures: LazyCounter<ProxyLabels>,
    /// UDP queries: each is a new socket, a connection-cache miss as CoreDNS counts it.
    pub udp_misses: LazyCounter<ProxyProtoLabels>,
    /// The TCP pool.
    pub tcp: ConnCache,
    /// The TLS pool.
    pub tls: ConnCache,
}

impl UpstreamMetrics {
    /// Handles registered nowhere.
    pub fn unregistered() -> UpstreamMetrics {
        UpstreamMetrics {
            duration: None,
            health_failures: LazyCounter::unregistered(),
            udp_misses: LazyCounter::unregistered(),
            tcp: ConnCache::unregistered(),
            tls: ConnCache::unregistered(),
        }
    }

    /// `coredns_proxy_request_duration_seconds` of one reply.
    pub fn observe(&self, rcode: ResponseCode, seconds: f64) {
        let Some(durations) = &self.duration else {
            return;
        };
        let code = u16::from(rcode);
        if let Some(slot) = durations.by_rcode.get(usize::from(code)) {
            slot.get_or_init(|| {
                durations
                    .family
                    .get_or_create(&ProxyRcodeLabels {
                        proxy_name: "forward".into(),
                        to: durations.to.clone(),
                        rcode: rcode_label(ResponseCode::from((code >> 4) as u8, (code & 0xf) as u8)),
                    })
                    .clone()
            })
            .observe(seconds);
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

impl ForwardMetrics {
    /// Handles registered nowhere, for `upstreams` upstreams.
    pub fn unregistered(upstreams: usize) -> ForwardMetrics {
        ForwardMetrics {
            broken: Counter::default(),
            rejects: Counter::default(),
            upstreams: (0..upstreams)
                .map(|_| UpstreamMetrics::unregistered())
                .collect(),
        }
    }
}
