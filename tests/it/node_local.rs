//! The node cache of `deploy/overlays/node-local`, run with its Corefile exactly as the
//! ConfigMap holds it: inside a network namespace standing for the node, with 169.254.20.10 on
//! a local interface (what the DaemonSet's init container sets up), the node's
//! `/etc/resolv.conf` naming a resolver, and `KUBE_DNS_UPSTREAM_SERVICE_HOST` naming the
//! cluster DNS (as kubelet sets it). Both live in a second namespace, linked by a veth pair.
//! Cluster names must go upstream over TCP only, other names over UDP to the node's resolver,
//! and a repeated name must come from the cache. Needs root and iproute2.

use std::net::SocketAddr;

use crate::support::fake_upstream::FakeUpstream;
use crate::support::netns::{NetNs, NsServer};
use crate::support::{ask_udp, http_get, repo_path};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const NODE_ADDR: &str = "10.78.0.1/29";
/// The cluster DNS (kube-dns-upstream's address).
const CLUSTER_DNS_IP: &str = "10.78.0.2";
/// The resolver the node's /etc/resolv.conf names.
const NODE_RESOLVER_IP: &str = "10.78.0.3";
const LOCAL: [u8; 4] = [169, 254, 20, 10];

/// The node-local-dns ConfigMap's Corefile, from the file in deploy/.
fn node_local_corefile() -> String {
    let text = std::fs::read_to_string(repo_path("deploy/overlays/node-local/node-local-dns.yaml"))
        .expect("node-local manifest");
    for document in serde_norway::Deserializer::from_str(&text) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(document).expect("manifest YAML");
        if value["kind"] == "ConfigMap" && value["metadata"]["name"] == "node-local-dns" {
            return value["data"]["Corefile"]
                .as_str()
                .expect("Corefile")
                .to_string();
        }
    }
    panic!("no node-local-dns ConfigMap");
}

fn ask(node: &NetNs, name: &'static str) -> Option<(ResponseCode, Vec<String>)> {
    node.run(move || ask_udp(SocketAddr::from((LOCAL, 53)), name, RecordType::A))
}

/// A node running a node cache, and what it talks to.
struct Node {
    // Declared first, dropped first: the server stops before its namespaces go.
    server: NsServer,
    node: NetNs,
    _cluster: NetNs,
    /// The cluster DNS (A 10.96.0.1 for every name).
    cluster_dns: FakeUpstream,
    /// The resolver the node's /etc/resolv.conf names (A 192.0.2.7 for every name).
    node_resolver: FakeUpstream,
}

impl Node {
    /// `corefile` on a node whose loopback also holds `listen` (the init container puts them
    /// on a dummy interface; this machine's kernel has no dummy link type, and for binding and
    /// answering the loopback serves the same), the cluster DNS at `cluster_dns_ip` and the
    /// node's resolver in a second namespace, healthy on `health`.
    fn start(
        corefile: &str,
        listen: &[&str],
        cluster_dns_ip: &'static str,
        env: &[(&str, &str)],
        health: SocketAddr,
    ) -> Node {
        let node = NetNs::create("node");
        let cluster = NetNs::create("cdns");
        node.link(NODE_ADDR, &cluster, &format!("{NODE_RESOLVER_IP}/29"));
        cluster.ip(&format!("addr add {cluster_dns_ip}/32 dev veth0"));
        node.ip(&format!("route add {cluster_dns_ip}/32 dev veth0"));
        for address in listen {
            node.ip(&format!("addr add {address}/32 dev lo"));
        }
        let cluster_dns = cluster.run(move || {
            FakeUpstream::start_on(
                format!("{cluster_dns_ip}:53").parse().expect("addr"),
                [10, 96, 0, 1],
            )
        });
        let node_resolver = cluster.run(|| {
            FakeUpstream::start_on(
                format!("{NODE_RESOLVER_IP}:53").parse().expect("addr"),
                [192, 0, 2, 7],
            )
        });
        node.write_etc("resolv.conf", &format!("nameserver {NODE_RESOLVER_IP}\n"));
        let mut server = node.start_clusterdns(corefile, &[], env);
        server.wait_until("node cache healthy", || {
            node.run(move || http_get(health, "/health")) == Some((200, "OK".into()))
        });
        Node {
            server,
            node,
            _cluster: cluster,
            cluster_dns,
            node_resolver,
        }
    }
}

