//! What the fuzz targets share: the in-process server (router, plugins, an in-memory cluster
//! index) and the checks every reply must pass.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use clusterdns::cluster::index::{Snapshot, service_key};
use clusterdns::cluster::{ClusterIndex, ServiceKind};
use clusterdns::config::Corefile;
use clusterdns::fuzzing::SourceFilter;
use clusterdns::metrics::ServerMetrics;
use clusterdns::plugin::{Chain, FatalSender, Plugin, StartContext, Transport};
use clusterdns::plugins;
use clusterdns::plugins::kubernetes::{Kubernetes, KubernetesConfig, setup};
use clusterdns::run::plan::plan_block;
use clusterdns::server::handle::{Handled, handle};
use clusterdns::server::precheck::{Checked, check};
use clusterdns::server::{PendingLimit, Router};
use hickory_proto::op::{Edns, Message, MessageType, Query};
use hickory_proto::rr::{Name, RecordType};

/// The kubernetes directive every target's cluster zone uses (the index is filled in memory).
const KUBERNETES: &str = "cluster.local in-addr.arpa ip6.arpa {
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        manifests /
        pods insecure
        endpoint_pod_names
        fallthrough in-addr.arpa ip6.arpa
    }
}
";

/// The other plugins of the query target: `loadbalance` and `hosts` in the cluster block (before
/// kubernetes, as CoreDNS orders them), `whoami` after it; `hosts` and `whoami` for the root.
const OTHERS: &str = "cluster.local in-addr.arpa ip6.arpa {
    loadbalance
    hosts /dev/null {
        10.1.1.1 outside.example
        fd00::1 outside.example
        10.96.99.99 pinned.default.svc.cluster.local
        reload 0
        fallthrough
    }
    whoami
}
. {
    hosts /dev/null {
        10.1.1.1 outside.example
        reload 0
        fallthrough
    }
    whoami
}
";

/// The demo cluster of `deploy/demo/` and the extra objects of `fuzz/cluster.yaml`.
const MANIFESTS: [(&str, &str); 7] = [
    (
        "namespaces.yaml",
        include_str!("../../deploy/demo/namespaces.yaml"),
    ),
    (
        "kubernetes.yaml",
        include_str!("../../deploy/demo/kubernetes.yaml"),
    ),
    (
        "kube-dns.yaml",
        include_str!("../../deploy/demo/kube-dns.yaml"),
    ),
    (
        "frontend.yaml",
        include_str!("../../deploy/demo/frontend.yaml"),
    ),
    ("web.yaml", include_str!("../../deploy/demo/web.yaml")),
    (
        "external.yaml",
        include_str!("../../deploy/demo/external.yaml"),
    ),
    ("cluster.yaml", include_str!("../cluster.yaml")),
];

/// The source filter of [`KUBERNETES`]: what a source keeps.
pub fn filter() -> SourceFilter {
    kubernetes_config().source_filter()
}

fn kubernetes_config() -> KubernetesConfig {
    static CONFIG: OnceLock<KubernetesConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let core = Corefile::parse("fuzz", KUBERNETES, Path::new(".")).expect("corefile");
            let block = &core.blocks[0];
            let zones: Vec<Name> = block.keys.iter().map(|k| k.zone.clone()).collect();
            setup::config(&block.directives[0], &zones).expect("kubernetes config")
        })
        .clone()
}

/// The zones the cluster chain serves.
fn cluster_zones() -> [Name; 3] {
    ["cluster.local.", "in-addr.arpa.", "ip6.arpa."].map(|z| Name::from_ascii(z).expect("zone"))
}

/// A runtime for the plugins that start or answer asynchronously.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// The objects of the demo cluster and `fuzz/cluster.yaml`, read once.
pub fn demo_snapshot() -> Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    let s = SNAPSHOT.get_or_init(|| {
        let filter = filter();
        let mut loaded = clusterdns::cluster::source::manifests::Loaded::default();
        for (file, text) in MANIFESTS {
            clusterdns::cluster::source::manifests::load_text(file, text, &filter, &mut loaded);
        }
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        loaded.snapshot
    });
    Snapshot {
        namespaces: s.namespaces.clone(),
        services: s.services.clone(),
        slices: s.slices.clone(),
        pods: s.pods.clone(),
    }
}

/// An index holding `snapshot`, synced.
pub fn index_of(snapshot: Snapshot) -> Arc<ClusterIndex> {
    let index = Arc::new(ClusterIndex::new());
    index.replace_all(snapshot);
    index.mark_synced();
    index
}

