//! A bounded answer store: 256 shards, each a map behind its own short-held lock, bounded in
//! entries (the `cache` capacity) and in bytes ([`STORE_BYTES`]); when a shard is full, arbitrary
//! entries of it are evicted (CoreDNS's random eviction) until the new one fits. The map key is the
//! whole question (lowercase name, type, class, DO, CD), never a hash alone (Trail of Bits'
//! 2022 CoreDNS audit, TOB-CDNS-8, coredns/coredns#5174), and the hasher is keyed at random per
//! process.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};

use hickory_proto::rr::{DNSClass, Name, RecordType};
use prometheus_client::metrics::gauge::Gauge;
use tokio::time::Instant;

use super::metrics::CacheTypeLabels;
use crate::metrics::lazy::LazyCounter;

use super::compact::CompactAnswer;

const SHARDS: usize = 256;

/// The bytes one store may hold (keys, entries and their answers' octets): 32 MiB, so a
/// `cache` directive's two stores hold at most 64 MiB whatever the answers' sizes.
pub const STORE_BYTES: usize = 32 << 20;

/// The largest answer kept, in wire octets: larger ones (rare outside zone transfers and
/// abuse) are passed on uncached rather than crowding out hundreds of ordinary answers.
pub const MAX_ANSWER_OCTETS: usize = 16 << 10;

/// What an answer is stored under (CVE-2024-0874: DO and CD are part of it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The question name, lowercase.
    pub name: Name,
    /// The question type.
    pub qtype: RecordType,
    /// The question class.
    pub qclass: DNSClass,
    /// DO bit.
    pub dnssec_ok: bool,
    /// CD bit.
    pub checking_disabled: bool,
}

/// A stored answer.
#[derive(Debug)]
pub struct Entry {
    /// The answer as it was received, in wire form.
    pub answer: CompactAnswer,
    /// When it was stored.
    pub stored_at: Instant,
    /// How long it is valid (seconds).
    pub ttl: u32,
    /// Hits since it was stored (for `prefetch`).
    pub hits: AtomicU32,
    /// Whether a prefetch of it is running (at most one).
    pub prefetching: AtomicBool,
}

impl Entry {
    /// A fresh entry.
    pub fn new(answer: CompactAnswer, ttl: u32) -> Entry {
        Entry {
            answer,
            stored_at: Instant::now(),
            ttl,
            hits: AtomicU32::new(0),
            prefetching: AtomicBool::new(false),
        }
    }
}

/// The bytes an entry is charged: its key and entry, the answer's octets, and the map's own
/// slot (a pointer and a control byte, rounded up).
fn charge(key: &CacheKey, entry: &Entry) -> usize {
    std::mem::size_of::<CacheKey>()
        + std::mem::size_of::<Entry>()
        + entry.answer.size()
        + key.name.len()
        + 16
}

/// One shard's entries and the bytes they are charged.
#[derive(Debug, Default)]
struct Entries {
    map: HashMap<CacheKey, (Arc<Entry>, usize)>,
    bytes: usize,
}

impl Entries {
    fn remove(&mut self, key: &CacheKey) -> bool {
        match self.map.remove(key) {
            Some((_, bytes)) => {
                self.bytes -= bytes;
                true
            }
            None => false,
        }
    }
}

/// One shard: its entries behind a lock held only for a lookup or an insert.
type Shard = Mutex<Entries>;

/// A bounded store.
#[derive(Debug)]
pub struct Store {
    shards: Box<[Shard]>,
    per_shard: usize,
    bytes_per_shard: usize,
    hasher: RandomState,
    /// `coredns_cache_entries` of this store's type.
    entries: Gauge,
    /// `coredns_cache_evictions_total` of this store's type.
    evictions: LazyCounter<CacheTypeLabels>,
}

impl Store {
    /// A store holding at most `capacity` entries (rounded down to whole shards, at least one
    /// per shard) and `bytes` bytes.
    /// `entries` follows the number held; `evictions` counts entries pushed out when full.
    pub fn new(
        capacity: usize,
        bytes: usize,
        entries: Gauge,
        evictions: LazyCounter<CacheTypeLabels>,
    ) -> Store {
        Store {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: (capacity / SHARDS).max(1),
            bytes_per_shard: bytes / SHARDS,
            hasher: RandomState::new(),
            entries,
            evictions,
        }
    }

    fn shard(&self, key: &CacheKey) -> &Shard {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        &self.shards[index]
    }

    /// The entry for `key` and its age in seconds, if it is younger than its TTL plus `stale`
    /// seconds at `now` (older entries are removed). The caller tells fresh from stale.
    pub fn get(&self, key: &CacheKey, now: Instant, stale: u32) -> Option<(Arc<Entry>, u32)> {
        let mut shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        let (entry, _) = shard.map.get(key)?;
        let age = u32::try_from(now.saturating_duration_since(entry.stored_at).as_secs())
            .unwrap_or(u32::MAX);
        if age >= entry.ttl.saturating_add(stale) {
            shard.remove(key);
            self.entries.dec();
            return None;
        }
        Some((entry.clone(), age))
    }

