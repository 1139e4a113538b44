//! The rows of docs/cluster-zone-behaviour.md, each pinned by a test against a real index filled
//! from YAML, through the plugin's `serve` as the server calls it.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::Kubernetes;
use super::setup::{self, KubernetesConfig, PodMode};
use crate::cluster::ClusterIndex;
use crate::cluster::source::manifests::{Loaded, load_text};
use crate::config::Corefile;
use crate::plugin::{Answer, Chain, Next, Plugin, Request, Resolve, Served};

const CLUSTER: &str = r#"
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: default}}
- {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {team: a}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: hidden}}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec:
    clusterIP: 10.0.0.1
    clusterIPs: [10.0.0.1, "fd00::1"]
    ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}, {port: 9000}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-a, namespace: shop, labels: {kubernetes.io/service-name: web}}
  addressType: IPv4
  endpoints:
  - {addresses: [10.1.0.1], conditions: {ready: true}, targetRef: {kind: Pod, name: web-pod-1}}
  - {addresses: [10.1.0.2], conditions: {ready: false}}
  ports: [{name: http, port: 8080}]
- apiVersion: v1
  kind: Service
  metadata: {name: v4only, namespace: shop}
  spec: {clusterIP: 10.0.0.2, ports: [{name: http, port: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: db, namespace: shop}
  spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: db-v4, namespace: shop, labels: {kubernetes.io/service-name: db}}
  addressType: IPv4
  endpoints:
  - {addresses: [10.2.0.1], hostname: db-0}
  - {addresses: [10.2.0.2], hostname: db-1, conditions: {ready: true}}
  - {addresses: [10.2.0.3], hostname: db-2, conditions: {ready: false}}
  - {addresses: [10.2.0.4], targetRef: {kind: Pod, name: db-pod-4}}
  ports: [{name: pg, port: 5432, protocol: TCP}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: db-v6, namespace: shop, labels: {kubernetes.io/service-name: db}}
  addressType: IPv6
  endpoints:
  - {addresses: ["fd00::10"], hostname: db-0}
  - {addresses: ["5678:abcd::"]}
  ports: [{name: pg, port: 5432, protocol: TCP}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: db-dup, namespace: shop, labels: {kubernetes.io/service-name: db}}
  addressType: IPv4
  endpoints:
  - {addresses: [10.2.0.1], hostname: db-0}
  ports: [{name: pg, port: 5432, protocol: TCP}]
- apiVersion: v1
  kind: Service
  metadata: {name: empty, namespace: shop}
  spec: {clusterIP: None}
- apiVersion: v1
  kind: Service
  metadata: {name: lonely, namespace: shop}
  spec: {clusterIP: 10.0.0.3}
- apiVersion: v1
  kind: Service
  metadata: {name: ext, namespace: shop}
  spec: {type: ExternalName, externalName: db.example.org}
- apiVersion: v1
  kind: Service
  metadata: {name: also-web, namespace: default}
  spec: {clusterIP: None}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: also-web-1, namespace: default, labels: {kubernetes.io/service-name: also-web}}
  addressType: IPv4
  endpoints:
  - {addresses: [10.1.0.1]}
- apiVersion: v1
  kind: Service
  metadata: {name: secret, namespace: hidden}
  spec: {clusterIP: 10.0.0.9}
- apiVersion: v1
  kind: Pod
  metadata: {name: p1, namespace: shop}
  status: {phase: Running, podIP: 10.3.0.1}
- apiVersion: v1
  kind: Pod
  metadata: {name: p2, namespace: shop}
  status: {phase: Succeeded, podIP: 10.3.0.2}
"#;

fn index() -> Arc<ClusterIndex> {
    let filter = crate::cluster::source::SourceFilter {
        endpoints: true,
        pods: true,
        pod_names: true,
        ..Default::default()
    };
    let mut loaded = Loaded::default();
    load_text("cluster.yaml", CLUSTER, &filter, &mut loaded);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let index = Arc::new(ClusterIndex::new());
    index.replace_all(loaded.snapshot);
    index.mark_synced();
    index
}

