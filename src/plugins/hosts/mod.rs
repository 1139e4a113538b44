//! The `hosts` plugin: answers from a hosts file and inline entries, re-read when the file
//! changes. See `README.md` beside this file.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

pub mod setup;

pub use setup::HostsConfig;

use crate::config::fqdn;
use crate::plugin::file_poll::poll_file;
use crate::plugin::{
    AbortOnDrop, Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `hosts` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

impl Setup for HostsConfig {
    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        started(Hosts::start(*self))
    }
}

const NAME: &str = "hosts";

/// Names → addresses and addresses → names.
#[derive(Debug, Default)]
struct Table {
    by_name: HashMap<Name, Vec<IpAddr>>,
    by_ip: HashMap<IpAddr, Vec<Name>>,
}

impl Table {
    fn add(&mut self, ip: IpAddr, name: Name) {
        let ips = self.by_name.entry(name.clone()).or_default();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
        let names = self.by_ip.entry(ip).or_default();
        if !names.contains(&name) {
            names.push(name);
        }
    }
}

/// Read the hosts-file format: `IP NAME [ALIASES...]`, `#` comments. Bad lines are skipped.
fn parse_hosts(text: &str, table: &mut Table) {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(ip) = words
            .next()
            .and_then(|w| w.split('%').next()?.parse::<IpAddr>().ok())
        else {
            continue;
        };
        for name in words.filter_map(|w| fqdn(w).ok()) {
            table.add(ip, name);
        }
    }
}


/// The running plugin.
#[derive(Debug)]
pub struct Hosts {
    config: HostsConfig,
    table: Arc<RwLock<Arc<Table>>>,
    _reload: Option<AbortOnDrop>,
}

fn load(config: &HostsConfig) -> Table {
    let mut table = Table::default();
    for (ip, names) in &config.inline {
        for name in names {
            table.add(*ip, name.clone());
        }
    }
    match crate::config::read_text(&config.file, false) {
        Ok(text) => parse_hosts(&text, &mut table),
        Err(e) => tracing::debug!("hosts: {}: {e}", config.file.display()),
    }
    table
}

impl Hosts {
    /// Read the file and, inside a tokio runtime, keep re-reading it when it changes.
    pub fn start(config: HostsConfig) -> Hosts {
        // As CoreDNS: a missing file is served as empty, with a warning (it may appear later).
        if !config.file.exists() {
            tracing::warn!("File does not exist: {}", config.file.display());
        }
        let table = Arc::new(RwLock::new(Arc::new(load(&config))));
        let reload = (!config.reload.is_zero()).then(|| {
            let (config, table) = (config.clone(), table.clone());
            poll_file(config.file.clone(), config.reload, move || {
                let fresh = Arc::new(load(&config));
                *table.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                tracing::info!("hosts: reloaded {}", config.file.display());
            })
        });
        Hosts {
            config,
            table,
            _reload: reload,
        }
    }

    fn snapshot(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Plugin for Hosts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        if !self.config.zones.iter().any(|z| z.zone_of(&request.name)) {
            return next.serve(request, resolver);
        }
        let table = self.snapshot();
        let name = request.name.to_lowercase();
        let ttl = self.config.ttl;
        let records: Option<Vec<Record>> = if request.qtype == RecordType::PTR {
            if self.config.no_reverse {
                None
            } else {
                name.parse_arpa_name()
                    .ok()
                    .filter(|net| net.prefix_len() == net.max_prefix_len())
                    .and_then(|net| table.by_ip.get(&net.addr()))
                    .map(|names| {
                        names
                            .iter()
                            .map(|n| {
                                Record::from_rdata(
                                    request.name.clone(),
                                    ttl,
                                    RData::PTR(PTR(n.clone())),
                                )
                            })
                            .collect()
                    })
            }
        } else {
            table.by_name.get(&name).map(|ips| {
                ips.iter()
                    .filter_map(|ip| match (ip, request.qtype) {
                        (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(*v4))),
                        (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
                        _ => None,
                    })
                    .map(|data| Record::from_rdata(request.name.clone(), ttl, data))
                    .collect()
            })
        };
        match records {
            Some(records) => {
                // The name exists: its records, or NODATA.
                let mut answer = Answer::rcode(ResponseCode::NoError, NAME);
                answer.authoritative = true;
                answer.answers = records;
                Served::Ready(answer)
            }
            None => {
                if self.config.fallthrough.covers(&request.name) {
                    next.serve(request, resolver)
                } else {
                    let mut answer = Answer::rcode(ResponseCode::NXDomain, NAME);
                    answer.authoritative = true;
                    Served::Ready(answer)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_format() {
        let mut table = Table::default();
        parse_hosts(
            "# comment\n127.0.0.1 localhost\n10.0.0.5 db.corp db # alias\nfe80::1%eth0 link.local\nnot-an-ip name\n",
            &mut table,
        );
        assert_eq!(
            table.by_name[&fqdn("db.corp").expect("name")],
            vec!["10.0.0.5".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(
            table.by_ip[&"10.0.0.5".parse::<IpAddr>().expect("ip")].len(),
            2
        );
        assert!(
            table
                .by_name
                .contains_key(&fqdn("link.local").expect("name"))
        );
        assert_eq!(table.by_name.len(), 4);
    }
}
