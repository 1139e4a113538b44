//! The `loadbalance` plugin: shuffles the A, AAAA and MX records of each answer, so clients
//! that take the first address spread over all of them (CoreDNS's `round_robin`). CNAMEs and
//! other records keep their place.

use hickory_proto::rr::{Record, RecordType};
use rand::RngExt;

pub mod setup;

pub use setup::LoadBalanceConfig;

use crate::plugin::{
    Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `loadbalance` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

impl Setup for LoadBalanceConfig {
    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        started(LoadBalance)
    }
}

/// The running plugin.
#[derive(Debug, Default)]
pub struct LoadBalance;

/// Shuffle the records of each shuffled type among the positions they occupy.
pub fn shuffle(records: &mut [Record]) {
    let mut rng = rand::rng();
    for kind in [RecordType::A, RecordType::AAAA, RecordType::MX] {
        let positions: Vec<usize> = (0..records.len())
            .filter(|i| records[*i].record_type() == kind)
            .collect();
        for i in (1..positions.len()).rev() {
            let j = rng.random_range(0..=i);
            records.swap(positions[i], positions[j]);
        }
    }
}

impl Plugin for LoadBalance {
    fn name(&self) -> &'static str {
        "loadbalance"
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        next.serve(request, resolver).map(|mut answer: Answer| {
            shuffle(&mut answer.answers);
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME};
    use hickory_proto::rr::{Name, RData};
    use std::collections::HashSet;

    #[test]
    fn addresses_are_shuffled_and_cnames_stay_first() {
        let name = Name::from_ascii("x.").expect("name");
        let mut seen_first = HashSet::new();
        for _ in 0..200 {
            let mut records = vec![Record::from_rdata(
                name.clone(),
                5,
                RData::CNAME(CNAME(name.clone())),
            )];
            for i in 1..=4 {
                records.push(Record::from_rdata(
                    name.clone(),
                    5,
                    RData::A(A::new(10, 0, 0, i)),
                ));
            }
            shuffle(&mut records);
            assert_eq!(records[0].record_type(), RecordType::CNAME);
            assert_eq!(records.len(), 5);
            seen_first.insert(records[1].data.to_string());
        }
        assert_eq!(seen_first.len(), 4, "every address comes first sometimes");
    }
}
