//! The `dns64` plugin: RFC 6147 DNS64 for IPv6-only clients, as CoreDNS's `dns64` does. An
//! AAAA question (class IN, from an IPv6 client unless `allow_ipv4`) goes on down the chain;
//! when the answer has no AAAA record and is not NXDOMAIN (or always, with `translate_all`),
//! the name's A records are looked up through the whole server and returned as AAAA records
//! of the NAT64 prefix (RFC 6052), with the TTL of the A record capped by the SOA's of the
//! empty answer (600 s without one). A PTR question for an address inside the prefix is
//! answered with a CNAME to the IPv4 address's `in-addr.arpa` name, followed through the
//! server (RFC 6147 §5.3.1).

pub mod setup;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{AAAA, CNAME};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

pub use setup::Dns64Config;

use crate::plugin::{
    Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `dns64` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: Some(register),
    repeatable: false,
    requires: None,
};

const NAME: &str = "dns64";

/// The TTL of a synthesized answer when the empty answer had no SOA (RFC 6147 §5.1.7).
const DEFAULT_TTL: u32 = 600;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

/// `coredns_dns64_requests_translated_total{server}`.
#[derive(Debug, Default)]
pub struct Dns64Families {
    translated: Family<ServerLabel, Counter>,
}

fn register(registry: &mut Registry) -> Arc<dyn std::any::Any + Send + Sync> {
    let families = Dns64Families::default();
    registry.sub_registry_with_prefix("dns64").register(
        "requests_translated",
        "Counter of DNS requests translated by dns64.",
        families.translated.clone(),
    );
    Arc::new(families)
}

impl Setup for Dns64Config {
    fn start(self: Box<Self>, context: &StartContext) -> StartFuture<'_> {
        let translated = context.metrics.families::<Dns64Families>().map(|f| {
            f.translated
                .get_or_create(&ServerLabel {
                    server: context.server.clone(),
                })
                .clone()
        });
        started(Dns64 {
            config: *self,
            translated: translated.unwrap_or_default(),
        })
    }
}

/// The running plugin.
#[derive(Debug)]
pub struct Dns64 {
    config: Dns64Config,
    translated: Counter,
}

/// `v4` inside `prefix` of `len` bits, as RFC 6052 §2.2 lays it out (bits 64-71 zero).
pub fn embed(prefix: Ipv6Addr, len: u8, v4: Ipv4Addr) -> Ipv6Addr {
    let mut bytes = prefix.octets();
    let mut at = usize::from(len / 8);
    for octet in v4.octets() {
        if at == 8 {
            at += 1;
        }
        bytes[at] = octet;
        at += 1;
    }
    Ipv6Addr::from(bytes)
}

/// The IPv4 address `v6` embeds, if it is inside `prefix` of `len` bits.
pub fn extract(prefix: Ipv6Addr, len: u8, v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let mask = u128::MAX << (128 - u32::from(len));
    if u128::from(v6) & mask != u128::from(prefix) {
        return None;
    }
    let bytes = v6.octets();
    let mut at = usize::from(len / 8);
    let mut v4 = [0u8; 4];
    for octet in &mut v4 {
        if at == 8 {
            at += 1;
        }
        *octet = bytes[at];
        at += 1;
    }
    Some(Ipv4Addr::from(v4))
}

impl Dns64 {
    fn wants(&self, request: &Request) -> bool {
        request.qclass == DNSClass::IN
            && (self.config.allow_ipv4 || request.source.ip().to_canonical().is_ipv6())
    }

    /// Whether the answer to an AAAA question needs synthesis (RFC 6147 §5.1.1, §5.1.2).
    fn needs_synthesis(&self, answer: &Answer) -> bool {
        answer.rcode != ResponseCode::NXDomain
            && (self.config.translate_all
                || !answer
                    .answers
                    .iter()
                    .any(|r| r.record_type() == RecordType::AAAA))
    }

    /// The AAAA answer made of `found` (the A lookup), with TTLs capped by `soa_ttl`.
    fn synthesize(&self, found: Answer, soa_ttl: u32) -> Answer {
        let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
        answer.recursion_available = found.recursion_available;
        answer.authority = found.authority;
        answer.additional = found.additional;
        answer.answers = found
            .answers
            .into_iter()
            .map(|record| match &record.data {
                RData::A(a) => Record::from_rdata(
                    record.name.clone(),
                    record.ttl.min(soa_ttl),
                    RData::AAAA(AAAA(embed(self.config.prefix, self.config.prefix_len, a.0))),
                ),
                _ => record,
            })
            .collect();
        self.translated.inc();
        answer
    }

    fn aaaa(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let first = next.serve(request, resolver);
        let lookup = Request {
            qtype: RecordType::A,
            ..request.clone()
        };
        match first {
            Served::Ready(answer) if !self.needs_synthesis(&answer) => Served::Ready(answer),
            Served::Ready(answer) => {
                let soa_ttl = soa_ttl(&answer);
                let plugin = self.clone_config();
                resolver
                    .resolve(&lookup)
                    .map(move |found| plugin.synthesize(found, soa_ttl))
            }
            Served::Pending(pending) => {
                let plugin = self.clone_config();
                // The A lookup is made once the AAAA answer is in and shows it is needed.
                let Some(resolver) = resolver.detached() else {
                    // Only a resolver that cannot be kept (tests): the answer as it is.
                    return Served::Pending(pending);
                };
                Served::Pending(Box::pin(async move {
                    let answer = pending.await;
                    if !plugin.needs_synthesis(&answer) {
                        return answer;
                    }
                    let found = match resolver.resolve(&lookup) {
                        Served::Ready(found) => found,
                        Served::Pending(found) => found.await,
                    };
                    plugin.synthesize(found, soa_ttl(&answer))
                }))
            }
        }
    }

    fn clone_config(&self) -> Dns64 {
        Dns64 {
            config: self.config,
            translated: self.translated.clone(),
        }
    }

    /// A PTR question for an address of the prefix: a CNAME to its IPv4 reverse name.
    fn ptr(&self, request: &Request, resolver: &dyn Resolve) -> Option<Served> {
        let net = request.name.parse_arpa_name().ok()?;
        let (std::net::IpAddr::V6(v6), 128) = (net.addr(), net.prefix_len()) else {
            return None;
        };
        let v4 = extract(self.config.prefix, self.config.prefix_len, v6)?;
        let [a, b, c, d] = v4.octets();
        let target = Name::from_ascii(format!("{d}.{c}.{b}.{a}.in-addr.arpa.")).ok()?;
        let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
        answer.answers.push(Record::from_rdata(
            request.name.clone(),
            DEFAULT_TTL,
            RData::CNAME(CNAME(target.clone())),
        ));
        if request.has_passed(&target) {
            return Some(Served::Ready(answer));
        }
        Some(
            resolver
                .resolve(&request.derived(target, RecordType::PTR))
                .map(move |found| {
                    answer.rcode = found.rcode;
                    answer.answers.extend(found.answers);
                    answer.authority = found.authority;
                    answer
                }),
        )
    }
}

/// The TTL of the SOA of an (empty) answer, or 600 s.
fn soa_ttl(answer: &Answer) -> u32 {
    answer
        .authority
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .map_or(DEFAULT_TTL, |r| r.ttl)
}

impl Plugin for Dns64 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        match request.qtype {
            RecordType::AAAA if self.wants(request) => self.aaaa(request, next, resolver),
            RecordType::PTR => match self.ptr(request, resolver) {
                Some(served) => served,
                None => next.serve(request, resolver),
            },
            _ => next.serve(request, resolver),
        }
    }
}

#[cfg(test)]
mod tests;
