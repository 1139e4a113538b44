//! Parsing of `prometheus [ADDR]` (default `:9153`).

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive, HttpListen};
use crate::plugin::{Setup, parsed};

/// `prometheus`: where it listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrometheusConfig(pub HttpListen);

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `prometheus [ADDR]`.
pub fn config(d: &Directive) -> Result<PrometheusConfig, ConfigError> {
    Args::new(d).http_listen(":9153").map(PrometheusConfig)
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
        let default = parse_text("prometheus").expect("valid").0;
        assert_eq!((default.addr.port(), default.origin.as_str()), (9153, "Corefile:2"));
        assert_eq!(
            parse_text("prometheus 127.0.0.1:9999").expect("valid").0.addr,
            "127.0.0.1:9999".parse().expect("addr")
        );
        assert_eq!(
            parse_text("prometheus localhost:9153").expect("valid").0.addr,
            "127.0.0.1:9153".parse().expect("addr"),
            "a host name, resolved from /etc/hosts"
        );
        assert_eq!(
            parse_text("prometheus nowhere").unwrap_err().to_string(),
            "Corefile:2: prometheus: \"nowhere\" is not an address such as :8080, nor a host name with a port"
        );
        assert_eq!(
            parse_text("prometheus {\n x\n }").unwrap_err().to_string(),
            "Corefile:3: prometheus: takes no block"
        );
    }
}
