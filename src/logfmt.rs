//! Log lines in CoreDNS's shape, one per event on stdout: `[INFO] plugin/NAME: message`, and the
//! query log (`log` plugin) as `[INFO] 10.0.0.1:5353 - 42 "A IN …" NOERROR …` exactly as CoreDNS
//! prints it, so existing log parsers and alerts keep working. Fields of the event follow as
//! `key=value`. No timestamp: the container runtime adds one, as for CoreDNS.
//!
//! No client can make the log grow without bound: each call site writes at most
//! [`LINES_PER_SECOND`] lines a second (the next line written says how many were suppressed),
//! and a line is cut at [`MAX_LINE_BYTES`]. The query log (`log`) and `errors` are exempt from
//! the rate: one line per query is what the operator asked for there.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

use tracing::callsite::Identifier;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Lines a second one call site may write (the query log and `errors` excepted).
pub const LINES_PER_SECOND: u32 = 10;

/// The longest line written, in bytes; a longer message is cut.
pub const MAX_LINE_BYTES: usize = 4096;

/// The formatter.
#[derive(Debug)]
pub struct CoreDnsFormat {
    limit: RateLimit,
}

impl Default for CoreDnsFormat {
    fn default() -> Self {
        CoreDnsFormat {
            limit: RateLimit::new(LINES_PER_SECOND),
        }
    }
}

/// Per call site: the second being counted, lines written in it, lines suppressed since the
/// last one written.
#[derive(Debug, Default)]
struct Site {
    second: u64,
    written: u32,
    suppressed: u64,
}

/// At most `per_second` lines a second per call site.
#[derive(Debug)]
pub struct RateLimit {
    per_second: u32,
    epoch: Instant,
    sites: Mutex<HashMap<Identifier, Site>>,
}

impl RateLimit {
    /// A limit of `per_second` lines a second per call site.
    pub fn new(per_second: u32) -> RateLimit {
        RateLimit {
            per_second,
            epoch: Instant::now(),
            sites: Mutex::default(),
        }
    }

    /// Whether an event of `meta` may be written now and, if so, how many of its call site
    /// were suppressed before it.
    pub fn admit(&self, meta: &Metadata<'_>) -> Option<u64> {
        if matches!(meta.target(), "clusterdns::log" | "clusterdns::errors") {
            return Some(0);
        }
        let second = self.epoch.elapsed().as_secs();
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        let site = sites.entry(meta.callsite()).or_default();
        if site.second != second {
            site.second = second;
            site.written = 0;
        }
        if site.written >= self.per_second {
            site.suppressed += 1;
            return None;
        }
        site.written += 1;
        Some(std::mem::take(&mut site.suppressed))
    }
}

/// `message` without a repeat of its line's `prefix` (`forward: …` or `plugin/forward: …`
/// under `plugin/forward: `), so the plugin is named once.
fn without_repeated_prefix<'m>(prefix: &str, message: &'m str) -> &'m str {
    let plugin = prefix.strip_prefix("plugin/").unwrap_or("");
    message
        .strip_prefix(prefix)
        .filter(|_| !prefix.is_empty())
        .or_else(|| message.strip_prefix(plugin).filter(|_| !plugin.is_empty()))
        .unwrap_or(message)
}

/// `text` cut to at most `max` bytes (at a character boundary), saying how much was cut.
fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let dropped = text.len() - end;
    text.truncate(end);
    text.push_str(&format!(" …({dropped} bytes cut)"));
}

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

/// Whether a panic is logged with its stack trace (`errors { stacktrace }`).
static PANIC_BACKTRACES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Log panics with their stack trace from now on (`errors { stacktrace }` in any block).
pub fn enable_panic_backtraces() {
    PANIC_BACKTRACES.store(true, std::sync::atomic::Ordering::Release);
}

