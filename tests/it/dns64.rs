//! `dns64` through the real binary, in front of `forward` (answers that wait on an upstream),
//! for an IPv4 client with `allow_ipv4`.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use crate::support::fake_upstream::FakeUpstream;
use crate::support::{TestServer, decode, free_port, http_get, metric, query_bytes, raw_udp};

fn ask(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    decode(&raw_udp(addr, &query_bytes(name, qtype, 6), Duration::from_secs(5)).expect("a reply"))
}

#[test]
fn an_outside_name_gets_synthesized_aaaa_records() {
    // The fake upstream answers every question with an A record: no AAAA for any name.
    let up = FakeUpstream::start([192, 0, 2, 33]);
    let metrics_port = free_port();
    let corefile = format!(
        ".:{{PORT}} {{\n  bind 127.0.0.1\n  prometheus 127.0.0.1:{metrics_port}\n  dns64 {{\n    allow_ipv4\n  }}\n  forward . {}\n}}\n",
        up.addr
    );
    let server = TestServer::start(&corefile, &[]);
    let reply = ask(server.addr, "v4only.example.", RecordType::AAAA);
    let answers: Vec<String> = reply.answers.iter().map(ToString::to_string).collect();
    assert_eq!(answers, ["v4only.example. 60 IN AAAA 64:ff9b::c000:221"]);
    assert_eq!(up.asked("v4only.example."), ["udp", "udp"], "AAAA, then A");
    let (_, body) =
        http_get(SocketAddr::from(([127, 0, 0, 1], metrics_port)), "/metrics").expect("metrics");
    assert_eq!(
        metric(
            &body,
            &format!(
                "coredns_dns64_requests_translated_total{{server=\"dns://127.0.0.1:{}\"}}",
                server.addr.port()
            )
        ),
        Some(1.0),
        "{body}"
    );
}
