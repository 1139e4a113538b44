//! One listener's zones → chains, with the longest-zone match of CoreDNS, the REFUSED answer
//! for names no block serves, and the per-request panic guard.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures_util::FutureExt;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;

use crate::plugin::{Answer, Chain, Request, Resolve, Served};

/// Zones (lowercase) and their chains; the most specific zone wins.
#[derive(Clone, Default)]
pub struct Router {
    zones: Vec<(Name, Arc<Chain>)>,
}

/// What answers a request: the chain that served it (for observers) and its answer.
pub struct Dispatched {
    /// The chain, if a zone matched.
    pub chain: Option<Arc<Chain>>,
    /// The answer, now or later.
    pub served: Served,
}

fn panic_answer() -> Answer {
    Answer::server_failure("server", "panic while serving the request")
}

impl Router {
    /// A router over `zones`.
    pub fn new(mut zones: Vec<(Name, Arc<Chain>)>) -> Router {
        zones.sort_by_key(|(zone, _)| std::cmp::Reverse(zone.num_labels()));
        Router { zones }
    }

    /// The chain of the most specific zone containing `name`.
    pub fn chain_for(&self, name: &Name) -> Option<&Arc<Chain>> {
        self.zones
            .iter()
            .find(|(zone, _)| zone.zone_of(name))
            .map(|(_, chain)| chain)
    }

    /// The zones served.
    pub fn zones(&self) -> impl Iterator<Item = &Name> {
        self.zones.iter().map(|(z, _)| z)
    }

    /// Run `request` through its zone's chain. A panic in a plugin becomes SERVFAIL for this
    /// request only; the process stays up (CoreDNS's recover in dnsserver).
    pub fn dispatch(&self, request: &Request) -> Dispatched {
        let Some(chain) = self.chain_for(&request.name) else {
            return Dispatched {
                chain: None,
                served: Served::Ready(Answer::rcode(ResponseCode::Refused, "server")),
            };
        };
        let served = match catch_unwind(AssertUnwindSafe(|| chain.serve(request, self))) {
            Ok(Served::Pending(future)) => Served::Pending(Box::pin(
                AssertUnwindSafe(future)
                    .catch_unwind()
                    .map(|result| result.unwrap_or_else(|_| panic_answer())),
            )),
            Ok(ready) => ready,
            Err(_) => Served::Ready(panic_answer()),
        };
        Dispatched {
            chain: Some(chain.clone()),
            served,
        }
    }
}

impl Resolve for Router {
    fn resolve(&self, request: &Request) -> Served {
        match self.chain_for(&request.name) {
            Some(chain) => chain.serve(request, self),
            None => Served::Ready(Answer::rcode(ResponseCode::Refused, "server")),
        }
    }
}
