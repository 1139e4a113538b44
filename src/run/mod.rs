//! Wiring: a Corefile → plugin chains → routers → bound listeners, served until shutdown.
//!
//! - [`mod@plan`]: the Corefile's blocks parsed by the plugin registry, and the listeners they
//!   ask for (also `-validate`).
//! - `build`: plugins started and listeners bound, not yet serving.
//! - this module: the running lifecycle (start, reload, fatal events, shutdown).
//!
//! Start-up order: parse everything and report every error; start the plugins (the
//! `kubernetes` plugin loads its source); bind every listener; only then serve. A failure at
//! any step stops start-up before anything is served.
//!
//! A reload goes the same way while the old config keeps serving: the new config is parsed,
//! started and its new addresses bound; only when all of that worked (and its plugins are
//! ready) are the routers of the kept addresses swapped, the new addresses served and the
//! dropped ones stopped.

mod build;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

pub use plan::{BlockPlan, Plan, plan, validate};

use crate::admin::{self, Readiness, SharedEndpoints};
use crate::config::ConfigErrors;
use crate::metrics::ServerMetrics;
use crate::plugin::{Fatal, FatalSender, StartError};
use crate::plugins;
use crate::plugins::reload::metrics::ReloadFamilies;
use crate::reload::{ReloadSchedule, ReloadTriggers, Trigger};
use crate::server::{PendingLimit, SharedRouter, TcpLimits};
use build::{Built, build};
use plan::read_corefile;

/// How clusterdns was asked to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The Corefile.
    pub conf: PathBuf,
    /// The port of server blocks that name none (`-dns.port`).
    pub default_port: u16,
    /// UDP sockets (and loops) per listener; default: one per CPU.
    pub udp_workers: usize,
    /// Answers in flight per listener (`-max-pending`); past it, REFUSED at once.
    pub max_pending: usize,
    /// TCP connections open at once per listener (`-max-tcp-connections`), a quarter of them
    /// per client address.
    pub max_tcp_connections: usize,
}

