//! `autopath @kubernetes` over an index holding one pod in `app` at 10.244.1.7, in front of a
//! stand-in for the cluster zone and a resolver standing for the rest of the server.

use std::sync::Mutex;

use hickory_proto::rr::rdata::{A, SOA};

use super::*;
use crate::cluster::{ClusterIndex, ClusterView, Pod, PodPhase};
use crate::plugin::testing::{NoResolver, answer, request};

const POD: &str = "10.244.1.7:40000";

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("name")
}

fn a_record(owner: &Name, last: u8) -> Record {
    Record::from_rdata(owner.clone(), 30, RData::A(A::new(10, 0, 0, last)))
}

fn soa(zone: &str, ttl: u32) -> Record {
    Record::from_rdata(
        name(zone),
        ttl,
        RData::SOA(SOA::new(name("ns.dns."), name("hostmaster."), 1, 7200, 1800, 86400, 5)),
    )
}

/// The cluster zone: `web.app.svc`, `kubernetes.default.svc` exist (A 10.0.0.1), the rest
/// NXDOMAIN with the zone's SOA; every name asked is recorded.
struct Zone {
    asked: Mutex<Vec<String>>,
}

impl Plugin for Zone {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn serve(&self, request: &Request, _next: Next<'_>, _resolver: &dyn Resolve) -> Served {
        self.asked
            .lock()
            .expect("lock")
            .push(request.name.to_string());
        let lower = request.name.to_lowercase().to_string();
        let mut answer = Answer::rcode(ResponseCode::NXDomain, "kubernetes");
        if ["web.app.svc.cluster.local.", "kubernetes.default.svc.cluster.local."]
            .contains(&lower.as_str())
        {
            answer.rcode = ResponseCode::NoError;
            if request.qtype == RecordType::A {
                answer.answers.push(a_record(&request.name, 1));
            } else {
                answer.authority.push(soa("cluster.local.", 5));
            }
        } else {
            answer.authority.push(soa("cluster.local.", 5));
        }
        Served::Ready(answer)
    }
}

/// The rest of the server: `api.example.com.` exists (A 10.0.0.2), `broken.example.` fails.
struct Outside {
    pending: bool,
}

impl Resolve for Outside {
    fn resolve(&self, request: &Request) -> Served {
        let lower = request.name.to_lowercase().to_string();
        let mut answer = match lower.as_str() {
            "api.example.com." => {
                let mut a = Answer::rcode(ResponseCode::NoError, "forward");
                a.answers.push(a_record(&request.name, 2));
                a
            }
            "broken.example." => Answer::rcode(ResponseCode::ServFail, "forward"),
            _ => Answer::rcode(ResponseCode::NXDomain, "forward"),
        };
        answer.recursion_available = true;
        if self.pending {
            Served::Pending(Box::pin(async move { answer }))
        } else {
            Served::Ready(answer)
        }
    }

    fn detached(&self) -> Option<Arc<dyn Resolve>> {
        Some(Arc::new(Outside {
            pending: self.pending,
        }))
    }
}

struct Fixture {
    chain: Chain,
    zone: Arc<Zone>,
    success: Counter,
}

/// `autopath @kubernetes` in a `.` block, with its search path from `source`.
fn config_with(source: SearchSource) -> AutoPathConfig {
    let directive = crate::config::Corefile::parse(
        "Corefile",
        ".:53 {\n autopath @kubernetes\n}\n",
        std::path::Path::new("."),
    )
    .expect("syntax")
    .blocks
    .remove(0)
    .directives
    .remove(0);
    let mut config = setup::config(&directive, &[Name::root()]).expect("valid");
    config.source = source;
    config
}

