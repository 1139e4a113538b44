//! One module per Corefile directive, and the table that fixes their order.
//!
//! Plugins run in the order of [`PLUGIN_ORDER`] (CoreDNS's `plugin.cfg` order), whatever the
//! order they are written in: order is a security property (CVE-2026-26017 was an ordering
//! bug). A directive not in [`SUPPORTED`] is a start-up error that names the supported ones.

pub mod cache;
pub mod errors;
pub mod forward;
pub mod health;
pub mod hosts;
pub mod kubernetes;
pub mod loadbalance;
pub mod log;
pub mod loop_detect;
pub mod reload;

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::Name;
use thiserror::Error;

use crate::config::{ConfigError, Directive, ServerBlock, ServerKey};
use crate::metrics::ServerMetrics;
use crate::plugin::Plugin;

/// Every directive CoreDNS users write in kube-dns Corefiles, in execution order.
pub const PLUGIN_ORDER: &[&str] = &[
    "reload",
    "bind",
    "ready",
    "health",
    "prometheus",
    "errors",
    "log",
    "acl",
    "any",
    "loadbalance",
    "cache",
    "rewrite",
    "autopath",
    "transfer",
    "hosts",
    "kubernetes",
    "loop",
    "forward",
];

/// The directives this build implements (`-plugins` lists them).
pub const SUPPORTED: &[&str] = &[
    "bind",
    "cache",
    "errors",
    "forward",
    "health",
    "hosts",
    "kubernetes",
    "loadbalance",
    "log",
    "loop",
    "prometheus",
    "ready",
    "reload",
];

/// A parsed directive, ready to start.
#[derive(Debug)]
pub enum PluginSetup {
    /// `kubernetes`.
    Kubernetes(Box<kubernetes::KubernetesConfig>),
    /// `log`.
    Log(log::LogConfig),
    /// `errors`.
    Errors(errors::ErrorsConfig),
    /// `forward`.
    Forward(Box<forward::ForwardConfig>),
    /// `cache`.
    Cache(Box<cache::CacheConfig>),
    /// `hosts`.
    Hosts(Box<hosts::HostsConfig>),
    /// `loadbalance`.
    LoadBalance,
    /// `loop`, probing under this zone.
    Loop(Name),
}

/// A plugin that failed to start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The kubernetes plugin's source failed.
    #[error("kubernetes: {0}")]
    Kubernetes(#[from] kubernetes::StartError),
    /// The forward plugin's TLS settings could not be loaded.
    #[error("forward: {0}")]
    Forward(String),
}

/// What a plugin is given when it starts.
pub struct StartContext {
    /// The process's metrics: plugin families are registered there once, and a plugin takes
    /// its handles from them (so counts carry over a reload).
    pub metrics: Arc<ServerMetrics>,
    /// The `server` label of the block's first listener (`dns://:53`).
    pub server: String,
}

impl PluginSetup {
    /// Start the plugin (loads sources, spawns watchers). Runs inside the tokio runtime.
    pub async fn start(self, context: &StartContext) -> Result<Arc<dyn Plugin>, StartError> {
        Ok(match self {
            PluginSetup::Kubernetes(c) => {
                let metrics = kubernetes::KubernetesMetrics {
                    programming: context.metrics.plugins.programming(),
                    rest_client: context.metrics.plugins.rest_client(),
                };
                Arc::new(kubernetes::Kubernetes::start(*c, Some(metrics)).await?)
            }
            PluginSetup::Log(c) => Arc::new(log::Log::new(c)),
            PluginSetup::Errors(c) => Arc::new(errors::Errors::new(c)),
            PluginSetup::Forward(c) => {
                let metrics = context.metrics.plugins.forward(&c.upstreams);
                Arc::new(forward::Forward::new(*c, metrics).map_err(StartError::Forward)?)
            }
            PluginSetup::Cache(c) => {
                let zones: Vec<String> = c.zones.iter().map(ToString::to_string).collect();
                let metrics = context
                    .metrics
                    .plugins
                    .cache(&context.server, &zones.join(","));
                Arc::new(cache::Cache::new(*c, metrics))
            }
            PluginSetup::Hosts(c) => Arc::new(hosts::Hosts::start(*c)),
            PluginSetup::LoadBalance => Arc::new(loadbalance::LoadBalance),
            PluginSetup::Loop(zone) => Arc::new(loop_detect::LoopDetect::new(&zone)),
        })
    }
}

/// A server block, checked and parsed: what to bind and which plugins to start.
#[derive(Debug)]
pub struct BlockPlan {
    /// Zones and ports.
    pub keys: Vec<ServerKey>,
    /// `bind` addresses (empty: every address).
    pub bind: Vec<IpAddr>,
    /// `health`, if written.
    pub health: Option<health::HealthConfig>,
    /// `ready`'s address, if written.
    pub ready: Option<std::net::SocketAddr>,
    /// `prometheus`'s address, if written.
    pub prometheus: Option<std::net::SocketAddr>,
    /// `reload`, if written.
    pub reload: Option<reload::ReloadConfig>,
    /// Where each HTTP address (of `health`, `ready`, `prometheus`) was written, as
    /// `FILE:LINE`, for the error when it cannot be bound.
    pub http_origins: Vec<(std::net::SocketAddr, String)>,
    /// The plugins, in [`PLUGIN_ORDER`].
    pub plugins: Vec<PluginSetup>,
}

fn order_of(name: &str) -> usize {
    PLUGIN_ORDER
        .iter()
        .position(|p| *p == name)
        .unwrap_or(usize::MAX)
}

