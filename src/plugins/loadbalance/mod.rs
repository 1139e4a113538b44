//! The `loadbalance` plugin: shuffles the A, AAAA and MX records of each answer, so clients
//! that take the first address spread over all of them (CoreDNS's `round_robin`), or draws the
//! first address by the weights of a file (`weighted`). CNAMEs and other records keep their
//! place.

use std::net::IpAddr;

use hickory_proto::rr::{RData, Record, RecordType};
use rand::RngExt;

pub mod setup;
pub mod weights;

pub use setup::{LoadBalanceConfig, Policy};
pub use weights::WeightTable;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Cidr;
use crate::plugin::file_poll::poll_file;
use crate::plugin::{
    AbortOnDrop, Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
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
        let (weights, reloader) = match self.policy {
            Policy::RoundRobin => (None, None),
            Policy::Weighted {
                file,
                reload,
                table,
            } => {
                let weights = Arc::new(ArcSwap::from_pointee(table));
                let reloader = (!reload.is_zero()).then(|| {
                    let weights = weights.clone();
                    poll_file(file.clone(), reload, move || reload_weights(&file, &weights))
                });
                (Some(weights), reloader)
            }
        };
        started(LoadBalance {
            prefer: self.prefer.into(),
            weights,
            limit_answers: self.limit_answers,
            _reloader: reloader,
        })
    }
}

/// Re-read the weight file when it changed: a file that no longer parses (or cannot be read)
/// keeps the running weights and is logged.
fn reload_weights(file: &std::path::Path, weights: &ArcSwap<WeightTable>) {
    match setup::read_weights(file) {
        Ok(table) => {
            weights.store(Arc::new(table));
            tracing::info!("plugin/loadbalance: reloaded weight file {}", file.display());
        }
        Err(e) => tracing::error!("plugin/loadbalance: {e}; keeping the running weights"),
    }
}

/// The running plugin.
#[derive(Debug, Default)]
pub struct LoadBalance {
    /// `prefer`'s networks (shared by the answers that wait).
    prefer: Arc<[Cidr]>,
    /// `weighted`'s weights, swapped whole by the reloader.
    weights: Option<Arc<ArcSwap<WeightTable>>>,
    /// `limit_answers`.
    limit_answers: Option<usize>,
    /// The weight file's reloader, stopped with the plugin.
    _reloader: Option<AbortOnDrop>,
}

/// Put the A and AAAA records in `prefer`'s networks first (in the order of the networks),
/// keeping the order inside each group: the positions of the address records are refilled.
pub fn prefer(records: &mut [Record], networks: &[Cidr]) {
    if networks.is_empty() {
        return;
    }
    let rank = |record: &Record| -> usize {
        let ip = match &record.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
            _ => return usize::MAX,
        };
        networks
            .iter()
            .position(|net| net.contains(ip))
            .unwrap_or(networks.len())
    };
    let positions: Vec<usize> = (0..records.len())
        .filter(|i| rank(&records[*i]) != usize::MAX)
        .collect();
    let mut addresses: Vec<Record> = positions.iter().map(|i| records[*i].clone()).collect();
    addresses.sort_by_key(|r| rank(r));
    for (position, record) in positions.into_iter().zip(addresses) {
        records[position] = record;
    }
}

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
        let networks = self.prefer.clone();
        let weights = self.weights.clone();
        let limit = self.limit_answers;
        let weighted_type = matches!(
            request.qtype,
            RecordType::A | RecordType::AAAA | RecordType::SRV
        );
        next.serve(request, resolver).map(move |mut answer: Answer| {
            match &weights {
                None => shuffle(&mut answer.answers),
                // As CoreDNS: the weighted choice is made for A, AAAA and SRV questions, in the
                // answer and the additional sections.
                Some(weights) if weighted_type => {
                    let table = weights.load();
                    table.put_weighted_first(&mut answer.answers);
                    table.put_weighted_first(&mut answer.additional);
                }
                Some(_) => {}
            }
            prefer(&mut answer.answers, &networks);
            if let Some(limit) = limit {
                answer.answers.truncate(limit);
            }
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
    fn preferred_networks_come_first_in_their_order() {
        let name = Name::from_ascii("x.").expect("name");
        let a = |ip: [u8; 4]| Record::from_rdata(name.clone(), 5, RData::A(A::new(ip[0], ip[1], ip[2], ip[3])));
        let mut records = vec![
            Record::from_rdata(
                name.clone(),
                5,
                RData::CNAME(CNAME(Name::from_ascii("y.").expect("name"))),
            ),
            a([192, 0, 2, 1]),
            a([10, 1, 0, 1]),
            a([172, 16, 0, 1]),
            a([10, 2, 0, 1]),
        ];
        let networks = [
            Cidr::parse("172.16.0.0/12").expect("cidr"),
            Cidr::parse("10.0.0.0/8").expect("cidr"),
        ];
        prefer(&mut records, &networks);
        let order: Vec<String> = records.iter().map(|r| r.data.to_string()).collect();
        assert_eq!(order, ["y.", "172.16.0.1", "10.1.0.1", "10.2.0.1", "192.0.2.1"]);
    }

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
