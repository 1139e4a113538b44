//! The stock Corefiles of kubeadm (current and older), coredns/deployment and minikube, and the
//! defaults of AKS, OpenShift, kops (IPv6) and k3s from `tests/corefiles/wild/`, start unmodified
//! and serve what their blocks are for: each runs inside a network namespace of its own (its
//! `:53`, `:8080`, `:8181` and `:9153` are private), with `/etc/resolv.conf` swapped by
//! `ip netns exec` for one naming an upstream, and `$KUBECONFIG` naming a fake API server;
//! upstream and API live in a second namespace, linked by a veth pair. Needs root and iproute2.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::fake_api::FakeApi;
use crate::support::fake_upstream::FakeUpstream;
use crate::support::netns::{EtcMountPoint, NetNs, NsServer};
use crate::support::{ask_udp, decode, http_get, query_bytes, repo_path, send_signal};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use serde_json::json;

const SERVER_ADDR: &str = "10.77.0.1/30";
const UPSTREAM_IP: &str = "10.77.0.2";

/// clusterdns on a stock Corefile in its namespace, with what it talks to.
struct Stock {
    server: NsServer,
    _api: FakeApi,
    _upstream: FakeUpstream,
    server_ns: NetNs,
    _upstream_ns: NetNs,
    /// Whether the Corefile sets `health { lameduck … }` (k3s's does not).
    lameduck: bool,
}

impl Stock {
    fn start(corefile: &str) -> Stock {
        Stock::start_with_etc(corefile, &[])
    }

    /// [`Stock::start`] with private files under the server's `/etc` (`DIR/FILE`).
    fn start_with_etc(corefile: &str, etc: &[(&str, &str)]) -> Stock {
        let server_ns = NetNs::create("stock");
        let upstream_ns = NetNs::create("up");
        server_ns.link(SERVER_ADDR, &upstream_ns, &format!("{UPSTREAM_IP}/30"));
        let upstream = upstream_ns.run(|| {
            FakeUpstream::start_on(
                format!("{UPSTREAM_IP}:53").parse().expect("addr"),
                [10, 9, 0, 1],
            )
        });
        let api = upstream_ns
            .run(|| FakeApi::start_on(format!("{UPSTREAM_IP}:6443").parse().expect("addr")));
        for object in [
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "kube-dns", "namespace": "kube-system"},
                   "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                            "selector": {"k8s-app": "kube-dns"},
                            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}}),
        ] {
            api.apply(object);
        }
        server_ns.write_etc("resolv.conf", &format!("nameserver {UPSTREAM_IP}\n"));
        for (file, text) in etc {
            server_ns.write_etc(file, text);
        }
        let text = std::fs::read_to_string(repo_path("tests/corefiles").join(corefile))
            .expect("stock Corefile");
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: 'http://{UPSTREAM_IP}:6443'}}\nusers:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: fake}}\ncurrent-context: fake\n"
        );
        // KUBECONFIG is read relative to clusterdns's working directory, which holds it.
        let server = server_ns.start_clusterdns(
            &text,
            &[("kubeconfig", &kubeconfig)],
            &[("KUBECONFIG", "kubeconfig")],
        );
        Stock {
            server,
            _api: api,
            _upstream: upstream,
            server_ns,
            _upstream_ns: upstream_ns,
            lameduck: text.contains("lameduck 5s"),
        }
    }

    fn log(&self) -> String {
        self.server.log()
    }

    /// (status, body) of `GET path` on the server's loopback `port`.
    fn get(&self, port: u16, path: &'static str) -> Option<(u16, String)> {
        loopback_get(&self.server_ns, port, path)
    }

    /// (rcode, answers) of `name`/`qtype` asked on the server's `127.0.0.1:53`.
    fn ask(&self, name: &'static str, qtype: RecordType) -> Option<(ResponseCode, Vec<String>)> {
        self.server_ns
            .run(move || ask_udp(SocketAddr::from(([127, 0, 0, 1], 53)), name, qtype))
    }

    /// The reply to `name`/`qtype` of `class`, sent from `from` (an address of the server's
    /// namespace, `127.0.0.1` or `::1`) to its `port`.
    fn ask_raw(
        &self,
        from: &'static str,
        port: u16,
        name: &'static str,
        qtype: RecordType,
        class: DNSClass,
    ) -> Option<Message> {
        self.server_ns.run(move || {
            let mut bytes = query_bytes(name, qtype, 21);
            let at = bytes.len() - 2;
            bytes[at..].copy_from_slice(&u16::from(class).to_be_bytes());
            let ip: IpAddr = from.parse().expect("address");
            let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).ok()?;
            socket.set_read_timeout(Some(Duration::from_secs(6))).ok()?;
            socket.send_to(&bytes, SocketAddr::new(ip, port)).ok()?;
            let mut buffer = [0u8; 4096];
            let len = socket.recv(&mut buffer).ok()?;
            Some(decode(&buffer[..len]))
        })
    }

    fn wait_ready(&mut self) {
        let ns = &self.server_ns;
        self.server.wait_until("ready", || {
            loopback_get(ns, 8181, "/ready") == Some((200, "OK".into()))
        });
    }

    /// SIGTERM: exit 0, after the 5 s lameduck when the Corefile sets one.
    fn stop_gracefully(mut self) {
        send_signal(self.server.child.id(), "TERM");
        let started = Instant::now();
        let mut status = None;
        while started.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(s)) = self.server.child.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status =
            status.unwrap_or_else(|| panic!("no exit 15 s after SIGTERM:\n{}", self.log()));
        assert_eq!(status.code(), Some(0), "{}", self.log());
        assert!(
            !self.lameduck || started.elapsed() >= Duration::from_secs(4),
            "served the lameduck period: {:?}",
            started.elapsed()
        );
    }
}

