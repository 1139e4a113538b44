//! `loadbalance weighted`: the weight file and the choice of the first address.
//!
//! The file names a domain on a line of its own, then one `ADDRESS WEIGHT` line (weight 1-255)
//! per address of that domain; `#` starts a comment line. An address without a weight counts 1.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, Record};
use rand::RngExt;

/// The weights of one file: owner name (fully qualified) → address → weight.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeightTable {
    domains: HashMap<Name, Vec<(IpAddr, u8)>>,
}

impl WeightTable {
    /// Parse a weight file's text; an error names the line (1-based) and what is wrong.
    pub fn parse(text: &str) -> Result<WeightTable, (usize, String)> {
        let mut domains: HashMap<Name, Vec<(IpAddr, u8)>> = HashMap::new();
        let mut current: Option<Name> = None;
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [domain] => {
                    if domain.parse::<IpAddr>().is_ok() {
                        return Err((
                            line_number,
                            format!("{domain:?} is an address without a weight"),
                        ));
                    }
                    let mut name = Name::from_ascii(domain)
                        .map_err(|e| (line_number, format!("domain {domain:?}: {e}")))?;
                    name.set_fqdn(true);
                    domains.entry(name.clone()).or_default();
                    current = Some(name);
                }
                [address, weight] => {
                    let address: IpAddr = address
                        .parse()
                        .map_err(|_| (line_number, format!("{address:?} is not an IP address")))?;
                    let weight = weight
                        .parse::<u8>()
                        .ok()
                        .filter(|w| *w > 0)
                        .ok_or_else(|| (line_number, format!("weight {weight:?}: expected 1-255")))?;
                    let Some(domain) = &current else {
                        return Err((line_number, "an address before any domain name".into()));
                    };
                    domains.entry(domain.clone()).or_default().push((address, weight));
                }
                _ => {
                    return Err((
                        line_number,
                        "expected a domain name, or an address and a weight".into(),
                    ));
                }
            }
        }
        Ok(WeightTable { domains })
    }

    /// The weight of `address` for `owner` (1 when the file does not name it).
    fn weight(&self, owner: &Name, address: IpAddr) -> u32 {
        // Name's equality and hash ignore ASCII case.
        let found = self.domains.get(owner);
        found
            .and_then(|weights| weights.iter().find(|(ip, _)| *ip == address))
            .map_or(1, |(_, w)| u32::from(*w))
    }

    /// Move one of the A/AAAA records of `records`, drawn at random in proportion to its
    /// weight, to the first position any address record holds. Nothing else moves.
    pub fn put_weighted_first(&self, records: &mut [Record]) {
        let mut positions: Vec<(usize, u32)> = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let address = match &record.data {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
                _ => continue,
            };
            positions.push((i, self.weight(&record.name, address)));
        }
        let (Some(&(first, _)), total) = (positions.first(), positions.iter().map(|p| p.1).sum::<u32>())
        else {
            return;
        };
        let mut draw = rand::rng().random_range(0..total);
        for (position, weight) in positions {
            if draw < weight {
                records.swap(first, position);
                return;
            }
            draw -= weight;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME};

    const FILE: &str = "# weights\n\nwww.example.com\n100.64.1.1 3\n100.64.1.2 1\n100.64.1.3 2\n";

    #[test]
    fn parses_coredns_example_and_reports_lines() {
        let table = WeightTable::parse(FILE).expect("valid");
        let www = Name::from_ascii("WWW.example.com.").expect("name");
        assert_eq!(table.weight(&www, "100.64.1.1".parse().expect("ip")), 3);
        assert_eq!(table.weight(&www, "100.64.1.9".parse().expect("ip")), 1);
        assert_eq!(WeightTable::parse("10.0.0.1 3\n").unwrap_err().0, 1);
        assert_eq!(WeightTable::parse("a.\n10.0.0.1 0\n").unwrap_err().0, 2);
        assert_eq!(WeightTable::parse("a.\n10.0.0.1 256\n").unwrap_err().0, 2);
        assert_eq!(WeightTable::parse("a.\n\nx 1 2\n").unwrap_err().0, 3);
        assert!(WeightTable::parse("10.0.0.1\n").unwrap_err().1.contains("without a weight"));
    }

    #[test]
    fn first_address_follows_the_weights() {
        let table = WeightTable::parse(FILE).expect("valid");
        let name = Name::from_ascii("www.example.com.").expect("name");
        let mut counts = HashMap::new();
        for _ in 0..6000 {
            let mut records = vec![Record::from_rdata(
                name.clone(),
                5,
                RData::CNAME(CNAME(name.clone())),
            )];
            for last in 1..=3 {
                records.push(Record::from_rdata(name.clone(), 5, RData::A(A::new(100, 64, 1, last))));
            }
            table.put_weighted_first(&mut records);
            assert!(matches!(records[0].data, RData::CNAME(_)), "the CNAME keeps its place");
            *counts.entry(records[1].data.to_string()).or_insert(0u32) += 1;
        }
        // Expected 3000 : 1000 : 2000; six standard deviations stay far from a wrong ratio.
        let near = |ip: &str, expected: f64| {
            let got = f64::from(counts[ip]);
            assert!((got - expected).abs() < 250.0, "{ip}: {got} not near {expected}: {counts:?}");
        };
        near("100.64.1.1", 3000.0);
        near("100.64.1.2", 1000.0);
        near("100.64.1.3", 2000.0);
    }
}
