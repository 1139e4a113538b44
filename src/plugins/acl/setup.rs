//! Parsing of `acl [ZONES...] { ACTION [type QTYPE...] [net SOURCE...] }`.

use hickory_proto::rr::{Name, RecordType};

use crate::config::{Args, Cidr, ConfigError, Directive};
use crate::plugin::{Setup, parsed};

/// What a matching policy does with the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Let it through to the plugins after `acl`.
    Allow,
    /// Answer REFUSED.
    Block,
    /// Answer NOERROR with no records.
    Filter,
    /// Answer nothing.
    Drop,
}

/// One line of the block: the action, the types (empty: all) and the sources (empty: all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// What it does.
    pub action: Action,
    /// `type QTYPE...`; empty matches every type.
    pub types: Vec<RecordType>,
    /// `net SOURCE...`; empty matches every source.
    pub nets: Vec<Cidr>,
}

/// One `acl` directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclConfig {
    /// Zones it applies to (default: the server block's).
    pub zones: Vec<Name>,
    /// The policies, in order: the first that matches decides.
    pub policies: Vec<Policy>,
}

/// The registry's entry point.
pub fn parse(d: &Directive, zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d, zones))
}

/// Parse `acl` in a block serving `block_zones`.
pub fn config(d: &Directive, block_zones: &[Name]) -> Result<AclConfig, ConfigError> {
    let args = Args::new(d);
    let zones = args.zones_from(0, block_zones)?;
    let mut policies = Vec::new();
    for line in args.properties() {
        let action = match line.name() {
            "allow" => Action::Allow,
            "block" => Action::Block,
            "filter" => Action::Filter,
            "drop" => Action::Drop,
            _ => return Err(line.unknown_property("allow, block, filter, drop")),
        };
        let mut policy = Policy {
            action,
            types: Vec::new(),
            nets: Vec::new(),
        };
        let mut section = None;
        for word in line.texts() {
            match word {
                "type" | "net" => section = Some(word),
                _ => match section {
                    Some("type") if word == "*" => {}
                    Some("type") => policy.types.push(
                        word.to_ascii_uppercase()
                            .parse::<RecordType>()
                            .ok()
                            .filter(|t| !matches!(t, RecordType::Unknown(_)))
                            .ok_or_else(|| line.error(format!("invalid type {word:?}")))?,
                    ),
                    Some(_) if word == "*" => {}
                    Some(_) => policy.nets.push(Cidr::parse(word).ok_or_else(|| {
                        line.error(format!("invalid source {word:?}: expected an IP or a CIDR"))
                    })?),
                    None => {
                        return Err(line.error(format!(
                            "unexpected {word:?}: expected type QTYPE... or net SOURCE..."
                        )));
                    }
                },
            }
        }
        policies.push(policy);
    }
    Ok(AclConfig { zones, policies })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_block(text: &str) -> Result<AclConfig, ConfigError> {
        let core = Corefile::parse("Corefile", &format!(".:53 {{\n{text}\n}}\n"), Path::new("."))
            .expect("syntax");
        config(&core.blocks[0].directives[0], &[Name::root()])
    }

    #[test]
    fn policies_parse_in_order() {
        let c = parse_block(
            "acl example.org {\n  allow net 192.168.1.0/24 ::1\n  filter type A AAAA net 192.168.0.0/16\n  drop type ANY\n  block\n}",
        )
        .expect("valid");
        assert_eq!(c.zones[0].to_ascii(), "example.org.");
        assert_eq!(c.policies.len(), 4);
        assert_eq!(c.policies[0].action, Action::Allow);
        assert!(c.policies[0].nets[0].contains("192.168.1.77".parse().expect("ip")));
        assert!(!c.policies[0].nets[0].contains("192.168.2.1".parse().expect("ip")));
        assert!(c.policies[0].nets[1].contains("::1".parse().expect("ip")));
        assert!(c.policies[1].nets[0].contains("::ffff:192.168.3.4".parse().expect("ip")));
        assert_eq!(c.policies[1].types, [RecordType::A, RecordType::AAAA]);
        assert!(c.policies[3].types.is_empty() && c.policies[3].nets.is_empty());
        for (bad, error) in [
            ("acl {\n  deny\n}", "unknown property"),
            ("acl {\n  block type BOGUS\n}", "invalid type"),
            ("acl {\n  block net 10.0.0.0/33\n}", "invalid source"),
            ("acl {\n  block 10.0.0.1\n}", "unexpected"),
        ] {
            let e = parse_block(bad).expect_err(bad).to_string();
            assert!(e.contains("acl: ") && e.contains(error), "{bad}: {e}");
        }
    }
}
