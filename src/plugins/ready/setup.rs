//! Parsing of `ready [ADDR]` (default `:8181`).

use std::net::SocketAddr;

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::Setup;

/// `ready`: its address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyConfig {
    /// Where it is served.
    pub addr: SocketAddr,
    /// Where it was written (`FILE:LINE`).
    pub origin: String,
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    config(d)
        .map(|c| Box::new(c) as Box<dyn Setup>)
        .map_err(|e| vec![e])
}

/// Parse `ready [ADDR]`.
pub fn config(d: &Directive) -> Result<ReadyConfig, ConfigError> {
    let args = Args::new(d);
    args.no_block()?;
    Ok(ReadyConfig {
        addr: args.http_address(":8181")?,
        origin: d.origin(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(line: &str) -> Result<ReadyConfig, ConfigError> {
        let text = format!(".:53 {{\n  {line}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn default_address_and_errors() {
        assert_eq!(parse_text("ready").expect("valid").addr.port(), 8181);
        assert_eq!(
            parse_text("ready 127.0.0.1:9999").expect("valid").addr,
            "127.0.0.1:9999".parse().expect("addr")
        );
        assert_eq!(
            parse_text("ready nowhere").unwrap_err().to_string(),
            "Corefile:2: ready: \"nowhere\" is not an address such as :8080"
        );
        assert_eq!(
            parse_text("ready {\n x\n }").unwrap_err().to_string(),
            "Corefile:3: ready: takes no block"
        );
    }
}
