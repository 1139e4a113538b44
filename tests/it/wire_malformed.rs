//! docs/bad-input.md, row by row: raw bytes over real sockets to the real binary. In every
//! row the server must stay up; each test ends by checking that it still answers.
//!
//! "Drop" rows send the bad message and then a good one from the same socket: both land on the
//! same worker in order, so the first reply must be the good one's.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::{TestServer, decode, query_bytes, raw_udp};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// A headless service with `n` ready endpoints: a big answer.
fn big_headless(n: usize) -> String {
    let mut text = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: default}\nspec: {clusterIP: None}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: big-1, namespace: default, labels: {kubernetes.io/service-name: big}}\naddressType: IPv4\nendpoints:\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "- addresses: [10.5.{}.{}]\n",
            i / 250,
            i % 250 + 1
        ));
    }
    text
}

const BASICS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.0.0.1}\n";

fn server() -> TestServer {
    TestServer::start(
        &crate::support::cluster_corefile("pods insecure"),
        &[
            ("basics.yaml", BASICS),
            ("big.yaml", &big_headless(100)),
            ("mid.yaml", &mid_headless()),
        ],
    )
}

/// 40 endpoints: about 700 bytes, more than 512 and less than 1232.
fn mid_headless() -> String {
    big_headless(40)
        .replace("name: big", "name: mid")
        .replace("big-1", "mid-1")
        .replace("service-name: big", "service-name: mid")
        .replace("10.5.", "10.6.")
}

// ---- message building ----

fn header(id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    [id, flags, qd, an, ns, ar]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn question(name: &[u8], qtype: u16, class: u16) -> Vec<u8> {
    let mut out = name.to_vec();
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out
}

/// An OPT RR: root owner, `udp` size, extended rcode 0, `version`, `flags` (DO and Z), options.
fn opt(udp: u16, version: u8, flags: u16, options: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&udp.to_be_bytes());
    out.push(0);
    out.push(version);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&(options.len() as u16).to_be_bytes());
    out.extend_from_slice(options);
    out
}

const RD: u16 = 0x0100;
const A: u16 = 1;
const IN: u16 = 1;

fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = header(id, RD, 1, 0, 0, 0);
    m.extend(question(&wire_name(name), qtype, IN));
    m
}

fn with_opt(id: u16, name: &str, qtype: u16, opt_rr: Vec<u8>) -> Vec<u8> {
    let mut m = header(id, RD, 1, 0, 0, 1);
    m.extend(question(&wire_name(name), qtype, IN));
    m.extend(opt_rr);
    m
}

fn reply(server: &TestServer, bytes: &[u8]) -> Message {
    decode(&raw_udp(server.addr, bytes, Duration::from_secs(2)).expect("a reply"))
}

fn rcode_of(bytes: &[u8]) -> u8 {
    bytes[3] & 0x0F
}

/// Send `bad` then a good query from one socket; the first reply must be the good one's.
fn assert_dropped(server: &TestServer, bad: &[u8]) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    socket.send_to(bad, server.addr).expect("send");
    socket
        .send_to(
            &query(0xBEEF, "web.default.svc.cluster.local.", A),
            server.addr,
        )
        .expect("send");
    let mut buffer = [0u8; 4096];
    let (len, _) = socket
        .recv_from(&mut buffer)
        .expect("the good query's reply");
    let first = decode(&buffer[..len]);
    assert_eq!(
        first.metadata.id, 0xBEEF,
        "the bad message got a reply: {first}"
    );
}

fn assert_alive(server: &TestServer) {
    let m = reply(server, &query(9, "web.default.svc.cluster.local.", A));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
}

// ---- rows ----

#[test]
fn row1_datagram_shorter_than_a_header_is_dropped() {
    let server = server();
    assert_dropped(&server, &[0x12, 0x34, 0x01]);
    assert_dropped(&server, &[0u8; 11]);
    assert_alive(&server);
}

#[test]
fn row2_a_response_is_dropped() {
    let server = server();
    let mut m = query(1, "web.default.svc.cluster.local.", A);
    m[2] |= 0x80;
    assert_dropped(&server, &m);
    assert_alive(&server);
}

