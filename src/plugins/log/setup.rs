//! Parsing of `log [NAMES...] [FORMAT] { class success|denial|error|all }`.

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// CoreDNS's default (`{common}`) format.
pub const COMMON_FORMAT: &str = "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}";

/// Which responses are logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Classes {
    /// `success`: answers with records.
    pub success: bool,
    /// `denial`: NXDOMAIN and NODATA.
    pub denial: bool,
    /// `error`: every other rcode.
    pub error: bool,
}

/// The `log` options.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Only names under these zones are logged (empty: all).
    pub names: Vec<Name>,
    /// The line format.
    pub format: String,
    /// The classes logged.
    pub classes: Classes,
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `log [NAMES...] [FORMAT] { class ... }`.
pub fn config(d: &Directive) -> Result<LogConfig, ConfigError> {
    let args = Args::new(d);
    let mut names = Vec::new();
    let mut format = COMMON_FORMAT.to_string();
    for arg in &d.args {
        if arg.text.contains('{') {
            format = match arg.text.as_str() {
                "{common}" => COMMON_FORMAT.to_string(),
                "{combined}" => format!("{COMMON_FORMAT} \"{{>opcode}}\""),
                other => other.to_string(),
            };
        } else {
            names.push(args.zone(&arg.text)?);
        }
    }
    let mut classes = Classes::default();
    for option in args.properties() {
        if option.name() != "class" || option.tokens().is_empty() {
            return Err(option.unknown_property("class success|denial|error|all"));
        }
        for class in option.tokens() {
            match class.text.as_str() {
                "success" => classes.success = true,
                "denial" => classes.denial = true,
                "error" => classes.error = true,
                "all" => {
                    classes = Classes {
                        success: true,
                        denial: true,
                        error: true,
                    }
                }
                other => {
                    return Err(option.error_at(
                        class,
                        format!("unknown class {other:?}; expected success, denial, error or all"),
                    ));
                }
            }
        }
    }
    if classes == Classes::default() {
        classes = Classes {
            success: true,
            denial: true,
            error: true,
        };
    }
    Ok(LogConfig {
        names,
        format,
        classes,
    })
}
