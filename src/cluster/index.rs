//! The in-memory index the `kubernetes` plugin answers from.
//!
//! Each map is a `DashMap`, so one object's update replaces one entry atomically while readers
//! go on (a shard lock is held only for the lookup itself, never across an `.await`). A full
//! re-list ([`ClusterIndex::replace_all`]) upserts the new objects first and then removes the
//! ones that are gone: the index never empties and never holds two full copies.
//!
//! Keys are `"name.namespace"`, the same bytes as the middle of a query name, so the query path
//! looks a service up with a slice of the (lowercased) question.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;

/// The index's maps: DashMap with foldhash, several times cheaper per lookup than the default
/// SipHash. Its seed is random per map; keys come from the API server, not from queries.
type Map<K, V> = DashMap<K, V, foldhash::fast::RandomState>;

fn map<K: Eq + std::hash::Hash, V>() -> Map<K, V> {
    DashMap::with_hasher(foldhash::fast::RandomState::default())
}

use super::endpoint_tables::{self, EndpointKey, EndpointTables, SCAN_LIMIT, endpoint_at};
use super::metrics::ProgrammingMetrics;
use super::objects::{
    AddressFamily, Endpoint, EndpointSlice, Namespace, Pod, PodPhase, Service, ServiceKind,
};
use super::one_or_many::OneOrMany;
use super::seen::Seen;

/// The index key of a Service: `"name.namespace"`.
pub type ServiceKey = Arc<str>;

/// Build the key of `name` in `namespace`.
pub fn service_key(name: &str, namespace: &str) -> ServiceKey {
    let mut key = String::with_capacity(name.len() + namespace.len() + 1);
    key.push_str(name);
    key.push('.');
    key.push_str(namespace);
    Arc::from(key)
}

/// Call `then` with the key `name.namespace`, built on the stack: the query path looks services
/// up without allocating.
pub fn with_service_key<R>(name: &str, namespace: &str, then: impl FnOnce(&str) -> R) -> R {
    let mut buffer = [0u8; 256];
    let len = name.len() + 1 + namespace.len();
    if len > buffer.len() {
        return then(&service_key(name, namespace));
    }
    buffer[..name.len()].copy_from_slice(name.as_bytes());
    buffer[name.len()] = b'.';
    buffer[name.len() + 1..len].copy_from_slice(namespace.as_bytes());
    match std::str::from_utf8(&buffer[..len]) {
        Ok(key) => then(key),
        Err(_) => then(&service_key(name, namespace)),
    }
}

/// The endpoints of one Service: its EndpointSlices, merged at read time.
#[derive(Debug, Default)]
pub struct ServiceEndpoints {
    slices: Vec<Arc<EndpointSlice>>,
    /// Built on the first lookup by address or name when the service is large (boxed: most
    /// services never need one, and 10,000 of them should not carry its size).
    tables: OnceLock<Box<EndpointTables>>,
}

impl ServiceEndpoints {
    fn new(slices: Vec<Arc<EndpointSlice>>) -> ServiceEndpoints {
        ServiceEndpoints {
            slices,
            tables: OnceLock::new(),
        }
    }

    /// The slices of the service.
    pub fn slices(&self) -> &[Arc<EndpointSlice>] {
        &self.slices
    }

