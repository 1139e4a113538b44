//! Wiring: a Corefile → plugin chains → routers → bound listeners, served until shutdown.
//!
//! Start-up order: parse everything and report every error; start the plugins (the
//! `kubernetes` plugin loads its source); bind every listener; only then serve. A failure at
//! any step stops start-up before anything is served.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::admin::{self, Endpoints, Readiness};
use crate::config::{ConfigError, ConfigErrors, Corefile};
use crate::metrics::ServerMetrics;
use crate::plugin::Chain;
use crate::plugins::{self, BlockPlan};
use crate::server::router::ZoneRoute;
use crate::server::{Listener, Router, TcpLimits};

/// How clusterdns was asked to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The Corefile.
    pub conf: PathBuf,
    /// The port of server blocks that name none (`-dns.port`).
    pub default_port: u16,
    /// UDP sockets (and loops) per listener; default: one per CPU.
    pub udp_workers: usize,
}

/// Why clusterdns could not start.
#[derive(Debug, Error)]
pub enum RunError {
    /// The Corefile is wrong.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A plugin could not start.
    #[error("{0}")]
    Start(#[from] plugins::StartError),
    /// A listener could not be bound.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
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
        match plugins::plan_block(block) {
            Ok(plan) => {
                let index = blocks.len();
                let mut bind = plan.bind.clone();
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

/// The socket addresses of a listener: its `bind` addresses, or every address (dual-stack
/// `[::]`, or `0.0.0.0` where IPv6 is off).
fn addresses(bind: &[IpAddr], port: u16) -> Vec<SocketAddr> {
    if bind.is_empty() {
        vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)]
    } else {
        bind.iter().map(|ip| SocketAddr::new(*ip, port)).collect()
    }
}

/// A running server: its bound addresses, and the tasks serving them.
pub struct Running {
    /// The addresses served.
    pub addresses: Vec<SocketAddr>,
    readiness: Arc<Readiness>,
    /// The longest `health { lameduck }` of the Corefile.
    lameduck: Duration,
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
}

impl Running {
    /// The shutdown sequence: `/ready` turns 503 at once, queries keep being answered (and
    /// `/health` says OK) for the lameduck period so that endpoints and kube-proxy drop this
    /// pod first; then listeners close and open work gets `grace` to finish.
    pub async fn shut_down(self, grace: Duration) {
        self.readiness.start_shutdown();
        if !self.lameduck.is_zero() {
            tracing::info!("lameduck: still serving for {:?}", self.lameduck);
            tokio::time::sleep(self.lameduck).await;
        }
        self.stop(grace).await;
    }

    /// Stop accepting, let open connections finish their current work, and wait up to
    /// `grace` for the tasks to end.
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.tasks.abort_all();
        }
    }
}

/// Start everything `options` describes. Must run inside the tokio runtime.
pub async fn start(options: &Options) -> Result<Running, RunError> {
    let corefile = Corefile::load(&options.conf)?;
    let plan = plan(&corefile, options.default_port)?;
    // `health` and `ready` addresses: one HTTP server each, shared by every block naming it.
    let mut admin_servers: BTreeMap<SocketAddr, Endpoints> = BTreeMap::new();
    let mut lameduck = Duration::ZERO;
    for block in &plan.blocks {
        if let Some(health) = block.health {
            admin_servers.entry(health.addr).or_default().health = true;
            lameduck = lameduck.max(health.lameduck);
        }
        if let Some(addr) = block.ready {
            admin_servers.entry(addr).or_default().ready = true;
        }
        if let Some(addr) = block.prometheus {
            admin_servers.entry(addr).or_default().metrics = true;
        }
    }
    let metrics = Arc::new(ServerMetrics::new());
    let mut chains = Vec::with_capacity(plan.blocks.len());
    for block in plan.blocks {
        let mut plugins = Vec::with_capacity(block.plugins.len());
        for setup in block.plugins {
            plugins.push(setup.start().await?);
        }
        chains.push(Arc::new(Chain::new(plugins)));
    }
    let admin_listeners = admin::bind(&admin_servers)
        .await
        .map_err(|(addr, source)| RunError::Bind { addr, source })?;
    let (stop, shutdown) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut addresses_served = Vec::new();
    let mut bound = Vec::new();
    for ((bind, port), zones) in plan.listeners {
        // The `server` label: `dns://:PORT`, or `dns://IP:PORT` with `bind`.
        let label_addr = SocketAddr::new(
            bind.first()
                .copied()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            port,
        );
        let routes = zones
            .iter()
            .map(|(zone, block)| {
                let chain = chains[*block].clone();
                let names: Vec<&'static str> = chain.plugins().iter().map(|p| p.name()).collect();
                let zone_metrics =
                    metrics.zone(label_addr, bind.is_empty(), &zone.to_string(), &names);
                ZoneRoute {
                    zone: zone.clone(),
                    chain,
                    metrics: Some(Arc::new(zone_metrics)),
                }
            })
            .collect();
        let router = Arc::new(Router::with_metrics(routes, Some(metrics.panics.clone())));
        for addr in addresses(&bind, port) {
            let listener = match Listener::bind(addr, options.udp_workers, router.clone()) {
                Ok(l) => l,
                Err(e)
                    if bind.is_empty() && e.kind() == std::io::ErrorKind::AddrNotAvailable
                        || bind.is_empty() && e.raw_os_error() == Some(97) =>
                {
                    // No IPv6 on this host: every IPv4 address instead.
                    let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
                    Listener::bind(v4, options.udp_workers, router.clone())
                        .map_err(|source| RunError::Bind { addr: v4, source })?
                }
                Err(source) => return Err(RunError::Bind { addr, source }),
            };
            let zone_list: Vec<String> = router.zones().map(ToString::to_string).collect();
            tracing::info!(
                "serving {} on {} (udp, tcp)",
                zone_list.join(" "),
                listener.addr
            );
            addresses_served.push(listener.addr);
            bound.push((
                listener,
                zones.iter().map(|(_, block)| *block).collect::<Vec<_>>(),
            ));
        }
    }
    // Which addresses each block listens on, for plugins that want to know (loop's probe).
    let mut block_addresses: Vec<Vec<SocketAddr>> = vec![Vec::new(); chains.len()];
    for (listener, blocks) in &bound {
        for block in blocks {
            block_addresses[*block].push(listener.addr);
        }
    }
    for (listener, _) in bound {
        listener.spawn(&mut tasks, TcpLimits::default(), &shutdown);
    }
    for (chain, addresses) in chains.iter().zip(&block_addresses) {
        chain.on_listening(addresses);
    }
    let readiness = Arc::new(Readiness::new(chains));
    admin::spawn(
        admin_listeners,
        readiness.clone(),
        metrics,
        &mut tasks,
        &shutdown,
    );
    Ok(Running {
        addresses: addresses_served,
        readiness,
        lameduck,
        tasks,
        stop,
    })
}

/// Start, serve until `shutdown` completes, then stop.
pub async fn run(options: Options, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let running = start(&options).await?;
    shutdown.await;
    tracing::info!("shutting down");
    running.shut_down(Duration::from_secs(5)).await;
    Ok(())
}
