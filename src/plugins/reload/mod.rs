//! `reload [INTERVAL [JITTER]]`: how often the Corefile is checked for a change. The reload
//! itself is [`crate::reload`]'s and [`crate::run`]'s; the directive only sets the schedule.

pub mod metrics;
pub mod setup;

use crate::plugin::{BlockSettings, Definition, Setup, StartContext, StartFuture, no_plugin};
use crate::reload::ReloadSchedule;

/// `reload` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: Some(metrics::register),
    repeatable: false,
    requires: None,
};

impl Setup for ReloadSchedule {
    fn configure(&self, block: &mut BlockSettings) {
        block.reload = Some(*self);
    }

    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        no_plugin()
    }
}
