//! The cluster zone through the real binary and hickory's client, over UDP and TCP, served from
//! the demo cluster in `deploy/demo/`.

use crate::support::{TestServer, Via, ask};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

fn demo_manifests() -> Vec<(String, String)> {
    let dir = crate::support::repo_path("deploy/demo");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("deploy/demo")
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).expect("read manifest"),
            )
        })
        .collect();
    files.sort();
    files
}

/// An ExternalName pointing back into the cluster zone.
const ALIAS: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: alias, namespace: default}\nspec: {type: ExternalName, externalName: frontend.default.svc.cluster.local}\n";

fn demo_server() -> TestServer {
    let mut files = demo_manifests();
    files.push(("alias.yaml".into(), ALIAS.into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    TestServer::start(
        &crate::support::cluster_corefile("pods insecure\n    fallthrough in-addr.arpa ip6.arpa"),
        &refs,
    )
}

fn answers(message: &Message) -> Vec<String> {
    let mut v: Vec<String> = message.answers.iter().map(|r| r.data.to_string()).collect();
    v.sort();
    v
}

fn assert_negative(message: &Message, rcode: ResponseCode) {
    assert_eq!(message.metadata.response_code, rcode, "{message}");
    assert!(message.answers.is_empty(), "{message}");
    assert!(message.metadata.authoritative, "AA: {message}");
    assert_eq!(message.authorities.len(), 1, "{message}");
    assert_eq!(message.authorities[0].record_type(), RecordType::SOA);
}

#[tokio::test]
async fn cluster_ip_service_answers_over_udp_and_tcp() {
    let server = demo_server();
    for via in [Via::Udp, Via::Tcp] {
        let m = ask(
            server.addr,
            via,
            "frontend.default.svc.cluster.local.",
            RecordType::A,
        )
        .await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert_eq!(answers(&m), vec!["10.96.120.15"], "{via:?}");
        assert_eq!(m.answers[0].ttl, 5);
    }
}

#[tokio::test]
async fn headless_service_answers_only_ready_endpoints_and_srv_carries_glue() {
    let server = demo_server();
    let a = ask(
        server.addr,
        Via::Udp,
        "web.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(answers(&a), vec!["192.168.0.20", "192.168.1.20"]);
    let srv = ask(
        server.addr,
        Via::Udp,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert_eq!(
        answers(&srv),
        vec![
            "0 50 80 web-0.web.default.svc.cluster.local.",
            "0 50 80 web-1.web.default.svc.cluster.local."
        ]
    );
    let glue: Vec<String> = srv
        .additionals
        .iter()
        .map(|r| format!("{} {}", r.name, r.data))
        .collect();
    assert!(
        glue.contains(&"web-0.web.default.svc.cluster.local. 192.168.0.20".to_string()),
        "{glue:?}"
    );
    let host = ask(
        server.addr,
        Via::Tcp,
        "web-1.web.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(answers(&host), vec!["192.168.1.20"]);
}

#[tokio::test]
async fn not_ready_endpoints_are_never_handed_out() {
    let server = demo_server();
    let m = ask(
        server.addr,
        Via::Udp,
        "192-168-1-11.frontend.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_negative(&m, ResponseCode::NXDomain);
    let ptr = ask(
        server.addr,
        Via::Udp,
        "10.0.168.192.in-addr.arpa.",
        RecordType::PTR,
    )
    .await;
    assert_eq!(
        answers(&ptr),
        vec!["192-168-0-10.frontend.default.svc.cluster.local."]
    );
}

#[tokio::test]
async fn ptr_answers_for_service_and_endpoint_addresses() {
    let server = demo_server();
    let svc = ask(
        server.addr,
        Via::Udp,
        "10.0.96.10.in-addr.arpa.",
        RecordType::PTR,
    )
    .await;
    assert_eq!(
        answers(&svc),
        vec!["kube-dns.kube-system.svc.cluster.local."]
    );
    let ep = ask(
        server.addr,
        Via::Tcp,
        "20.0.168.192.in-addr.arpa.",
        RecordType::PTR,
    )
    .await;
    assert_eq!(answers(&ep), vec!["web-0.web.default.svc.cluster.local."]);
    let unknown = ask(
        server.addr,
        Via::Udp,
        "1.2.3.4.in-addr.arpa.",
        RecordType::PTR,
    )
    .await;
    assert_negative(&unknown, ResponseCode::NXDomain);
}

#[tokio::test]
async fn external_name_is_a_cname() {
    let server = demo_server();
    let m = ask(
        server.addr,
        Via::Udp,
        "docs.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
    match &m.answers[0].data {
        RData::CNAME(target) => assert_eq!(target.0.to_ascii(), "kubernetes.io."),
        other => panic!("expected a CNAME, got {other:?}"),
    }
}

#[tokio::test]
async fn pod_names_answer_their_dashed_ip() {
    let server = demo_server();
    let m = ask(
        server.addr,
        Via::Udp,
        "192-168-1-1.default.pod.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(answers(&m), vec!["192.168.1.1"]);
    let missing_ns = ask(
        server.addr,
        Via::Udp,
        "192-168-1-1.nowhere.pod.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_negative(&missing_ns, ResponseCode::NXDomain);
}

#[tokio::test]
async fn nxdomain_and_nodata_carry_exactly_one_soa() {
    let server = demo_server();
    let nx = ask(
        server.addr,
        Via::Udp,
        "missing.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_negative(&nx, ResponseCode::NXDomain);
    let nodata = ask(
        server.addr,
        Via::Tcp,
        "frontend.default.svc.cluster.local.",
        RecordType::AAAA,
    )
    .await;
    assert_negative(&nodata, ResponseCode::NoError);
    match &nodata.authorities[0].data {
        RData::SOA(soa) => {
            assert_eq!(soa.mname.to_ascii(), "ns.dns.cluster.local.");
            assert_eq!(soa.minimum, 5);
        }
        other => panic!("expected SOA, got {other:?}"),
    }
}

#[tokio::test]
async fn dns_version_soa_and_ns_at_the_apex() {
    let server = demo_server();
    let txt = ask(
        server.addr,
        Via::Udp,
        "dns-version.cluster.local.",
        RecordType::TXT,
    )
    .await;
    assert_eq!(answers(&txt), vec!["1.1.0"]);
    assert_eq!(txt.answers[0].ttl, 28800);
    let soa = ask(server.addr, Via::Udp, "cluster.local.", RecordType::SOA).await;
    assert_eq!(soa.answers.len(), 1);
    let ns = ask(server.addr, Via::Udp, "cluster.local.", RecordType::NS).await;
    assert_eq!(ns.answers.len(), 1);
}

#[tokio::test]
async fn answers_keep_the_question_case() {
    let server = demo_server();
    let m = ask(
        server.addr,
        Via::Udp,
        "FrontEnd.Default.SVC.Cluster.Local.",
        RecordType::A,
    )
    .await;
    assert_eq!(
        m.answers[0].name.to_ascii(),
        "FrontEnd.Default.SVC.Cluster.Local."
    );
    assert_eq!(
        m.queries[0].name().to_ascii(),
        "FrontEnd.Default.SVC.Cluster.Local."
    );
}

#[tokio::test]
async fn names_no_block_serves_are_refused() {
    let server = demo_server();
    let m = ask(server.addr, Via::Udp, "example.org.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn zone_transfer_is_refused_over_tcp() {
    let server = demo_server();
    let mut stream = crate::support::tcp_connect(server.addr);
    crate::support::tcp_send(
        &mut stream,
        &crate::support::query_bytes("cluster.local.", RecordType::AXFR, 7),
    );
    let reply = crate::support::decode(&crate::support::tcp_receive(&mut stream).expect("a reply"));
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert!(reply.answers.is_empty());
}

#[tokio::test]
async fn external_name_into_the_cluster_zone_is_chased_to_its_address() {
    let server = demo_server();
    let m = ask(
        server.addr,
        Via::Udp,
        "alias.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let got: Vec<String> = m
        .answers
        .iter()
        .map(|r| format!("{} {}", r.record_type(), r.data))
        .collect();
    assert_eq!(
        got,
        vec![
            "CNAME frontend.default.svc.cluster.local.",
            "A 10.96.120.15"
        ]
    );
}

/// A headless Service with `count` ready endpoints, no hostnames, one port.
fn big_headless_manifest(count: u32) -> String {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: default}\nspec: {clusterIP: None, ports: [{name: http, port: 80, protocol: TCP}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-1\n  namespace: default\n  labels: {kubernetes.io/service-name: big}\naddressType: IPv4\nports:\n- {name: http, port: 80, protocol: TCP}\nendpoints:\n",
    );
    for i in 0..count {
        yaml.push_str(&format!(
            "- addresses: [10.7.{}.{}]\n  conditions: {{ready: true}}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    yaml
}

#[tokio::test]
async fn a_large_headless_answer_is_cut_with_tc_over_udp_and_whole_over_tcp() {
    let big = big_headless_manifest(300);
    let server = TestServer::start(
        &crate::support::cluster_corefile(""),
        &[("big.yaml", big.as_str())],
    );
    for (name, qtype) in [
        ("big.default.svc.cluster.local.", RecordType::A),
        ("_http._tcp.big.default.svc.cluster.local.", RecordType::SRV),
    ] {
        // No EDNS: a 512-octet limit, far below 300 records.
        let reply = crate::support::raw_udp(
            server.addr,
            &crate::support::query_bytes(name, qtype, 3),
            std::time::Duration::from_secs(2),
        )
        .expect("a UDP reply");
        let reply = crate::support::decode(&reply);
        assert!(reply.metadata.truncation, "TC=1 for {name}: {reply}");
        assert!(reply.answers.is_empty(), "no partial RRset: {reply}");
        let whole = ask(server.addr, Via::Tcp, name, qtype).await;
        assert!(!whole.metadata.truncation, "{name} over TCP");
        assert_eq!(whole.answers.len(), 300, "{name} over TCP");
        if qtype == RecordType::SRV {
            assert_eq!(whole.additionals.len(), 300, "one glue record per target");
        }
    }
}

#[tokio::test]
async fn an_answer_too_big_for_tcp_is_cut_at_an_rrset_boundary() {
    // SRV records of 2,000 or 10,000 endpoints (with as many glue records) cannot fit 65,535
    // octets: the one RRset is left out whole with TC=1 (RFC 2181 §9), never cut in the middle.
    // 2,000 are few enough to be built whole; 10,000 are built only up to what could fit.
    for count in [2_000, 10_000] {
        let big = big_headless_manifest(count);
        let server = TestServer::start(
            &crate::support::cluster_corefile(""),
            &[("big.yaml", big.as_str())],
        );
        let name = "_http._tcp.big.default.svc.cluster.local.";
        let reply = ask(server.addr, Via::Tcp, name, RecordType::SRV).await;
        assert!(reply.metadata.truncation, "TC=1 for {count} endpoints");
        assert!(
            reply.answers.is_empty() && reply.additionals.is_empty(),
            "{count} endpoints: {} SRV and {} glue records, a partial RRset",
            reply.answers.len(),
            reply.additionals.len()
        );
    }
}

/// The answer section as `owner TYPE data` lines, in order.
fn chain_of(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

#[tokio::test]
async fn external_name_loops_give_each_cname_once_then_servfail() {
    let chains = crate::support::external_name_chains(8);
    let server = TestServer::start(
        &crate::support::cluster_corefile(""),
        &[("chains.yaml", chains.as_str())],
    );
    let svc = |name: &str| format!("{name}.default.svc.cluster.local.");
    for via in [Via::Udp, Via::Tcp] {
        let m = ask(server.addr, via, &svc("self"), RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{m}");
        assert_eq!(
            chain_of(&m),
            vec![format!("{} CNAME {}", svc("self"), svc("self"))]
        );
        let m = ask(server.addr, via, &svc("ping"), RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{m}");
        assert_eq!(
            chain_of(&m),
            vec![
                format!("{} CNAME {}", svc("ping"), svc("pong")),
                format!("{} CNAME {}", svc("pong"), svc("ping")),
            ]
        );
    }
}

#[tokio::test]
async fn an_external_name_chain_within_the_limit_is_answered_whole() {
    let chains = crate::support::external_name_chains(8);
    let server = TestServer::start(
        &crate::support::cluster_corefile(""),
        &[("chains.yaml", chains.as_str())],
    );
    let svc = |name: &str| format!("{name}.default.svc.cluster.local.");
    let m = ask(server.addr, Via::Udp, &svc("hop-1"), RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m}");
    let mut expected: Vec<String> = (1..8)
        .map(|hop| {
            format!(
                "{} CNAME {}",
                svc(&format!("hop-{hop}")),
                svc(&format!("hop-{}", hop + 1))
            )
        })
        .collect();
    expected.push(format!("{} CNAME {}", svc("hop-8"), svc("end")));
    expected.push(format!("{} A 10.96.7.7", svc("end")));
    assert_eq!(chain_of(&m), expected, "eight CNAMEs, then the address");
}
