//! Log lines in CoreDNS's shape, one per event on stdout: `[INFO] plugin/NAME: message`, and the
//! query log (`log` plugin) as `[INFO] 10.0.0.1:5353 - 42 "A IN …" NOERROR …` exactly as CoreDNS
//! prints it, so existing log parsers and alerts keep working. Fields of the event follow as
//! `key=value`. No timestamp: the container runtime adds one, as for CoreDNS.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The formatter.
#[derive(Debug, Default, Clone, Copy)]
pub struct CoreDnsFormat;

/// CoreDNS's level names.
fn level(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// `plugin/NAME: ` for events of a plugin's module; nothing for the query log and the server.
pub fn prefix(target: &str) -> String {
    if target == "clusterdns::log" {
        return String::new();
    }
    if target == "clusterdns::errors" {
        return "plugin/errors: ".into();
    }
    if let Some(rest) = target.strip_prefix("clusterdns::plugins::") {
        let name = rest.split("::").next().unwrap_or(rest);
        // A directive that is a Rust keyword (`loop`) is a raw identifier in module paths.
        let name = name.strip_prefix("r#").unwrap_or(name);
        return format!("plugin/{name}: ");
    }
    if target.starts_with("clusterdns::cluster::source") {
        return "plugin/kubernetes: ".into();
    }
    String::new()
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.rest.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.rest.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl<S, N> FormatEvent<S, N> for CoreDnsFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        writeln!(
            writer,
            "[{}] {}{}{}",
            level(meta.level()),
            prefix(meta.target()),
            fields.message,
            fields.rest
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_prefixes() {
        assert_eq!(prefix("clusterdns::log"), "");
        assert_eq!(prefix("clusterdns::plugins::forward"), "plugin/forward: ");
        assert_eq!(prefix("clusterdns::plugins::r#loop"), "plugin/loop: ");
        assert_eq!(
            prefix("clusterdns::cluster::source::api"),
            "plugin/kubernetes: "
        );
        assert_eq!(prefix("clusterdns::errors"), "plugin/errors: ");
        assert_eq!(prefix("clusterdns::run"), "");
        assert_eq!(level(&Level::WARN), "WARNING");
    }
}
