//! `reload [INTERVAL [JITTER]]`: how often the Corefile is checked for a change. The reload
//! itself is [`crate::reload`]'s; this module only parses the directive.

use std::time::Duration;

use crate::config::{ConfigError, Directive, parse_duration};

/// CoreDNS's bounds and defaults (`plugin/reload/setup.go`).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_JITTER: Duration = Duration::from_secs(15);
const MIN_INTERVAL: Duration = Duration::from_secs(2);
const MIN_JITTER: Duration = Duration::from_secs(1);

/// `reload`: check the Corefile's hash every `interval` ± `jitter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReloadConfig {
    /// The period between checks (default 30 s, at least 2 s).
    pub interval: Duration,
    /// A random offset in ±`jitter` (default 15 s, at least 1 s, at most half the interval).
    pub jitter: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        ReloadConfig {
            interval: DEFAULT_INTERVAL,
            jitter: DEFAULT_JITTER,
        }
    }
}

/// Parse `reload [INTERVAL [JITTER]]`.
pub fn parse(d: &Directive) -> Result<ReloadConfig, ConfigError> {
    if let Some(option) = d.block.first() {
        return Err(option.error("reload: takes no block"));
    }
    let duration = |index: usize, what: &str, min: Duration| -> Result<Duration, ConfigError> {
        let arg = &d.args[index];
        let value = parse_duration(&arg.text).ok_or_else(|| {
            ConfigError::at(
                arg,
                format!("reload: {what} {:?}: not a duration", arg.text),
            )
        })?;
        if value < min {
            return Err(ConfigError::at(
                arg,
                format!("reload: {what} must be at least {}s", min.as_secs()),
            ));
        }
        Ok(value)
    };
    let mut config = ReloadConfig::default();
    match d.args.len() {
        0 => {}
        1 => config.interval = duration(0, "interval", MIN_INTERVAL)?,
        2 => {
            config.interval = duration(0, "interval", MIN_INTERVAL)?;
            config.jitter = duration(1, "jitter", MIN_JITTER)?;
        }
        _ => return Err(d.error("reload: takes at most INTERVAL and JITTER")),
    }
    config.jitter = config.jitter.min(config.interval / 2);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(line: &str) -> Result<ReloadConfig, ConfigError> {
        let text = format!(".:53 {{\n  {line}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        parse(&core.blocks[0].directives[0])
    }

    #[test]
    fn defaults_and_bounds_are_coredns_ones() {
        assert_eq!(
            parse_text("reload").expect("valid"),
            ReloadConfig::default()
        );
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
        assert!(parse_text("reload 3s 1s 1s").is_err());
    }
}
