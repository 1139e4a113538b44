//! The argument toolkit every plugin's `setup.rs` reads its directive with: zones, `fallthrough`,
//! durations, addresses, paths relative to the Corefile, argument counts and property blocks.
//! Every error is `FILE:LINE: PLUGIN: what is wrong`, at the line of the directive or option
//! that is wrong.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::rr::Name;
use thiserror::Error;

use super::keys::{self, fqdn};
use super::{ConfigError, Directive, Token};

/// A directive (or one option of its block) read on behalf of a plugin: errors it makes name
/// the plugin, so an option of `kubernetes` reads `kubernetes: ttl …`.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    plugin: &'a str,
    directive: &'a Directive,
}

impl<'a> Args<'a> {
    /// `directive`, the plugin's own line (its name is the plugin's).
    pub fn new(directive: &'a Directive) -> Args<'a> {
        Args {
            plugin: directive.name.text.as_str(),
            directive,
        }
    }

    /// One option of the plugin's block, read for the same plugin.
    pub fn option(&self, option: &'a Directive) -> Args<'a> {
        Args {
            plugin: self.plugin,
            directive: option,
        }
    }

    /// The directive or option read.
    pub fn directive(&self) -> &'a Directive {
        self.directive
    }

    /// The option's name (the directive's, for the plugin's own line).
    pub fn name(&self) -> &'a str {
        self.directive.name.text.as_str()
    }