/// (status, body) of `GET path` on `port` of the loopback of `ns`.
fn loopback_get(ns: &NetNs, port: u16, path: &'static str) -> Option<(u16, String)> {
    ns.run(move || http_get(SocketAddr::from(([127, 0, 0, 1], port)), path))
}

fn ok(answers: &[&str]) -> Option<(ResponseCode, Vec<String>)> {
    Some((
        ResponseCode::NoError,
        answers.iter().map(ToString::to_string).collect(),
    ))
}

/// What every stock Corefile serves.
fn common_checks(stock: &Stock) {
    assert_eq!(stock.get(8080, "/health"), Some((200, "OK".into())));
    assert_eq!(
        stock.ask("kube-dns.kube-system.svc.cluster.local.", RecordType::A),
        ok(&["10.96.0.10"])
    );
    assert_eq!(
        stock.ask("10.0.96.10.in-addr.arpa.", RecordType::PTR),
        ok(&["kube-dns.kube-system.svc.cluster.local."])
    );
    assert_eq!(
        stock
            .ask("missing.default.svc.cluster.local.", RecordType::A)
            .map(|r| r.0),
        Some(ResponseCode::NXDomain)
    );
    // Outside the cluster zone: through forward to the upstream /etc/resolv.conf names.
    assert_eq!(stock.ask("example.org.", RecordType::A), ok(&["10.9.0.1"]));
    // A reverse name the cluster does not hold falls through to forward.
    assert_eq!(
        stock.ask("1.2.0.192.in-addr.arpa.", RecordType::A),
        ok(&["10.9.0.1"])
    );
    let metrics = stock.get(9153, "/metrics").expect("metrics").1;
    assert!(
        metrics.contains("coredns_dns_requests_total{server=\"dns://:53\",zone=\".\""),
        "{metrics}"
    );
    for plugin in [
        "kubernetes",
        "forward",
        "cache",
        "loop",
        "loadbalance",
        "errors",
    ] {
        assert!(
            metrics.contains(&format!(
                "coredns_plugin_enabled{{server=\"dns://:53\",zone=\".\",view=\"\",name=\"{plugin}\"}} 1"
            )),
            "{plugin} enabled"
        );
    }
}

#[test]
fn kubeadm_current_corefile_starts_and_serves() {
    let mut stock = Stock::start("kubeadm.Corefile");
    stock.wait_ready();
    common_checks(&stock);
    assert_eq!(
        stock.ask("10-1-2-3.default.pod.cluster.local.", RecordType::A),
        ok(&["10.1.2.3"]),
        "pods insecure"
    );
    stock.stop_gracefully();
}

#[test]
fn kubeadm_older_corefile_starts_and_serves() {
    let mut stock = Stock::start("kubeadm-old.Corefile");
    stock.wait_ready();
    common_checks(&stock);
    stock.stop_gracefully();
}

