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
use crate::support::netns::NetNs;
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

/// Start clusterdns on `COREFILE` (with `bind`, if given) in a server namespace with two
/// addresses per family on one interface, and check the source of every answer over
/// `addresses`.
fn check_sources(bind: &str, addresses: &[&str]) {
    let server_ns = NetNs::create("srcaddr");
    let client_ns = NetNs::create("client");
    server_ns.link("10.79.0.1/24", &client_ns, "10.79.0.9/24");
    server_ns.ip("addr add 10.79.0.2/24 dev veth0");
    server_ns.ip("addr add fd00:79::1/64 dev veth0 nodad");
    server_ns.ip("addr add fd00:79::2/64 dev veth0 nodad");
    client_ns.ip("addr add fd00:79::9/64 dev veth0 nodad");
    let _upstream = client_ns
        .run(|| FakeUpstream::start_on("10.79.0.9:53".parse().expect("addr"), [198, 51, 100, 4]));

    let mut clusterdns = server_ns.start_clusterdns(&COREFILE.replace("BIND", bind), &[], &[]);
    let first: SocketAddr = "10.79.0.1:53".parse().expect("addr");
    clusterdns.wait_until("server answering", || {
        ask_from(&client_ns, first, "local.test.").is_some()
    });

    for address in addresses {
        let server = SocketAddr::new(address.parse::<IpAddr>().expect("ip"), 53);
        for (name, answer) in [
            ("local.test.", "192.0.2.1"),
            ("example.org.", "198.51.100.4"),
        ] {
            let reply = ask_from(&client_ns, server, name);
            assert_eq!(
                reply,
                Some((server, vec![answer.to_string()])),
                "{name} asked at {server}:\n{}",
                clusterdns.log()
            );
        }
    }

    // A burst: the batches hold queries to both addresses, interleaved.
    let replies = client_ns.run(|| {
        let socket = UdpSocket::bind("0.0.0.0:0").expect("bind client");
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let targets: Vec<SocketAddr> = (0..64u16)
            .map(|i| format!("10.79.0.{}:53", 1 + i % 2).parse().expect("addr"))
            .collect();
        for (id, target) in targets.iter().enumerate() {
            let id = u16::try_from(id).expect("small id");
            socket
                .send_to(&query_bytes("local.test.", RecordType::A, id), target)
                .expect("send");
        }
        let mut replies = Vec::new();
        let mut buffer = [0u8; 2048];
        while let Ok((len, from)) = socket.recv_from(&mut buffer) {
            let id = decode(&buffer[..len]).metadata.id;
            replies.push((usize::from(id), from, targets[usize::from(id)]));
            if replies.len() == targets.len() {
                break;
            }
        }
        replies
    });
    assert_eq!(replies.len(), 64, "every query of the burst answered");
    for (id, from, asked) in replies {
        assert_eq!(from, asked, "query {id}");
    }
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
    let server_ns = NetNs::create("family");
    let client_ns = NetNs::create("client");
    server_ns.link("10.79.0.1/24", &client_ns, "10.79.0.9/24");
    server_ns.ip("addr add 10.79.0.2/24 dev veth0");
    server_ns.ip("addr add fd00:79::1/64 dev veth0 nodad");
    server_ns.ip("addr add fd00:79::2/64 dev veth0 nodad");
    client_ns.ip("addr add fd00:79::9/64 dev veth0 nodad");
    let _upstream = client_ns
        .run(|| FakeUpstream::start_on("10.79.0.9:53".parse().expect("addr"), [198, 51, 100, 4]));
    let mut clusterdns = server_ns.start_clusterdns(&COREFILE.replace("BIND", ""), &[], &[]);
    let first: SocketAddr = "10.79.0.1:53".parse().expect("addr");
    clusterdns.wait_until("server answering", || {
        ask_from(&client_ns, first, "local.test.").is_some()
    });

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
        let sent = targets.clone();
        let replies = client_ns.run(move || {
            let socket = UdpSocket::bind(client).expect("bind client");
            socket
                .set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
            for (id, target) in sent.iter().enumerate() {
                let id = u16::try_from(id).expect("small id");
                // Every fourth asks a name the upstream answers.
                let name = if id % 4 == 3 {
                    "example.org."
                } else {
                    "local.test."
                };
                socket
                    .send_to(&query_bytes(name, RecordType::A, id), target)
                    .expect("send");
            }
            let mut replies = Vec::new();
            let mut buffer = [0u8; 2048];
            while let Ok((len, from)) = socket.recv_from(&mut buffer) {
                let reply = decode(&buffer[..len]);
                let answers: Vec<String> =
                    reply.answers.iter().map(|r| r.data.to_string()).collect();
                replies.push((usize::from(reply.metadata.id), from, answers));
                if replies.len() == sent.len() {
                    break;
                }
            }
            replies
        });
        assert_eq!(
            replies.len(),
            targets.len(),
            "{client}: every query answered:\n{}",
            clusterdns.log()
        );
        for (id, from, answers) in replies {
            let asked = targets[id];
            assert_eq!(from, asked, "{client}: query {id}: source address");
            assert_eq!(
                from.is_ipv6(),
                asked.is_ipv6(),
                "{client}: query {id}: family"
            );
            let expected = if id % 4 == 3 {
                "198.51.100.4"
            } else {
                "192.0.2.1"
            };
            assert_eq!(answers, [expected], "{client}: query {id}");
        }
    }
}
