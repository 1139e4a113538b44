//! Parsing of `reload [INTERVAL [JITTER]]`, with CoreDNS's defaults and bounds
//! (`plugin/reload/setup.go`).

use std::time::Duration;

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};
use crate::reload::ReloadSchedule;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_JITTER: Duration = Duration::from_secs(15);
const MIN_INTERVAL: Duration = Duration::from_secs(2);
const MIN_JITTER: Duration = Duration::from_secs(1);

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// `reload [INTERVAL [JITTER]]`: every 30 s ± 15 s by default; the interval at least 2 s, the
/// jitter at least 1 s and at most half the interval.
pub fn config(d: &Directive) -> Result<ReloadSchedule, ConfigError> {
    let args = Args::new(d);
    args.no_block()?;
    let tokens = args.at_most(2, "INTERVAL and JITTER")?;
    let duration = |index: usize,
                    what: &str,
                    min: Duration|
     -> Result<Option<Duration>, ConfigError> {
        let Some(token) = tokens.get(index) else {
            return Ok(None);
        };
        let value = args.duration(what, &token.text)?;
        if value < min {
            return Err(args.error_at(token, format!("{what} must be at least {}s", min.as_secs())));
        }
        Ok(Some(value))
    };
    let interval = duration(0, "interval", MIN_INTERVAL)?.unwrap_or(DEFAULT_INTERVAL);
    let jitter = duration(1, "jitter", MIN_JITTER)?.unwrap_or(DEFAULT_JITTER);
    Ok(ReloadSchedule {
        interval,
        jitter: jitter.min(interval / 2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(line: &str) -> Result<ReloadSchedule, ConfigError> {
        let text = format!(".:53 {{\n  {line}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn defaults_and_bounds_are_coredns_ones() {
        let default = parse_text("reload").expect("valid");
        assert_eq!(default.interval, DEFAULT_INTERVAL);
        assert_eq!(default.jitter, DEFAULT_JITTER);
        let short = parse_text("reload 10s").expect("valid");
        assert_eq!(short.interval, Duration::from_secs(10));
        assert_eq!(
            short.jitter,
            Duration::from_secs(5),
            "jitter capped at half"
        );
        let both = parse_text("reload 20s 2s").expect("valid");
        assert_eq!(both.jitter, Duration::from_secs(2));
        assert_eq!(
            parse_text("reload 1s").unwrap_err().to_string(),
            "Corefile:2: reload: interval must be at least 2s"
        );
        assert_eq!(
            parse_text("reload 10s 500ms").unwrap_err().to_string(),
            "Corefile:2: reload: jitter must be at least 1s"
        );
        assert!(parse_text("reload soon").is_err());
        assert_eq!(
            parse_text("reload 3s 1s 1s").unwrap_err().to_string(),
            "Corefile:2: reload: takes at most INTERVAL and JITTER"
        );
    }
}
