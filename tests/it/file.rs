//! `file` through the real binary: a zone with a wildcard beside the kubernetes plugin, and a
//! reload that serves the new serial and keeps the last good zone when the file breaks.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::{TestServer, decode, query_bytes, raw_udp};

fn zone(serial: u32, address: &str) -> String {
    format!(
        "$ORIGIN example.org.\n@ 3600 IN SOA ns.example.org. admin.example.org. {serial} 7200 3600 1209600 300\n@ IN NS ns\nns IN A 192.0.2.53\nwww IN A {address}\n* IN A 192.0.2.80\n"
    )
}

fn ask(addr: SocketAddr, name: &str) -> Message {
    decode(
        &raw_udp(
            addr,
            &query_bytes(name, RecordType::A, 2),
            Duration::from_secs(5),
        )
        .expect("reply"),
    )
}

fn answers(message: &Message) -> Vec<String> {
    message.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn a_zone_with_a_wildcard_is_served_and_reloaded_on_a_new_serial() {
    let corefile =
        ".:{PORT} {\n  bind 127.0.0.1\n  file example.db example.org {\n    reload 200ms\n  }\n}\n";
    let server = TestServer::start_with_files(corefile, &[("example.db", &zone(1, "192.0.2.1"))]);
    let www = ask(server.addr, "www.example.org.");
    assert_eq!(answers(&www), ["192.0.2.1"]);
    assert!(www.metadata.authoritative);
    assert_eq!(
        answers(&ask(server.addr, "anything.example.org.")),
        ["192.0.2.80"],
        "wildcard"
    );
    let outside = ask(server.addr, "example.com.");
    assert_eq!(
        outside.metadata.response_code,
        ResponseCode::ServFail,
        "outside the zone, and no plugin after file (CoreDNS's NextOrFailure)"
    );
    let missing = ask(server.addr, "a.b.ns.example.org.");
    assert_eq!(
        missing.metadata.response_code,
        ResponseCode::NXDomain,
        "below a name, no wildcard"
    );

    let path = server.dir().join("example.db");
    std::fs::write(&path, zone(2, "192.0.2.2")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while answers(&ask(server.addr, "www.example.org.")) != ["192.0.2.2"] {
        assert!(
            Instant::now() < deadline,
            "serial 2 not served:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A broken file is logged and the last good zone kept.
    std::fs::write(&path, "$ORIGIN example.org.\nwww IN A nonsense\n").expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .log()
        .contains("plugin/file: cannot reload zone example.org.")
    {
        assert!(
            Instant::now() < deadline,
            "no reload error:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        answers(&ask(server.addr, "www.example.org.")),
        ["192.0.2.2"]
    );
}

#[test]
fn a_zone_file_not_there_yet_is_servfail_until_it_appears() {
    // As CoreDNS: with `reload`, a file that cannot be read at start is a warning, not an error.
    let corefile = ".:{PORT} {\n  bind 127.0.0.1\n  file example.db example.org {\n    reload 200ms\n  }\n  whoami\n}\n";
    let server = TestServer::start_with_files(corefile, &[]);
    assert!(
        server
            .log()
            .contains("example.db: No such file or directory"),
        "{}",
        server.log()
    );
    assert_eq!(
        ask(server.addr, "www.example.org.").metadata.response_code,
        ResponseCode::ServFail,
        "the zone is known, its data not yet: not handed to the next plugin"
    );
    std::fs::write(server.dir().join("example.db"), zone(1, "192.0.2.1")).expect("write");
    crate::support::wait_for(Duration::from_secs(10), "the zone file to be read", || {
        answers(&ask(server.addr, "www.example.org.")) == ["192.0.2.1"]
    });
}
