//! The `log` plugin: one line per query in CoreDNS's common format,
//! `{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}`.
//!
//! Syntax: `log [NAMES...] [FORMAT] { class success|denial|error|all }`.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;

use crate::config::{ConfigError, Directive};
use crate::plugin::{Next, Plugin, Request, Resolve, ResponseSummary, Served};

/// CoreDNS's default (`{common}`) format.
pub const COMMON_FORMAT: &str = "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}";

/// Which responses are logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Classes {
    success: bool,
    denial: bool,
    error: bool,
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

/// Parse the `log` directive.
pub fn parse(d: &Directive) -> Result<LogConfig, ConfigError> {
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
            let mut name = Name::from_ascii(&arg.text).map_err(|e| {
                ConfigError::at(arg, format!("log: invalid name {:?}: {e}", arg.text))
            })?;
            name.set_fqdn(true);
            names.push(name);
        }
    }
    let mut classes = Classes::default();
    for option in &d.block {
        if option.name.text != "class" || option.args.is_empty() {
            return Err(option.error(format!(
                "log: unknown property {:?}; supported: class success|denial|error|all",
                option.name.text
            )));
        }
        for class in &option.args {
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
                    return Err(ConfigError::at(
                        class,
                        format!(
                            "log: unknown class {other:?}; expected success, denial, error or all"
                        ),
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

/// The running plugin.
#[derive(Debug)]
pub struct Log {
    config: LogConfig,
}

impl Log {
    /// A log plugin with `config`.
    pub fn new(config: LogConfig) -> Log {
        Log { config }
    }
}

fn flags(request: &Request, summary: &ResponseSummary<'_>) -> String {
    let answer = summary.answer;
    let mut flags = vec!["qr"];
    if answer.authoritative {
        flags.push("aa");
    }
    if summary.truncated {
        flags.push("tc");
    }
    if request.recursion_desired {
        flags.push("rd");
    }
    if answer.recursion_available {
        flags.push("ra");
    }
    flags.join(",")
}

/// Render `format` for one response.
pub fn render(format: &str, request: &Request, summary: &ResponseSummary<'_>) -> String {
    let elapsed = request.received_at.elapsed().as_secs_f64();
    let mut line = format.to_string();
    let fields: [(&str, String); 16] = [
        ("{remote}", request.source.ip().to_string()),
        ("{port}", request.source.port().to_string()),
        ("{>id}", request.id.to_string()),
        ("{type}", request.qtype.to_string()),
        ("{class}", request.qclass.to_string()),
        ("{name}", request.name.to_string()),
        ("{proto}", request.transport.as_str().to_string()),
        ("{size}", request.wire_size.to_string()),
        ("{>do}", request.dnssec_ok.to_string()),
        (
            "{>bufsize}",
            request.edns_udp_size.unwrap_or(512).max(512).to_string(),
        ),
        ("{rcode}", crate::metrics::rcode_label(summary.answer.rcode)),
        ("{>rflags}", flags(request, summary)),
        ("{rsize}", summary.wire_size.to_string()),
        ("{duration}", format!("{elapsed:.9}s")),
        ("{>opcode}", "QUERY".to_string()),
        ("{plugin}", summary.answer.plugin.to_string()),
    ];
    for (key, value) in fields {
        if line.contains(key) {
            line = line.replace(key, &value);
        }
    }
    line
}

impl Plugin for Log {
    fn name(&self) -> &'static str {
        "log"
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        next.serve(request, resolver)
    }

    fn observe(&self, request: &Request, summary: &ResponseSummary<'_>) {
        if request.depth > 0 {
            return;
        }
        if !self.config.names.is_empty()
            && !self.config.names.iter().any(|n| n.zone_of(&request.name))
        {
            return;
        }
        let answer = summary.answer;
        let denial = answer.rcode == ResponseCode::NXDomain
            || (answer.rcode == ResponseCode::NoError && answer.answers.is_empty());
        let class_on = match answer.rcode {
            ResponseCode::NoError | ResponseCode::NXDomain if denial => self.config.classes.denial,
            ResponseCode::NoError => self.config.classes.success,
            _ => self.config.classes.error,
        };
        if class_on {
            tracing::info!(target: "clusterdns::log", "{}", render(&self.config.format, request, summary));
        }
    }
}