/// The query target's server: the cluster zones with `loadbalance`, `hosts`, `kubernetes` and
/// `whoami` over `index`, and the root zone with `hosts` and `whoami`.
pub fn full_router(index: Arc<ClusterIndex>) -> Arc<Router> {
    let core = Corefile::parse("fuzz", OTHERS, Path::new(".")).expect("corefile");
    let context = StartContext {
        metrics: Arc::new(ServerMetrics::new(&plugins::metric_families())),
        server: "dns://:53".into(),
        fatal: FatalSender::channel().0,
        block: Default::default(),
    };
    let mut zones = Vec::new();
    for (n, block) in core.blocks.iter().enumerate() {
        let plan = plan_block(block).expect("block");
        let mut started: Vec<Arc<dyn Plugin>> = runtime().block_on(async {
            let mut started = Vec::new();
            for setup in plan.setups {
                started.extend(setup.start(&context).await.expect("plugin starts"));
            }
            started
        });
        if n == 0 {
            let at = started
                .iter()
                .position(|p| p.name() == "whoami")
                .unwrap_or(started.len());
            let kubernetes = Kubernetes::with_index(kubernetes_config(), index.clone(), Vec::new());
            started.insert(at, Arc::new(kubernetes));
        }
        let chain = Arc::new(Chain::new(started));
        zones.extend(block.keys.iter().map(|k| (k.zone.clone(), chain.clone())));
    }
    Arc::new(Router::new(zones))
}

/// The cluster zones with only `kubernetes` over `index`.
pub fn kubernetes_router(index: Arc<ClusterIndex>) -> Arc<Router> {
    let plugin: Arc<dyn Plugin> = Arc::new(Kubernetes::with_index(
        kubernetes_config(),
        index,
        Vec::new(),
    ));
    let chain = Arc::new(Chain::new(vec![plugin]));
    Arc::new(Router::new(
        cluster_zones()
            .into_iter()
            .map(|z| (z, chain.clone()))
            .collect(),
    ))
}

/// Run `bytes` from `source` over `transport` through the whole in-process path and check what
/// comes back: the checks and the server agree, every reply decodes as a response to the query
/// (its ID, OPCODE and question), and fits the client's limit.
pub fn exchange(router: &Arc<Router>, bytes: &[u8], source: SocketAddr, transport: Transport) {
    let pending = PendingLimit::default();
    let expected = check(bytes, source, transport);
    let handled = handle(router, &pending, bytes, source, transport);
    let reply = match handled {
        Handled::Nothing => {
            assert!(
                matches!(expected, Checked::Drop),
                "dropped, but checks say {expected:?}"
            );
            return;
        }
        Handled::Reply(reply) => reply,
        Handled::Later(later) => runtime().block_on(later.finish()).0,
    };
    let limit = match (&expected, transport) {
        (_, Transport::Tcp) => usize::from(u16::MAX),
        (Checked::Query(_, edns), Transport::Udp) => edns.udp_limit(),
        // Error replies carry no records: they are small.
        (_, Transport::Udp) => 512,
    };
    assert!(
        reply.len() <= limit,
        "reply of {} bytes over the limit {limit}",
        reply.len()
    );
    let message = match Message::from_vec(&reply) {
        Ok(message) => message,
        Err(e) => panic!("reply does not decode: {e}: {reply:?}"),
    };
    assert_eq!(
        message.metadata.id,
        u16::from_be_bytes([bytes[0], bytes[1]])
    );
    assert_eq!(message.metadata.message_type, MessageType::Response);
    assert_eq!(reply[2] & 0x78, bytes[2] & 0x78, "the query's OPCODE");
    match expected {
        Checked::Drop => panic!("checks drop it, but it was answered"),
        Checked::Reply(error) => assert_eq!(reply, error, "the checks' reply was not sent"),
        Checked::Query(request, _) => {
            let question = message.queries.first().expect("a question");
            assert_eq!(question.name(), &request.name, "question name");
            assert_eq!(question.query_type(), request.qtype, "question type");
            if !message.metadata.truncation {
                assert!(message.queries.len() == 1, "one question");
            }
        }
    }
}

/// A query for `name`/`qtype`, with an OPT of `udp_size` if given.
pub fn query(id: u16, name: Name, qtype: RecordType, udp_size: Option<u16>) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.add_query(Query::query(name, qtype));
    if let Some(size) = udp_size {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        message.set_edns(edns);
    }
    message.to_vec().expect("encodes")
}

