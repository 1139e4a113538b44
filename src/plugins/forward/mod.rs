//! The `forward` plugin: names under FROM go to upstream resolvers. See `README.md` beside this
//! file for the operator's manual.
//!
//! - [`setup`]: the directive's options.
//! - [`upstream`]: one UDP or TCP exchange and the reply checks.
//! - this module: upstream choice (policy, health), retries within the deadline, coalescing of
//!   identical queries, `max_concurrent`.
//!
//! Health follows CoreDNS: nothing is probed until an upstream fails; then it is probed with
//! `. IN NS` every `health_check` interval until it answers. An upstream with `max_fails`
//! consecutive failures is skipped; when every upstream is down, one is tried anyway.

pub mod metrics;
pub mod setup;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use dashmap::DashMap;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use rand::RngExt;
use tokio::time::Instant;

use metrics::{ForwardFamilies, ForwardMetrics, UpstreamMetrics};
pub use setup::{ForwardConfig, Policy};
pub use upstream::TlsError;
use upstream::{ExchangeError, OutgoingQuery, TlsClient, attempt_deadline};

use crate::plugin::{
    Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartError,
    StartFuture, Transport,
};

/// `forward` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: Some(metrics::register),
    // Several, in the order written, for `next` to hand answers on (CoreDNS 1.12 on).
    repeatable: true,
    requires: None,
};

impl Setup for ForwardConfig {
    fn start(self: Box<Self>, context: &StartContext) -> StartFuture<'_> {
        let metrics = context.metrics.families::<ForwardFamilies>().map_or_else(
            || ForwardMetrics::unregistered(self.upstreams.len()),
            |f| f.handles(&self.upstreams),
        );
        let started = Forward::new(*self, metrics)
            .map(|f| Some(Arc::new(f) as Arc<dyn Plugin>))
            .map_err(|e| StartError::new("forward", e));
        Box::pin(async move { started })
    }
}

const NAME: &str = "forward";

/// One upstream and its health.
#[derive(Debug)]
struct Upstream {
    addr: SocketAddr,
    /// Idle TCP/TLS connections for reuse.
    pool: upstream::Pool,
    /// Consecutive failures; reset by a success or a successful probe.
    fails: AtomicU32,
    /// Whether a probe loop is running for it.
    probing: AtomicBool,
    /// Its `coredns_proxy_*` handles.
    metrics: UpstreamMetrics,
}

/// Identical in-flight questions share one upstream query (CVE-2020-25686, CVE-2023-30464).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct QuestionKey {
    name: Name,
    qtype: RecordType,
    qclass: DNSClass,
    recursion_desired: bool,
    checking_disabled: bool,
    dnssec_ok: bool,
    tcp: bool,
}

type SharedReply = Shared<BoxFuture<'static, Result<Arc<Message>, ExchangeError>>>;

#[derive(Debug)]
struct Inner {
    config: ForwardConfig,
    /// For `tls://` upstreams.
    tls: Option<TlsClient>,
    upstreams: Vec<Upstream>,
    next_start: AtomicUsize,
    in_flight: AtomicUsize,
    pending: DashMap<QuestionKey, SharedReply>,
    metrics: ForwardMetrics,
}

/// The running plugin.
#[derive(Debug)]
pub struct Forward {
    inner: Arc<Inner>,
}

