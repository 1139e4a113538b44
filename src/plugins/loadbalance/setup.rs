//! Parsing of `loadbalance [round_robin]`.

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// `loadbalance`: CoreDNS's only policy, `round_robin`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadBalanceConfig;

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `loadbalance [round_robin]`.
pub fn config(d: &Directive) -> Result<LoadBalanceConfig, ConfigError> {
    match Args::new(d).texts().as_slice() {
        [] | ["round_robin"] if d.block.is_empty() => Ok(LoadBalanceConfig),
        _ => Err(d.error("loadbalance: only `loadbalance [round_robin]` is supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(line: &str) -> Result<LoadBalanceConfig, ConfigError> {
        let text = format!(".:53 {{\n  {line}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn only_round_robin() {
        assert!(parse_text("loadbalance").is_ok());
        assert!(parse_text("loadbalance round_robin").is_ok());
        assert_eq!(
            parse_text("loadbalance weighted f")
                .unwrap_err()
                .to_string(),
            "Corefile:2: loadbalance: only `loadbalance [round_robin]` is supported"
        );
    }
}
