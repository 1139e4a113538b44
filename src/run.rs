//! Wiring: a Corefile → plugin chains → routers → bound listeners, served until shutdown.
//!
//! Start-up order: parse everything and report every error; start the plugins (the
//! `kubernetes` plugin loads its source); bind every listener; only then serve. A failure at
//! any step stops start-up before anything is served.
//!
//! A reload goes the same way while the old config keeps serving: the new config is parsed,
//! started and its new addresses bound; only when all of that worked (and its plugins are
//! ready) are the routers of the kept addresses swapped, the new addresses served and the
//! dropped ones stopped.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::admin::{self, Endpoints, Readiness, SharedEndpoints};
use crate::config::{ConfigError, ConfigErrors, Corefile};
use crate::metrics::{ServerMetrics, server_label};
use crate::plugin::Chain;
use crate::plugins::reload::ReloadConfig;
use crate::plugins::{self, BlockPlan, StartContext};
use crate::reload::{ReloadTriggers, Trigger};
use crate::server::router::ZoneRoute;
use crate::server::{Listener, Router, SharedRouter, TcpLimits};

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
    /// The new config's plugins were not ready in time (a reload).
    #[error("not ready within 5s: {0}")]
    NotReady(String),
    /// The reload signals could not be installed.
    #[error("install SIGHUP/SIGUSR1 handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// An HTTP address of `health`, `ready` or `prometheus` could not be bound.
    #[error("{origin}: listen on {addr}: {source}")]
    HttpBind {
        /// `FILE:LINE` of the directive naming it.
        origin: String,
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
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

/// A DNS listener being served: the address it was asked for, the address bound, its router
/// (swapped on reload) and its own stop switch (a reload that drops it stops only it).
struct LiveListener {
    bound: SocketAddr,
    router: SharedRouter,
    stop: watch::Sender<bool>,
}

/// An HTTP server of `health`, `ready` or `prometheus` being served.
struct LiveAdmin {
    endpoints: Arc<SharedEndpoints>,
    stop: watch::Sender<bool>,
}

/// A DNS listener of a built config: an address already served (reused, only its router
/// changes) or one bound now.
struct BuiltListener {
    requested: SocketAddr,
    router: Arc<Router>,
    fresh: Option<Listener>,
    blocks: Vec<usize>,
}

/// A config parsed, started and bound, not yet serving: the whole of what a reload swaps in.
/// Dropping it closes what it bound and stops what it started.
struct Built {
    hash: String,
    chains: Vec<Arc<Chain>>,
    listeners: Vec<BuiltListener>,
    admin: Vec<(SocketAddr, Endpoints, Option<TcpListener>)>,
    plugins_enabled: Vec<(String, String, Vec<&'static str>)>,
    lameduck: Duration,
    reload: Option<ReloadConfig>,
}

/// How long a reload waits for the new config's plugins to be ready (the kubernetes plugin's
/// first sync) before giving up and keeping the running one.
const RELOAD_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// A running server: its listeners, HTTP servers and the tasks serving them.
pub struct Running {
    options: Options,
    metrics: Arc<ServerMetrics>,
    readiness: Arc<Readiness>,
    listeners: BTreeMap<SocketAddr, LiveListener>,
    admin: BTreeMap<SocketAddr, LiveAdmin>,
    /// The hash of the Corefile text last tried (good or not), for the `reload` poll.
    tried_hash: String,
    /// The longest `health { lameduck }` of the Corefile.
    lameduck: Duration,
    /// `reload`, if the Corefile has it (the first block's).
    reload: Option<ReloadConfig>,
    tasks: JoinSet<()>,
}

/// Read and parse the Corefile, with the hash of the text read (also when it does not parse).
fn read_corefile(path: &std::path::Path) -> Result<(Corefile, String), (ConfigErrors, String)> {
    let text = Corefile::read(path).map_err(|errors| (errors, String::new()))?;
    let hash = crate::reload::digest(text.as_bytes());
    match Corefile::parse_at(path, &text) {
        Ok(corefile) => Ok((corefile, hash)),
        Err(errors) => Err((errors, hash)),
    }
}

/// Read, parse and plan the Corefile at `conf` as start-up would, without binding a socket or
/// starting a plugin (`-validate`): every error found, each as `FILE:LINE: what is wrong`.
pub fn validate(conf: &std::path::Path, default_port: u16) -> Result<(), ConfigErrors> {
    let (corefile, _) = read_corefile(conf).map_err(|(errors, _)| errors)?;
    plan(&corefile, default_port).map(|_| ())
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
async fn build(
    corefile: &Corefile,
    hash: String,
    options: &Options,
    metrics: &Arc<ServerMetrics>,
    live: &BTreeMap<SocketAddr, LiveListener>,
    live_admin: &BTreeMap<SocketAddr, LiveAdmin>,
) -> Result<Built, RunError> {
    let plan = plan(corefile, options.default_port)?;
    // `health`, `ready` and `prometheus` addresses: one HTTP server each, shared by every
    // block naming it.
    let mut admin_servers: BTreeMap<SocketAddr, Endpoints> = BTreeMap::new();
    let mut lameduck = Duration::ZERO;
    let mut reload = None;
    let mut http_origins: BTreeMap<SocketAddr, String> = BTreeMap::new();
    for block in &plan.blocks {
        for (addr, origin) in &block.http_origins {
            http_origins.entry(*addr).or_insert_with(|| origin.clone());
        }
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
        reload = reload.or(block.reload);
    }
    // The `server` label of each block: that of its first listener.
    let mut block_server = vec![String::new(); plan.blocks.len()];
    for ((bind, port), zones) in plan.listeners.iter().rev() {
        for (_, block) in zones {
            block_server[*block] = server_label(bind.first().copied(), *port);
        }
    }
    let mut chains = Vec::with_capacity(plan.blocks.len());
    for (block, server) in plan.blocks.into_iter().zip(block_server) {
        let context = StartContext {
            metrics: metrics.clone(),
            server,
        };
        let mut plugins = Vec::with_capacity(block.plugins.len());
        for setup in block.plugins {
            plugins.push(setup.start(&context).await?);
        }
        chains.push(Arc::new(Chain::new(plugins)));
    }
    let mut admin = Vec::with_capacity(admin_servers.len());
    for (addr, endpoints) in admin_servers {
        let fresh = if live_admin.contains_key(&addr) {
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
                }
            })
            .collect();
        let dropped = Arc::new(metrics.zone(&server, "dropped", &[]));
        let router = Arc::new(Router::with_metrics(
            routes,
            Some(metrics.panics.clone()),
            Some(dropped),
        ));
        for requested in addresses(&bind, port) {
            let fresh = if live.contains_key(&requested) {
                None
            } else {
                Some(bind_listener(requested, options.udp_workers, &router)?)
            };
            listeners.push(BuiltListener {
                requested,
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
        reload,
    })
}

impl Running {
    /// Serve `built` in place of what runs: routers of kept addresses are swapped (queries
    /// already dispatched finish on the chain they started on), new addresses start serving,
    /// dropped ones stop.
    fn commit(&mut self, built: Built) {
        let Built {
            hash,
            chains,
            listeners,
            admin,
            plugins_enabled,
            lameduck,
            reload,
        } = built;
        // The metrics first: a client that sees the new answers sees the new version too.
        self.metrics.set_plugins_enabled(&plugins_enabled);
        self.metrics.set_config_version(&hash);
        tracing::info!("plugin/reload: Running configuration SHA512 = {hash}");
        let mut block_addresses: Vec<Vec<SocketAddr>> = vec![Vec::new(); chains.len()];
        let mut kept = BTreeMap::new();
        for listener in listeners {
            let live = match (listener.fresh, self.listeners.remove(&listener.requested)) {
                (_, Some(live)) => {
                    live.router.store(listener.router);
                    live
                }
                (Some(fresh), None) => {
                    let (stop, shutdown) = watch::channel(false);
                    let live = LiveListener {
                        bound: fresh.addr,
                        router: fresh.router(),
                        stop,
                    };
                    let zones: Vec<String> =
                        listener.router.zones().map(ToString::to_string).collect();
                    tracing::info!("serving {} on {} (udp, tcp)", zones.join(" "), fresh.addr);
                    fresh.spawn(&mut self.tasks, TcpLimits::default(), &shutdown);
                    live
                }
                (None, None) => continue,
            };
            for block in &listener.blocks {
                block_addresses[*block].push(live.bound);
            }
            kept.insert(listener.requested, live);
        }
        for (addr, dropped) in std::mem::replace(&mut self.listeners, kept) {
            tracing::info!("no longer serving on {addr}");
            let _ = dropped.stop.send(true);
        }
        let mut kept_admin = BTreeMap::new();
        for (addr, endpoints, fresh) in admin {
            let live = match (fresh, self.admin.remove(&addr)) {
                (_, Some(live)) => {
                    live.endpoints.set(endpoints);
                    live
                }
                (Some(listener), None) => {
                    let (stop, shutdown) = watch::channel(false);
                    let shared = Arc::new(SharedEndpoints::new(endpoints));
                    admin::spawn(
                        listener,
                        shared.clone(),
                        self.readiness.clone(),
                        self.metrics.clone(),
                        &mut self.tasks,
                        shutdown,
                    );
                    LiveAdmin {
                        endpoints: shared,
                        stop,
                    }
                }
                (None, None) => continue,
            };
            kept_admin.insert(addr, live);
        }
        for (_, dropped) in std::mem::replace(&mut self.admin, kept_admin) {
            let _ = dropped.stop.send(true);
        }
        for (chain, addresses) in chains.iter().zip(&block_addresses) {
            chain.on_listening(addresses);
        }
        self.readiness.set_chains(chains);
        self.tried_hash = hash;
        self.lameduck = lameduck;
        self.reload = reload;
        // Reap the tasks of listeners stopped by earlier reloads.
        while self.tasks.try_join_next().is_some() {}
    }

    /// Reload the Corefile: parse, start and bind the new config, wait for its plugins to be
    /// ready, then swap it in. On any failure the running config keeps serving, each error is
    /// logged with its FILE:LINE and `coredns_reload_failed_total` counts it.
    pub async fn reload(&mut self) -> Result<(), RunError> {
        let result = self.try_reload().await;
        if let Err(e) = &result {
            self.metrics.reload_failed.inc();
            for line in e.to_string().lines() {
                tracing::error!("plugin/reload: Corefile changed but reload failed: {line}");
            }
        }
        result
    }

    async fn try_reload(&mut self) -> Result<(), RunError> {
        let (corefile, hash) = match read_corefile(&self.options.conf) {
            Ok(read) => read,
            Err((errors, hash)) => {
                // The same bad text is not tried again by the poll; a signal retries it.
                if !hash.is_empty() {
                    self.tried_hash = hash;
                }
                return Err(errors.into());
            }
        };
        let built = match build(
            &corefile,
            hash.clone(),
            &self.options,
            &self.metrics,
            &self.listeners,
            &self.admin,
        )
        .await
        {
            Ok(built) => built,
            Err(e @ RunError::Config(_)) => {
                self.tried_hash = hash;
                return Err(e);
            }
            // Start and bind failures may pass (a port freed, the API back): the poll retries.
            Err(e) => return Err(e),
        };
        let deadline = tokio::time::Instant::now() + RELOAD_READY_TIMEOUT;
        loop {
            let not_ready: Vec<&str> = built.chains.iter().flat_map(|c| c.not_ready()).collect();
            if not_ready.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RunError::NotReady(not_ready.join(", ")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.commit(built);
        tracing::info!("plugin/reload: reloading complete");
        Ok(())
    }

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
        for listener in self.listeners.values() {
            let _ = listener.stop.send(true);
        }
        for admin in self.admin.values() {
            let _ = admin.stop.send(true);
        }
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
    let (corefile, hash) = read_corefile(&options.conf).map_err(|(errors, _)| errors)?;
    let metrics = Arc::new(ServerMetrics::new());
    let built = build(
        &corefile,
        hash,
        options,
        &metrics,
        &BTreeMap::new(),
        &BTreeMap::new(),
    )
    .await?;
    let mut running = Running {
        options: options.clone(),
        readiness: Arc::new(Readiness::new(Vec::new())),
        metrics,
        listeners: BTreeMap::new(),
        admin: BTreeMap::new(),
        tried_hash: String::new(),
        lameduck: Duration::ZERO,
        reload: None,
        tasks: JoinSet::new(),
    };
    running.commit(built);
    Ok(running)
}

/// Start, serve (reloading on SIGHUP, SIGUSR1 and, with `reload`, a changed Corefile) until
/// `shutdown` completes, then stop.
pub async fn run(options: Options, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let mut triggers = ReloadTriggers::install().map_err(RunError::Signals)?;
    let mut running = start(&options).await?;
    tokio::pin!(shutdown);
    loop {
        let conf = running.options.conf.clone();
        let tried = running.tried_hash.clone();
        tokio::select! {
            () = &mut shutdown => break,
            trigger = triggers.next(running.reload, &conf, &tried) => {
                match trigger {
                    Trigger::Signal(name) => tracing::info!("plugin/reload: {name}: reloading"),
                    Trigger::Changed => tracing::info!("plugin/reload: Corefile changed: reloading"),
                }
                let _ = running.reload().await;
            }
        }
    }
    tracing::info!("shutting down");
    running.shut_down(Duration::from_secs(5)).await;
    Ok(())
}
