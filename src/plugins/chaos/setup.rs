//! Parsing of `chaos [VERSION] [AUTHORS...]`.

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// `chaos [VERSION] [AUTHORS...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChaosConfig {
    /// The TXT of `version.bind` and `version.server` (default `clusterdns-VERSION`).
    pub version: String,
    /// The TXTs of `authors.bind`, sorted, each once.
    pub authors: Vec<String>,
}

/// The authors answered when none are written.
pub const DEFAULT_AUTHORS: &[&str] = &["clusterdns developers"];

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `chaos [VERSION] [AUTHORS...]`.
pub fn config(d: &Directive) -> Result<ChaosConfig, ConfigError> {
    let args = Args::new(d);
    args.no_block()?;
    let texts = args.texts();
    let version = texts
        .first()
        .map_or_else(|| format!("clusterdns-{}", crate::VERSION), |v| v.to_string());
    let mut authors: Vec<String> = if texts.len() > 1 {
        texts[1..].iter().map(|a| a.to_string()).collect()
    } else {
        DEFAULT_AUTHORS.iter().map(|a| a.to_string()).collect()
    };
    authors.sort();
    authors.dedup();
    Ok(ChaosConfig {
        version: trim(version),
        authors: authors.into_iter().map(trim).collect(),
    })
}

/// At most 255 octets (one TXT string), cut at a character boundary.
pub fn trim(mut text: String) -> String {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_line(line: &str) -> Result<ChaosConfig, ConfigError> {
        let core = Corefile::parse("Corefile", &format!(".:53 {{\n{line}\n}}\n"), Path::new("."))
            .expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn version_and_authors() {
        let plain = parse_line("chaos").expect("valid");
        assert_eq!(plain.version, format!("clusterdns-{}", crate::VERSION));
        assert_eq!(plain.authors, DEFAULT_AUTHORS);
        let named = parse_line("chaos CoreDNS-001 zed ann zed").expect("valid");
        assert_eq!(named.version, "CoreDNS-001");
        assert_eq!(named.authors, ["ann", "zed"]);
        let long = parse_line(&format!("chaos {}", "é".repeat(200))).expect("valid");
        assert_eq!(long.version.len(), 254, "cut to 255 octets at a character boundary");
        assert!(parse_line("chaos {\n x\n}").is_err());
    }
}
