//! Parsing of `file DBFILE [ZONES...] { reload DURATION; upstream }`: the zone file is read and
//! parsed here, so that `-validate` and a reload report its errors with their lines.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;

use super::zone::{Zone, ZoneError};
use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// `file`'s options, with its zones loaded.
#[derive(Debug)]
pub struct FileConfig {
    /// The zone file.
    pub path: PathBuf,
    /// Each zone (default the server block's) and what the file holds for it: nothing yet when
    /// the file could not be read and `reload` will try again (SERVFAIL until then, as CoreDNS).
    pub zones: Vec<(Name, Option<Arc<Zone>>)>,
    /// How often the file is checked for a new serial (default 1 minute; 0: never).
    pub reload: Duration,
}

/// The registry's entry point.
pub fn parse(d: &Directive, zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d, zones))
}

/// Parse `file DBFILE [ZONES...]` in a block serving `block_zones`, loading the zones.
pub fn config(d: &Directive, block_zones: &[Name]) -> Result<FileConfig, ConfigError> {
    let args = Args::new(d);
    let Some(file) = d.args.first() else {
        return Err(args.error("takes DBFILE [ZONES...]"));
    };
    let path = args.path(&file.text);
    let origins = args.zones_from(1, block_zones)?;
    let mut reload = Duration::from_secs(60);
    for option in args.properties() {
        match option.name() {
            "reload" => reload = option.duration("reload", option.one()?)?,
            // Accepted for old Corefiles: CNAMEs out of the zone are always followed.
            "upstream" => {}
            _ => return Err(option.unknown_property("reload, upstream")),
        }
    }
    let mut zones = Vec::with_capacity(origins.len());
    for origin in origins {
        let zone = match Zone::load(&path, &origin) {
            Ok(zone) => Some(Arc::new(zone)),
            // As CoreDNS: a file that cannot be read yet is waited for when it is re-read.
            Err(e @ ZoneError::Read { .. }) if !reload.is_zero() => {
                tracing::warn!(
                    "{}: file: {e}; answering SERVFAIL for {origin} until it can be read (tried again every {reload:?})",
                    d.name.location()
                );
                None
            }
            Err(e) => return Err(args.error(e)),
        };
        zones.push((origin, zone));
    }
    Ok(FileConfig {
        path,
        zones,
        reload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;

    fn parse_in(dir: &std::path::Path, line: &str) -> Result<FileConfig, ConfigError> {
        let file = dir.join("Corefile").display().to_string();
        let core = Corefile::parse(&file, &format!(".:53 {{\n{line}\n}}\n"), dir).expect("syntax");
        config(&core.blocks[0].directives[0], &[Name::root()])
    }

    #[test]
    fn the_file_is_loaded_and_its_errors_have_both_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("example.db"),
            "$ORIGIN example.org.\n@ 3600 IN SOA ns admin 1 7200 3600 1209600 3600\n@ IN NS ns\nns IN A 192.0.2.53\n",
        )
        .expect("write");
        let c = parse_in(dir.path(), "file example.db example.org {\n  reload 10s\n}").expect("valid");
        assert_eq!(c.zones[0].1.as_ref().map(|z| z.serial()), Some(1));
        assert_eq!(c.reload, Duration::from_secs(10));
        std::fs::write(
            dir.path().join("bad.db"),
            "$ORIGIN example.org.\n@ 3600 IN SOA ns admin 1 7200 3600 1209600 3600\nns IN A 192.0.2.53\nwww IN A not-an-address\n",
        )
        .expect("write");
        let e = parse_in(dir.path(), "file bad.db example.org").unwrap_err().to_string();
        assert!(e.contains("Corefile:2: file: ") && e.contains("bad.db:4: "), "{e}");
        let e = parse_in(dir.path(), "file missing.db example.org {\n reload 0\n}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.db"), "{e}");
        // With reload (default 1 minute), a file that is not there yet is waited for.
        let waiting = parse_in(dir.path(), "file missing.db example.org").expect("waits");
        assert!(waiting.zones[0].1.is_none());
        let e = parse_in(dir.path(), "file example.db other.org").unwrap_err().to_string();
        assert!(e.contains("no SOA record for other.org."), "{e}");
        assert!(parse_in(dir.path(), "file").is_err());
    }
}
