//! Parsing of `health [ADDR] { lameduck DURATION }`.

use std::time::Duration;

use hickory_proto::rr::Name;

use crate::config::{Args, ConfigError, Directive, HttpListen};
use crate::plugin::{Setup, parsed};

/// The longest `lameduck`: far past the seconds that endpoints and kube-proxy take to drop a
/// pod, and past any sane `terminationGracePeriodSeconds`, after which the kubelet kills it.
pub const MAX_LAMEDUCK: Duration = Duration::from_secs(3600);

/// `health`: its address and lameduck period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Where `GET /health` is served (default `:8080`).
    pub listen: HttpListen,
    /// How long to keep serving after SIGTERM, with `/ready` 503 (default 0).
    pub lameduck: Duration,
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse `health`.
pub fn config(d: &Directive) -> Result<HealthConfig, ConfigError> {
    let args = Args::new(d);
    let mut config = HealthConfig {
        listen: HttpListen {
            addr: args.http_address(":8080")?,
            origin: d.origin(),
        },
        lameduck: Duration::ZERO,
    };
    for option in args.properties() {
        match option.name() {
            "lameduck" => {
                config.lameduck =
                    option.duration_at_most("lameduck", option.one()?, MAX_LAMEDUCK)?;
            }
            _ => return Err(option.unknown_property("lameduck DURATION")),
        }
    }
    Ok(config)
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
    fn kubeadm_form_and_defaults() {
        let h = config(&directive("health {\n lameduck 5s\n}")).expect("valid");
        assert_eq!(h.listen.addr.port(), 8080);
        assert_eq!(h.lameduck, Duration::from_secs(5));
        assert_eq!(h.listen.origin, "Corefile:2");
        assert_eq!(
            config(&directive("health {\n lameduck soon\n}"))
                .unwrap_err()
                .to_string(),
            "Corefile:3: health: lameduck \"soon\": not a duration"
        );
        assert_eq!(
            config(&directive("health {\n grace 5s\n}"))
                .unwrap_err()
                .to_string(),
            "Corefile:3: health: unknown property \"grace\"; supported: lameduck DURATION"
        );
        assert!(config(&directive("health nowhere")).is_err());
    }

    #[test]
    fn lameduck_is_at_most_an_hour() {
        let h = config(&directive("health {\n lameduck 1h\n}")).expect("valid");
        assert_eq!(h.lameduck, Duration::from_secs(3600));
        for text in ["61m", "3600.5s", "99999999999h"] {
            assert_eq!(
                config(&directive(&format!("health {{\n lameduck {text}\n}}")))
                    .unwrap_err()
                    .to_string(),
                format!("Corefile:3: health: lameduck {text:?}: at most 1h")
            );
        }
    }
}
