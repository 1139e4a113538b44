//! `autopath @kubernetes` through the real binary: a pod of namespace `app` in the manifests
//! at 127.0.0.7 (a loopback address standing for the pod), its queries sent from that address;
//! the same queries from 127.0.0.1 (no pod) get the plain answers.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::fake_upstream::FakeUpstream;
use crate::support::{
    BINARY, TestServer, decode, free_port, http_get, metric, query_bytes, raw_udp_from,
};

const POD_ADDRESS: &str = "127.0.0.7";

const MANIFESTS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: app\nspec:\n  clusterIP: 10.96.1.1\n  ports:\n  - port: 80\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: kubernetes\n  namespace: default\nspec:\n  clusterIP: 10.96.0.1\n  ports:\n  - name: https\n    port: 443\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: client\n  namespace: app\nspec:\n  containers:\n  - name: c\n    image: busybox\nstatus:\n  phase: Running\n  podIP: 127.0.0.7\n  podIPs:\n  - ip: 127.0.0.7\n";

fn ask_from(source: &str, server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let bytes = query_bytes(name, qtype, 77);
    decode(&raw_udp_from(source, server, &bytes, Duration::from_secs(5)).expect("a reply"))
}

fn records(message: &Message) -> Vec<String> {
    message.answers.iter().map(ToString::to_string).collect()
}

/// The first `search` domain of this machine's resolv.conf: `@kubernetes` appends those
/// domains (the node's) after the cluster's, so the walk of an outside name tries it first.
fn first_node_domain() -> Option<String> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let line = text.lines().rev().find(|l| l.starts_with("search"))?;
    line.split_whitespace()
        .nth(1)
        .map(|d| format!("{}.", d.trim_end_matches('.')))
}

#[test]
fn a_pods_search_walk_is_answered_in_one_query() {
    let up = FakeUpstream::start([10, 9, 0, 1]);
    let metrics_port = free_port();
    let corefile = format!(
        ".:{{PORT}} {{\n  bind 127.0.0.1\n  prometheus 127.0.0.1:{metrics_port}\n  kubernetes cluster.local {{\n    manifests manifests\n    pods verified\n  }}\n  autopath @kubernetes\n  cache 30\n  forward . {}\n}}\n",
        up.addr
    );
    let server = TestServer::start(&corefile, &[("cluster.yaml", MANIFESTS)]);

    // An outside name: a CNAME from the asked name to the name that answered, in the
    // question's case, with its address.
    let asked = "Api.Example.com.app.svc.cluster.local.";
    let reply = ask_from(POD_ADDRESS, server.addr, asked, RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.queries[0].name().to_string(), asked);
    let target = format!(
        "Api.Example.com.{}",
        first_node_domain().unwrap_or_default()
    );
    let answers = records(&reply);
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(answers[0].starts_with(&format!("{asked} ")), "{answers:?}");
    assert!(
        answers[0].ends_with(&format!("IN CNAME {target}")),
        "{answers:?}"
    );
    assert!(answers[1].starts_with(&format!("{target} ")), "{answers:?}");
    assert!(answers[1].ends_with(" IN A 10.9.0.1"), "{answers:?}");
    // The answer went through the cache: asked again, the upstream is not.
    let before = up.udp_queries();
    let again = ask_from(POD_ADDRESS, server.addr, asked, RecordType::A);
    assert_eq!(records(&again).len(), 2);
    assert_eq!(up.udp_queries(), before, "served from the cache");

    // A service of another namespace, by its short name.
    assert_eq!(
        records(&ask_from(
            POD_ADDRESS,
            server.addr,
            "kubernetes.default.app.svc.cluster.local.",
            RecordType::A
        )),
        [
            "kubernetes.default.app.svc.cluster.local. 5 IN CNAME kubernetes.default.svc.cluster.local.",
            "kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1"
        ]
    );
    // A service of its own namespace: the plain answer.
    assert_eq!(
        records(&ask_from(
            POD_ADDRESS,
            server.addr,
            "web.app.svc.cluster.local.",
            RecordType::A
        )),
        ["web.app.svc.cluster.local. 5 IN A 10.96.1.1"]
    );

    // An address that is no pod walks by itself, as without autopath.
    let plain = ask_from(
        "127.0.0.1",
        server.addr,
        "other.example.app.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(plain.metadata.response_code, ResponseCode::NXDomain);
    assert!(plain.answers.is_empty());
    assert!(
        up.asked("other.example.").is_empty(),
        "nothing walked for it"
    );

    let (_, body) =
        http_get(SocketAddr::from(([127, 0, 0, 1], metrics_port)), "/metrics").expect("metrics");
    assert_eq!(
        metric(
            &body,
            &format!(
                "coredns_autopath_success_total{{server=\"dns://127.0.0.1:{}\"}}",
                server.addr.port()
            )
        ),
        Some(3.0),
        "the outside name, kubernetes.default and web (the cached answer is not counted again): {body}"
    );
}

#[test]
fn autopath_at_kubernetes_without_pods_verified_names_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("Corefile"),
        ".:1053 {\n  kubernetes cluster.local\n  autopath @kubernetes\n}\n",
    )
    .expect("write");
    let out = Command::new(BINARY)
        .args(["-conf", "Corefile", "-validate"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Corefile:3: autopath: @kubernetes needs the client's pod: add `pods verified` to the kubernetes plugin of this server block"),
        "{said}"
    );
}
