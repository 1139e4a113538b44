//! `health` and `ready` over HTTP, and the lameduck shutdown sequence.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::fake_api::FakeApi;
use crate::support::fake_upstream::{Behaviour, FakeUpstream};
use crate::support::{
    TestServer, decode, free_port, http_get as get, query_bytes, raw_udp, send_signal, wait_for,
};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn corefile(health: u16, ready: u16, lameduck: &str, kubernetes: &str) -> String {
    format!(
        "cluster.local:{{PORT}} {{\n  bind 127.0.0.1\n  health 127.0.0.1:{health} {{\n    lameduck {lameduck}\n  }}\n  ready 127.0.0.1:{ready}\n  kubernetes {{\n    {kubernetes}\n  }}\n}}\n"
    )
}

#[test]
fn health_is_ok_and_ready_follows_the_first_sync() {
    let api = FakeApi::start();
    api.set_unavailable(true);
    let (health, ready) = (free_port(), free_port());
    let server = TestServer::start(
        &corefile(
            health,
            ready,
            "0s",
            &format!("endpoint {}\n    startup_timeout 0s", api.url()),
        ),
        &[],
    );
    let health_addr = SocketAddr::from(([127, 0, 0, 1], health));
    let ready_addr = SocketAddr::from(([127, 0, 0, 1], ready));
    wait_for(Duration::from_secs(5), "/health", || {
        get(health_addr, "/health") == Some((200, "OK".into()))
    });
    assert_eq!(
        get(ready_addr, "/ready"),
        Some((503, "kubernetes\n".into())),
        "not synced yet"
    );
    assert_eq!(
        get(health_addr, "/ready").map(|r| r.0),
        Some(404),
        "each path on its own address"
    );
    api.set_unavailable(false);
    api.apply(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}));
    wait_for(Duration::from_secs(40), "/ready after the sync", || {
        get(ready_addr, "/ready") == Some((200, "OK".into()))
    });
    drop(server);
}

#[test]
fn sigterm_starts_lameduck_ready_503_while_queries_are_still_answered() {
    let (health, ready) = (free_port(), free_port());
    let mut server = TestServer::start(&corefile(health, ready, "2s", "manifests manifests"), &[]);
    let health_addr = SocketAddr::from(([127, 0, 0, 1], health));
    let ready_addr = SocketAddr::from(([127, 0, 0, 1], ready));
    wait_for(Duration::from_secs(5), "/ready", || {
        get(ready_addr, "/ready") == Some((200, "OK".into()))
    });
    // Start-up names what it serves on each address.
    let log = server.log();
    for line in [
        format!("serving /health on http://127.0.0.1:{health}"),
        format!("serving /ready on http://127.0.0.1:{ready}"),
    ] {
        assert!(log.contains(&line), "{line:?} in {log}");
    }
    let pid = server.pid();
    let started = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    wait_for(Duration::from_secs(2), "/ready to turn 503", || {
        get(ready_addr, "/ready").is_some_and(|(status, _)| status == 503)
    });
    assert_eq!(
        get(health_addr, "/health"),
        Some((200, "OK".into())),
        "alive during lameduck"
    );
    // A client asking in a loop from the signal until just before the lameduck period ends
    // loses nothing.
    let mut asked = 0;
    while started.elapsed() < Duration::from_millis(1800) {
        let reply = raw_udp(
            server.addr,
            &query_bytes("dns-version.cluster.local.", RecordType::TXT, 1),
            Duration::from_secs(1),
        );
        assert_eq!(
            reply.map(|r| decode(&r).answers.len()),
            Some(1),
            "query {asked} after SIGTERM, {:?} into lameduck",
            started.elapsed()
        );
        asked += 1;
    }
    assert!(asked > 10, "the client kept asking ({asked})");
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "served the whole lameduck period"
    );
    // Nothing was waiting on an upstream: no drain after it (that waits up to 5 s).
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "exit soon after the lameduck period: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_taken_health_port_stops_startup() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let out = crate::support::run_to_exit(
        &format!(
            ".:{} {{\n  bind 127.0.0.1\n  health 127.0.0.1:{port}\n}}\n",
            free_port()
        ),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("Corefile:3: listen on 127.0.0.1:{port}: ")),
        "{stderr}"
    );
}

/// A server forwarding to `upstream`, with `health { lameduck LAMEDUCK }` on `health`.
fn forwarding(upstream: &FakeUpstream, health: u16, lameduck: &str) -> TestServer {
    TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  health 127.0.0.1:{health} {{\n    lameduck {lameduck}\n  }}\n  forward . {}\n}}\n",
            upstream.addr
        ),
        &[],
    )
}

#[test]
fn an_answer_waiting_on_an_upstream_when_lameduck_ends_is_sent_before_exit() {
    let upstream = FakeUpstream::start([192, 0, 2, 1]);
    upstream.set(Behaviour::Slow(1000));
    let health = free_port();
    let mut server = forwarding(&upstream, health, "1s");
    let started = Instant::now();
    send_signal(server.pid(), "TERM");
    // The scenario: a query half a second before the listeners close, whose upstream answers
    // half a second after.
    std::thread::sleep(Duration::from_millis(500).saturating_sub(started.elapsed()));
    let reply = raw_udp(
        server.addr,
        &query_bytes("late.example.", RecordType::A, 7),
        Duration::from_secs(4),
    )
    .map(|bytes| decode(&bytes));
    assert_eq!(
        reply
            .as_ref()
            .map(|m| (m.metadata.response_code, m.answers.len())),
        Some((ResponseCode::NoError, 1)),
        "answered {:?} after SIGTERM: {}",
        started.elapsed(),
        server.log()
    );
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_second_sigterm_quits_at_once() {
    let upstream = FakeUpstream::start([192, 0, 2, 1]);
    let health = free_port();
    let mut server = forwarding(&upstream, health, "20s");
    let health_addr = SocketAddr::from(([127, 0, 0, 1], health));
    wait_for(Duration::from_secs(5), "/health", || {
        get(health_addr, "/health").is_some()
    });
    send_signal(server.pid(), "TERM");
    wait_for(
        Duration::from_secs(5),
        "the lameduck period to start",
        || server.log().contains("lameduck"),
    );
    let second = Instant::now();
    send_signal(server.pid(), "TERM");
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("exits at once");
    assert_eq!(status.code(), Some(1), "{}", server.log());
    assert!(second.elapsed() < Duration::from_secs(5));
    assert!(server.log().contains("force quit"), "{}", server.log());
}
