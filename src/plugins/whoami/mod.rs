//! The `whoami` plugin: answers every query it receives with the client's address, port and
//! transport, as CoreDNS's does: an empty answer section, and in the additional section an A
//! (or AAAA) record of the client's address and an SRV record `_udp.NAME` (or `_tcp.NAME`)
//! whose port is the client's, all owned by the question's name with TTL 0.

pub mod setup;

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{Name, RData, Record};

pub use setup::WhoamiConfig;

use crate::plugin::{
    Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `whoami` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

impl Setup for WhoamiConfig {
    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        started(Whoami)
    }
}

/// The running plugin.
#[derive(Debug, Default)]
pub struct Whoami;

impl Plugin for Whoami {
    fn name(&self) -> &'static str {
        "whoami"
    }

    fn serve(&self, request: &Request, _next: Next<'_>, _resolver: &dyn Resolve) -> Served {
        let mut answer = Answer::rcode(ResponseCode::NoError, "whoami");
        answer.authoritative = true;
        // A client of a dual-stack socket arrives as `::ffff:a.b.c.d`: it asked over IPv4.
        let address = match request.source.ip().to_canonical() {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        answer
            .additional
            .push(Record::from_rdata(request.name.clone(), 0, address));
        let transport = format!("_{}", request.transport.as_str());
        let srv_name = Name::from_ascii(&transport)
            .and_then(|label| label.append_domain(&request.name))
            .unwrap_or_else(|_| request.name.clone());
        answer.additional.push(Record::from_rdata(
            srv_name,
            0,
            RData::SRV(SRV::new(0, 0, request.source.port(), Name::root())),
        ));
        Served::Ready(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Chain, Transport};
    use hickory_proto::rr::{DNSClass, RecordType};
    use std::net::SocketAddr;
    use std::time::Instant;

    struct NoResolver;

    impl Resolve for NoResolver {
        fn resolve(&self, _request: &Request) -> Served {
            panic!("whoami resolves nothing")
        }
    }

    fn ask(name: &str, source: &str, transport: Transport) -> Answer {
        let request = Request {
            id: 1,
            name: Name::from_ascii(name).expect("name"),
            qtype: RecordType::A,
            qclass: DNSClass::IN,
            recursion_desired: true,
            checking_disabled: false,
            dnssec_ok: false,
            edns_udp_size: None,
            source: source.parse::<SocketAddr>().expect("address"),
            transport,
            wire_size: 40,
            received_at: Instant::now(),
            aliases: Vec::new(),
        };
        let chain = Chain::new(vec![std::sync::Arc::new(Whoami)]);
        match chain.serve(&request, &NoResolver) {
            Served::Ready(answer) => answer,
            Served::Pending(_) => panic!("whoami answers at once"),
        }
    }

    fn texts(records: &[Record]) -> Vec<String> {
        records.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_client_address_port_and_transport_come_back_in_the_additional_section() {
        let answer = ask("Example.ORG.", "[::ffff:10.240.0.1]:40212", Transport::Udp);
        assert_eq!(answer.rcode, ResponseCode::NoError);
        assert!(answer.authoritative);
        assert!(answer.answers.is_empty());
        assert_eq!(
            texts(&answer.additional),
            [
                "Example.ORG. 0 IN A 10.240.0.1",
                "_udp.Example.ORG. 0 IN SRV 0 0 40212 .",
            ]
        );
        let answer = ask(".", "[fd00::7]:53000", Transport::Tcp);
        assert_eq!(
            texts(&answer.additional),
            [". 0 IN AAAA fd00::7", "_tcp. 0 IN SRV 0 0 53000 ."]
        );
    }
}
