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
    use crate::plugin::Chain;
    use crate::plugin::testing::{NoResolver, Through, answer, request};
    use std::sync::Arc;

    fn ask(qtype: RecordType) -> Answer {
        let chain = Chain::new(vec![Arc::new(Any), Arc::new(Through)]);
        answer(&chain, &request("Example.ORG.", qtype), &NoResolver)
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