/// The line a panic is logged with: its message and place, and with `errors { stacktrace }`
/// the stack trace.
pub fn panic_line(info: &std::panic::PanicHookInfo<'_>) -> String {
    if PANIC_BACKTRACES.load(std::sync::atomic::Ordering::Acquire) {
        format!(
            "panic: {info}\n{}",
            std::backtrace::Backtrace::force_capture()
        )
    } else {
        format!("panic: {info}")
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
        // A suppressed line writes nothing (an empty buffer is not written).
        let Some(suppressed) = self.limit.admit(meta) else {
            return Ok(());
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let prefix = prefix(meta.target());
        let message = without_repeated_prefix(&prefix, &fields.message);
        let mut line = format!("{message}{}", fields.rest);
        cut(&mut line, MAX_LINE_BYTES);
        if suppressed > 0 {
            line.push_str(&format!(" ({suppressed} similar lines suppressed)"));
        }
        writeln!(writer, "[{}] {prefix}{line}", level(meta.level()))
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

    /// The metadata of a real call site, and of the query log's.
    fn sites() -> (&'static Metadata<'static>, &'static Metadata<'static>) {
        struct Capture(std::sync::Mutex<Vec<&'static Metadata<'static>>>);
        impl Subscriber for Capture {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
                tracing::span::Id::from_u64(1)
            }
            fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
            fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
            fn event(&self, event: &Event<'_>) {
                self.0.lock().expect("lock").push(event.metadata());
            }
            fn enter(&self, _: &tracing::span::Id) {}
            fn exit(&self, _: &tracing::span::Id) {}
        }
        let capture = std::sync::Arc::new(Capture(std::sync::Mutex::default()));
        tracing::subscriber::with_default(capture.clone(), || {
            tracing::warn!("from a client's packet");
            tracing::info!(target: "clusterdns::log", "a query");
        });
        let seen = capture.0.lock().expect("lock");
        (seen[0], seen[1])
    }

    #[test]
    fn a_call_site_writes_at_most_its_rate_and_then_says_how_many_were_suppressed() {
        let (site, query_log) = sites();
        let limit = RateLimit::new(3);
        let admitted: Vec<Option<u64>> = (0..10).map(|_| limit.admit(site)).collect();
        assert_eq!(admitted[..3], [Some(0), Some(0), Some(0)]);
        assert!(admitted[3..].iter().all(Option::is_none), "{admitted:?}");
        assert!(
            (0..1000).all(|_| limit.admit(query_log) == Some(0)),
            "the query log is not limited"
        );
        // The next second: the first line says how many were dropped.
        limit
            .sites
            .lock()
            .expect("lock")
            .values_mut()
            .for_each(|s| s.second = u64::MAX);
        assert_eq!(limit.admit(site), Some(7));
        assert_eq!(limit.admit(site), Some(0));
    }

    #[test]
    fn a_plugin_is_named_once() {
        let forward = prefix("clusterdns::plugins::forward");
        assert_eq!(
            without_repeated_prefix(&forward, "forward: upstream down"),
            "upstream down"
        );
        let r#loop = prefix("clusterdns::plugins::r#loop");
        assert_eq!(
            without_repeated_prefix(&r#loop, "plugin/loop: Loop (a -> b) detected"),
            "Loop (a -> b) detected"
        );
        assert_eq!(
            without_repeated_prefix(&forward, "forwarding to 10.0.0.1"),
            "forwarding to 10.0.0.1",
            "only a whole prefix"
        );
        assert_eq!(without_repeated_prefix("", "forward: x"), "forward: x");
    }

    #[test]
    fn a_long_line_is_cut_at_a_character_boundary() {
        let mut line = "é".repeat(3000);
        cut(&mut line, 4095);
        assert!(line.starts_with(&"é".repeat(2047)));
        assert!(line.ends_with(" …(1906 bytes cut)"), "{}", &line[4000..]);
        let mut short = "short".to_string();
        cut(&mut short, 10);
        assert_eq!(short, "short");
    }
}