#[test]
fn row4_unknown_opcodes_get_notimp_with_the_question() {
    let server = server();
    for opcode in [3u16, 4, 5, 6, 15] {
        let mut m = query(77, "web.default.svc.cluster.local.", A);
        m[2] = (m[2] & 0x87) | ((opcode as u8) << 3);
        let r = reply(&server, &m);
        assert_eq!(
            r.metadata.response_code,
            ResponseCode::NotImp,
            "opcode {opcode}"
        );
        assert_eq!(r.metadata.id, 77);
        assert_eq!(r.queries.len(), 1, "question echoed");
        assert!(r.edns.is_none(), "no OPT when the request had none");
    }
    let mut m = with_opt(
        78,
        "web.default.svc.cluster.local.",
        A,
        opt(1232, 0, 0, &[]),
    );
    m[2] = (m[2] & 0x87) | (6 << 3);
    let r = reply(&server, &m);
    assert_eq!(r.metadata.response_code, ResponseCode::NotImp);
    assert!(r.edns.is_some(), "OPT echoed when the request had one");
    assert_alive(&server);
}

#[test]
fn row5_no_question_is_formerr() {
    let server = server();
    let r = reply(&server, &header(5, RD, 0, 0, 0, 0));
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(r.metadata.id, 5);
    assert_alive(&server);
}

#[test]
fn row6_two_questions_are_formerr() {
    let server = server();
    let mut m = header(6, RD, 2, 0, 0, 0);
    m.extend(question(
        &wire_name("web.default.svc.cluster.local."),
        A,
        IN,
    ));
    m.extend(question(
        &wire_name("web.default.svc.cluster.local."),
        A,
        IN,
    ));
    assert_eq!(
        reply(&server, &m).metadata.response_code,
        ResponseCode::FormErr
    );
    assert_alive(&server);
}

#[test]
fn row7_counts_beyond_the_data_are_formerr_and_a_cut_question_is_dropped() {
    let server = server();
    let mut m = header(7, RD, 1, 2, 0, 0);
    m.extend(question(
        &wire_name("web.default.svc.cluster.local."),
        A,
        IN,
    ));
    let r = raw_udp(server.addr, &m, Duration::from_secs(2)).expect("a reply");
    assert_eq!(rcode_of(&r), 1, "FORMERR");
    // A record cut in the middle of its RDATA.
    let mut m = header(8, RD, 1, 0, 0, 1);
    m.extend(question(
        &wire_name("web.default.svc.cluster.local."),
        A,
        IN,
    ));
    m.extend([0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0]);
    let r = raw_udp(server.addr, &m, Duration::from_secs(2)).expect("a reply");
    assert_eq!(rcode_of(&r), 1, "FORMERR");
    // Cut inside the question name: nothing sensible to answer.
    let full = query(9, "web.default.svc.cluster.local.", A);
    assert_dropped(&server, &full[..20]);
    assert_alive(&server);
}

#[test]
fn row8_bad_compression_pointers_are_formerr() {
    let server = server();
    let cases: [(&str, Vec<u8>); 4] = [
        ("pointer to itself", vec![0xC0, 12]),
        ("pointer into the header", vec![0xC0, 2]),
        ("forward pointer", vec![1, b'a', 0xC0, 40]),
        ("pointer past the end", vec![0xC0, 0xFF]),
    ];
    for (what, name) in cases {
        let mut m = header(10, RD, 1, 0, 0, 0);
        m.extend(question(&name, A, IN));
        let r = raw_udp(server.addr, &m, Duration::from_secs(2))
            .unwrap_or_else(|| panic!("{what}: no reply"));
        assert_eq!(rcode_of(&r), 1, "{what}: FORMERR");
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), 10);
    }
    assert_alive(&server);
}

#[test]
fn row9_bad_labels_and_long_names_are_formerr() {
    let server = server();
    // Label type 0b01 (extended) and 0b10.
    for first in [0x41u8, 0x81] {
        let mut m = header(11, RD, 1, 0, 0, 0);
        m.extend(question(&[first, b'a', 0], A, IN));
        let r = raw_udp(server.addr, &m, Duration::from_secs(2)).expect("a reply");
        assert_eq!(rcode_of(&r), 1);
    }
    // 256+ octets in wire form.
    let mut name = Vec::new();
    for _ in 0..5 {
        name.push(63);
        name.extend_from_slice(&[b'x'; 63]);
    }
    name.push(0);
    let mut m = header(12, RD, 1, 0, 0, 0);
    m.extend(question(&name, A, IN));
    let r = raw_udp(server.addr, &m, Duration::from_secs(2)).expect("a reply");
    assert_eq!(rcode_of(&r), 1);
    assert_alive(&server);
}

