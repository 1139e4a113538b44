//! Planning: a parsed Corefile → each block's directives parsed by the plugin registry, in
//! execution order, and the listeners the blocks ask for. Nothing is bound or started here,
//! so `-validate` runs exactly this.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::config::{ConfigError, ConfigErrors, Corefile, ServerBlock, ServerKey};
use crate::plugin::{BlockSettings, Setup};
use crate::plugins;

/// A server block, checked and parsed: what to bind and which plugins to start.
#[derive(Debug)]
pub struct BlockPlan {
    /// Zones and ports.
    pub keys: Vec<ServerKey>,
    /// What its directives set on how it is served.
    pub settings: BlockSettings,
    /// Its directives' typed configs, in execution order.
    pub setups: Vec<Box<dyn Setup>>,
}

/// Parse every directive of `block` with the registry, collecting every error.
pub fn plan_block(block: &ServerBlock) -> Result<BlockPlan, Vec<ConfigError>> {
    let zones: Vec<Name> = block.keys.iter().map(|k| k.zone.clone()).collect();
    let mut errors = Vec::new();
    let mut setups: Vec<(usize, Box<dyn Setup>)> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for d in &block.directives {
        let name = d.name.text.as_str();
        let Some((position, definition)) = plugins::lookup(name) else {
            errors.push(d.error(format!(
                "unknown directive {name:?}; supported: {}",
                plugins::built_names().join(", ")
            )));
            continue;
        };
        if seen.contains(&name) && !definition.repeatable {
            errors.push(d.error(format!(
                "{name}: this directive can only be used once per server block"
            )));
            continue;
        }
        seen.push(name);
        match (definition.parse)(d, &zones) {
            Ok(setup) => setups.push((position, setup)),
            Err(mut e) => errors.append(&mut e),
        }
    }
    for d in &block.directives {
        let needed = plugins::lookup(&d.name.text).and_then(|(_, definition)| definition.requires);
        if let Some(needed) = needed
            && !block
                .directives
                .iter()
                .any(|other| other.name.text == needed)
        {
            errors.push(d.error(format!(
                "{}: needs the {needed} plugin in the same server block",
                d.name.text
            )));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    setups.sort_by_key(|(position, _)| *position);
    let mut settings = BlockSettings::default();
    for (_, setup) in &setups {
        setup.configure(&mut settings);
    }
    let errors: Vec<ConfigError> = setups
        .iter()
        .filter_map(|(_, setup)| setup.check(&settings).err())
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(BlockPlan {
        keys: block.keys.clone(),
        settings,
        setups: setups.into_iter().map(|(_, setup)| setup).collect(),
    })
}

/// A listener's identity: its `bind` addresses (sorted; empty for all) and port.
pub type ListenerKey = (Vec<IpAddr>, u16);

/// The listeners a Corefile asks for: for each (bind addresses, port), its zones and the index
/// of the block serving each zone.
#[derive(Debug)]
pub struct Plan {
    /// The blocks, parsed.
    pub blocks: Vec<BlockPlan>,
    /// (bind addresses, port) → [(zone, block index)].
    pub listeners: BTreeMap<ListenerKey, Vec<(Name, usize)>>,
}

/// Parse and check `corefile` without binding or starting anything.
pub fn plan(corefile: &Corefile, default_port: u16) -> Result<Plan, ConfigErrors> {
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut blocks = Vec::new();
    let mut listeners: BTreeMap<ListenerKey, Vec<(Name, usize)>> = BTreeMap::new();
    for block in &corefile.blocks {
        match plan_block(block) {
            Ok(plan) => {
                let index = blocks.len();
                let mut bind = plan.settings.bind.clone();
                bind.sort();
                for key in &plan.keys {
                    let port = key.port.unwrap_or(default_port);
                    let zones = listeners.entry((bind.clone(), port)).or_default();
                    if zones.iter().any(|(z, _)| *z == key.zone) {
                        errors.push(ConfigError::new(
                            &block.file,
                            block.line,
                            format!(
                                "zone {} on port {port} is served by two server blocks",
                                key.zone
                            ),
                        ));
                    } else {
                        zones.push((key.zone.clone(), index));
                    }
                }
                blocks.push(plan);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(Plan { blocks, listeners })
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Read and parse the Corefile at `path`, with the hash of the text read (also when it does
/// not parse). When its syntax is wrong, what could be parsed is planned too (server blocks
/// without `default_port`), so that one pass reports the directives' errors with the syntax's.
pub fn read_corefile(
    path: &std::path::Path,
    default_port: u16,
) -> Result<(Corefile, String), (ConfigErrors, String)> {
    let text = Corefile::read(path).map_err(|errors| (errors, String::new()))?;
    let hash = crate::reload::digest(text.as_bytes());
    let (corefile, mut errors) = Corefile::parse_recovering_at(path, &text);
    if errors.is_empty() {
        return Ok((corefile, hash));
    }
    if let Err(ConfigErrors(more)) = plan(&corefile, default_port) {
        for error in more {
            if !errors.contains(&error) {
                errors.push(error);
            }
        }
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    }
    Err((ConfigErrors(errors), hash))
}

/// Read, parse and plan the Corefile at `conf` as start-up would, without binding a socket or
/// starting a plugin (`-validate`): every error found, each as `FILE:LINE: what is wrong`.
pub fn validate(conf: &std::path::Path, default_port: u16) -> Result<(), ConfigErrors> {
    let (corefile, _) = read_corefile(conf, default_port).map_err(|(errors, _)| errors)?;
    plan(&corefile, default_port).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::HttpEndpoint;
    use std::path::Path;

    fn plan_text(text: &str) -> Result<BlockPlan, Vec<ConfigError>> {
        let core = Corefile::parse("Corefile", text, Path::new(".")).expect("syntax");
        plan_block(&core.blocks[0])
    }

    #[test]
    fn a_directive_that_needs_another_says_so_at_its_line() {
        let errors = plan_text(".:53 {\n  k8s_external example.org\n}\n").unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "Corefile:2: k8s_external: needs the kubernetes plugin in the same server block"
        );
    }

    #[test]
    fn plugins_run_in_the_fixed_order_not_the_written_one() {
        let p = plan_text(".:53 {\n  forward . 127.0.0.1\n  log\n  errors\n  cache\n}\n")
            .expect("valid");
        let order: Vec<String> = p
            .setups
            .iter()
            .map(|s| {
                format!("{s:?}")
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(
            order,
            ["ErrorsConfig", "LogConfig", "CacheConfig", "ForwardConfig"]
        );
    }

    #[test]
    fn unknown_directive_names_the_supported_ones() {
        let errs = plan_text(".:53 {\n  log\n  whoareyou\n}\n").unwrap_err();
        let built = crate::plugins::built_names();
        assert!(built.contains(&"kubernetes") && built.contains(&"whoami"));
        let supported = built.join(", ");
        assert_eq!(
            errs[0].to_string(),
            format!("Corefile:3: unknown directive \"whoareyou\"; supported: {supported}")
        );
    }

    #[test]
    fn a_directive_twice_is_an_error() {
        let errs = plan_text(".:53 {\n  log\n  log\n}\n").unwrap_err();
        assert!(
            errs[0]
                .to_string()
                .starts_with("Corefile:3: log: this directive can only")
        );
    }

    #[test]
    fn server_directives_set_the_block() {
        let p = plan_text(
            ".:53 {\n  bind 127.0.0.1 ::1\n  health {\n    lameduck 3s\n  }\n  ready\n  prometheus :9999\n  reload 10s\n}\n",
        )
        .expect("valid");
        assert_eq!(p.settings.bind.len(), 2);
        assert_eq!(p.settings.lameduck, std::time::Duration::from_secs(3));
        let endpoints: Vec<(HttpEndpoint, u16, &str)> = p
            .settings
            .http
            .iter()
            .map(|(e, listen)| (*e, listen.addr.port(), listen.origin.as_str()))
            .collect();
        assert_eq!(
            endpoints,
            [
                (HttpEndpoint::Ready, 8181, "Corefile:6"),
                (HttpEndpoint::Health, 8080, "Corefile:3"),
                (HttpEndpoint::Metrics, 9999, "Corefile:7"),
            ]
        );
        assert!(p.settings.reload.is_some());
        assert!(p.setups.len() == 5);
    }
}
