//! The API server source against a protocol-faithful fake API server: initial sync, changes of
//! every kind, dropped watches, 410 Gone, outages at start and mid-run, `pods verified`, label
//! selectors. Every change is polled for (5 s limit), never slept on.

use std::time::Duration;

use crate::support::fake_api::{FakeApi, Kind};
use crate::support::{TestServer, decode, query_bytes, raw_udp, wait_for};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(5);

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn service(name: &str, ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
}

fn headless(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"clusterIP": "None"}})
}

fn slice(name: &str, service: &str, ips: &[&str]) -> Value {
    let endpoints: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": name, "namespace": "default", "labels": {"kubernetes.io/service-name": service}},
           "addressType": "IPv4", "endpoints": endpoints,
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
}

fn pod(name: &str, ip: &str, phase: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "i"}]},
           "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}]}})
}

fn corefile(api: &FakeApi, options: &str) -> String {
    crate::support::cluster_corefile(&format!("endpoint {}\n    {options}", api.url()))
        .replace("manifests manifests\n", "")
}

/// (rcode, sorted answers) of an A query.
fn lookup(server: &TestServer, name: &str) -> (ResponseCode, Vec<String>) {
    let reply = raw_udp(
        server.addr,
        &query_bytes(name, RecordType::A, 1),
        Duration::from_secs(3),
    )
    .expect("a reply");
    let m = decode(&reply);
    let mut answers: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
    answers.sort();
    (m.metadata.response_code, answers)
}

fn answers(list: &[&str]) -> (ResponseCode, Vec<String>) {
    (
        ResponseCode::NoError,
        list.iter().map(|s| s.to_string()).collect(),
    )
}

fn nxdomain() -> (ResponseCode, Vec<String>) {
    (ResponseCode::NXDomain, Vec::new())
}

fn cluster(api: &FakeApi) {
    api.apply(namespace("default"));
    api.apply(service("web", "10.0.0.1"));
    api.apply(headless("db"));
    api.apply(slice("db-1", "db", &["10.1.0.1", "10.1.0.2"]));
}

#[test]
fn initial_sync_serves_every_kind() {
    let api = FakeApi::start();
    cluster(&api);
    let server = TestServer::start(&corefile(&api, "pods insecure"), &[]);
    wait_for(LIMIT, "the first sync", || {
        lookup(&server, "web.default.svc.cluster.local.") == answers(&["10.0.0.1"])
    });
    assert_eq!(
        lookup(&server, "db.default.svc.cluster.local."),
        answers(&["10.1.0.1", "10.1.0.2"])
    );
    assert_eq!(
        lookup(&server, "10-9-9-9.default.pod.cluster.local."),
        answers(&["10.9.9.9"])
    );
    assert_eq!(
        lookup(&server, "nope.default.svc.cluster.local."),
        nxdomain()
    );
    let requests = api.requests();
    assert!(
        requests.iter().any(
            |r| r.contains("/apis/discovery.k8s.io/v1/endpointslices?") && r.contains("limit=")
        ),
        "{requests:?}"
    );
    // The watches start after the lists are applied.
    wait_for(Duration::from_secs(10), "a watch with bookmarks", || {
        api.requests()
            .iter()
            .any(|r| r.contains("watch=true") && r.contains("allowWatchBookmarks=true"))
    });
}

#[test]
fn lists_are_read_page_by_page() {
    let api = FakeApi::start();
    api.apply(namespace("default"));
    for i in 0..1200 {
        api.apply(service(
            &format!("svc{i}"),
            &format!("10.0.{}.{}", i / 250, i % 250 + 1),
        ));
    }
    let server = TestServer::start(&corefile(&api, ""), &[]);
    wait_for(LIMIT, "the last page", || {
        lookup(&server, "svc1199.default.svc.cluster.local.").0 == ResponseCode::NoError
    });
    let continued = api
        .requests()
        .iter()
        .filter(|r| r.contains("/api/v1/services?") && r.contains("continue="))
        .count();
    assert!(
        continued >= 2,
        "1200 services in pages of 500 need two continued lists"
    );
}

