//! The `any` plugin: a question of type ANY gets the minimal answer of RFC 8482 §4.2, one
//! HINFO record `"RFC8482" ""` with TTL 8482 owned by the question's name, as CoreDNS's `any`
//! gives it. Other questions go on to the next plugin.

pub mod setup;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::{RData, Record, RecordType};

pub use setup::AnyConfig;

use crate::plugin::{
    Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `any` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

const NAME: &str = "any";

impl Setup for AnyConfig {
    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        started(Any)
    }
}

/// The running plugin.
#[derive(Debug, Default)]
pub struct Any;

impl Plugin for Any {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        if request.qtype != RecordType::ANY {
            return next.serve(request, resolver);
        }
        let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
        answer.authoritative = true;
        answer.answers.push(Record::from_rdata(
            request.name.clone(),
            8482,
            RData::HINFO(HINFO::new("RFC8482".to_string(), String::new())),
        ));
        Served::Ready(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Chain, Transport};
    use hickory_proto::rr::{DNSClass, Name};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Instant;

    struct Refuser;

    impl Plugin for Refuser {
        fn name(&self) -> &'static str {
            "next"
        }

        fn serve(&self, _request: &Request, _next: Next<'_>, _resolver: &dyn Resolve) -> Served {
            Served::Ready(Answer::rcode(ResponseCode::Refused, "next"))
        }
    }

    struct NoResolver;

    impl Resolve for NoResolver {
        fn resolve(&self, _request: &Request) -> Served {
            panic!("nothing is resolved")
        }
    }

    fn ask(qtype: RecordType) -> Answer {
        let request = Request {
            id: 1,
            name: Name::from_ascii("Example.ORG.").expect("name"),
            qtype,
            qclass: DNSClass::IN,
            recursion_desired: true,
            checking_disabled: false,
            dnssec_ok: false,
            edns_udp_size: None,
            source: "10.0.0.9:5353".parse::<SocketAddr>().expect("addr"),
            transport: Transport::Udp,
            wire_size: 40,
            received_at: Instant::now(),
            aliases: Vec::new(),
        };
        match Chain::new(vec![Arc::new(Any), Arc::new(Refuser)]).serve(&request, &NoResolver) {
            Served::Ready(answer) => answer,
            Served::Pending(_) => panic!("answered at once"),
        }
    }

    #[test]
    fn any_gets_the_rfc_8482_hinfo_and_nothing_else_is_touched() {
        let any = ask(RecordType::ANY);
        let texts: Vec<String> = any.answers.iter().map(ToString::to_string).collect();
        // hickory prints HINFO's character-strings unquoted: CPU `RFC8482`, OS empty.
        assert_eq!(texts, ["Example.ORG. 8482 IN HINFO RFC8482 "]);
        assert!(any.authoritative);
        assert_eq!(ask(RecordType::A).plugin, "next");
    }
}
