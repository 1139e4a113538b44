//! Parsing of the `cache` directive (CoreDNS's `plugin/cache/setup.go`).

use std::time::Duration;

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive, parse_duration};
use crate::plugin::{Setup, parsed};

/// One of the two stores' settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Most entries held.
    pub capacity: usize,
    /// Highest TTL given to a cached answer (seconds).
    pub max_ttl: u32,
    /// Lowest TTL (seconds).
    pub min_ttl: u32,
}

/// The `cache` options.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// The zones cached (default: the server block's zones).
    pub zones: Vec<Name>,
    /// Positive answers.
    pub success: StoreConfig,
    /// NXDOMAIN and NODATA answers.
    pub denial: StoreConfig,
    /// Zones whose positive answers are not cached (`disable success ZONES`).
    pub disable_success: Vec<Name>,
    /// Zones whose negative answers are not cached (`disable denial ZONES`).
    pub disable_denial: Vec<Name>,
    /// How long SERVFAIL is cached (default 5 s, at most 5 min; 0 = never).
    pub servfail: Duration,
    /// `prefetch AMOUNT [DURATION [PERCENTAGE%]]`.
    pub prefetch: Option<Prefetch>,
    /// `serve_stale [DURATION] [immediate|verify]`: how long past expiry an answer may be
    /// served, and when.
    pub serve_stale: Option<Duration>,
    /// `serve_stale … verify`: a stale answer only once its refresh failed; otherwise
    /// (`immediate`, CoreDNS's default) at once, refreshed in the background.
    pub stale_verify: bool,
    /// `keepttl`: answers keep the TTL they were stored with instead of counting down.
    pub keep_ttl: bool,
}

/// When a popular answer is refreshed before it expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefetch {
    /// Hits needed…
    pub amount: u32,
    /// …within this long after the answer was stored (default 1 min).
    pub duration: Duration,
    /// Refresh once this share of the TTL or less remains (default 10%).
    pub percentage: u32,
}

/// CoreDNS's default capacity: 256 shards × 39.
pub const DEFAULT_CAPACITY: usize = 9984;

/// The registry's entry point.
pub fn parse(d: &Directive, zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d, zones))
}

