//! The `cache` plugin: keeps the answers of the plugins after it (forward, kubernetes) for
//! their TTL, capped and floored per store. See `README.md` beside this file.
//!
//! - [`setup`]: the directive's options.
//! - [`store`]: the bounded, sharded store.
//! - this module: what is cached for how long (RFC 2308 for negative answers), and answering
//!   from the cache with TTLs aged and the question's case.

pub mod setup;
pub mod store;

use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::time::Instant;

pub use setup::CacheConfig;
use store::{CacheKey, Entry, Store};

use crate::plugin::{Answer, Next, Plugin, Request, Resolve, Served};

/// Which store an answer goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Success,
    Denial,
}

#[derive(Debug)]
struct Inner {
    config: CacheConfig,
    success: Store,
    denial: Store,
}

/// The running plugin.
#[derive(Debug)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl Cache {
    /// A cache with `config`.
    pub fn new(config: CacheConfig) -> Cache {
        Cache {
            inner: Arc::new(Inner {
                success: Store::new(config.success.capacity),
                denial: Store::new(config.denial.capacity),
                config,
            }),
        }
    }

    /// Entries held (success, denial).
    pub fn len(&self) -> (usize, usize) {
        (self.inner.success.len(), self.inner.denial.len())
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

    fn store(&self, key: CacheKey, answer: &Answer) {
        let Some((kind, ttl)) = self.placement(&key.name, answer) else {
            return;
        };
        let mut kept = answer.clone();
        kept.error = None;
        let entry = Entry {
            answer: kept,
            stored_at: Instant::now(),
            ttl,
        };
        match kind {
            Kind::Success => self.success.insert(key, entry),
            Kind::Denial => self.denial.insert(key, entry),
        }
    }

    fn lookup(&self, key: &CacheKey, request: &Request) -> Option<Answer> {
        let now = Instant::now();
        let (entry, age) = self
            .success
            .get(key, now)
            .or_else(|| self.denial.get(key, now))?;
        let mut answer = entry.answer;
        // A cached answer is not authoritative (CoreDNS clears AA too).
        answer.authoritative = false;
        answer.plugin = "cache";
        let remaining = entry.ttl - age;
        let age_record = |record: &mut Record| {
            record.ttl = record.ttl.saturating_sub(age).min(remaining);
        };
        for record in answer.answers.iter_mut() {
            age_record(record);
            if record.name.eq_ignore_root(&request.name) {
                record.name = request.name.clone();
            }
        }
        answer.authority.iter_mut().for_each(age_record);
        answer.additional.iter_mut().for_each(age_record);
        Some(answer)
    }
}

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
        if let Some(answer) = self.inner.lookup(&key, request) {
            return Served::Ready(answer);
        }
        let inner = self.inner.clone();
        next.serve(request, resolver).map(move |answer| {
            inner.store(key, &answer);
            answer
        })
    }
}
