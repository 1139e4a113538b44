//! `loop` (a forwarding loop stops start-up with exit 1 and an explanation; a sane upstream does
//! not) and `loadbalance` (addresses rotate).

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::fake_upstream::FakeUpstream;
use crate::support::{BINARY, TestServer, decode, free_port, query_bytes, raw_udp, wait_for};
use hickory_proto::rr::RecordType;

#[test]
fn forwarding_to_ourselves_is_detected_and_stops_the_server() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("Corefile"),
        format!(".:{port} {{\n  bind 127.0.0.1\n  loop\n  forward . 127.0.0.1:{port}\n}}\n"),
    )
    .expect("write");
    let mut child = Command::new(BINARY)
        .args(["-conf", "Corefile", "-quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no loop detected"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let output = child.wait_with_output().expect("output");
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.contains("Loop") && log.contains("HINFO") && log.contains("forward"),
        "{log}"
    );
}

#[test]
fn a_real_upstream_is_probed_once_and_the_server_stays_up() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let mut server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  loop\n  forward . {}\n}}\n",
            up.addr
        ),
        &[],
    );
    wait_for(Duration::from_secs(5), "the loop probe upstream", || {
        up.udp_queries() >= 1
    });
    let reply = raw_udp(
        server.addr,
        &query_bytes("www.example.org.", RecordType::A, 2),
        Duration::from_secs(5),
    )
    .expect("reply");
    assert_eq!(decode(&reply).answers.len(), 1);
    assert!(server.is_running());
}

#[test]
fn loadbalance_rotates_addresses() {
    let server = TestServer::start(
        ".:{PORT} {\n  bind 127.0.0.1\n  loadbalance\n  hosts /nonexistent {\n    10.0.0.1 multi.test\n    10.0.0.2 multi.test\n    10.0.0.3 multi.test\n  }\n}\n",
        &[],
    );
    let mut first = HashSet::new();
    for id in 0..60 {
        let reply = raw_udp(
            server.addr,
            &query_bytes("multi.test.", RecordType::A, id),
            Duration::from_secs(5),
        )
        .expect("reply");
        let m = decode(&reply);
        assert_eq!(m.answers.len(), 3);
        first.insert(m.answers[0].data.to_string());
    }
    assert_eq!(first.len(), 3, "each address leads sometimes: {first:?}");
}
