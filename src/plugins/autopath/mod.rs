//! The `autopath` plugin: when a pod's resolver starts its search walk
//! (`NAME.<ns>.svc.<zone>`, the first of the domains kubelet writes into the pod's
//! resolv.conf), walk the rest of the path here and answer the first name that exists, as a
//! CNAME from the asked name to it with its records: one query instead of one per search domain.
//! The client's namespace is that of the live pod at its source address, from the `kubernetes`
//! plugin's pod index (`pods verified`), which keeps an address and a shared namespace name per
//! pod and nothing else.

pub mod search;
pub mod setup;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

pub use setup::{AutoPathConfig, SearchSource};

use crate::config::ConfigError;
use crate::plugin::{
    Answer, BlockSettings, BlockShared, Chain, Definition, Next, Plugin, Request, Resolve,
    Served, Setup, StartContext, StartFuture, started,
};

/// `autopath` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: Some(register),
    repeatable: false,
    requires: None,
};

const NAME: &str = "autopath";

/// The TTL of the CNAME when the answer found has no record to take it from.
const FALLBACK_TTL: u32 = 5;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

/// `coredns_autopath_success_total{server}`.
#[derive(Debug, Default)]
pub struct AutoPathFamilies {
    success: Family<ServerLabel, Counter>,
}

fn register(registry: &mut Registry) -> Arc<dyn std::any::Any + Send + Sync> {
    let families = AutoPathFamilies::default();
    registry.sub_registry_with_prefix("autopath").register(
        "success",
        "Counter of requests that did autopath.",
        families.success.clone(),
    );
    Arc::new(families)
}

impl Setup for AutoPathConfig {
    fn check(&self, block: &BlockSettings) -> Result<(), ConfigError> {
        self.check_block(block)
    }

    fn start(self: Box<Self>, context: &StartContext) -> StartFuture<'_> {
        let success = context.metrics.families::<AutoPathFamilies>().map(|f| {
            f.success
                .get_or_create(&ServerLabel {
                    server: context.server.clone(),
                })
                .clone()
        });
        started(AutoPath {
            config: *self,
            block: context.block.clone(),
            success: success.unwrap_or_default(),
        })
    }
}

/// The running plugin.
#[derive(Debug)]
pub struct AutoPath {
    config: AutoPathConfig,
    /// Where the block's `kubernetes` plugin shares its pod index (set when it starts).
    block: Arc<BlockShared>,
    success: Counter,
}

/// How a step of the walk is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// By the plugins after this one (names of the cluster zone, as CoreDNS does).
    Next,
    /// As a client's query, through the whole server (cache, other server blocks): the names
    /// outside the cluster zone, answered as the client's own query for them would be.
    Resolver,
}

/// One name of the walk and how it is asked.
type Step = (Name, Route);

/// Where a walk stands after an answer.
enum Verdict {
    /// This is the answer to send.
    Done(Answer),
    /// Ask the next step.
    Continue,
}

impl AutoPath {
    /// The walk for `request`, when it is the first step of a client's search walk and the
    /// client is known; `None` for every other query (answered as without autopath).
    fn steps(&self, request: &Request) -> Option<Vec<Step>> {
        if request.depth() > 0
            || request.qclass != DNSClass::IN
            || !matches!(request.qtype, RecordType::A | RecordType::AAAA)
            || !self.config.zones.iter().any(|z| z.zone_of(&request.name))
        {
            return None;
        }
        let (path, cluster_zone): (Cow<'_, [Name]>, Option<&Name>) = match &self.config.source {
            SearchSource::File(domains) => (Cow::Borrowed(domains), None),
            SearchSource::Kubernetes { node_domains } => {
                let view = self.block.cluster.get()?;
                let zone = view
                    .zones
                    .iter()
                    .filter(|z| z.zone_of(&request.name))
                    .max_by_key(|z| z.num_labels())?;
                let ip = match request.source.ip() {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                    v4 => v4,
                };
                let namespace = view.index.pod_namespace(&ip)?;
                (
                    Cow::Owned(search::kubelet_path(&namespace, zone, node_domains)?),
                    Some(zone),
                )
            }
        };
        let names = search::walk(&request.name, &path)?;
        Some(
            names
                .into_iter()
                .map(|name| {
                    let route = match cluster_zone {
                        Some(zone) if !zone.zone_of(&name) => Route::Resolver,
                        _ => Route::Next,
                    };
                    (name, route)
                })
                .collect(),
        )
    }

