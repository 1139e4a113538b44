//! Server block keys: `[dns://]ZONE[:PORT]`, where ZONE may be a CIDR that expands to the
//! reverse zones it covers (`10.0.0.0/8` → `10.in-addr.arpa.`), as CoreDNS does.

use std::net::IpAddr;

use hickory_proto::rr::Name;
use thiserror::Error;

/// One address a server block serves: a zone on a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerKey {
    /// The zone, lowercase and fully qualified.
    pub zone: Name,
    /// The port, when the key names one.
    pub port: Option<u16>,
}

/// Why a server block key (or a zone argument) is not one.
#[derive(Debug, Error)]
pub enum KeyError {
    /// A scheme other than `dns://`.
    #[error("unsupported scheme {scheme}:// in {key:?}: only dns:// is served")]
    UnsupportedScheme {
        /// The scheme written.
        scheme: String,
        /// The key.
        key: String,
    },
    /// The zone is not a domain name.
    #[error("invalid zone {zone:?}: {source}")]
    InvalidZone {
        /// The zone written.
        zone: String,
        /// Why it is not a name.
        #[source]
        source: hickory_proto::ProtoError,
    },
    /// The port is not a number from 0 to 65535.
    #[error("invalid port {port:?} in {key:?}")]
    InvalidPort {
        /// The port written.
        port: String,
        /// The key.
        key: String,
    },
    /// Not `ADDRESS/LENGTH`.
    #[error("invalid CIDR {0:?}")]
    InvalidCidr(String),
    /// The prefix length is 0 or longer than the address.
    #[error("invalid prefix length in {0:?}")]
    InvalidPrefixLength(String),
}

/// `text` as a fully qualified, lowercase name (zones and names of the Corefile and of the
/// files it names).
pub fn fqdn(text: &str) -> Result<Name, hickory_proto::ProtoError> {
    let mut name = Name::from_ascii(text)?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// Parse one key; a CIDR gives several keys.
pub fn parse_key(text: &str) -> Result<Vec<ServerKey>, KeyError> {
    let rest = match text.split_once("://") {
        Some(("dns", rest)) => rest,
        Some((scheme, _)) => {
            return Err(KeyError::UnsupportedScheme {
                scheme: scheme.to_string(),
                key: text.to_string(),
            });
        }
        None => text,
    };
    let (host, port) = split_port(rest)?;
    let zones = if host.contains('/') {
        cidr_zones(host)?
    } else {
        let host = if host.is_empty() { "." } else { host };
        let name = fqdn(host).map_err(|source| KeyError::InvalidZone {
            zone: host.to_string(),
            source,
        })?;
        vec![name]
    };
    Ok(zones
        .into_iter()
        .map(|zone| ServerKey { zone, port })
        .collect())
}

fn split_port(text: &str) -> Result<(&str, Option<u16>), KeyError> {
    // A CIDR with an IPv6 address holds colons: only a trailing ":digits" after the prefix
    // length, or after a non-IPv6 host, is a port.
    if let Some((host, port)) = text.rsplit_once(':')
        && (host.contains('/') || !host.contains(':'))
    {
        let port: u16 = port.parse().map_err(|_| KeyError::InvalidPort {
            port: port.to_string(),
            key: text.to_string(),
        })?;
        return Ok((host, Some(port)));
    }
    Ok((text, None))
}

/// The reverse zones covering `cidr`. Prefixes between octet (IPv4) or nibble (IPv6)
/// boundaries expand to every zone at the next boundary down.
fn cidr_zones(cidr: &str) -> Result<Vec<Name>, KeyError> {
    let invalid = || KeyError::InvalidCidr(cidr.to_string());
    let (addr, len) = cidr.split_once('/').ok_or_else(invalid)?;
    let ip: IpAddr = addr.parse().map_err(|_| invalid())?;
    let len: u32 = len.parse().map_err(|_| invalid())?;
    let (bits, step, total) = match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 8u32, 32u32),
        IpAddr::V6(v6) => (u128::from(v6), 4u32, 128u32),
    };
    if len > total || len == 0 {
        return Err(KeyError::InvalidPrefixLength(cidr.to_string()));
    }
    let rounded = len.div_ceil(step) * step;
    // At most 7 bits (IPv4) or 3 (IPv6) below the boundary: at most 128 zones.
    let extra = rounded - len;
    let mut zones = Vec::new();
    for i in 0..(1u128 << extra) {
        let network = bits >> (128 - len) << (128 - len);
        let sub = network | (i << (128 - rounded));
        let mut labels: Vec<String> = Vec::new();
        match ip {
            IpAddr::V4(_) => {
                for octet in 0..(rounded / 8) {
                    labels.push(((sub >> (120 - octet * 8)) & 0xff).to_string());
                }
                labels.reverse();
                labels.push("in-addr".into());
            }
            IpAddr::V6(_) => {
                for nibble in 0..(rounded / 4) {
                    labels.push(format!("{:x}", (sub >> (124 - nibble * 4)) & 0xf));
                }
                labels.reverse();
                labels.push("ip6".into());
            }
        }
        labels.push("arpa".into());
        let name = Name::from_ascii(format!("{}.", labels.join("."))).map_err(|_| invalid())?;
        zones.push(name);
    }
    Ok(zones)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(text: &str) -> Vec<String> {
        parse_key(text)
            .expect("parses")
            .into_iter()
            .map(|k| k.zone.to_ascii())
            .collect()
    }

    #[test]
    fn root_with_port_and_scheme() {
        let keys = parse_key("dns://.:53").expect("parses");
        assert_eq!(keys[0].zone, Name::root());
        assert_eq!(keys[0].port, Some(53));
        assert_eq!(parse_key(".").expect("parses")[0].port, None);
        assert_eq!(parse_key(":1053").expect("parses")[0].zone, Name::root());
    }

    #[test]
    fn zones_are_lowercased_and_qualified() {
        assert_eq!(zones("Cluster.Local:1053"), vec!["cluster.local."]);
    }

    #[test]
    fn cidrs_expand_to_reverse_zones() {
        assert_eq!(zones("10.0.0.0/8"), vec!["10.in-addr.arpa."]);
        assert_eq!(zones("172.16.0.0/16:53"), vec!["16.172.in-addr.arpa."]);
        let z = zones("10.0.0.0/15");
        assert_eq!(z, vec!["0.10.in-addr.arpa.", "1.10.in-addr.arpa."]);
        assert_eq!(zones("fd00::/8"), vec!["d.f.ip6.arpa."]);
    }

    #[test]
    fn bad_keys_are_refused_with_the_reason() {
        let error = |key: &str| parse_key(key).expect_err(key).to_string();
        assert_eq!(
            error("tls://.:853"),
            "unsupported scheme tls:// in \"tls://.:853\": only dns:// is served"
        );
        assert_eq!(error(".:99999"), "invalid port \"99999\" in \".:99999\"");
        assert_eq!(
            error("10.0.0.0/33"),
            "invalid prefix length in \"10.0.0.0/33\""
        );
        assert_eq!(
            error("10.0.0.0/0"),
            "invalid prefix length in \"10.0.0.0/0\""
        );
        assert_eq!(error("10.0.0/8"), "invalid CIDR \"10.0.0/8\"");
        assert!(error("a..b").starts_with("invalid zone \"a..b\": "));
    }
}
