//! Parsing of the `forward` directive (CoreDNS's `plugin/forward/setup.go`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive, Token};
use crate::plugin::{Setup, parsed_all};

/// At most this many upstreams (CoreDNS's limit).
pub const MAX_UPSTREAMS: usize = 15;

/// How the next upstream is picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// A random order per query (the default).
    Random,
    /// Rotate the starting upstream per query.
    RoundRobin,
    /// Always in the written order.
    Sequential,
}

/// DNS over TLS settings (`tls://` upstreams).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `tls_servername`: the name the upstreams' certificates must carry (default: their IP).
    pub server_name: Option<String>,
    /// Client certificate and key (PEM), from `tls CERT KEY [CA]`.
    pub client: Option<(PathBuf, PathBuf)>,
    /// CA bundle (PEM) the upstreams' certificates must chain to; default: the system's roots.
    pub ca: Option<PathBuf>,
}

/// Idle connections kept per upstream and transport unless `max_idle_conns` says otherwise.
pub const DEFAULT_MAX_IDLE_CONNS: usize = 16;

/// The most idle connections `max_idle_conns` may keep per upstream and transport.
pub const MAX_IDLE_CONNS: usize = 1024;

/// `next`/`failover RCODE...`: at least one rcode name.
fn rcodes(d: &Args<'_>) -> Result<Vec<ResponseCode>, ConfigError> {
    let texts = d.texts();
    if texts.is_empty() {
        return Err(d.error(format!("{} needs at least one rcode", d.name())));
    }
    texts
        .iter()
        .map(|text| {
            crate::plugins::template::setup::rcode_named(&text.to_ascii_uppercase())
                .ok_or_else(|| d.error(format!("{}: unknown rcode {text:?}", d.name())))
        })
        .collect()
}

/// Queries one `forward` keeps waiting on its upstreams when `max_concurrent` is not set:
/// kubeadm's value. Each holds a socket and a small task (no receive buffer while it waits),
/// so a silent upstream and a flood of unique names cost at most 1,000 descriptors and a few
/// megabytes; past it, REFUSED.
pub const DEFAULT_MAX_CONCURRENT: usize = 1000;

/// The `forward` options.
#[derive(Clone, Debug)]
pub struct ForwardConfig {
    /// FROM: only names under this zone are forwarded.
    pub from: Name,
    /// The upstreams, in the written order.
    pub upstreams: Vec<SocketAddr>,
    /// Set when the upstreams are `tls://` (DNS over TLS, RFC 7858); all or none are.
    pub tls: Option<TlsSettings>,
    /// The TLS client built from `tls` when the Corefile was read (its files loaded once).
    pub tls_client: Option<super::upstream::TlsClient>,
    /// `except`: names under these zones go to the next plugin.
    pub except: Vec<Name>,
    /// `force_tcp`.
    pub force_tcp: bool,
    /// `prefer_udp`.
    pub prefer_udp: bool,
    /// `expire`: how long an idle upstream connection may be reused (default 10 s).
    pub expire: Duration,
    /// `max_fails`: consecutive failures before an upstream is down (default 2; 0 = never).
    pub max_fails: u32,
    /// `health_check` interval (default 0.5 s), once an upstream has failed.
    pub health_check: Duration,
    /// `health_check ... no_rec`: probe with RD=0.
    pub health_check_recursion: bool,
    /// `health_check ... domain NAME`: the probed name (default `.`).
    pub health_check_domain: Name,
    /// `policy`.
    pub policy: Policy,
    /// `max_concurrent`: queries in flight above which REFUSED is answered (default
    /// [`DEFAULT_MAX_CONCURRENT`]).
    pub max_concurrent: usize,
    /// Read timeout per attempt (2 s).
    pub read_timeout: Duration,
    /// Deadline for the whole query, under the client's usual 5 s retry.
    pub deadline: Duration,
    /// `next RCODE...`: an answer with one of these rcodes goes to the next plugin instead.
    pub next: Vec<ResponseCode>,
    /// `failover RCODE...`: an answer with one of these rcodes makes the next upstream be
    /// tried (the last such answer is returned when none does better).
    pub failover: Vec<ResponseCode>,
    /// `failfast_all_unhealthy_upstreams`: SERVFAIL at once when every upstream is down
    /// (instead of trying one at random).
    pub failfast_all_unhealthy: bool,
    /// `max_idle_conns`: idle connections kept per upstream and transport (default 16).
    pub max_idle_conns: usize,
    /// `max_connect_attempts`: upstreams tried per query at most (0: every one).
    pub max_connect_attempts: usize,
}

