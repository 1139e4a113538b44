//! The set-up contract between the plugin registry and each directive: a directive's
//! `setup.rs` parses its Corefile lines into a typed config that implements [`Setup`]; the
//! config then says what it sets on its server block ([`BlockSettings`]: `bind`, the HTTP
//! endpoints, `reload`) and starts the plugin that joins the chain, if the directive has one.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use thiserror::Error;
use tokio::sync::mpsc;

use super::Plugin;
use crate::config::{ConfigError, Directive, HttpListen};
use crate::metrics::{RegisterFamilies, ServerMetrics};
use crate::reload::ReloadSchedule;

/// Parses one directive of a server block serving `zones` into its typed config. Every error
/// found is returned, each as `FILE:LINE: DIRECTIVE: what is wrong`.
pub type ParseFn = fn(&Directive, &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>>;

/// What the registry knows of a directive this build implements.
#[derive(Clone, Copy)]
pub struct Definition {
    /// Its Corefile line → its typed config.
    pub parse: ParseFn,
    /// Its metric families, if it has any.
    pub metrics: Option<RegisterFamilies>,
    /// Whether a server block may hold it more than once (`template`, `rewrite`): each
    /// instance then joins the chain, in the order written.
    pub repeatable: bool,
    /// A directive that must be in the same server block (`k8s_external` answers from the
    /// `kubernetes` plugin's data).
    pub requires: Option<&'static str>,
}

/// The future of [`Setup::start`].
pub type StartFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Arc<dyn Plugin>>, StartError>> + Send + 'a>>;

/// A directive parsed into its typed config, ready to configure its block and start.
pub trait Setup: Send + fmt::Debug {
    /// Set what the directive says about how its server block is served (listen addresses,
    /// HTTP endpoints, reload). Most directives set nothing.
    fn configure(&self, _block: &mut BlockSettings) {}

    /// Check what the directive needs of its block once every directive configured it
    /// (`autopath @kubernetes` needs `pods verified`).
    fn check(&self, _block: &BlockSettings) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Start the plugin that joins the chain (loading sources, spawning watchers); `None` for a
    /// directive that only configures the block. Runs inside the tokio runtime.
    fn start(self: Box<Self>, context: &StartContext) -> StartFuture<'_>;
}

/// A [`ParseFn`]'s result from a parser that stops at its first error.
pub fn parsed<S: Setup + 'static>(
    result: Result<S, ConfigError>,
) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    result
        .map(|setup| Box::new(setup) as Box<dyn Setup>)
        .map_err(|e| vec![e])
}

/// A [`ParseFn`]'s result from a parser that reports every error it finds.
pub fn parsed_all<S: Setup + 'static>(
    result: Result<S, Vec<ConfigError>>,
) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    result.map(|setup| Box::new(setup) as Box<dyn Setup>)
}

/// The [`StartFuture`] of a directive with no part in answering queries.
pub fn no_plugin<'a>() -> StartFuture<'a> {
    Box::pin(async { Ok(None) })
}

/// The [`StartFuture`] of a plugin built at once.
pub fn started<'a>(plugin: impl Plugin) -> StartFuture<'a> {
    let plugin: Arc<dyn Plugin> = Arc::new(plugin);
    Box::pin(async move { Ok(Some(plugin)) })
}

/// An endpoint of the HTTP servers that `health`, `ready` and `prometheus` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpEndpoint {
    /// `GET /health`.
    Health,
    /// `GET /ready`.
    Ready,
    /// `GET /metrics`.
    Metrics,
}

/// How a server block is served, as its directives set it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockSettings {
    /// `bind` addresses (empty: every address).
    pub bind: Vec<IpAddr>,
    /// HTTP endpoints and where each listens.
    pub http: Vec<(HttpEndpoint, HttpListen)>,
    /// `health { lameduck }`: how long to keep serving after SIGTERM.
    pub lameduck: Duration,
    /// `reload`: how often to check the Corefile for a change.
    pub reload: Option<ReloadSchedule>,
    /// `bufsize`: the largest EDNS UDP size a client's query keeps.
    pub bufsize: Option<u16>,
    /// `ready { monitor continuously }`: `/ready` follows the plugins after they were first
    /// ready, instead of staying 200.
    pub ready_continuously: bool,
    /// `kubernetes { pods verified }`: the block keeps an index of live pods by address.
    pub pods_verified: bool,
}

/// A plugin that failed to start.
#[derive(Debug, Error)]
#[error("{plugin}: {source}")]
pub struct StartError {
    /// The directive.
    pub plugin: &'static str,
    /// What went wrong.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StartError {
    /// `plugin` failed with `source`.
    pub fn new(
        plugin: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StartError {
        StartError {
            plugin,
            source: Box::new(source),
        }
    }
}

/// An event that stops the whole server: the run loop turns it into an orderly shutdown and
/// exit status 1 with this message (`loop` reports a forwarding loop this way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fatal(pub String);

/// Where plugins report a [`Fatal`] event.
#[derive(Clone, Debug)]
pub struct FatalSender(mpsc::UnboundedSender<Fatal>);

impl FatalSender {
    /// A sender and the receiver the run loop waits on.
    pub fn channel() -> (FatalSender, mpsc::UnboundedReceiver<Fatal>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (FatalSender(sender), receiver)
    }

    /// Stop the server with `message`. Never blocks; only the first report matters.
    pub fn report(&self, message: impl Into<String>) {
        let _ = self.0.send(Fatal(message.into()));
    }
}

/// What the plugins of one server block share once started: the cluster of its `kubernetes`
/// plugin, set when that plugin starts (plugins that start before it read it per query).
#[derive(Debug, Default)]
pub struct BlockShared {
    /// The block's `kubernetes` plugin's cluster.
    pub cluster: std::sync::OnceLock<crate::cluster::ClusterView>,
}

/// What a plugin is given when it starts.
pub struct StartContext {
    /// The process's metrics: a plugin takes its handles from its families there (so counts
    /// carry over a reload).
    pub metrics: Arc<ServerMetrics>,
    /// The `server` label of the block's first listener (`dns://:53`).
    pub server: String,
    /// Where to report an event that must stop the server.
    pub fatal: FatalSender,
    /// What the block's plugins share.
    pub block: Arc<BlockShared>,
}
