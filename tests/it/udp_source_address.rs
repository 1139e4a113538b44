//! A server listening on every address (`.:53`, as kubeadm's Corefile) answers each UDP query
//! from the address it was sent to, even on a host with several addresses on one interface,
//! where the kernel would otherwise send from the first: the server's namespace has 10.79.0.1
//! and 10.79.0.2 (and fd00:79::1, fd00:79::2) on one veth, the client asks each in turn, for a
//! name answered at once (`hosts`) and one that waits on an upstream (`forward`), and in a burst
//! that mixes both addresses within one batch; then the same over IPv4 with `bind 0.0.0.0`
//! (the IPv4-only socket, `IP_PKTINFO`). Needs root and iproute2.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::support::fake_upstream::FakeUpstream;
use crate::support::netns::{NetNs, NsServer};
use crate::support::{decode, query_bytes};
use hickory_proto::rr::RecordType;

const COREFILE: &str = ".:53 {
    BIND
    hosts {
        192.0.2.1 local.test
        fallthrough
    }
    forward . 10.79.0.9
}
";

/// Ask `name` at `server` from a fresh socket; the reply's source address and its answers.
fn ask_from(
    client: &NetNs,
    server: SocketAddr,
    name: &'static str,
) -> Option<(SocketAddr, Vec<String>)> {
    client.run(move || {
        let bind: SocketAddr = if server.is_ipv6() {
            "[::]:0".parse().expect("addr")
        } else {
            "0.0.0.0:0".parse().expect("addr")
        };
        let socket = UdpSocket::bind(bind).expect("bind client");
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        socket
            .send_to(&query_bytes(name, RecordType::A, 77), server)
            .expect("send");
        let mut buffer = [0u8; 2048];
        let (len, from) = socket.recv_from(&mut buffer).ok()?;
        let answers = decode(&buffer[..len])
            .answers
            .iter()
            .map(|r| r.data.to_string())
            .collect();
        Some((from, answers))
    })
}

/// A server namespace with two addresses per family on one interface, running clusterdns on
/// `COREFILE` (with `bind`, if given), and a client namespace that also holds the upstream.
/// Fields drop in this order: the server, the upstream, then the namespaces.
struct Setup {
    clusterdns: NsServer,
    _upstream: FakeUpstream,
    client_ns: NetNs,
    _server_ns: NetNs,
}

fn start(bind: &str) -> Setup {
    let server_ns = NetNs::create("srcaddr");
    let client_ns = NetNs::create("client");
    server_ns.link("10.79.0.1/24", &client_ns, "10.79.0.9/24");
    server_ns.ip("addr add 10.79.0.2/24 dev veth0");
    server_ns.ip("addr add fd00:79::1/64 dev veth0 nodad");
    server_ns.ip("addr add fd00:79::2/64 dev veth0 nodad");
    client_ns.ip("addr add fd00:79::9/64 dev veth0 nodad");
    let upstream = client_ns
        .run(|| FakeUpstream::start_on("10.79.0.9:53".parse().expect("addr"), [198, 51, 100, 4]));
    let mut clusterdns = server_ns.start_clusterdns(&COREFILE.replace("BIND", bind), &[], &[]);
    let first: SocketAddr = "10.79.0.1:53".parse().expect("addr");
    clusterdns.wait_until("server answering", || {
        ask_from(&client_ns, first, "local.test.").is_some()
    });
    Setup {
        clusterdns,
        _upstream: upstream,
        client_ns,
        _server_ns: server_ns,
    }
}

/// The name query `id` of a burst asks: every fourth one the upstream answers.
fn burst_name(id: usize) -> (&'static str, &'static str) {
    if id % 4 == 3 {
        ("example.org.", "198.51.100.4")
    } else {
        ("local.test.", "192.0.2.1")
    }
}

