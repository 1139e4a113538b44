//! A counter that joins its family at its first increment: a series appears when it is first
//! counted, as a Go client's `WithLabelValues(…).Inc()` makes it in CoreDNS, and counting
//! takes no lock after that.

use std::hash::Hash;
use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// One series of `Family<L, Counter>`, created on the first [`LazyCounter::inc`].
#[derive(Clone, Debug)]
pub struct LazyCounter<L: Clone + Hash + Eq> {
    /// The family and the series' labels; none for a counter registered nowhere.
    series: Option<(Family<L, Counter>, L)>,
    /// Shared by clones, so each reads what all counted.
    counter: Arc<OnceLock<Counter>>,
}

impl<L: Clone + Hash + Eq + EncodeLabelSet + std::fmt::Debug> Default for LazyCounter<L> {
    fn default() -> Self {
        LazyCounter::unregistered()
    }
}

impl<L: Clone + Hash + Eq + EncodeLabelSet + std::fmt::Debug> LazyCounter<L> {
    /// The series `labels` of `family`, not created yet.
    pub fn new(family: &Family<L, Counter>, labels: L) -> Self {
        LazyCounter {
            series: Some((family.clone(), labels)),
            counter: Arc::new(OnceLock::new()),
        }
    }

    /// A counter registered nowhere (a plugin built without a metrics registry, a test);
    /// its clones count together.
    pub fn unregistered() -> Self {
        LazyCounter {
            series: None,
            counter: Arc::new(OnceLock::new()),
        }
    }

    fn counter(&self) -> &Counter {
        self.counter.get_or_init(|| match &self.series {
            Some((family, labels)) => family.get_or_create(labels).clone(),
            None => Counter::default(),
        })
    }

    /// Add one, creating the series the first time.
    pub fn inc(&self) {
        self.counter().inc();
    }

    /// The count (0 before the first increment).
    pub fn get(&self) -> u64 {
        self.counter.get().map_or(0, Counter::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct To {
        to: String,
    }

    #[test]
    fn the_series_appears_at_the_first_increment() {
        let family = Family::<To, Counter>::default();
        let mut registry = Registry::default();
        registry.register("sent", "sent", family.clone());
        let counter = LazyCounter::new(&family, To { to: "a".into() });
        let text = |registry: &Registry| {
            let mut out = String::new();
            encode(&mut out, registry).expect("encode");
            out
        };
        assert!(!text(&registry).contains("to=\"a\""));
        assert_eq!(counter.get(), 0);
        let clone = counter.clone();
        counter.inc();
        clone.inc();
        assert_eq!(counter.get(), 2, "a clone counts into the same series");
        assert_eq!(clone.get(), 2);
        assert!(
            text(&registry).contains("sent_total{to=\"a\"} 2"),
            "{}",
            text(&registry)
        );
    }
}
