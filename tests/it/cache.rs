//! The `cache` plugin in front of `forward`, against a scripted upstream on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::fake_upstream::{Behaviour, FakeUpstream};
use crate::support::{
    TestServer, decode, free_port, http_get, metric, query_bytes, raw_udp, rss_kib, tcp_connect,
    tcp_receive, tcp_send,
};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

fn server(up: &FakeUpstream, cache: &str) -> TestServer {
    TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  {cache}\n  forward . {}\n}}\n",
            up.addr
        ),
        &[],
    )
}

fn ask(addr: SocketAddr, name: &str) -> Message {
    decode(
        &raw_udp(
            addr,
            &query_bytes(name, RecordType::A, 3),
            Duration::from_secs(5),
        )
        .expect("a reply"),
    )
}

fn ask_tcp(addr: SocketAddr, name: &str) -> Message {
    let mut stream = tcp_connect(addr);
    tcp_send(&mut stream, &query_bytes(name, RecordType::A, 4));
    decode(&tcp_receive(&mut stream).expect("a reply"))
}

#[test]
fn a_repeated_question_is_answered_from_the_cache() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let server = server(&up, "cache 30");
    let first = ask(server.addr, "www.example.org.");
    let second = ask(server.addr, "WWW.example.ORG.");
    assert_eq!(up.udp_queries(), 1, "the second came from the cache");
    assert_eq!(first.answers[0].data.to_string(), "192.0.2.1");
    assert_eq!(second.answers[0].data.to_string(), "192.0.2.1");
    assert_eq!(
        second.answers[0].name.to_ascii(),
        "WWW.example.ORG.",
        "the question's case"
    );
    assert!(
        second.answers[0].ttl <= 30,
        "capped by the cache TTL: {}",
        second.answers[0].ttl
    );
    assert!(!second.metadata.authoritative);
}

#[test]
fn do_and_cd_are_part_of_the_key() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let server = server(&up, "cache");
    ask(server.addr, "example.org.");
    let mut message = Message::query();
    message.metadata.id = 5;
    message.metadata.checking_disabled = true;
    message.add_query(Query::query(
        Name::from_ascii("example.org.").expect("name"),
        RecordType::A,
    ));
    let reply = raw_udp(
        server.addr,
        &message.to_vec().expect("encode"),
        Duration::from_secs(5),
    )
    .expect("reply");
    assert_eq!(decode(&reply).answers.len(), 1);
    assert_eq!(
        up.udp_queries(),
        2,
        "CD=1 is not served the CD=0 entry (CVE-2024-0874)"
    );
}

#[test]
fn nxdomain_is_cached_for_the_soa_minimum() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set(Behaviour::NxDomain);
    let server = server(&up, "cache");
    let first = ask(server.addr, "missing.example.");
    assert_eq!(first.metadata.response_code, ResponseCode::NXDomain);
    let second = ask(server.addr, "missing.example.");
    assert_eq!(second.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(up.udp_queries(), 1);
    assert!(
        second.authorities[0].ttl <= 10,
        "RFC 2308: min(SOA TTL, MINIMUM)"
    );
}

#[test]
fn disabled_zones_are_not_cached() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    let server = server(&up, "cache 30 {\n    disable success example.org\n  }");
    ask(server.addr, "a.example.org.");
    ask(server.addr, "a.example.org.");
    assert_eq!(up.udp_queries(), 2);
    ask(server.addr, "a.example.net.");
    ask(server.addr, "a.example.net.");
    assert_eq!(up.udp_queries(), 3, "other zones still cached");
}

#[test]
fn servfail_is_cached_only_briefly() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set(Behaviour::ServFail);
    let server = server(&up, "cache {\n    servfail 1s\n  }");
    assert_eq!(
        ask(server.addr, "flaky.example.").metadata.response_code,
        ResponseCode::ServFail
    );
    assert_eq!(
        ask(server.addr, "flaky.example.").metadata.response_code,
        ResponseCode::ServFail
    );
    assert_eq!(up.udp_queries(), 1);
    up.set(Behaviour::Answer);
    crate::support::wait_for(Duration::from_secs(5), "the SERVFAIL to expire", || {
        ask(server.addr, "flaky.example.").metadata.response_code == ResponseCode::NoError
    });
}