#[test]
fn adds_changes_and_deletes_of_every_kind_reach_answers() {
    let api = FakeApi::start();
    cluster(&api);
    let server = TestServer::start(&corefile(&api, "pods insecure"), &[]);
    wait_for(LIMIT, "the first sync", || {
        lookup(&server, "web.default.svc.cluster.local.").0 == ResponseCode::NoError
    });

    api.apply(service("new", "10.0.0.9"));
    wait_for(LIMIT, "an added service", || {
        lookup(&server, "new.default.svc.cluster.local.") == answers(&["10.0.0.9"])
    });
    api.apply(service("new", "10.0.0.10"));
    wait_for(LIMIT, "a modified service", || {
        lookup(&server, "new.default.svc.cluster.local.") == answers(&["10.0.0.10"])
    });
    api.delete(Kind::Service, "default", "new");
    wait_for(LIMIT, "a deleted service", || {
        lookup(&server, "new.default.svc.cluster.local.") == nxdomain()
    });

    api.apply(slice("db-2", "db", &["10.1.0.3"]));
    wait_for(LIMIT, "an added slice", || {
        lookup(&server, "db.default.svc.cluster.local.")
            == answers(&["10.1.0.1", "10.1.0.2", "10.1.0.3"])
    });
    api.apply(slice("db-1", "db", &["10.1.0.1"]));
    wait_for(LIMIT, "a modified slice", || {
        lookup(&server, "db.default.svc.cluster.local.") == answers(&["10.1.0.1", "10.1.0.3"])
    });
    api.delete(Kind::EndpointSlice, "default", "db-2");
    wait_for(LIMIT, "a deleted slice", || {
        lookup(&server, "db.default.svc.cluster.local.") == answers(&["10.1.0.1"])
    });

    api.apply(namespace("shop"));
    wait_for(LIMIT, "an added namespace", || {
        lookup(&server, "10-1-1-1.shop.pod.cluster.local.") == answers(&["10.1.1.1"])
    });
    api.delete(Kind::Namespace, "", "shop");
    wait_for(LIMIT, "a deleted namespace", || {
        lookup(&server, "10-1-1-1.shop.pod.cluster.local.") == nxdomain()
    });
}

#[test]
fn pods_verified_answers_only_live_pods_and_follows_their_changes() {
    let api = FakeApi::start();
    cluster(&api);
    api.apply(pod("p1", "10.2.0.1", "Running"));
    api.apply(pod("p2", "10.2.0.2", "Pending"));
    api.apply(pod("p3", "10.2.0.3", "Succeeded"));
    let server = TestServer::start(&corefile(&api, "pods verified"), &[]);
    wait_for(LIMIT, "the first sync", || {
        lookup(&server, "10-2-0-1.default.pod.cluster.local.") == answers(&["10.2.0.1"])
    });
    assert_eq!(
        lookup(&server, "10-2-0-2.default.pod.cluster.local."),
        answers(&["10.2.0.2"])
    );
    assert_eq!(
        lookup(&server, "10-2-0-3.default.pod.cluster.local."),
        nxdomain(),
        "a finished pod"
    );
    assert_eq!(
        lookup(&server, "10-2-0-9.default.pod.cluster.local."),
        nxdomain(),
        "no such pod"
    );
    assert_eq!(
        lookup(&server, "10-2-0-1.other.pod.cluster.local."),
        nxdomain(),
        "wrong namespace"
    );
    api.apply(pod("p4", "10.2.0.4", "Running"));
    wait_for(LIMIT, "a new pod", || {
        lookup(&server, "10-2-0-4.default.pod.cluster.local.") == answers(&["10.2.0.4"])
    });
    api.delete(Kind::Pod, "default", "p1");
    wait_for(LIMIT, "a deleted pod", || {
        lookup(&server, "10-2-0-1.default.pod.cluster.local.") == nxdomain()
    });
    let requests = api.requests();
    assert!(
        requests.iter().any(|r| r.starts_with("GET /api/v1/pods?") && r.contains("fieldSelector=status.phase")),
        "{requests:?}"
    );
}

