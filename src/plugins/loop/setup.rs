//! Parsing of `loop` (no arguments).

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// `loop`: the zone its probe names are made under (the block's first zone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopConfig {
    /// The zone of the probe names.
    pub zone: Name,
}

/// The registry's entry point.
pub fn parse(d: &Directive, zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d, zones))
}

/// Parse `loop` in a block serving `zones`.
pub fn config(d: &Directive, zones: &[Name]) -> Result<LoopConfig, ConfigError> {
    let args = Args::new(d);
    if !d.args.is_empty() || !d.block.is_empty() {
        return Err(args.error("takes no arguments"));
    }
    Ok(LoopConfig {
        zone: zones.first().cloned().unwrap_or_else(Name::root),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    #[test]
    fn loop_takes_nothing_and_probes_under_the_first_zone() {
        let core = Corefile::parse(
            "Corefile",
            "example. other. {\n  loop\n  loop x\n}\n",
            Path::new("."),
        )
        .expect("syntax");
        let zones: Vec<Name> = core.blocks[0].keys.iter().map(|k| k.zone.clone()).collect();
        let ok = config(&core.blocks[0].directives[0], &zones).expect("valid");
        assert_eq!(ok.zone.to_string(), "example.");
        assert_eq!(
            config(&core.blocks[0].directives[1], &zones)
                .unwrap_err()
                .to_string(),
            "Corefile:3: loop: takes no arguments"
        );
    }
}