fn config(options: &str) -> KubernetesConfig {
    let text = format!(
        ".:53 {{\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  manifests deploy/demo\n{options}\n }}\n}}\n"
    );
    let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
    setup::config(&core.blocks[0].directives[0], &[Name::root()]).expect("valid options")
}

fn plugin(options: &str) -> Kubernetes {
    Kubernetes::with_index(
        config(options),
        index(),
        vec!["192.0.2.53".parse().expect("ip")],
    )
}

/// A query from 127.0.0.1 (the kit's request, from a loopback client).
fn request(name: &str, qtype: RecordType) -> Request {
    let mut request = crate::plugin::testing::request(name, qtype);
    request.source = SocketAddr::from(([127, 0, 0, 1], 5353));
    request
}

/// Answers A for `db.example.org.` and REFUSED for everything else (as a server with no
/// block for the name would).
struct FakeUpstream;

impl Resolve for FakeUpstream {
    fn resolve(&self, request: &Request) -> Served {
        let mut answer = Answer::rcode(ResponseCode::Refused, "fake");
        if request
            .name
            .to_ascii()
            .eq_ignore_ascii_case("db.example.org.")
        {
            answer.rcode = ResponseCode::NoError;
            if request.qtype == RecordType::A {
                answer.answers.push(Record::from_rdata(
                    request.name.clone(),
                    60,
                    RData::A(A::new(192, 0, 2, 7)),
                ));
            }
        }
        Served::Ready(answer)
    }
}

fn ask_with(p: &Kubernetes, name: &str, qtype: RecordType) -> Answer {
    let chain = Chain::new(vec![Arc::new(Kubernetes::with_index(
        p.config.clone(),
        p.index.clone(),
        p.own_addresses.clone(),
    )) as Arc<dyn Plugin>]);
    match chain.serve(&request(name, qtype), &FakeUpstream) {
        Served::Ready(answer) => answer,
        Served::Pending(_) => panic!("kubernetes answers at once"),
    }
}

fn ask(name: &str, qtype: RecordType) -> Answer {
    ask_with(&plugin("pods insecure"), name, qtype)
}

fn rdata(answer: &Answer) -> Vec<String> {
    answer.answers.iter().map(|r| r.data.to_string()).collect()
}

fn ips(answer: &Answer) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = answer
        .answers
        .iter()
        .filter_map(|r| r.data.ip_addr())
        .collect();
    v.sort();
    v
}

