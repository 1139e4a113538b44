//! Parsing of `prometheus [ADDR]` (default `:9153`).

use std::net::SocketAddr;

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::Setup;

/// `prometheus`: its address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrometheusConfig {
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

/// Parse `prometheus [ADDR]`.
pub fn config(d: &Directive) -> Result<PrometheusConfig, ConfigError> {
    let args = Args::new(d);
    args.no_block()?;
    Ok(PrometheusConfig {
        addr: args.http_address(":9153")?,
        origin: d.origin(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(line: &str) -> Result<PrometheusConfig, ConfigError> {
        let text = format!(".:53 {{\n  {line}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn default_address_and_errors() {
        assert_eq!(parse_text("prometheus").expect("valid").addr.port(), 9153);
        assert_eq!(
            parse_text("prometheus 127.0.0.1:9999").expect("valid").addr,
            "127.0.0.1:9999".parse().expect("addr")
        );
        assert_eq!(
            parse_text("prometheus nowhere").unwrap_err().to_string(),
            "Corefile:2: prometheus: \"nowhere\" is not an address such as :8080"
        );
        assert_eq!(
            parse_text("prometheus {\n x\n }").unwrap_err().to_string(),
            "Corefile:3: prometheus: takes no block"
        );
    }
}