    /// The endpoints matching any of `keys`, ready or not, each once, in slice order: a scan
    /// for a small service, lookup tables (built once per change) for a large one.
    pub fn find(&self, keys: &[EndpointKey<'_>]) -> impl Iterator<Item = &Endpoint> + '_ {
        let total: usize = self.slices.iter().map(|s| s.endpoints.len()).sum();
        let tables = (total > SCAN_LIMIT).then(|| {
            &**self
                .tables
                .get_or_init(|| Box::new(EndpointTables::build(&self.slices)))
        });
        endpoint_tables::find(&self.slices, tables, keys)
            .into_iter()
            .filter_map(|position| endpoint_at(&self.slices, position))
    }

    /// The ready addresses, each once (with the first endpoint holding it), in slice order.
    /// Lazy: a caller that needs only the first few stops the walk there, and the dedup stays
    /// linear however many endpoints there are.
    pub fn ready(&self) -> impl Iterator<Item = (IpAddr, &Endpoint)> + '_ {
        let mut seen = Seen::default();
        self.ready_all().filter(move |(ip, _)| seen.insert(ip))
    }

    /// The ready addresses of one family, each once, in slice order. A slice holds addresses
    /// of its `addressType` only, so a slice of the other family is skipped at its first
    /// address: an AAAA question to an IPv4-only Service walks no endpoint.
    pub fn ready_of(
        &self,
        family: AddressFamily,
    ) -> impl Iterator<Item = (IpAddr, &Endpoint)> + '_ {
        let mut seen = Seen::default();
        self.slices
            .iter()
            .filter(move |slice| {
                slice
                    .endpoints
                    .iter()
                    .flat_map(|e| e.addresses.as_slice())
                    .next()
                    .is_some_and(|ip| AddressFamily::of(ip) == family)
            })
            .flat_map(|slice| slice.endpoints.iter().filter(|e| e.ready))
            .flat_map(|ep| ep.addresses.as_slice().iter().map(move |ip| (*ip, ep)))
            .filter(move |(ip, _)| AddressFamily::of(ip) == family && seen.insert(ip))
    }

    /// Every ready address with its endpoint, in slice order, an address held by several
    /// endpoints once per endpoint: for a search that keeps few of them (filter, then dedup).
    pub fn ready_all(&self) -> impl Iterator<Item = (IpAddr, &Endpoint)> + '_ {
        self.slices
            .iter()
            .flat_map(|slice| slice.endpoints.iter().filter(|e| e.ready))
            .flat_map(|ep| ep.addresses.as_slice().iter().map(move |ip| (*ip, ep)))
    }

    /// Whether any endpoint is ready.
    pub fn has_ready(&self) -> bool {
        self.slices.iter().any(|s| {
            s.endpoints
                .iter()
                .any(|e| e.ready && !e.addresses.is_empty())
        })
    }

    fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.slices
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .flat_map(|e| e.addresses.as_slice().iter().copied())
    }
}

/// Everything a full (re-)list delivers, to be swapped in by [`ClusterIndex::replace_all`].
#[derive(Debug, Default)]
pub struct Snapshot {
    /// All namespaces.
    pub namespaces: Vec<Namespace>,
    /// All services.
    pub services: Vec<Service>,
    /// All endpoint slices.
    pub slices: Vec<EndpointSlice>,
    /// All pods (only kept for `pods verified`).
    pub pods: Vec<Pod>,
}

/// The cluster index. Writers are the sources; the query path only reads.
#[derive(Debug)]
pub struct ClusterIndex {
    namespaces: Map<Arc<str>, Arc<Namespace>>,
    services: Map<ServiceKey, Arc<Service>>,
    endpoints: Map<ServiceKey, Arc<ServiceEndpoints>>,
    /// `"slice.namespace"` → (the service key it was filed under, the slice's name), for deletes
    /// and re-labels.
    slice_owner: Map<Arc<str>, (ServiceKey, Arc<str>)>,
    service_ips: Map<IpAddr, OneOrMany<ServiceKey>>,
    endpoint_ips: Map<IpAddr, OneOrMany<ServiceKey>>,
    /// Live pods only (`pods verified`): `"name.namespace"` → its namespace and addresses.
    pods: Map<Box<str>, LivePod>,
    /// Address → the namespaces of the live pods holding it.
    pod_ips: Map<IpAddr, OneOrMany<Arc<str>>>,
    /// One shared string per namespace name, so 100k objects do not each carry a copy.
    namespace_names: Map<Arc<str>, ()>,
    synced: AtomicBool,
    /// Wakes queries waiting for the first sync (`startup_timeout`).
    synced_signal: tokio::sync::watch::Sender<bool>,
    modified: AtomicU64,
    /// `coredns_kubernetes_dns_programming_duration_seconds`, when the plugin registered it.
    programming: OnceLock<ProgrammingMetrics>,
}

