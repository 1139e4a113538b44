//! `ready [ADDR]`: where `GET /ready` is served: 200 once every plugin of the running config is
//! ready (the `kubernetes` plugin: its first sync), else 503 with the names of those that are
//! not. The HTTP server is [`crate::admin`]'s; one server per address, shared by every
//! directive that names it.

pub mod setup;

pub use setup::ReadyConfig;

use crate::plugin::{
    BlockSettings, Definition, HttpEndpoint, Setup, StartContext, StartFuture, no_plugin,
};

/// `ready` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

impl Setup for ReadyConfig {
    fn configure(&self, block: &mut BlockSettings) {
        block.http.push((HttpEndpoint::Ready, self.0.clone()));
        block.ready_continuously |= self.1 == setup::Monitor::Continuously;
    }

    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        no_plugin()
    }
}
