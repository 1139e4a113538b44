//! The `cache` plugin: keeps the answers of the plugins after it (forward, kubernetes) for
//! their TTL, capped and floored per store. See `README.md` beside this file.
//!
//! - [`setup`]: the directive's options.
//! - [`metrics`]: the `coredns_cache_*` families.
//! - [`store`]: the bounded, sharded store.
//! - [`compact`]: answers in wire form, as the store keeps them.
//! - this module: what is cached for how long (RFC 2308 for negative answers), and answering
//!   from the cache with TTLs aged and the question's case.

pub mod compact;
pub mod metrics;
pub mod setup;
pub mod store;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::time::Instant;

pub use setup::CacheConfig;
use compact::CompactAnswer;
use store::{CacheKey, Entry, MAX_ANSWER_OCTETS, STORE_BYTES, Store};

use metrics::{CacheFamilies, CacheMetrics};

use crate::plugin::{
    Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `cache` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: Some(metrics::register),
    repeatable: false,
    requires: None,
};

impl Setup for CacheConfig {
    fn start(self: Box<Self>, context: &StartContext) -> StartFuture<'_> {
        let zones: Vec<String> = self.zones.iter().map(ToString::to_string).collect();
        let handles = context
            .metrics
            .families::<CacheFamilies>()
            .map(|f| f.handles(&context.server, &zones.join(",")))
            .unwrap_or_default();
        started(Cache::new(*self, handles))
    }
}

/// Which store an answer goes to (the index of its `type` label in [`CacheMetrics`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Success = 0,
    Denial = 1,
}

#[derive(Debug)]
struct Inner {
    config: CacheConfig,
    success: Store,
    denial: Store,
    metrics: CacheMetrics,
}

/// The running plugin.
#[derive(Debug)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl Cache {
    /// A cache with `config`, counting in `metrics`.
    pub fn new(config: CacheConfig, metrics: CacheMetrics) -> Cache {
        let [success_entries, denial_entries] = metrics.entries.clone();
        let [success_evictions, denial_evictions] = metrics.evictions.clone();
        Cache {
            inner: Arc::new(Inner {
                success: Store::new(
                    config.success.capacity,
                    STORE_BYTES,
                    success_entries,
                    success_evictions,
                ),
                denial: Store::new(
                    config.denial.capacity,
                    STORE_BYTES,
                    denial_entries,
                    denial_evictions,
                ),
                config,
                metrics,
            }),
        }
    }
}

fn key_of(request: &Request) -> CacheKey {
    CacheKey {
        name: request.name.to_lowercase(),
        qtype: request.qtype,
        qclass: request.qclass,
        dnssec_ok: request.dnssec_ok,
        checking_disabled: request.checking_disabled,
    }
}

/// The TTL a negative answer may be cached for: the SOA's own TTL or its MINIMUM, whichever is
/// lower (RFC 2308 §5).
fn negative_ttl(answer: &Answer) -> Option<u32> {
    answer.authority.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    })
}

impl Inner {
    fn disabled(&self, kind: Kind, name: &Name) -> bool {
        let zones = match kind {
            Kind::Success => &self.config.disable_success,
            Kind::Denial => &self.config.disable_denial,
        };
        zones.iter().any(|z| z.zone_of(name))
    }

    /// Where and for how long `answer` may be kept, if at all.
    fn placement(&self, name: &Name, answer: &Answer) -> Option<(Kind, u32)> {
        let (kind, ttl) = match answer.rcode {
            ResponseCode::NoError if !answer.answers.is_empty() => {
                let ttl = answer
                    .answers
                    .iter()
                    .chain(&answer.authority)
                    .filter(|r| r.record_type() != RecordType::OPT)
                    .map(|r| r.ttl)
                    .min()?;
                let store = &self.config.success;
                (Kind::Success, ttl.clamp(store.min_ttl, store.max_ttl))
            }
            ResponseCode::NoError | ResponseCode::NXDomain => {
                let store = &self.config.denial;
                let ttl = negative_ttl(answer).unwrap_or(store.min_ttl);
                (Kind::Denial, ttl.clamp(store.min_ttl, store.max_ttl))
            }
            // SERVFAIL only briefly (RFC 2308 §7 allows up to 5 min; a few seconds is kinder).
            ResponseCode::ServFail => {
                let secs = u32::try_from(self.config.servfail.as_secs()).unwrap_or(300);
                if secs == 0 {
                    return None;
                }
                (Kind::Denial, secs)
            }
            _ => return None,
        };
        if ttl == 0 || self.disabled(kind, name) {
            return None;
        }
        Some((kind, ttl))
    }

