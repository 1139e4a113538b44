//! clusterdns: a cluster-aware DNS server that answers the Kubernetes cluster zone
//! (the Kubernetes DNS-Based Service Discovery specification) and is configured with a
//! CoreDNS-style `Corefile`.
//!
//! # Layout
//!
//! A query flows one way: socket → [`server`] (precheck) → the zone's [`plugin::Chain`] →
//! a plugin ([`plugins::kubernetes`] reads the [`cluster`] index) → response → socket.
//!
//! - [`config`]: the Corefile lexer and parser: text in, server blocks and directives out. No
//!   sockets, no cluster access.
//! - [`plugin`]: the [`plugin::Plugin`] trait, the chain, the request and answer types.
//! - [`plugins`]: one module per Corefile directive, and the fixed plugin order table.
//! - [`cluster`]: the in-memory index of stripped cluster objects and the sources feeding it.
//! - [`server`]: UDP and TCP listeners, the request checks, EDNS and truncation, dispatch.
//! - [`admin`]: the HTTP servers of `health`, `ready` and `prometheus`.
//! - [`metrics`]: CoreDNS's metric families and the lock-free handles the query path counts in.
//! - [`logfmt`]: log lines in CoreDNS's shape.
//! - [`reload`]: when to reload the Corefile (signals, the `reload` hash check).
//! - [`run`]: wires a parsed Corefile into running servers and stops them on shutdown.

pub mod admin;
pub mod cluster;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod logfmt;
pub mod metrics;
pub mod plugin;
pub mod plugins;
pub mod reload;
pub mod run;
pub mod server;

/// The version printed by `-version` and used in the SOA and logs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
