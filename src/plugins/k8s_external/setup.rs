//! Parsing of `k8s_external [ZONE…] { apex APEX; ttl TTL; headless; fallthrough [ZONE…] }`.

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive, Fallthrough};
use crate::plugin::{Setup, parsed};

/// `k8s_external`'s options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalConfig {
    /// The zones answered (default: the server block's).
    pub zones: Vec<Name>,
    /// `apex`: the label under each zone for the server's own records (default `dns`).
    pub apex: String,
    /// `ttl`: the TTL of every answer (default 5, at most 3600).
    pub ttl: u32,
    /// `headless`: headless Services answer with their ready endpoints.
    pub headless: bool,
    /// `fallthrough [ZONES…]`: names that do not exist go to the next plugin.
    pub fallthrough: Fallthrough,
}

/// The registry's entry point.
pub fn parse(d: &Directive, zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d, zones))
}

/// Parse `k8s_external` in a block serving `block_zones`.
pub fn config(d: &Directive, block_zones: &[Name]) -> Result<ExternalConfig, ConfigError> {
    let args = Args::new(d);
    let mut config = ExternalConfig {
        zones: args.zones_from(0, block_zones)?,
        apex: "dns".into(),
        ttl: 5,
        headless: false,
        fallthrough: Fallthrough::Off,
    };
    for option in args.properties() {
        match option.name() {
            "apex" => {
                let apex = option.one()?;
                if apex.is_empty() || apex.contains('.') || Name::from_ascii(apex).is_err() {
                    return Err(option.error(format!("apex {apex:?}: expected one DNS label")));
                }
                config.apex = apex.to_ascii_lowercase();
            }
            "ttl" => {
                let ttl = option.one()?;
                config.ttl = ttl
                    .parse()
                    .ok()
                    .filter(|t| *t <= 3600)
                    .ok_or_else(|| option.error(format!("ttl {ttl:?}: expected 0 to 3600")))?;
            }
            "headless" => {
                option.none()?;
                config.headless = true;
            }
            "fallthrough" => config.fallthrough = option.fallthrough()?,
            _ => return Err(option.unknown_property("apex, ttl, headless, fallthrough")),
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_block(text: &str) -> Result<ExternalConfig, ConfigError> {
        let core = Corefile::parse("Corefile", &format!(".:53 {{\n{text}\n}}\n"), Path::new("."))
            .expect("syntax");
        config(&core.blocks[0].directives[0], &[Name::root()])
    }

    #[test]
    fn zones_and_options() {
        let plain = parse_block("k8s_external example.org").expect("valid");
        assert_eq!(plain.zones[0].to_ascii(), "example.org.");
        assert_eq!((plain.apex.as_str(), plain.ttl, plain.headless), ("dns", 5, false));
        let all = parse_block("k8s_external {\n  apex ext\n  ttl 30\n  headless\n  fallthrough\n}")
            .expect("valid");
        assert_eq!(all.zones, [Name::root()]);
        assert_eq!((all.apex.as_str(), all.ttl, all.headless), ("ext", 30, true));
        assert_eq!(all.fallthrough, Fallthrough::All);
        for (bad, error) in [
            ("k8s_external {\n  ttl 3601\n}", "expected 0 to 3600"),
            ("k8s_external {\n  apex a.b\n}", "expected one DNS label"),
            ("k8s_external {\n  soa x\n}", "unknown property"),
        ] {
            let e = parse_block(bad).expect_err(bad).to_string();
            assert!(e.contains("k8s_external: ") && e.contains(error), "{bad}: {e}");
        }
    }
}