    /// Judge the answer of step `index` (for `name`) of the walk for `asked`.
    fn judge(
        &self,
        asked: &Name,
        name: &Name,
        index: usize,
        answer: Answer,
        first: &mut Option<Answer>,
    ) -> Verdict {
        match answer.rcode {
            ResponseCode::NXDomain => {
                if index == 0 {
                    *first = Some(answer);
                }
                Verdict::Continue
            }
            ResponseCode::NoError => {
                self.success.inc();
                Verdict::Done(cname_to(asked, name, answer))
            }
            // A failure on the way: the asked name's own answer, and the client walks on by
            // itself (it meets the failure where it is).
            _ => Verdict::Done(first.take().unwrap_or(answer)),
        }
    }
}

/// `answer` (for `found`) as the answer to `asked`: a CNAME from `asked` to `found` first,
/// unless they are the same name.
fn cname_to(asked: &Name, found: &Name, mut answer: Answer) -> Answer {
    if asked == found {
        return answer;
    }
    let ttl = answer
        .answers
        .first()
        .or_else(|| answer.authority.iter().find(|r| r.record_type() == RecordType::SOA))
        .map_or(FALLBACK_TTL, |r| r.ttl);
    answer.answers.insert(
        0,
        Record::from_rdata(asked.clone(), ttl, RData::CNAME(CNAME(found.clone()))),
    );
    answer.plugin = NAME;
    answer
}

/// A step's request: the client's, with the step's name. One asked through the resolver is
/// marked as derived, so no plugin takes it for a client's first walk step again.
fn step_request(request: &Request, name: &Name, route: Route) -> Request {
    match route {
        Route::Next => Request {
            name: name.clone(),
            ..request.clone()
        },
        Route::Resolver => request.derived(name.clone(), request.qtype),
    }
}

impl Plugin for AutoPath {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let Some(steps) = self.steps(request) else {
            return next.serve(request, resolver);
        };
        let mut first = None;
        for (index, (name, route)) in steps.iter().enumerate() {
            let step = step_request(request, name, *route);
            let served = match route {
                Route::Next => next.serve(&step, resolver),
                Route::Resolver => resolver.resolve(&step),
            };
            match served {
                Served::Ready(answer) => {
                    match self.judge(&request.name, name, index, answer, &mut first) {
                        Verdict::Done(answer) => return Served::Ready(answer),
                        Verdict::Continue => {}
                    }
                }
                Served::Pending(pending) => {
                    // The rest of the walk waits: it goes on in a task of its own.
                    let Some(resolver) = resolver.detached() else {
                        return Served::Pending(pending);
                    };
                    let walk = PendingWalk {
                        plugin: AutoPath {
                            config: self.config.clone(),
                            block: self.block.clone(),
                            success: self.success.clone(),
                        },
                        request: request.clone(),
                        steps: steps[index..].to_vec(),
                        offset: index,
                        chain: next.to_chain(),
                        resolver,
                    };
                    return Served::Pending(Box::pin(walk.run(pending, first)));
                }
            }
        }
        Served::Ready(first.unwrap_or_else(|| Answer::rcode(ResponseCode::NXDomain, NAME)))
    }
}

/// The rest of a walk whose step `offset` must be waited for.
struct PendingWalk {
    plugin: AutoPath,
    request: Request,
    /// The steps from `offset` on.
    steps: Vec<Step>,
    offset: usize,
    chain: Chain,
    resolver: Arc<dyn Resolve>,
}

impl PendingWalk {
    async fn run(self, pending: crate::plugin::PendingAnswer, mut first: Option<Answer>) -> Answer {
        let mut waiting = Some(pending);
        for (i, (name, route)) in self.steps.iter().enumerate() {
            let answer = match waiting.take() {
                Some(pending) => pending.await,
                None => {
                    let step = step_request(&self.request, name, *route);
                    let served = match route {
                        Route::Next => self.chain.serve(&step, &*self.resolver),
                        Route::Resolver => self.resolver.resolve(&step),
                    };
                    match served {
                        Served::Ready(answer) => answer,
                        Served::Pending(pending) => pending.await,
                    }
                }
            };
            let index = self.offset + i;
            match self
                .plugin
                .judge(&self.request.name, name, index, answer, &mut first)
            {
                Verdict::Done(answer) => return answer,
                Verdict::Continue => {}
            }
        }
        first.unwrap_or_else(|| Answer::rcode(ResponseCode::NXDomain, NAME))
    }
}

#[cfg(test)]
mod tests;
