//! The `log` plugin: one line per query in CoreDNS's common format,
//! `{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}`.
//!
//! Syntax: `log [NAMES...] [FORMAT] { class success|denial|error|all }`.

pub mod setup;

use hickory_proto::op::ResponseCode;

pub use setup::{COMMON_FORMAT, LogConfig};

use crate::plugin::{
    Definition, Next, Plugin, Request, Resolve, ResponseSummary, Served, Setup, StartContext,
    StartFuture, started,
};

/// `log` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

impl Setup for LogConfig {
    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        started(Log::new(*self))
    }
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
        if request.depth() > 0 {
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
