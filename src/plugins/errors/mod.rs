//! The `errors` plugin: logs the errors plugins report (`[ERROR] plugin/errors: RCODE QNAME
//! QTYPE: plugin/NAME: error`), as CoreDNS's does.
//!
//! ```text
//! errors {
//!     consolidate DURATION REGEXP [LEVEL] [show_first]
//! }
//! ```
//!
//! An error matching a `consolidate` pattern is counted instead of logged; DURATION after the
//! first one, a single line says how many there were (`3 errors like 'REGEXP' occurred in last
//! 30s`) at LEVEL (`warning`, `error` (default), `info` or `debug`). With `show_first` the
//! first error of each period is also logged in full. Errors matching no pattern are logged
//! one by one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use regex::Regex;

use crate::config::{ConfigError, Directive, parse_duration};
use crate::plugin::{Next, Plugin, Request, Resolve, ResponseSummary, Served};

/// The level of a consolidated line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `[ERROR]`.
    Error,
    /// `[WARNING]`.
    Warning,
    /// `[INFO]`.
    Info,
    /// `[DEBUG]`.
    Debug,
}

/// One `consolidate` line.
#[derive(Clone, Debug)]
pub struct Consolidate {
    /// How long errors are counted before the summary line.
    pub period: Duration,
    /// What they must match: the error, `plugin/X: error`, as CoreDNS matches `err.Error()`
    /// (not the `RCODE NAME TYPE:` before it in the log line).
    pub pattern: Regex,
    /// The summary line's level.
    pub level: Level,
    /// Log the first error of each period in full as well.
    pub show_first: bool,
}

/// The `errors` options.
#[derive(Clone, Debug, Default)]
pub struct ErrorsConfig {
    /// The `consolidate` lines, in order: the first matching one counts an error.
    pub consolidate: Vec<Consolidate>,
}

/// Parse the `errors` directive.
pub fn parse(d: &Directive) -> Result<ErrorsConfig, ConfigError> {
    if let Some(arg) = d.args.first() {
        return Err(ConfigError::at(arg, "errors: takes no arguments"));
    }
    let mut config = ErrorsConfig::default();
    for option in &d.block {
        match option.name.text.as_str() {
            "consolidate" => config.consolidate.push(parse_consolidate(option)?),
            other => {
                return Err(option.error(format!(
                    "errors: unknown property {other:?}; supported: consolidate DURATION REGEXP [LEVEL] [show_first]"
                )));
            }
        }
    }
    Ok(config)
}

fn parse_consolidate(option: &Directive) -> Result<Consolidate, ConfigError> {
    let args = option.arg_texts();
    let (period, pattern, rest) = match args.as_slice() {
        [period, pattern, rest @ ..] if rest.len() <= 2 => (*period, *pattern, rest),
        _ => {
            return Err(
                option.error("errors: consolidate takes DURATION REGEXP [LEVEL] [show_first]")
            );
        }
    };
    let period = parse_duration(period)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| option.error(format!("errors: consolidate {period:?}: not a duration")))?;
    let pattern = Regex::new(pattern)
        .map_err(|e| option.error(format!("errors: consolidate {pattern:?}: {e}")))?;
    let mut consolidate = Consolidate {
        period,
        pattern,
        level: Level::Error,
        show_first: false,
    };
    for (i, word) in rest.iter().enumerate() {
        match *word {
            "show_first" if i + 1 == rest.len() => consolidate.show_first = true,
            "warning" if i == 0 => consolidate.level = Level::Warning,
            "error" if i == 0 => consolidate.level = Level::Error,
            "info" if i == 0 => consolidate.level = Level::Info,
            "debug" if i == 0 => consolidate.level = Level::Debug,
            other => {
                return Err(option.error(format!(
                    "errors: consolidate: {other:?} is not a level (warning, error, info, debug) or show_first"
                )));
            }
        }
    }
    Ok(consolidate)
}

/// A `consolidate` pattern and its count in the current period.
#[derive(Debug)]
struct Counted {
    rule: Consolidate,
    count: AtomicU64,
}