#[test]
fn row10_odd_bytes_in_cluster_names_are_nxdomain_with_soa() {
    let server = server();
    let mut name = vec![3, b'a', 0, b'.', 4, b'w', b'.', b'e', b'b'];
    name.extend(wire_name("default.svc.cluster.local."));
    let mut m = header(13, RD, 1, 0, 0, 0);
    m.extend(question(&name, A, IN));
    let r = reply(&server, &m);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.authorities.len(), 1);
    assert_alive(&server);
}

#[test]
fn row13_classes_other_than_in_are_refused() {
    let server = server();
    for class in [
        3u16, /* CH */
        255,  /* ANY */
        254,  /* NONE */
        77,
    ] {
        let mut m = header(14, RD, 1, 0, 0, 0);
        m.extend(question(
            &wire_name("web.default.svc.cluster.local."),
            A,
            class,
        ));
        let r = raw_udp(server.addr, &m, Duration::from_secs(2)).expect("a reply");
        assert_eq!(rcode_of(&r), 5, "class {class}: REFUSED");
    }
    assert_alive(&server);
}

#[test]
fn row16_huge_edns_sizes_are_clamped_to_1232() {
    let server = server();
    let r = reply(
        &server,
        &with_opt(
            15,
            "big.default.svc.cluster.local.",
            A,
            opt(65535, 0, 0, &[]),
        ),
    );
    let edns = r.edns.as_ref().expect("OPT echoed");
    assert_eq!(edns.max_payload(), 1232);
    assert!(r.metadata.truncation, "100 A records do not fit 1232 bytes");
    let raw = raw_udp(
        server.addr,
        &with_opt(
            15,
            "big.default.svc.cluster.local.",
            A,
            opt(65535, 0, 0, &[]),
        ),
        Duration::from_secs(2),
    )
    .expect("reply");
    assert!(raw.len() <= 1232);
    // A tiny size counts as 512.
    let small = raw_udp(
        server.addr,
        &with_opt(16, "mid.default.svc.cluster.local.", A, opt(100, 0, 0, &[])),
        Duration::from_secs(2),
    )
    .expect("reply");
    assert!(small.len() <= 512);
    assert_alive(&server);
}

#[test]
fn row17_edns_version_above_zero_is_badvers() {
    let server = server();
    let r = reply(
        &server,
        &with_opt(
            17,
            "web.default.svc.cluster.local.",
            A,
            opt(1232, 1, 0, &[]),
        ),
    );
    // 16 is both BADVERS and BADSIG; hickory decodes it by the latter name.
    assert_eq!(
        u16::from(r.metadata.response_code),
        u16::from(ResponseCode::BADVERS)
    );
    assert!(r.answers.is_empty());
    assert_eq!(r.edns.as_ref().expect("our OPT").version(), 0);
    assert_alive(&server);
}

#[test]
fn row18_misplaced_or_repeated_opt_is_formerr() {
    let server = server();
    // Two OPT records.
    let mut m = header(18, RD, 1, 0, 0, 2);
    m.extend(question(
        &wire_name("web.default.svc.cluster.local."),
        A,
        IN,
    ));
    m.extend(opt(1232, 0, 0, &[]));
    m.extend(opt(1232, 0, 0, &[]));
    assert_eq!(
        rcode_of(&raw_udp(server.addr, &m, Duration::from_secs(2)).expect("reply")),
        1
    );
    // OPT in the answer section.
    let mut m = header(19, RD, 1, 1, 0, 0);
    m.extend(question(
        &wire_name("web.default.svc.cluster.local."),
        A,
        IN,
    ));
    m.extend(opt(1232, 0, 0, &[]));
    assert_eq!(
        rcode_of(&raw_udp(server.addr, &m, Duration::from_secs(2)).expect("reply")),
        1
    );
    // OPT with a non-root owner.
    let mut m = header(20, RD, 1, 0, 0, 1);
    m.extend(question(
        &wire_name("web.default.svc.cluster.local."),
        A,
        IN,
    ));
    let mut bad = opt(1232, 0, 0, &[]);
    bad.splice(0..1, wire_name("x."));
    m.extend(bad);
    assert_eq!(
        rcode_of(&raw_udp(server.addr, &m, Duration::from_secs(2)).expect("reply")),
        1
    );
    assert_alive(&server);
}

