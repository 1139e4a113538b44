//! Serving: zone match, AXFR refusal, qtype dispatch, NXDOMAIN/NODATA with one SOA,
//! fallthrough, the not-synced SERVFAIL, and following ExternalName CNAMEs.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use super::Kubernetes;
use super::answer::{self, Context, Lookup, ZoneCase, cname_record, soa_record};
use super::name;
use crate::config::args::is_reverse_zone;
use crate::plugin::chase;
use crate::plugin::{
    Answer, Next, Plugin, Request, Resolve, Served, StartupWait, records_worth_building,
};

/// The name plugins write in `Answer::plugin`.
const NAME: &str = "kubernetes";

/// The most labels a cluster name has under its zone (`_port._proto.service.namespace.svc`,
/// with room to spare): anything deeper is NXDOMAIN without parsing.
const MAX_CLUSTER_LABELS: usize = 8;


/// A label as the grammar accepts it: lowercase letters, digits, `-` and `_`.
fn plain_label(label: &[u8]) -> Option<&str> {
    label
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
        .then(|| std::str::from_utf8(label).ok())
        .flatten()
}

impl Kubernetes {
    /// The most specific of our zones containing `name`.
    fn zone_for(&self, name: &Name) -> Option<&Name> {
        self.config
            .zones
            .iter()
            .filter(|z| z.zone_of(name))
            .max_by_key(|z| z.num_labels())
    }

    fn lookup(&self, request: &Request, zone: &Name, zone_case: &ZoneCase<'_>) -> Lookup {
        let lower = request.name.to_lowercase();
        if is_reverse_zone(zone) {
            return match lower.parse_arpa_name() {
                Ok(net) if net.prefix_len() == net.max_prefix_len() => answer::reverse_lookup(
                    &self.index,
                    &self.config,
                    &request.name,
                    &net.addr(),
                    request.qtype,
                ),
                _ if lower.num_labels() == zone.num_labels() => {
                    apex_of_reverse(&self.index, &self.config, zone_case.get(), request.qtype)
                }
                _ => Lookup::NxDomain,
            };
        }
        let relative = usize::from(lower.num_labels() - zone.num_labels());
        // No cluster name has more labels under the zone than this; deeper names do not exist.
        let mut labels: [&str; MAX_CLUSTER_LABELS] = [""; MAX_CLUSTER_LABELS];
        if relative > MAX_CLUSTER_LABELS {
            return Lookup::NxDomain;
        }
        for (slot, label) in labels.iter_mut().zip(lower.iter().take(relative)) {
            match plain_label(label) {
                Some(text) => *slot = text,
                None => return Lookup::NxDomain,
            }
        }
        let ctx = Context {
            index: &self.index,
            config: &self.config,
            qname: &request.name,
            zone: zone_case,
            own_addresses: &self.own_addresses,
            max_records: records_worth_building(request.response_limit()),
        };
        answer::lookup(&ctx, name::parse(&labels[..relative]), request.qtype)
    }

    fn negative(&self, rcode: ResponseCode, zone_case: &Name) -> Answer {
        let mut answer = Answer::rcode(rcode, NAME);
        answer.authoritative = true;
        answer
            .authority
            .push(soa_record(&self.index, &self.config, zone_case));
        answer
    }
}


fn apex_of_reverse(
    index: &crate::cluster::ClusterIndex,
    config: &super::KubernetesConfig,
    zone_case: &Name,
    qtype: RecordType,
) -> Lookup {
    if qtype == RecordType::SOA {
        Lookup::Records {
            answers: vec![soa_record(index, config, zone_case)],
            additional: Vec::new(),
        }
    } else {
        Lookup::NoData
    }
}

impl Plugin for Kubernetes {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let Some(zone) = self.zone_for(&request.name) else {
            return next.serve(request, resolver);
        };
        if matches!(request.qtype, RecordType::AXFR | RecordType::IXFR) {
            // No `transfer` plugin: zone transfers are refused (CoreDNS; RFC 5936 §4.2).
            return Served::Ready(Answer::rcode(ResponseCode::Refused, NAME));
        }
        let zone_case = ZoneCase::new(&request.name, zone.num_labels());
        match self.lookup(request, zone, &zone_case) {
            Lookup::Records {
                answers,
                additional,
            } => {
                let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
                answer.authoritative = true;
                answer.answers = answers;
                answer.additional = additional;
                Served::Ready(answer)
            }
            Lookup::NoData => Served::Ready(self.negative(ResponseCode::NoError, zone_case.get())),
            Lookup::NxDomain => {
                if self.config.falls_through(&request.name) && !next.is_empty() {
                    return next.serve(request, resolver);
                }
                if !self.index.is_synced() {
                    // Before the first sync a name error may be wrong: never let resolvers
                    // cache it (CoreDNS handler.go).
                    return Served::Ready(self.negative(ResponseCode::ServFail, zone_case.get()));
                }
                Served::Ready(self.negative(ResponseCode::NXDomain, zone_case.get()))
            }
            Lookup::Alias(target) => {
                let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
                answer.authoritative = true;
                answer
                    .answers
                    .push(cname_record(&request.name, &target, self.config.ttl));
                if request.qtype == RecordType::CNAME {
                    return Served::Ready(answer);
                }
                // Spec §2.5 and RFC 1034: the CNAME is always there; the target's records
                // follow when someone in this server can answer them.
                chase::follow(answer, target, request, resolver)
            }
        }
    }

    fn ready(&self) -> bool {
        self.index.is_synced()
    }

    fn startup_wait(&self, request: &Request) -> Option<StartupWait> {
        if self.index.is_synced()
            || tokio::time::Instant::now() >= self.wait_until
            || self.zone_for(&request.name).is_none()
        {
            return None;
        }
        let (index, deadline) = (self.index.clone(), self.wait_until);
        Some(Box::pin(async move {
            let _ = tokio::time::timeout_at(deadline, index.wait_synced()).await;
        }))
    }
}
