//! `hosts` (inline entries, a file re-read on change, PTR, fallthrough), several server blocks
//! as stub domains, and the kubernetes plugin falling through to `forward` for reverse names.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::fake_upstream::{Behaviour, FakeUpstream};
use crate::support::{TestServer, decode, query_bytes, raw_udp, wait_for};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

fn ask(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    decode(&raw_udp(addr, &query_bytes(name, qtype, 3), Duration::from_secs(5)).expect("a reply"))
}

fn data(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn inline_entries_answer_a_and_ptr_and_the_rest_falls_through() {
    let up = FakeUpstream::start([192, 0, 2, 9]);
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  hosts /nonexistent/hosts {{\n    192.168.49.1 host.minikube.internal\n    ttl 60\n    fallthrough\n  }}\n  forward . {}\n}}\n",
            up.addr
        ),
        &[],
    );
    let a = ask(server.addr, "host.minikube.internal.", RecordType::A);
    assert_eq!(data(&a), vec!["192.168.49.1"]);
    assert_eq!(a.answers[0].ttl, 60);
    let aaaa = ask(server.addr, "host.minikube.internal.", RecordType::AAAA);
    assert_eq!(
        (aaaa.metadata.response_code, aaaa.answers.len()),
        (ResponseCode::NoError, 0)
    );
    let ptr = ask(server.addr, "1.49.168.192.in-addr.arpa.", RecordType::PTR);
    assert_eq!(data(&ptr), vec!["host.minikube.internal."]);
    assert_eq!(up.udp_queries(), 0);
    let other = ask(server.addr, "www.example.org.", RecordType::A);
    assert_eq!(data(&other), vec!["192.0.2.9"], "fell through to forward");
}

#[test]
fn without_fallthrough_unknown_names_are_nxdomain() {
    let server = TestServer::start(
        ".:{PORT} {\n  bind 127.0.0.1\n  hosts /nonexistent/hosts {\n    10.0.0.1 a.test\n    no_reverse\n  }\n}\n",
        &[],
    );
    assert_eq!(
        ask(server.addr, "b.test.", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(server.addr, "1.0.0.10.in-addr.arpa.", RecordType::PTR)
            .metadata
            .response_code,
        ResponseCode::NXDomain,
        "no_reverse"
    );
}

#[test]
fn the_hosts_file_is_read_again_when_it_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hosts");
    std::fs::write(&file, "10.0.0.1 app.test\n").expect("write");
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  hosts {} {{\n    reload 100ms\n  }}\n}}\n",
            file.display()
        ),
        &[],
    );
    assert_eq!(
        data(&ask(server.addr, "app.test.", RecordType::A)),
        vec!["10.0.0.1"]
    );
    std::fs::write(&file, "10.0.0.2 app.test\n10.0.0.3 new.test\n").expect("write");
    wait_for(Duration::from_secs(5), "the new address", || {
        data(&ask(server.addr, "app.test.", RecordType::A)) == vec!["10.0.0.2"]
    });
    assert_eq!(
        data(&ask(server.addr, "new.test.", RecordType::A)),
        vec!["10.0.0.3"]
    );
}

#[test]
fn a_stub_domain_block_sends_its_names_to_its_own_upstream() {
    let corp = FakeUpstream::start([10, 1, 1, 1]);
    let public = FakeUpstream::start([192, 0, 2, 1]);
    let server = TestServer::start(
        &format!(
            "corp.example:{{PORT}} {{\n  bind 127.0.0.1\n  forward . {}\n}}\n.:{{PORT}} {{\n  bind 127.0.0.1\n  forward . {}\n}}\n",
            corp.addr, public.addr
        ),
        &[],
    );
    assert_eq!(
        data(&ask(server.addr, "intranet.corp.example.", RecordType::A)),
        vec!["10.1.1.1"]
    );
    assert_eq!(
        data(&ask(server.addr, "www.example.org.", RecordType::A)),
        vec!["192.0.2.1"]
    );
    assert_eq!((corp.udp_queries(), public.udp_queries()), (1, 1));
}

#[test]
fn kubernetes_falls_through_to_forward_for_reverse_names_it_does_not_know() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let manifests = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.96.0.20}\n";
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  kubernetes cluster.local in-addr.arpa ip6.arpa {{\n    manifests manifests\n    fallthrough in-addr.arpa ip6.arpa\n  }}\n  forward . {}\n}}\n",
            up.addr
        ),
        &[("cluster.yaml", manifests)],
    );
    let known = ask(server.addr, "20.0.96.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(data(&known), vec!["web.default.svc.cluster.local."]);
    assert_eq!(up.udp_queries(), 0);
    ask(server.addr, "8.8.8.8.in-addr.arpa.", RecordType::PTR);
    assert_eq!(up.udp_queries(), 1, "an unknown reverse name went upstream");
    let nx = ask(
        server.addr,
        "nope.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        nx.metadata.response_code,
        ResponseCode::NXDomain,
        "cluster names never go upstream"
    );
    assert_eq!(up.udp_queries(), 1);
    let outside = ask(server.addr, "www.example.org.", RecordType::A);
    assert_eq!(data(&outside), vec!["192.0.2.1"]);
}

#[test]
fn an_external_name_is_chased_through_forward() {
    let up = FakeUpstream::start([192, 0, 2, 77]);
    let manifests = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: docs, namespace: default}\nspec: {type: ExternalName, externalName: docs.example.org}\n";
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  kubernetes cluster.local {{\n    manifests manifests\n  }}\n  forward . {}\n}}\n",
            up.addr
        ),
        &[("cluster.yaml", manifests)],
    );
    let m = ask(
        server.addr,
        "docs.default.svc.cluster.local.",
        RecordType::A,
    );
    let got: Vec<String> = m
        .answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect();
    assert_eq!(
        got,
        vec![
            "docs.default.svc.cluster.local. CNAME docs.example.org.",
            "docs.example.org. A 192.0.2.77"
        ]
    );
    assert_eq!(up.udp_queries(), 1);
}

#[test]
fn an_external_name_whose_target_fails_is_its_cname_and_servfail() {
    let up = FakeUpstream::start([192, 0, 2, 77]);
    up.set(Behaviour::ServFail);
    let manifests = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: docs, namespace: default}\nspec: {type: ExternalName, externalName: docs.example.org}\n";
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  kubernetes cluster.local {{\n    manifests manifests\n  }}\n  forward . {}\n}}\n",
            up.addr
        ),
        &[("cluster.yaml", manifests)],
    );
    // The target's lookup failed: the client must not take the CNAME alone for the answer.
    let m = ask(
        server.addr,
        "docs.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{m}");
    assert_eq!(data(&m), vec!["docs.example.org."]);
}
