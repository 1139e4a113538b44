//! The `k8s_external` plugin: the external addresses of Services (`spec.externalIPs` and the
//! load balancer's `status.loadBalancer.ingress[].ip`) under zones of their own, as CoreDNS's
//! `k8s_external` answers them from the `kubernetes` plugin's data:
//! `<service>.<namespace>.<zone>` A and AAAA, `_<port>._<proto>.<service>.<namespace>.<zone>`
//! SRV, with `headless` the ready endpoints of headless Services (and `<endpoint>.<service>…`),
//! and the zone's own SOA, NS and `ns1.<apex>.<zone>` records at the apex.

pub mod setup;

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

pub use setup::ExternalConfig;

use crate::cluster::{AddressFamily, ClusterView, Service, ServicePort};
use crate::plugin::chase;
use crate::plugin::{
    Answer, BlockShared, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext,
    StartFuture, records_worth_building, started,
};
use crate::plugins::kubernetes::name::dashed_ip;

/// `k8s_external` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: Some("kubernetes"),
};

const NAME: &str = "k8s_external";

/// The SOA serial, static as CoreDNS's.
const SERIAL: u32 = 12345;

impl Setup for ExternalConfig {
    fn start(self: Box<Self>, context: &StartContext) -> StartFuture<'_> {
        started(External {
            config: *self,
            block: context.block.clone(),
        })
    }
}

/// The running plugin.
#[derive(Debug)]
pub struct External {
    config: ExternalConfig,
    /// Where the block's `kubernetes` plugin shares its cluster (set when it starts).
    block: Arc<BlockShared>,
}

/// What a name under the zone asks for.
enum Target<'a> {
    /// `<namespace>.<zone>`.
    Namespace(&'a str),
    /// `[_port._proto.][endpoint.]<service>.<namespace>.<zone>`.
    Service {
        namespace: &'a str,
        service: &'a str,
        endpoint: Option<&'a str>,
        port: Option<(&'a str, &'a str)>,
    },
}

impl External {
    fn soa(&self, zone: &Name) -> Record {
        let apex = self.apex(zone);
        let mname = Name::from_ascii("ns1")
            .and_then(|n| n.append_domain(&apex))
            .unwrap_or_else(|_| zone.clone());
        let rname = Name::from_ascii("hostmaster")
            .and_then(|n| n.append_domain(zone))
            .unwrap_or_else(|_| zone.clone());
        Record::from_rdata(
            zone.clone(),
            self.config.ttl,
            RData::SOA(SOA::new(
                mname,
                rname,
                SERIAL,
                14400,
                3600,
                604800,
                self.config.ttl,
            )),
        )
    }

    /// `<apex>.<zone>`.
    fn apex(&self, zone: &Name) -> Name {
        Name::from_ascii(&self.config.apex)
            .and_then(|n| n.append_domain(zone))
            .unwrap_or_else(|_| zone.clone())
    }

    fn negative(&self, rcode: ResponseCode, zone: &Name) -> Answer {
        let mut answer = Answer::rcode(rcode, NAME);
        answer.authoritative = true;
        answer.authority.push(self.soa(zone));
        answer
    }

    fn address(&self, owner: &Name, ip: IpAddr) -> Record {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        Record::from_rdata(owner.clone(), self.config.ttl, data)
    }

