//! The `forward` plugin against scripted upstreams on loopback: answers, failover, timeouts,
//! reply validation, TC → TCP, force_tcp, max_concurrent, coalescing, health checks, policies.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::fake_upstream::{Behaviour, FakeUpstream};
use crate::support::{
    TestServer, decode, free_port, http_get, metric, open_fds, query_bytes, raw_udp, rss_kib,
    wait_for,
};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn server(upstreams: &[&FakeUpstream], options: &str) -> TestServer {
    let to: Vec<String> = upstreams.iter().map(|u| u.addr.to_string()).collect();
    TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  errors\n  forward . {} {{\n{options}\n  }}\n}}\n",
            to.join(" ")
        ),
        &[],
    )
}

/// (rcode, answers) for an A query over UDP, waiting up to 6 s.
fn lookup(addr: SocketAddr, name: &str) -> (ResponseCode, Vec<String>) {
    let reply = raw_udp(
        addr,
        &query_bytes(name, RecordType::A, 9),
        Duration::from_secs(6),
    )
    .expect("a reply");
    let m = decode(&reply);
    (
        m.metadata.response_code,
        m.answers.iter().map(|r| r.data.to_string()).collect(),
    )
}

fn answered(ip: &str) -> (ResponseCode, Vec<String>) {
    (ResponseCode::NoError, vec![ip.to_string()])
}

#[test]
fn forwards_and_returns_the_upstream_answer_with_the_question_case() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let server = server(&[&up], "");
    let reply = raw_udp(
        server.addr,
        &query_bytes("WwW.Example.ORG.", RecordType::A, 4),
        Duration::from_secs(5),
    )
    .expect("reply");
    let m = decode(&reply);
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "{}",
        server.log()
    );
    assert!(m.metadata.recursion_available);
    assert_eq!(m.answers[0].name.to_ascii(), "WwW.Example.ORG.");
    assert_eq!(m.answers[0].data.to_string(), "192.0.2.1");
    assert_eq!(up.udp_queries(), 1);
}

#[test]
fn a_tcp_client_is_forwarded_over_tcp() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let server = server(&[&up], "");
    let mut stream = crate::support::tcp_connect(server.addr);
    crate::support::tcp_send(&mut stream, &query_bytes("example.org.", RecordType::A, 5));
    let m = decode(&crate::support::tcp_receive(&mut stream).expect("reply"));
    assert_eq!(m.answers.len(), 1);
    assert_eq!((up.tcp_queries(), up.udp_queries()), (1, 0));
}

#[test]
fn except_names_are_not_forwarded() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let server = server(&[&up], "    except corp.example");
    let (rcode, _) = lookup(server.addr, "host.corp.example.");
    assert_eq!(rcode, ResponseCode::ServFail, "no plugin after forward");
    assert_eq!(up.udp_queries(), 0);
}

