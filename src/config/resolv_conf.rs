//! What the plugins read from a resolv.conf file: `forward`'s upstreams (`nameserver`) and
//! `autopath`'s search path (`search`). Comments start with `#` or `;`, as for glibc.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::Name;

/// At most this many `search` domains are kept, as glibc's `MAXDNSRCH`.
pub const MAX_SEARCH_DOMAINS: usize = 6;

/// Each line's words, without its comment.
fn lines(content: &str) -> impl Iterator<Item = std::str::SplitWhitespace<'_>> {
    content.lines().map(|line| {
        line.split(['#', ';'])
            .next()
            .unwrap_or("")
            .split_whitespace()
    })
}

/// The `nameserver` addresses, port 53.
pub fn nameservers(content: &str) -> Vec<SocketAddr> {
    lines(content)
        .filter_map(|mut words| match (words.next(), words.next()) {
            (Some("nameserver"), Some(address)) => {
                // A scoped IPv6 address (fe80::1%eth0) keeps only the address part.
                let address = address.split('%').next().unwrap_or(address);
                address
                    .parse::<IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, 53))
            }
            _ => None,
        })
        .collect()
}

/// The `search` domains (the last `search` line wins, as for glibc), fully qualified and lower
/// case; a word that is not a valid name is skipped.
pub fn search_domains(content: &str) -> Vec<Name> {
    let mut domains = Vec::new();
    for mut words in lines(content) {
        if words.next() == Some("search") {
            domains = words
                .filter_map(|w| Name::from_ascii(w).ok())
                .map(|mut n| {
                    n.set_fqdn(true);
                    n.to_lowercase()
                })
                .filter(|n| !n.is_root())
                .take(MAX_SEARCH_DOMAINS)
                .collect();
        }
    }
    domains
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# comment\nsearch Example.org svc.cluster.local ; the node's\nnameserver 192.0.2.1\nnameserver fe80::1%eth0 ; scoped\noptions ndots:5\n";

    #[test]
    fn nameservers_and_search_domains() {
        let ups: Vec<String> = nameservers(FILE).iter().map(ToString::to_string).collect();
        assert_eq!(ups, ["192.0.2.1:53", "[fe80::1]:53"]);
        let search: Vec<String> = search_domains(FILE)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(search, ["example.org.", "svc.cluster.local."]);
    }

    #[test]
    fn the_last_search_line_wins_and_is_bounded() {
        assert_eq!(
            search_domains("search a.example\nsearch c.example\n").len(),
            1
        );
        assert_eq!(
            search_domains("search a b c d e f g h\n").len(),
            MAX_SEARCH_DOMAINS
        );
        assert!(search_domains("domain x\n").is_empty());
    }
}
