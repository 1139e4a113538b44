//! Parsing of `hosts [FILE [ZONES...]] { IP NAME...; ttl; no_reverse; reload; fallthrough }`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive, Fallthrough};
use crate::plugin::{Setup, parsed};

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
    pub fallthrough: Fallthrough,
}

/// The registry's entry point.
pub fn parse(d: &Directive, zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d, zones))
}

/// Parse `hosts [FILE] [ZONES...] { ... }` in a block serving `block_zones`.
pub fn config(d: &Directive, block_zones: &[Name]) -> Result<HostsConfig, ConfigError> {
    let args = Args::new(d);
    let mut config = HostsConfig {
        file: PathBuf::from("/etc/hosts"),
        zones: args.zones_from(1, block_zones)?,
        inline: Vec::new(),
        ttl: 3600,
        no_reverse: false,
        reload: Duration::from_secs(5),
        fallthrough: Fallthrough::Off,
    };
    if let Some(file) = d.args.first() {
        config.file = args.path(&file.text);
    }
    for option in args.properties() {
        let key = option.name();
        if let Ok(ip) = key.parse::<IpAddr>() {
            let mut names = Vec::new();
            for name in option.texts() {
                names.push(
                    option
                        .zone(name)
                        .map_err(|_| option.error(format!("invalid name {name:?}")))?,
                );
            }
            if names.is_empty() {
                return Err(option.error("an inline entry needs at least one name"));
            }
            config.inline.push((ip, names));
            continue;
        }
        match key {
            "ttl" => {
                let ttl = option.one()?;
                config.ttl = ttl
                    .parse()
                    .ok()
                    .filter(|t| *t <= 86400 * 7)
                    .ok_or_else(|| option.error(format!("ttl {ttl:?}: not a number of seconds")))?;
            }
            "no_reverse" => {
                option.none()?;
                config.no_reverse = true;
            }
            "reload" => config.reload = option.duration("reload", option.one()?)?,
            "fallthrough" => config.fallthrough = option.fallthrough()?,
            _ => {
                return Err(
                    option.unknown_property("IP NAME..., ttl, no_reverse, reload, fallthrough")
                );
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    #[test]
    fn minikube_block_parses_with_inline_entries() {
        let core = Corefile::parse(
            "Corefile",
            ".:53 {\n    hosts {\n       192.168.49.1 host.minikube.internal\n       fallthrough\n    }\n}\n",
            Path::new("."),
        )
        .expect("syntax");
        let c = config(&core.blocks[0].directives[0], &[Name::root()]).expect("valid");
        assert_eq!(c.file, Path::new("/etc/hosts"));
        assert_eq!(c.inline.len(), 1);
        assert_eq!(c.inline[0].1[0].to_ascii(), "host.minikube.internal.");
        assert_eq!(c.fallthrough, Fallthrough::All);
        assert_eq!(c.ttl, 3600);
    }
}