fn fixture(pods: &[(&str, &str, &str)]) -> Fixture {
    let index = Arc::new(ClusterIndex::new());
    for (pod, namespace, ip) in pods {
        index.upsert_pod(Pod {
            name: Arc::from(*pod),
            namespace: Arc::from(*namespace),
            ips: vec![ip.parse().expect("ip")],
            phase: PodPhase::Live,
        });
    }
    let block = Arc::new(BlockShared::default());
    block
        .cluster
        .set(ClusterView {
            index,
            namespaces: Vec::new(),
            filtered_by_labels: false,
            own_addresses: Vec::new(),
            zones: vec![name("cluster.local.")],
        })
        .expect("first set");
    // The host's resolv.conf plays no part here.
    let config = config_with(SearchSource::Kubernetes {
        node_domains: Vec::new(),
    });
    let success = Counter::default();
    let zone = Arc::new(Zone {
        asked: Mutex::new(Vec::new()),
    });
    let plugin = AutoPath {
        config,
        block,
        success: success.clone(),
    };
    Fixture {
        chain: Chain::new(vec![Arc::new(plugin), zone.clone()]),
        zone,
        success,
    }
}

fn from_pod(text: &str, qtype: RecordType) -> Request {
    let mut r = request(text, qtype);
    r.source = POD.parse().expect("address");
    r
}

fn records(answer: &Answer) -> Vec<String> {
    answer.answers.iter().map(ToString::to_string).collect()
}

#[test]
fn an_outside_name_is_one_cname_answer() {
    let f = fixture(&[("web-1", "app", "10.244.1.7")]);
    let asked = "Api.Example.com.app.svc.cluster.local.";
    let a = answer(&f.chain, &from_pod(asked, RecordType::A), &Outside { pending: false });
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(
        records(&a),
        [
            format!("{asked} 30 IN CNAME Api.Example.com."),
            "Api.Example.com. 30 IN A 10.0.0.2".to_string()
        ]
    );
    assert_eq!(f.success.get(), 1);
    assert_eq!(
        *f.zone.asked.lock().expect("lock"),
        [
            asked,
            "Api.Example.com.svc.cluster.local.",
            "Api.Example.com.cluster.local."
        ],
        "the cluster steps go to the plugins after autopath, the last to the resolver"
    );
}

#[test]
fn a_service_of_the_pods_namespace_is_the_plain_answer() {
    let f = fixture(&[("web-1", "app", "10.244.1.7")]);
    let a = answer(
        &f.chain,
        &from_pod("web.app.svc.cluster.local.", RecordType::A),
        &NoResolver,
    );
    assert_eq!(records(&a), ["web.app.svc.cluster.local. 30 IN A 10.0.0.1"]);
}

#[test]
fn a_service_of_another_namespace_is_found_in_svc() {
    let f = fixture(&[("web-1", "app", "10.244.1.7")]);
    let a = answer(
        &f.chain,
        &from_pod("kubernetes.default.app.svc.cluster.local.", RecordType::A),
        &NoResolver,
    );
    assert_eq!(
        records(&a),
        [
            "kubernetes.default.app.svc.cluster.local. 30 IN CNAME kubernetes.default.svc.cluster.local.",
            "kubernetes.default.svc.cluster.local. 30 IN A 10.0.0.1"
        ]
    );
    // NODATA: the CNAME, with the SOA's TTL, and the SOA.
    let aaaa = answer(
        &f.chain,
        &from_pod("kubernetes.default.app.svc.cluster.local.", RecordType::AAAA),
        &NoResolver,
    );
    assert_eq!(aaaa.rcode, ResponseCode::NoError);
    assert_eq!(
        records(&aaaa),
        ["kubernetes.default.app.svc.cluster.local. 5 IN CNAME kubernetes.default.svc.cluster.local."]
    );
    assert_eq!(aaaa.authority.len(), 1);
}

#[test]
fn nothing_found_is_the_asked_names_nxdomain() {
    let f = fixture(&[("web-1", "app", "10.244.1.7")]);
    let a = answer(
        &f.chain,
        &from_pod("nowhere.app.svc.cluster.local.", RecordType::A),
        &Outside { pending: false },
    );
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert!(a.answers.is_empty());
    assert_eq!(a.authority[0].name.to_string(), "cluster.local.");
    assert_eq!(f.success.get(), 0);
}

