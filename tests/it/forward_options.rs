//! `forward`'s `next`, `failover` and `max_connect_attempts` through the real binary, against
//! scripted upstreams on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::fake_upstream::{Behaviour, FakeUpstream};
use crate::support::{TestServer, decode, query_bytes, raw_udp};

fn ask(addr: SocketAddr, name: &str) -> Message {
    decode(
        &raw_udp(
            addr,
            &query_bytes(name, RecordType::A, 7),
            Duration::from_secs(6),
        )
        .expect("reply"),
    )
}

fn answers(message: &Message) -> Vec<String> {
    message.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn next_hands_an_nxdomain_to_the_second_forward() {
    let first = FakeUpstream::start([192, 0, 2, 1]);
    first.set(Behaviour::NxDomain);
    let second = FakeUpstream::start([192, 0, 2, 2]);
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  forward . {} {{\n    next NXDOMAIN\n  }}\n  forward . {}\n}}\n",
            first.addr, second.addr
        ),
        &[],
    );
    assert_eq!(answers(&ask(server.addr, "split.example.")), ["192.0.2.2"]);
    assert_eq!(first.asked("split.example."), ["udp"]);
    assert_eq!(second.asked("split.example."), ["udp"]);
}

#[test]
fn failover_asks_the_next_upstream_on_servfail() {
    let first = FakeUpstream::start([192, 0, 2, 1]);
    first.set(Behaviour::ServFail);
    let second = FakeUpstream::start([192, 0, 2, 2]);
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  forward . {} {} {{\n    policy sequential\n    failover SERVFAIL\n  }}\n}}\n",
            first.addr, second.addr
        ),
        &[],
    );
    assert_eq!(answers(&ask(server.addr, "over.example.")), ["192.0.2.2"]);
    // Both SERVFAIL: the last such answer comes back.
    second.set(Behaviour::ServFail);
    let both = ask(server.addr, "both.example.");
    assert_eq!(both.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(second.asked("both.example."), ["udp"]);
}

#[test]
fn max_connect_attempts_bounds_the_upstreams_asked() {
    let silent = FakeUpstream::start([192, 0, 2, 1]);
    silent.set(Behaviour::Silent);
    let second = FakeUpstream::start([192, 0, 2, 2]);
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  forward . {} {} {{\n    policy sequential\n    max_connect_attempts 1\n    read_timeout 300ms\n  }}\n}}\n",
            silent.addr, second.addr
        ),
        &[],
    );
    let reply = ask(server.addr, "once.example.");
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(second.asked("once.example.").is_empty(), "one attempt only");
}
