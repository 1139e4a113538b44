//! The lab: one Kubernetes node built out of network namespaces, as a CNI builds it.
//!
//! ```text
//!  pod-a 192.168.0.10 ─┐ br0 192.168.0.254                       ┌─ dns: clusterdns on 10.96.0.10
//!                      ├─────────── node (routes, forwards) ─────┤
//!  pod-b 192.168.1.1  ─┤ br1 192.168.1.254                       └─ upstream: knot on 10.255.1.2
//!  pod-c 192.168.1.10 ─┘
//! ```
//!
//! Each pod's eth0 is one end of a veth whose other end is on its rack's bridge in the node
//! namespace; the node routes between the two per-rack pools and to the DNS and upstream
//! namespaces. The DNS namespace holds only the Service address 10.96.0.10 (kube-proxy's DNAT
//! made local), so every reply leaves from it. Each pod gets the kubelet's `resolv.conf` and
//! `hosts` through `/etc/netns/POD/`. Nothing links any of it to the machine's own network.

use std::process::{Child, Output, Stdio};

use crate::support::http_get;
use crate::support::netns::{NetNs, NsServer, run};

/// The cluster DNS Service address.
pub const DNS_IP: &str = "10.96.0.10";
/// The upstream resolver's address.
pub const UPSTREAM_IP: &str = "10.255.1.2";
/// The address the upstream gives `outside.example`.
pub const OUTSIDE_IP: &str = "203.0.113.7";
/// The ClusterIP of the `frontend` Service.
pub const FRONTEND_IP: &str = "10.96.120.15";

/// A pod of the lab.
pub struct Pod {
    /// Its name (and `hostname`).
    pub name: &'static str,
    /// Its address.
    pub ip: &'static str,
    /// Its network namespace.
    pub ns: NetNs,
}

/// Where each pod sits: (name, address, rack bridge).
const PODS: [(&str, &str, &str); 3] = [
    ("frontend-7d4b9-abcde", "192.168.0.10", "br0"),
    ("web-0", "192.168.1.1", "br1"),
    ("frontend-7d4b9-fghij", "192.168.1.10", "br1"),
];

/// The running lab. Dropping it stops the servers and removes every namespace and file.
pub struct Lab {
    clusterdns: NsServer,
    knot: Child,
    /// The pods: A (frontend, rack 0), B (`web-0` of the StatefulSet, rack 1), C (frontend,
    /// rack 1).
    pub pods: Vec<Pod>,
    /// The namespace clusterdns runs in.
    pub dns: NetNs,
    _upstream: NetNs,
    _node: NetNs,
    _knot_dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.knot.kill();
        let _ = self.knot.wait();
    }
}

fn manifests(pods: &[Pod]) -> String {
    let pod = |i: usize| &pods[i];
    let mut text = String::from(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n---\n\
apiVersion: v1\nkind: Service\nmetadata: {name: kubernetes, namespace: default}\nspec: {clusterIP: 10.96.0.1, ports: [{name: https, port: 443, protocol: TCP}]}\n---\n\
apiVersion: v1\nkind: Service\nmetadata: {name: kube-dns, namespace: kube-system}\nspec: {clusterIP: 10.96.0.10, selector: {k8s-app: kube-dns}, ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}, {name: metrics, port: 9153, protocol: TCP}]}\n---\n\
apiVersion: v1\nkind: Service\nmetadata: {name: docs, namespace: default}\nspec: {type: ExternalName, externalName: outside.example}\n---\n",
    );
    text.push_str(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: frontend, namespace: default}}\nspec: {{clusterIP: {FRONTEND_IP}, selector: {{app: frontend}}, ports: [{{name: http, port: 80, protocol: TCP}}]}}\n---\n\
apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: frontend-x1, namespace: default, labels: {{kubernetes.io/service-name: frontend}}}}\naddressType: IPv4\nports: [{{name: http, port: 8080, protocol: TCP}}]\nendpoints:\n\
- addresses: [{}]\n  conditions: {{ready: true}}\n  targetRef: {{kind: Pod, name: {}, namespace: default}}\n\
- addresses: [{}]\n  conditions: {{ready: true}}\n  targetRef: {{kind: Pod, name: {}, namespace: default}}\n---\n",
        pod(0).ip, pod(0).name, pod(2).ip, pod(2).name
    ));
    text.push_str(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\nspec: {{clusterIP: None, selector: {{app: web}}, ports: [{{name: http, port: 80, protocol: TCP}}]}}\n---\n\
apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: web-x1, namespace: default, labels: {{kubernetes.io/service-name: web}}}}\naddressType: IPv4\nports: [{{name: http, port: 80, protocol: TCP}}]\nendpoints:\n\
- addresses: [{}]\n  hostname: web-0\n  conditions: {{ready: true}}\n  targetRef: {{kind: Pod, name: web-0, namespace: default}}\n---\n",
        pod(1).ip
    ));
    for p in pods {
        text.push_str(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {}, namespace: default}}\nspec: {{containers: [{{name: app, image: app}}]}}\nstatus: {{phase: Running, podIP: {}, podIPs: [{{ip: {}}}]}}\n---\n",
            p.name, p.ip, p.ip
        ));
    }
    text
}

const COREFILE: &str = ".:53 {
    errors
    log
    ready 127.0.0.1:8181
    prometheus 127.0.0.1:9153
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        manifests manifests
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
    loop
    loadbalance
}
";

fn knot_files(dir: &std::path::Path) {
    std::fs::write(
        dir.join("knot.conf"),
        format!(
            "server:\n    listen: {UPSTREAM_IP}@53\n    rundir: \"{d}\"\ndatabase:\n    storage: \"{d}\"\nlog:\n  - target: stderr\n    any: error\nzone:\n  - domain: .\n    file: \"{d}/root.zone\"\n",
            d = dir.display()
        ),
    )
    .expect("knot.conf");
    std::fs::write(
        dir.join("root.zone"),
        format!(
            "$ORIGIN .\n@ 3600 IN SOA ns.upstream.test. hostmaster.upstream.test. 1 3600 600 86400 60\n@ 3600 IN NS ns.upstream.test.\nns.upstream.test. 300 IN A {UPSTREAM_IP}\noutside.example. 300 IN A {OUTSIDE_IP}\n"
        ),
    )
    .expect("root.zone");
}

/// [`COREFILE`] with `autopath @kubernetes` (and the `pods verified` it needs).
pub fn autopath_corefile() -> String {
    COREFILE
        .replace("pods insecure", "pods verified")
        .replace("    forward .", "    autopath @kubernetes\n    forward .")
}

impl Lab {
    /// Build the node, start knot and clusterdns, and wait until clusterdns is ready.
    pub fn start() -> Lab {
        Lab::start_with(COREFILE)
    }

