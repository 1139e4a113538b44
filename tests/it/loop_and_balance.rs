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
    // CoreDNS's shape: one prefix, the client as IPv4 `ADDRESS:PORT`.
    assert!(
        log.contains("[ERROR] plugin/loop: Loop (127.0.0.1:"),
        "{log}"
    );
    assert!(
        !log.contains("::ffff:") && !log.contains("plugin/loop: plugin/loop"),
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

/// Which address comes first in each of `n` answers for `name`, counted.
fn first_addresses(
    server: &TestServer,
    name: &str,
    n: u16,
) -> std::collections::HashMap<String, u32> {
    let mut counts = std::collections::HashMap::new();
    for id in 0..n {
        let reply = raw_udp(
            server.addr,
            &query_bytes(name, RecordType::A, id),
            Duration::from_secs(5),
        )
        .expect("reply");
        let m = decode(&reply);
        assert_eq!(m.answers.len(), 3, "every address is still answered");
        *counts.entry(m.answers[0].data.to_string()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn loadbalance_weighted_follows_the_weight_file_and_its_reload() {
    let server = TestServer::start_with_files(
        ".:{PORT} {\n  bind 127.0.0.1\n  loadbalance weighted weights {\n    reload 1s\n  }\n  hosts /nonexistent {\n    100.64.1.1 www.example.com\n    100.64.1.2 www.example.com\n    100.64.1.3 www.example.com\n  }\n}\n",
        &[(
            "weights",
            "# CoreDNS's example\nwww.example.com\n100.64.1.1 3\n100.64.1.2 1\n100.64.1.3 2\n",
        )],
    );
    // 1,200 draws of 3 : 1 : 2 — expected 600, 200, 400; the bounds are over 6 standard deviations.
    let counts = first_addresses(&server, "www.example.com.", 1200);
    let near = |ip: &str, expected: u32| {
        let got = counts.get(ip).copied().unwrap_or(0);
        assert!(
            got.abs_diff(expected) < 110,
            "{ip} first {got} times, expected about {expected}: {counts:?}"
        );
    };
    near("100.64.1.1", 600);
    near("100.64.1.2", 200);
    near("100.64.1.3", 400);

    // A broken file keeps the running weights; a good one replaces them.
    std::fs::write(
        server.dir.path().join("weights"),
        "www.example.com\n100.64.1.2 many\n",
    )
    .expect("write");
    wait_for(
        Duration::from_secs(10),
        "the bad weight file to be reported",
        || {
            server
                .log()
                .contains("weights:2: weight \"many\": expected 1-255; keeping the running weights")
        },
    );
    // Still 3 : 1 : 2 (100.64.1.1 first about 300 times in 600), not reset to equal weights
    // (about 200): the bound is over 4 standard deviations from both.
    let counts = first_addresses(&server, "www.example.com.", 600);
    assert!(
        counts.get("100.64.1.1").copied().unwrap_or(0) > 250,
        "the old weights still apply: {counts:?}"
    );
    std::fs::write(
        server.dir.path().join("weights"),
        "www.example.com\n100.64.1.2 255\n",
    )
    .expect("write");
    wait_for(Duration::from_secs(10), "the new weights to apply", || {
        first_addresses(&server, "www.example.com.", 40)
            .get("100.64.1.2")
            .copied()
            >= Some(36)
    });
}