#[test]
fn label_selectors_go_to_the_api() {
    let api = FakeApi::start();
    api.apply(namespace("default"));
    let mut labelled = service("mine", "10.0.0.1");
    labelled["metadata"]["labels"] = json!({"team": "dns"});
    api.apply(labelled);
    api.apply(service("theirs", "10.0.0.2"));
    let server = TestServer::start(&corefile(&api, "labels team=dns"), &[]);
    wait_for(LIMIT, "the first sync", || {
        lookup(&server, "mine.default.svc.cluster.local.") == answers(&["10.0.0.1"])
    });
    assert_eq!(
        lookup(&server, "theirs.default.svc.cluster.local."),
        nxdomain()
    );
    assert!(
        api.requests()
            .iter()
            .any(|r| r.contains("/api/v1/services?") && r.contains("labelSelector=team"))
    );
}

#[test]
fn a_dropped_watch_resumes_and_keeps_the_data() {
    let api = FakeApi::start();
    cluster(&api);
    let server = TestServer::start(&corefile(&api, ""), &[]);
    wait_for(LIMIT, "the first sync", || {
        lookup(&server, "web.default.svc.cluster.local.").0 == ResponseCode::NoError
    });
    api.drop_connections();
    assert_eq!(
        lookup(&server, "web.default.svc.cluster.local."),
        answers(&["10.0.0.1"])
    );
    api.apply(service("after", "10.0.0.5"));
    wait_for(LIMIT, "a change after the drop", || {
        lookup(&server, "after.default.svc.cluster.local.") == answers(&["10.0.0.5"])
    });
}

#[test]
fn gone_410_relists_and_drops_what_was_deleted_meanwhile() {
    let api = FakeApi::start();
    cluster(&api);
    api.apply(service("doomed", "10.0.0.7"));
    let server = TestServer::start(&corefile(&api, ""), &[]);
    wait_for(LIMIT, "the first sync", || {
        lookup(&server, "doomed.default.svc.cluster.local.").0 == ResponseCode::NoError
    });
    api.delete_silently(Kind::Service, "default", "doomed");
    api.compact();
    api.drop_connections();
    wait_for(LIMIT, "the re-list to drop the deleted service", || {
        lookup(&server, "doomed.default.svc.cluster.local.") == nxdomain()
    });
    // Names that exist before and after never stopped answering.
    assert_eq!(
        lookup(&server, "web.default.svc.cluster.local."),
        answers(&["10.0.0.1"])
    );
    wait_for(LIMIT, "the 410 to be logged", || {
        server.log().contains("410 Gone")
    });
}

#[test]
fn api_down_at_start_then_up() {
    let api = FakeApi::start();
    cluster(&api);
    api.set_unavailable(true);
    let server = TestServer::start(&corefile(&api, "startup_timeout 1s"), &[]);
    // Listeners are open; after the start-up wait an unsynced name error is SERVFAIL.
    wait_for(LIMIT, "SERVFAIL while unsynced", || {
        lookup(&server, "web.default.svc.cluster.local.").0 == ResponseCode::ServFail
    });
    api.set_unavailable(false);
    wait_for(
        Duration::from_secs(40),
        "the sync once the API is back",
        || lookup(&server, "web.default.svc.cluster.local.") == answers(&["10.0.0.1"]),
    );
    // Once every kind has synced, name errors are NXDOMAIN again.
    wait_for(LIMIT, "every kind to sync", || {
        lookup(&server, "nope.default.svc.cluster.local.") == nxdomain()
    });
    let log = server.log();
    // Namespaces, Services, EndpointSlices: once each, not once per retry.
    assert_eq!(
        log.matches("Kubernetes API unavailable").count(),
        3,
        "{log}"
    );
}

