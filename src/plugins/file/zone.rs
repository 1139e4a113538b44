//! One authoritative zone read from an RFC 1035 zone file, and its lookups as CoreDNS's `file`
//! plugin answers them: records of the name, CNAMEs followed inside the zone, wildcards
//! (RFC 4592), referrals at delegations with glue, NXDOMAIN and NODATA with the SOA.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;
use thiserror::Error;

/// Why a zone file could not be loaded.
#[derive(Debug, Error)]
pub enum ZoneError {
    /// It could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: crate::config::ReadError,
    },
    /// It does not parse; `line` is where the entry that fails starts.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The line.
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// It has no SOA record at the origin.
    #[error("{path}: no SOA record for {origin}")]
    NoSoa {
        /// The file.
        path: String,
        /// The zone.
        origin: String,
    },
}

/// A loaded zone.
#[derive(Debug)]
pub struct Zone {
    /// The apex.
    pub origin: Name,
    /// The SOA record.
    pub soa: Record,
    /// Records by owner (lower case).
    records: BTreeMap<Name, Vec<Record>>,
    /// Every owner and every name between an owner and the apex (empty non-terminals).
    names: HashSet<Name>,
}

/// What a lookup found.
#[derive(Debug, Default)]
pub struct Found {
    /// The rcode.
    pub rcode: ResponseCode,
    /// Whether the answer is authoritative (not for a referral).
    pub authoritative: bool,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authority: Vec<Record>,
    /// Additional section.
    pub additional: Vec<Record>,
    /// A CNAME target outside the zone, to be followed through the server.
    pub outside: Option<Name>,
}

/// CNAMEs followed inside the zone at most.
const MAX_CNAMES: usize = 8;

impl Zone {
    /// Read the zone file at `path` for `origin`.
    pub fn load(path: &Path, origin: &Name) -> Result<Zone, ZoneError> {
        let shown = path.display().to_string();
        let text = crate::config::read_text(path, true).map_err(|source| ZoneError::Read {
            path: shown.clone(),
            source,
        })?;
        Zone::parse(&shown, &text, origin)
    }

    /// Parse zone-file `text` (from `path`) for `origin`.
    pub fn parse(path: &str, text: &str, origin: &Name) -> Result<Zone, ZoneError> {
        let sets = match parse_all(text, origin) {
            Ok(sets) => sets,
            Err(message) => {
                return Err(ZoneError::Syntax {
                    path: path.to_string(),
                    line: failing_line(text, origin),
                    message,
                });
            }
        };
        let origin = origin.to_lowercase();
        let mut records: BTreeMap<Name, Vec<Record>> = BTreeMap::new();
        for record in sets {
            if !origin.zone_of(&record.name) {
                continue;
            }
            let owner = record.name.to_lowercase();
            records.entry(owner).or_default().push(record);
        }
        let soa = records
            .get(&origin)
            .and_then(|rs| rs.iter().find(|r| r.record_type() == RecordType::SOA))
            .cloned()
            .ok_or_else(|| ZoneError::NoSoa {
                path: path.to_string(),
                origin: origin.to_string(),
            })?;
        let mut names = HashSet::new();
        for owner in records.keys() {
            let mut name = owner.clone();
            while origin.zone_of(&name) && names.insert(name.clone()) && name != origin {
                name = name.base_name();
            }
        }
        Ok(Zone {
            origin,
            soa,
            records,
            names,
        })
    }

    /// The SOA serial.
    pub fn serial(&self) -> u32 {
        match &self.soa.data {
            RData::SOA(soa) => soa.serial,
            _ => 0,
        }
    }