    /// [`Lab::start`] with clusterdns on `corefile`.
    pub fn start_with(corefile: &str) -> Lab {
        crate::support::netns::remove_stale();
        let node = NetNs::create("node");
        let dns = NetNs::create("dns");
        let upstream = NetNs::create("up");
        let pods: Vec<Pod> = PODS
            .iter()
            .map(|(name, ip, _)| Pod {
                name,
                ip,
                ns: NetNs::create("pod"),
            })
            .collect();
        run(node
            .command("sysctl")
            .args(["-qw", "net.ipv4.ip_forward=1"]));
        for (bridge, gateway) in [("br0", "192.168.0.254/24"), ("br1", "192.168.1.254/24")] {
            node.ip(&format!("link add {bridge} type bridge"));
            node.ip(&format!("addr add {gateway} dev {bridge}"));
            node.ip(&format!("link set {bridge} up"));
        }
        for (i, (pod, (_, _, bridge))) in pods.iter().zip(PODS).enumerate() {
            let end = format!("vpod{i}");
            node.attach(&pod.ns, &end);
            node.ip(&format!("link set {end} master {bridge}"));
            pod.ns.ip(&format!("addr add {}/24 dev eth0", pod.ip));
            let gateway = if bridge == "br0" {
                "192.168.0.254"
            } else {
                "192.168.1.254"
            };
            pod.ns.ip(&format!("route add default via {gateway}"));
            // What the kubelet writes into every pod with the default dnsPolicy.
            pod.ns.write_etc(
                "resolv.conf",
                &format!("nameserver {DNS_IP}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"),
            );
            pod.ns.write_etc(
                "hosts",
                &format!(
                    "127.0.0.1\tlocalhost\n::1\tlocalhost\n{}\t{}\n",
                    pod.ip, pod.name
                ),
            );
        }
        // The DNS namespace holds only the Service address; the upstream a /30.
        node.attach(&dns, "vdns");
        dns.ip(&format!("addr add {DNS_IP}/32 dev eth0"));
        node.ip("addr add 10.255.0.1/32 dev vdns");
        node.ip(&format!("route add {DNS_IP}/32 dev vdns"));
        dns.ip("route add 10.255.0.1/32 dev eth0");
        dns.ip("route add default via 10.255.0.1");
        node.attach(&upstream, "vup");
        upstream.ip(&format!("addr add {UPSTREAM_IP}/30 dev eth0"));
        node.ip("addr add 10.255.1.1/30 dev vup");
        upstream.ip("route add default via 10.255.1.1");

        let dir = tempfile::tempdir().expect("tempdir");
        knot_files(dir.path());
        let knot = upstream
            .command("knotd")
            .args(["-c", &dir.path().join("knot.conf").display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("knot.log")).expect("knot log"),
            ))
            .spawn()
            .expect("knotd (apt-get install knot)");
        dns.write_etc("resolv.conf", &format!("nameserver {UPSTREAM_IP}\n"));
        let clusterdns = dns.start_clusterdns(
            corefile,
            &[("manifests/cluster.yaml", &manifests(&pods))],
            &[],
        );
        let mut lab = Lab {
            clusterdns,
            knot,
            pods,
            dns,
            _upstream: upstream,
            _node: node,
            _knot_dir: dir,
        };
        lab.wait_upstream();
        lab.wait_ready();
        lab
    }

    /// Wait until knot answers the outside name: a lookup that clusterdns forwards before knot
    /// listens would fail and be retried by the client, which changes the counts under test.
    fn wait_upstream(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.knot.try_wait() {
                panic!("knotd exited with {status}");
            }
            let answer = self
                .dns
                .command("dig")
                .args([&format!("@{UPSTREAM_IP}"), "+short", "+time=1", "+tries=1"])
                .arg("outside.example")
                .output()
                .expect("dig (apt-get install bind9-dnsutils)");
            if String::from_utf8_lossy(&answer.stdout).trim() == OUTSIDE_IP {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "knot did not answer within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn wait_ready(&mut self) {
        let dns = &self.dns;
        self.clusterdns.wait_until("clusterdns ready", || {
            dns.run(|| http_get("127.0.0.1:8181".parse().expect("addr"), "/ready"))
                .is_some_and(|(status, _)| status == 200)
        });
    }

    /// The names of every namespace the lab made.
    pub fn namespace_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pods.iter().map(|p| p.ns.name.clone()).collect();
        names.extend([&self.dns, &self._upstream, &self._node].map(|ns| ns.name.clone()));
        names
    }

    /// What clusterdns logged.
    pub fn log(&self) -> String {
        self.clusterdns.log()
    }

    /// The queries clusterdns has received so far (the sum of `coredns_dns_requests_total`).
    pub fn queries_received(&self) -> u64 {
        let body = self
            .dns
            .run(|| http_get("127.0.0.1:9153".parse().expect("addr"), "/metrics"))
            .map(|(_, body)| body)
            .unwrap_or_default();
        body.lines()
            .filter(|l| l.starts_with("coredns_dns_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Run `program args` inside `pod` (with the pod's resolv.conf and hosts).
    pub fn exec(&self, pod: &Pod, program: &str, args: &[&str]) -> Output {
        pod.ns
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }
}
