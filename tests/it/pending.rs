//! The bound on answers in flight per listener (`-max-pending`): with a silent upstream, a
//! flood of unique names leaves at most the bound waiting; the queries past it are REFUSED at
//! once and counted, memory stays flat, and what was held is given back when the waits end.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::support::fake_upstream::{Behaviour, FakeUpstream};
use crate::support::{
    TestServer, decode, free_port, http_get, metric, query_bytes, raw_udp, rss_kib, wait_for,
};

const MAX_PENDING: usize = 64;
const FLOOD: u16 = 3000;

#[test]
fn a_flood_waiting_on_a_silent_upstream_is_bounded_and_refused_past_the_limit() {
    let upstream = FakeUpstream::start([192, 0, 2, 1]);
    upstream.set(Behaviour::Silent);
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let server = TestServer::start_with_flags(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  prometheus {metrics_addr}\n  forward . {}\n}}\n",
            upstream.addr
        ),
        &[],
        &["-max-pending", &MAX_PENDING.to_string()],
    );
    let pid = server.pid();
    let label = format!("{{server=\"dns://{}\"}}", server.addr);
    let scrape = || {
        let (_, body) = http_get(metrics_addr, "/metrics").expect("GET /metrics");
        let value = |name: &str| metric(&body, &format!("{name}{label}")).unwrap_or(-1.0);
        (
            value("clusterdns_pending_answers"),
            value("clusterdns_pending_rejected_total"),
        )
    };
    let rss_before = rss_kib(pid);

    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut peak_in_flight = 0.0f64;
    for id in 0..FLOOD {
        let query = query_bytes(&format!("n{id}.flood.example."), RecordType::A, id);
        client.send_to(&query, server.addr).expect("send");
        if id % 500 == 499 {
            peak_in_flight = peak_in_flight.max(scrape().0);
        }
    }
    let refused = f64::from(FLOOD) - MAX_PENDING as f64;
    wait_for(
        Duration::from_secs(5),
        "every query past the bound to be refused",
        || {
            let (in_flight, rejected) = scrape();
            peak_in_flight = peak_in_flight.max(in_flight);
            rejected == refused
        },
    );
    assert_eq!(
        peak_in_flight, MAX_PENDING as f64,
        "answers in flight stop at the bound"
    );
    // Unbounded, the 3,000 waiting answers cost about 90 MB here (30 KB each); bounded, the
    // growth is the runtime's first-use allocations plus 64 answers.
    let rss_during = rss_kib(pid);
    assert!(
        rss_during < rss_before + 48 * 1024,
        "RSS {rss_before} KiB → {rss_during} KiB during the flood"
    );
    // While the bound is full, a client sees REFUSED at once, not a timeout.
    let reply = raw_udp(
        server.addr,
        &query_bytes("one-more.flood.example.", RecordType::A, 1),
        Duration::from_secs(1),
    )
    .expect("an immediate answer");
    assert_eq!(decode(&reply).metadata.response_code, ResponseCode::Refused);
    // The waits end at the forward deadline, and their places are given back.
    wait_for(
        Duration::from_secs(10),
        "the waiting answers to end",
        || scrape().0 == 0.0,
    );
    assert!(upstream.udp_queries() >= MAX_PENDING);
}
