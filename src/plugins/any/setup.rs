//! Parsing of `any` (no arguments).

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// `any`: nothing to configure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnyConfig;

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `any`.
pub fn config(d: &Directive) -> Result<AnyConfig, ConfigError> {
    let args = Args::new(d);
    args.none()?;
    args.no_block()?;
    Ok(AnyConfig)
}
