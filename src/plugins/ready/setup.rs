//! Parsing of `ready [ADDR]` (default `:8181`).

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive, HttpListen};
use crate::plugin::{Setup, parsed};

/// `ready`: where it listens, and whether it keeps checking once ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyConfig(pub HttpListen, pub Monitor);

/// `monitor until-ready|continuously`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Monitor {
    /// 200 from the first time every plugin is ready until shutdown (the default).
    #[default]
    UntilReady,
    /// Every request asks the plugins again.
    Continuously,
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `ready [ADDR] { monitor until-ready|continuously }`.
pub fn config(d: &Directive) -> Result<ReadyConfig, ConfigError> {
    let args = Args::new(d);
    let addr = args.http_address(":8181")?;
    let mut monitor = Monitor::default();
    for option in args.properties() {
        match option.name() {
            "monitor" => {
                monitor = match option.one()? {
                    "until-ready" => Monitor::UntilReady,
                    "continuously" => Monitor::Continuously,
                    other => {
                        return Err(option.error(format!(
                            "monitor {other:?}: expected until-ready or continuously"
                        )));
                    }
                }
            }
            _ => return Err(option.unknown_property("monitor")),
        }
    }
    Ok(ReadyConfig(
        HttpListen {
            addr,
            origin: d.origin(),
        },
        monitor,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(line: &str) -> Result<ReadyConfig, ConfigError> {
        let text = format!(".:53 {{\n  {line}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn default_address_and_errors() {
        let default = parse_text("ready").expect("valid").0;
        assert_eq!((default.addr.port(), default.origin.as_str()), (8181, "Corefile:2"));
        assert_eq!(
            parse_text("ready 127.0.0.1:9999").expect("valid").0.addr,
            "127.0.0.1:9999".parse().expect("addr")
        );
        assert_eq!(
            parse_text("ready nowhere").unwrap_err().to_string(),
            "Corefile:2: ready: \"nowhere\" is not an address such as :8080, nor a host name with a port"
        );
        assert_eq!(
            parse_text("ready {\n monitor continuously\n }").expect("valid").1,
            Monitor::Continuously
        );
        assert!(parse_text("ready {\n monitor sometimes\n }").is_err());
        assert_eq!(
            parse_text("ready {\n x\n }").unwrap_err().to_string(),
            "Corefile:3: ready: unknown property \"x\"; supported: monitor"
        );
    }
}