/// Why clusterdns could not start.
#[derive(Debug, Error)]
pub enum RunError {
    /// The Corefile is wrong.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A plugin could not start.
    #[error("{0}")]
    Start(#[from] StartError),
    /// A plugin stopped the server (`loop`).
    #[error("{}", .0.0)]
    Fatal(Fatal),
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

/// A DNS listener being served: the address it was asked for, the address bound, its router
/// (swapped on reload) and its own stop switch (a reload that drops it stops only it).
struct LiveListener {
    bound: SocketAddr,
    router: SharedRouter,
    /// Its answers in flight, waited for at shutdown.
    pending: PendingLimit,
    stop: watch::Sender<bool>,
}

/// An HTTP server of `health`, `ready` or `prometheus` being served.
struct LiveAdmin {
    endpoints: Arc<SharedEndpoints>,
    stop: watch::Sender<bool>,
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
    reload: Option<ReloadSchedule>,
    tasks: JoinSet<()>,
    /// Given to every plugin started, for events that must stop the server.
    fatal_sender: FatalSender,
    fatal: mpsc::UnboundedReceiver<Fatal>,
}

impl Running {
    /// The addresses served now (DNS, then HTTP), for a build that must reuse them.
    fn live_addresses(&self) -> (BTreeSet<SocketAddr>, BTreeSet<SocketAddr>) {
        (
            self.listeners.keys().copied().collect(),
            self.admin.keys().copied().collect(),
        )
    }

    /// The next fatal event a plugin reports.
    pub async fn fatal(&mut self) -> Fatal {
        match self.fatal.recv().await {
            Some(fatal) => fatal,
            // `fatal_sender` lives as long as `self`: the channel cannot close.
            None => std::future::pending().await,
        }
    }

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
            ready_continuously,
            reload,
        } = built;
        // The metrics first: a client that sees the new answers sees the new version too.
        self.metrics.set_plugins_enabled(&plugins_enabled);
        if let Some(reload) = self.metrics.families::<ReloadFamilies>() {
            reload.set_version(&hash);
        }
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
                    let counted = self.metrics.pending(&listener.server);
                    let pending = PendingLimit::new(self.options.max_pending, counted);
                    let live = LiveListener {
                        bound: fresh.addr,
                        router: fresh.router(),
                        pending: pending.clone(),
                        stop,
                    };
                    let zones: Vec<String> =
                        listener.router.zones().map(ToString::to_string).collect();
                    tracing::info!("serving {} on {} (udp, tcp)", zones.join(" "), fresh.addr);
                    let tcp = TcpLimits::with_max_connections(self.options.max_tcp_connections);
                    fresh.spawn(&mut self.tasks, tcp, pending, &shutdown);
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
        self.readiness.set_chains(chains, ready_continuously);
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
            if let Some(reload) = self.metrics.families::<ReloadFamilies>() {
                reload.failed.inc();
            }
            for line in e.to_string().lines() {
                tracing::error!("plugin/reload: Corefile changed but reload failed: {line}");
            }
        }
        result
    }

    async fn try_reload(&mut self) -> Result<(), RunError> {
        let (corefile, hash) = match read_corefile(&self.options.conf, self.options.default_port) {
            Ok(read) => read,
            Err((errors, hash)) => {
                // The same bad text is not tried again by the poll; a signal retries it.
                if !hash.is_empty() {
                    self.tried_hash = hash;
                }
                return Err(errors.into());
            }
        };
        let (live, live_admin) = self.live_addresses();
        let built = match build(
            &corefile,
            hash.clone(),
            &self.options,
            &self.metrics,
            &self.fatal_sender,
            &live,
            &live_admin,
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

    /// Stop accepting, and wait up to `grace` for the tasks to end and for every answer in
    /// flight (a query received before the listeners closed) to be sent.
    pub async fn stop(mut self, grace: Duration) {
        for listener in self.listeners.values() {
            let _ = listener.stop.send(true);
        }
        for admin in self.admin.values() {
            let _ = admin.stop.send(true);
        }
        let in_flight: Vec<PendingLimit> =
            self.listeners.values().map(|l| l.pending.clone()).collect();
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
            for pending in &in_flight {
                pending.drained().await;
            }
        })
        .await;
        if drained.is_err() {
            self.tasks.abort_all();
        }
    }
}

/// Start everything `options` describes. Must run inside the tokio runtime.
pub async fn start(options: &Options) -> Result<Running, RunError> {
    let (corefile, hash) =
        read_corefile(&options.conf, options.default_port).map_err(|(errors, _)| errors)?;
    let metrics = Arc::new(ServerMetrics::new(&plugins::metric_families()));
    let (fatal_sender, fatal) = FatalSender::channel();
    let built = build(
        &corefile,
        hash,
        options,
        &metrics,
        &fatal_sender,
        &BTreeSet::new(),
        &BTreeSet::new(),
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
        fatal_sender,
        fatal,
    };
    running.commit(built);
    Ok(running)
}

/// Start, serve (reloading on SIGHUP, SIGUSR1 and, with `reload`, a changed Corefile) until
/// `shutdown` completes, then stop. A fatal event of a plugin stops the server the same way,
/// without the lameduck wait, and is returned as [`RunError::Fatal`] (exit status 1).
pub async fn run(options: Options, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let mut triggers = ReloadTriggers::install().map_err(RunError::Signals)?;
    let mut running = start(&options).await?;
    tokio::pin!(shutdown);
    loop {
        let conf = running.options.conf.clone();
        let tried = running.tried_hash.clone();
        let schedule = running.reload;
        tokio::select! {
            () = &mut shutdown => break,
            fatal = running.fatal() => {
                tracing::info!("shutting down: {}", fatal.0);
                running.stop(Duration::from_secs(1)).await;
                return Err(RunError::Fatal(fatal));
            }
            trigger = triggers.next(schedule, &conf, &tried) => {
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