#[test]
fn coredns_deployment_corefile_starts_and_serves() {
    let mut stock = Stock::start("coredns-deployment.Corefile");
    stock.wait_ready();
    common_checks(&stock);
    assert_eq!(
        stock
            .ask("10-1-2-3.default.pod.cluster.local.", RecordType::A)
            .map(|r| r.0),
        Some(ResponseCode::NXDomain),
        "no `pods` line: pod names are disabled"
    );
    stock.stop_gracefully();
}

#[test]
fn minikube_corefile_starts_and_serves() {
    let mut stock = Stock::start("minikube.Corefile");
    stock.wait_ready();
    common_checks(&stock);
    assert_eq!(
        stock.ask("host.minikube.internal.", RecordType::A),
        ok(&["192.168.49.1"])
    );
    // `log` prints the query line as CoreDNS does.
    assert!(
        stock.log().contains("\"A IN host.minikube.internal. udp "),
        "{}",
        stock.log()
    );
    stock.stop_gracefully();
}

#[test]
fn k3s_default_corefile_answers_its_node_hosts() {
    // k3s writes the nodes' names and addresses to /etc/coredns/NodeHosts (a ConfigMap key).
    let _mount_point = EtcMountPoint::ensure("coredns");
    let mut stock = Stock::start_with_etc(
        "wild/k3s.Corefile",
        &[(
            "coredns/NodeHosts",
            "10.77.0.1 k3s-server\n10.77.0.3 k3s-agent-1\n",
        )],
    );
    stock.wait_ready();
    common_checks(&stock);
    assert_eq!(stock.ask("k3s-agent-1.", RecordType::A), ok(&["10.77.0.3"]));
    assert_eq!(
        stock.ask("3.0.77.10.in-addr.arpa.", RecordType::PTR),
        ok(&["k3s-agent-1."])
    );
    assert_eq!(
        stock.ask("10-1-2-3.default.pod.cluster.local.", RecordType::A),
        ok(&["10.1.2.3"]),
        "pods insecure"
    );
    stock.stop_gracefully();
}

fn records(message: &Message) -> Vec<String> {
    message.answers.iter().map(ToString::to_string).collect()
}

#[test]
fn aks_default_corefile_ends_deep_cloudapp_names_at_once() {
    let mut stock = Stock::start("wild/aks.Corefile");
    stock.wait_ready();
    common_checks(&stock);
    assert_eq!(
        stock
            .ask("a.b.c.d.internal.cloudapp.net.", RecordType::A)
            .map(|r| r.0),
        Some(ResponseCode::NXDomain),
        "four labels or more before internal.cloudapp.net: the template's NXDOMAIN"
    );
    assert_eq!(
        stock.ask("vm1.internal.cloudapp.net.", RecordType::A),
        ok(&["10.9.0.1"]),
        "fewer: falls through to forward"
    );
    assert_eq!(
        stock
            .ask("x.reddog.microsoft.com.", RecordType::A)
            .map(|r| r.0),
        Some(ResponseCode::NXDomain)
    );
    stock.stop_gracefully();
}

#[test]
fn openshift_default_corefile_serves_on_5353_with_chaos() {
    let mut stock = Stock::start("wild/openshift.Corefile");
    stock.wait_ready();
    let cluster = stock
        .ask_raw(
            "127.0.0.1",
            5353,
            "kube-dns.kube-system.svc.cluster.local.",
            RecordType::A,
            DNSClass::IN,
        )
        .expect("a reply");
    assert_eq!(
        records(&cluster),
        ["kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10"]
    );
    let outside = stock
        .ask_raw(
            "127.0.0.1",
            5353,
            "example.org.",
            RecordType::A,
            DNSClass::IN,
        )
        .expect("a reply");
    assert_eq!(records(&outside), ["example.org. 60 IN A 10.9.0.1"]);
    let hostname = stock
        .ask_raw(
            "127.0.0.1",
            5353,
            "hostname.bind.",
            RecordType::TXT,
            DNSClass::CH,
        )
        .expect("a reply");
    assert_eq!(hostname.metadata.response_code, ResponseCode::NoError);
    assert_eq!(hostname.answers.len(), 1, "{hostname:?}");
    assert_eq!(hostname.answers[0].dns_class, DNSClass::CH);
    let metrics = stock.get(9153, "/metrics").expect("metrics").1;
    assert!(
        metrics.contains("coredns_plugin_enabled{server=\"dns://:5353\",zone=\"hostname.bind.\",view=\"\",name=\"chaos\"} 1"),
        "{metrics}"
    );
}