impl Counted {
    /// Count one error; the first of a period starts the timer that logs the summary.
    fn count(self: &Arc<Self>, line: &str) {
        if self.count.fetch_add(1, Ordering::AcqRel) == 0 {
            if self.rule.show_first {
                tracing::error!(target: "clusterdns::errors", "{line}");
            }
            let counted = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(counted.rule.period).await;
                counted.report();
            });
        }
    }

    fn report(&self) {
        let n = self.count.swap(0, Ordering::AcqRel);
        if n == 0 {
            return;
        }
        let message = format!(
            "{n} errors like '{}' occurred in last {}",
            self.rule.pattern.as_str(),
            go_duration(self.rule.period)
        );
        match self.rule.level {
            Level::Error => tracing::error!(target: "clusterdns::errors", "{message}"),
            Level::Warning => tracing::warn!(target: "clusterdns::errors", "{message}"),
            Level::Info => tracing::info!(target: "clusterdns::errors", "{message}"),
            Level::Debug => tracing::debug!(target: "clusterdns::errors", "{message}"),
        }
    }
}

/// A duration as Go prints it (`30s`, `1m0s`, `500ms`), as CoreDNS's summary line shows it.
fn go_duration(d: Duration) -> String {
    let millis = d.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let secs = d.as_secs();
    let fraction = d.subsec_millis();
    let seconds = if fraction == 0 {
        format!("{}s", secs % 60)
    } else {
        let number = format!("{}.{:03}", secs % 60, fraction);
        format!("{}s", number.trim_end_matches('0'))
    };
    match (secs / 3600, (secs % 3600) / 60) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

/// The running plugin.
#[derive(Debug)]
pub struct Errors {
    consolidate: Vec<Arc<Counted>>,
}

impl Errors {
    /// An errors plugin with `config`.
    pub fn new(config: ErrorsConfig) -> Errors {
        Errors {
            consolidate: config
                .consolidate
                .into_iter()
                .map(|rule| {
                    Arc::new(Counted {
                        rule,
                        count: AtomicU64::new(0),
                    })
                })
                .collect(),
        }
    }
}

impl Plugin for Errors {
    fn name(&self) -> &'static str {
        "errors"
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        next.serve(request, resolver)
    }

    fn observe(&self, request: &Request, summary: &ResponseSummary<'_>) {
        let Some(error) = &summary.answer.error else {
            return;
        };
        // Patterns match the error itself, as CoreDNS's do (`err.Error()`), not the query
        // fields the log line puts before it.
        let error = format!("plugin/{}: {error}", summary.answer.plugin);
        let line = format!(
            "{} {} {}: {error}",
            u16::from(summary.answer.rcode),
            request.name,
            request.qtype,
        );
        match self
            .consolidate
            .iter()
            .find(|c| c.rule.pattern.is_match(&error))
        {
            Some(counted) => counted.count(&line),
            None => tracing::error!(target: "clusterdns::errors", "{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(body: &str) -> Result<ErrorsConfig, ConfigError> {
        let text = format!(".:53 {{\n  errors {{\n{body}\n  }}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        parse(&core.blocks[0].directives[0])
    }

    #[test]
    fn consolidate_lines_parse_with_coredns_options() {
        let config = parse_text(
            "    consolidate 5m \".* i/o timeout$\" warning\n    consolidate 30s \"^Failed to .+\" show_first\n    consolidate 1m x error show_first",
        )
        .expect("valid");
        assert_eq!(config.consolidate.len(), 3);
        assert_eq!(config.consolidate[0].period, Duration::from_secs(300));
        assert_eq!(config.consolidate[0].level, Level::Warning);
        assert!(!config.consolidate[0].show_first);
        assert_eq!(config.consolidate[1].level, Level::Error);
        assert!(config.consolidate[1].show_first);
        assert!(config.consolidate[2].show_first);
    }

    #[test]
    fn bad_consolidate_lines_name_their_line() {
        assert_eq!(
            parse_text("    consolidate soon x")
                .unwrap_err()
                .to_string(),
            "Corefile:3: errors: consolidate \"soon\": not a duration"
        );
        assert!(
            parse_text("    consolidate 1m \"(\"")
                .unwrap_err()
                .to_string()
                .starts_with("Corefile:3: errors: consolidate \"(\": regex parse error")
        );
        assert!(parse_text("    consolidate 1m x loud").is_err());
        assert!(parse_text("    consolidate 1m").is_err());
        assert!(parse_text("    stacktrace").is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(3725)), "1h2m5s");
    }
}
