//! The handles the index and the API source count in: the DNS programming latency
//! (`coredns_kubernetes_dns_programming_duration_seconds`) and the API client's requests
//! (`coredns_kubernetes_rest_client_*`). The `kubernetes` plugin registers their families
//! (`plugins/kubernetes/metrics.rs`); the cluster only counts.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::metrics::HistogramFamily;
use crate::metrics::histogram::AtomicHistogram;

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

/// `coredns_kubernetes_dns_programming_duration_seconds`, by service kind.
#[derive(Clone, Debug)]
pub struct ProgrammingFamily(HistogramFamily<ServiceKindLabels>);

impl Default for ProgrammingFamily {
    fn default() -> Self {
        ProgrammingFamily(Family::new_with_constructor(
            programming_histogram as fn() -> AtomicHistogram,
        ))
    }
}

impl ProgrammingFamily {
    /// Register it as `dns_programming_duration_seconds` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "dns_programming_duration_seconds",
            "Histogram of the time (in seconds) it took to program a dns instance",
            self.0.clone(),
        );
    }

    /// The handle the index observes through.
    pub fn handles(&self) -> ProgrammingMetrics {
        ProgrammingMetrics(self.0.clone())
    }
}

/// The DNS programming latency histograms, one per service kind (`cluster_ip`,
/// `headless_with_selector`, `headless_without_selector`), each created at its first
/// observation as CoreDNS's are: a cluster whose Services never change exports none.
#[derive(Clone, Debug)]
pub struct ProgrammingMetrics(HistogramFamily<ServiceKindLabels>);

impl ProgrammingMetrics {
    /// Observe `seconds` for `service_kind`. Not on the query path (once per EndpointSlice
    /// change), so the label set is looked up each time.
    pub fn observe(&self, service_kind: &str, seconds: f64) {
        self.0
            .get_or_create(&ServiceKindLabels {
                service_kind: service_kind.to_string(),
            })
            .observe(seconds);
    }

    /// The sum and count observed for `service_kind`; none before its first observation.
    pub fn observed(&self, service_kind: &str) -> Option<(f64, u64)> {
        self.0
            .get(&ServiceKindLabels {
                service_kind: service_kind.to_string(),
            })
            .map(|histogram| {
                let (sum, count, _) = histogram.snapshot();
                (sum, count)
            })
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

impl Default for RestClientMetrics {
    fn default() -> Self {
        RestClientMetrics {
            duration: Family::new_with_constructor(default_histogram as fn() -> AtomicHistogram),
            requests: Family::default(),
        }
    }
}

impl RestClientMetrics {
    /// Register both families as `rest_client_*` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "rest_client_request_duration_seconds",
            "Request latency in seconds. Broken down by verb and host",
            self.duration.clone(),
        );
        registry.register(
            "rest_client_requests",
            "Number of HTTP requests, partitioned by status code, method, and host",
            self.requests.clone(),
        );
    }

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
