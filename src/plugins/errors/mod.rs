//! The `errors` plugin: logs the errors plugins report (`[ERROR] plugin/NAME: RCODE QNAME QTYPE:
//! error`), as CoreDNS's does. Syntax: `errors`.

use crate::config::{ConfigError, Directive};
use crate::plugin::{Next, Plugin, Request, Resolve, ResponseSummary, Served};

/// The `errors` options (none yet beyond the directive itself).
#[derive(Clone, Debug, Default)]
pub struct ErrorsConfig {}

/// Parse the `errors` directive.
pub fn parse(d: &Directive) -> Result<ErrorsConfig, ConfigError> {
    if let Some(arg) = d.args.first() {
        return Err(ConfigError::at(arg, "errors: takes no arguments"));
    }
    if let Some(option) = d.block.first() {
        return Err(option.error(format!("errors: unknown property {:?}", option.name.text)));
    }
    Ok(ErrorsConfig {})
}

/// The running plugin.
#[derive(Debug)]
pub struct Errors {
    _config: ErrorsConfig,
}

impl Errors {
    /// An errors plugin with `config`.
    pub fn new(config: ErrorsConfig) -> Errors {
        Errors { _config: config }
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
        if let Some(error) = &summary.answer.error {
            tracing::error!(
                target: "clusterdns::errors",
                "{} {} {}: plugin/{}: {}",
                u16::from(summary.answer.rcode),
                request.name,
                request.qtype,
                summary.answer.plugin,
                error
            );
        }
    }
}
