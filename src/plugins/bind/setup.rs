//! Parsing of `bind ADDRESS|INTERFACE… { except ADDRESS… }`.

use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// `bind`: the addresses to listen on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindConfig {
    /// The IP addresses: those written, and those of the interfaces named, less `except`.
    pub addresses: Vec<IpAddr>,
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `bind ADDRESS|INTERFACE… { except ADDRESS… }`: an interface stands for its addresses
/// (IPv6 link-local ones left out: they cannot be bound without their scope), read now.
pub fn config(d: &Directive) -> Result<BindConfig, ConfigError> {
    let args = Args::new(d);
    if d.args.is_empty() {
        return Err(d.error("bind needs at least one address"));
    }
    // The interfaces are listed only when a name is not an address.
    let mut interfaces = None;
    let mut addresses: Vec<IpAddr> = Vec::new();
    for arg in &d.args {
        if let Ok(ip) = arg.text.parse::<IpAddr>() {
            addresses.push(ip);
            continue;
        }
        let found: Vec<IpAddr> = interfaces
            .get_or_insert_with(|| if_addrs::get_if_addrs().unwrap_or_default())
            .iter()
            .filter(|i| i.name == arg.text)
            .map(|i| i.ip())
            .filter(|ip| !is_link_local_v6(ip))
            .collect();
        if found.is_empty() {
            return Err(args.error_at(
                arg,
                format!("{:?} is neither an IP address nor an interface with one", arg.text),
            ));
        }
        addresses.extend(found);
    }
    for option in args.properties() {
        match option.name() {
            "except" => {
                if option.texts().is_empty() {
                    return Err(option.error("except needs at least one address"));
                }
                for text in option.texts() {
                    let ip: IpAddr = text
                        .parse()
                        .map_err(|_| option.error(format!("{text:?} is not an IP address")))?;
                    addresses.retain(|a| *a != ip);
                }
            }
            _ => return Err(option.unknown_property("except")),
        }
    }
    addresses.dedup();
    if addresses.is_empty() {
        return Err(args.error("no address left to listen on"));
    }
    Ok(BindConfig { addresses })
}

fn is_link_local_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
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
            parse_text("bind no-such-interface0").unwrap_err().to_string(),
            "Corefile:2: bind: \"no-such-interface0\" is neither an IP address nor an interface with one"
        );
        assert!(parse_text("bind").is_err());
    }

    #[test]
    fn an_interface_stands_for_its_addresses_less_except() {
        let lo = parse_text("bind lo").expect("the loopback interface").addresses;
        assert!(lo.contains(&"127.0.0.1".parse().expect("ip")), "{lo:?}");
        let fewer = parse_text("bind lo 192.0.2.1 192.0.2.2 {\n  except 127.0.0.1 192.0.2.1\n }")
            .expect("valid")
            .addresses;
        assert!(!fewer.contains(&"127.0.0.1".parse().expect("ip")), "{fewer:?}");
        assert!(!fewer.contains(&"192.0.2.1".parse().expect("ip")), "{fewer:?}");
        assert!(fewer.contains(&"192.0.2.2".parse().expect("ip")), "{fewer:?}");
        assert!(parse_text("bind 127.0.0.1 {\n  except 127.0.0.1\n }").is_err(), "nothing left");
        assert!(parse_text("bind 127.0.0.1 {\n  except lo\n }").is_err());
    }
}
