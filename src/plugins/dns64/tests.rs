//! DNS64 in a chain whose next plugin knows `v4only.example.` (A only), `dual.example.` (A and
//! AAAA), NXDOMAIN for `none.example.`, and PTR `4.3.2.1.in-addr.arpa.`; the resolver is the
//! same chain, as the server is.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, PTR, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;
use crate::config::Corefile;
use crate::plugin::Chain;
use crate::plugin::testing::request;

struct Zone;

impl Plugin for Zone {
    fn name(&self) -> &'static str {
        "zone"
    }

    fn serve(&self, request: &Request, _next: Next<'_>, _resolver: &dyn Resolve) -> Served {
        let name = request.name.to_lowercase().to_ascii();
        let mut answer = Answer::rcode(ResponseCode::NoError, "zone");
        let data = match (name.as_str(), request.qtype) {
            ("none.example.", _) => {
                return Served::Ready(Answer::rcode(ResponseCode::NXDomain, "zone"));
            }
            ("v4only.example." | "dual.example.", RecordType::A) => {
                Some(RData::A(A(Ipv4Addr::new(192, 0, 2, 33))))
            }
            ("dual.example.", RecordType::AAAA) => {
                Some(RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))))
            }
            ("4.3.2.1.in-addr.arpa.", RecordType::PTR) => Some(RData::PTR(PTR(
                Name::from_ascii("host.example.").expect("name"),
            ))),
            _ => None,
        };
        match data {
            Some(data) => answer
                .answers
                .push(Record::from_rdata(request.name.clone(), 3600, data)),
            None => answer.authority.push(Record::from_rdata(
                Name::from_ascii("example.").expect("name"),
                120,
                RData::SOA(SOA::new(
                    Name::from_ascii("ns.example.").expect("name"),
                    Name::from_ascii("admin.example.").expect("name"),
                    1,
                    7200,
                    1800,
                    86400,
                    120,
                )),
            )),
        }
        Served::Ready(answer)
    }
}

struct Server(Chain);

impl Resolve for Server {
    fn resolve(&self, request: &Request) -> Served {
        self.0.serve(request, self)
    }
}

fn server(options: &str) -> Server {
    let core = Corefile::parse("Corefile", &format!(".:53 {{\n{options}\n}}\n"), Path::new("."))
        .expect("syntax");
    let config = setup::config(&core.blocks[0].directives[0]).expect("valid");
    Server(Chain::new(vec![
        Arc::new(Dns64 {
            config,
            translated: Counter::default(),
        }),
        Arc::new(Zone),
    ]))
}

fn ask(server: &Server, name: &str, qtype: RecordType, source: &str) -> Answer {
    let mut request = request(name, qtype);
    request.source = source.parse().expect("address");
    match server.resolve(&request) {
        Served::Ready(answer) => answer,
        Served::Pending(_) => panic!("answered at once"),
    }
}

fn texts(records: &[Record]) -> Vec<String> {
    records.iter().map(ToString::to_string).collect()
}

const V6_CLIENT: &str = "[2001:db8::99]:5353";
const V4_CLIENT: &str = "192.0.2.99:5353";

#[test]
fn rfc_6052_layouts() {
    let v4 = Ipv4Addr::new(192, 0, 2, 33);
    for (prefix, len, expected) in [
        ("64:ff9b::", 96, "64:ff9b::c000:221"),
        ("2001:db8::", 32, "2001:db8:c000:221::"),
        ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
        ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"),
    ] {
        let prefix: Ipv6Addr = prefix.parse().expect("prefix");
        let v6 = embed(prefix, len, v4);
        assert_eq!(v6.to_string(), expected, "/{len}");
        assert_eq!(extract(prefix, len, v6), Some(v4));
    }
}

#[test]
fn an_aaaa_question_without_aaaa_records_gets_the_synthesized_ones() {
    let server = server("dns64");
    let answer = ask(&server, "v4only.example.", RecordType::AAAA, V6_CLIENT);
    assert_eq!(answer.rcode, ResponseCode::NoError);
    assert_eq!(
        texts(&answer.answers),
        ["v4only.example. 120 IN AAAA 64:ff9b::c000:221"],
        "the A record's TTL capped by the empty answer's SOA"
    );
    let dual = ask(&server, "dual.example.", RecordType::AAAA, V6_CLIENT);
    assert_eq!(texts(&dual.answers), ["dual.example. 3600 IN AAAA 2001:db8::1"]);
    let none = ask(&server, "none.example.", RecordType::AAAA, V6_CLIENT);
    assert_eq!(none.rcode, ResponseCode::NXDomain, "NXDOMAIN is not translated");
    let v4_client = ask(&server, "v4only.example.", RecordType::AAAA, V4_CLIENT);
    assert!(v4_client.answers.is_empty(), "IPv4 clients only with allow_ipv4");
}

#[test]
fn options_translate_all_and_allow_ipv4() {
    let server = server("dns64 {\n  translate_all\n  allow_ipv4\n}");
    let dual = ask(&server, "dual.example.", RecordType::AAAA, V4_CLIENT);
    assert_eq!(
        texts(&dual.answers),
        ["dual.example. 600 IN AAAA 64:ff9b::c000:221"],
        "translate_all replaces real AAAA records; no SOA: at most 600 s"
    );
}

#[test]
fn a_ptr_question_inside_the_prefix_follows_the_ipv4_name() {
    let server = server("dns64");
    let answer = ask(
        &server,
        "4.0.3.0.2.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.",
        RecordType::PTR,
        V6_CLIENT,
    );
    assert_eq!(
        texts(&answer.answers),
        [
            "4.0.3.0.2.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa. 600 IN CNAME 4.3.2.1.in-addr.arpa.",
            "4.3.2.1.in-addr.arpa. 3600 IN PTR host.example."
        ]
    );
}
