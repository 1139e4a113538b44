//! The query-name grammar of the cluster zone (the spec's §2, CoreDNS's `parse.go`): a
//! lowercase name relative to the zone → a typed [`ClusterName`].
//!
//! This is the code an attacker reaches first (in CoreDNS's parser, TOB-CDNS-9 of Trail of
//! Bits' 2022 audit was a panic), so it indexes nothing it has not checked and is
//! property-tested against arbitrary labels.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A name under the cluster zone, parsed. Labels borrow from the lowercased question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterName<'a> {
    /// The zone itself.
    Apex,
    /// `dns-version.<zone>`.
    DnsVersion,
    /// `dns.<zone>`: the empty non-terminal above `ns.dns`.
    Dns,
    /// `ns.dns.<zone>`: the nameserver's own name.
    NsDns,
    /// `svc.<zone>` or `pod.<zone>`.
    KindRoot,
    /// `<ns>.svc.<zone>` or `<ns>.pod.<zone>`.
    Namespace(&'a str),
    /// `<svc>.<ns>.svc.<zone>`.
    Service {
        /// The namespace.
        namespace: &'a str,
        /// The service.
        service: &'a str,
    },
    /// `<hostname>.<svc>.<ns>.svc.<zone>`.
    Endpoint {
        /// The namespace.
        namespace: &'a str,
        /// The service.
        service: &'a str,
        /// The endpoint's hostname label.
        hostname: &'a str,
    },
    /// `_<port>._<proto>.<svc>.<ns>.svc.<zone>`, underscores stripped.
    Port {
        /// The namespace.
        namespace: &'a str,
        /// The service.
        service: &'a str,
        /// The port name.
        port: &'a str,
        /// The protocol (`tcp`, `udp`, `sctp`).
        protocol: &'a str,
    },
    /// `<dashed-ip>.<ns>.pod.<zone>`.
    Pod {
        /// The namespace.
        namespace: &'a str,
        /// The address the label spells.
        ip: Option<IpAddr>,
    },
    /// Anything else under the zone: it does not exist.
    Unknown,
}

/// Parse `labels` (lowercase, left to right, the zone's labels already removed).
pub fn parse<'a>(labels: &[&'a str]) -> ClusterName<'a> {
    match labels {
        [] => ClusterName::Apex,
        ["dns-version"] => ClusterName::DnsVersion,
        ["dns"] => ClusterName::Dns,
        ["ns", "dns"] => ClusterName::NsDns,
        ["svc"] | ["pod"] => ClusterName::KindRoot,
        [namespace, "svc" | "pod"] => ClusterName::Namespace(namespace),
        [service, namespace, "svc"] => ClusterName::Service { namespace, service },
        [hostname, service, namespace, "svc"] => ClusterName::Endpoint {
            namespace,
            service,
            hostname,
        },
        [port, protocol, service, namespace, "svc"] => {
            match (port.strip_prefix('_'), protocol.strip_prefix('_')) {
                (Some(port), Some(protocol)) if !port.is_empty() && !protocol.is_empty() => {
                    ClusterName::Port {
                        namespace,
                        service,
                        port,
                        protocol,
                    }
                }
                _ => ClusterName::Unknown,
            }
        }
        [dashed, namespace, "pod"] => ClusterName::Pod {
            namespace,
            ip: parse_dashed_ip(dashed),
        },
        _ => ClusterName::Unknown,
    }
}

