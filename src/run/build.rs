//! Building: a Corefile → its plan → started plugin chains, routers and bound listeners,
//! without touching what runs. A reload builds the new config this way while the old one
//! keeps serving; dropping a [`Built`] closes what it bound and stops what it started.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use super::plan::plan;
use super::{Options, RunError};
use crate::admin::{self, Endpoints};
use crate::config::Corefile;
use crate::metrics::{ServerMetrics, server_label};
use crate::plugin::{Chain, FatalSender, HttpEndpoint, StartContext};
use crate::reload::ReloadSchedule;
use crate::server::router::ZoneRoute;
use crate::server::{Listener, Router, SharedRouter};

/// The socket addresses of a listener: its `bind` addresses, or every address (dual-stack
/// `[::]`, or `0.0.0.0` where IPv6 is off).
fn addresses(bind: &[IpAddr], port: u16) -> Vec<SocketAddr> {
    if bind.is_empty() {
        vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)]
    } else {
        bind.iter().map(|ip| SocketAddr::new(*ip, port)).collect()
    }
}

/// A DNS listener of a built config: an address already served (reused, only its router
/// changes) or one bound now.
pub(super) struct BuiltListener {
    pub(super) requested: SocketAddr,
    /// Its `server` label, as its zones' metrics have it.
    pub(super) server: String,
    pub(super) router: Arc<Router>,
    pub(super) fresh: Option<Listener>,
    pub(super) blocks: Vec<usize>,
}

/// A config parsed, started and bound, not yet serving: the whole of what a reload swaps in.
/// Dropping it closes what it bound and stops what it started.
pub(super) struct Built {
    pub(super) hash: String,
    pub(super) chains: Vec<Arc<Chain>>,
    pub(super) listeners: Vec<BuiltListener>,
    pub(super) admin: Vec<(SocketAddr, Endpoints, Option<TcpListener>)>,
    pub(super) plugins_enabled: Vec<(String, String, Vec<&'static str>)>,
    pub(super) lameduck: Duration,
    /// Whether a `ready` asks `monitor continuously`.
    pub(super) ready_continuously: bool,
    pub(super) reload: Option<ReloadSchedule>,
}

/// Bind `addr`, or every IPv4 address when `addr` is `[::]` on a host without IPv6.
fn bind_listener(
    addr: SocketAddr,
    workers: usize,
    router: &Arc<Router>,
) -> Result<Listener, RunError> {
    let shared: SharedRouter = Arc::new(ArcSwap::new(router.clone()));
    match Listener::bind(addr, workers, shared.clone()) {
        Ok(l) => Ok(l),
        Err(e) if crate::server::no_ipv6(addr, &e) => {
            let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port());
            Listener::bind(v4, workers, shared)
                .map_err(|source| RunError::Bind { addr: v4, source })
        }
        Err(source) => Err(RunError::Bind { addr, source }),
    }
}

/// Parse, start and bind `corefile` without touching what runs: addresses already served in
/// `live` are reused, every other one is bound now, so any failure leaves the running config
/// as it was.
pub(super) async fn build(
    corefile: &Corefile,
    hash: String,
    options: &Options,
    metrics: &Arc<ServerMetrics>,
    fatal: &FatalSender,
    live: &BTreeSet<SocketAddr>,
    live_admin: &BTreeSet<SocketAddr>,
) -> Result<Built, RunError> {
    let plan = plan(corefile, options.default_port)?;
    // `health`, `ready` and `prometheus` addresses: one HTTP server each, shared by every
    // block naming it.
    let mut admin_servers: BTreeMap<SocketAddr, Endpoints> = BTreeMap::new();
    let mut lameduck = Duration::ZERO;
    let mut ready_continuously = false;
    let mut reload = None;
    let mut http_origins: BTreeMap<SocketAddr, String> = BTreeMap::new();
    for block in &plan.blocks {
        for (endpoint, listen) in &block.settings.http {
            http_origins
                .entry(listen.addr)
                .or_insert_with(|| listen.origin.clone());
            let served = admin_servers.entry(listen.addr).or_default();
            match endpoint {
                HttpEndpoint::Health => served.health = true,
                HttpEndpoint::Ready => served.ready = true,
                HttpEndpoint::Metrics => served.metrics = true,
            }
        }
        lameduck = lameduck.max(block.settings.lameduck);
        ready_continuously |= block.settings.ready_continuously;
        reload = reload.or(block.settings.reload);
    }
    // The `server` label of each block: that of its first listener.
    let mut block_server = vec![String::new(); plan.blocks.len()];
    for ((bind, port), zones) in plan.listeners.iter().rev() {
        for (_, block) in zones {
            block_server[*block] = server_label(bind.first().copied(), *port);
        }
    }
    let mut chains = Vec::with_capacity(plan.blocks.len());
    let bufsizes: Vec<Option<u16>> = plan.blocks.iter().map(|b| b.settings.bufsize).collect();
    for (block, server) in plan.blocks.into_iter().zip(block_server) {
        let context = StartContext {
            metrics: metrics.clone(),
            server,
            fatal: fatal.clone(),
            block: Default::default(),
        };
        let mut plugins = Vec::with_capacity(block.setups.len());
        for setup in block.setups {
            plugins.extend(setup.start(&context).await?);
        }
        chains.push(Arc::new(Chain::new(plugins)));
    }
    let mut admin = Vec::with_capacity(admin_servers.len());
    for (addr, endpoints) in admin_servers {
        let fresh = if live_admin.contains(&addr) {
            None
        } else {
            let listener =
                admin::bind(addr)
                    .await
                    .map_err(|(bound, source)| RunError::HttpBind {
                        origin: http_origins.get(&addr).cloned().unwrap_or_default(),
                        addr: bound,
                        source,
                    })?;
            Some(listener)
        };
        admin.push((addr, endpoints, fresh));
    }
    let mut listeners = Vec::new();
    let mut plugins_enabled = Vec::new();
    for ((bind, port), zones) in plan.listeners {
        let server = server_label(bind.first().copied(), port);
        let routes = zones
            .iter()
            .map(|(zone, block)| {
                let chain = chains[*block].clone();
                let names: Vec<&'static str> = chain.plugins().iter().map(|p| p.name()).collect();
                let zone_metrics = metrics.zone(&server, &zone.to_string(), &names);
                plugins_enabled.push((server.clone(), zone.to_string(), names));
                ZoneRoute {
                    zone: zone.clone(),
                    chain,
                    metrics: Some(Arc::new(zone_metrics)),
                    bufsize: bufsizes[*block],
                }
            })
            .collect();
        let dropped = Arc::new(metrics.zone(&server, "dropped", &[]));
        let router =
            Router::with_metrics(routes, Some(metrics.panics.clone()), Some(dropped)).into_shared();
        for requested in addresses(&bind, port) {
            let fresh = if live.contains(&requested) {
                None
            } else {
                Some(bind_listener(requested, options.udp_workers, &router)?)
            };
            listeners.push(BuiltListener {
                requested,
                server: server.clone(),
                router: router.clone(),
                fresh,
                blocks: zones.iter().map(|(_, block)| *block).collect(),
            });
        }
    }
    Ok(Built {
        hash,
        chains,
        listeners,
        admin,
        plugins_enabled,
        lameduck,
        ready_continuously,
        reload,
    })
}