/// Decrements the in-flight count when the query is done, however it ends.
struct InFlight(Arc<Inner>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Forward {
    /// A forwarder with `config`, counting in `metrics` (one entry per upstream, in order).
    /// Fails when the TLS files cannot be read.
    pub fn new(mut config: ForwardConfig, metrics: ForwardMetrics) -> Result<Forward, TlsError> {
        // Built when the Corefile was read; a config made otherwise builds it here.
        let tls = match config.tls_client.take() {
            Some(client) => Some(client),
            None => config.tls.as_ref().map(TlsClient::new).transpose()?,
        };
        let upstreams = config
            .upstreams
            .iter()
            .enumerate()
            .map(|(index, addr)| {
                let metrics = metrics
                    .upstreams
                    .get(index)
                    .cloned()
                    .unwrap_or_else(UpstreamMetrics::unregistered);
                Upstream {
                    addr: *addr,
                    pool: upstream::Pool::new(&metrics, config.max_idle_conns),
                    fails: AtomicU32::new(0),
                    probing: AtomicBool::new(false),
                    metrics,
                }
            })
            .collect();
        Ok(Forward {
            inner: Arc::new(Inner {
                config,
                tls,
                upstreams,
                next_start: AtomicUsize::new(0),
                in_flight: AtomicUsize::new(0),
                pending: DashMap::new(),
                metrics,
            }),
        })
    }
}

impl Inner {
    fn is_down(&self, upstream: &Upstream) -> bool {
        self.config.max_fails > 0 && upstream.fails.load(Ordering::Relaxed) >= self.config.max_fails
    }

    /// The upstreams to try, in order: healthy ones per the policy; if none is healthy, one
    /// at random (CoreDNS's behaviour when all are down).
    fn order(&self) -> Vec<usize> {
        let n = self.upstreams.len();
        let mut order: Vec<usize> = match self.config.policy {
            Policy::Sequential => (0..n).collect(),
            Policy::RoundRobin => {
                let start = self.next_start.fetch_add(1, Ordering::Relaxed) % n.max(1);
                (0..n).map(|i| (start + i) % n).collect()
            }
            Policy::Random => {
                let mut order: Vec<usize> = (0..n).collect();
                let mut rng = rand::rng();
                for i in (1..n).rev() {
                    order.swap(i, rng.random_range(0..=i));
                }
                order
            }
        };
        order.retain(|i| !self.is_down(&self.upstreams[*i]));
        if order.is_empty() && n > 0 {
            self.metrics.broken.inc();
            // `failfast_all_unhealthy_upstreams`: none tried, SERVFAIL at once.
            if !self.config.failfast_all_unhealthy {
                order.push(rand::rng().random_range(0..n));
            }
        }
        if self.config.max_connect_attempts > 0 {
            order.truncate(self.config.max_connect_attempts);
        }
        order
    }

    fn succeeded(&self, index: usize) {
        self.upstreams[index].fails.store(0, Ordering::Relaxed);
    }

    /// Count a failure and, if no probe is running for this upstream, start one.
    fn failed(self: &Arc<Self>, index: usize) {
        let upstream = &self.upstreams[index];
        upstream.fails.fetch_add(1, Ordering::Relaxed);
        if self.config.max_fails == 0 || upstream.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(probe(weak, index));
    }

    async fn exchange(
        &self,
        index: usize,
        query: &OutgoingQuery,
        tcp: bool,
        deadline: Instant,
    ) -> Result<Message, ExchangeError> {
        let up = &self.upstreams[index];
        let (addr, pool, expire) = (up.addr, &up.pool, self.config.expire);
        let attempt = attempt_deadline(self.config.read_timeout, deadline);
        if let Some(client) = &self.tls {
            return upstream::tls(addr, client, pool, expire, query, attempt).await;
        }
        if tcp {
            return upstream::tcp(addr, pool, expire, query, attempt).await;
        }
        up.metrics.udp_misses.inc();
        let reply = upstream::udp(addr, query, attempt).await?;
        if reply.metadata.truncation {
            // The answer did not fit: ask again over TCP (RFC 7766 §5).
            let retry = attempt_deadline(self.config.read_timeout, deadline);
            return upstream::tcp(addr, pool, expire, query, retry).await;
        }
        Ok(reply)
    }

    async fn resolve(
        self: Arc<Self>,
        query: OutgoingQuery,
        tcp: bool,
    ) -> Result<Arc<Message>, ExchangeError> {
        let deadline = Instant::now() + self.config.deadline;
        let mut last = ExchangeError::Timeout;
        let mut failed_over = None;
        for index in self.order() {
            if Instant::now() >= deadline {
                break;
            }
            let started = Instant::now();
            match self.exchange(index, &query, tcp, deadline).await {
                Ok(reply) => {
                    self.upstreams[index].metrics.observe(
                        reply.metadata.response_code,
                        started.elapsed().as_secs_f64(),
                    );
                    self.succeeded(index);
                    // `failover RCODE...`: try the next upstream, keeping this answer.
                    if self.config.failover.contains(&reply.metadata.response_code) {
                        failed_over = Some(reply);
                        continue;
                    }
                    return Ok(Arc::new(reply));
                }
                Err(e) => {
                    tracing::debug!(upstream = %self.upstreams[index].addr, "forward: {e}");
                    self.failed(index);
                    last = e;
                }
            }
        }
        match failed_over {
            Some(reply) => Ok(Arc::new(reply)),
            None => Err(last),
        }
    }
}

/// Probe upstream `index` every `health_check` interval until it answers, then mark it healthy.
/// Stops when the plugin is gone (a reload replaced it).
async fn probe(inner: Weak<Inner>, index: usize) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let interval = strong.config.health_check;
        drop(strong);
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else { return };
        let probe = OutgoingQuery {
            query: Query::query(inner.config.health_check_domain.clone(), RecordType::NS),
            recursion_desired: inner.config.health_check_recursion,
            checking_disabled: false,
            dnssec_ok: false,
        };
        let up = &inner.upstreams[index];
        let (addr, pool, expire) = (up.addr, &up.pool, inner.config.expire);
        let deadline = Instant::now() + std::time::Duration::from_secs(1);
        let result = if let Some(client) = &inner.tls {
            upstream::tls(addr, client, pool, expire, &probe, deadline).await
        } else if inner.config.force_tcp {
            upstream::tcp(addr, pool, expire, &probe, deadline).await
        } else {
            upstream::udp(addr, &probe, deadline).await
        };
        let upstream = &inner.upstreams[index];
        match result {
            Ok(_) => {
                upstream.fails.store(0, Ordering::Relaxed);
                upstream.probing.store(false, Ordering::Release);
                tracing::info!(upstream = %addr, "forward: upstream healthy again");
                return;
            }
            Err(e) => {
                upstream.metrics.health_failures.inc();
                let fails = upstream.fails.fetch_add(1, Ordering::Relaxed) + 1;
                if fails == inner.config.max_fails {
                    tracing::warn!(upstream = %addr, "forward: upstream down after {fails} failures: {e}");
                }
            }
        }
    }
}

