//! The in-process query path: wire bytes → checks → chain → kubernetes answer → wire bytes,
//! through the same `handle` function the UDP loop calls, with 10 and 100,000 services; and a
//! cache hit (`cache` in front of `hosts`). Run: `cargo bench --bench query_path`.

// criterion's macros generate public functions without docs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use clusterdns::cluster::index::Snapshot;
use clusterdns::cluster::one_or_many::OneOrMany;
use clusterdns::cluster::{
    ClusterIndex, Endpoint, EndpointPort, EndpointSlice, Namespace, Protocol, Service, ServiceKind,
    ServicePort,
};
use clusterdns::config::Corefile;
use clusterdns::metrics::ServerMetrics;
use clusterdns::plugin::{Chain, FatalSender, Plugin, StartContext, Transport};
use clusterdns::plugins;
use clusterdns::plugins::kubernetes::{Kubernetes, setup};
use clusterdns::run::plan::plan_block;
use clusterdns::server::handle::{Handled, handle};
use clusterdns::server::{PendingLimit, Router};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

fn ip(n: u32) -> std::net::IpAddr {
    Ipv4Addr::from(0x0a00_0000 + n).into()
}

/// `services` ClusterIP services in 100 namespaces, every tenth headless with 3 endpoints.
fn cluster(services: u32) -> Arc<ClusterIndex> {
    let mut snapshot = Snapshot::default();
    for ns in 0..100 {
        snapshot.namespaces.push(Namespace {
            name: Arc::from(format!("ns{ns}")),
            labels: Default::default(),
        });
    }
    for i in 0..services {
        let name: Arc<str> = Arc::from(format!("svc{i}"));
        let namespace: Arc<str> = Arc::from(format!("ns{}", i % 100));
        let headless = i % 10 == 9;
        snapshot.services.push(Service {
            name: name.clone(),
            namespace: namespace.clone(),
            kind: if headless {
                ServiceKind::Headless
            } else {
                ServiceKind::ClusterIp(vec![ip(i)])
            },
            ports: vec![ServicePort {
                name: Box::from("http"),
                protocol: Protocol::Tcp,
                port: 80,
            }],
            has_selector: true,
            external: Box::default(),
            external_hostname: None,
        });
        if headless {
            snapshot.slices.push(EndpointSlice {
                name: Arc::from(format!("svc{i}-x")),
                namespace,
                service: name,
                endpoints: (0..3)
                    .map(|e| Endpoint {
                        addresses: OneOrMany::One(ip(0x0100_0000 + i * 4 + e)),
                        hostname: None,
                        pod_name: None,
                        ready: true,
                    })
                    .collect(),
                ports: Vec::new(),
                trigger_time: None,
            });
        }
    }
    let index = Arc::new(ClusterIndex::new());
    index.replace_all(snapshot);
    index.mark_synced();
    index
}

/// One headless Service `big.ns0` with `endpoints` ready endpoints (no hostnames: each is named
/// by its dashed IP) in slices of 1,000, and port `http`/80.
fn big_headless(endpoints: u32) -> Arc<ClusterIndex> {
    let mut snapshot = Snapshot::default();
    snapshot.namespaces.push(Namespace {
        name: Arc::from("ns0"),
        labels: Default::default(),
    });
    let name: Arc<str> = Arc::from("big");
    let namespace: Arc<str> = Arc::from("ns0");
    snapshot.services.push(Service {
        name: name.clone(),
        namespace: namespace.clone(),
        kind: ServiceKind::Headless,
        ports: vec![ServicePort {
            name: Box::from("http"),
            protocol: Protocol::Tcp,
            port: 80,
        }],
        has_selector: true,
        external: Box::default(),
        external_hostname: None,
    });
    for first in (0..endpoints).step_by(1000) {
        snapshot.slices.push(EndpointSlice {
            name: Arc::from(format!("big-{first}")),
            namespace: namespace.clone(),
            service: name.clone(),
            endpoints: (first..(first + 1000).min(endpoints))
                .map(|e| Endpoint {
                    addresses: OneOrMany::One(ip(0x0100_0000 + e)),
                    hostname: None,
                    pod_name: None,
                    ready: true,
                })
                .collect(),
            ports: vec![EndpointPort {
                name: Box::from("http"),
                protocol: Protocol::Tcp,
                port: 80,
            }],
            trigger_time: None,
        });
    }
    let index = Arc::new(ClusterIndex::new());
    index.replace_all(snapshot);
    index.mark_synced();
    index
}

fn router(index: Arc<ClusterIndex>) -> Arc<Router> {
    let text = ".:53 {\n kubernetes cluster.local in-addr.arpa {\n  manifests deploy/demo\n  pods insecure\n }\n}\n";
    let core = Corefile::parse("bench", text, Path::new(".")).expect("corefile");
    let config = setup::config(&core.blocks[0].directives[0], &[Name::root()]).expect("config");
    let plugin: Arc<dyn Plugin> = Arc::new(Kubernetes::with_index(config, index, Vec::new()));
    let chain = Arc::new(Chain::new(vec![plugin]));
    Arc::new(Router::new(vec![(Name::root(), chain)]))
}

