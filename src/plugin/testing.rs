//! What plugin tests share: a request as a client would send it, a next plugin that shows a
//! query got through, a resolver for plugins that must not resolve, and the answer of a chain
//! that answers at once.

use std::net::SocketAddr;
use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::{Answer, Chain, Next, Plugin, Request, Resolve, Served, Transport};

/// A UDP query for `name`/`qtype`, class IN, from 10.0.0.9:5353.
pub fn request(name: &str, qtype: RecordType) -> Request {
    Request {
        id: 1,
        name: Name::from_ascii(name).expect("name"),
        qtype,
        qclass: DNSClass::IN,
        recursion_desired: true,
        checking_disabled: false,
        dnssec_ok: false,
        edns_udp_size: None,
        source: "10.0.0.9:5353".parse::<SocketAddr>().expect("address"),
        transport: Transport::Udp,
        wire_size: 40,
        received_at: Instant::now(),
        aliases: Vec::new(),
    }
}

/// The last plugin of a test chain: NOERROR from "next", so that a query that got through
/// shows in `Answer::plugin`.
pub struct Through;

impl Plugin for Through {
    fn name(&self) -> &'static str {
        "next"
    }

    fn serve(&self, _request: &Request, _next: Next<'_>, _resolver: &dyn Resolve) -> Served {
        Served::Ready(Answer::rcode(ResponseCode::NoError, "next"))
    }
}

/// A resolver for plugins that must not resolve anything.
pub struct NoResolver;

impl Resolve for NoResolver {
    fn resolve(&self, _request: &Request) -> Served {
        panic!("nothing is resolved here")
    }
}

/// The answer `chain` gives `request` at once.
pub fn answer(chain: &Chain, request: &Request, resolver: &dyn Resolve) -> Answer {
    match chain.serve(request, resolver) {
        Served::Ready(answer) => answer,
        Served::Pending(_) => panic!("answered at once"),
    }
}