/// Parse one TO: `IP`, `IP:PORT`, `[IPv6]:PORT`, `dns://…`, `tls://IP[:PORT]` (port 853), or
/// a resolv.conf-style file. Returns the addresses and whether they are DNS over TLS.
fn parse_to(to: &Token, plugin: &Args<'_>) -> Result<(Vec<SocketAddr>, bool), ConfigError> {
    let text = to.text.as_str();
    let error = |what: String| plugin.error_at(to, what);
    if text.is_empty() {
        return Err(error(
            "an empty upstream (a {$VARIABLE} that is not set?)".to_string(),
        ));
    }
    if let Some(rest) = text.strip_prefix("tls://") {
        if let Ok(ip) = rest.parse::<IpAddr>() {
            return Ok((vec![SocketAddr::new(ip, 853)], true));
        }
        return rest
            .parse::<SocketAddr>()
            .map(|addr| (vec![addr], true))
            .map_err(|_| error(format!("{text}: expected tls://IP or tls://IP:PORT")));
    }
    if text.contains("://") && !text.starts_with("dns://") {
        return Err(error(format!(
            "{text}: only dns:// and tls:// upstreams are supported"
        )));
    }
    parse_plain(text, plugin)
        .map(|addrs| (addrs, false))
        .map_err(error)
}

/// An address, or the nameservers of a resolv.conf file; failing, what is wrong.
fn parse_plain(text: &str, plugin: &Args<'_>) -> Result<Vec<SocketAddr>, String> {
    let address = text.strip_prefix("dns://").unwrap_or(text);
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, 53)]);
    }
    if let Ok(socket) = address.parse::<SocketAddr>() {
        return Ok(vec![socket]);
    }
    if text.starts_with("dns://") || !(text.contains('/') || Path::new(text).exists()) {
        return Err(format!(
            "{text}: not an IP address, IP:PORT, or a resolv.conf file"
        ));
    }
    let path = plugin.path(text);
    // At most 1 MiB, and only a regular file (`/dev/zero` would be read forever).
    let content = crate::config::read_text(&path, true).map_err(|e| format!("{}: {e}", path.display()))?;
    let servers = crate::config::resolv_conf::nameservers(&content);
    if servers.is_empty() {
        return Err(format!("{}: no nameserver lines", path.display()));
    }
    for server in &servers {
        if server.ip().is_loopback() {
            tracing::warn!(
                "forward: {} names the loopback nameserver {}: if that is this server (a node's systemd-resolved 127.0.0.53 seen from a dnsPolicy: Default pod is not), queries will loop",
                path.display(),
                server.ip()
            );
        }
    }
    Ok(servers)
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed_all(config(d))
}

