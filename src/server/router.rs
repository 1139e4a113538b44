//! One listener's zones → chains, with the longest-zone match of CoreDNS, the REFUSED answer
//! for names no block serves, and the per-request panic guard.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};

use futures_util::FutureExt;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name};

use prometheus_client::metrics::counter::Counter;

use crate::metrics::ZoneMetrics;
use crate::plugin::{Answer, Chain, Request, Resolve, Served};

/// One zone of a listener: its chain and its metric handles.
#[derive(Clone)]
pub struct ZoneRoute {
    /// The zone, lowercase.
    pub zone: Name,
    /// The server block's chain.
    pub chain: Arc<Chain>,
    /// Its `coredns_dns_*` handles.
    pub metrics: Option<Arc<ZoneMetrics>>,
    /// `bufsize`: the largest EDNS UDP size a client's query keeps.
    pub bufsize: Option<u16>,
}

/// Zones (lowercase) and their chains; the most specific zone wins.
#[derive(Clone, Default)]
pub struct Router {
    zones: Vec<ZoneRoute>,
    panics: Option<Counter>,
    /// Where queries for names no zone serves are counted (CoreDNS's zone `dropped`).
    dropped: Option<Arc<ZoneMetrics>>,
    /// Itself, once shared ([`Router::into_shared`]), for lookups that outlive a call.
    me: Weak<Router>,
}

/// What answers a request: the chain that served it (for observers) and its answer.
pub struct Dispatched {
    /// The chain, if a zone matched.
    pub chain: Option<Arc<Chain>>,
    /// The zone's metrics, if a zone matched.
    pub metrics: Option<Arc<ZoneMetrics>>,
    /// The answer, now or later.
    pub served: Served,
}

fn panic_answer() -> Answer {
    Answer::server_failure("server", "panic while serving the request")
}

impl Router {
    /// A router over `zones` (without metrics).
    pub fn new(zones: Vec<(Name, Arc<Chain>)>) -> Router {
        Router::with_metrics(
            zones
                .into_iter()
                .map(|(zone, chain)| ZoneRoute {
                    zone,
                    chain,
                    metrics: None,
                    bufsize: None,
                })
                .collect(),
            None,
            None,
        )
    }

    /// A router over `zones`, counting panics in `panics` and queries outside every zone in
    /// `dropped`.
    pub fn with_metrics(
        mut zones: Vec<ZoneRoute>,
        panics: Option<Counter>,
        dropped: Option<Arc<ZoneMetrics>>,
    ) -> Router {
        zones.sort_by_key(|route| std::cmp::Reverse(route.zone.num_labels()));
        Router {
            zones,
            panics,
            dropped,
            me: Weak::new(),
        }
    }

    /// The router in an `Arc` that knows itself, so that plugins can keep it for a lookup made
    /// later ([`Resolve::detached`]).
    pub fn into_shared(self) -> Arc<Router> {
        Arc::new_cyclic(|me| Router {
            me: me.clone(),
            ..self
        })
    }

    fn route_for(&self, name: &Name) -> Option<&ZoneRoute> {
        self.zones.iter().find(|route| route.zone.zone_of(name))
    }

    /// The chain of the most specific zone containing `name`.
    pub fn chain_for(&self, name: &Name) -> Option<&Arc<Chain>> {
        self.route_for(name).map(|route| &route.chain)
    }

    /// The zones served.
    pub fn zones(&self) -> impl Iterator<Item = &Name> {
        self.zones.iter().map(|route| &route.zone)
    }

    /// Run `request` through its zone's chain, after any start-up wait the chain asks for. A
    /// panic in a plugin becomes SERVFAIL for this request only; the process stays up (CoreDNS's
    /// recover in dnsserver). The zone's `bufsize` lowers the request's EDNS UDP size, for the
    /// plugins and for the response. A class no plugin of the chain serves is REFUSED.
    pub fn dispatch(self: &Arc<Self>, request: &mut Request) -> Dispatched {
        let Some(route) = self.route_for(&request.name) else {
            return Dispatched {
                chain: None,
                metrics: self.dropped.clone(),
                served: Served::Ready(Answer::rcode(ResponseCode::Refused, "server")),
            };
        };
        let chain = &route.chain;
        if request.qclass != DNSClass::IN && !chain.serves_class(request.qclass) {
            return Dispatched {
                chain: Some(chain.clone()),
                metrics: route.metrics.clone(),
                served: Served::Ready(Answer::rcode(ResponseCode::Refused, "server")),
            };
        }
        if let (Some(limit), Some(size)) = (route.bufsize, request.edns_udp_size)
            && size > limit
        {
            request.edns_udp_size = Some(limit);
        }
        let request = &*request;
        let served = match chain.startup_wait(request) {
            None => self.serve_guarded(chain, request),
            Some(wait) => {
                let (router, chain, request) = (self.clone(), chain.clone(), request.clone());
                Served::Pending(Box::pin(async move {
                    wait.await;
                    match router.serve_guarded(&chain, &request) {
                        Served::Ready(answer) => answer,
                        Served::Pending(future) => future.await,
                    }
                }))
            }
        };
        Dispatched {
            chain: Some(chain.clone()),
            metrics: route.metrics.clone(),
            served,
        }
    }