    /// The plugin this is read for.
    pub fn plugin(&self) -> &'a str {
        self.plugin
    }

    /// The arguments on the line.
    pub fn tokens(&self) -> &'a [Token] {
        &self.directive.args
    }

    /// The arguments as text.
    pub fn texts(&self) -> Vec<&'a str> {
        self.directive
            .args
            .iter()
            .map(|a| a.text.as_str())
            .collect()
    }

    fn is_plugin_line(&self) -> bool {
        self.name() == self.plugin
    }

    /// `PLUGIN: what` at this line.
    pub fn error(&self, what: impl std::fmt::Display) -> ConfigError {
        self.directive.error(format!("{}: {what}", self.plugin))
    }

    /// `PLUGIN: what` at the line of `token`.
    pub fn error_at(&self, token: &Token, what: impl std::fmt::Display) -> ConfigError {
        ConfigError::at(token, format!("{}: {what}", self.plugin))
    }

    /// `PLUGIN: OPTION what` (just `PLUGIN: what` on the plugin's own line).
    fn about(&self, what: &str) -> ConfigError {
        if self.is_plugin_line() {
            self.error(what)
        } else {
            self.error(format!("{} {what}", self.name()))
        }
    }

    /// No arguments.
    pub fn none(&self) -> Result<(), ConfigError> {
        if self.directive.args.is_empty() {
            Ok(())
        } else {
            Err(self.about("takes no arguments"))
        }
    }

    /// Exactly one argument.
    pub fn one(&self) -> Result<&'a str, ConfigError> {
        match self.directive.args.as_slice() {
            [arg] => Ok(arg.text.as_str()),
            _ => Err(self.about("takes exactly one argument")),
        }
    }

    /// Exactly `N` arguments; `usage` says which (`CERT KEY CACERT`).
    pub fn exactly<const N: usize>(&self, usage: &str) -> Result<[&'a str; N], ConfigError> {
        let texts = self.texts();
        <[&str; N]>::try_from(texts.as_slice()).map_err(|_| self.about(&format!("takes {usage}")))
    }

    /// At most `n` arguments; `usage` says which.
    pub fn at_most(&self, n: usize, usage: &str) -> Result<&'a [Token], ConfigError> {
        if self.directive.args.len() <= n {
            Ok(&self.directive.args)
        } else {
            Err(self.about(&format!("takes at most {usage}")))
        }
    }

    /// No `{ }` block.
    pub fn no_block(&self) -> Result<(), ConfigError> {
        match self.directive.block.first() {
            Some(option) => Err(self.option(option).error("takes no block")),
            None => Ok(()),
        }
    }

    /// The options of the block, each read for the plugin.
    pub fn properties(&self) -> impl Iterator<Item = Args<'a>> + 'a {
        let plugin = self.plugin;
        self.directive
            .block
            .iter()
            .map(move |directive| Args { plugin, directive })
    }

    /// The error for an option the plugin does not know; `supported` lists the ones it does.
    pub fn unknown_property(&self, supported: &str) -> ConfigError {
        self.error(format!(
            "unknown property {:?}; supported: {supported}",
            self.name()
        ))
    }

    /// `text` as a duration in CoreDNS's syntax; `what` names it in the error.
    pub fn duration(&self, what: &str, text: &str) -> Result<Duration, ConfigError> {
        parse_duration(text).map_err(|e| self.error(format!("{what} {text:?}: {e}")))
    }

    /// `text` as a duration of at most `max`; `what` names it in the error.
    pub fn duration_at_most(
        &self,
        what: &str,
        text: &str,
        max: Duration,
    ) -> Result<Duration, ConfigError> {
        match parse_duration(text) {
            Ok(d) if d <= max => Ok(d),
            Ok(_) | Err(DurationError::TooLong) => {
                Err(self.error(format!("{what} {text:?}: at most {}", show_duration(max))))
            }
            Err(e) => Err(self.error(format!("{what} {text:?}: {e}"))),
        }
    }

    /// `text` as a number; `what` names it in the error.
    pub fn number<T: std::str::FromStr>(&self, what: &str, text: &str) -> Result<T, ConfigError> {
        text.parse()
            .map_err(|_| self.error(format!("{what} {text:?}: not a number")))
    }

    /// `text` as a zone: a fully qualified, lowercase name.
    pub fn zone(&self, text: &str) -> Result<Name, ConfigError> {
        fqdn(text).map_err(|e| self.error(format!("invalid zone {text:?}: {e}")))
    }

    /// Zones written as arguments (from the `skip`-th on): names or CIDRs (which give the reverse
    /// zones they cover), without ports; no such argument means the server block's zones.
    pub fn zones_from(&self, skip: usize, block_zones: &[Name]) -> Result<Vec<Name>, ConfigError> {
        let tokens = self.directive.args.get(skip..).unwrap_or_default();
        if tokens.is_empty() {
            return Ok(block_zones.to_vec());
        }
        let mut zones = Vec::new();
        for token in tokens {
            match keys::parse_key(&token.text) {
                Ok(parsed) if parsed.iter().all(|k| k.port.is_none()) => {
                    zones.extend(parsed.into_iter().map(|k| k.zone));
                }
                Ok(_) => return Err(self.error_at(token, "a zone takes no port")),
                Err(e) => return Err(self.error_at(token, e)),
            }
        }
        Ok(zones)
    }

    /// The folder of the Corefile the directive was written in.
    pub fn base_dir(&self) -> PathBuf {
        Path::new(&*self.directive.name.file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// `text` as a path; a relative one is relative to the folder of the Corefile it was
    /// written in.
    pub fn path(&self, text: &str) -> PathBuf {
        let path = Path::new(text);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir().join(path)
        }
    }

    /// [`Args::path`] of `text`, which must be a directory that can be listed (checked at
    /// parse time so that `-validate` and a reload report it with the line).
    pub fn existing_dir(&self, text: &str) -> Result<PathBuf, ConfigError> {
        let path = self.path(text);
        match std::fs::read_dir(&path) {
            Ok(_) => Ok(path),
            Err(e) => Err(self.error(format!("{text:?}: cannot read the directory: {e}"))),
        }
    }

    /// [`Args::path`] of `text`, which must be a regular file that can be read.
    pub fn readable_file(&self, text: &str) -> Result<PathBuf, ConfigError> {
        let path = self.path(text);
        let checked = std::fs::metadata(&path).and_then(|m| {
            if m.is_file() {
                std::fs::File::open(&path).map(drop)
            } else {
                Err(std::io::Error::other("not a regular file"))
            }
        });
        match checked {
            Ok(()) => Ok(path),
            Err(e) => Err(self.error(format!("{text:?}: cannot read the file: {e}"))),
        }
    }

    /// `DIRECTIVE [ADDR]` of an HTTP endpoint: the address (or `default`) and where it was
    /// written. No block.
    pub fn http_listen(&self, default: &str) -> Result<HttpListen, ConfigError> {
        self.no_block()?;
        Ok(HttpListen {
            addr: self.http_address(default)?,
            origin: self.directive.origin(),
        })
    }

    /// An HTTP listen address as CoreDNS writes it (`:8080`, `127.0.0.1:8080`, `[::1]:8080`): the
    /// single argument, or `default` without one.
    pub fn http_address(&self, default: &str) -> Result<SocketAddr, ConfigError> {
        let text = match self.texts().as_slice() {
            [] => default.to_string(),
            [addr] => addr.to_string(),
            _ => return Err(self.error("takes at most one address")),
        };
        if let Some(addr) = parse_http_address(&text) {
            return Ok(addr);
        }
        // A host name (`localhost:9153`), resolved once here as Go's net.Listen resolves it:
        // its first IPv4 address, else its first address.
        let resolved: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(text.as_str())
            .map(Iterator::collect)
            .unwrap_or_default();
        resolved
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| resolved.first())
            .copied()
            .ok_or_else(|| {
                self.error(format!(
                    "{text:?} is not an address such as :8080, nor a host name with a port"
                ))
            })
    }

    /// `fallthrough [ZONES…]`: this option's arguments as a [`Fallthrough`].
    pub fn fallthrough(&self) -> Result<Fallthrough, ConfigError> {
        let zones = self
            .texts()
            .into_iter()
            .map(|text| self.zone(text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if zones.is_empty() {
            Fallthrough::All
        } else {
            Fallthrough::Zones(zones)
        })
    }
}