    fn rrset(&self, owner: &Name, rtype: RecordType) -> Vec<Record> {
        self.records
            .get(owner)
            .map(|rs| {
                rs.iter()
                    .filter(|r| rtype == RecordType::ANY || r.record_type() == rtype)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The address records of `targets` held in the zone (glue and additional data).
    fn addresses_of(&self, targets: impl Iterator<Item = Name>) -> Vec<Record> {
        let mut out = Vec::new();
        for target in targets {
            let target = target.to_lowercase();
            out.extend(self.rrset(&target, RecordType::A));
            out.extend(self.rrset(&target, RecordType::AAAA));
        }
        out
    }

    /// The deepest zone cut (NS below the apex) at or above `name`, if any.
    fn delegation(&self, name: &Name) -> Option<Name> {
        let mut cut = None;
        let mut current = name.clone();
        while current != self.origin && self.origin.zone_of(&current) {
            if self
                .records
                .get(&current)
                .is_some_and(|rs| rs.iter().any(|r| r.record_type() == RecordType::NS))
            {
                cut = Some(current.clone());
            }
            current = current.base_name();
        }
        cut
    }

    /// Look `name`/`qtype` up (`name` inside the zone).
    pub fn lookup(&self, name: &Name, qtype: RecordType) -> Found {
        let mut found = Found {
            authoritative: true,
            ..Found::default()
        };
        let mut current = name.to_lowercase();
        let mut owner = name.clone();
        for _ in 0..=MAX_CNAMES {
            if let Some(cut) = self.delegation(&current) {
                if found.answers.is_empty() {
                    let ns = self.rrset(&cut, RecordType::NS);
                    found.additional = self.addresses_of(ns.iter().filter_map(ns_target));
                    found.authority = ns;
                    found.authoritative = false;
                }
                return found;
            }
            let (records, exists) = match self.records.get(&current) {
                Some(_) => (self.rrset(&current, qtype), true),
                None if self.names.contains(&current) => (Vec::new(), true),
                None => match self.wildcard(&current) {
                    Some(wild) => (self.rrset(&wild, qtype), true),
                    None => (Vec::new(), false),
                },
            };
            let cname = if qtype == RecordType::CNAME || qtype == RecordType::ANY {
                None
            } else {
                let source = match self.records.get(&current) {
                    Some(_) => current.clone(),
                    None => self.wildcard(&current).unwrap_or_else(|| current.clone()),
                };
                self.rrset(&source, RecordType::CNAME).into_iter().next()
            };
            if !exists {
                // After CNAMEs too: the rcode is the last name's (RFC 6604 §3).
                found.rcode = ResponseCode::NXDomain;
                found.authority.push(self.soa.clone());
                return found;
            }
            if let (true, Some(mut cname)) = (records.is_empty(), cname) {
                cname.name = owner.clone();
                let Some(target) = cname_target(&cname) else {
                    return found;
                };
                found.answers.push(cname);
                if !self.origin.zone_of(&target) {
                    found.outside = Some(target);
                    return found;
                }
                owner = target.clone();
                current = target.to_lowercase();
                continue;
            }
            if records.is_empty() {
                found.authority.push(self.soa.clone());
                return found;
            }
            let targets: Vec<Name> = records.iter().filter_map(additional_target).collect();
            found.answers.extend(records.into_iter().map(|mut r| {
                r.name = owner.clone();
                r
            }));
            found.authority = self.rrset(&self.origin, RecordType::NS);
            found.additional = self.addresses_of(targets.into_iter());
            return found;
        }
        found
    }

    /// The wildcard `*.<closest encloser>` that covers `name`, if the zone has one (RFC 4592).
    fn wildcard(&self, name: &Name) -> Option<Name> {
        let mut encloser = name.base_name();
        while self.origin.zone_of(&encloser) {
            if self.names.contains(&encloser) {
                let wild = Name::from_ascii("*").ok()?.append_domain(&encloser).ok()?;
                return self.records.contains_key(&wild).then_some(wild);
            }
            if encloser == self.origin {
                break;
            }
            encloser = encloser.base_name();
        }
        None
    }
}

fn ns_target(record: &Record) -> Option<Name> {
    match &record.data {
        RData::NS(ns) => Some(ns.0.clone()),
        _ => None,
    }
}

fn cname_target(record: &Record) -> Option<Name> {
    match &record.data {
        RData::CNAME(cname) => Some(cname.0.clone()),
        _ => None,
    }
}

/// The name whose addresses go in the additional section (MX, SRV, NS).
fn additional_target(record: &Record) -> Option<Name> {
    match &record.data {
        RData::MX(mx) => Some(mx.exchange.clone()),
        RData::SRV(srv) => Some(srv.target.clone()),
        RData::NS(ns) => Some(ns.0.clone()),
        _ => None,
    }
}

/// The records of zone-file `text`. A first record without a TTL, in a file without `$TTL`,
/// gets 3600 s, as miekg/dns (CoreDNS's parser) gives it.
fn parse_all(text: &str, origin: &Name) -> Result<Vec<Record>, String> {
    let parse = |text: String| {
        Parser::new(text, None, Some(origin.clone()))
            .parse()
            .map_err(|e| e.to_string())
    };
    let (_, sets) = match parse(text.to_string()) {
        Err(e) if e.contains("ttl not specified") => parse(format!("$TTL 3600\n{text}"))?,
        other => other?,
    };
    Ok(sets
        .into_values()
        .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>())
        .collect())
}

/// The first line of the entry that makes `text` fail: the shortest prefix of whole entries
/// (cut where a line starts outside parentheses) that fails, found by bisection.
fn failing_line(text: &str, origin: &Name) -> usize {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut starts = Vec::new();
    let mut depth = 0i32;
    for (i, line) in lines.iter().enumerate() {
        if depth == 0 {
            starts.push(i);
        }
        let code = line.split(';').next().unwrap_or_default();
        depth += code.matches('(').count() as i32 - code.matches(')').count() as i32;
        depth = depth.max(0);
    }
    starts.push(lines.len());
    let fails = |entries: usize| {
        let end = starts[entries.min(starts.len() - 1)];
        parse_all(&lines[..end].concat(), origin).is_err()
    };
    // The smallest number of entries that fails.
    let (mut low, mut high) = (0, starts.len() - 1);
    while low < high {
        let mid = (low + high) / 2;
        if fails(mid) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    starts[low.saturating_sub(1)] + 1
}