    /// Store `entry` under `key`, evicting arbitrary entries of the shard until it fits. An
    /// entry larger than a whole shard's bytes is not stored.
    pub fn insert(&self, key: CacheKey, entry: Entry) {
        let bytes = charge(&key, &entry);
        if bytes > self.bytes_per_shard {
            return;
        }
        let entry = Arc::new(entry);
        let mut shard = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        if shard.remove(&key) {
            self.entries.dec();
        }
        while shard.map.len() >= self.per_shard || shard.bytes + bytes > self.bytes_per_shard {
            let Some(victim) = shard.map.keys().next().cloned() else {
                break;
            };
            shard.remove(&victim);
            self.entries.dec();
            self.evictions.inc();
        }
        shard.bytes += bytes;
        shard.map.insert(key, (entry, bytes));
        self.entries.inc();
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }

    /// Bytes held, as charged against the bound.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).bytes)
            .sum()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Store {
    /// A store replaced by a reload takes its entries out of the shared gauge.
    fn drop(&mut self) {
        let held = i64::try_from(self.len()).unwrap_or(i64::MAX);
        self.entries.dec_by(held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Answer;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::rdata::TXT;
    use hickory_proto::rr::{RData, Record};

    fn key(i: usize) -> CacheKey {
        CacheKey {
            name: Name::from_ascii(format!("n{i}.example.")).expect("name"),
            qtype: RecordType::A,
            qclass: DNSClass::IN,
            dnssec_ok: false,
            checking_disabled: false,
        }
    }

    fn entry(ttl: u32) -> Entry {
        let answer = Answer::rcode(ResponseCode::NoError, "test");
        Entry::new(CompactAnswer::encode(&answer, 512).expect("fits"), ttl)
    }

    /// An answer of one TXT record carrying `octets` octets of text.
    fn big_entry(octets: usize) -> Entry {
        let mut answer = Answer::rcode(ResponseCode::NoError, "test");
        let text = "x".repeat(200);
        let strings = vec![text; octets / 200];
        answer.answers.push(Record::from_rdata(
            Name::from_ascii("big.example.").expect("name"),
            60,
            RData::TXT(TXT::new(strings)),
        ));
        let compact = CompactAnswer::encode(&answer, MAX_ANSWER_OCTETS).expect("fits");
        Entry::new(compact, 60)
    }

    #[test]
    fn memory_is_bounded_in_bytes_whatever_the_answers_sizes() {
        let (entries, evictions) = (Gauge::default(), LazyCounter::unregistered());
        let bound = 4 << 20;
        let store = Store::new(100_000, bound, entries.clone(), evictions.clone());
        for i in 0..2_000 {
            store.insert(key(i), big_entry(10_000));
        }
        assert!(store.bytes() <= bound, "{} > {bound}", store.bytes());
        assert!(
            store.bytes() > bound / 2,
            "the shards fill up: {}",
            store.bytes()
        );
        assert!(store.len() < 420, "about 4 MiB / 10 KB: {}", store.len());
        assert_eq!(entries.get(), store.len() as i64);
        assert_eq!(evictions.get(), 2_000 - store.len() as u64);
        let mut again = store.bytes();
        for i in 0..2_000 {
            store.insert(key(i), entry(60));
            again = again.max(store.bytes());
        }
        assert!(again <= bound, "replacing keeps the count: {again}");
        let tiny = Store::new(100, 256 * 1024, Gauge::default(), LazyCounter::unregistered());
        tiny.insert(key(1), big_entry(2_000));
        assert!(tiny.is_empty(), "an entry larger than its shard is not kept");
    }

    #[test]
    fn memory_is_bounded_whatever_the_query_mix() {
        let (entries, evictions) = (Gauge::default(), LazyCounter::unregistered());
        let store = Store::new(1024, STORE_BYTES, entries.clone(), evictions.clone());
        for i in 0..50_000 {
            store.insert(key(i), entry(60));
        }
        assert!(store.len() <= 1024, "{}", store.len());
        assert!(store.len() > 900, "shards fill evenly: {}", store.len());
        assert_eq!(
            entries.get(),
            store.len() as i64,
            "the gauge follows the store"
        );
        assert_eq!(evictions.get(), 50_000 - store.len() as u64);
        drop(store);
        assert_eq!(entries.get(), 0, "a dropped store leaves the gauge");
    }

    #[test]
    fn entries_expire_and_flags_are_part_of_the_key() {
        let store = Store::new(1024, STORE_BYTES, Gauge::default(), LazyCounter::unregistered());
        store.insert(key(1), entry(10));
        let now = Instant::now();
        assert_eq!(store.get(&key(1), now, 0).map(|(_, age)| age), Some(0));
        let later = now + std::time::Duration::from_secs(10);
        assert_eq!(
            store.get(&key(1), later, 5).map(|(_, age)| age),
            Some(10),
            "stale, kept"
        );
        assert!(
            store.get(&key(1), later, 0).is_none(),
            "past the stale window"
        );
        assert!(
            store.get(&key(1), now, 5).is_none(),
            "an expired entry is removed"
        );
        store.insert(key(2), entry(10));
        let mut with_do = key(2);
        with_do.dnssec_ok = true;
        assert!(store.get(&with_do, now, 0).is_none());
        let mut with_cd = key(2);
        with_cd.checking_disabled = true;
        assert!(store.get(&with_cd, now, 0).is_none());
    }
}