#[test]
fn a_silent_upstream_fails_over_to_the_next_within_the_deadline() {
    let silent = FakeUpstream::start([192, 0, 2, 1]);
    silent.set(Behaviour::Silent);
    let good = FakeUpstream::start([192, 0, 2, 2]);
    let server = server(&[&silent, &good], "    policy sequential");
    let started = Instant::now();
    assert_eq!(lookup(server.addr, "example.org."), answered("192.0.2.2"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn all_upstreams_silent_is_servfail_before_the_client_gives_up() {
    let a = FakeUpstream::start([192, 0, 2, 1]);
    let b = FakeUpstream::start([192, 0, 2, 2]);
    let c = FakeUpstream::start([192, 0, 2, 3]);
    for up in [&a, &b, &c] {
        up.set(Behaviour::Silent);
    }
    let server = server(&[&a, &b, &c], "");
    let started = Instant::now();
    assert_eq!(
        lookup(server.addr, "example.org.").0,
        ResponseCode::ServFail
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    wait_for(Duration::from_secs(5), "the error in the log", || {
        server.log().contains("no upstream answered")
    });
}

#[test]
fn a_reply_with_a_wrong_id_is_ignored_and_the_right_one_taken() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set(Behaviour::WrongIdFirst);
    let server = server(&[&up], "");
    assert_eq!(lookup(server.addr, "example.org."), answered("192.0.2.1"));
}

#[test]
fn a_reply_with_another_question_is_never_used() {
    let liar = FakeUpstream::start([192, 0, 2, 1]);
    liar.set(Behaviour::WrongQuestion);
    let good = FakeUpstream::start([192, 0, 2, 2]);
    let server = server(&[&liar, &good], "    policy sequential");
    let (rcode, answers) = lookup(server.addr, "example.org.");
    assert_eq!(
        (rcode, answers.clone()),
        answered("192.0.2.2"),
        "{answers:?}"
    );
}

#[test]
fn an_unparseable_reply_moves_on_to_the_next_upstream_at_once() {
    let broken = FakeUpstream::start([192, 0, 2, 1]);
    broken.set(Behaviour::Garbage);
    let good = FakeUpstream::start([192, 0, 2, 2]);
    let server = server(&[&broken, &good], "    policy sequential");
    let started = Instant::now();
    assert_eq!(lookup(server.addr, "example.org."), answered("192.0.2.2"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no read timeout waited: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_truncated_udp_reply_is_asked_again_over_tcp() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set(Behaviour::Truncate);
    let server = server(&[&up], "");
    let (rcode, answers) = lookup(server.addr, "example.org.");
    assert_eq!(rcode, ResponseCode::NoError);
    assert_eq!(answers.len(), 3);
    assert_eq!((up.udp_queries(), up.tcp_queries()), (1, 1));
}

#[test]
fn force_tcp_uses_only_tcp() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let server = server(&[&up], "    force_tcp");
    assert_eq!(lookup(server.addr, "example.org."), answered("192.0.2.1"));
    assert_eq!((up.udp_queries(), up.tcp_queries()), (0, 1));
}

#[test]
fn max_concurrent_refuses_past_the_limit() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set(Behaviour::Slow(1500));
    let server = server(&[&up], "    max_concurrent 1");
    let addr = server.addr;
    let slow = std::thread::spawn(move || lookup(addr, "one.example."));
    wait_for(Duration::from_secs(5), "the first query upstream", || {
        up.udp_queries() == 1
    });
    assert_eq!(lookup(server.addr, "two.example.").0, ResponseCode::Refused);
    assert_eq!(slow.join().expect("thread"), answered("192.0.2.1"));
}

#[test]
fn identical_queries_in_flight_share_one_upstream_query() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set(Behaviour::Slow(800));
    let server = server(&[&up], "");
    let addr = server.addr;
    let askers: Vec<_> = (0..5)
        .map(|_| std::thread::spawn(move || lookup(addr, "same.example.")))
        .collect();
    for asker in askers {
        assert_eq!(asker.join().expect("thread"), answered("192.0.2.1"));
    }
    assert_eq!(up.udp_queries(), 1);
}

#[test]
fn a_failed_upstream_is_skipped_until_a_probe_finds_it_healthy() {
    let flaky = FakeUpstream::start([192, 0, 2, 1]);
    flaky.set(Behaviour::Silent);
    let good = FakeUpstream::start([192, 0, 2, 2]);
    let server = server(
        &[&flaky, &good],
        "    policy sequential\n    max_fails 1\n    health_check 100ms",
    );
    assert_eq!(lookup(server.addr, "first.example."), answered("192.0.2.2"));
    // Now down: the next query goes straight to the healthy upstream, with no timeout.
    let started = Instant::now();
    assert_eq!(
        lookup(server.addr, "second.example."),
        answered("192.0.2.2")
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // It recovers; the probe (. NS) notices and it is first again.
    flaky.set(Behaviour::Answer);
    wait_for(
        Duration::from_secs(5),
        "the recovered upstream to be used",
        || lookup(server.addr, "third.example.") == answered("192.0.2.1"),
    );
}

#[test]
fn round_robin_spreads_queries() {
    let a = FakeUpstream::start([192, 0, 2, 1]);
    let b = FakeUpstream::start([192, 0, 2, 2]);
    let server = server(&[&a, &b], "    policy round_robin");
    for i in 0..4 {
        lookup(server.addr, &format!("n{i}.example."));
    }
    assert_eq!((a.udp_queries(), b.udp_queries()), (2, 2));
}

#[test]
fn an_upstream_servfail_is_passed_on() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set(Behaviour::ServFail);
    let server = server(&[&up], "");
    assert_eq!(
        lookup(server.addr, "example.org.").0,
        ResponseCode::ServFail
    );
}

#[test]
fn tcp_connections_are_reused_within_expire() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let server = server(&[&up], "    force_tcp\n    expire 10s");
    for i in 0..3 {
        assert_eq!(
            lookup(server.addr, &format!("q{i}.example.")),
            answered("192.0.2.1")
        );
    }
    assert_eq!((up.tcp_queries(), up.tcp_connections()), (3, 1));
}

#[test]
fn with_expire_zero_every_query_opens_a_connection() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let server = server(&[&up], "    force_tcp\n    expire 0s");
    for i in 0..3 {
        assert_eq!(
            lookup(server.addr, &format!("q{i}.example.")),
            answered("192.0.2.1")
        );
    }
    assert_eq!((up.tcp_queries(), up.tcp_connections()), (3, 3));
}

