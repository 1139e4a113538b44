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

pub mod setup;

pub use setup::{Consolidate, ErrorsConfig, Level};

use crate::plugin::{
    Definition, Next, Plugin, Request, Resolve, ResponseSummary, Served, Setup, StartContext,
    StartFuture, started,
};

/// `errors` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

impl Setup for ErrorsConfig {
    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        if self.stacktrace {
            crate::logfmt::enable_panic_backtraces();
        }
        started(Errors::new(*self))
    }
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

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(3725)), "1h2m5s");
    }
}