/// Where an HTTP endpoint (`health`, `ready`, `prometheus`) listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpListen {
    /// The address.
    pub addr: SocketAddr,
    /// Where it was written (`FILE:LINE`), for the error when it cannot be bound.
    pub origin: String,
}

/// Parse an address as CoreDNS writes them: `:8080` (every address), `127.0.0.1:8080`,
/// `[::1]:8080`.
pub fn parse_http_address(text: &str) -> Option<SocketAddr> {
    match text.strip_prefix(':') {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .map(|p| SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 0], p))),
        None => text.parse().ok(),
    }
}

/// CoreDNS's `fallthrough [ZONES…]`: whether a plugin hands a name it has no answer for to the
/// next plugin. Written without zones it applies to every name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Fallthrough {
    /// Not written: the plugin answers NXDOMAIN itself.
    #[default]
    Off,
    /// `fallthrough`: every name.
    All,
    /// `fallthrough ZONES…`: names in these zones.
    Zones(Vec<Name>),
}

impl Fallthrough {
    /// Whether `name` goes on to the next plugin.
    pub fn covers(&self, name: &Name) -> bool {
        match self {
            Fallthrough::Off => false,
            Fallthrough::All => true,
            Fallthrough::Zones(zones) => zones.iter().any(|z| z.zone_of(name)),
        }
    }
}

/// Whether `zone` is a reverse zone (under `in-addr.arpa.` or `ip6.arpa.`).
pub fn is_reverse_zone(zone: &Name) -> bool {
    let mut labels = zone.iter().rev();
    matches!(
        (labels.next(), labels.next()),
        (Some(arpa), Some(kind))
            if arpa.eq_ignore_ascii_case(b"arpa")
                && (kind.eq_ignore_ascii_case(b"in-addr") || kind.eq_ignore_ascii_case(b"ip6"))
    )
}

/// The longest duration Go's `time.Duration` holds (an int64 of nanoseconds), in seconds.
const GO_MAX_SECONDS: f64 = i64::MAX as f64 / 1e9;

/// Why a text is not a duration.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum DurationError {
    /// Not the syntax at all.
    #[error("not a duration")]
    Invalid,
    /// Longer than Go can hold, so longer than CoreDNS takes.
    #[error("longer than Go's limit of 2562047h47m16.854775807s")]
    TooLong,
}

/// Parse a Go-style duration as CoreDNS writes them: `5s`, `500ms`, `1m30s`, `2h`, `0`. As in
/// Go, a duration past 2562047h47m16.854775807s is an error, not a wrap.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return Err(DurationError::Invalid);
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| DurationError::Invalid)?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(DurationError::Invalid),
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    // Also true for infinity (a number of 400 digits parses as one); never NaN (no negatives).
    if total > GO_MAX_SECONDS {
        return Err(DurationError::TooLong);
    }
    Duration::try_from_secs_f64(total).map_err(|_| DurationError::TooLong)
}

