//! The `file` plugin: authoritative answers from RFC 1035 zone files, as CoreDNS's `file`
//! gives them ([`zone`] has the lookup). A CNAME out of the zone is followed through the whole
//! server. The file is checked every `reload` period and a zone whose SOA serial changed is
//! swapped in; one that no longer parses is logged and the last good one kept.

pub mod setup;
pub mod zone;

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use hickory_proto::rr::{DNSClass, Name};

pub use setup::FileConfig;

use self::zone::Zone;
use crate::plugin::file_poll::poll_file;
use crate::plugin::{
    AbortOnDrop, Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `file` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: true,
    requires: None,
};

const NAME: &str = "file";

impl Setup for FileConfig {
    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        let zones: Arc<Vec<(Name, ArcSwapOption<Zone>)>> = Arc::new(
            self.zones
                .into_iter()
                .map(|(origin, zone)| (origin, ArcSwapOption::new(zone)))
                .collect(),
        );
        let reload = (!self.reload.is_zero()).then(|| {
            let (zones, path) = (zones.clone(), self.path.clone());
            poll_file(self.path.clone(), self.reload, move || {
                for (origin, slot) in zones.iter() {
                    let current = slot.load_full();
                    let serial = current.as_ref().map(|z| z.serial());
                    match Zone::load(&path, origin) {
                        Ok(fresh) if Some(fresh.serial()) != serial => {
                            tracing::info!(
                                "plugin/file: Successfully reloaded zone {origin} in {} with serial {}",
                                path.display(),
                                fresh.serial()
                            );
                            slot.store(Some(Arc::new(fresh)));
                        }
                        Ok(_) => {}
                        Err(e) => tracing::error!(
                            "plugin/file: cannot reload zone {origin}, keeping {}: {e}",
                            serial.map_or("no data (SERVFAIL)".to_string(), |s| format!("serial {s}"))
                        ),
                    }
                }
            })
        });
        started(File {
            zones,
            _reload: reload,
        })
    }
}

/// The running plugin.
#[derive(Debug)]
pub struct File {
    /// Each zone's origin and its data (none while the file could not be read).
    zones: Arc<Vec<(Name, ArcSwapOption<Zone>)>>,
    _reload: Option<AbortOnDrop>,
}

impl Plugin for File {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let Some((_, slot)) = self
            .zones
            .iter()
            .filter(|(origin, _)| origin.zone_of(&request.name))
            .max_by_key(|(origin, _)| origin.num_labels())
        else {
            return next.serve(request, resolver);
        };
        let Some(zone) = slot.load_full() else {
            return Served::Ready(Answer::server_failure(
                NAME,
                "the zone file could not be read yet",
            ));
        };
        let found = zone.lookup(&request.name, request.qtype);
        let mut answer = Answer::rcode(found.rcode, NAME);
        answer.authoritative = found.authoritative;
        answer.answers = found.answers;
        answer.authority = found.authority;
        answer.additional = found.additional;
        let Some(target) = found.outside else {
            return Served::Ready(answer);
        };
        if request.has_passed(&target) || request.depth() >= 8 {
            return Served::Ready(answer);
        }
        resolver
            .resolve(&request.derived(target, request.qtype))
            .map(move |chased| {
                answer.rcode = chased.rcode;
                answer.answers.extend(chased.answers);
                answer
            })
    }

    fn serves_class(&self, class: DNSClass) -> bool {
        class == DNSClass::IN
    }
}

#[cfg(test)]
mod tests;
