//! `health [ADDR] { lameduck DURATION }` and `ready [ADDR]`: where the HTTP probes are served
//! (see [`crate::admin`]). They do not take part in answering queries.

use std::net::SocketAddr;
use std::time::Duration;

use crate::admin::parse_addr;
use crate::config::{ConfigError, Directive, parse_duration};

/// `health`: its address and lameduck period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Where `GET /health` is served (default `:8080`).
    pub addr: SocketAddr,
    /// How long to keep serving after SIGTERM, with `/ready` 503 (default 0).
    pub lameduck: Duration,
}

fn address(d: &Directive, default: &str) -> Result<SocketAddr, ConfigError> {
    let text = match d.arg_texts().as_slice() {
        [] => default.to_string(),
        [addr] => addr.to_string(),
        _ => return Err(d.error(format!("{}: takes at most one address", d.name.text))),
    };
    parse_addr(&text).ok_or_else(|| {
        d.error(format!(
            "{}: {text:?} is not an address such as :8080",
            d.name.text
        ))
    })
}

/// Parse `health`.
pub fn parse_health(d: &Directive) -> Result<HealthConfig, ConfigError> {
    let mut config = HealthConfig {
        addr: address(d, ":8080")?,
        lameduck: Duration::ZERO,
    };
    for option in &d.block {
        match (option.name.text.as_str(), option.arg_texts().as_slice()) {
            ("lameduck", [duration]) => {
                config.lameduck = parse_duration(duration).ok_or_else(|| {
                    option.error(format!("health: lameduck {duration:?}: not a duration"))
                })?;
            }
            (other, _) => {
                return Err(option.error(format!(
                    "health: unknown property {other:?}; supported: lameduck DURATION"
                )));
            }
        }
    }
    Ok(config)
}

/// Parse `prometheus [ADDR]` (default `:9153`).
pub fn parse_prometheus(d: &Directive) -> Result<SocketAddr, ConfigError> {
    if let Some(option) = d.block.first() {
        return Err(option.error("prometheus: takes no block"));
    }
    address(d, ":9153")
}

/// Parse `ready`.
pub fn parse_ready(d: &Directive) -> Result<SocketAddr, ConfigError> {
    if let Some(option) = d.block.first() {
        return Err(option.error("ready: takes no block"));
    }
    address(d, ":8181")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn directive(text: &str) -> Directive {
        Corefile::parse(
            "Corefile",
            &format!(".:53 {{\n{text}\n}}\n"),
            Path::new("."),
        )
        .expect("syntax")
        .blocks[0]
            .directives[0]
            .clone()
    }

    #[test]
    fn kubeadm_forms_and_defaults() {
        let h = parse_health(&directive("health {\n lameduck 5s\n}")).expect("valid");
        assert_eq!(h.addr.port(), 8080);
        assert_eq!(h.lameduck, Duration::from_secs(5));
        assert_eq!(
            parse_ready(&directive("ready")).expect("valid").port(),
            8181
        );
        assert_eq!(
            parse_ready(&directive("ready 127.0.0.1:9999")).expect("valid"),
            "127.0.0.1:9999".parse().expect("addr")
        );
        assert!(parse_health(&directive("health {\n lameduck soon\n}")).is_err());
        assert!(parse_ready(&directive("ready nowhere")).is_err());
    }
}