/// `10-0-0-1` → 10.0.0.1; an IPv6 form (not exactly three dashes, or containing `--`) has its
/// dashes turned into colons: `fd00--1` → fd00::1. Anything else is `None`.
pub fn parse_dashed_ip(label: &str) -> Option<IpAddr> {
    let dashes = label.bytes().filter(|&b| b == b'-').count();
    if dashes == 3 && !label.contains("--") {
        let mut octets = [0u8; 4];
        for (slot, part) in octets.iter_mut().zip(label.split('-')) {
            // Only plain decimal octets: "+1", "01"-style oddities are refused by u8 parsing
            // or accepted as the same value, as Go's net.ParseIP does for the latter.
            if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = part.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if label.is_empty() || label.len() > 45 {
        return None;
    }
    let text: String = label
        .chars()
        .map(|c| if c == '-' { ':' } else { c })
        .collect();
    text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The dashed form of `ip` used as an endpoint's hostname when it has none: `10-0-0-1`,
/// or for IPv6 colons → dashes with a trailing `-` completed to `-0` (CoreDNS's rule).
pub fn dashed_ip(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{a}-{b}-{c}-{d}")
        }
        IpAddr::V6(v6) => {
            let mut s: String = v6
                .to_string()
                .chars()
                .map(|c| if c == ':' { '-' } else { c })
                .collect();
            if s.ends_with('-') {
                s.push('0');
            }
            if s.starts_with('-') {
                s.insert(0, '0');
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn service_endpoint_port_and_pod_forms() {
        assert_eq!(
            parse(&["web", "shop", "svc"]),
            ClusterName::Service {
                namespace: "shop",
                service: "web"
            }
        );
        assert_eq!(
            parse(&["web-0", "web", "shop", "svc"]),
            ClusterName::Endpoint {
                namespace: "shop",
                service: "web",
                hostname: "web-0"
            }
        );
        assert_eq!(
            parse(&["_http", "_tcp", "web", "shop", "svc"]),
            ClusterName::Port {
                namespace: "shop",
                service: "web",
                port: "http",
                protocol: "tcp"
            }
        );
        assert_eq!(
            parse(&["10-1-2-3", "shop", "pod"]),
            ClusterName::Pod {
                namespace: "shop",
                ip: Some("10.1.2.3".parse().expect("ip"))
            }
        );
    }

    #[test]
    fn apex_and_special_names() {
        assert_eq!(parse(&[]), ClusterName::Apex);
        assert_eq!(parse(&["dns-version"]), ClusterName::DnsVersion);
        assert_eq!(parse(&["ns", "dns"]), ClusterName::NsDns);
        assert_eq!(parse(&["svc"]), ClusterName::KindRoot);
        assert_eq!(parse(&["shop", "pod"]), ClusterName::Namespace("shop"));
    }

    #[test]
    fn names_that_cannot_exist_are_unknown() {
        // The last label must be svc or pod.
        assert_eq!(parse(&["web", "shop", "other"]), ClusterName::Unknown);
        // Two labels left of the service without underscores, and too many labels.
        assert_eq!(
            parse(&["x", "y", "web", "shop", "svc"]),
            ClusterName::Unknown
        );
        assert_eq!(
            parse(&["a", "b", "c", "web", "shop", "svc"]),
            ClusterName::Unknown
        );
        // Empty labels must not panic (TOB-CDNS-9 in CoreDNS).
        assert_eq!(parse(&["", "", "web", "ns", "svc"]), ClusterName::Unknown);
        assert_eq!(parse(&["_", "_", "web", "ns", "svc"]), ClusterName::Unknown);
        assert_eq!(
            parse(&["o", "po", "pod"]),
            ClusterName::Pod {
                namespace: "po",
                ip: None
            }
        );
    }

    #[test]
    fn dashed_ip_forms() {
        assert_eq!(
            parse_dashed_ip("192-168-1-1"),
            Some("192.168.1.1".parse().expect("ip"))
        );
        assert_eq!(parse_dashed_ip("1-2-3"), None);
        assert_eq!(parse_dashed_ip("1-2-3-256"), None);
        assert_eq!(parse_dashed_ip("a-b-c-d"), None);
        assert_eq!(
            parse_dashed_ip("fd00--1"),
            Some("fd00::1".parse().expect("ip"))
        );
        assert_eq!(parse_dashed_ip("1-2-3-4-5"), None);
        assert_eq!(parse_dashed_ip(""), None);
    }

    #[test]
    fn dashed_ip_round_trips_for_v4_and_v6() {
        for text in [
            "10.0.0.2",
            "fd00::1",
            "5678:abcd::",
            "::1",
            "2001:db8:0:1:2:3:4:5",
        ] {
            let ip: IpAddr = text.parse().expect("ip");
            assert_eq!(parse_dashed_ip(&dashed_ip(&ip)), Some(ip), "{text}");
        }
        assert_eq!(
            dashed_ip(&"5678:abcd::".parse().expect("ip")),
            "5678-abcd--0"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(labels in proptest::collection::vec("[-_a-z0-9.]{0,12}", 0..8)) {
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            let _ = parse(&refs);
            for label in &refs {
                let _ = parse_dashed_ip(label);
            }
        }
    }
}