/// Parse `cache [TTL] [ZONES...] { ... }` in a block serving `block_zones`.
pub fn config(directive: &Directive, block_zones: &[Name]) -> Result<CacheConfig, ConfigError> {
    let plugin = Args::new(directive);
    let mut config = CacheConfig {
        zones: Vec::new(),
        success: StoreConfig {
            capacity: DEFAULT_CAPACITY,
            max_ttl: 3600,
            min_ttl: 5,
        },
        denial: StoreConfig {
            capacity: DEFAULT_CAPACITY,
            max_ttl: 1800,
            min_ttl: 5,
        },
        disable_success: Vec::new(),
        disable_denial: Vec::new(),
        servfail: Duration::from_secs(5),
        prefetch: None,
        serve_stale: None,
        stale_verify: false,
        keep_ttl: false,
    };
    let mut zones_at = 0;
    if let Some(first) = directive.args.first()
        && let Ok(ttl) = first.text.parse::<u32>()
    {
        if ttl == 0 {
            return Err(plugin.error("TTL must be positive"));
        }
        config.success.max_ttl = ttl;
        config.denial.max_ttl = ttl;
        zones_at = 1;
    }
    config.zones = plugin.zones_from(zones_at, block_zones)?;
    for d in plugin.properties() {
        let args = d.texts();
        match (d.name(), args.as_slice()) {
            ("success" | "denial", [capacity, rest @ ..]) if rest.len() <= 2 => {
                let store = if d.name() == "success" {
                    &mut config.success
                } else {
                    &mut config.denial
                };
                let capacity: usize = d.number("capacity", capacity)?;
                // CoreDNS: at least 1024, in whole shards of 256.
                store.capacity = (capacity.max(1024) / 256) * 256;
                if let Some(ttl) = rest.first() {
                    store.max_ttl = d.number("TTL", ttl)?;
                }
                if let Some(min) = rest.get(1) {
                    store.min_ttl = d.number("minimum TTL", min)?;
                }
                if store.min_ttl > store.max_ttl {
                    return Err(d.error("minimum TTL above the TTL"));
                }
            }
            ("disable", [kind, zones @ ..]) => {
                let mut names = Vec::new();
                for zone in zones {
                    names.push(d.zone(zone)?);
                }
                if names.is_empty() {
                    names = config.zones.clone();
                }
                match *kind {
                    "success" => config.disable_success.extend(names),
                    "denial" => config.disable_denial.extend(names),
                    other => {
                        return Err(
                            d.error(format!("disable {other:?}: expected success or denial"))
                        );
                    }
                }
            }
            ("servfail", [duration]) => {
                let value = parse_duration(duration)
                    .ok()
                    .filter(|v| *v <= Duration::from_secs(300))
                    .ok_or_else(|| {
                        d.error(format!(
                            "servfail {duration:?}: expected a duration up to 5m"
                        ))
                    })?;
                config.servfail = value;
            }
            ("prefetch", [amount, rest @ ..]) if rest.len() <= 2 => {
                let amount: u32 = d.number("prefetch amount", amount)?;
                let duration = match rest.first() {
                    Some(text) => parse_duration(text)
                        .map_err(|e| d.error(format!("prefetch duration {text:?}: {e}")))?,
                    None => Duration::from_secs(60),
                };
                let percentage = match rest.get(1) {
                    Some(text) => text
                        .trim_end_matches('%')
                        .parse::<u32>()
                        .ok()
                        .filter(|p| (1..=100).contains(p))
                        .ok_or_else(|| {
                            d.error(format!("prefetch percentage {text:?}: expected 1% to 100%"))
                        })?,
                    None => 10,
                };
                if amount == 0 {
                    return Err(d.error("prefetch amount must be positive"));
                }
                config.prefetch = Some(Prefetch {
                    amount,
                    duration,
                    percentage,
                });
            }
            ("serve_stale", rest) if rest.len() <= 2 => {
                let duration = match rest.first() {
                    Some(text) => parse_duration(text)
                        .map_err(|e| d.error(format!("serve_stale {text:?}: {e}")))?,
                    None => Duration::from_secs(3600),
                };
                config.stale_verify = match rest.get(1).copied() {
                    None | Some("immediate") => false,
                    Some("verify") => true,
                    Some(mode) => {
                        return Err(d.error(format!(
                            "serve_stale {mode:?}: expected immediate or verify"
                        )));
                    }
                };
                config.serve_stale = Some(duration);
            }
            ("keepttl", []) => config.keep_ttl = true,
            ("serve_stale_policy", _) => {
                return Err(d.error(format!("{} is not supported yet", d.name())));
            }
            (name, _) => {
                return Err(d.error(format!(
                    "unknown property or wrong arguments {name:?}; supported: success CAPACITY [TTL [MINTTL]], denial CAPACITY [TTL [MINTTL]], disable success|denial [ZONES], servfail DURATION"
                )));
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(body: &str) -> Result<CacheConfig, ConfigError> {
        let text = format!(".:53 {{\n {body}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        config(&core.blocks[0].directives[0], &[Name::root()])
    }

    #[test]
    fn kubeadm_forms() {
        let plain = parse_text("cache 30").expect("valid");
        assert_eq!((plain.success.max_ttl, plain.denial.max_ttl), (30, 30));
        assert_eq!(plain.zones, vec![Name::root()]);
        let current = parse_text(
            "cache 30 {\n  disable success cluster.local\n  disable denial cluster.local\n }",
        )
        .expect("valid");
        assert_eq!(current.disable_success[0].to_ascii(), "cluster.local.");
        assert_eq!(current.disable_denial.len(), 1);
    }

    #[test]
    fn store_options_and_defaults() {
        let c = parse_text("cache {\n  success 9984 30\n  denial 2000 5 1\n }").expect("valid");
        assert_eq!(
            c.success,
            StoreConfig {
                capacity: 9984,
                max_ttl: 30,
                min_ttl: 5
            }
        );
        assert_eq!(
            c.denial,
            StoreConfig {
                capacity: 1792,
                max_ttl: 5,
                min_ttl: 1
            }
        );
        assert_eq!(c.servfail, Duration::from_secs(5));
        let d = parse_text("cache").expect("valid");
        assert_eq!((d.success.max_ttl, d.denial.max_ttl), (3600, 1800));
    }

    #[test]
    fn errors() {
        assert!(parse_text("cache 0").is_err());
        assert!(parse_text("cache {\n  disable everything\n }").is_err());
        assert!(parse_text("cache {\n  success many\n }").is_err());
        assert!(parse_text("cache {\n  servfail 10m\n }").is_err());
        assert!(parse_text("cache {\n  keepttl\n }").expect("valid").keep_ttl);
        let e = parse_text("cache {\n  serve_stale_policy x\n }").unwrap_err();
        assert!(e.to_string().contains("not supported yet"));
        assert!(!parse_text("cache {\n  serve_stale 1h immediate\n }").expect("valid").stale_verify);
        assert!(parse_text("cache {\n  serve_stale 1h sometimes\n }").is_err());
        assert!(parse_text("cache {\n  prefetch 0\n }").is_err());
    }

    #[test]
    fn prefetch_and_serve_stale() {
        let c = parse_text("cache {\n  prefetch 10 30s 20%\n  serve_stale 2m verify\n }")
            .expect("valid");
        assert_eq!(
            c.prefetch,
            Some(Prefetch {
                amount: 10,
                duration: Duration::from_secs(30),
                percentage: 20
            })
        );
        assert_eq!(c.serve_stale, Some(Duration::from_secs(120)));
        let d = parse_text("cache {\n  prefetch 2\n  serve_stale\n }").expect("valid");
        assert_eq!(
            d.prefetch.map(|p| (p.duration, p.percentage)),
            Some((Duration::from_secs(60), 10))
        );
        assert_eq!(d.serve_stale, Some(Duration::from_secs(3600)));
    }
}
