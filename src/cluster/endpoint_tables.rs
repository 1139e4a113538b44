//! Finding the endpoints of one Service by address, hostname or pod name without walking them
//! all: a PTR query or an endpoint name (`host.svc.ns.svc.<zone>`) of a headless Service with
//! 100,000 endpoints would otherwise scan every endpoint per query. Small Services are scanned
//! (cheaper than a table); a large one gets its tables built once, on the first lookup after
//! each change of its slices (the slices are immutable between changes).
//!
//! Names are keyed by a hash, not a copy of the string: callers check the endpoint they get
//! back, so a hash collision costs a comparison, never a wrong answer.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use super::objects::{Endpoint, EndpointSlice};
use super::one_or_many::OneOrMany;

/// Where an endpoint sits: its slice's index and its index in that slice. Sorted positions
/// are in slice order.
pub type Position = (u32, u32);

/// Services with more endpoints than this get tables; smaller ones are scanned.
pub const SCAN_LIMIT: usize = 64;

/// What an endpoint is looked up by.
#[derive(Clone, Copy, Debug)]
pub enum EndpointKey<'a> {
    /// An endpoint that holds this address.
    Address(IpAddr),
    /// An endpoint whose `hostname` is this.
    Hostname(&'a str),
    /// An endpoint whose pod (in `targetRef`) has this name.
    PodName(&'a str),
}

impl EndpointKey<'_> {
    fn matches(&self, endpoint: &Endpoint) -> bool {
        match self {
            EndpointKey::Address(ip) => endpoint.addresses.contains(ip),
            EndpointKey::Hostname(name) => endpoint.hostname.as_deref() == Some(*name),
            EndpointKey::PodName(name) => endpoint.pod_name.as_deref() == Some(*name),
        }
    }
}

/// The tables of one large Service.
#[derive(Debug)]
pub struct EndpointTables {
    hasher: foldhash::fast::RandomState,
    by_address: HashMap<IpAddr, OneOrMany<Position>, foldhash::fast::RandomState>,
    by_hostname: HashMap<u64, OneOrMany<Position>, foldhash::fast::RandomState>,
    by_pod_name: HashMap<u64, OneOrMany<Position>, foldhash::fast::RandomState>,
}

fn positions(slices: &[Arc<EndpointSlice>]) -> impl Iterator<Item = (Position, &Endpoint)> {
    slices.iter().enumerate().flat_map(|(s, slice)| {
        slice
            .endpoints
            .iter()
            .enumerate()
            .map(move |(e, endpoint)| {
                let position = (
                    u32::try_from(s).unwrap_or(u32::MAX),
                    u32::try_from(e).unwrap_or(u32::MAX),
                );
                (position, endpoint)
            })
    })
}

impl EndpointTables {
    /// The tables of `slices`.
    pub fn build(slices: &[Arc<EndpointSlice>]) -> EndpointTables {
        let mut tables = EndpointTables {
            hasher: foldhash::fast::RandomState::default(),
            by_address: HashMap::default(),
            by_hostname: HashMap::default(),
            by_pod_name: HashMap::default(),
        };
        for (position, endpoint) in positions(slices) {
            for ip in endpoint.addresses.as_slice() {
                tables.by_address.entry(*ip).or_default().push(position);
            }
            if let Some(name) = &endpoint.hostname {
                let hash = tables.hasher.hash_one(&**name);
                tables.by_hostname.entry(hash).or_default().push(position);
            }
            if let Some(name) = &endpoint.pod_name {
                let hash = tables.hasher.hash_one(&**name);
                tables.by_pod_name.entry(hash).or_default().push(position);
            }
        }
        tables
    }

    /// The positions filed under `key` (a name's may include other names of the same hash).
    fn candidates(&self, key: EndpointKey<'_>) -> &[Position] {
        let found = match key {
            EndpointKey::Address(ip) => self.by_address.get(&ip),
            EndpointKey::Hostname(name) => self.by_hostname.get(&self.hasher.hash_one(name)),
            EndpointKey::PodName(name) => self.by_pod_name.get(&self.hasher.hash_one(name)),
        };
        found.map_or(&[], OneOrMany::as_slice)
    }
}