#[test]
fn serve_stale_verify_answers_only_after_the_refresh_failed() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set_ttl(1);
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  cache {{\n    success 1024 60 1\n    serve_stale 1m verify\n  }}\n  forward . {} {{\n    read_timeout 300ms\n  }}\n}}\n",
            up.addr
        ),
        &[],
    );
    assert_eq!(ask(server.addr, "stale.example.").answers[0].ttl, 1);
    up.set(Behaviour::Silent);
    // Once expired, a query refreshes first; the upstream is silent, so the stale answer comes
    // back with RFC 8767's TTL of 30 s.
    crate::support::wait_for(Duration::from_secs(10), "a stale answer", || {
        let m = ask(server.addr, "stale.example.");
        m.metadata.response_code == ResponseCode::NoError
            && m.answers.first().is_some_and(|r| r.ttl == 30)
    });
    assert!(
        up.udp_queries() >= 2,
        "a refresh was tried before serving stale"
    );
    // When the upstream answers again, fresh data replaces the stale entry.
    up.set(Behaviour::Answer);
    up.set_address([192, 0, 2, 7]);
    crate::support::wait_for(Duration::from_secs(10), "fresh data", || {
        ask(server.addr, "stale.example.")
            .answers
            .first()
            .is_some_and(|r| r.data.to_string() == "192.0.2.7")
    });
}

#[test]
fn serve_stale_immediate_answers_at_once_and_refreshes_behind() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set_ttl(1);
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  cache {{\n    success 1024 60 1\n    serve_stale 1m\n  }}\n  forward . {}\n}}\n",
            up.addr
        ),
        &[],
    );
    assert_eq!(ask(server.addr, "now.example.").answers[0].ttl, 1);
    // The upstream has new data and is slow: once expired, the stale answer comes back at once
    // (TTL 0, as CoreDNS's) while the refresh runs; then the new data is served.
    up.set_address([192, 0, 2, 7]);
    up.set(Behaviour::Slow(1500));
    crate::support::wait_for(Duration::from_secs(10), "a stale answer", || {
        let started = std::time::Instant::now();
        let m = ask(server.addr, "now.example.");
        m.answers
            .first()
            .is_some_and(|r| r.ttl == 0 && r.data.to_string() == "192.0.2.1")
            && started.elapsed() < Duration::from_millis(1000)
    });
    crate::support::wait_for(Duration::from_secs(10), "the refreshed answer", || {
        ask(server.addr, "now.example.")
            .answers
            .first()
            .is_some_and(|r| r.data.to_string() == "192.0.2.7")
    });
}

#[test]
fn keepttl_serves_the_stored_ttl() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set_ttl(20);
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  cache {{\n    keepttl\n  }}\n  forward . {}\n}}\n",
            up.addr
        ),
        &[],
    );
    assert_eq!(ask(server.addr, "kept.example.").answers[0].ttl, 20);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        ask(server.addr, "kept.example.").answers[0].ttl,
        20,
        "a second later, still the stored TTL"
    );
    assert_eq!(up.udp_queries(), 1, "from the cache");
}

#[test]
fn without_serve_stale_an_expired_answer_is_not_served_when_upstream_fails() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set_ttl(1);
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  cache {{\n    success 1024 60 1\n    servfail 0s\n  }}\n  forward . {} {{\n    read_timeout 300ms\n  }}\n}}\n",
            up.addr
        ),
        &[],
    );
    ask(server.addr, "gone.example.");
    up.set(Behaviour::Silent);
    crate::support::wait_for(Duration::from_secs(10), "SERVFAIL once expired", || {
        ask(server.addr, "gone.example.").metadata.response_code == ResponseCode::ServFail
    });
}

#[test]
fn prefetch_refreshes_a_popular_answer_before_it_expires() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set_ttl(3);
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  cache {{\n    success 1024 60 1\n    prefetch 1 1m 50%\n  }}\n  forward . {}\n}}\n",
            up.addr
        ),
        &[],
    );
    assert_eq!(
        ask(server.addr, "hot.example.").answers[0].data.to_string(),
        "192.0.2.1"
    );
    up.set_address([192, 0, 2, 2]);
    up.set(Behaviour::Slow(1500));
    // A prefetch goes upstream while the cache keeps answering with the old data; a plain miss
    // would make the client wait for the upstream instead.
    crate::support::wait_for(
        Duration::from_secs(10),
        "a refresh while old data is still served",
        || {
            let old = ask(server.addr, "hot.example.").answers[0].data.to_string() == "192.0.2.1";
            old && up.udp_queries() >= 2
        },
    );
    crate::support::wait_for(Duration::from_secs(5), "the refreshed answer", || {
        ask(server.addr, "hot.example.").answers[0].data.to_string() == "192.0.2.2"
    });
}

