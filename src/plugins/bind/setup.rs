//! Parsing of `bind ADDRESS…`.

use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// `bind`: the addresses to listen on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindConfig {
    /// The IP addresses, as written.
    pub addresses: Vec<IpAddr>,
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `bind ADDRESS…`: at least one IP address.
pub fn config(d: &Directive) -> Result<BindConfig, ConfigError> {
    let args = Args::new(d);
    args.no_block()?;
    if d.args.is_empty() {
        return Err(d.error("bind needs at least one address"));
    }
    let addresses = d
        .args
        .iter()
        .map(|a| {
            a.text
                .parse()
                .map_err(|_| args.error_at(a, format!("{:?} is not an IP address", a.text)))
        })
        .collect::<Result<_, _>>()?;
    Ok(BindConfig { addresses })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(line: &str) -> Result<BindConfig, ConfigError> {
        let text = format!(".:53 {{\n  {line}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn bind_takes_ip_addresses() {
        assert_eq!(
            parse_text("bind 127.0.0.1 ::1")
                .expect("valid")
                .addresses
                .len(),
            2
        );
        assert_eq!(
            parse_text("bind lo").unwrap_err().to_string(),
            "Corefile:2: bind: \"lo\" is not an IP address"
        );
        assert!(parse_text("bind").is_err());
    }
}