/// Parse a `forward` directive. Every error is collected.
pub fn config(directive: &Directive) -> Result<ForwardConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let plugin = Args::new(directive);
    let (from, tos) = match directive.args.split_first() {
        Some((from, tos)) if !tos.is_empty() => (from, tos),
        _ => {
            return Err(vec![directive.error(
                "forward needs FROM and at least one TO: forward . 10.0.0.10",
            )]);
        }
    };
    let from = plugin.zone(&from.text).unwrap_or_else(|e| {
        errors.push(e);
        Name::root()
    });
    let mut upstreams = Vec::new();
    let mut transports = Vec::new();
    for to in tos {
        match parse_to(to, &plugin) {
            Ok((found, tls)) => {
                upstreams.extend(found);
                transports.push(tls);
            }
            Err(e) => errors.push(e),
        }
    }
    let all_tls = !transports.is_empty() && transports.iter().all(|t| *t);
    if transports.iter().any(|t| *t) && !all_tls {
        errors.push(directive.error("forward: tls:// and plain upstreams cannot be mixed"));
    }
    if upstreams.len() > MAX_UPSTREAMS {
        errors.push(directive.error(format!(
            "forward: {} upstreams; at most {MAX_UPSTREAMS}",
            upstreams.len()
        )));
    }
    let mut config = ForwardConfig {
        from,
        upstreams,
        except: Vec::new(),
        force_tcp: false,
        prefer_udp: false,
        expire: Duration::from_secs(10),
        max_fails: 2,
        health_check: Duration::from_millis(500),
        health_check_recursion: true,
        health_check_domain: Name::root(),
        policy: Policy::Random,
        max_concurrent: DEFAULT_MAX_CONCURRENT,
        read_timeout: Duration::from_secs(2),
        deadline: Duration::from_millis(4500),
        next: Vec::new(),
        failover: Vec::new(),
        failfast_all_unhealthy: false,
        max_idle_conns: DEFAULT_MAX_IDLE_CONNS,
        max_connect_attempts: 0,
        tls: all_tls.then(TlsSettings::default),
        tls_client: None,
    };
    let mut tls_options = TlsSettings::default();
    let mut tls_option_seen = false;
    for d in plugin.properties() {
        let result = match d.name() {
            "tls_servername" => d.one().map(|name| {
                tls_option_seen = true;
                tls_options.server_name = Some(name.to_string());
            }),
            "tls" => {
                tls_option_seen = true;
                let path = |p: &str| d.path(p);
                match d.texts().as_slice() {
                    [] => Ok(()),
                    [ca] => {
                        tls_options.ca = Some(path(ca));
                        Ok(())
                    }
                    [cert, key] => {
                        tls_options.client = Some((path(cert), path(key)));
                        Ok(())
                    }
                    [cert, key, ca] => {
                        tls_options.client = Some((path(cert), path(key)));
                        tls_options.ca = Some(path(ca));
                        Ok(())
                    }
                    _ => Err(d.error("tls takes [CERT KEY] [CA]")),
                }
            }
            _ => parse_option(d, &mut config),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    match (&mut config.tls, tls_option_seen) {
        (Some(tls), _) => {
            // Load the files now, so that `-validate` and a reload report them with the line.
            match super::upstream::TlsClient::new(&tls_options) {
                Ok(client) => config.tls_client = Some(client),
                Err(e) => errors.push(directive.error(format!("forward: {e}"))),
            }
            *tls = tls_options;
        }
        (None, true) => errors.push(
            directive.error("forward: tls and tls_servername apply to tls:// upstreams only"),
        ),
        (None, false) => {}
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

fn parse_option(d: Args<'_>, config: &mut ForwardConfig) -> Result<(), ConfigError> {
    let args = d.texts();
    match d.name() {
        "except" => {
            if args.is_empty() {
                return Err(d.error("except needs at least one name"));
            }
            for name in args {
                config.except.push(d.zone(name)?);
            }
        }
        "force_tcp" => config.force_tcp = true,
        "prefer_udp" => config.prefer_udp = true,
        "expire" => config.expire = d.duration("expire", d.one()?)?,
        "max_fails" => {
            config.max_fails = d.number("max_fails", d.one()?)?;
        }
        "health_check" => {
            let Some((interval, rest)) = args.split_first() else {
                return Err(d.error("health_check needs an interval"));
            };
            config.health_check = d.duration("health_check", interval)?;
            let mut rest = rest.iter();
            while let Some(word) = rest.next() {
                match *word {
                    "no_rec" => config.health_check_recursion = false,
                    "domain" => {
                        let name = rest
                            .next()
                            .ok_or_else(|| d.error("health_check domain needs a name"))?;
                        config.health_check_domain = d.zone(name)?;
                    }
                    other => {
                        return Err(d.error(format!(
                            "health_check: unknown argument {other:?}; expected no_rec or domain NAME"
                        )));
                    }
                }
            }
        }
        "policy" => {
            config.policy = match d.one()? {
                "random" => Policy::Random,
                "round_robin" => Policy::RoundRobin,
                "sequential" => Policy::Sequential,
                other => {
                    return Err(d.error(format!(
                        "policy {other:?}: expected random, round_robin or sequential"
                    )));
                }
            }
        }
        "max_concurrent" => {
            let text = d.one()?;
            let n: usize = text.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                d.error(format!(
                    "max_concurrent {text:?}: expected a positive number"
                ))
            })?;
            config.max_concurrent = n;
        }
        "read_timeout" => config.read_timeout = d.duration("read_timeout", d.one()?)?,
        "next" => config.next = rcodes(&d)?,
        "failover" => config.failover = rcodes(&d)?,
        "failfast_all_unhealthy_upstreams" => {
            d.none()?;
            config.failfast_all_unhealthy = true;
        }
        "max_idle_conns" => {
            let n: usize = d.number("max_idle_conns", d.one()?)?;
            // 0 is CoreDNS's "no limit": here the default bound stays.
            config.max_idle_conns = match n {
                0 => DEFAULT_MAX_IDLE_CONNS,
                n => n.min(MAX_IDLE_CONNS),
            };
        }
        "max_connect_attempts" => {
            config.max_connect_attempts = d.number("max_connect_attempts", d.one()?)?;
        }
        _ => {
            return Err(d.unknown_property(
                "except, force_tcp, prefer_udp, expire, max_fails, health_check, policy, max_concurrent, read_timeout, next, failover, failfast_all_unhealthy_upstreams, max_idle_conns, max_connect_attempts, tls, tls_servername",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;

    fn parse_text(text: &str) -> Result<ForwardConfig, Vec<ConfigError>> {
        let core = Corefile::parse("/etc/coredns/Corefile", text, Path::new("/etc/coredns"))
            .expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn upstream_forms_and_defaults() {
        let c = parse_text(
            ".:53 {\n forward . 10.0.0.1 10.0.0.2:5353 dns://[fd00::1]:53 dns://10.0.0.3\n}\n",
        )
        .expect("valid");
        let ups: Vec<String> = c.upstreams.iter().map(ToString::to_string).collect();
        assert_eq!(
            ups,
            vec![
                "10.0.0.1:53",
                "10.0.0.2:5353",
                "[fd00::1]:53",
                "10.0.0.3:53"
            ]
        );
        assert_eq!(c.policy, Policy::Random);
        assert_eq!(c.max_fails, 2);
        assert_eq!(c.health_check, Duration::from_millis(500));
        assert_eq!(c.expire, Duration::from_secs(10));
        assert_eq!(c.read_timeout, Duration::from_secs(2));
        assert!(c.deadline < Duration::from_secs(5));
    }

    #[test]
    fn an_unset_environment_variable_is_named_as_the_likely_cause() {
        // `{$NAME}` of an unset variable leaves an empty word, as in CoreDNS.
        let errors = parse_text(".:53 {\n forward . {$CLUSTERDNS_TEST_SURELY_UNSET}\n}\n")
            .expect_err("no upstream");
        assert!(
            errors[0]
                .to_string()
                .contains("an empty upstream (a {$VARIABLE} that is not set?)"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn options() {
        let c = parse_text(
            ".:53 {\n forward . 10.0.0.1 {\n  except corp.example internal\n  force_tcp\n  policy sequential\n  max_concurrent 1000\n  max_fails 3\n  health_check 1s no_rec domain example.org\n  expire 30s\n }\n}\n",
        )
        .expect("valid");
        assert_eq!(c.except.len(), 2);
        assert!(c.force_tcp);
        assert_eq!(c.policy, Policy::Sequential);
        assert_eq!(c.max_concurrent, 1000);
        assert_eq!(c.max_fails, 3);
        assert!(!c.health_check_recursion);
        assert_eq!(c.health_check_domain.to_ascii(), "example.org.");
    }

    #[test]
    fn rcode_and_connection_options() {
        let c = parse_text(
            ".:53 {\n forward . 10.0.0.1 10.0.0.2 {\n  next NXDOMAIN servfail\n  failover REFUSED\n  failfast_all_unhealthy_upstreams\n  max_idle_conns 0\n  max_connect_attempts 1\n }\n}\n",
        )
        .expect("valid");
        assert_eq!(c.next, [ResponseCode::NXDomain, ResponseCode::ServFail]);
        assert_eq!(c.failover, [ResponseCode::Refused]);
        assert!(c.failfast_all_unhealthy);
        assert_eq!(c.max_idle_conns, DEFAULT_MAX_IDLE_CONNS, "0 keeps the bound");
        assert_eq!(c.max_connect_attempts, 1);
        for bad in ["next", "next MAYBE", "failover", "max_idle_conns many"] {
            let text = format!(".:53 {{\n forward . 10.0.0.1 {{\n  {bad}\n }}\n}}\n");
            assert!(parse_text(&text).is_err(), "{bad}");
        }
    }

    /// `forward` of a Corefile in `dir` (relative paths resolve there).
    fn parse_in(dir: &Path, text: &str) -> Result<ForwardConfig, Vec<ConfigError>> {
        let file = dir.join("Corefile").display().to_string();
        let core = Corefile::parse(&file, text, dir).expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    /// A self-signed CA certificate and a client certificate with its key, as PEM files
    /// `ca.pem`, `c.pem`, `k.pem` in `dir`.
    fn write_certificates(dir: &Path) {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let ca = rcgen::CertificateParams::new(Vec::<String>::new())
            .expect("params")
            .self_signed(&ca_key)
            .expect("ca");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["client.test".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        std::fs::write(dir.join("c.pem"), cert.pem()).expect("write");
        std::fs::write(dir.join("k.pem"), key.serialize_pem()).expect("write");
    }

    #[test]
    fn dns_over_tls_upstreams() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_certificates(dir.path());
        let c = parse_in(dir.path(), ".:53 {\n forward . tls://1.1.1.1 tls://[2606:4700::1111]:8853 {\n  tls_servername cloudflare-dns.com\n  tls ca.pem\n }\n}\n").expect("valid");
        let ups: Vec<String> = c.upstreams.iter().map(ToString::to_string).collect();
        assert_eq!(ups, vec!["1.1.1.1:853", "[2606:4700::1111]:8853"]);
        let tls = c.tls.expect("tls");
        assert_eq!(tls.server_name.as_deref(), Some("cloudflare-dns.com"));
        assert_eq!(tls.ca, Some(dir.path().join("ca.pem")));
        assert!(tls.client.is_none());
        let c = parse_in(
            dir.path(),
            ".:53 {\n forward . tls://1.1.1.1 {\n  tls c.pem k.pem ca.pem\n }\n}\n",
        )
        .expect("valid");
        let tls = c.tls.expect("tls");
        assert_eq!(
            tls.client,
            Some((dir.path().join("c.pem"), dir.path().join("k.pem")))
        );
    }

    #[test]
    fn tls_files_that_do_not_load_are_errors_at_the_forward_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_certificates(dir.path());
        std::fs::write(dir.path().join("junk.pem"), "not PEM\n").expect("write");
        let file = dir.path().join("Corefile").display().to_string();
        for (tls, wrong) in [
            ("tls nowhere.pem", "nowhere.pem"),
            ("tls junk.pem k.pem", "junk.pem: no certificate in the file"),
            ("tls c.pem junk.pem", "junk.pem"),
            ("tls .", "not a regular file"),
        ] {
            let text = format!(".:53 {{\n forward . tls://1.1.1.1 {{\n  {tls}\n }}\n}}\n");
            let errors = parse_in(dir.path(), &text).expect_err(tls);
            let message = errors[0].to_string();
            assert!(
                message.starts_with(&format!("{file}:2: forward: ")) && message.contains(wrong),
                "{tls}: {message}"
            );
        }
    }

    #[test]
    fn resolv_conf_files_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("resolv.conf"),
            "# comment\nsearch example\nnameserver 192.0.2.1\nnameserver fe80::1%eth0 ; scoped\noptions ndots:5\n",
        )
        .expect("write");
        let text = format!(
            ".:53 {{\n forward . {}\n}}\n",
            dir.path().join("resolv.conf").display()
        );
        let c = parse_text(&text).expect("valid");
        let ups: Vec<String> = c.upstreams.iter().map(ToString::to_string).collect();
        assert_eq!(ups, vec!["192.0.2.1:53", "[fe80::1]:53"]);
    }

    #[test]
    fn errors_name_their_line() {
        let errs = parse_text(
            ".:53 {\n forward . nonsense {\n  policy fastest\n  max_concurrent 0\n }\n}\n",
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 3, "{text:?}");
        assert!(
            text[0].starts_with("/etc/coredns/Corefile:2: forward: nonsense"),
            "{text:?}"
        );
        assert!(
            text[1].starts_with("/etc/coredns/Corefile:3: forward: policy"),
            "{text:?}"
        );
        assert!(
            text[2].starts_with("/etc/coredns/Corefile:4: forward: max_concurrent"),
            "{text:?}"
        );
        assert!(parse_text(".:53 {\n forward .\n}\n").is_err());
        assert!(
            parse_text(".:53 {\n forward . tls://1.1.1.1 8.8.8.8\n}\n").is_err(),
            "mixed"
        );
        assert!(
            parse_text(".:53 {\n forward . 8.8.8.8 {\n  tls_servername dns.google\n }\n}\n")
                .is_err()
        );
        let many = format!(
            ".:53 {{\n forward . {}\n}}\n",
            (1..=16)
                .map(|i| format!("10.0.0.{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(parse_text(&many).is_err());
    }
}