#[test]
fn row19_unknown_options_flags_and_z_are_ignored_and_not_echoed() {
    let server = server();
    // Option code 65001 with 2 bytes, EDNS Z flags 0x7FFF with DO, header Z bit (0x0040).
    let mut m = with_opt(
        21,
        "web.default.svc.cluster.local.",
        A,
        opt(1232, 0, 0xFFFF, &[0xFD, 0xE9, 0, 2, 1, 2]),
    );
    m[3] |= 0x40;
    let raw = raw_udp(server.addr, &m, Duration::from_secs(2)).expect("reply");
    assert_eq!(raw[3] & 0x40, 0, "Z cleared in the reply");
    let r = decode(&raw);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.answers.len(), 1);
    let edns = r.edns.as_ref().expect("OPT");
    assert!(
        edns.options().as_ref().is_empty(),
        "unknown option not echoed"
    );
    assert_eq!(edns.flags().z, 0, "unknown EDNS flags not echoed");
    assert!(edns.flags().dnssec_ok, "DO echoed (RFC 3225)");
    assert_alive(&server);
}

#[test]
fn row20_too_big_for_udp_is_truncated_and_whole_over_tcp() {
    let server = server();
    // No EDNS: 512 bytes. 40 A records (about 700 bytes) do not fit: TC, no partial RRset.
    let r = reply(&server, &query(22, "mid.default.svc.cluster.local.", A));
    assert!(r.metadata.truncation);
    assert!(r.answers.is_empty(), "an RRset is never cut in half");
    // With EDNS 1232 it fits.
    let r = reply(
        &server,
        &with_opt(
            23,
            "mid.default.svc.cluster.local.",
            A,
            opt(1232, 0, 0, &[]),
        ),
    );
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 40);
    // Over TCP the whole answer comes.
    let mut stream = crate::support::tcp_connect(server.addr);
    crate::support::tcp_send(&mut stream, &query(24, "big.default.svc.cluster.local.", A));
    let r = decode(&crate::support::tcp_receive(&mut stream).expect("reply"));
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 100);
    assert_alive(&server);
}