    /// Keep `answer` to `key`, asked by a client or, when `chasing`, by a plugin following a
    /// CNAME. A SERVFAIL of the latter may be its chain's (a loop, or too many CNAMEs before
    /// it: see the kubernetes plugin), not the name's own answer, so it is not kept.
    fn store(&self, key: CacheKey, answer: &Answer, chasing: bool) {
        if chasing && answer.rcode == ResponseCode::ServFail {
            return;
        }
        let Some((kind, ttl)) = self.placement(&key.name, answer) else {
            return;
        };
        // Too large an answer is passed on without being kept.
        let Some(kept) = CompactAnswer::encode(answer, MAX_ANSWER_OCTETS) else {
            return;
        };
        let entry = Entry::new(kept, ttl);
        match kind {
            Kind::Success => self.success.insert(key, entry),
            Kind::Denial => self.denial.insert(key, entry),
        }
    }

    /// Keep `answer` ([`Inner::store`]) and give it to the client with the TTL it is kept
    /// for, as CoreDNS does, so that the first reply does not carry a longer TTL (an
    /// upstream's 3600 under `cache 30`) than the ones served from the cache after it.
    fn store_and_cap(&self, key: CacheKey, mut answer: Answer, chasing: bool) -> Answer {
        if let Some((_, ttl)) = self.placement(&key.name, &answer)
            && answer.rcode != ResponseCode::ServFail
        {
            for record in answer
                .answers
                .iter_mut()
                .chain(answer.authority.iter_mut())
                .chain(answer.additional.iter_mut())
            {
                record.ttl = record.ttl.min(ttl);
            }
        }
        self.store(key, &answer, chasing);
        answer
    }

    fn stale_window(&self) -> u32 {
        self.config
            .serve_stale
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
    }

    /// The entry for `key`, fresh before stale, with its age and store.
    fn find(&self, key: &CacheKey) -> Option<(Arc<Entry>, u32, Kind)> {
        let now = Instant::now();
        let stale = self.stale_window();
        let success = self
            .success
            .get(key, now, stale)
            .map(|(e, age)| (e, age, Kind::Success));
        let denial = self
            .denial
            .get(key, now, stale)
            .map(|(e, age)| (e, age, Kind::Denial));
        let fresh = |found: &Option<(Arc<Entry>, u32, Kind)>| {
            found.as_ref().is_some_and(|(e, age, _)| *age < e.ttl)
        };
        match (fresh(&success), fresh(&denial)) {
            (true, _) => success,
            (false, true) => denial,
            _ => success.or(denial),
        }
    }

    /// Whether this hit should start a refresh (`prefetch`): popular enough, little TTL left,
    /// and no refresh of it running.
    fn prefetch_due(&self, entry: &Entry, age: u32) -> bool {
        let hits = entry.hits.fetch_add(1, Ordering::Relaxed) + 1;
        let Some(prefetch) = self.config.prefetch else {
            return false;
        };
        let within = u64::from(age) <= prefetch.duration.as_secs();
        let remaining = u64::from(entry.ttl.saturating_sub(age));
        let low = remaining * 100 <= u64::from(entry.ttl) * u64::from(prefetch.percentage);
        hits >= prefetch.amount && within && low && !entry.prefetching.swap(true, Ordering::AcqRel)
    }
}

