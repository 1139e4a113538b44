//! Parsing of `autopath [ZONE…] RESOLV-CONF`, where `RESOLV-CONF` is a resolv.conf-like file or
//! `@kubernetes`.

use std::path::Path;

use hickory_proto::rr::Name;

use crate::config::resolv_conf::search_domains;
use crate::config::{Args, ConfigError, Directive, read_text};
use crate::plugin::{BlockSettings, Setup, parsed};

/// Where the search path comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchSource {
    /// `@kubernetes`: the asking pod's own path, `<ns>.svc.<zone> svc.<zone> <zone>`, then
    /// these domains (the `search` line of clusterdns's own `/etc/resolv.conf`: the node's
    /// domains, which kubelet appends to every pod's path), then the name itself.
    Kubernetes {
        /// The node's search domains.
        node_domains: Vec<Name>,
    },
    /// A file's `search` line (at most 6 domains), the same for every client, then the name
    /// itself.
    File(Vec<Name>),
}

/// `autopath`'s options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoPathConfig {
    /// The zones whose names it walks (default: the server block's).
    pub zones: Vec<Name>,
    /// The search path.
    pub source: SearchSource,
    /// The error `@kubernetes` reports when the block's `kubernetes` keeps no pod index.
    needs_pods_verified: ConfigError,
}

/// The registry's entry point.
pub fn parse(d: &Directive, zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d, zones))
}

/// The node's search domains: those of `/etc/resolv.conf` (none when it cannot be read).
fn node_search_domains() -> Vec<Name> {
    read_text(Path::new("/etc/resolv.conf"), true)
        .map(|text| search_domains(&text))
        .unwrap_or_default()
}

/// Parse `autopath` in a block serving `block_zones`.
pub fn config(d: &Directive, block_zones: &[Name]) -> Result<AutoPathConfig, ConfigError> {
    let args = Args::new(d);
    args.no_block()?;
    let Some((source, _)) = d.args.split_last() else {
        return Err(args.error("needs RESOLV-CONF: a resolv.conf file or @kubernetes"));
    };
    // The arguments before RESOLV-CONF are the zones.
    let zone_directive = Directive {
        args: d.args[..d.args.len() - 1].to_vec(),
        ..d.clone()
    };
    let zones = Args::new(&zone_directive).zones_from(0, block_zones)?;
    let source = match source.text.strip_prefix('@') {
        Some("kubernetes") => SearchSource::Kubernetes {
            node_domains: node_search_domains(),
        },
        Some(other) => {
            return Err(args.error_at(
                source,
                format!("@{other}: only @kubernetes provides search paths"),
            ));
        }
        None => {
            let path = args.readable_file(&source.text)?;
            let text = read_text(&path, true)
                .map_err(|e| args.error_at(source, format!("{}: {e}", path.display())))?;
            let domains = search_domains(&text);
            if domains.is_empty() {
                return Err(args.error_at(
                    source,
                    format!("{}: no search domains", path.display()),
                ));
            }
            SearchSource::File(domains)
        }
    };
    Ok(AutoPathConfig {
        zones,
        source,
        needs_pods_verified: args.error(
            "@kubernetes needs the client's pod: add `pods verified` to the kubernetes plugin of this server block",
        ),
    })
}

impl AutoPathConfig {
    /// `@kubernetes` needs the block's `kubernetes` plugin to keep the live pods' addresses.
    pub fn check_block(&self, block: &BlockSettings) -> Result<(), ConfigError> {
        match self.source {
            SearchSource::Kubernetes { .. } if !block.pods_verified => {
                Err(self.needs_pods_verified.clone())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;

    fn parse_text(line: &str, dir: &Path) -> Result<AutoPathConfig, ConfigError> {
        let text = format!("cluster.local:53 {{\n  {line}\n}}\n");
        let core = Corefile::parse(dir.join("Corefile").to_string_lossy().as_ref(), &text, dir)
            .expect("syntax");
        config(&core.blocks[0].directives[0], &[Name::from_ascii("cluster.local.").expect("zone")])
    }

    #[test]
    fn kubernetes_source_and_zones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = parse_text("autopath @kubernetes", dir.path()).expect("valid");
        assert_eq!(c.zones, [Name::from_ascii("cluster.local.").expect("zone")]);
        assert!(matches!(c.source, SearchSource::Kubernetes { .. }));
        let c = parse_text("autopath example.org example.net @kubernetes", dir.path())
            .expect("valid");
        assert_eq!(c.zones.len(), 2);
        assert_eq!(c.zones[1].to_string(), "example.net.");
    }

    #[test]
    fn resolv_conf_source_reads_its_search_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("resolv.conf"),
            "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n",
        )
        .expect("write");
        let c = parse_text("autopath resolv.conf", dir.path()).expect("valid");
        let SearchSource::File(domains) = c.source else {
            panic!("file source")
        };
        let texts: Vec<String> = domains.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            ["default.svc.cluster.local.", "svc.cluster.local.", "cluster.local."]
        );
        std::fs::write(dir.path().join("empty.conf"), "nameserver 10.0.0.1\n").expect("write");
        let e = parse_text("autopath empty.conf", dir.path()).unwrap_err();
        assert!(e.to_string().contains("no search domains"), "{e}");
    }

    #[test]
    fn bad_arguments_name_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = parse_text("autopath", dir.path()).unwrap_err();
        assert!(e.to_string().ends_with(":2: autopath: needs RESOLV-CONF: a resolv.conf file or @kubernetes"), "{e}");
        let e = parse_text("autopath @etcd", dir.path()).unwrap_err();
        assert!(e.to_string().contains("only @kubernetes"), "{e}");
        assert!(parse_text("autopath /nonexistent/resolv.conf", dir.path()).is_err());
    }

    #[test]
    fn kubernetes_source_needs_pods_verified() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = parse_text("autopath @kubernetes", dir.path()).expect("valid");
        let e = c.check_block(&BlockSettings::default()).unwrap_err();
        assert!(e.to_string().contains("add `pods verified`"), "{e}");
        let verified = BlockSettings {
            pods_verified: true,
            ..BlockSettings::default()
        };
        assert!(c.check_block(&verified).is_ok());
    }
}
