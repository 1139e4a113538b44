//! A histogram whose observation is a few atomic adds (prometheus-client's takes a mutex).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

#[derive(Debug)]
struct Inner {
    bounds: Box<[f64]>,
    /// Per bucket (not cumulative); the last counts values above every bound.
    counts: Box<[AtomicU64]>,
    count: AtomicU64,
    /// The sum as f64 bits, updated by compare-and-swap.
    sum: AtomicU64,
}

/// A lock-free histogram; clones share the same counts.
#[derive(Clone, Debug)]
pub struct AtomicHistogram {
    inner: Arc<Inner>,
}

impl AtomicHistogram {
    /// A histogram with these upper bounds (ascending).
    pub fn new(bounds: &[f64]) -> AtomicHistogram {
        AtomicHistogram {
            inner: Arc::new(Inner {
                bounds: bounds.into(),
                counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                count: AtomicU64::new(0),
                sum: AtomicU64::new(0f64.to_bits()),
            }),
        }
    }

    /// Record `value`.
    pub fn observe(&self, value: f64) {
        let inner = &self.inner;
        let bucket = inner.bounds.partition_point(|bound| *bound < value);
        inner.counts[bucket].fetch_add(1, Ordering::Relaxed);
        inner.count.fetch_add(1, Ordering::Relaxed);
        let _ = inner
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    /// (sum, count, per-bucket (upper bound, count) pairs ending with +Inf). The counts are
    /// not cumulative: prometheus-client's encoder accumulates them.
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let inner = &self.inner;
        let mut buckets = Vec::with_capacity(inner.counts.len());
        for (i, count) in inner.counts.iter().enumerate() {
            let bound = inner.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, count.load(Ordering::Relaxed)));
        }
        (
            f64::from_bits(inner.sum.load(Ordering::Relaxed)),
            inner.count.load(Ordering::Relaxed),
            buckets,
        )
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_lands_in_one_bucket_with_inf_last() {
        let h = AtomicHistogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 3.0] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 4);
        assert!((sum - 6.0).abs() < 1e-9);
        assert_eq!(buckets, vec![(1.0, 2), (2.0, 1), (f64::INFINITY, 1)]);
    }
}
