//! The bound on answers in flight per listener: every answer that must wait (an upstream, the
//! first sync of the cluster at start-up) holds a permit until it is sent. Past the bound a
//! query is answered REFUSED at once and counted, as `forward`'s `max_concurrent` does, so a
//! silent upstream and a flood of unique names cannot grow tasks, sockets and memory without
//! end.

use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::PendingMetrics;

/// The default number of answers in flight per listener: generous for a cluster DNS replica
/// (tens of thousands of queries per second, of which only the forwarded ones wait, each for a
/// few milliseconds), small enough that a flood costs a bounded few hundred megabytes at worst.
pub const DEFAULT_MAX_PENDING: usize = 10_000;

/// The permits of one listener, shared by its UDP workers and TCP connections.
#[derive(Clone, Debug)]
pub struct PendingLimit {
    permits: Arc<Semaphore>,
    max: u32,
    metrics: PendingMetrics,
}

/// One answer in flight: its place under the bound, given back when dropped.
#[derive(Debug)]
pub struct PendingPermit {
    _permit: OwnedSemaphorePermit,
    in_flight: Gauge,
}

impl Drop for PendingPermit {
    fn drop(&mut self) {
        self.in_flight.dec();
    }
}

impl PendingLimit {
    /// At most `max` answers in flight, counted in `metrics`.
    pub fn new(max: usize, metrics: PendingMetrics) -> PendingLimit {
        let max = u32::try_from(max.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        PendingLimit {
            permits: Arc::new(Semaphore::new(max as usize)),
            max,
            metrics,
        }
    }

    /// Resolves when no answer is in flight, and from then on none can start: for a shutdown,
    /// after the listeners stopped, so that every query received is answered before exit.
    pub async fn drained(&self) {
        if let Ok(all) = self.permits.acquire_many(self.max).await {
            all.forget();
        }
    }

    /// A permit for one more waiting answer, or `None` (counted) when the bound is reached.
    pub fn try_acquire(&self) -> Option<PendingPermit> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                self.metrics.in_flight.inc();
                Some(PendingPermit {
                    _permit: permit,
                    in_flight: self.metrics.in_flight.clone(),
                })
            }
            Err(_) => {
                self.metrics.rejected.inc();
                None
            }
        }
    }
}

impl Default for PendingLimit {
    /// [`DEFAULT_MAX_PENDING`], counted nowhere (tests, benchmarks).
    fn default() -> Self {
        PendingLimit::new(DEFAULT_MAX_PENDING, PendingMetrics::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_bound_queries_are_refused_and_counted_until_a_permit_returns() {
        let metrics = PendingMetrics::default();
        let limit = PendingLimit::new(2, metrics.clone());
        let first = limit.try_acquire().expect("first");
        let _second = limit.try_acquire().expect("second");
        assert_eq!(metrics.in_flight.get(), 2);
        assert!(limit.try_acquire().is_none());
        assert_eq!(metrics.rejected.get(), 1);
        drop(first);
        assert_eq!(metrics.in_flight.get(), 1);
        assert!(limit.try_acquire().is_some());
        assert_eq!(metrics.rejected.get(), 1);
    }

    #[tokio::test]
    async fn drained_waits_for_every_permit_and_then_admits_none() {
        let limit = PendingLimit::new(3, PendingMetrics::default());
        let held = limit.try_acquire().expect("a permit");
        let waiting = limit.clone();
        let drained = tokio::spawn(async move { waiting.drained().await });
        tokio::task::yield_now().await;
        assert!(!drained.is_finished(), "an answer is still in flight");
        drop(held);
        drained.await.expect("drained");
        assert!(limit.try_acquire().is_none(), "nothing starts after");
    }
}
