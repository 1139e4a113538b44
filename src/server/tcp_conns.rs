//! The open TCP connections of one listener, so that no client can take them all: at most
//! `max_total` in all and `max_per_source` from one address. When a new connection would pass
//! either bound, the connection idle the longest (no answer owed) is closed to make room: one
//! of the same address if that address is at its bound, else one of the address holding the
//! most connections (RFC 7766 §6.2.3: a server may close idle connections when it needs the
//! resources). If none is idle, the new connection is closed instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

/// One open connection as the table sees it.
#[derive(Debug)]
pub struct Tracked {
    id: u64,
    source: IpAddr,
    /// Answers owed: frames read whose answer is not written yet.
    owed: AtomicUsize,
    /// Milliseconds since the table's epoch of the last frame read or answer written.
    last_active: AtomicU64,
    /// Told when the table closes the connection to make room.
    close: Notify,
    epoch: Instant,
}

impl Tracked {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A frame was read: an answer is owed.
    pub fn frame_read(&self) {
        self.owed.fetch_add(1, Ordering::AcqRel);
        self.last_active.store(self.now(), Ordering::Release);
    }

    /// An answer was written (or none will be): one less owed.
    pub fn answered(&self) {
        self.owed.fetch_sub(1, Ordering::AcqRel);
        self.last_active.store(self.now(), Ordering::Release);
    }

    /// Resolves when the table closed this connection to make room for another.
    pub async fn closed(&self) {
        self.close.notified().await;
    }

    fn idle_since(&self) -> Option<u64> {
        (self.owed.load(Ordering::Acquire) == 0).then(|| self.last_active.load(Ordering::Acquire))
    }
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Arc<Tracked>>,
    per_source: HashMap<IpAddr, usize>,
}

impl Table {
    fn remove(&mut self, id: u64) -> Option<Arc<Tracked>> {
        let tracked = self.open.remove(&id)?;
        if let Some(count) = self.per_source.get_mut(&tracked.source) {
            *count -= 1;
            if *count == 0 {
                self.per_source.remove(&tracked.source);
            }
        }
        Some(tracked)
    }

    /// The idle connection to close: the longest idle of `source` if given, else of the
    /// address holding the most connections (the longest idle among equals).
    fn victim(&self, source: Option<IpAddr>) -> Option<u64> {
        self.open
            .values()
            .filter(|t| source.is_none_or(|s| s == t.source))
            .filter_map(|t| {
                let held = self.per_source.get(&t.source).copied().unwrap_or(0);
                Some((std::cmp::Reverse(held), t.idle_since()?, t.id))
            })
            .min()
            .map(|(_, _, id)| id)
    }
}

/// The connections of one listener.
#[derive(Debug)]
pub struct Connections {
    table: Mutex<Table>,
    max_total: usize,
    max_per_source: usize,
    epoch: Instant,
}

/// A connection's place in the table; dropping it frees the place.
#[derive(Debug)]
pub struct Admitted {
    connections: Arc<Connections>,
    /// The connection's activity, for the connection loop to report to.
    pub tracked: Arc<Tracked>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.lock().remove(self.tracked.id);
    }
}

impl Connections {
    /// A table of at most `max_total` connections, `max_per_source` of them from one address.
    pub fn new(max_total: usize, max_per_source: usize) -> Arc<Connections> {
        Arc::new(Connections {
            table: Mutex::default(),
            max_total: max_total.max(1),
            max_per_source: max_per_source.max(1),
            epoch: Instant::now(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection from `source`, closing an idle one if a bound is reached;
    /// `None` if the bound is reached and nothing is idle.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Option<Admitted> {
        let mut table = self.lock();
        let from_source = table.per_source.get(&source).copied().unwrap_or(0);
        let full = if from_source >= self.max_per_source {
            Some(Some(source))
        } else if table.open.len() >= self.max_total {
            Some(None)
        } else {
            None
        };
        if let Some(among) = full {
            let victim = table.victim(among)?;
            if let Some(closed) = table.remove(victim) {
                closed.close.notify_one();
            }
        }
        table.next_id += 1;
        let tracked = Arc::new(Tracked {
            id: table.next_id,
            source,
            owed: AtomicUsize::new(0),
            last_active: AtomicU64::new(0),
            close: Notify::new(),
            epoch: self.epoch,
        });
        tracked.last_active.store(tracked.now(), Ordering::Release);
        table.open.insert(tracked.id, tracked.clone());
        *table.per_source.entry(source).or_insert(0) += 1;
        Some(Admitted {
            connections: self.clone(),
            tracked,
        })
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn one_address_cannot_pass_its_share() {
        let table = Connections::new(8, 2);
        let first = table.admit(ip(2)).expect("room");
        let second = table.admit(ip(2)).expect("room");
        second.tracked.frame_read();
        let third = table.admit(ip(2)).expect("the idle first makes room");
        assert_eq!(table.len(), 2);
        let evicted = first.tracked.clone();
        assert!(
            was_told_to_close(&evicted),
            "the first, idle, was told to close"
        );
        third.tracked.frame_read();
        assert!(
            table.admit(ip(2)).is_none(),
            "both busy: the new one is refused"
        );
        assert!(table.admit(ip(3)).is_some(), "another address is not");
        drop(first);
        assert_eq!(
            table.len(),
            2,
            "a connection already evicted frees nothing twice"
        );
    }

    #[test]
    fn when_full_the_greediest_address_gives_way() {
        let table = Connections::new(4, 4);
        let polite = table.admit(ip(9)).expect("room");
        let greedy: Vec<Admitted> = (0..3).map(|_| table.admit(ip(2)).expect("room")).collect();
        assert_eq!(table.len(), 4);
        let newcomer = table.admit(ip(10)).expect("a greedy one makes room");
        assert_eq!(table.len(), 4);
        assert!(!was_told_to_close(&polite.tracked), "the polite one stays");
        assert_eq!(
            greedy
                .iter()
                .filter(|a| was_told_to_close(&a.tracked))
                .count(),
            1
        );
        drop(newcomer);
        assert_eq!(table.len(), 3);
    }

    /// Whether `tracked` was told to close (its notification is waiting).
    fn was_told_to_close(tracked: &Tracked) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(1), tracked.closed())
                .await
                .is_ok()
        })
    }
}