/// `labels` under `zone`, if they make a name.
fn name_of(labels: &[&str], zone: &str) -> Option<Name> {
    let relative = Name::from_labels(labels.iter().map(|l| l.as_bytes())).ok()?;
    relative.append_domain(&Name::from_ascii(zone).ok()?).ok()
}

/// The reverse name of `ip`.
fn reverse_name(ip: &IpAddr) -> Option<Name> {
    let text = match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa.")
        }
        IpAddr::V6(v6) => {
            let mut text = String::new();
            for byte in v6.octets().iter().rev() {
                text.push_str(&format!("{:x}.{:x}.", byte & 0xF, byte >> 4));
            }
            text + "ip6.arpa."
        }
    };
    Name::from_ascii(text).ok()
}

/// A Service's name and namespace.
pub type Named = (String, String);

/// A Pod's namespace and addresses.
pub type PodIps = (String, Vec<IpAddr>);

/// Ask `router` (over `index`) about each object of `keys` (`name.namespace` of Services)
/// and `pods`: the names the objects make (service, ports, endpoints, pods, reverse names), over
/// UDP with and without EDNS and over TCP. At most a few queries per object and `budget` in all.
pub fn ask_about(
    router: &Arc<Router>,
    index: &ClusterIndex,
    services: &[Named],
    pods: &[PodIps],
    budget: usize,
) {
    let mut names: Vec<(Name, RecordType)> = Vec::new();
    for (name, namespace) in services {
        let key = service_key(name, namespace);
        let Some(service) = index.service(&key) else {
            continue;
        };
        if let Some(n) = name_of(&[name, namespace, "svc"], "cluster.local.") {
            names.push((n.clone(), RecordType::A));
            names.push((n.clone(), RecordType::AAAA));
            names.push((n, RecordType::SRV));
        }
        for port in service.ports.iter().take(2) {
            let port_label = format!("_{}", port.name);
            let protocol = format!("_{}", format!("{:?}", port.protocol).to_ascii_lowercase());
            if let Some(n) = name_of(
                &[&port_label, &protocol, name, namespace, "svc"],
                "cluster.local.",
            ) {
                names.push((n, RecordType::SRV));
            }
        }
        if let ServiceKind::ClusterIp(ips) = &service.kind {
            names.extend(
                ips.iter()
                    .take(2)
                    .filter_map(reverse_name)
                    .map(|n| (n, RecordType::PTR)),
            );
        }
        if let Some(endpoints) = index.endpoints(&key) {
            for (ip, endpoint) in endpoints.ready_all().take(3) {
                names.extend(reverse_name(&ip).map(|n| (n, RecordType::PTR)));
                let host = endpoint
                    .hostname
                    .as_deref()
                    .map(str::to_string)
                    .unwrap_or_else(|| clusterdns::plugins::kubernetes::name::dashed_ip(&ip));
                names.extend(
                    name_of(&[&host, name, namespace, "svc"], "cluster.local.")
                        .map(|n| (n, RecordType::A)),
                );
            }
        }
    }
    for (namespace, ips) in pods {
        for ip in ips.iter().take(2) {
            let dashed = clusterdns::plugins::kubernetes::name::dashed_ip(ip);
            names.extend(
                name_of(&[&dashed, namespace, "pod"], "cluster.local.").map(|n| (n, RecordType::A)),
            );
        }
    }
    let source = SocketAddr::from(([127, 0, 0, 1], 40000));
    for (id, (name, qtype)) in names.into_iter().take(budget).enumerate() {
        // Over UDP without EDNS (512 bytes), then in turn over UDP with EDNS or over TCP.
        let id = id as u16;
        exchange(
            router,
            &query(id, name.clone(), qtype, None),
            source,
            Transport::Udp,
        );
        if id.is_multiple_of(2) {
            exchange(
                router,
                &query(id, name, qtype, Some(1232)),
                source,
                Transport::Udp,
            );
        } else {
            exchange(
                router,
                &query(id, name, qtype, None),
                source,
                Transport::Tcp,
            );
        }
    }
}

/// The Services and Pods of `snapshot`, as [`ask_about`] takes them.
pub fn objects_of(snapshot: &Snapshot) -> (Vec<Named>, Vec<PodIps>) {
    (
        snapshot
            .services
            .iter()
            .map(|s| (s.name.to_string(), s.namespace.to_string()))
            .collect(),
        snapshot
            .pods
            .iter()
            .map(|p| (p.namespace.to_string(), p.ips.clone()))
            .collect(),
    )
}
