//! The `hosts` plugin: answers from a hosts file and inline entries, re-read when the file
//! changes. See `README.md` beside this file.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::config::{ConfigError, Directive, parse_duration};
use crate::plugin::{Answer, Next, Plugin, Request, Resolve, Served};

const NAME: &str = "hosts";

/// The `hosts` options.
#[derive(Clone, Debug)]
pub struct HostsConfig {
    /// The hosts file (default `/etc/hosts`).
    pub file: PathBuf,
    /// Zones answered (default: the server block's).
    pub zones: Vec<Name>,
    /// Entries written in the Corefile.
    pub inline: Vec<(IpAddr, Vec<Name>)>,
    /// TTL of the answers (default 3600).
    pub ttl: u32,
    /// `no_reverse`: no PTR records.
    pub no_reverse: bool,
    /// How often the file is checked for changes (default 5 s; 0 = never).
    pub reload: Duration,
    /// `fallthrough [ZONES]`.
    pub fallthrough: Option<Vec<Name>>,
}

fn fqdn(text: &str) -> Option<Name> {
    let mut name = Name::from_ascii(text).ok()?;
    name.set_fqdn(true);
    Some(name.to_lowercase())
}

/// Parse `hosts [FILE] [ZONES...] { ... }`.
pub fn parse(d: &Directive, block_zones: &[Name]) -> Result<HostsConfig, ConfigError> {
    let base_dir = Path::new(&*d.name.file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut args = d.arg_texts().into_iter();
    let mut config = HostsConfig {
        file: PathBuf::from("/etc/hosts"),
        zones: Vec::new(),
        inline: Vec::new(),
        ttl: 3600,
        no_reverse: false,
        reload: Duration::from_secs(5),
        fallthrough: None,
    };
    if let Some(file) = args.next() {
        let path = Path::new(file);
        config.file = if path.is_absolute() {
            path.to_path_buf()
        } else {
            base_dir.join(path)
        };
    }
    for zone in args {
        config
            .zones
            .push(fqdn(zone).ok_or_else(|| d.error(format!("hosts: invalid zone {zone:?}")))?);
    }
    if config.zones.is_empty() {
        config.zones = block_zones.to_vec();
    }
    for option in &d.block {
        let args = option.arg_texts();
        let key = option.name.text.as_str();
        if let Ok(ip) = key.parse::<IpAddr>() {
            let mut names = Vec::new();
            for name in &args {
                names.push(
                    fqdn(name)
                        .ok_or_else(|| option.error(format!("hosts: invalid name {name:?}")))?,
                );
            }
            if names.is_empty() {
                return Err(option.error("hosts: an inline entry needs at least one name"));
            }
            config.inline.push((ip, names));
            continue;
        }
        match (key, args.as_slice()) {
            ("ttl", [ttl]) => {
                config.ttl = ttl
                    .parse()
                    .ok()
                    .filter(|t| *t <= 86400 * 7)
                    .ok_or_else(|| {
                        option.error(format!("hosts: ttl {ttl:?}: not a number of seconds"))
                    })?;
            }
            ("no_reverse", []) => config.no_reverse = true,
            ("reload", [interval]) => {
                config.reload = parse_duration(interval).ok_or_else(|| {
                    option.error(format!("hosts: reload {interval:?}: not a duration"))
                })?;
            }
            ("fallthrough", zones) => {
                let mut names = Vec::new();
                for zone in zones {
                    names
                        .push(fqdn(zone).ok_or_else(|| {
                            option.error(format!("hosts: invalid zone {zone:?}"))
                        })?);
                }
                config.fallthrough = Some(names);
            }
            _ => {
                return Err(option.error(format!(
                    "hosts: unknown property {key:?}; supported: IP NAME..., ttl, no_reverse, reload, fallthrough"
                )));
            }
        }
    }
    Ok(config)
}

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
        for name in words.filter_map(fqdn) {
            table.add(ip, name);
        }
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The running plugin.
#[derive(Debug)]
pub struct Hosts {
    config: HostsConfig,
    table: Arc<RwLock<Arc<Table>>>,
    _reload: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if let Some(task) = &self._reload {
            task.abort();
        }
    }
}

fn load(config: &HostsConfig) -> Table {
    let mut table = Table::default();
    for (ip, names) in &config.inline {
        for name in names {
            table.add(*ip, name.clone());
        }
    }
    match std::fs::read_to_string(&config.file) {
        Ok(text) => parse_hosts(&text, &mut table),
        Err(e) => tracing::debug!("hosts: {}: {e}", config.file.display()),
    }
    table
}

impl Hosts {
    /// Read the file and, inside a tokio runtime, keep re-reading it when it changes.
    pub fn start(config: HostsConfig) -> Hosts {
        let table = Arc::new(RwLock::new(Arc::new(load(&config))));
        let reload = (!config.reload.is_zero()).then(|| {
            let (config, table) = (config.clone(), table.clone());
            tokio::spawn(async move {
                let mut stamp = file_stamp(&config.file);
                loop {
                    tokio::time::sleep(config.reload).await;
                    let now = file_stamp(&config.file);
                    if now != stamp {
                        stamp = now;
                        let fresh = Arc::new(load(&config));
                        *table.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                        tracing::info!("hosts: reloaded {}", config.file.display());
                    }
                }
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
                let falls = match &self.config.fallthrough {
                    None => false,
                    Some(zones) => {
                        zones.is_empty() || zones.iter().any(|z| z.zone_of(&request.name))
                    }
                };
                if falls {
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
    use crate::config::Corefile;

    #[test]
    fn minikube_block_parses_with_inline_entries() {
        let core = Corefile::parse(
            "Corefile",
            ".:53 {\n    hosts {\n       192.168.49.1 host.minikube.internal\n       fallthrough\n    }\n}\n",
            Path::new("."),
        )
        .expect("syntax");
        let c = parse(&core.blocks[0].directives[0], &[Name::root()]).expect("valid");
        assert_eq!(c.file, Path::new("/etc/hosts"));
        assert_eq!(c.inline.len(), 1);
        assert_eq!(c.inline[0].1[0].to_ascii(), "host.minikube.internal.");
        assert_eq!(c.fallthrough, Some(Vec::new()));
        assert_eq!(c.ttl, 3600);
    }

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
