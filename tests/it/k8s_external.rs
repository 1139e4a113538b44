//! `k8s_external` through the real binary: a LoadBalancer Service and one with `externalIPs`
//! from the manifests, answered under the external zone.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::{TestServer, decode, query_bytes, raw_udp};

const SERVICES: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: shop\n  namespace: default\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.30\n  ports:\n  - name: https\n    port: 443\nstatus:\n  loadBalancer:\n    ingress:\n    - ip: 203.0.113.7\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: test\n  namespace: default\nspec:\n  clusterIP: None\n  externalIPs:\n  - 192.168.200.123\n  ports:\n  - port: 80\n";

fn ask(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    decode(&raw_udp(addr, &query_bytes(name, qtype, 8), Duration::from_secs(5)).expect("reply"))
}

fn answers(message: &Message) -> Vec<String> {
    message.answers.iter().map(ToString::to_string).collect()
}

#[test]
fn load_balancer_and_external_ips_under_the_external_zone() {
    let corefile = ".:{PORT} {\n  bind 127.0.0.1\n  kubernetes cluster.local {\n    manifests manifests\n  }\n  k8s_external example.org\n}\n";
    let server = TestServer::start(corefile, &[("services.yaml", SERVICES)]);
    assert_eq!(
        answers(&ask(
            server.addr,
            "shop.default.example.org.",
            RecordType::A
        )),
        ["shop.default.example.org. 5 IN A 203.0.113.7"]
    );
    assert_eq!(
        answers(&ask(
            server.addr,
            "test.default.example.org.",
            RecordType::A
        )),
        ["test.default.example.org. 5 IN A 192.168.200.123"]
    );
    assert_eq!(
        answers(&ask(
            server.addr,
            "_https._tcp.shop.default.example.org.",
            RecordType::SRV
        )),
        ["_https._tcp.shop.default.example.org. 5 IN SRV 0 100 443 shop.default.example.org."]
    );
    let missing = ask(server.addr, "nosuch.default.example.org.", RecordType::A);
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        answers(&ask(
            server.addr,
            "shop.default.svc.cluster.local.",
            RecordType::A
        )),
        ["shop.default.svc.cluster.local. 5 IN A 10.96.0.30"],
        "the cluster name as before"
    );
}

/// A dual-stack headless Service whose IPv6 slice comes first and holds more endpoints than an
/// answer can: an A question under the external zone still gets its IPv4 addresses.
#[test]
fn headless_answers_count_their_limit_in_the_family_asked() {
    let mut manifests = String::from(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: big\n  namespace: default\nspec:\n  clusterIP: None\n  ports:\n  - name: http\n    port: 80\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-v6\n  namespace: default\n  labels:\n    kubernetes.io/service-name: big\naddressType: IPv6\nports:\n- name: http\n  port: 80\nendpoints:\n",
    );
    for i in 1..=100 {
        manifests.push_str(&format!("- addresses: ['fd00::{i:x}']\n"));
    }
    manifests.push_str("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-v4\n  namespace: default\n  labels:\n    kubernetes.io/service-name: big\naddressType: IPv4\nports:\n- name: http\n  port: 80\nendpoints:\n- addresses: ['10.1.0.1']\n- addresses: ['10.1.0.2']\n");
    let corefile = ".:{PORT} {\n  bind 127.0.0.1\n  kubernetes cluster.local {\n    manifests manifests\n  }\n  k8s_external example.org {\n    headless\n  }\n}\n";
    let server = TestServer::start(corefile, &[("big.yaml", &manifests)]);
    let reply = ask(server.addr, "big.default.example.org.", RecordType::A);
    assert_eq!(
        answers(&reply),
        [
            "big.default.example.org. 5 IN A 10.1.0.1",
            "big.default.example.org. 5 IN A 10.1.0.2"
        ]
    );
    assert!(!reply.metadata.truncation);
    // The IPv6 addresses do not fit a 512-octet answer: cut with TC=1, as any answer is.
    let reply = ask(server.addr, "big.default.example.org.", RecordType::AAAA);
    assert!(reply.metadata.truncation);
}

/// A LoadBalancer known by name (AWS's ELB and NLB): a CNAME to it, and its address looked up
/// through the server (here `forward` to an upstream), as CoreDNS answers it.
#[test]
fn a_load_balancer_hostname_is_a_cname_followed_through_the_server() {
    let upstream = crate::support::fake_upstream::FakeUpstream::start([198, 51, 100, 9]);
    let manifests = "apiVersion: v1\nkind: Service\nmetadata:\n  name: shop\n  namespace: default\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.30\n  ports:\n  - name: https\n    port: 443\nstatus:\n  loadBalancer:\n    ingress:\n    - hostname: a1b2.elb.us-east-1.amazonaws.com\n";
    let corefile = format!(
        ".:{{PORT}} {{\n  bind 127.0.0.1\n  kubernetes cluster.local {{\n    manifests manifests\n  }}\n  k8s_external example.org\n  forward . {}\n}}\n",
        upstream.addr
    );
    let server = TestServer::start(&corefile, &[("services.yaml", manifests)]);
    let reply = ask(server.addr, "shop.default.example.org.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        answers(&reply),
        [
            "shop.default.example.org. 5 IN CNAME a1b2.elb.us-east-1.amazonaws.com.",
            "a1b2.elb.us-east-1.amazonaws.com. 60 IN A 198.51.100.9"
        ]
    );
    assert_eq!(upstream.asked("a1b2.elb.us-east-1.amazonaws.com."), ["udp"]);
    // Any other type: the CNAME alone.
    let reply = ask(server.addr, "shop.default.example.org.", RecordType::TXT);
    assert_eq!(
        answers(&reply),
        ["shop.default.example.org. 5 IN CNAME a1b2.elb.us-east-1.amazonaws.com."]
    );
}