/// The answer to `request` from an upstream reply. Owner names equal to the question take the
/// client's case (coalesced queries share one reply).
fn answer_from(request: &Request, reply: &Message) -> Answer {
    let mut answer = Answer::rcode(reply.metadata.response_code, NAME);
    answer.authoritative = reply.metadata.authoritative;
    answer.recursion_available = reply.metadata.recursion_available;
    answer.answers = reply
        .answers
        .iter()
        .map(|record| {
            let mut record = record.clone();
            if record.name.eq_ignore_root(&request.name) {
                record.name = request.name.clone();
            }
            record
        })
        .collect();
    answer.authority = reply.authorities.clone();
    answer.additional = reply.additionals.clone();
    answer
}

impl Plugin for Forward {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let inner = &self.inner;
        let config = &inner.config;
        if !config.from.zone_of(&request.name)
            || config.except.iter().any(|z| z.zone_of(&request.name))
        {
            return next.serve(request, resolver);
        }
        if inner.in_flight.load(Ordering::Acquire) >= config.max_concurrent {
            // Over the limit: REFUSED, which is not an upstream failure (CoreDNS).
            inner.metrics.rejects.inc();
            return Served::Ready(Answer::rcode(ResponseCode::Refused, NAME));
        }
        inner.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(inner.clone());
        let tcp = config.force_tcp || (request.transport == Transport::Tcp && !config.prefer_udp);
        let mut query = Query::query(request.name.clone(), request.qtype);
        query.set_query_class(request.qclass);
        let outgoing = OutgoingQuery {
            query,
            recursion_desired: request.recursion_desired,
            checking_disabled: request.checking_disabled,
            dnssec_ok: request.dnssec_ok,
        };
        let key = QuestionKey {
            name: request.name.to_lowercase(),
            qtype: request.qtype,
            qclass: request.qclass,
            recursion_desired: request.recursion_desired,
            checking_disabled: request.checking_disabled,
            dnssec_ok: request.dnssec_ok,
            tcp,
        };
        let shared = inner
            .pending
            .entry(key.clone())
            .or_insert_with(|| {
                let inner = inner.clone();
                async move {
                    let result = inner.clone().resolve(outgoing, tcp).await;
                    inner.pending.remove(&key);
                    result
                }
                .boxed()
                .shared()
            })
            .clone();
        let request = request.clone();
        // `next RCODE...`: an answer with one of these goes to the plugins after forward.
        let hand_on = (!config.next.is_empty())
            .then(|| Some((config.next.clone(), next.to_chain(), resolver.detached()?)))
            .flatten();
        Served::Pending(Box::pin(async move {
            let answer = {
                let _guard = guard;
                match shared.await {
                    Ok(reply) => answer_from(&request, &reply),
                    Err(e) => Answer::server_failure(NAME, format!("no upstream answered: {e}")),
                }
            };
            match hand_on {
                Some((rcodes, rest, resolver)) if rcodes.contains(&answer.rcode) => {
                    match rest.serve(&request, resolver.as_ref()) {
                        Served::Ready(answer) => answer,
                        Served::Pending(pending) => pending.await,
                    }
                }
                _ => answer,
            }
        }))
    }
}