    fn panicked(&self) -> Answer {
        if let Some(panics) = &self.panics {
            panics.inc();
        }
        panic_answer()
    }

    fn serve_guarded(self: &Arc<Self>, chain: &Chain, request: &Request) -> Served {
        match catch_unwind(AssertUnwindSafe(|| chain.serve(request, self.as_ref()))) {
            Ok(Served::Pending(future)) => {
                let router = self.clone();
                Served::Pending(Box::pin(
                    AssertUnwindSafe(future)
                        .catch_unwind()
                        .map(move |result| result.unwrap_or_else(|_| router.panicked())),
                ))
            }
            Ok(ready) => ready,
            Err(_) => Served::Ready(self.panicked()),
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

    fn detached(&self) -> Option<Arc<dyn Resolve>> {
        self.me.upgrade().map(|me| me as Arc<dyn Resolve>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Next, Plugin, Transport};
    use hickory_proto::rr::{DNSClass, RecordType};
    use std::net::SocketAddr;
    use std::time::Instant;

    struct Panics {
        later: bool,
    }

    impl Plugin for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        fn serve(&self, request: &Request, _: Next<'_>, _: &dyn Resolve) -> Served {
            if self.later {
                let name = request.name.to_string();
                Served::Pending(Box::pin(async move { panic!("boom later for {name}") }))
            } else {
                panic!("boom now")
            }
        }
    }

    fn request(name: &str) -> Request {
        Request {
            id: 1,
            name: Name::from_ascii(name).expect("name"),
            qtype: RecordType::A,
            qclass: DNSClass::IN,
            recursion_desired: false,
            checking_disabled: false,
            dnssec_ok: false,
            edns_udp_size: None,
            source: SocketAddr::from(([127, 0, 0, 1], 1)),
            transport: Transport::Udp,
            wire_size: 30,
            received_at: Instant::now(),
            aliases: Vec::new(),
        }
    }

    fn router(later: bool) -> Arc<Router> {
        let chain = Arc::new(Chain::new(vec![Arc::new(Panics { later })]));
        Arc::new(Router::new(vec![(
            Name::from_ascii("example.").expect("zone"),
            chain,
        )]))
    }

    #[test]
    fn a_panicking_plugin_gives_servfail_for_that_request_only() {
        let dispatched = router(false).dispatch(&mut request("a.example."));
        match dispatched.served {
            Served::Ready(answer) => assert_eq!(answer.rcode, ResponseCode::ServFail),
            Served::Pending(_) => panic!("expected an answer at once"),
        }
        let Served::Pending(future) = router(true).dispatch(&mut request("a.example.")).served
        else {
            panic!("expected a pending answer");
        };
        let answer = future.now_or_never().expect("ready");
        assert_eq!(answer.rcode, ResponseCode::ServFail);
    }

    #[test]
    fn names_outside_every_zone_are_refused_and_the_longest_zone_wins() {
        let outer = Arc::new(Chain::new(Vec::new()));
        let inner = Arc::new(Chain::new(Vec::new()));
        let r = Arc::new(Router::new(vec![
            (Name::from_ascii("example.").expect("zone"), outer.clone()),
            (
                Name::from_ascii("sub.example.").expect("zone"),
                inner.clone(),
            ),
        ]));
        let chain = r.chain_for(&Name::from_ascii("a.SUB.example.").expect("name"));
        assert!(chain.is_some_and(|c| Arc::ptr_eq(c, &inner)));
        let refused = r.dispatch(&mut request("example.org."));
        assert!(refused.chain.is_none());
        match refused.served {
            Served::Ready(answer) => assert_eq!(answer.rcode, ResponseCode::Refused),
            Served::Pending(_) => panic!("ready"),
        }
    }
}