#[test]
fn kops_ipv6_default_corefile_synthesizes_aaaa_for_ipv6_clients() {
    let mut stock = Stock::start("wild/kops-ipv6.Corefile");
    stock.wait_ready();
    common_checks(&stock);
    // The upstream has A records only: an IPv6 client gets them inside 64:ff9b::/96 (TTL 60
    // capped to 30 by `cache 30`).
    let aaaa = stock
        .ask_raw("::1", 53, "v4only.example.", RecordType::AAAA, DNSClass::IN)
        .expect("a reply");
    assert_eq!(
        records(&aaaa),
        ["v4only.example. 30 IN AAAA 64:ff9b::a09:1"]
    );
    let from_v4 = stock
        .ask_raw(
            "127.0.0.1",
            53,
            "v4only.example.",
            RecordType::AAAA,
            DNSClass::IN,
        )
        .expect("a reply");
    assert!(
        !records(&from_v4).iter().any(|r| r.contains("64:ff9b")),
        "not for IPv4 clients: {from_v4:?}"
    );
    stock.stop_gracefully();
}

/// The other distribution defaults of `tests/corefiles/wild/` with one server block, each
/// started unmodified (with its `import`s of files that are not there, as on a cluster without
/// custom files): ready, the cluster zone from the API, PTR, NXDOMAIN, an outside name through
/// `forward . /etc/resolv.conf`, the cache and a pod name, on the block's own port.
#[test]
fn every_single_block_distribution_default_starts_and_answers() {
    let ask = |stock: &Stock, port: u16, name: &'static str, qtype: RecordType| {
        stock
            .ask_raw("127.0.0.1", port, name, qtype, DNSClass::IN)
            .map(|m| (m.metadata.response_code, records(&m)))
    };
    let rdata = |answer: Option<(ResponseCode, Vec<String>)>| {
        answer.map(|(rcode, records)| {
            let data: Vec<String> = records
                .iter()
                .filter_map(|r| r.split_whitespace().last().map(str::to_string))
                .collect();
            (rcode, data)
        })
    };
    for (file, port) in [
        ("wild/kube-up-addon.Corefile", 53),
        ("wild/rke2.Corefile", 53),
        ("wild/eks-addon.Corefile", 53),
        ("wild/gardener.Corefile", 8053),
        ("wild/talos.Corefile", 53),
        ("wild/k0s.Corefile", 53),
        ("wild/microk8s.Corefile", 53),
        ("wild/kops.Corefile", 53),
        ("wild/kubespray-coredns.Corefile", 53),
        ("wild/coredns-helm.Corefile", 53),
        ("wild/oks-outscale.Corefile", 53),
    ] {
        let mut stock = Stock::start(file);
        stock.wait_ready();
        assert_eq!(
            rdata(ask(
                &stock,
                port,
                "kube-dns.kube-system.svc.cluster.local.",
                RecordType::A
            )),
            ok(&["10.96.0.10"]),
            "{file}"
        );
        assert_eq!(
            rdata(ask(
                &stock,
                port,
                "10.0.96.10.in-addr.arpa.",
                RecordType::PTR
            )),
            ok(&["kube-dns.kube-system.svc.cluster.local."]),
            "{file}"
        );
        assert_eq!(
            ask(
                &stock,
                port,
                "missing.default.svc.cluster.local.",
                RecordType::A
            )
            .map(|r| r.0),
            Some(ResponseCode::NXDomain),
            "{file}"
        );
        assert_eq!(
            rdata(ask(
                &stock,
                port,
                "10-1-2-3.default.pod.cluster.local.",
                RecordType::A
            )),
            ok(&["10.1.2.3"]),
            "{file}: pods insecure"
        );
        for _ in 0..2 {
            assert_eq!(
                rdata(ask(&stock, port, "example.org.", RecordType::A)),
                ok(&["10.9.0.1"]),
                "{file}: through forward"
            );
        }
        assert_eq!(
            stock._upstream.asked("example.org."),
            ["udp"],
            "{file}: the second answer came from the cache"
        );
        drop(stock);
    }
}