/// `d` as Go writes whole hours, minutes or seconds (`1h`, `5m`, `30s`); otherwise as Rust does.
fn show_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    match (d.subsec_nanos(), seconds) {
        (0, s) if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        (0, s) if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        (0, s) => format!("{s}s"),
        _ => format!("{d:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;

    fn directive(text: &str) -> Directive {
        directive_in("Corefile", text)
    }

    fn directive_in(file: &str, text: &str) -> Directive {
        Corefile::parse(file, &format!(".:53 {{\n{text}\n}}\n"), Path::new("."))
            .expect("syntax")
            .blocks[0]
            .directives[0]
            .clone()
    }

    #[test]
    fn errors_name_the_plugin_and_the_option() {
        let d = directive("kubernetes cluster.local {\n  ttl 1 2\n  pods\n}");
        let args = Args::new(&d);
        let mut options = args.properties();
        let ttl = options.next().expect("ttl");
        assert_eq!(
            ttl.one().unwrap_err().to_string(),
            "Corefile:3: kubernetes: ttl takes exactly one argument"
        );
        let pods = options.next().expect("pods");
        assert_eq!(
            pods.exactly::<1>("disabled|insecure|verified")
                .unwrap_err()
                .to_string(),
            "Corefile:4: kubernetes: pods takes disabled|insecure|verified"
        );
        assert_eq!(
            args.none().unwrap_err().to_string(),
            "Corefile:2: kubernetes: takes no arguments"
        );
        assert_eq!(
            pods.unknown_property("ttl").to_string(),
            "Corefile:4: kubernetes: unknown property \"pods\"; supported: ttl"
        );
    }

    #[test]
    fn zones_are_fqdns_cidrs_expand_and_default_to_the_block() {
        let block = [Name::from_ascii("example.").expect("name")];
        let d = directive("hosts FILE Cluster.Local 10.0.0.0/8");
        let zones = Args::new(&d).zones_from(1, &block).expect("zones");
        let texts: Vec<String> = zones.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["cluster.local.", "10.in-addr.arpa."]);
        let d = directive("hosts FILE");
        assert_eq!(Args::new(&d).zones_from(1, &block).expect("zones"), block);
        let d = directive("hosts FILE example.:53");
        assert_eq!(
            Args::new(&d).zones_from(1, &block).unwrap_err().to_string(),
            "Corefile:2: hosts: a zone takes no port"
        );
    }

    #[test]
    fn fallthrough_without_zones_covers_every_name() {
        let name = Name::from_ascii("1.0.0.10.in-addr.arpa.").expect("name");
        let d = directive("fallthrough");
        let all = Args::new(&d).fallthrough().expect("valid");
        assert_eq!(all, Fallthrough::All);
        assert!(all.covers(&name));
        let d = directive("fallthrough in-addr.arpa ip6.arpa");
        let some = Args::new(&d).fallthrough().expect("valid");
        assert!(some.covers(&name));
        assert!(!some.covers(&Name::from_ascii("x.cluster.local.").expect("name")));
        assert!(!Fallthrough::Off.covers(&name));
    }

    #[test]
    fn paths_are_relative_to_the_corefile() {
        let d = directive_in("/etc/coredns/Corefile", "hosts");
        assert_eq!(
            Args::new(&d).path("hosts.txt"),
            PathBuf::from("/etc/coredns/hosts.txt")
        );
        assert_eq!(
            Args::new(&d).path("/etc/hosts"),
            PathBuf::from("/etc/hosts")
        );
    }

    #[test]
    fn http_addresses_as_coredns_writes_them() {
        assert_eq!(
            parse_http_address(":8080"),
            Some("[::]:8080".parse().expect("addr"))
        );
        assert_eq!(
            parse_http_address("127.0.0.1:8181"),
            Some("127.0.0.1:8181".parse().expect("addr"))
        );
        assert_eq!(parse_http_address("8080"), None);
        assert_eq!(parse_http_address(":http"), None);
    }

    #[test]
    fn reverse_zones() {
        for (zone, reverse) in [
            ("in-addr.arpa.", true),
            ("10.IN-ADDR.arpa.", true),
            ("ip6.arpa.", true),
            ("cluster.local.", false),
            ("arpa.", false),
        ] {
            assert_eq!(
                is_reverse_zone(&Name::from_ascii(zone).expect("name")),
                reverse
            );
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for text in ["5", "s", "", ".s", "1.2.3s", "-5s", "5d"] {
            assert_eq!(parse_duration(text), Err(DurationError::Invalid), "{text}");
        }
    }

    #[test]
    fn durations_past_gos_limit_are_errors() {
        // Go's time.Duration is an int64 of nanoseconds: at most 2562047h47m16.854775807s.
        assert_eq!(
            parse_duration("2562047h"),
            Ok(Duration::from_secs(2_562_047 * 3600))
        );
        let huge = format!("1{}s", "0".repeat(400));
        for text in ["2562048h", "99999999999h", "18446744073709551616s", &huge] {
            assert_eq!(parse_duration(text), Err(DurationError::TooLong), "{text}");
        }
        let d = directive("health {\n lameduck 2562048h\n}");
        let option = Args::new(&d).option(&d.block[0]);
        assert_eq!(
            option
                .duration("lameduck", "2562048h")
                .unwrap_err()
                .to_string(),
            "Corefile:3: health: lameduck \"2562048h\": longer than Go's limit of 2562047h47m16.854775807s"
        );
        assert_eq!(
            option
                .duration_at_most("lameduck", "2562048h", Duration::from_secs(3600))
                .unwrap_err()
                .to_string(),
            "Corefile:3: health: lameduck \"2562048h\": at most 1h"
        );
    }
}

/// A network: an address (host bits cleared) and a prefix length (`acl`'s `net`,
/// `loadbalance`'s `prefer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The network's address.
    pub addr: std::net::IpAddr,
    /// The prefix length.
    pub len: u8,
}

impl Cidr {
    /// `ADDRESS/LENGTH`, or an address alone (a full-length network).
    pub fn parse(text: &str) -> Option<Cidr> {
        use std::net::IpAddr;
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr.parse::<IpAddr>().ok()?, len.parse::<u8>().ok()?),
            None => {
                let addr = text.parse::<IpAddr>().ok()?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        let addr = match addr {
            IpAddr::V4(v4) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
            _ => return None,
        };
        Some(Cidr { addr, len })
    }

    /// Whether `ip` is inside (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}
