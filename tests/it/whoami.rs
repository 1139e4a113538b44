//! `whoami` through the real binary: the client's address and port come back in the
//! additional section, with the transport the query came over.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use crate::support::{TestServer, decode, query_bytes};

fn corefile() -> &'static str {
    ".:{PORT} {\n  bind 127.0.0.1\n  whoami\n}\n"
}

#[test]
fn a_udp_client_learns_its_address_and_port() {
    let server = TestServer::start(corefile(), &[]);
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let port = client.local_addr().expect("addr").port();
    client
        .send_to(&query_bytes("Example.ORG.", RecordType::A, 7), server.addr)
        .expect("send");
    let mut buffer = [0u8; 512];
    let len = client.recv(&mut buffer).expect("a reply");
    let reply = decode(&buffer[..len]);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert!(reply.answers.is_empty());
    let additional: Vec<String> = reply.additionals.iter().map(ToString::to_string).collect();
    assert_eq!(
        additional,
        [
            "Example.ORG. 0 IN A 127.0.0.1".to_string(),
            format!("_udp.Example.ORG. 0 IN SRV 0 0 {port} ."),
        ]
    );
}

#[test]
fn a_tcp_client_is_told_tcp() {
    let server = TestServer::start(corefile(), &[]);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let port = stream.local_addr().expect("addr").port();
    let query = query_bytes("who.example.", RecordType::AAAA, 8);
    let length = u16::try_from(query.len()).expect("small").to_be_bytes();
    stream.write_all(&length).expect("write");
    stream.write_all(&query).expect("write");
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).expect("length");
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut reply).expect("reply");
    let reply = decode(&reply);
    let srv = reply
        .additionals
        .iter()
        .find_map(|r| match &r.data {
            RData::SRV(srv) => Some((r.name.to_string(), srv.port)),
            _ => None,
        })
        .expect("an SRV record");
    assert_eq!(srv, ("_tcp.who.example.".to_string(), port));
}
