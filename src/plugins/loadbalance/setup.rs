//! Parsing of `loadbalance [round_robin | weighted WEIGHTFILE] { reload DURATION; prefer CIDR...;
//! limit_answers N }`.

use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::Name;

use super::weights::WeightTable;
use crate::config::{Args, Cidr, ConfigError, Directive, read_text};
use crate::plugin::{Setup, parsed};

/// `loadbalance`: the policy, the subnets whose addresses come first, the answer limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadBalanceConfig {
    /// `round_robin` (the default) or `weighted`.
    pub policy: Policy,
    /// `prefer CIDR...`: addresses in these networks are put before the others (in this order
    /// of networks), each group shuffled.
    pub prefer: Vec<Cidr>,
    /// `limit_answers N`: at most N records in the answer section, after the reordering.
    pub limit_answers: Option<usize>,
}

/// How the address records are reordered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Shuffle uniformly.
    #[default]
    RoundRobin,
    /// Draw the first address by the weights of a file.
    Weighted {
        /// The weight file.
        file: PathBuf,
        /// How often the file is checked for changes (0: never). CoreDNS's default: 30 s.
        reload: Duration,
        /// The weights read at start.
        table: WeightTable,
    },
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Read and parse a weight file; an error names the file's line.
pub fn read_weights(path: &std::path::Path) -> Result<WeightTable, String> {
    let text = read_text(path, true).map_err(|e| format!("weight file {}: {e}", path.display()))?;
    parse_weights(path, &text)
}

/// Parse the text of the weight file `path`.
fn parse_weights(path: &std::path::Path, text: &str) -> Result<WeightTable, String> {
    WeightTable::parse(text)
        .map_err(|(line, what)| format!("weight file {}:{line}: {what}", path.display()))
}

/// Parse `loadbalance [round_robin | weighted WEIGHTFILE] { … }`.
pub fn config(d: &Directive) -> Result<LoadBalanceConfig, ConfigError> {
    let args = Args::new(d);
    let weighted_file = match args.texts().as_slice() {
        [] | ["round_robin"] => None,
        ["weighted", file] => Some(args.path(file)),
        ["weighted"] => return Err(args.error("weighted needs a weight file")),
        _ => return Err(args.error("takes [round_robin | weighted WEIGHTFILE]")),
    };
    let mut config = LoadBalanceConfig::default();
    let mut reload = Duration::from_secs(30);
    for option in args.properties() {
        match option.name() {
            "prefer" => {
                if option.texts().is_empty() {
                    return Err(option.error("prefer needs at least one CIDR"));
                }
                for text in option.texts() {
                    config.prefer.push(Cidr::parse(text).ok_or_else(|| {
                        option.error(format!("prefer {text:?}: expected a CIDR such as 10.0.0.0/8"))
                    })?);
                }
            }
            "reload" if weighted_file.is_some() => {
                reload = option.duration("reload", option.one()?)?;
            }
            "reload" => return Err(option.error("reload applies to the weighted policy")),
            "limit_answers" => {
                let n: usize = option.number("limit_answers", option.one()?)?;
                if n == 0 {
                    return Err(option.error("limit_answers must be at least 1"));
                }
                config.limit_answers = Some(n);
            }
            _ => return Err(option.unknown_property("prefer, limit_answers, reload (weighted)")),
        }
    }
    if let Some(file) = weighted_file {
        let table = match read_text(&file, true) {
            Ok(text) => parse_weights(&file, &text).map_err(|e| args.error(e))?,
            // As CoreDNS: with `reload`, a file that cannot be read yet is waited for.
            Err(e) if !reload.is_zero() => {
                tracing::warn!(
                    "{}: loadbalance: weight file {}: {e}; no weights until it can be read (tried again every {reload:?})",
                    d.name.location(),
                    file.display()
                );
                WeightTable::default()
            }
            Err(e) => return Err(args.error(format!("weight file {}: {e}", file.display()))),
        };
        config.policy = Policy::Weighted {
            file,
            reload,
            table,
        };
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_text(line: &str) -> Result<LoadBalanceConfig, ConfigError> {
        let text = format!(".:53 {{\n  {line}\n}}\n");
        let core = Corefile::parse("Corefile", &text, Path::new(".")).expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn round_robin_and_prefer() {
        assert!(parse_text("loadbalance").is_ok());
        assert!(parse_text("loadbalance round_robin").is_ok());
        let prefer = parse_text("loadbalance round_robin {\n prefer 10.0.0.0/8 fd00::/8\n }")
            .expect("valid")
            .prefer;
        assert_eq!(prefer.len(), 2);
        assert!(parse_text("loadbalance {\n prefer nowhere\n }").is_err());
        assert!(parse_text("loadbalance sideways").is_err());
        let limited = parse_text("loadbalance {\n limit_answers 3\n }").expect("valid");
        assert_eq!(limited.limit_answers, Some(3));
        assert!(parse_text("loadbalance {\n limit_answers 0\n }").is_err());
        assert!(parse_text("loadbalance {\n reload 10s\n }").is_err());
    }

    #[test]
    fn weighted_reads_its_file_and_names_the_bad_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("w");
        std::fs::write(&good, "www.example.com\n100.64.1.1 3\n").expect("write");
        let c = parse_text(&format!(
            "loadbalance weighted {} {{\n reload 10s\n }}",
            good.display()
        ))
        .expect("valid");
        let Policy::Weighted { reload, .. } = c.policy else {
            panic!("weighted: {c:?}")
        };
        assert_eq!(reload, Duration::from_secs(10));
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "www.example.com\n100.64.1.1 3\n100.64.1.2 300\n").expect("write");
        let e = parse_text(&format!("loadbalance weighted {}", bad.display())).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Corefile:2: loadbalance: weight file {}:3: weight \"300\": expected 1-255",
                bad.display()
            )
        );
        assert!(parse_text("loadbalance weighted /nonexistent/w {\n reload 0\n }").is_err());
        // With reload (default 30 s), a file not there yet is waited for, as in CoreDNS.
        let waiting = parse_text("loadbalance weighted /nonexistent/w").expect("waits");
        assert!(matches!(waiting.policy, Policy::Weighted { .. }));
        assert!(parse_text("loadbalance weighted").is_err());
    }
}