/// Send one query to each of `targets` at once from one socket bound to `client` (query `id`
/// asks [`burst_name`]), then collect the replies: (id, source, answers).
fn burst(
    client_ns: &NetNs,
    client: &'static str,
    targets: &[SocketAddr],
) -> Vec<(usize, SocketAddr, Vec<String>)> {
    let targets = targets.to_vec();
    client_ns.run(move || {
        let socket = UdpSocket::bind(client).expect("bind client");
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        for (id, target) in targets.iter().enumerate() {
            let query = query_bytes(
                burst_name(id).0,
                RecordType::A,
                u16::try_from(id).expect("small id"),
            );
            socket.send_to(&query, target).expect("send");
        }
        let mut replies = Vec::new();
        let mut buffer = [0u8; 2048];
        while let Ok((len, from)) = socket.recv_from(&mut buffer) {
            let reply = decode(&buffer[..len]);
            let answers = reply.answers.iter().map(|r| r.data.to_string()).collect();
            replies.push((usize::from(reply.metadata.id), from, answers));
            if replies.len() == targets.len() {
                break;
            }
        }
        replies
    })
}

/// Check every reply of a burst to `targets`: all came, each from the address (and family)
/// asked, with its name's answer.
fn check_burst(setup: &Setup, client: &'static str, targets: &[SocketAddr]) {
    let replies = burst(&setup.client_ns, client, targets);
    assert_eq!(
        replies.len(),
        targets.len(),
        "{client}: every query of the burst answered:\n{}",
        setup.clusterdns.log()
    );
    for (id, from, answers) in replies {
        let asked = targets[id];
        assert_eq!(from, asked, "{client}: query {id}: source address");
        assert_eq!(
            from.is_ipv6(),
            asked.is_ipv6(),
            "{client}: query {id}: family"
        );
        assert_eq!(answers, [burst_name(id).1], "{client}: query {id}");
    }
}

/// Start clusterdns (with `bind`, if given) and check the source of every answer over
/// `addresses`, one query at a time, then in a burst over the two IPv4 addresses.
fn check_sources(bind: &str, addresses: &[&str]) {
    let setup = start(bind);
    for address in addresses {
        let server = SocketAddr::new(address.parse::<IpAddr>().expect("ip"), 53);
        for (name, answer) in [
            ("local.test.", "192.0.2.1"),
            ("example.org.", "198.51.100.4"),
        ] {
            let reply = ask_from(&setup.client_ns, server, name);
            assert_eq!(
                reply,
                Some((server, vec![answer.to_string()])),
                "{name} asked at {server}:\n{}",
                setup.clusterdns.log()
            );
        }
    }
    // A burst: the batches hold queries to both addresses, interleaved.
    let targets: Vec<SocketAddr> = (0..64)
        .map(|i| format!("10.79.0.{}:53", 1 + i % 2).parse().expect("addr"))
        .collect();
    check_burst(&setup, "0.0.0.0:0", &targets);
}

#[test]
fn answers_leave_from_the_address_the_query_was_sent_to() {
    check_sources("", &["10.79.0.1", "10.79.0.2", "fd00:79::1", "fd00:79::2"]);
}

#[test]
fn an_ipv4_only_wildcard_listener_does_the_same() {
    check_sources("bind 0.0.0.0", &["10.79.0.1", "10.79.0.2"]);
}

/// A wildcard listener serves IPv4 on a socket of its own and IPv6 on another: a dual-stack
/// client (one IPv6 socket that also reaches IPv4 addresses, v4-mapped) that sends a burst to an
/// IPv4 and an IPv6 address of the server, interleaved, gets every answer from the address and
/// family it asked, answered at once and after an upstream alike; so does a plain IPv4 client.
#[test]
fn a_wildcard_listener_answers_each_family_from_the_address_asked() {
    let setup = start("");
    // (client socket, addresses asked in turn): the mapped form is how a dual-stack socket
    // names an IPv4 peer, and the form its answer must come back from.
    let cases: [(&'static str, [&'static str; 2]); 2] = [
        ("[::]:0", ["[::ffff:10.79.0.2]:53", "[fd00:79::2]:53"]),
        ("0.0.0.0:0", ["10.79.0.2:53", "10.79.0.1:53"]),
    ];
    for (client, addresses) in cases {
        let targets: Vec<SocketAddr> = (0..64)
            .map(|i| addresses[i % 2].parse().expect("addr"))
            .collect();
        check_burst(&setup, client, &targets);
    }
}
