//! The `chaos` plugin: answers TXT questions of class CH about the server, as CoreDNS's does:
//! `version.bind` and `version.server` the version, `authors.bind` the authors (in a random
//! order), `hostname.bind` and `id.server` the host name. Anything else goes on to the next
//! plugin.

pub mod setup;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use rand::seq::SliceRandom;

pub use setup::ChaosConfig;

use crate::plugin::{
    Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `chaos` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

const NAME: &str = "chaos";

impl Setup for ChaosConfig {
    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string());
        started(Chaos {
            config: *self,
            hostname: setup::trim(hostname),
        })
    }
}

/// The running plugin.
#[derive(Debug)]
pub struct Chaos {
    config: ChaosConfig,
    hostname: String,
}

impl Plugin for Chaos {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves_class(&self, class: DNSClass) -> bool {
        class == DNSClass::CH
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        if request.qclass != DNSClass::CH || request.qtype != RecordType::TXT {
            return next.serve(request, resolver);
        }
        let texts: Vec<&str> = match request.name.to_lowercase().to_ascii().as_str() {
            "authors.bind." => {
                let mut authors: Vec<&str> =
                    self.config.authors.iter().map(String::as_str).collect();
                authors.shuffle(&mut rand::rng());
                authors
            }
            "version.bind." | "version.server." => vec![&self.config.version],
            "hostname.bind." | "id.server." => vec![&self.hostname],
            _ => return next.serve(request, resolver),
        };
        let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
        for text in texts {
            let mut record = Record::from_rdata(
                request.name.clone(),
                0,
                RData::TXT(TXT::new(vec![text.to_string()])),
            );
            record.dns_class = DNSClass::CH;
            answer.answers.push(record);
        }
        Served::Ready(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Chain;
    use crate::plugin::testing::{NoResolver, answer, request};
    use std::sync::Arc;

    fn ask(name: &str, qtype: RecordType, qclass: DNSClass) -> Answer {
        let mut request = request(name, qtype);
        request.qclass = qclass;
        let chaos = Chaos {
            config: ChaosConfig {
                version: "clusterdns-test".into(),
                authors: vec!["ann".into(), "bob".into()],
            },
            hostname: "node-1".into(),
        };
        answer(&Chain::new(vec![Arc::new(chaos)]), &request, &NoResolver)
    }

    fn texts(answer: &Answer) -> Vec<String> {
        let mut texts: Vec<String> = answer.answers.iter().map(ToString::to_string).collect();
        texts.sort();
        texts
    }

    #[test]
    fn the_five_names_in_class_ch() {
        let version = ask("Version.Bind.", RecordType::TXT, DNSClass::CH);
        assert_eq!(texts(&version), ["Version.Bind. 0 CH TXT clusterdns-test"]);
        assert!(!version.authoritative, "as CoreDNS: no AA");
        assert_eq!(
            texts(&ask("version.server.", RecordType::TXT, DNSClass::CH)),
            ["version.server. 0 CH TXT clusterdns-test"]
        );
        assert_eq!(
            texts(&ask("authors.bind.", RecordType::TXT, DNSClass::CH)),
            ["authors.bind. 0 CH TXT ann", "authors.bind. 0 CH TXT bob"]
        );
        for name in ["hostname.bind.", "id.server."] {
            assert_eq!(
                texts(&ask(name, RecordType::TXT, DNSClass::CH)),
                [format!("{name} 0 CH TXT node-1")]
            );
        }
    }

    #[test]
    fn other_questions_go_on() {
        // Alone in the chain, what it passes on is REFUSED (CH) or SERVFAIL (IN: no plugin).
        assert_eq!(
            ask("version.bind.", RecordType::A, DNSClass::CH).rcode,
            ResponseCode::Refused
        );
        assert_eq!(
            ask("other.bind.", RecordType::TXT, DNSClass::CH).rcode,
            ResponseCode::Refused
        );
        assert_eq!(
            ask("version.bind.", RecordType::TXT, DNSClass::IN).rcode,
            ResponseCode::ServFail
        );
    }
}