/// `entry` as an answer to `request`: not authoritative, TTLs aged by `age` (or set to `ttl`
/// when given), owner names equal to the question in the question's case. `None` if the
/// stored octets do not decode (never written so).
fn answer_of(entry: &Entry, request: &Request, age: u32, ttl: Option<u32>) -> Option<Answer> {
    let mut answer = entry.answer.decode()?;
    // A cached answer is not authoritative (CoreDNS clears AA too).
    answer.authoritative = false;
    answer.plugin = "cache";
    let remaining = entry.ttl.saturating_sub(age);
    let adjust = |record: &mut Record| {
        record.ttl = match ttl {
            Some(ttl) => ttl,
            None => record.ttl.saturating_sub(age).min(remaining),
        };
    };
    for record in answer.answers.iter_mut() {
        adjust(record);
        if record.name.eq_ignore_root(&request.name) {
            record.name = request.name.clone();
        }
    }
    answer.authority.iter_mut().for_each(adjust);
    answer.additional.iter_mut().for_each(adjust);
    Some(answer)
}

/// The TTL of a stale answer (RFC 8767 §5 recommends 30 s).
const STALE_TTL: u32 = 30;

impl Plugin for Cache {
    fn name(&self) -> &'static str {
        "cache"
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        if !self
            .inner
            .config
            .zones
            .iter()
            .any(|z| z.zone_of(&request.name))
        {
            return next.serve(request, resolver);
        }
        let key = key_of(request);
        let chasing = request.depth() > 0;
        let inner = self.inner.clone();
        let metrics = &self.inner.metrics;
        metrics.requests.inc();
        match self.inner.find(&key) {
            Some((entry, age, kind)) if age < entry.ttl => {
                // `keepttl`: the TTL it was stored with, not what is left of it.
                let shown_age = if self.inner.config.keep_ttl { 0 } else { age };
                if let Some(answer) = answer_of(&entry, request, shown_age, None) {
                    metrics.hits[kind as usize].inc();
                    if self.inner.prefetch_due(&entry, age) {
                        metrics.prefetch.inc();
                        // Refresh in the background; this client gets the cached answer now.
                        match next.serve(request, resolver) {
                            Served::Ready(fresh) => inner.store(key, &fresh, chasing),
                            Served::Pending(future) => {
                                tokio::spawn(async move {
                                    let fresh = future.await;
                                    inner.store(key, &fresh, chasing);
                                });
                            }
                        }
                    }
                    return Served::Ready(answer);
                }
            }
            Some((entry, _, _)) if !self.inner.config.stale_verify => {
                // Expired but within serve_stale, `immediate` (CoreDNS's default): the stale
                // answer now, with TTL 0 as CoreDNS gives it, and a refresh in the background.
                if let Some(stale) = answer_of(&entry, request, 0, Some(0)) {
                    metrics.served_stale.inc();
                    // A failed refresh leaves the stale entry for the next query.
                    let refreshed = move |fresh: Answer| {
                        if fresh.rcode != ResponseCode::ServFail {
                            inner.store(key, &fresh, chasing);
                        }
                    };
                    match next.serve(request, resolver) {
                        Served::Ready(fresh) => refreshed(fresh),
                        Served::Pending(future) => {
                            tokio::spawn(async move { refreshed(future.await) });
                        }
                    }
                    return Served::Ready(stale);
                }
            }
            Some((entry, _, _)) => {
                // Expired but within serve_stale, `verify`: refresh first; only if that fails,
                // the stale answer (RFC 8767).
                metrics.misses.inc();
                let stale = answer_of(&entry, request, 0, Some(STALE_TTL));
                return next.serve(request, resolver).map(move |answer| match stale {
                    Some(stale) if answer.rcode == ResponseCode::ServFail => {
                        inner.metrics.served_stale.inc();
                        stale
                    }
                    _ => inner.store_and_cap(key, answer, chasing),
                });
            }
            None => {}
        }
        metrics.misses.inc();
        next.serve(request, resolver).map(move |answer| inner.store_and_cap(key, answer, chasing))
    }
}