    /// Answers at the zone's apex and under `<apex>.<zone>`.
    fn apex_answer(&self, request: &Request, zone: &Name, view: &ClusterView) -> Answer {
        let ns_name = Name::from_ascii("ns1")
            .and_then(|n| n.append_domain(&self.apex(zone)))
            .unwrap_or_else(|_| zone.clone());
        let own = |answer: &mut Answer, qtype: Option<RecordType>| {
            for ip in &view.own_addresses {
                let record = self.address(&ns_name, *ip);
                if qtype.is_none_or(|t| t == record.record_type()) {
                    answer.additional.push(record);
                }
            }
        };
        let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
        answer.authoritative = true;
        if request.name == *zone {
            match request.qtype {
                RecordType::SOA => answer.answers.push(self.soa(zone)),
                RecordType::NS => {
                    answer.answers.push(Record::from_rdata(
                        zone.clone(),
                        self.config.ttl,
                        RData::NS(NS(ns_name.clone())),
                    ));
                    own(&mut answer, None);
                }
                _ => answer.authority.push(self.soa(zone)),
            }
            return answer;
        }
        if request.name != ns_name {
            return self.negative(ResponseCode::NXDomain, zone);
        }
        match request.qtype {
            RecordType::A | RecordType::AAAA => {
                own(&mut answer, Some(request.qtype));
                answer.answers = std::mem::take(&mut answer.additional);
                if answer.answers.is_empty() {
                    answer.authority.push(self.soa(zone));
                }
            }
            _ => answer.authority.push(self.soa(zone)),
        }
        answer
    }

    fn target<'a>(labels: &'a [String]) -> Option<Target<'a>> {
        match labels {
            [namespace] => Some(Target::Namespace(namespace)),
            [service, namespace] => Some(Target::Service {
                namespace,
                service,
                endpoint: None,
                port: None,
            }),
            [endpoint, service, namespace] => Some(Target::Service {
                namespace,
                service,
                endpoint: Some(endpoint),
                port: None,
            }),
            [port, proto, service, namespace] => Some(Target::Service {
                namespace,
                service,
                endpoint: None,
                port: Some((port.strip_prefix('_')?, proto.strip_prefix('_')?)),
            }),
            _ => None,
        }
    }

    /// The addresses a Service answers with under the external zone (its endpoint's, with
    /// `headless` and an endpoint label), with the ports that match; at most `limit` of a
    /// headless Service's, so a Service of 100,000 endpoints costs no more than the largest
    /// answer the client takes.
    fn addresses(
        &self,
        view: &ClusterView,
        service: &Service,
        endpoint: Option<&str>,
        qtype: RecordType,
        limit: usize,
    ) -> Vec<IpAddr> {
        if !service.external.is_empty() {
            return if endpoint.is_some() {
                Vec::new()
            } else {
                service.external.to_vec()
            };
        }
        if !self.config.headless || !matches!(service.kind, crate::cluster::ServiceKind::Headless)
        {
            return Vec::new();
        }
        let key = crate::cluster::index::service_key(&service.name, &service.namespace);
        let Some(endpoints) = view.index.endpoints(&key) else {
            return Vec::new();
        };
        // An A or AAAA answer holds one family: count the limit in it (SRV's additional
        // section holds both).
        let ready: Box<dyn Iterator<Item = (IpAddr, &crate::cluster::Endpoint)>> = match qtype {
            RecordType::A => Box::new(endpoints.ready_of(AddressFamily::V4)),
            RecordType::AAAA => Box::new(endpoints.ready_of(AddressFamily::V6)),
            _ => Box::new(endpoints.ready()),
        };
        ready
            .filter(|(ip, ep)| {
                endpoint.is_none_or(|label| {
                    ep.hostname.as_deref() == Some(label) || dashed_ip(ip) == label
                })
            })
            .map(|(ip, _)| ip)
            .take(limit)
            .collect()
    }
}

fn port_matches(port: &ServicePort, wanted: (&str, &str)) -> bool {
    let (name, proto) = wanted;
    (name.is_empty() || name == "*" || *port.name == *name)
        && (proto.is_empty()
            || proto == "*"
            || proto.eq_ignore_ascii_case(port.protocol.label()))
}