#[test]
fn a_failure_on_the_way_is_the_asked_names_answer() {
    let f = fixture(&[("web-1", "app", "10.244.1.7")]);
    let a = answer(
        &f.chain,
        &from_pod("broken.example.app.svc.cluster.local.", RecordType::A),
        &Outside { pending: false },
    );
    assert_eq!(a.rcode, ResponseCode::NXDomain, "not the upstream's SERVFAIL");
    assert_eq!(a.plugin, "kubernetes");
}

#[test]
fn other_clients_types_and_shapes_get_the_plain_answer() {
    let f = fixture(&[("web-1", "app", "10.244.1.7")]);
    let plain = |r: Request| {
        let a = answer(&f.chain, &r, &NoResolver);
        assert_eq!(a.plugin, "kubernetes", "{}: plain", r.name);
        assert!(a.answers.iter().all(|r| r.record_type() != RecordType::CNAME));
    };
    // An address that is no pod.
    plain(request("api.example.com.app.svc.cluster.local.", RecordType::A));
    // Another type.
    plain(from_pod("api.example.com.app.svc.cluster.local.", RecordType::TXT));
    plain(from_pod("_http._tcp.web.app.svc.cluster.local.", RecordType::SRV));
    // Another namespace's first step, and a later step.
    plain(from_pod("api.example.com.other.svc.cluster.local.", RecordType::A));
    plain(from_pod("api.example.com.svc.cluster.local.", RecordType::A));
    assert_eq!(f.success.get(), 0);
    // The pod seen through an IPv4-mapped source (a wildcard listener) is the same pod.
    let mut mapped = from_pod("api.example.com.app.svc.cluster.local.", RecordType::A);
    mapped.source = "[::ffff:10.244.1.7]:40000".parse().expect("address");
    let a = answer(&f.chain, &mapped, &Outside { pending: false });
    assert_eq!(a.answers[0].record_type(), RecordType::CNAME);
}

#[test]
fn an_address_of_pods_in_two_namespaces_mixes_nothing() {
    let f = fixture(&[("old", "app", "10.244.1.7"), ("new", "other", "10.244.1.7")]);
    let a = answer(
        &f.chain,
        &from_pod("api.example.com.app.svc.cluster.local.", RecordType::A),
        &NoResolver,
    );
    assert_eq!(a.plugin, "kubernetes");
    assert_eq!(a.rcode, ResponseCode::NXDomain);
}

#[tokio::test]
async fn a_walk_that_waits_goes_on_in_a_task() {
    let f = fixture(&[("web-1", "app", "10.244.1.7")]);
    let served = f.chain.serve(
        &from_pod("api.example.com.app.svc.cluster.local.", RecordType::A),
        &Outside { pending: true },
    );
    let Served::Pending(pending) = served else {
        panic!("the upstream step waits")
    };
    let a = pending.await;
    assert_eq!(
        records(&a),
        [
            "api.example.com.app.svc.cluster.local. 30 IN CNAME api.example.com.".to_string(),
            "api.example.com. 30 IN A 10.0.0.2".to_string()
        ]
    );
    assert_eq!(f.success.get(), 1);
}

#[test]
fn a_resolv_conf_path_is_the_same_for_every_client() {
    let mut f = fixture(&[]);
    let config = config_with(SearchSource::File(vec![
        name("app.svc.cluster.local."),
        name("svc.cluster.local."),
        name("cluster.local."),
    ]));
    let plugin = AutoPath {
        config,
        block: Arc::new(BlockShared::default()),
        success: f.success.clone(),
    };
    f.chain = Chain::new(vec![Arc::new(plugin), f.zone.clone()]);
    // No pod anywhere, no cluster view: the file's path applies to 10.0.0.9 all the same, and
    // every step is asked of the plugins after autopath (NoResolver would panic otherwise).
    let a = answer(
        &f.chain,
        &request("kubernetes.default.app.svc.cluster.local.", RecordType::A),
        &NoResolver,
    );
    assert_eq!(
        records(&a),
        [
            "kubernetes.default.app.svc.cluster.local. 30 IN CNAME kubernetes.default.svc.cluster.local.",
            "kubernetes.default.svc.cluster.local. 30 IN A 10.0.0.1"
        ]
    );
}
