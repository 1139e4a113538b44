//! The `manifests` source: live changes reach answers, bad documents are skipped and reported.

use std::time::Duration;

use crate::support::{TestServer, decode, query_bytes, raw_udp, wait_for};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n";

fn service(name: &str, ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec: {{clusterIP: {ip}}}\n"
    )
}

/// The rcode and A records for `name`.
fn lookup(server: &TestServer, name: &str) -> (ResponseCode, Vec<String>) {
    let reply = raw_udp(
        server.addr,
        &query_bytes(name, RecordType::A, 3),
        Duration::from_secs(2),
    )
    .expect("a reply");
    let m = decode(&reply);
    (
        m.metadata.response_code,
        m.answers.iter().map(|r| r.data.to_string()).collect(),
    )
}

#[test]
fn added_changed_and_removed_files_are_served_live() {
    let server = TestServer::start(&crate::support::cluster_corefile(""), &[("ns.yaml", NS)]);
    let name = "late.default.svc.cluster.local.";
    assert_eq!(lookup(&server, name).0, ResponseCode::NXDomain);

    std::fs::write(
        server.manifests().join("late.yaml"),
        service("late", "10.0.0.7"),
    )
    .expect("write");
    wait_for(Duration::from_secs(5), "the new service", || {
        lookup(&server, name) == (ResponseCode::NoError, vec!["10.0.0.7".to_string()])
    });

    std::fs::write(
        server.manifests().join("late.yaml"),
        service("late", "10.0.0.8"),
    )
    .expect("write");
    wait_for(Duration::from_secs(5), "the changed address", || {
        lookup(&server, name).1 == vec!["10.0.0.8".to_string()]
    });

    std::fs::remove_file(server.manifests().join("late.yaml")).expect("remove");
    wait_for(Duration::from_secs(5), "the service to go", || {
        lookup(&server, name).0 == ResponseCode::NXDomain
    });
}

#[test]
fn a_bad_document_is_skipped_reported_and_the_rest_served() {
    let bad = format!(
        "{}---\n{}",
        service("good", "10.0.0.1"),
        service("bad", "300.1.1.1")
    );
    let server = TestServer::start(
        &crate::support::cluster_corefile(""),
        &[("ns.yaml", NS), ("mixed.yaml", &bad)],
    );
    assert_eq!(
        lookup(&server, "good.default.svc.cluster.local.").1,
        vec!["10.0.0.1".to_string()]
    );
    assert_eq!(
        lookup(&server, "bad.default.svc.cluster.local.").0,
        ResponseCode::NXDomain
    );
    wait_for(Duration::from_secs(5), "the problem in the log", || {
        server
            .log()
            .contains("mixed.yaml: document 2: Service bad: invalid spec.clusterIP")
    });
}

#[test]
fn a_file_that_turns_bad_keeps_the_other_files_serving() {
    let server = TestServer::start(
        &crate::support::cluster_corefile(""),
        &[
            ("ns.yaml", NS),
            ("a.yaml", &service("a", "10.0.0.1")),
            ("b.yaml", &service("b", "10.0.0.2")),
        ],
    );
    std::fs::write(server.manifests().join("b.yaml"), "kind: [unclosed\n").expect("write");
    wait_for(
        Duration::from_secs(5),
        "the broken file to be reported",
        || server.log().contains("b.yaml: document 1:"),
    );
    assert_eq!(
        lookup(&server, "a.default.svc.cluster.local.").1,
        vec!["10.0.0.1".to_string()]
    );
}

/// How many times the server has re-read its manifests.
fn reloads(server: &TestServer) -> usize {
    server.log().matches("manifests: reloaded").count()
}

#[test]
fn reading_the_files_causes_no_reload_and_a_burst_of_writes_a_bounded_few() {
    let server = TestServer::start(
        &crate::support::cluster_corefile(""),
        &[("ns.yaml", NS), ("a.yaml", &service("a", "10.0.0.1"))],
    );
    let name = "marker.default.svc.cluster.local.";
    assert_eq!(lookup(&server, name).0, ResponseCode::NXDomain);
    // Reading every file, as an operator's `cat` or the server's own reload does.
    for _ in 0..20 {
        for entry in std::fs::read_dir(server.manifests()).expect("dir") {
            std::fs::read(entry.expect("entry").path()).expect("read");
        }
    }
    // A change after the reads: once it is served, every earlier event was handled.
    let marker = server.manifests().join("marker.yaml");
    std::fs::write(&marker, service("marker", "10.0.0.9")).expect("write");
    wait_for(Duration::from_secs(5), "the marker", || {
        lookup(&server, name).1 == vec!["10.0.0.9".to_string()]
    });
    wait_for(Duration::from_secs(5), "its reload logged", || {
        reloads(&server) >= 1
    });
    let after_marker = reloads(&server);
    assert!(
        (1..=2).contains(&after_marker),
        "one reload for the marker, none for the reads: {after_marker}\n{}",
        server.log()
    );

    // 50 writes in a burst, then a last one to wait for.
    let burst = server.manifests().join("burst.yaml");
    for i in 0..50 {
        std::fs::write(&burst, service("burst", &format!("10.0.1.{i}"))).expect("write");
    }
    std::fs::write(&marker, service("marker", "10.0.0.10")).expect("write");
    wait_for(Duration::from_secs(5), "the last write", || {
        lookup(&server, name).1 == vec!["10.0.0.10".to_string()]
    });
    wait_for(Duration::from_secs(5), "its reload logged", || {
        reloads(&server) > after_marker
    });
    let burst_reloads = reloads(&server) - after_marker;
    assert!(
        (1..=6).contains(&burst_reloads),
        "51 writes in a burst: {burst_reloads} reloads"
    );
    // And nothing keeps re-reading afterwards: a further read-only pass and a change.
    std::fs::read(&burst).expect("read");
    std::fs::write(&marker, service("marker", "10.0.0.11")).expect("write");
    wait_for(Duration::from_secs(5), "the third marker", || {
        lookup(&server, name).1 == vec!["10.0.0.11".to_string()]
    });
    wait_for(Duration::from_secs(5), "its reload logged", || {
        reloads(&server) > after_marker + burst_reloads
    });
    let settled = reloads(&server) - after_marker - burst_reloads;
    assert!(
        (1..=2).contains(&settled),
        "{settled} reloads for one write"
    );
    // The absence of a reload loop can only be seen over a period: ten settle windows of the
    // watcher, in which a loop re-reading on its own reads would reload ten times (after one
    // window for a reload still due to the last write).
    std::thread::sleep(Duration::from_millis(100));
    let quiet = reloads(&server);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        reloads(&server),
        quiet,
        "reloads went on with nothing written:\n{}",
        server.log()
    );
}