fn parse_bind(d: &Directive) -> Result<Vec<IpAddr>, ConfigError> {
    if d.args.is_empty() {
        return Err(d.error("bind needs at least one address"));
    }
    d.args
        .iter()
        .map(|a| {
            a.text
                .parse()
                .map_err(|_| ConfigError::at(a, format!("bind: {:?} is not an IP address", a.text)))
        })
        .collect()
}

/// Parse every directive of `block`, collecting every error.
pub fn plan_block(block: &ServerBlock) -> Result<BlockPlan, Vec<ConfigError>> {
    let zones: Vec<Name> = block.keys.iter().map(|k| k.zone.clone()).collect();
    let mut errors = Vec::new();
    let mut plugins: Vec<(usize, PluginSetup)> = Vec::new();
    let mut bind = Vec::new();
    let mut health_config = None;
    let mut ready = None;
    let mut prometheus = None;
    let mut reload_config = None;
    let mut http_origins = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for d in &block.directives {
        let name = d.name.text.as_str();
        if !SUPPORTED.contains(&name) {
            errors.push(d.error(format!(
                "unknown directive {name:?}; supported: {}",
                SUPPORTED.join(", ")
            )));
            continue;
        }
        if seen.contains(&name) {
            errors.push(d.error(format!(
                "{name}: this directive can only be used once per server block"
            )));
            continue;
        }
        seen.push(name);
        let parsed = match name {
            "kubernetes" => {
                kubernetes::setup::parse(d, &zones).map(|c| PluginSetup::Kubernetes(Box::new(c)))
            }
            "log" => log::parse(d).map(PluginSetup::Log).map_err(|e| vec![e]),
            "errors" => errors::parse(d)
                .map(PluginSetup::Errors)
                .map_err(|e| vec![e]),
            "forward" => forward::setup::parse(d).map(|c| PluginSetup::Forward(Box::new(c))),
            "loadbalance" => loadbalance::parse(d)
                .map(|()| PluginSetup::LoadBalance)
                .map_err(|e| vec![e]),
            "loop" => loop_detect::parse(d)
                .map(|()| PluginSetup::Loop(zones.first().cloned().unwrap_or_else(Name::root)))
                .map_err(|e| vec![e]),
            "hosts" => hosts::parse(d, &zones)
                .map(|c| PluginSetup::Hosts(Box::new(c)))
                .map_err(|e| vec![e]),
            "cache" => cache::setup::parse(d, &zones)
                .map(|c| PluginSetup::Cache(Box::new(c)))
                .map_err(|e| vec![e]),
            "health" => {
                match health::parse_health(d) {
                    Ok(config) => {
                        http_origins.push((config.addr, d.origin()));
                        health_config = Some(config);
                    }
                    Err(e) => errors.push(e),
                }
                continue;
            }
            "prometheus" => {
                match health::parse_prometheus(d) {
                    Ok(addr) => {
                        http_origins.push((addr, d.origin()));
                        prometheus = Some(addr);
                    }
                    Err(e) => errors.push(e),
                }
                continue;
            }
            "ready" => {
                match health::parse_ready(d) {
                    Ok(addr) => {
                        http_origins.push((addr, d.origin()));
                        ready = Some(addr);
                    }
                    Err(e) => errors.push(e),
                }
                continue;
            }
            "reload" => {
                match reload::parse(d) {
                    Ok(config) => reload_config = Some(config),
                    Err(e) => errors.push(e),
                }
                continue;
            }
            "bind" => {
                match parse_bind(d) {
                    Ok(addrs) => bind = addrs,
                    Err(e) => errors.push(e),
                }
                continue;
            }
            // Every name in SUPPORTED has an arm above; a missing one must not pass silently.
            other => {
                Err(vec![d.error(format!(
                    "{other}: no setup for this directive (a bug)"
                ))])
            }
        };
        match parsed {
            Ok(setup) => plugins.push((order_of(name), setup)),
            Err(mut e) => errors.append(&mut e),
        }
    }
    plugins.sort_by_key(|(order, _)| *order);
    if errors.is_empty() {
        Ok(BlockPlan {
            keys: block.keys.clone(),
            bind,
            health: health_config,
            ready,
            prometheus,
            reload: reload_config,
            http_origins,
            plugins: plugins.into_iter().map(|(_, p)| p).collect(),
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn plan(text: &str) -> Result<BlockPlan, Vec<ConfigError>> {
        let core = Corefile::parse("Corefile", text, Path::new(".")).expect("syntax");
        plan_block(&core.blocks[0])
    }

    #[test]
    fn plugins_run_in_the_fixed_order_not_the_written_one() {
        let p = plan(".:53 {\n  log\n  errors\n}\n").expect("valid");
        assert!(matches!(p.plugins[0], PluginSetup::Errors(_)));
        assert!(matches!(p.plugins[1], PluginSetup::Log(_)));
    }

    #[test]
    fn unknown_directive_names_the_supported_ones() {
        let errs = plan(".:53 {\n  log\n  whoami\n}\n").unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "Corefile:3: unknown directive \"whoami\"; supported: bind, cache, errors, forward, health, hosts, kubernetes, loadbalance, log, loop, prometheus, ready, reload"
        );
    }

    #[test]
    fn a_directive_twice_is_an_error() {
        let errs = plan(".:53 {\n  log\n  log\n}\n").unwrap_err();
        assert!(
            errs[0]
                .to_string()
                .starts_with("Corefile:3: log: this directive can only")
        );
    }

    #[test]
    fn bind_takes_addresses() {
        let p = plan(".:53 {\n  bind 127.0.0.1 ::1\n}\n").expect("valid");
        assert_eq!(p.bind.len(), 2);
        let errs = plan(".:53 {\n  bind lo\n}\n").unwrap_err();
        assert!(errs[0].to_string().contains("not an IP address"));
    }
}
