//! `acl` through the real binary: a loopback client blocked for A, filtered for AAAA, dropped
//! for TXT (no answer over UDP or TCP) and allowed for the rest.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::support::{
    TestServer, decode, query_bytes, raw_udp, tcp_connect, tcp_receive, tcp_send,
};

#[test]
fn policies_block_filter_drop_and_allow() {
    let corefile = ".:{PORT} {\n  bind 127.0.0.1\n  acl {\n    block type A net 127.0.0.0/8\n    filter type AAAA\n    drop type TXT net 127.0.0.1\n  }\n  whoami\n}\n";
    let server = TestServer::start(corefile, &[]);
    let ask = |qtype| {
        raw_udp(
            server.addr,
            &query_bytes("x.example.", qtype, 3),
            Duration::from_millis(800),
        )
        .map(|bytes| decode(&bytes))
    };
    let blocked = ask(RecordType::A).expect("a reply");
    assert_eq!(blocked.metadata.response_code, ResponseCode::Refused);
    let filtered = ask(RecordType::AAAA).expect("a reply");
    assert_eq!(filtered.metadata.response_code, ResponseCode::NoError);
    assert!(filtered.additionals.is_empty(), "not whoami's answer");
    assert!(ask(RecordType::TXT).is_none(), "dropped over UDP");
    let mut stream = tcp_connect(server.addr);
    tcp_send(&mut stream, &query_bytes("x.example.", RecordType::TXT, 4));
    tcp_send(&mut stream, &query_bytes("x.example.", RecordType::MX, 5));
    let reply = decode(&tcp_receive(&mut stream).expect("the MX answer"));
    assert_eq!(
        reply.metadata.id, 5,
        "the TXT question got nothing over TCP either"
    );
    let allowed = ask(RecordType::MX).expect("a reply");
    assert_eq!(allowed.additionals.len(), 2, "whoami answered");
}
