//! `k8s_external` over an index holding a Service with external IPs, one without, and a
//! headless Service with ready endpoints.

use std::path::Path;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use super::*;
use crate::cluster::{
    ClusterIndex, ClusterView, Endpoint, EndpointPort, EndpointSlice, Protocol, ServiceKind,
};
use crate::cluster::one_or_many::OneOrMany;
use crate::config::Corefile;
use crate::plugin::Chain;
use crate::plugin::testing::{NoResolver, Through, answer, request};

fn service(name: &str, kind: ServiceKind, external: &[&str]) -> Service {
    Service {
        name: Arc::from(name),
        namespace: Arc::from("default"),
        kind,
        ports: vec![ServicePort {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port: 80,
        }],
        has_selector: true,
        external: external
            .iter()
            .map(|ip| ip.parse().expect("ip"))
            .collect(),
        external_hostname: None,
    }
}

fn index() -> Arc<ClusterIndex> {
    let index = Arc::new(ClusterIndex::new());
    index.upsert_service(service(
        "web",
        ServiceKind::ClusterIp(vec!["10.96.0.20".parse().expect("ip")]),
        &["192.0.2.10", "2001:db8::10"],
    ));
    index.upsert_service(service(
        "internal",
        ServiceKind::ClusterIp(vec!["10.96.0.21".parse().expect("ip")]),
        &[],
    ));
    index.upsert_service(service("db", ServiceKind::Headless, &[]));
    index.upsert_slice(EndpointSlice {
        name: Arc::from("db-1"),
        namespace: Arc::from("default"),
        service: Arc::from("db"),
        endpoints: vec![Endpoint {
            addresses: OneOrMany::One("10.1.0.5".parse().expect("ip")),
            hostname: Some("db-0".into()),
            pod_name: None,
            ready: true,
        }],
        ports: vec![EndpointPort {
            name: "pg".into(),
            protocol: Protocol::Tcp,
            port: 5432,
        }],
        trigger_time: None,
    });
    index.mark_synced();
    index
}

fn chain(options: &str) -> Chain {
    let core = Corefile::parse(
        "Corefile",
        &format!(".:53 {{\nk8s_external example.org {options}\n}}\n"),
        Path::new("."),
    )
    .expect("syntax");
    let config = setup::config(&core.blocks[0].directives[0], &[Name::root()]).expect("valid");
    let block = Arc::new(BlockShared::default());
    block
        .cluster
        .set(ClusterView {
            index: index(),
            namespaces: Vec::new(),
            filtered_by_labels: false,
            own_addresses: vec!["10.244.0.2".parse().expect("ip")],
            zones: Vec::new(),
        })
        .expect("first set");
    Chain::new(vec![Arc::new(External { config, block }), Arc::new(Through)])
}

fn ask(chain: &Chain, name: &str, qtype: RecordType) -> Answer {
    answer(chain, &request(name, qtype), &NoResolver)
}

fn texts(records: &[Record]) -> Vec<String> {
    records.iter().map(ToString::to_string).collect()
}

#[test]
fn external_addresses_by_family_and_srv() {
    let chain = chain("");
    let a = ask(&chain, "web.default.example.org.", RecordType::A);
    assert_eq!(texts(&a.answers), ["web.default.example.org. 5 IN A 192.0.2.10"]);
    assert!(a.authoritative);
    let aaaa = ask(&chain, "web.default.example.org.", RecordType::AAAA);
    assert_eq!(texts(&aaaa.answers), ["web.default.example.org. 5 IN AAAA 2001:db8::10"]);
    let srv = ask(&chain, "_http._tcp.web.default.example.org.", RecordType::SRV);
    assert_eq!(
        texts(&srv.answers),
        ["_http._tcp.web.default.example.org. 5 IN SRV 0 100 80 web.default.example.org."]
    );
    assert_eq!(srv.additional.len(), 2);
    let mx = ask(&chain, "web.default.example.org.", RecordType::MX);
    assert_eq!(mx.rcode, ResponseCode::NoError);
    assert!(mx.answers.is_empty() && mx.authority.len() == 1, "NODATA with the SOA");
}

#[test]
fn names_without_external_addresses_do_not_exist() {
    let chain = chain("");
    for name in [
        "internal.default.example.org.",
        "nosuch.default.example.org.",
        "db.default.example.org.",
        "a.b.c.d.e.example.org.",
    ] {
        let answer = ask(&chain, name, RecordType::A);
        assert_eq!(answer.rcode, ResponseCode::NXDomain, "{name}");
        assert_eq!(
            texts(&answer.authority),
            ["example.org. 5 IN SOA ns1.dns.example.org. hostmaster.example.org. 12345 14400 3600 604800 5"]
        );
    }
    let namespace = ask(&chain, "default.example.org.", RecordType::A);
    assert_eq!(namespace.rcode, ResponseCode::NoError, "a namespace exists");
    let outside = ask(&chain, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(outside.plugin, "next");
}

#[test]
fn headless_services_and_fallthrough() {
    let chain = chain("{\n  headless\n  fallthrough\n  ttl 30\n}");
    let db = ask(&chain, "db.default.example.org.", RecordType::A);
    assert_eq!(texts(&db.answers), ["db.default.example.org. 30 IN A 10.1.0.5"]);
    let pod = ask(&chain, "db-0.db.default.example.org.", RecordType::A);
    assert_eq!(texts(&pod.answers), ["db-0.db.default.example.org. 30 IN A 10.1.0.5"]);
    let missing = ask(&chain, "nosuch.default.example.org.", RecordType::A);
    assert_eq!(missing.plugin, "next", "fallthrough");
}

#[test]
fn the_apex_has_soa_ns_and_the_name_servers_address() {
    let chain = chain("");
    let soa = ask(&chain, "example.org.", RecordType::SOA);
    assert_eq!(soa.answers.len(), 1);
    let ns = ask(&chain, "example.org.", RecordType::NS);
    assert_eq!(texts(&ns.answers), ["example.org. 5 IN NS ns1.dns.example.org."]);
    assert_eq!(texts(&ns.additional), ["ns1.dns.example.org. 5 IN A 10.244.0.2"]);
    let glue = ask(&chain, "ns1.dns.example.org.", RecordType::A);
    assert_eq!(texts(&glue.answers), ["ns1.dns.example.org. 5 IN A 10.244.0.2"]);
    let other = ask(&chain, "x.dns.example.org.", RecordType::A);
    assert_eq!(other.rcode, ResponseCode::NXDomain);
}
