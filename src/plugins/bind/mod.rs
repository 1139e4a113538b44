//! `bind ADDRESS…`: the addresses the server block's listeners bind, instead of every address.

pub mod setup;

pub use setup::BindConfig;

use crate::plugin::{BlockSettings, Definition, Setup, StartContext, StartFuture, no_plugin};

/// `bind` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

impl Setup for BindConfig {
    fn configure(&self, block: &mut BlockSettings) {
        block.bind.clone_from(&self.addresses);
    }

    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        no_plugin()
    }
}
