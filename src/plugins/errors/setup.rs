//! Parsing of `errors { consolidate DURATION REGEXP [LEVEL] [show_first]; stacktrace }`.

use std::time::Duration;

use hickory_proto::rr::Name;
use regex::Regex;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

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
    /// `stacktrace`: panics are logged with their stack trace.
    pub stacktrace: bool,
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `errors { consolidate … }`.
pub fn config(d: &Directive) -> Result<ErrorsConfig, ConfigError> {
    let args = Args::new(d);
    if let Some(arg) = d.args.first() {
        return Err(args.error_at(arg, "takes no arguments"));
    }
    let mut config = ErrorsConfig::default();
    for option in args.properties() {
        match option.name() {
            "consolidate" => config.consolidate.push(consolidate(option)?),
            "stacktrace" => {
                option.none()?;
                config.stacktrace = true;
            }
            _ => {
                return Err(option.unknown_property(
                    "consolidate DURATION REGEXP [LEVEL] [show_first], stacktrace",
                ));
            }
        }
    }
    Ok(config)
}

fn consolidate(option: Args<'_>) -> Result<Consolidate, ConfigError> {
    let args = option.texts();
    let (period, pattern, rest) = match args.as_slice() {
        [period, pattern, rest @ ..] if rest.len() <= 2 => (*period, *pattern, rest),
        _ => {
            return Err(option.error("consolidate takes DURATION REGEXP [LEVEL] [show_first]"));
        }
    };
    let period = Some(option.duration("consolidate", period)?)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| option.error(format!("consolidate {period:?}: not a duration")))?;
    let pattern =
        Regex::new(pattern).map_err(|e| option.error(format!("consolidate {pattern:?}: {e}")))?;
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
                    "consolidate: {other:?} is not a level (warning, error, info, debug) or show_first"
                )));
            }
        }
    }
    Ok(consolidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(body: &str) -> Result<ErrorsConfig, ConfigError> {
        let text = format!(".:53 {{\n  errors {{\n{body}\n  }}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        config(&core.blocks[0].directives[0])
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
        assert!(parse_text("    stacktrace").expect("valid").stacktrace);
        assert!(parse_text("    stacktrace now").is_err());
    }
}
