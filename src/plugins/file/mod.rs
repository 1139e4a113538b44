//! The `file` plugin: authoritative answers from RFC 1035 zone files, as CoreDNS's `file`
//! gives them ([`zone`] has the lookup). A CNAME out of the zone is followed through the whole
//! server. The file is checked every `reload` period and a zone whose SOA serial changed is
//! swapped in; one that no longer parses is logged and the last good one kept.

pub mod setup;
pub mod zone;

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use hickory_proto::rr::DNSClass;

pub use setup::FileConfig;

use self::zone::Zone;
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
        let zones: Arc<Vec<ArcSwap<Zone>>> =
            Arc::new(self.zones.into_iter().map(ArcSwap::new).collect());
        let reload = (!self.reload.is_zero()).then(|| {
            let (zones, path, every) = (zones.clone(), self.path.clone(), self.reload);
            tokio::spawn(async move {
                let mut seen = stamp(&path);
                loop {
                    tokio::time::sleep(every).await;
                    let now = stamp(&path);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    for slot in zones.iter() {
                        let current = slot.load_full();
                        match Zone::load(&path, &current.origin) {
                            Ok(fresh) if fresh.serial() != current.serial() => {
                                tracing::info!(
                                    "plugin/file: Successfully reloaded zone {} in {} with serial {}",
                                    fresh.origin,
                                    path.display(),
                                    fresh.serial()
                                );
                                slot.store(Arc::new(fresh));
                            }
                            Ok(_) => {}
                            Err(e) => tracing::error!(
                                "plugin/file: cannot reload zone {}, keeping serial {}: {e}",
                                current.origin,
                                current.serial()
                            ),
                        }
                    }
                }
            })
        });
        started(File {
            zones,
            _reload: reload.map(AbortOnDrop),
        })
    }
}

/// The file's modification time and length, or nothing when it cannot be read.
fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The running plugin.
#[derive(Debug)]
pub struct File {
    zones: Arc<Vec<ArcSwap<Zone>>>,
    _reload: Option<AbortOnDrop>,
}

impl Plugin for File {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let zone = self
            .zones
            .iter()
            .map(ArcSwap::load)
            .filter(|z| z.origin.zone_of(&request.name))
            .max_by_key(|z| z.origin.num_labels());
        let Some(zone) = zone else {
            return next.serve(request, resolver);
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
