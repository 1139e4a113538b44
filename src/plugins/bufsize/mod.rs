//! The `bufsize` directive: the largest EDNS UDP size a client's query keeps, as CoreDNS's
//! `bufsize` lowers the requester's advertised size. A block setting applied by the router
//! before the chain runs: the plugins and the response's truncation see the lowered size
//! (`forward` offers its upstreams 1232 octets whatever it is).

pub mod setup;

pub use setup::BufsizeConfig;

use crate::plugin::{BlockSettings, Definition, Setup, StartContext, StartFuture, no_plugin};

/// `bufsize` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

impl Setup for BufsizeConfig {
    fn configure(&self, block: &mut BlockSettings) {
        block.bufsize = Some(self.size);
    }

    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        no_plugin()
    }
}