/// `cache` in front of `hosts` (an answer that does not come from the cluster index): after the
/// first query every one is a cache hit.
fn cache_router(runtime: &tokio::runtime::Runtime) -> Arc<Router> {
    let text = ".:53 {\n cache 30\n hosts /dev/null {\n  10.1.1.1 outside.example\n }\n}\n";
    let core = Corefile::parse("bench", text, Path::new(".")).expect("corefile");
    let block = plan_block(&core.blocks[0]).expect("block");
    let context = StartContext {
        metrics: Arc::new(ServerMetrics::new(&plugins::metric_families())),
        server: "dns://:53".into(),
        fatal: FatalSender::channel().0,
        block: Default::default(),
    };
    let chain = runtime.block_on(async {
        let mut started = Vec::new();
        for setup in block.setups {
            started.extend(setup.start(&context).await.expect("plugin starts"));
        }
        Arc::new(Chain::new(started))
    });
    Arc::new(Router::new(vec![(Name::root(), chain)]))
}

fn query(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = 4242;
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    message.to_vec().expect("encodes")
}

fn bench(c: &mut Criterion) {
    let source = SocketAddr::from(([127, 0, 0, 1], 40000));
    let pending = PendingLimit::default();
    let cases = [
        ("A", "svc4.ns4.svc.cluster.local.", RecordType::A),
        (
            "AAAA-nodata",
            "svc4.ns4.svc.cluster.local.",
            RecordType::AAAA,
        ),
        (
            "SRV",
            "_http._tcp.svc4.ns4.svc.cluster.local.",
            RecordType::SRV,
        ),
        ("headless-A", "svc9.ns9.svc.cluster.local.", RecordType::A),
        ("PTR", "4.0.0.10.in-addr.arpa.", RecordType::PTR),
        ("NXDOMAIN", "nope.ns4.svc.cluster.local.", RecordType::A),
        ("pod", "10-1-2-3.ns4.pod.cluster.local.", RecordType::A),
    ];
    for services in [10u32, 100_000] {
        let router = router(cluster(services));
        let mut group = c.benchmark_group(format!("query_path/{services}_services"));
        for (label, name, qtype) in &cases {
            let bytes = query(name, *qtype);
            group.bench_with_input(BenchmarkId::from_parameter(label), &bytes, |b, bytes| {
                b.iter(|| {
                    match handle(&router, &pending, black_box(bytes), source, Transport::Udp) {
                        Handled::Reply(reply) => black_box(reply.len()),
                        _ => panic!("no reply"),
                    }
                });
            });
        }
        group.finish();
    }
    for endpoints in [1_000u32, 10_000, 100_000] {
        let router = router(big_headless(endpoints));
        let last = ip(0x0100_0000 + endpoints - 1);
        let std::net::IpAddr::V4(last_v4) = last else {
            unreachable!("IPv4 endpoints")
        };
        let [o1, o2, o3, o4] = last_v4.octets();
        let ptr = format!("{o4}.{o3}.{o2}.{o1}.in-addr.arpa.");
        let by_name = format!("{o1}-{o2}-{o3}-{o4}.big.ns0.svc.cluster.local.");
        let cases = [
            (
                "SRV-udp",
                "_http._tcp.big.ns0.svc.cluster.local.",
                RecordType::SRV,
                Transport::Udp,
            ),
            (
                "SRV-tcp",
                "_http._tcp.big.ns0.svc.cluster.local.",
                RecordType::SRV,
                Transport::Tcp,
            ),
            (
                "A-udp",
                "big.ns0.svc.cluster.local.",
                RecordType::A,
                Transport::Udp,
            ),
            (
                "A-tcp",
                "big.ns0.svc.cluster.local.",
                RecordType::A,
                Transport::Tcp,
            ),
            // Every endpoint is IPv4: NODATA, found without walking the endpoints.
            (
                "AAAA-udp",
                "big.ns0.svc.cluster.local.",
                RecordType::AAAA,
                Transport::Udp,
            ),
            ("PTR-last", ptr.as_str(), RecordType::PTR, Transport::Udp),
            (
                "endpoint-last",
                by_name.as_str(),
                RecordType::A,
                Transport::Udp,
            ),
        ];
        let mut group = c.benchmark_group(format!("query_path/headless_{endpoints}_endpoints"));
        for (label, name, qtype, transport) in cases {
            let bytes = query(name, qtype);
            group.bench_with_input(BenchmarkId::from_parameter(label), &bytes, |b, bytes| {
                b.iter(
                    || match handle(&router, &pending, black_box(bytes), source, transport) {
                        Handled::Reply(reply) => black_box(reply.len()),
                        _ => panic!("no reply"),
                    },
                );
            });
        }
        group.finish();
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _entered = runtime.enter();
    let router = cache_router(&runtime);
    let bytes = query("outside.example.", RecordType::A);
    let mut group = c.benchmark_group("query_path/cache");
    group.bench_with_input(BenchmarkId::from_parameter("hit"), &bytes, |b, bytes| {
        b.iter(
            || match handle(&router, &pending, black_box(bytes), source, Transport::Udp) {
                Handled::Reply(reply) => black_box(reply.len()),
                _ => panic!("no reply"),
            },
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