/// The endpoint at `position` of `slices`.
pub fn endpoint_at(slices: &[Arc<EndpointSlice>], (s, e): Position) -> Option<&Endpoint> {
    slices.get(s as usize)?.endpoints.get(e as usize)
}

/// The positions of the endpoints of `slices` that match any of `keys`, each once, in slice
/// order: from `tables` when given, else by a scan.
pub fn find(
    slices: &[Arc<EndpointSlice>],
    tables: Option<&EndpointTables>,
    keys: &[EndpointKey<'_>],
) -> Vec<Position> {
    let matches = |endpoint: &Endpoint| keys.iter().any(|k| k.matches(endpoint));
    match tables {
        Some(tables) => {
            let mut found: Vec<Position> = keys
                .iter()
                .flat_map(|key| tables.candidates(*key).iter().copied())
                .filter(|p| endpoint_at(slices, *p).is_some_and(matches))
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        }
        None => positions(slices)
            .filter(|(_, endpoint)| matches(endpoint))
            .map(|(position, _)| position)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(ip: [u8; 4], hostname: Option<&str>, pod: Option<&str>) -> Endpoint {
        Endpoint {
            addresses: [IpAddr::from(ip)].into_iter().collect(),
            hostname: hostname.map(Into::into),
            pod_name: pod.map(Into::into),
            ready: true,
        }
    }

    fn slices() -> Vec<Arc<EndpointSlice>> {
        let slice = |name: &str, endpoints: Vec<Endpoint>| {
            Arc::new(EndpointSlice {
                name: name.into(),
                namespace: "default".into(),
                service: "big".into(),
                endpoints,
                ports: Vec::new(),
                trigger_time: None,
            })
        };
        let many: Vec<Endpoint> = (0..200u8)
            .map(|i| endpoint([10, 0, 1, i], None, Some(&format!("web-{i}"))))
            .collect();
        vec![
            slice(
                "a",
                vec![
                    endpoint([10, 0, 0, 1], Some("db-0"), Some("db-0")),
                    endpoint([10, 0, 0, 2], None, None),
                ],
            ),
            slice("b", many),
            // The same address in a later slice (an endpoint moving between slices).
            slice("c", vec![endpoint([10, 0, 0, 1], Some("db-0"), None)]),
        ]
    }

    #[test]
    fn tables_find_what_a_scan_finds_in_the_same_order() {
        let slices = slices();
        let tables = EndpointTables::build(&slices);
        let keys = [
            EndpointKey::Address(IpAddr::from([10, 0, 0, 1])),
            EndpointKey::Address(IpAddr::from([10, 0, 1, 150])),
            EndpointKey::Address(IpAddr::from([10, 9, 9, 9])),
            EndpointKey::Hostname("db-0"),
            EndpointKey::Hostname("web-3"),
            EndpointKey::PodName("web-3"),
            EndpointKey::PodName("nope"),
        ];
        for key in keys {
            assert_eq!(
                find(&slices, Some(&tables), &[key]),
                find(&slices, None, &[key]),
                "{key:?}"
            );
        }
        assert_eq!(
            find(&slices, Some(&tables), &keys[..1]),
            vec![(0, 0), (2, 0)]
        );
        assert_eq!(find(&slices, Some(&tables), &keys[5..6]), vec![(1, 3)]);
        assert!(find(&slices, Some(&tables), &keys[4..5]).is_empty());
        let several = [keys[3], keys[0], keys[5]];
        assert_eq!(
            find(&slices, Some(&tables), &several),
            vec![(0, 0), (1, 3), (2, 0)],
            "each once, in slice order"
        );
        assert_eq!(find(&slices, None, &several), vec![(0, 0), (1, 3), (2, 0)]);
    }
}
