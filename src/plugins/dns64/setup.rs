//! Parsing of `dns64 [PREFIX] { prefix PREFIX; translate_all; allow_ipv4 }`.

use std::net::Ipv6Addr;

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// `dns64`'s options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dns64Config {
    /// The NAT64 prefix (default the well-known `64:ff9b::/96`).
    pub prefix: Ipv6Addr,
    /// Its length: 32, 40, 48, 56, 64 or 96 (RFC 6052).
    pub prefix_len: u8,
    /// `translate_all`: synthesize even when the name has AAAA records.
    pub translate_all: bool,
    /// `allow_ipv4`: also for clients that asked over IPv4.
    pub allow_ipv4: bool,
}

impl Default for Dns64Config {
    fn default() -> Self {
        Dns64Config {
            prefix: Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
            prefix_len: 96,
            translate_all: false,
            allow_ipv4: false,
        }
    }
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `dns64 [PREFIX] { … }`.
pub fn config(d: &Directive) -> Result<Dns64Config, ConfigError> {
    let args = Args::new(d);
    let mut config = Dns64Config::default();
    if let Some(prefix) = args.at_most(1, "one PREFIX")?.first() {
        (config.prefix, config.prefix_len) = prefix_of(&args, &prefix.text)?;
    }
    for option in args.properties() {
        match option.name() {
            "prefix" => (config.prefix, config.prefix_len) = prefix_of(&option, option.one()?)?,
            "translate_all" => {
                option.none()?;
                config.translate_all = true;
            }
            "allow_ipv4" => {
                option.none()?;
                config.allow_ipv4 = true;
            }
            _ => return Err(option.unknown_property("prefix, translate_all, allow_ipv4")),
        }
    }
    Ok(config)
}

/// An IPv6 CIDR whose length RFC 6052 allows (32, 40, 48, 56, 64, 96), host bits cleared.
fn prefix_of(args: &Args<'_>, text: &str) -> Result<(Ipv6Addr, u8), ConfigError> {
    let invalid = || args.error(format!("invalid prefix {text:?}: expected an IPv6 CIDR such as 64:ff9b::/96"));
    let (address, len) = text.split_once('/').ok_or_else(invalid)?;
    let address: Ipv6Addr = address.parse().map_err(|_| invalid())?;
    let len: u8 = len.parse().map_err(|_| invalid())?;
    if !len.is_multiple_of(8) || !(32..=96).contains(&len) {
        return Err(args.error(format!(
            "invalid prefix length {text:?}: 32, 40, 48, 56, 64 or 96"
        )));
    }
    let mask = u128::MAX << (128 - u32::from(len));
    Ok((Ipv6Addr::from(u128::from(address) & mask), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_block(text: &str) -> Result<Dns64Config, ConfigError> {
        let core = Corefile::parse("Corefile", &format!(".:53 {{\n{text}\n}}\n"), Path::new("."))
            .expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn prefixes_and_options() {
        assert_eq!(parse_block("dns64").expect("valid"), Dns64Config::default());
        let c = parse_block("dns64 2001:db8:64::/64").expect("valid");
        assert_eq!((c.prefix.to_string().as_str(), c.prefix_len), ("2001:db8:64::", 64));
        let c = parse_block("dns64 {\n  prefix 2001:db8::/32\n  translate_all\n  allow_ipv4\n}")
            .expect("valid");
        assert!(c.translate_all && c.allow_ipv4 && c.prefix_len == 32);
        for (bad, error) in [
            ("dns64 2001:db8::/33", "invalid prefix length"),
            ("dns64 10.0.0.0/8", "invalid prefix"),
            ("dns64 a b", "takes at most one PREFIX"),
            ("dns64 {\n  translate_some\n}", "unknown property"),
        ] {
            let e = parse_block(bad).expect_err(bad).to_string();
            assert!(e.contains("dns64: ") && e.contains(error), "{bad}: {e}");
        }
    }
}