#[tokio::test]
async fn row20_hickory_client_retries_truncated_answers_over_tcp() {
    let server = server();
    let udp = crate::support::ask(
        server.addr,
        crate::support::Via::Udp,
        "big.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert!(udp.metadata.truncation);
    let tcp = crate::support::ask(
        server.addr,
        crate::support::Via::Tcp,
        "big.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(tcp.answers.len(), 100);
}

#[test]
fn row21_tcp_frames_shorter_than_a_header_close_the_connection() {
    let server = server();
    for len in [0usize, 11] {
        let mut stream = crate::support::tcp_connect(server.addr);
        crate::support::tcp_send(&mut stream, &vec![0u8; len]);
        assert!(
            crate::support::tcp_receive(&mut stream).is_none(),
            "length {len}: closed"
        );
    }
    assert_alive(&server);
}

#[test]
fn row22_a_frame_that_trickles_in_is_cut_off_by_the_read_timeout() {
    let server = server();
    let mut stream = crate::support::tcp_connect(server.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    // Announce 100 bytes, send 3, then stall.
    std::io::Write::write_all(&mut stream, &[0, 100, 1, 2, 3]).expect("write");
    let started = Instant::now();
    assert!(
        crate::support::tcp_receive(&mut stream).is_none(),
        "the server closes the connection"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_alive(&server);
}

#[test]
fn row24_pipelined_tcp_queries_are_all_answered() {
    let server = server();
    let mut stream = crate::support::tcp_connect(server.addr);
    let names = [
        "web.default.svc.cluster.local.",
        "nope.default.svc.cluster.local.",
        "big.default.svc.cluster.local.",
    ];
    for (id, name) in names.iter().enumerate() {
        crate::support::tcp_send(
            &mut stream,
            &query_bytes(name, RecordType::A, 100 + id as u16),
        );
    }
    let mut ids: Vec<u16> = (0..names.len())
        .map(|_| {
            decode(&crate::support::tcp_receive(&mut stream).expect("reply"))
                .metadata
                .id
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![100, 101, 102]);
    assert_alive(&server);
}

#[test]
fn row26_trailing_bytes_are_ignored() {
    let server = server();
    let mut m = query(26, "web.default.svc.cluster.local.", A);
    m.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let r = reply(&server, &m);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.answers.len(), 1);
}

#[test]
fn server_survives_a_burst_of_random_garbage() {
    let server = server();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..2000 {
        let mut packet = query(1, "web.default.svc.cluster.local.", A);
        // xorshift: flip some bytes of a valid query.
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state as usize) % packet.len();
            packet[i] = (state >> 32) as u8;
        }
        let _ = socket.send_to(&packet, server.addr);
    }
    assert_alive(&server);
    let addr: SocketAddr = server.addr;
    assert!(std::net::TcpStream::connect(addr).is_ok());
}

#[test]
fn row25_a_datagram_larger_than_the_receive_buffer_is_dropped() {
    let server = server();
    // A valid query padded with 5,000 trailing bytes: larger than any query, and than the
    // 4,096-octet buffer of each datagram of a batch. The kernel cuts it; we drop it.
    let mut huge = query(7, "web.default.svc.cluster.local.", A);
    huge.extend(std::iter::repeat_n(0u8, 5000));
    assert_dropped(&server, &huge);
    // Trailing bytes within the buffer are ignored (row 26): answered.
    let mut padded = query(8, "web.default.svc.cluster.local.", A);
    padded.extend(std::iter::repeat_n(0u8, 1000));
    assert_eq!(
        reply(&server, &padded).metadata.response_code,
        ResponseCode::NoError
    );
    assert_alive(&server);
}

#[test]
fn a_burst_of_queries_is_answered_query_by_query() {
    let server = server();
    // Rounds of 64 queries sent back to back from one socket: they reach the server in
    // batches, and every one gets its own answer. (64 stays well inside the kernel's default
    // socket buffers, so nothing is lost before the server sees it.)
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buffer = [0u8; 4096];
    for round in 0..5u16 {
        let ids: Vec<u16> = (round * 64..round * 64 + 64).collect();
        for id in &ids {
            let name = if id.is_multiple_of(3) {
                "nope.default.svc.cluster.local."
            } else {
                "web.default.svc.cluster.local."
            };
            socket
                .send_to(&query(*id, name, A), server.addr)
                .expect("send");
        }
        let mut seen = std::collections::HashSet::new();
        while seen.len() < ids.len() {
            let Ok((len, _)) = socket.recv_from(&mut buffer) else {
                break;
            };
            let message = decode(&buffer[..len]);
            let id = message.metadata.id;
            assert!(
                ids.contains(&id),
                "an answer to a query of this round: {id}"
            );
            assert!(seen.insert(id), "two answers for query {id}");
            let expected = if id.is_multiple_of(3) {
                ResponseCode::NXDomain
            } else {
                ResponseCode::NoError
            };
            assert_eq!(message.metadata.response_code, expected, "query {id}");
        }
        assert_eq!(
            seen.len(),
            ids.len(),
            "round {round}: {} of 64 answered",
            seen.len()
        );
    }
}

/// A query whose OPT record carries an option claiming 5 octets and holding 2 (hickory's
/// decoder warns of it and drops the options).
fn broken_edns_option(id: u16) -> Vec<u8> {
    let mut bytes = query_bytes("web.default.svc.cluster.local.", RecordType::A, id);
    // ARCOUNT 1, then the OPT record: root, type 41, size 1232, TTL 0, RDLENGTH 6,
    // option 10 (cookie) of length 5 with 2 octets.
    bytes[11] = 1;
    bytes.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 5, 1, 2]);
    bytes
}

#[test]
fn no_client_can_make_a_log_line_per_packet() {
    // No `log` here: the query log is one line per query by the operator's choice.
    let server = TestServer::start(
        ".:{PORT} {\n  bind 127.0.0.1\n  errors\n  hosts {\n    10.0.0.1 web.default.svc.cluster.local\n  }\n}\n",
        &[],
    );
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buffer = [0u8; 4096];
    for id in 0..2000u16 {
        client
            .send_to(&broken_edns_option(id), server.addr)
            .expect("send");
        // One at a time, so that none is lost to a full socket buffer.
        let _ = client.recv(&mut buffer);
    }
    let reply = raw_udp(
        server.addr,
        &query_bytes("web.default.svc.cluster.local.", RecordType::A, 1),
        Duration::from_secs(2),
    )
    .expect("still answers");
    assert_eq!(decode(&reply).metadata.response_code, ResponseCode::NoError);
    let lines = server.log().lines().count();
    assert!(
        lines < 40,
        "2,000 bad packets wrote {lines} log lines:\n{}",
        server.log().lines().take(20).collect::<Vec<_>>().join("\n")
    );
}
