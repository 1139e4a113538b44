//! Parsing of `whoami` (no arguments).

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// `whoami`: nothing to configure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WhoamiConfig;

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `whoami`.
pub fn config(d: &Directive) -> Result<WhoamiConfig, ConfigError> {
    let args = Args::new(d);
    args.none()?;
    args.no_block()?;
    Ok(WhoamiConfig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    #[test]
    fn whoami_takes_nothing() {
        let core = Corefile::parse(
            "Corefile",
            ".:53 {\n  whoami\n}\n.:54 {\n  whoami me\n}\n",
            Path::new("."),
        )
        .expect("syntax");
        assert!(config(&core.blocks[0].directives[0]).is_ok());
        assert_eq!(
            config(&core.blocks[1].directives[0]).unwrap_err().to_string(),
            "Corefile:5: whoami: takes no arguments"
        );
    }
}