impl Default for ClusterIndex {
    fn default() -> Self {
        ClusterIndex {
            namespaces: map(),
            services: map(),
            endpoints: map(),
            slice_owner: map(),
            service_ips: map(),
            endpoint_ips: map(),
            pods: map(),
            pod_ips: map(),
            namespace_names: map(),
            synced: AtomicBool::new(false),
            synced_signal: tokio::sync::watch::Sender::new(false),
            modified: AtomicU64::new(0),
            programming: OnceLock::new(),
        }
    }
}

/// What the index keeps of a live pod: just enough to answer and to remove it again.
#[derive(Debug)]
struct LivePod {
    namespace: Arc<str>,
    ips: OneOrMany<IpAddr>,
}

fn add_owner(map: &Map<IpAddr, OneOrMany<ServiceKey>>, ip: IpAddr, key: &ServiceKey) {
    let mut owners = map.entry(ip).or_default();
    if !owners.contains(key) {
        owners.push(key.clone());
    }
}

fn remove_owner(map: &Map<IpAddr, OneOrMany<ServiceKey>>, ip: IpAddr, key: &ServiceKey) {
    map.remove_if_mut(&ip, |_, owners| {
        owners.remove_one(key);
        owners.is_empty()
    });
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ClusterIndex {
    /// An empty, unsynced index.
    pub fn new() -> ClusterIndex {
        ClusterIndex::default()
    }

    // ---- read API (the query path) ----

    /// Whether the first full sync has completed.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Unix time of the last change (the SOA serial).
    pub fn modified(&self) -> u64 {
        self.modified.load(Ordering::Relaxed)
    }

    /// The namespace `name`, if it exists.
    pub fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        self.namespaces.get(name).map(|n| n.clone())
    }

    /// The service with key `"name.namespace"`.
    pub fn service(&self, key: &str) -> Option<Arc<Service>> {
        self.services.get(key).map(|s| s.clone())
    }

    /// The endpoints of the service with key `"name.namespace"`.
    pub fn endpoints(&self, key: &str) -> Option<Arc<ServiceEndpoints>> {
        self.endpoints.get(key).map(|e| e.clone())
    }

    /// The services with `ip` among their cluster IPs.
    pub fn services_with_ip(&self, ip: &IpAddr) -> Vec<ServiceKey> {
        self.service_ips
            .get(ip)
            .map(|k| k.as_slice().to_vec())
            .unwrap_or_default()
    }

    /// The services with an endpoint at `ip` (ready or not: the caller checks).
    pub fn services_with_endpoint_ip(&self, ip: &IpAddr) -> Vec<ServiceKey> {
        self.endpoint_ips
            .get(ip)
            .map(|k| k.as_slice().to_vec())
            .unwrap_or_default()
    }

    /// The namespace of the live pods at `ip`, when they are all in one namespace (`autopath`).
    /// An address held by live pods of several namespaces (reused while one was being deleted)
    /// answers `None`: namespaces are never mixed.
    pub fn pod_namespace(&self, ip: &IpAddr) -> Option<Arc<str>> {
        let namespaces = self.pod_ips.get(ip)?;
        let (first, rest) = namespaces.as_slice().split_first()?;
        rest.iter().all(|ns| ns == first).then(|| first.clone())
    }

    /// Whether a live (pending or running) pod in `namespace` has `ip`.
    pub fn live_pod_has_ip(&self, namespace: &str, ip: &IpAddr) -> bool {
        self.pod_ips
            .get(ip)
            .is_some_and(|namespaces| namespaces.as_slice().iter().any(|ns| &**ns == namespace))
    }

    /// The shared copy of the namespace name `name`.
    fn intern(&self, name: &Arc<str>) -> Arc<str> {
        if let Some(entry) = self.namespace_names.get(name) {
            return entry.key().clone();
        }
        self.namespace_names.insert(name.clone(), ());
        name.clone()
    }

    // ---- write API (the sources) ----

    /// Mark the first full sync as done.
    pub fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release);
        self.synced_signal.send_replace(true);
    }

    /// Wait until the first full sync is done.
    pub async fn wait_synced(&self) {
        let mut signal = self.synced_signal.subscribe();
        let _ = signal.wait_for(|synced| *synced).await;
    }

    fn touch(&self) {
        self.modified.store(unix_now(), Ordering::Relaxed);
    }

    /// Add or replace a namespace.
    pub fn upsert_namespace(&self, ns: Namespace) {
        self.namespaces.insert(ns.name.clone(), Arc::new(ns));
        self.touch();
    }

    /// Remove a namespace.
    pub fn delete_namespace(&self, name: &str) {
        if self.namespaces.remove(name).is_some() {
            self.touch();
        }
    }

    /// Add or replace a service.
    pub fn upsert_service(&self, mut svc: Service) {
        svc.namespace = self.intern(&svc.namespace);
        let key = service_key(&svc.name, &svc.namespace);
        let new_ips: Vec<IpAddr> = match &svc.kind {
            ServiceKind::ClusterIp(ips) => ips.clone(),
            _ => Vec::new(),
        };
        let old = self.services.insert(key.clone(), Arc::new(svc));
        if let Some(old) = old
            && let ServiceKind::ClusterIp(ips) = &old.kind
        {
            for ip in ips.iter().filter(|ip| !new_ips.contains(ip)) {
                remove_owner(&self.service_ips, *ip, &key);
            }
        }
        for ip in new_ips {
            add_owner(&self.service_ips, ip, &key);
        }
        self.touch();
    }

    /// Remove a service.
    pub fn delete_service(&self, name: &str, namespace: &str) {
        let key = service_key(name, namespace);
        if let Some((key, old)) = self.services.remove(&key) {
            if let ServiceKind::ClusterIp(ips) = &old.kind {
                for ip in ips {
                    remove_owner(&self.service_ips, *ip, &key);
                }
            }
            self.touch();
        }
    }

    /// Record the DNS programming latency in `metrics` from now on: for each slice change
    /// after the first sync, the time from its `last-change-trigger-time` to now.
    pub fn record_programming_latency(&self, metrics: ProgrammingMetrics) {
        let _ = self.programming.set(metrics);
    }

    fn observe_programming(&self, slice: &EndpointSlice) {
        let (Some(metrics), Some(triggered)) = (self.programming.get(), slice.trigger_time) else {
            return;
        };
        if !self.is_synced() {
            return;
        }
        let Some(service) = self.service(&service_key(&slice.service, &slice.namespace)) else {
            return;
        };
        let kind = match (&service.kind, service.has_selector) {
            (ServiceKind::Headless, true) => "headless_with_selector",
            (ServiceKind::Headless, false) => "headless_without_selector",
            _ => "cluster_ip",
        };
        if let Ok(latency) = SystemTime::now().duration_since(triggered) {
            metrics.observe(kind, latency.as_secs_f64());
        }
    }

    /// Add or replace an endpoint slice, merging it into its service's endpoints.
    pub fn upsert_slice(&self, mut slice: EndpointSlice) {
        slice.namespace = self.intern(&slice.namespace);
        self.observe_programming(&slice);
        let slice_key = service_key(&slice.name, &slice.namespace);
        let owner = service_key(&slice.service, &slice.namespace);
        if let Some((previous, _)) = self
            .slice_owner
            .insert(slice_key, (owner.clone(), slice.name.clone()))
            && previous != owner
        {
            // The slice moved to another service: take it out of the old one.
            self.remove_slice_from(&previous, &slice.name);
        }
        let slice = Arc::new(slice);
        self.update_endpoints(&owner, |slices| {
            match slices.iter_mut().find(|s| s.name == slice.name) {
                Some(existing) => *existing = slice.clone(),
                None => slices.push(slice.clone()),
            }
        });
    }

    /// Remove an endpoint slice.
    pub fn delete_slice(&self, name: &str, namespace: &str) {
        if let Some((_, (owner, _))) = self.slice_owner.remove(&*service_key(name, namespace)) {
            self.remove_slice_from(&owner, name);
        }
    }

    fn remove_slice_from(&self, owner: &ServiceKey, slice_name: &str) {
        self.update_endpoints(owner, |slices| slices.retain(|s| &*s.name != slice_name));
    }

    /// Copy-on-write update of one service's slices, keeping the reverse index in step.
    fn update_endpoints(
        &self,
        owner: &ServiceKey,
        change: impl FnOnce(&mut Vec<Arc<EndpointSlice>>),
    ) {
        let current = self.endpoints.get(owner).map(|e| e.clone());
        let mut slices = current
            .as_ref()
            .map(|e| e.slices.clone())
            .unwrap_or_default();
        change(&mut slices);
        let updated = ServiceEndpoints::new(slices);
        let old_ips: HashSet<IpAddr> = current.iter().flat_map(|e| e.addresses()).collect();
        let new_ips: HashSet<IpAddr> = updated.addresses().collect();
        for ip in old_ips.difference(&new_ips) {
            remove_owner(&self.endpoint_ips, *ip, owner);
        }
        for ip in new_ips.difference(&old_ips) {
            add_owner(&self.endpoint_ips, *ip, owner);
        }
        if updated.slices.is_empty() {
            self.endpoints.remove(owner);
        } else {
            self.endpoints.insert(owner.clone(), Arc::new(updated));
        }
        self.touch();
    }

    /// Add or replace a pod. A pod that is not live (finished, or being deleted) is removed.
    pub fn upsert_pod(&self, pod: Pod) {
        self.delete_pod(&pod.name, &pod.namespace);
        if pod.phase != PodPhase::Live || pod.ips.is_empty() {
            return;
        }
        let namespace = self.intern(&pod.namespace);
        for ip in &pod.ips {
            self.pod_ips.entry(*ip).or_default().push(namespace.clone());
        }
        let key: Box<str> = Box::from(&*service_key(&pod.name, &pod.namespace));
        let ips = pod.ips.into_iter().collect();
        self.pods.insert(key, LivePod { namespace, ips });
        self.touch();
    }

    /// Remove a pod.
    pub fn delete_pod(&self, name: &str, namespace: &str) {
        if let Some((_, old)) = self.pods.remove(&*service_key(name, namespace)) {
            self.forget_pod(&old);
            self.touch();
        }
    }

    fn forget_pod(&self, pod: &LivePod) {
        for ip in pod.ips.as_slice() {
            self.pod_ips.remove_if_mut(ip, |_, namespaces| {
                namespaces.remove_one(&pod.namespace);
                namespaces.is_empty()
            });
        }
    }

    /// Remove the namespaces whose name `keep` refuses (the sweep after a re-list).
    pub fn retain_namespaces(&self, keep: impl Fn(&str) -> bool) {
        let stale: Vec<Arc<str>> = self
            .namespaces
            .iter()
            .filter(|e| !keep(e.key()))
            .map(|e| e.key().clone())
            .collect();
        for ns in stale {
            self.delete_namespace(&ns);
        }
    }

    /// Remove the services whose `"name.namespace"` key `keep` refuses.
    pub fn retain_services(&self, keep: impl Fn(&str) -> bool) {
        let stale: Vec<Arc<Service>> = self
            .services
            .iter()
            .filter(|e| !keep(e.key()))
            .map(|e| e.value().clone())
            .collect();
        for svc in stale {
            self.delete_service(&svc.name, &svc.namespace);
        }
    }

    /// Remove the endpoint slices whose `"name.namespace"` key `keep` refuses.
    pub fn retain_slices(&self, keep: impl Fn(&str) -> bool) {
        let stale: Vec<Arc<str>> = self
            .slice_owner
            .iter()
            .filter(|e| !keep(e.key()))
            .map(|e| e.key().clone())
            .collect();
        for key in stale {
            if let Some((_, (owner, name))) = self.slice_owner.remove(&key) {
                self.remove_slice_from(&owner, &name);
            }
        }
    }

    /// Remove the pods whose `"name.namespace"` key `keep` refuses.
    pub fn retain_pods(&self, keep: impl Fn(&str) -> bool) {
        let stale: Vec<Box<str>> = self
            .pods
            .iter()
            .filter(|e| !keep(e.key()))
            .map(|e| e.key().clone())
            .collect();
        for key in stale {
            if let Some((_, old)) = self.pods.remove(&key) {
                self.forget_pod(&old);
                self.touch();
            }
        }
    }

    /// Swap in a full listing: upsert everything in `snapshot`, then delete what it lacks.
    /// Names present before and after never stop answering.
    pub fn replace_all(&self, snapshot: Snapshot) {
        let namespaces: HashSet<Arc<str>> =
            snapshot.namespaces.iter().map(|n| n.name.clone()).collect();
        let key = |name: &str, ns: &str| service_key(name, ns);
        let services: HashSet<ServiceKey> = snapshot
            .services
            .iter()
            .map(|s| key(&s.name, &s.namespace))
            .collect();
        let slices: HashSet<ServiceKey> = snapshot
            .slices
            .iter()
            .map(|s| key(&s.name, &s.namespace))
            .collect();
        let pods: HashSet<ServiceKey> = snapshot
            .pods
            .iter()
            .map(|p| key(&p.name, &p.namespace))
            .collect();

        for ns in snapshot.namespaces {
            if self.namespace(&ns.name).as_deref() != Some(&ns) {
                self.upsert_namespace(ns);
            }
        }
        for svc in snapshot.services {
            if self.service(&key(&svc.name, &svc.namespace)).as_deref() != Some(&svc) {
                self.upsert_service(svc);
            }
        }
        for slice in snapshot.slices {
            self.upsert_slice(slice);
        }
        for pod in snapshot.pods {
            self.upsert_pod(pod);
        }
        self.retain_slices(|k| slices.contains(k));
        self.retain_services(|k| services.contains(k));
        self.retain_pods(|k| pods.contains(k));
        self.retain_namespaces(|k| namespaces.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::objects::{Endpoint, ServicePort};

    fn svc(name: &str, ip: &str) -> Service {
        Service {
            name: Arc::from(name),
            namespace: Arc::from("ns"),
            kind: ServiceKind::ClusterIp(vec![ip.parse().expect("ip")]),
            ports: vec![ServicePort {
                name: Box::from("http"),
                protocol: crate::cluster::Protocol::Tcp,
                port: 80,
            }],
            has_selector: true,
            external: Box::default(),
            external_hostname: None,
        }
    }

    fn slice(name: &str, service: &str, ips: &[&str]) -> EndpointSlice {
        EndpointSlice {
            name: Arc::from(name),
            namespace: Arc::from("ns"),
            service: Arc::from(service),
            endpoints: ips
                .iter()
                .map(|ip| Endpoint {
                    addresses: OneOrMany::One(ip.parse().expect("ip")),
                    hostname: None,
                    pod_name: None,
                    ready: true,
                })
                .collect(),
            ports: Vec::new(),
            trigger_time: None,
        }
    }

    #[test]
    fn programming_latency_counts_changes_after_the_sync_per_service_kind() {
        let index = ClusterIndex::new();
        let metrics = crate::cluster::metrics::ProgrammingFamily::default().handles();
        index.record_programming_latency(metrics.clone());
        index.upsert_service(svc("web", "10.0.0.1"));
        let mut headless = svc("db", "10.0.0.2");
        headless.kind = ServiceKind::Headless;
        headless.has_selector = false;
        index.upsert_service(headless);
        let triggered = SystemTime::now() - std::time::Duration::from_millis(1500);
        let mut changed = slice("web-1", "web", &["10.1.0.1"]);
        changed.trigger_time = Some(triggered);
        index.upsert_slice(changed.clone());
        assert_eq!(
            metrics.observed("cluster_ip"),
            None,
            "the initial list is not a change"
        );
        index.mark_synced();
        index.upsert_slice(changed);
        let mut db = slice("db-1", "db", &["10.1.0.2"]);
        db.trigger_time = Some(triggered);
        index.upsert_slice(db);
        index.upsert_slice(slice("web-2", "web", &["10.1.0.3"]));
        let (sum, count) = metrics.observed("cluster_ip").expect("observed");
        assert_eq!(count, 1, "slices without the annotation are not counted");
        assert!((1.5..10.0).contains(&sum), "{sum}");
        assert_eq!(
            metrics.observed("headless_without_selector").map(|o| o.1),
            Some(1)
        );
        assert_eq!(metrics.observed("headless_with_selector"), None);
    }

    #[test]
    fn changing_a_cluster_ip_moves_the_reverse_entry() {
        let index = ClusterIndex::new();
        index.upsert_service(svc("a", "10.0.0.1"));
        index.upsert_service(svc("a", "10.0.0.2"));
        assert!(
            index
                .services_with_ip(&"10.0.0.1".parse().expect("ip"))
                .is_empty()
        );
        assert_eq!(
            index
                .services_with_ip(&"10.0.0.2".parse().expect("ip"))
                .len(),
            1
        );
        index.delete_service("a", "ns");
        assert!(
            index
                .services_with_ip(&"10.0.0.2".parse().expect("ip"))
                .is_empty()
        );
        assert!(index.service("a.ns").is_none());
    }

    #[test]
    fn slices_of_one_service_are_merged_and_removed_one_by_one() {
        let index = ClusterIndex::new();
        index.upsert_slice(slice("a-1", "a", &["10.1.0.1"]));
        index.upsert_slice(slice("a-2", "a", &["10.1.0.2"]));
        assert_eq!(index.endpoints("a.ns").expect("eps").slices().len(), 2);
        index.delete_slice("a-1", "ns");
        let eps = index.endpoints("a.ns").expect("eps");
        assert_eq!(eps.slices().len(), 1);
        assert!(
            index
                .services_with_endpoint_ip(&"10.1.0.1".parse().expect("ip"))
                .is_empty()
        );
        index.delete_slice("a-2", "ns");
        assert!(index.endpoints("a.ns").is_none());
    }

    #[test]
    fn relabelled_slice_moves_to_its_new_service() {
        let index = ClusterIndex::new();
        index.upsert_slice(slice("s", "a", &["10.1.0.1"]));
        index.upsert_slice(slice("s", "b", &["10.1.0.1"]));
        assert!(index.endpoints("a.ns").is_none());
        assert_eq!(
            index.services_with_endpoint_ip(&"10.1.0.1".parse().expect("ip")),
            vec![service_key("b", "ns")]
        );
    }

    #[test]
    fn replace_all_keeps_survivors_and_drops_the_rest() {
        let index = ClusterIndex::new();
        index.upsert_service(svc("keep", "10.0.0.1"));
        index.upsert_service(svc("gone", "10.0.0.2"));
        index.upsert_slice(slice("gone-1", "gone", &["10.1.0.9"]));
        let before = index.service("keep.ns").expect("keep");
        index.replace_all(Snapshot {
            services: vec![svc("keep", "10.0.0.1"), svc("new", "10.0.0.3")],
            ..Snapshot::default()
        });
        let after = index.service("keep.ns").expect("keep");
        assert!(
            Arc::ptr_eq(&before, &after),
            "an unchanged service is not rewritten"
        );
        assert!(index.service("gone.ns").is_none());
        assert!(index.service("new.ns").is_some());
        assert!(index.endpoints("gone.ns").is_none());
        assert!(
            index
                .services_with_endpoint_ip(&"10.1.0.9".parse().expect("ip"))
                .is_empty()
        );
    }
}