#[test]
fn a_forbidden_list_is_logged_in_words_with_the_missing_permission() {
    let api = FakeApi::start();
    cluster(&api);
    api.set_forbidden(true);
    let server = TestServer::start(&corefile(&api, "startup_timeout 0s"), &[]);
    wait_for(LIMIT, "the Services' 403 in the log", || {
        server
            .log()
            .contains("403 Forbidden: services is forbidden")
    });
    let log = server.log();
    assert!(
        log.contains(
            "plugin/kubernetes: Kubernetes API unavailable, no data yet; retrying with backoff: list: 403 Forbidden: services is forbidden: User \"system:serviceaccount:kube-system:coredns\" cannot list resource \"services\""
        ),
        "{log}"
    );
    for debug_text in ["Status {", "Some(", "ApiError"] {
        assert!(!log.contains(debug_text), "{debug_text:?} in {log}");
    }
    api.set_forbidden(false);
    wait_for(Duration::from_secs(40), "the sync once allowed", || {
        lookup(&server, "web.default.svc.cluster.local.") == answers(&["10.0.0.1"])
    });
}

#[test]
fn refused_connections_at_start_then_up() {
    let api = FakeApi::start();
    cluster(&api);
    api.refuse_connections();
    let server = TestServer::start(&corefile(&api, "startup_timeout 1s"), &[]);
    wait_for(LIMIT, "SERVFAIL while unsynced", || {
        lookup(&server, "web.default.svc.cluster.local.").0 == ResponseCode::ServFail
    });
    api.listen();
    wait_for(
        Duration::from_secs(40),
        "the sync once the port is open",
        || lookup(&server, "web.default.svc.cluster.local.") == answers(&["10.0.0.1"]),
    );
}