#[test]
fn node_cache_answers_on_the_link_local_address_and_forwards_cluster_names_over_tcp() {
    let lab = Node::start(
        &node_local_corefile(),
        &["169.254.20.10"],
        CLUSTER_DNS_IP,
        &[("KUBE_DNS_UPSTREAM_SERVICE_HOST", CLUSTER_DNS_IP)],
        SocketAddr::from((LOCAL, 8080)),
    );
    let (node, server) = (&lab.node, &lab.server);
    let (cluster_dns, node_resolver) = (&lab.cluster_dns, &lab.node_resolver);

    // A cluster name: forwarded to the cluster DNS over TCP, never UDP, and never to the
    // node's resolver.
    let web = Some((ResponseCode::NoError, vec!["10.96.0.1".to_string()]));
    let web_name = "web.default.svc.cluster.local.";
    assert_eq!(ask(node, web_name), web, "{}", server.log());
    assert_eq!(cluster_dns.asked(web_name), ["tcp"]);
    assert!(node_resolver.asked(web_name).is_empty());
    // Asked again: from the cache.
    assert_eq!(ask(node, web_name), web);
    assert_eq!(cluster_dns.asked(web_name), ["tcp"]);
    // A reverse name of the cluster goes the same way.
    let reverse = "1.0.96.10.in-addr.arpa.";
    assert_eq!(ask(node, reverse).map(|r| r.0), Some(ResponseCode::NoError));
    assert_eq!(cluster_dns.asked(reverse), ["tcp"]);
    // Any other name: to the node's resolver, over UDP.
    assert_eq!(
        ask(node, "example.org."),
        Some((ResponseCode::NoError, vec!["192.0.2.7".to_string()]))
    );
    assert_eq!(node_resolver.asked("example.org."), ["udp"]);
    assert!(cluster_dns.asked("example.org.").is_empty());
    // Whatever else reached the cluster DNS (the loop plugin's probes) came over TCP too.
    assert_eq!(cluster_dns.udp_queries(), 0);

    // Metrics on NodeLocal DNSCache's port.
    let metrics = node
        .run(|| http_get(SocketAddr::from(([127, 0, 0, 1], 9253)), "/metrics"))
        .expect("metrics")
        .1;
    assert!(
        metrics.contains("coredns_cache_hits_total{server=\"dns://169.254.20.10:53\""),
        "{metrics}"
    );
}

/// The NodeLocal DNSCache Corefiles of `tests/corefiles/wild/` (the upstream add-on, kubespray's
/// and RKE2's), unmodified: their listen addresses on the node's loopback, their cluster DNS
/// (the `forward` target of the cluster zones, a literal address) and the node's resolver in
/// the second namespace. Cluster names over TCP only, other names over UDP to the resolver, the
/// cache in front, health on the file's own address.
#[test]
fn the_node_local_corefiles_of_distributions_start_unmodified() {
    for (file, listen, cluster_dns_ip, health) in [
        (
            "nodelocaldns.Corefile",
            &["169.254.20.10", "10.96.0.10"][..],
            "10.96.0.11",
            "169.254.20.10:8080",
        ),
        (
            "kubespray-nodelocaldns.Corefile",
            &["169.254.25.10"][..],
            "10.233.0.3",
            "169.254.25.10:9254",
        ),
        (
            "rke2-nodelocal.Corefile",
            &["169.254.20.10", "10.43.0.10"][..],
            "10.96.0.11",
            "169.254.20.10:8080",
        ),
    ] {
        let text = std::fs::read_to_string(repo_path("tests/corefiles/wild").join(file))
            .expect("Corefile");
        let health: SocketAddr = health.parse().expect("health address");
        let lab = Node::start(&text, listen, cluster_dns_ip, &[], health);
        let (node, server) = (&lab.node, &lab.server);
        for address in listen {
            let at: SocketAddr = format!("{address}:53").parse().expect("address");
            let web = "web.default.svc.cluster.local.";
            assert_eq!(
                node.run(move || ask_udp(at, web, RecordType::A)),
                Some((ResponseCode::NoError, vec!["10.96.0.1".to_string()])),
                "{file} on {address}: {}",
                server.log()
            );
            assert_eq!(
                node.run(move || ask_udp(at, "example.org.", RecordType::A)),
                Some((ResponseCode::NoError, vec!["192.0.2.7".to_string()])),
                "{file} on {address}"
            );
        }
        // Once each: the second address's answers came from the cache.
        assert_eq!(
            lab.cluster_dns.asked("web.default.svc.cluster.local."),
            ["tcp"],
            "{file}"
        );
        assert_eq!(lab.node_resolver.asked("example.org."), ["udp"], "{file}");
        assert_eq!(lab.cluster_dns.udp_queries(), 0, "{file}");
    }
}
