//! `prometheus [ADDR]`: where `GET /metrics` is served: the process's metrics in the Prometheus
//! text format, with CoreDNS's names. The HTTP server is [`crate::admin`]'s; one server per
//! address, shared by every directive that names it.

pub mod setup;

pub use setup::PrometheusConfig;

use crate::plugin::{
    BlockSettings, Definition, HttpEndpoint, Setup, StartContext, StartFuture, no_plugin,
};

/// `prometheus` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

impl Setup for PrometheusConfig {
    fn configure(&self, block: &mut BlockSettings) {
        block.http.push((HttpEndpoint::Metrics, self.0.clone()));
    }

    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        no_plugin()
    }
}
