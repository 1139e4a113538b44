//! The TCP connection caps of a listener (`-max-tcp-connections`, a quarter of it per client
//! address): one client holding connections cannot starve another, and a full listener closes
//! an idle connection of the address holding the most to make room.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::support::{TestServer, decode, query_bytes, tcp_receive, tcp_send};

const MAX_CONNECTIONS: usize = 16;

fn server() -> TestServer {
    TestServer::start_with_flags(
        ".:{PORT} {\n  bind 127.0.0.1\n  hosts {\n    192.0.2.7 polite.example\n  }\n}\n",
        &[],
        &["-max-tcp-connections", &MAX_CONNECTIONS.to_string()],
    )
}

/// A connection to `server` from the loopback address `source`.
fn connect_from(source: IpAddr, server: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .expect("bind the source address");
    socket.connect(&server.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    stream
}

/// One query on `stream`; whether it was answered NOERROR.
fn answered(stream: &mut TcpStream, id: u16) -> bool {
    tcp_send(stream, &query_bytes("polite.example.", RecordType::A, id));
    tcp_receive(stream)
        .is_some_and(|reply| decode(&reply).metadata.response_code == ResponseCode::NoError)
}

/// `count` connections from `source`, each used once and then held open, idle.
fn hold(source: IpAddr, server: SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|i| {
            let mut stream = connect_from(source, server);
            // Over its share, this is where the address's own idle connections are closed.
            answered(&mut stream, i as u16);
            stream
        })
        .collect()
}

/// Queries of a polite client, each on a new connection, that were answered.
fn polite_answers(server: SocketAddr, queries: u16) -> u16 {
    let source = IpAddr::from([127, 0, 0, 99]);
    (0..queries)
        .filter(|id| answered(&mut connect_from(source, server), *id))
        .count() as u16
}

#[test]
fn one_greedy_address_cannot_take_the_service_from_a_polite_one() {
    let server = server();
    let greedy = IpAddr::from([127, 0, 0, 2]);
    let held = hold(greedy, server.addr, MAX_CONNECTIONS * 2);
    assert_eq!(polite_answers(server.addr, 20), 20, "{}", server.log());
    // The greedy address keeps its share, the newest of its connections, and they still work.
    let share = MAX_CONNECTIONS / 4;
    let mut newest: Vec<TcpStream> = held.into_iter().rev().take(share).collect();
    for (id, stream) in newest.iter_mut().enumerate() {
        assert!(
            answered(stream, id as u16),
            "the greedy address keeps {share}"
        );
    }
}

#[test]
fn a_full_listener_closes_an_idle_connection_of_the_greediest_address() {
    let server = server();
    // Four addresses take every connection between them.
    let _held: Vec<Vec<TcpStream>> = (2..6)
        .map(|last| {
            hold(
                IpAddr::from([127, 0, 0, last]),
                server.addr,
                MAX_CONNECTIONS / 4,
            )
        })
        .collect();
    assert_eq!(polite_answers(server.addr, 20), 20, "{}", server.log());
}