#[test]
fn queries_wait_for_the_first_sync_within_startup_timeout() {
    let api = FakeApi::start();
    cluster(&api);
    api.set_unavailable(true);
    let server = TestServer::start(&corefile(&api, "startup_timeout 30s"), &[]);
    // A query sent now waits; bring the API up while it waits, and it gets the real answer.
    let addr = server.addr;
    let asker = std::thread::spawn(move || {
        raw_udp(
            addr,
            &query_bytes("web.default.svc.cluster.local.", RecordType::A, 5),
            Duration::from_secs(20),
        )
    });
    api.set_unavailable(false);
    let reply = asker
        .join()
        .expect("asker")
        .expect("an answer after the sync");
    let m = decode(&reply);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn api_down_mid_run_keeps_answering_from_the_last_data() {
    let api = FakeApi::start();
    cluster(&api);
    let server = TestServer::start(&corefile(&api, ""), &[]);
    wait_for(LIMIT, "the first sync", || {
        lookup(&server, "web.default.svc.cluster.local.").0 == ResponseCode::NoError
    });
    api.set_unavailable(true);
    let noticed = std::time::Instant::now() + LIMIT;
    while !server.log().contains("Kubernetes API unavailable") {
        assert!(
            std::time::Instant::now() < noticed,
            "outage not noticed; log:\n{}\nrequests: {:#?}",
            server.log(),
            api.requests()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..20 {
        assert_eq!(
            lookup(&server, "web.default.svc.cluster.local."),
            answers(&["10.0.0.1"])
        );
        assert_eq!(
            lookup(&server, "nope.default.svc.cluster.local."),
            nxdomain(),
            "synced: still NXDOMAIN"
        );
    }
    api.set_unavailable(false);
    api.apply(service("later", "10.0.0.8"));
    wait_for(Duration::from_secs(40), "changes after the outage", || {
        lookup(&server, "later.default.svc.cluster.local.") == answers(&["10.0.0.8"])
    });
}

#[test]
fn a_bad_object_is_skipped_for_its_bad_part_only() {
    let api = FakeApi::start();
    cluster(&api);
    let mut bad = service("half", "10.0.0.3");
    bad["spec"]["clusterIPs"] = json!(["10.0.0.3", "not-an-ip"]);
    api.apply(bad);
    let mut unlabelled = slice("orphan", "x", &["10.3.0.1"]);
    unlabelled["metadata"]["labels"] = json!({});
    api.apply(unlabelled);
    let server = TestServer::start(&corefile(&api, ""), &[]);
    wait_for(LIMIT, "the first sync", || {
        lookup(&server, "half.default.svc.cluster.local.") == answers(&["10.0.0.3"])
    });
    assert_eq!(
        lookup(&server, "web.default.svc.cluster.local."),
        answers(&["10.0.0.1"])
    );
}

#[test]
fn a_kubeconfig_that_does_not_parse_stops_startup() {
    let out = crate::support::run_to_exit(
        ".:1053 {\n  kubernetes cluster.local {\n    kubeconfig kubeconfig\n  }\n}\n",
        &[("kubeconfig", "clusters: [oops")],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("kubeconfig kubeconfig: failed to parse kubeconfig"),
        "{stderr}"
    );
}

#[test]
fn namespace_labels_hide_the_namespaces_the_api_does_not_return() {
    let api = FakeApi::start();
    api.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default", "labels": {"dns": "on"}}}));
    api.apply(namespace("hidden"));
    api.apply(service("web", "10.0.0.1"));
    let mut secret = service("secret", "10.0.0.2");
    secret["metadata"]["namespace"] = json!("hidden");
    api.apply(secret);
    let server = TestServer::start(&corefile(&api, "namespace_labels dns=on"), &[]);
    wait_for(LIMIT, "the first sync", || {
        lookup(&server, "web.default.svc.cluster.local.") == answers(&["10.0.0.1"])
    });
    assert_eq!(
        lookup(&server, "secret.hidden.svc.cluster.local."),
        nxdomain()
    );
    assert!(
        api.requests()
            .iter()
            .any(|r| r.contains("/api/v1/namespaces?") && r.contains("labelSelector=dns"))
    );
}

#[test]
fn missing_tls_files_stop_startup_with_the_reason() {
    let out = crate::support::run_to_exit(
        ".:1053 {\n  kubernetes cluster.local {\n    endpoint https://127.0.0.1:6443\n    tls client.pem client-key.pem ca.pem\n  }\n}\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("client.pem") && stderr.contains("No such file"),
        "{stderr}"
    );
}

/// The peak resident memory of process `pid` (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

#[test]
fn an_endless_watch_line_is_cut_and_the_last_data_served() {
    const MIB: u64 = 1 << 20;
    let api = FakeApi::start();
    cluster(&api);
    let mut server = TestServer::start(&corefile(&api, ""), &[]);
    wait_for(LIMIT, "the first sync", || {
        lookup(&server, "web.default.svc.cluster.local.") == answers(&["10.0.0.1"])
    });
    let before = peak_rss(server.pid());
    api.endless_watch_line(Some(Kind::Service));
    api.drop_connections();
    // The 16 MiB cap, then a watch again (after the watcher's backoff), which is cut again; or,
    // without a cap, the whole 256 MiB buffered.
    wait_for(Duration::from_secs(30), "a second endless watch", || {
        let (watches, bytes) = api.endless_sent();
        watches >= 2 || bytes >= 256 * MIB
    });
    let grown = peak_rss(server.pid()).saturating_sub(before);
    assert!(grown < 64 * MIB, "peak memory grew by {} MiB", grown / MIB);
    assert!(server.is_running());
    assert_eq!(
        lookup(&server, "web.default.svc.cluster.local."),
        answers(&["10.0.0.1"])
    );
    assert!(
        server
            .log()
            .contains("watch: the API server sent more than 16777216 bytes without a newline"),
        "{}",
        server.log()
    );
    api.endless_watch_line(None);
    api.apply(service("later", "10.0.0.8"));
    wait_for(
        Duration::from_secs(40),
        "changes after the endless lines",
        || lookup(&server, "later.default.svc.cluster.local.") == answers(&["10.0.0.8"]),
    );
}