#[test]
fn errors_consolidate_counts_matching_errors_into_one_line() {
    let silent = FakeUpstream::start([192, 0, 2, 1]);
    silent.set(Behaviour::Silent);
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  errors {{\n    consolidate 1s \"^plugin/forward: no upstream answered\" warning show_first\n  }}\n  forward . {} {{\n    read_timeout 100ms\n    max_fails 0\n  }}\n}}\n",
            silent.addr
        ),
        &[],
    );
    for name in ["a.example.", "b.example.", "c.example."] {
        assert_eq!(lookup(server.addr, name).0, ResponseCode::ServFail);
    }
    wait_for(Duration::from_secs(5), "the summary line", || {
        server.log().contains(
            "[WARNING] plugin/errors: 3 errors like '^plugin/forward: no upstream answered' occurred in last 1s",
        )
    });
    let log = server.log();
    let full_lines = log
        .lines()
        .filter(|l| {
            l.starts_with("[ERROR] plugin/errors: 2 ") && l.contains("no upstream answered")
        })
        .count();
    assert_eq!(
        full_lines, 1,
        "only the first error in full (show_first):\n{log}"
    );
}

/// Unique names sent at once to a silent upstream in the flood below.
const FLOOD: u16 = 5000;

#[test]
fn a_flood_to_a_silent_upstream_is_bounded_by_the_default_max_concurrent() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set(Behaviour::Silent);
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  prometheus {metrics_addr}\n  forward . {}\n}}\n",
            up.addr
        ),
        &[],
    );
    let pid = server.pid();
    let scrape = |series: &str| {
        let (_, body) = http_get(metrics_addr, "/metrics").expect("GET /metrics");
        metric(&body, series).unwrap_or(-1.0)
    };
    let pending = format!(
        "clusterdns_pending_answers{{server=\"dns://{}\"}}",
        server.addr
    );
    let (fds_before, rss_before) = (open_fds(pid), rss_kib(pid));
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for id in 0..FLOOD {
        let query = query_bytes(&format!("n{id}.silent.example."), RecordType::A, id);
        client.send_to(&query, server.addr).expect("send");
    }
    // kubeadm's max_concurrent (1000) is the default: past it, REFUSED at once.
    wait_for(
        Duration::from_secs(5),
        "the queries past 1000 refused",
        || scrape("coredns_forward_max_concurrent_rejects_total") == f64::from(FLOOD) - 1000.0,
    );
    let (fds_during, rss_during) = (open_fds(pid), rss_kib(pid));
    assert!(
        fds_during <= fds_before + 1000 + 16,
        "a socket per waiting query, no more: {fds_before} → {fds_during} descriptors"
    );
    assert!(
        rss_during < rss_before + 16 * 1024,
        "no receive buffer per waiting query: {rss_before} → {rss_during} KiB"
    );
    // The waits end at the deadline (4.5 s) and give their sockets back.
    wait_for(Duration::from_secs(15), "the waits to end", || {
        scrape(&pending) == 0.0
    });
    let (fds_after, rss_after) = (open_fds(pid), rss_kib(pid));
    assert!(
        fds_after <= fds_before + 4,
        "descriptors given back: {fds_before} → {fds_after}"
    );
    assert!(
        rss_after < rss_before + 16 * 1024,
        "memory after the flood: {rss_before} → {rss_after} KiB"
    );
}

#[test]
fn failfast_all_unhealthy_upstreams_answers_servfail_without_asking_a_down_upstream() {
    for failfast in [false, true] {
        let up = FakeUpstream::start([192, 0, 2, 1]);
        up.set(Behaviour::Garbage);
        let options = if failfast {
            "    max_fails 1\n    failfast_all_unhealthy_upstreams"
        } else {
            "    max_fails 1"
        };
        let server = server(&[&up], options);
        assert_eq!(
            lookup(server.addr, "one.example.").0,
            ResponseCode::ServFail
        );
        assert_eq!(up.asked("one.example."), ["udp"]);
        // The only upstream is down now (one failure of max_fails 1).
        let started = Instant::now();
        assert_eq!(
            lookup(server.addr, "two.example.").0,
            ResponseCode::ServFail
        );
        if failfast {
            assert!(
                up.asked("two.example.").is_empty(),
                "not sent to a down upstream"
            );
            assert!(started.elapsed() < Duration::from_secs(1));
        } else {
            // CoreDNS's default: every upstream down, one is tried at random all the same.
            assert_eq!(up.asked("two.example."), ["udp"]);
        }
    }
}
