//! Classes other than IN (`chaos`, and REFUSED where no plugin serves them), `bufsize` and `any`,
//! through the real binary.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

use crate::support::{TestServer, cluster_corefile, decode, raw_udp};

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  clusterIP: 10.96.0.20\n  ports:\n  - port: 80\n";

fn ask(
    addr: SocketAddr,
    name: &str,
    qtype: RecordType,
    class: DNSClass,
    edns: Option<u16>,
) -> Message {
    let mut query = Query::query(Name::from_ascii(name).expect("name"), qtype);
    query.set_query_class(class);
    let mut message = Message::query();
    message.metadata.id = 11;
    message.add_query(query);
    if let Some(size) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(size);
        message.edns = Some(opt);
    }
    decode(
        &raw_udp(
            addr,
            &message.to_vec().expect("encode"),
            Duration::from_secs(5),
        )
        .expect("a reply"),
    )
}

fn texts(message: &Message) -> Vec<String> {
    message.answers.iter().map(ToString::to_string).collect()
}

#[test]
fn chaos_answers_class_ch_and_nothing_else_does() {
    let corefile = ".:{PORT} {\n  bind 127.0.0.1\n  chaos clusterdns-test ann bob\n  kubernetes cluster.local {\n    manifests manifests\n  }\n}\n";
    let server = TestServer::start(corefile, &[("web.yaml", SERVICE)]);
    let version = ask(
        server.addr,
        "version.bind.",
        RecordType::TXT,
        DNSClass::CH,
        None,
    );
    assert_eq!(texts(&version), ["version.bind. 0 CH TXT clusterdns-test"]);
    let mut authors = texts(&ask(
        server.addr,
        "authors.bind.",
        RecordType::TXT,
        DNSClass::CH,
        None,
    ));
    authors.sort();
    assert_eq!(
        authors,
        ["authors.bind. 0 CH TXT ann", "authors.bind. 0 CH TXT bob"]
    );
    let hostname = ask(
        server.addr,
        "hostname.bind.",
        RecordType::TXT,
        DNSClass::CH,
        None,
    );
    assert_eq!(hostname.answers.len(), 1);
    // A CH question for a cluster name is not answered with IN data.
    let cluster = ask(
        server.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        DNSClass::CH,
        None,
    );
    assert_eq!(cluster.metadata.response_code, ResponseCode::Refused);
    assert!(cluster.answers.is_empty());
    let web = ask(
        server.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        DNSClass::IN,
        None,
    );
    assert_eq!(
        texts(&web),
        ["web.default.svc.cluster.local. 5 IN A 10.96.0.20"]
    );
}

#[test]
fn without_a_plugin_for_the_class_it_is_refused() {
    let server = TestServer::start(&cluster_corefile(""), &[("web.yaml", SERVICE)]);
    for class in [DNSClass::CH, DNSClass::HS, DNSClass::ANY] {
        let reply = ask(
            server.addr,
            "web.default.svc.cluster.local.",
            RecordType::A,
            class,
            None,
        );
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::Refused,
            "{class:?}"
        );
    }
}

#[test]
fn bufsize_cuts_udp_answers_to_its_size() {
    let entries: String = (1..=50)
        .map(|i| format!("    192.0.2.{i} many.test\n"))
        .collect();
    let corefile = |bufsize: &str| {
        format!(".:{{PORT}} {{\n  bind 127.0.0.1\n  {bufsize}\n  hosts {{\n{entries}  }}\n}}\n")
    };
    let plain = TestServer::start(&corefile(""), &[]);
    let whole = ask(
        plain.addr,
        "many.test.",
        RecordType::A,
        DNSClass::IN,
        Some(1232),
    );
    assert!(!whole.metadata.truncation);
    assert_eq!(whole.answers.len(), 50);
    let limited = TestServer::start(&corefile("bufsize 512"), &[]);
    let cut = ask(
        limited.addr,
        "many.test.",
        RecordType::A,
        DNSClass::IN,
        Some(1232),
    );
    assert!(cut.metadata.truncation, "cut to 512 octets");
    let small = ask(
        limited.addr,
        "one.test.",
        RecordType::A,
        DNSClass::IN,
        Some(1232),
    );
    assert_eq!(small.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn any_answers_type_any_with_the_rfc_8482_record() {
    let server = TestServer::start(
        ".:{PORT} {\n  bind 127.0.0.1\n  any\n  kubernetes cluster.local {\n    manifests manifests\n  }\n}\n",
        &[("web.yaml", SERVICE)],
    );
    let any = ask(
        server.addr,
        "web.default.svc.cluster.local.",
        RecordType::ANY,
        DNSClass::IN,
        Some(1232),
    );
    assert_eq!(any.answers.len(), 1);
    assert_eq!(any.answers[0].record_type(), RecordType::HINFO);
    assert_eq!(any.answers[0].ttl, 8482);
    let a = ask(
        server.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        DNSClass::IN,
        None,
    );
    assert_eq!(
        texts(&a),
        ["web.default.svc.cluster.local. 5 IN A 10.96.0.20"]
    );
}
