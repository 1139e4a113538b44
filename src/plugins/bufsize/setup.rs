//! Parsing of `bufsize [SIZE]`.

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// The EDNS UDP size `bufsize` keeps by default: DNS Flag Day 2020's.
pub const DEFAULT_SIZE: u16 = 1232;

/// `bufsize [SIZE]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufsizeConfig {
    /// The largest EDNS UDP size a client's query keeps (512 to 4096).
    pub size: u16,
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `bufsize [SIZE]`.
pub fn config(d: &Directive) -> Result<BufsizeConfig, ConfigError> {
    let args = Args::new(d);
    args.no_block()?;
    let size = match args.at_most(1, "one SIZE")?.first() {
        None => DEFAULT_SIZE,
        Some(size) => args
            .number::<u16>("size", &size.text)
            .ok()
            .filter(|s| (512..=4096).contains(s))
            .ok_or_else(|| {
                args.error(format!("size {:?}: must be within 512 - 4096", size.text))
            })?,
    };
    Ok(BufsizeConfig { size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_line(line: &str) -> Result<BufsizeConfig, ConfigError> {
        let core = Corefile::parse("Corefile", &format!(".:53 {{\n{line}\n}}\n"), Path::new("."))
            .expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn sizes_and_their_bounds() {
        assert_eq!(parse_line("bufsize").expect("valid").size, 1232);
        assert_eq!(parse_line("bufsize 512").expect("valid").size, 512);
        assert_eq!(parse_line("bufsize 4096").expect("valid").size, 4096);
        for bad in ["bufsize 511", "bufsize 4097", "bufsize big", "bufsize 1232 1"] {
            let e = parse_line(bad).expect_err(bad).to_string();
            assert!(e.starts_with("Corefile:2: bufsize: "), "{e}");
        }
    }
}