/// Records in each answer of the flood below: about 16 KB on the wire, just under the largest
/// answer the cache keeps (16 KiB), and about 270 KB as record objects.
const LARGE_ANSWER: u16 = 1000;

#[test]
fn large_answers_are_held_within_the_byte_bound() {
    let up = FakeUpstream::start([10, 1, 0, 0]);
    up.set(Behaviour::Large(LARGE_ANSWER));
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  prometheus {metrics_addr}\n  cache 300\n  forward . {}\n}}\n",
            up.addr
        ),
        &[],
    );
    let rss_before = rss_kib(server.pid());
    // 2,800 answers from 4 clients: 45 MB of wire octets, 750 MB as record objects.
    std::thread::scope(|scope| {
        for client in 0..4 {
            let addr = server.addr;
            scope.spawn(move || {
                let mut silent = 0;
                for i in (client..2800).step_by(4) {
                    // Under load a reply may be late or SERVFAIL; the bound is what is tested,
                    // but a server that stopped answering fails fast.
                    let reply = raw_udp(
                        addr,
                        &query_bytes(&format!("n{i}.large.example."), RecordType::A, 3),
                        Duration::from_secs(10),
                    );
                    silent = if reply.is_some() { 0 } else { silent + 1 };
                    assert!(silent < 3, "no reply to three queries in a row");
                }
            });
        }
    });
    let rss_after = rss_kib(server.pid());
    let (_, body) = http_get(metrics_addr, "/metrics").expect("GET /metrics");
    let entries = metric(
        &body,
        &format!(
            "coredns_cache_entries{{server=\"dns://{}\",type=\"success\",zones=\".\",view=\"\"}}",
            server.addr
        ),
    )
    .expect("the entries gauge");
    // 32 MiB for the success store: about 2,050 answers of 16 KB fit.
    assert!(
        (1000.0..2100.0).contains(&entries),
        "the byte bound, not the entry count (9,984), limits the store: {entries} entries"
    );
    assert!(
        rss_after < rss_before + 80 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    // A full store still keeps and serves a new answer.
    ask(server.addr, "last.large.example.");
    let asked = up.tcp_queries();
    let reply = ask_tcp(server.addr, "last.large.example.");
    assert_eq!(reply.answers.len(), usize::from(LARGE_ANSWER));
    assert_eq!(up.tcp_queries(), asked, "answered from the cache");
}

#[test]
fn a_chain_cut_short_is_not_kept_for_the_names_inside_it() {
    // Chasing `hop-1` reaches `hop-9` past the limit of eight CNAMEs, and `pong` from `ping`
    // closes a loop: those SERVFAILs belong to the chain asked, not to `hop-2` or `pong`.
    let chains = crate::support::external_name_chains(9);
    let server = TestServer::start(
        ".:{PORT} {\n  bind 127.0.0.1\n  cache 30\n  kubernetes cluster.local {\n    manifests manifests\n  }\n}\n",
        &[("chains.yaml", chains.as_str())],
    );
    let svc = |name: &str| format!("{name}.default.svc.cluster.local.");
    let first = ask(server.addr, &svc("hop-1"));
    assert_eq!(first.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(first.answers.len(), 9, "{first}");
    let second = ask(server.addr, &svc("hop-2"));
    assert_eq!(
        second.metadata.response_code,
        ResponseCode::NoError,
        "{second}"
    );
    assert_eq!(
        second.answers.len(),
        9,
        "eight CNAMEs and the address: {second}"
    );
    assert_eq!(
        ask(server.addr, &svc("ping")).metadata.response_code,
        ResponseCode::ServFail
    );
    let pong = ask(server.addr, &svc("pong"));
    let owners: Vec<String> = pong.answers.iter().map(|r| r.name.to_string()).collect();
    assert_eq!(owners, vec![svc("pong"), svc("ping")], "{pong}");
}

#[test]
fn the_first_reply_carries_the_ttl_it_is_cached_for() {
    let up = FakeUpstream::start([192, 0, 2, 1]);
    up.set_ttl(3600);
    let server = server(&up, "cache 30");
    let first = ask(server.addr, "long.example.org.");
    assert_eq!(first.answers.len(), 1);
    assert!(
        first.answers[0].ttl <= 30,
        "capped as the cache keeps it, as CoreDNS does: {}",
        first.answers[0].ttl
    );
}
