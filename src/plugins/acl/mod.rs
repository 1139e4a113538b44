//! The `acl` plugin: access control by the query's type and the client's address, as CoreDNS's
//! `acl` does. Each `acl` line is one rule over its zones; its policies are tried in order and
//! the first that matches decides: `allow` lets the query through to the plugins after the acl
//! rules, `block` answers REFUSED, `filter` NOERROR with no records, `drop` nothing at all. A
//! rule none of whose policies match leaves the query to the next rule; no rule deciding is
//! `allow`.

pub mod setup;

use std::any::Any;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

pub use setup::AclConfig;

use self::setup::Action;
use crate::plugin::{
    Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `acl` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: Some(register),
    repeatable: true,
    requires: None,
};

const NAME: &str = "acl";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ZoneLabels {
    server: String,
    zone: String,
    view: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    server: String,
    view: String,
}

/// `coredns_acl_*_requests_total`.
#[derive(Debug, Default)]
pub struct AclFamilies {
    blocked: Family<ZoneLabels, Counter>,
    filtered: Family<ZoneLabels, Counter>,
    dropped: Family<ZoneLabels, Counter>,
    allowed: Family<ServerLabels, Counter>,
}

fn register(registry: &mut Registry) -> Arc<dyn Any + Send + Sync> {
    let families = AclFamilies::default();
    let acl = registry.sub_registry_with_prefix("acl");
    acl.register(
        "blocked_requests",
        "Counter of DNS requests being blocked.",
        families.blocked.clone(),
    );
    acl.register(
        "filtered_requests",
        "Counter of DNS requests being filtered.",
        families.filtered.clone(),
    );
    acl.register(
        "dropped_requests",
        "Counter of DNS requests being dropped.",
        families.dropped.clone(),
    );
    acl.register(
        "allowed_requests",
        "Counter of DNS requests being allowed.",
        families.allowed.clone(),
    );
    Arc::new(families)
}

impl Setup for AclConfig {
    fn start(self: Box<Self>, context: &StartContext) -> StartFuture<'_> {
        started(Acl {
            config: *self,
            families: context.metrics.families::<AclFamilies>(),
            server: context.server.clone(),
        })
    }
}

/// One running rule.
#[derive(Debug)]
pub struct Acl {
    config: AclConfig,
    families: Option<Arc<AclFamilies>>,
    server: String,
}

impl Acl {
    fn decide(&self, request: &Request) -> Option<(Action, &Name)> {
        let zone = self
            .config
            .zones
            .iter()
            .filter(|z| z.zone_of(&request.name))
            .max_by_key(|z| z.num_labels())?;
        let client = request.source.ip();
        self.config
            .policies
            .iter()
            .find(|p| {
                (p.types.is_empty() || p.types.contains(&request.qtype))
                    && (p.nets.is_empty() || p.nets.iter().any(|n| n.contains(client)))
            })
            .map(|p| (p.action, zone))
    }

    fn count(&self, action: Action, zone: &Name) {
        let Some(families) = &self.families else {
            return;
        };
        let labels = || ZoneLabels {
            server: self.server.clone(),
            zone: zone.to_string(),
            view: String::new(),
        };
        match action {
            Action::Block => families.blocked.get_or_create(&labels()).inc(),
            Action::Filter => families.filtered.get_or_create(&labels()).inc(),
            Action::Drop => families.dropped.get_or_create(&labels()).inc(),
            Action::Allow => families
                .allowed
                .get_or_create(&ServerLabels {
                    server: self.server.clone(),
                    view: String::new(),
                })
                .inc(),
        };
    }
}

impl Plugin for Acl {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves_class(&self, _class: hickory_proto::rr::DNSClass) -> bool {
        true
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let decided = self.decide(request);
        let (action, zone) = match decided {
            Some(decided) => decided,
            // Undecided: the next rule decides; after the last rule, allowed.
            None if next.starts_with(NAME) => return next.serve(request, resolver),
            None => {
                self.count(Action::Allow, &Name::root());
                return next.serve(request, resolver);
            }
        };
        self.count(action, zone);
        match action {
            Action::Allow => next.after(NAME).serve(request, resolver),
            Action::Block => Served::Ready(Answer::rcode(ResponseCode::Refused, NAME)),
            Action::Filter => Served::Ready(Answer::rcode(ResponseCode::NoError, NAME)),
            Action::Drop => {
                let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
                answer.drop = true;
                Served::Ready(answer)
            }
        }
    }
}

#[cfg(test)]
mod tests;