fn assert_negative(answer: &Answer, rcode: ResponseCode) {
    assert_eq!(answer.rcode, rcode, "{answer:?}");
    assert!(answer.answers.is_empty(), "{answer:?}");
    assert!(answer.authoritative);
    assert_eq!(answer.authority.len(), 1, "exactly one SOA: {answer:?}");
    assert_eq!(answer.authority[0].record_type(), RecordType::SOA);
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

#[test]
fn cluster_ip_service_answers_each_cluster_ip_of_the_asked_family() {
    let a = ask("web.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.authoritative);
    assert_eq!(ips(&a), vec![ip("10.0.0.1")]);
    assert_eq!(a.answers[0].ttl, 5);
    let aaaa = ask("web.shop.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(ips(&aaaa), vec![ip("fd00::1")]);
}

#[test]
fn other_family_on_ipv4_only_service_is_nodata_with_soa() {
    assert_negative(
        &ask("v4only.shop.svc.cluster.local.", RecordType::AAAA),
        ResponseCode::NoError,
    );
}

#[test]
fn cluster_ip_service_without_endpoints_answers_unless_ignore_empty_service() {
    assert_eq!(
        ips(&ask("lonely.shop.svc.cluster.local.", RecordType::A)),
        vec![ip("10.0.0.3")]
    );
    let p = plugin("ignore empty_service");
    assert_negative(
        &ask_with(&p, "lonely.shop.svc.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    assert_eq!(
        ips(&ask_with(&p, "web.shop.svc.cluster.local.", RecordType::A)),
        vec![ip("10.0.0.1")]
    );
}

#[test]
fn headless_service_answers_ready_endpoints_once_each() {
    let a = ask("db.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(
        ips(&a),
        vec![ip("10.2.0.1"), ip("10.2.0.2"), ip("10.2.0.4")]
    );
    let aaaa = ask("db.shop.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(ips(&aaaa), vec![ip("5678:abcd::"), ip("fd00::10")]);
}

#[test]
fn headless_service_without_ready_endpoints_is_nxdomain() {
    assert_negative(
        &ask("empty.shop.svc.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    assert_negative(
        &ask("empty.shop.svc.cluster.local.", RecordType::SRV),
        ResponseCode::NXDomain,
    );
}

#[test]
fn endpoint_names_use_hostname_then_dashed_ip() {
    assert_eq!(
        ips(&ask("db-1.db.shop.svc.cluster.local.", RecordType::A)),
        vec![ip("10.2.0.2")]
    );
    // Several addresses with one hostname (two families): one record each.
    assert_eq!(
        ips(&ask("db-0.db.shop.svc.cluster.local.", RecordType::AAAA)),
        vec![ip("fd00::10")]
    );
    assert_eq!(
        ips(&ask("db-0.db.shop.svc.cluster.local.", RecordType::A)),
        vec![ip("10.2.0.1")]
    );
    assert_eq!(
        ips(&ask("10-2-0-4.db.shop.svc.cluster.local.", RecordType::A)),
        vec![ip("10.2.0.4")]
    );
    assert_eq!(
        ips(&ask(
            "5678-abcd--0.db.shop.svc.cluster.local.",
            RecordType::AAAA
        )),
        vec![ip("5678:abcd::")]
    );
    // Not-ready endpoints have no name.
    assert_negative(
        &ask("db-2.db.shop.svc.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    // An existing endpoint asked for the other family is NODATA.
    assert_negative(
        &ask("db-1.db.shop.svc.cluster.local.", RecordType::AAAA),
        ResponseCode::NoError,
    );
}

#[test]
fn endpoint_names_of_cluster_ip_services_work_too() {
    assert_eq!(
        ips(&ask("10-1-0-1.web.shop.svc.cluster.local.", RecordType::A)),
        vec![ip("10.1.0.1")]
    );
}

#[test]
fn endpoint_pod_names_uses_the_pod_name_when_there_is_no_hostname() {
    let p = plugin("endpoint_pod_names");
    assert_eq!(
        ips(&ask_with(
            &p,
            "db-pod-4.db.shop.svc.cluster.local.",
            RecordType::A
        )),
        vec![ip("10.2.0.4")]
    );
    assert_eq!(
        ips(&ask_with(
            &p,
            "db-1.db.shop.svc.cluster.local.",
            RecordType::A
        )),
        vec![ip("10.2.0.2")]
    );
    assert_negative(
        &ask_with(&p, "10-2-0-4.db.shop.svc.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
}

#[test]
fn srv_for_a_named_port_of_a_cluster_ip_service_targets_the_service() {
    let a = ask("_http._tcp.web.shop.svc.cluster.local.", RecordType::SRV);
    assert_eq!(rdata(&a), vec!["0 100 80 web.shop.svc.cluster.local."]);
    let glue: Vec<String> = a.additional.iter().map(|r| r.data.to_string()).collect();
    assert_eq!(glue, vec!["10.0.0.1", "fd00::1"]);
    let udp = ask("_dns._udp.web.shop.svc.cluster.local.", RecordType::SRV);
    assert_eq!(rdata(&udp), vec!["0 100 53 web.shop.svc.cluster.local."]);
}

#[test]
fn srv_port_and_protocol_match_case_insensitively() {
    let a = ask("_HTTP._TCP.web.shop.svc.cluster.local.", RecordType::SRV);
    assert_eq!(a.answers.len(), 1);
    assert_eq!(
        a.answers[0].name.to_ascii(),
        "_HTTP._TCP.web.shop.svc.cluster.local."
    );
}

#[test]
fn srv_for_a_port_or_protocol_that_does_not_exist_is_nxdomain() {
    assert_negative(
        &ask("_ftp._tcp.web.shop.svc.cluster.local.", RecordType::SRV),
        ResponseCode::NXDomain,
    );
    assert_negative(
        &ask("_http._udp.web.shop.svc.cluster.local.", RecordType::SRV),
        ResponseCode::NXDomain,
    );
    // Without underscores it is not a port name at all.
    assert_negative(
        &ask("http.tcp.web.shop.svc.cluster.local.", RecordType::SRV),
        ResponseCode::NXDomain,
    );
}

#[test]
fn a_query_on_an_existing_port_name_is_nodata() {
    assert_negative(
        &ask("_http._tcp.web.shop.svc.cluster.local.", RecordType::A),
        ResponseCode::NoError,
    );
}

#[test]
fn headless_srv_has_one_record_per_ready_endpoint_and_port_with_glue() {
    let a = ask("_pg._tcp.db.shop.svc.cluster.local.", RecordType::SRV);
    let mut targets = rdata(&a);
    targets.sort();
    assert_eq!(
        targets,
        vec![
            "0 25 5432 10-2-0-4.db.shop.svc.cluster.local.",
            "0 25 5432 5678-abcd--0.db.shop.svc.cluster.local.",
            "0 25 5432 db-0.db.shop.svc.cluster.local.",
            "0 25 5432 db-1.db.shop.svc.cluster.local.",
        ]
    );
    let db0_glue: Vec<String> = a
        .additional
        .iter()
        .filter(|r| r.name.to_ascii() == "db-0.db.shop.svc.cluster.local.")
        .map(|r| r.data.to_string())
        .collect();
    assert_eq!(
        db0_glue,
        vec!["10.2.0.1", "fd00::10"],
        "both families, once each"
    );
}

#[test]
fn bare_service_srv_lists_every_port_including_unnamed_ones() {
    let a = ask("web.shop.svc.cluster.local.", RecordType::SRV);
    let mut ports: Vec<u16> = a
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(srv) => Some(srv.port),
            _ => None,
        })
        .collect();
    ports.sort_unstable();
    assert_eq!(ports, vec![53, 80, 9000]);
}

#[test]
fn external_name_is_a_cname_followed_through_the_server() {
    let a = ask("ext.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(rdata(&a), vec!["db.example.org.", "192.0.2.7"]);
    assert_eq!(a.answers[0].record_type(), RecordType::CNAME);
}

#[test]
fn external_name_keeps_its_cname_when_the_target_has_no_data_of_the_type() {
    // Spec §2.5 / RFC 1034 (CoreDNS drops the CNAME here).
    let aaaa = ask("ext.shop.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(rdata(&aaaa), vec!["db.example.org."]);
    let cname = ask("ext.shop.svc.cluster.local.", RecordType::CNAME);
    assert_eq!(rdata(&cname), vec!["db.example.org."]);
}

/// A resolver that answers with `.0`, as another plugin (or the cache) would.
struct Answering(fn(&Request) -> Answer);

impl Resolve for Answering {
    fn resolve(&self, request: &Request) -> Served {
        Served::Ready((self.0)(request))
    }
}

fn ask_through(resolver: &dyn Resolve, name: &str, qtype: RecordType) -> Answer {
    let chain = Chain::new(vec![Arc::new(plugin("")) as Arc<dyn Plugin>]);
    match chain.serve(&request(name, qtype), resolver) {
        Served::Ready(answer) => answer,
        Served::Pending(_) => panic!("kubernetes answers at once"),
    }
}

#[test]
fn a_failed_target_gives_the_cname_and_servfail_and_one_no_block_serves_the_cname_alone() {
    let failed = Answering(|_| Answer::server_failure("forward", "upstream down"));
    let a = ask_through(&failed, "ext.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::ServFail);
    assert_eq!(rdata(&a), vec!["db.example.org."]);
    assert_eq!(a.error.as_deref(), Some("upstream down"));
    let refused = Answering(|_| Answer::rcode(ResponseCode::Refused, "server"));
    let a = ask_through(&refused, "ext.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(rdata(&a), vec!["db.example.org."]);
}

#[test]
fn a_chased_answer_that_comes_back_to_the_name_is_cut_before_it() {
    // As the cache would answer `db.example.org` after a loop through it was asked from there.
    let looping = Answering(|request| {
        let ext = Name::from_ascii("ext.shop.svc.cluster.local.").expect("name");
        let mut answer = Answer::rcode(ResponseCode::ServFail, "cache");
        answer.answers = vec![
            super::answer::cname_record(&request.name, &ext, 5),
            super::answer::cname_record(&ext, &request.name, 5),
        ];
        answer
    });
    let a = ask_through(&looping, "ext.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::ServFail);
    assert_eq!(
        rdata(&a),
        vec!["db.example.org.", "ext.shop.svc.cluster.local."],
        "each CNAME once"
    );
}

/// The chain of `plugin` resolving through itself, as the server's router does.
struct Itself(Chain);

impl Resolve for Itself {
    fn resolve(&self, request: &Request) -> Served {
        self.0.serve(request, self)
    }
}

#[test]
fn external_name_chains_stop_at_a_loop_or_past_eight_cnames() {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: end, namespace: shop}\nspec: {clusterIP: 10.0.0.7}\n",
    );
    let mut external = |name: &str, target: &str| {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{type: ExternalName, externalName: {target}.shop.svc.cluster.local}}\n"
        ));
    };
    external("self", "self");
    external("ping", "pong");
    external("pong", "ping");
    for hop in 1..=9 {
        let next = if hop == 9 { "end".to_string() } else { format!("hop-{}", hop + 1) };
        external(&format!("hop-{hop}"), &next);
    }
    let mut loaded = Loaded::default();
    load_text("chains.yaml", &yaml, &Default::default(), &mut loaded);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let index = Arc::new(ClusterIndex::new());
    index.replace_all(loaded.snapshot);
    index.mark_synced();
    let k = Kubernetes::with_index(config(""), index, Vec::new());
    let resolver = Itself(Chain::new(vec![Arc::new(k) as Arc<dyn Plugin>]));
    let ask = |name: &str| match resolver.resolve(&request(&format!("{name}.shop.svc.cluster.local."), RecordType::A)) {
        Served::Ready(answer) => answer,
        Served::Pending(_) => panic!("ready"),
    };
    let svc = |name: &str| format!("{name}.shop.svc.cluster.local.");
    let a = ask("self");
    assert_eq!((a.rcode, rdata(&a)), (ResponseCode::ServFail, vec![svc("self")]));
    let a = ask("ping");
    assert_eq!((a.rcode, rdata(&a)), (ResponseCode::ServFail, vec![svc("pong"), svc("ping")]));
    // Eight CNAMEs are followed to the address; a ninth is not.
    let a = ask("hop-2");
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(rdata(&a).len(), 9);
    assert_eq!(rdata(&a)[8], "10.0.0.7");
    let a = ask("hop-1");
    assert_eq!(a.rcode, ResponseCode::ServFail);
    assert_eq!(rdata(&a).len(), 9);
    assert_eq!(rdata(&a)[8], svc("end"));
}

#[test]
fn names_below_an_external_name_do_not_exist() {
    assert_negative(
        &ask("x.ext.shop.svc.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    assert_negative(
        &ask("_p._tcp.ext.shop.svc.cluster.local.", RecordType::SRV),
        ResponseCode::NXDomain,
    );
}

#[test]
fn ptr_for_a_cluster_ip_names_its_service() {
    let a = ask("1.0.0.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(rdata(&a), vec!["web.shop.svc.cluster.local."]);
    let v6 = ask(
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
        RecordType::PTR,
    );
    assert_eq!(rdata(&v6), vec!["web.shop.svc.cluster.local."]);
}

#[test]
fn ptr_for_an_endpoint_ip_names_every_service_that_selects_it() {
    let a = ask("1.0.1.10.in-addr.arpa.", RecordType::PTR);
    let mut names = rdata(&a);
    names.sort();
    assert_eq!(
        names,
        vec![
            "10-1-0-1.also-web.default.svc.cluster.local.",
            "10-1-0-1.web.shop.svc.cluster.local."
        ]
    );
    assert_eq!(
        rdata(&ask("2.0.2.10.in-addr.arpa.", RecordType::PTR)),
        vec!["db-1.db.shop.svc.cluster.local."]
    );
}

#[test]
fn ptr_for_a_not_ready_endpoint_or_an_unknown_ip_is_nxdomain_in_the_reverse_zone() {
    let a = ask("3.0.2.10.in-addr.arpa.", RecordType::PTR);
    assert_negative(&a, ResponseCode::NXDomain);
    assert_eq!(a.authority[0].name.to_ascii(), "in-addr.arpa.");
    assert_negative(
        &ask("9.9.9.9.in-addr.arpa.", RecordType::PTR),
        ResponseCode::NXDomain,
    );
}

#[test]
fn pod_names_follow_the_pods_mode() {
    let disabled = plugin("");
    assert_negative(
        &ask_with(&disabled, "10-3-0-1.shop.pod.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    let insecure = plugin("pods insecure");
    assert_eq!(
        ips(&ask_with(
            &insecure,
            "10-9-9-9.shop.pod.cluster.local.",
            RecordType::A
        )),
        vec![ip("10.9.9.9")]
    );
    assert_negative(
        &ask_with(
            &insecure,
            "10-9-9-9.nowhere.pod.cluster.local.",
            RecordType::A,
        ),
        ResponseCode::NXDomain,
    );
    assert_eq!(
        ips(&ask_with(
            &insecure,
            "fd00--5.shop.pod.cluster.local.",
            RecordType::AAAA
        )),
        vec![ip("fd00::5")]
    );
    assert_negative(
        &ask_with(&insecure, "fd00--5.shop.pod.cluster.local.", RecordType::A),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask_with(&insecure, "1-2-3.shop.pod.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    let verified = plugin("pods verified");
    assert_eq!(
        ips(&ask_with(
            &verified,
            "10-3-0-1.shop.pod.cluster.local.",
            RecordType::A
        )),
        vec![ip("10.3.0.1")]
    );
    assert_negative(
        &ask_with(&verified, "10-3-0-2.shop.pod.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    assert_negative(
        &ask_with(
            &verified,
            "10-3-0-1.default.pod.cluster.local.",
            RecordType::A,
        ),
        ResponseCode::NXDomain,
    );
    assert_eq!(verified.config.pods, PodMode::Verified);
}

#[test]
fn dns_version_is_a_txt_with_a_fixed_ttl() {
    let p = plugin("ttl 30");
    let a = ask_with(&p, "dns-version.cluster.local.", RecordType::TXT);
    assert_eq!(rdata(&a), vec!["1.1.0"]);
    assert_eq!(a.answers[0].ttl, 28800);
    // RFC 8020: the name exists, so other types are NODATA (CoreDNS says NXDOMAIN).
    assert_negative(
        &ask("dns-version.cluster.local.", RecordType::A),
        ResponseCode::NoError,
    );
}

#[test]
fn apex_has_soa_and_ns_with_glue() {
    let p = plugin("ttl 600");
    let soa = ask_with(&p, "cluster.local.", RecordType::SOA);
    let text = rdata(&soa)[0].clone();
    assert!(
        text.starts_with("ns.dns.cluster.local. hostmaster.cluster.local. "),
        "{text}"
    );
    assert!(text.ends_with(" 7200 1800 86400 600"), "{text}");
    assert_eq!(soa.answers[0].ttl, 300, "SOA TTL is min(ttl, 300)");
    let ns = ask("cluster.local.", RecordType::NS);
    assert_eq!(rdata(&ns), vec!["ns.dns.cluster.local."]);
    assert_eq!(ns.additional[0].data.to_string(), "192.0.2.53");
    assert_eq!(
        ips(&ask("ns.dns.cluster.local.", RecordType::A)),
        vec![ip("192.0.2.53")]
    );
    assert_negative(&ask("cluster.local.", RecordType::A), ResponseCode::NoError);
}

#[test]
fn ns_names_the_service_whose_endpoints_hold_our_address() {
    let p = Kubernetes::with_index(config(""), index(), vec![ip("10.1.0.1")]);
    let ns = ask_with(&p, "cluster.local.", RecordType::NS);
    let target = rdata(&ns)[0].clone();
    assert_eq!(target, "web.shop.svc.cluster.local.");
    assert_eq!(ns.additional.len(), 2, "its cluster IPs as glue");
}

#[test]
fn empty_non_terminals_are_nodata_only_for_existing_namespaces() {
    assert_negative(
        &ask("svc.cluster.local.", RecordType::A),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask("shop.svc.cluster.local.", RecordType::A),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask("shop.pod.cluster.local.", RecordType::A),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask("nowhere.svc.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
}

#[test]
fn other_types_are_nodata_on_existing_names_and_nxdomain_elsewhere() {
    assert_negative(
        &ask("web.shop.svc.cluster.local.", RecordType::MX),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask("web.shop.svc.cluster.local.", RecordType::TXT),
        ResponseCode::NoError,
    );
    assert_negative(
        &ask("nope.shop.svc.cluster.local.", RecordType::MX),
        ResponseCode::NXDomain,
    );
    assert_negative(
        &ask("web.shop.svc.cluster.local.", RecordType::Unknown(65280)),
        ResponseCode::NoError,
    );
}

#[test]
fn names_outside_the_grammar_are_nxdomain_and_never_panic() {
    for name in [
        "web.shop.other.cluster.local.",
        "a.b.c.web.shop.svc.cluster.local.",
        "*.shop.svc.cluster.local.",
        ".o.o.po.pod.8.cluster.local.",
        "x.cluster.local.",
    ] {
        if let Ok(n) = Name::from_ascii(name) {
            let a = ask(&n.to_ascii(), RecordType::A);
            assert_negative(&a, ResponseCode::NXDomain);
        }
    }
}

#[test]
fn answers_keep_the_question_case() {
    let a = ask("WeB.ShOp.SVC.cLuStEr.LoCaL.", RecordType::A);
    assert_eq!(a.answers[0].name.to_ascii(), "WeB.ShOp.SVC.cLuStEr.LoCaL.");
    let srv = ask("_http._tcp.web.shop.svc.cLuStEr.LoCaL.", RecordType::SRV);
    assert_eq!(rdata(&srv), vec!["0 100 80 web.shop.svc.cLuStEr.LoCaL."]);
    let nx = ask("nope.shop.svc.CLUSTER.local.", RecordType::A);
    assert_eq!(nx.authority[0].name.to_ascii(), "CLUSTER.local.");
}

#[test]
fn namespaces_option_hides_the_others() {
    let p = plugin("namespaces shop");
    assert_negative(
        &ask_with(&p, "also-web.default.svc.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    assert_eq!(
        ips(&ask_with(&p, "web.shop.svc.cluster.local.", RecordType::A)),
        vec![ip("10.0.0.1")]
    );
    assert_negative(
        &ask_with(&p, "9.0.0.10.in-addr.arpa.", RecordType::PTR),
        ResponseCode::NXDomain,
    );
}

#[test]
fn namespace_labels_require_the_namespace_to_be_kept() {
    // The source keeps only matching namespaces; emulate by removing one.
    let p = plugin("namespace_labels team=a");
    p.index.delete_namespace("hidden");
    assert_negative(
        &ask_with(&p, "secret.hidden.svc.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    assert_eq!(
        ips(&ask_with(&p, "web.shop.svc.cluster.local.", RecordType::A)),
        vec![ip("10.0.0.1")]
    );
}

#[test]
fn noendpoints_makes_headless_and_endpoint_names_nxdomain() {
    let p = plugin("noendpoints");
    assert_negative(
        &ask_with(&p, "db.shop.svc.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    assert_negative(
        &ask_with(&p, "db-0.db.shop.svc.cluster.local.", RecordType::A),
        ResponseCode::NXDomain,
    );
    assert_eq!(
        ips(&ask_with(&p, "web.shop.svc.cluster.local.", RecordType::A)),
        vec![ip("10.0.0.1")]
    );
}

#[test]
fn ttl_option_applies_to_records_and_soa_minimum() {
    let p = plugin("ttl 30");
    let a = ask_with(&p, "web.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(a.answers[0].ttl, 30);
    let nx = ask_with(&p, "nope.shop.svc.cluster.local.", RecordType::A);
    assert!(nx.authority[0].data.to_string().ends_with(" 30"));
}

#[test]
fn zone_transfers_are_refused() {
    assert_eq!(
        ask("cluster.local.", RecordType::AXFR).rcode,
        ResponseCode::Refused
    );
    assert_eq!(
        ask("cluster.local.", RecordType::IXFR).rcode,
        ResponseCode::Refused
    );
}

#[test]
fn before_the_first_sync_name_errors_are_servfail_but_data_is_served() {
    let index = Arc::new(ClusterIndex::new());
    let p = Kubernetes::with_index(config(""), index.clone(), Vec::new());
    assert!(!p.ready());
    let nx = ask_with(&p, "web.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(nx.rcode, ResponseCode::ServFail);
    assert_eq!(nx.authority.len(), 1);
    let full = self::index();
    let svc = full.service("web.shop").expect("web");
    index.upsert_service((*svc).clone());
    assert_eq!(
        ips(&ask_with(&p, "web.shop.svc.cluster.local.", RecordType::A)),
        vec![ip("10.0.0.1")]
    );
    index.mark_synced();
    assert!(p.ready());
}

/// A plugin after kubernetes that answers every name with one TXT.
struct Catcher;

impl Plugin for Catcher {
    fn name(&self) -> &'static str {
        "catcher"
    }
    fn serve(&self, _: &Request, _: Next<'_>, _: &dyn Resolve) -> Served {
        Served::Ready(Answer::rcode(ResponseCode::NoError, "catcher"))
    }
}

#[test]
fn fallthrough_passes_name_errors_of_its_zones_to_the_next_plugin() {
    let k = Arc::new(plugin("fallthrough in-addr.arpa ip6.arpa"));
    let chain = Chain::new(vec![k.clone() as Arc<dyn Plugin>, Arc::new(Catcher)]);
    let serve = |name: &str| match chain.serve(&request(name, RecordType::PTR), &FakeUpstream) {
        Served::Ready(a) => a,
        Served::Pending(_) => panic!("ready"),
    };
    assert_eq!(serve("9.9.9.9.in-addr.arpa.").plugin, "catcher");
    assert_eq!(serve("1.0.0.10.in-addr.arpa.").plugin, "kubernetes");
    assert_eq!(
        serve("nope.shop.svc.cluster.local.").rcode,
        ResponseCode::NXDomain
    );
    // With nothing after it, the plugin's own NXDOMAIN is the answer.
    let alone = ask_with(&k, "9.9.9.9.in-addr.arpa.", RecordType::PTR);
    assert_negative(&alone, ResponseCode::NXDomain);
}

#[test]
fn names_outside_its_zones_go_to_the_next_plugin() {
    let chain = Chain::new(vec![
        Arc::new(plugin("")) as Arc<dyn Plugin>,
        Arc::new(Catcher),
    ]);
    match chain.serve(&request("example.org.", RecordType::A), &FakeUpstream) {
        Served::Ready(a) => assert_eq!(a.plugin, "catcher"),
        Served::Pending(_) => panic!("ready"),
    }
}
