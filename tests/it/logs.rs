//! The log in CoreDNS's shape: clients as CoreDNS prints them, the HTTP addresses named at
//! start, a missing hosts file warned of.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::rr::RecordType;

use crate::support::{TestServer, free_port, query_bytes, raw_udp, wait_for};

#[test]
fn an_ipv4_client_of_a_wildcard_listener_is_logged_as_ipv4() {
    let metrics = free_port();
    // No `bind`: the dual-stack wildcard, where IPv4 clients arrive as `::ffff:a.b.c.d`.
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  log\n  prometheus 127.0.0.1:{metrics}\n  hosts /nonexistent/hosts {{\n    10.0.0.1 web.example\n  }}\n}}\n"
        ),
        &[],
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], server.addr.port()));
    raw_udp(
        addr,
        &query_bytes("web.example.", RecordType::A, 1),
        Duration::from_secs(2),
    )
    .expect("a reply");
    wait_for(Duration::from_secs(5), "the query logged", || {
        server.log().contains("\"A IN web.example.")
    });
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("\"A IN web.example."))
        .expect("the query line");
    assert!(line.starts_with("[INFO] 127.0.0.1:"), "{line}");
    assert!(
        log.contains(&format!(
            "[INFO] serving /metrics on http://127.0.0.1:{metrics}"
        )),
        "{log}"
    );
    assert!(
        log.contains("[WARNING] plugin/hosts: File does not exist: /nonexistent/hosts"),
        "{log}"
    );
}