impl Plugin for External {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let Some(zone) = self
            .config
            .zones
            .iter()
            .filter(|z| z.zone_of(&request.name))
            .max_by_key(|z| z.num_labels())
        else {
            return next.serve(request, resolver);
        };
        let Some(view) = self.block.cluster.get() else {
            return Served::Ready(Answer::server_failure(
                NAME,
                "no kubernetes plugin in this server block",
            ));
        };
        if request.name == *zone || self.apex(zone).zone_of(&request.name) {
            return Served::Ready(self.apex_answer(request, zone, view));
        }
        let relative = usize::from(request.name.num_labels() - zone.num_labels());
        let labels: Vec<String> = request
            .name
            .to_lowercase()
            .iter()
            .take(relative)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let found = match Self::target(&labels) {
            None => None,
            Some(Target::Namespace(namespace)) => view
                .namespace_exposed(namespace)
                .then(|| Served::Ready(self.negative(ResponseCode::NoError, zone))),
            Some(Target::Service {
                namespace,
                service,
                endpoint,
                port,
            }) => {
                if !view.namespace_exposed(namespace) {
                    None
                } else {
                    let key = crate::cluster::index::service_key(service, namespace);
                    view.index.service(&key).and_then(|svc| {
                        if let (None, None, true, Some(host)) = (
                            endpoint,
                            port,
                            svc.external.is_empty(),
                            svc.external_hostname.as_deref(),
                        ) {
                            return self.hostname_answer(request, host, resolver);
                        }
                        let limit = records_worth_building(request.response_limit());
                        let ips = self.addresses(view, &svc, endpoint, request.qtype, limit);
                        (!ips.is_empty()).then(|| self.records(request, zone, &svc, &ips, port))
                    })
                }
            }
        };
        match found {
            Some(served) => served,
            None if self.config.fallthrough.covers(&request.name) => {
                next.serve(request, resolver)
            }
            None => Served::Ready(self.negative(ResponseCode::NXDomain, zone)),
        }
    }
}

impl External {
    /// A load balancer known by name (AWS's): a CNAME to it, and for A and AAAA its addresses,
    /// looked up through the whole server (forward, cache), as CoreDNS answers it.
    fn hostname_answer(
        &self,
        request: &Request,
        host: &str,
        resolver: &dyn Resolve,
    ) -> Option<Served> {
        let target = Name::from_ascii(host).ok().map(|mut name| {
            name.set_fqdn(true);
            name
        })?;
        let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
        answer.authoritative = true;
        answer.answers.push(Record::from_rdata(
            request.name.clone(),
            self.config.ttl,
            RData::CNAME(CNAME(target.clone())),
        ));
        if !matches!(request.qtype, RecordType::A | RecordType::AAAA) {
            return Some(Served::Ready(answer));
        }
        Some(chase::follow(answer, target, request, resolver))
    }

    fn records(
        &self,
        request: &Request,
        zone: &Name,
        service: &Service,
        ips: &[IpAddr],
        port: Option<(&str, &str)>,
    ) -> Served {
        let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
        answer.authoritative = true;
        match (request.qtype, port) {
            (RecordType::A | RecordType::AAAA, None) => {
                for ip in ips {
                    let record = self.address(&request.name, *ip);
                    if record.record_type() == request.qtype {
                        answer.answers.push(record);
                    }
                }
            }
            (RecordType::SRV, _) => {
                let target = Name::from_labels([
                    service.name.as_bytes(),
                    service.namespace.as_bytes(),
                ])
                .and_then(|n| n.append_domain(zone))
                .unwrap_or_else(|_| request.name.clone());
                for p in service
                    .ports
                    .iter()
                    .filter(|p| port.is_none_or(|wanted| port_matches(p, wanted)))
                {
                    answer.answers.push(Record::from_rdata(
                        request.name.clone(),
                        self.config.ttl,
                        RData::SRV(SRV::new(0, 100, p.port, target.clone())),
                    ));
                }
                if !answer.answers.is_empty() {
                    for ip in ips {
                        answer.additional.push(self.address(&target, *ip));
                    }
                }
            }
            _ => {}
        }
        if answer.answers.is_empty() {
            answer.authority.push(self.soa(zone));
        }
        Served::Ready(answer)
    }
}

#[cfg(test)]
mod tests;
