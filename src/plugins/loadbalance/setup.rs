//! Parsing of `loadbalance [round_robin] { prefer CIDR... }`.

use hickory_proto::rr::Name;

use crate::config::{Args, Cidr, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// `loadbalance`: `round_robin`, with the subnets whose addresses come first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadBalanceConfig {
    /// `prefer CIDR...`: addresses in these networks are put before the others (in this order
    /// of networks), each group shuffled.
    pub prefer: Vec<Cidr>,
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `loadbalance [round_robin] { prefer CIDR... }`.
pub fn config(d: &Directive) -> Result<LoadBalanceConfig, ConfigError> {
    let args = Args::new(d);
    match args.texts().as_slice() {
        [] | ["round_robin"] => {}
        ["weighted", ..] => {
            return Err(args.error("the weighted policy is not supported by this build"));
        }
        _ => return Err(args.error("takes [round_robin]")),
    }
    let mut config = LoadBalanceConfig::default();
    for option in args.properties() {
        match option.name() {
            "prefer" => {
                if option.texts().is_empty() {
                    return Err(option.error("prefer needs at least one CIDR"));
                }
                for text in option.texts() {
                    config.prefer.push(Cidr::parse(text).ok_or_else(|| {
                        option.error(format!("prefer {text:?}: expected a CIDR such as 10.0.0.0/8"))
                    })?);
                }
            }
            _ => return Err(option.unknown_property("prefer")),
        }
    }
    Ok(config)
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
    fn round_robin_and_prefer() {
        assert!(parse_text("loadbalance").is_ok());
        assert!(parse_text("loadbalance round_robin").is_ok());
        let prefer = parse_text("loadbalance round_robin {\n prefer 10.0.0.0/8 fd00::/8\n }")
            .expect("valid")
            .prefer;
        assert_eq!(prefer.len(), 2);
        assert_eq!(
            parse_text("loadbalance weighted f")
                .unwrap_err()
                .to_string(),
            "Corefile:2: loadbalance: the weighted policy is not supported by this build"
        );
        assert!(parse_text("loadbalance {\n prefer nowhere\n }").is_err());
        assert!(parse_text("loadbalance sideways").is_err());
    }
}
