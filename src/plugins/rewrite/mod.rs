//! The `rewrite` plugin: changes the question before the plugins after it see it, and the
//! response on its way back, as CoreDNS's `rewrite` does. Each `rewrite` line is one rule and
//! one instance in the chain, in the order written; a rule that matched in `stop` mode (the
//! default) skips the rewrite rules after it. The client always sees its own question; the
//! answers' names are put back by an `exact` rule, `answer auto`, `answer name` and
//! `answer value`.

pub mod rules;
pub mod setup;

use hickory_proto::rr::Name;

pub use setup::RewriteConfig;

use self::rules::ResponseRule;
use self::setup::{Change, Mode};
use crate::plugin::name_text::with_name_text;
use crate::plugin::{
    Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `rewrite` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: true,
    requires: None,
};

const NAME: &str = "rewrite";

impl Setup for RewriteConfig {
    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        started(Rewrite { config: *self })
    }
}

/// One running rule.
#[derive(Debug)]
pub struct Rewrite {
    config: RewriteConfig,
}

impl Rewrite {
    /// The question as this rule changes it, or `None` when the rule does not match; an error
    /// when the new name is not a name.
    fn rewritten(&self, request: &Request) -> Option<Result<Request, String>> {
        match &self.config.change {
            Change::Name(matcher, to) => {
                let new = with_name_text(&request.name, |name| matcher.rewrite(name, to))?;
                Some(match Name::from_ascii(&new) {
                    Ok(new) if new.is_fqdn() => {
                        let mut changed = request.clone();
                        changed.name = new;
                        Ok(changed)
                    }
                    _ => Err(format!("invalid name after rewrite: {new}")),
                })
            }
            Change::Type(from, to) => (request.qtype == *from).then(|| {
                let mut changed = request.clone();
                changed.qtype = *to;
                Ok(changed)
            }),
            Change::Class(from, to) => (request.qclass == *from).then(|| {
                let mut changed = request.clone();
                changed.qclass = *to;
                Ok(changed)
            }),
            Change::Nothing(matcher) => with_name_text(&request.name, |name| matcher.matches(name))
                .then(|| Ok(request.clone())),
        }
    }
}

fn revert(mut answer: Answer, rules: &[ResponseRule]) -> Answer {
    for rule in rules {
        rule.apply(
            &mut answer.rcode,
            [
                &mut answer.answers,
                &mut answer.authority,
                &mut answer.additional,
            ],
        );
    }
    answer
}

impl Plugin for Rewrite {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves_class(&self, _class: hickory_proto::rr::DNSClass) -> bool {
        // `rewrite class CH IN` must see CH questions.
        true
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let changed = match self.rewritten(request) {
            None => return next.serve(request, resolver),
            Some(Ok(changed)) => changed,
            Some(Err(error)) => {
                tracing::error!("plugin/rewrite: {error}");
                return Served::Ready(Answer::server_failure(NAME, error));
            }
        };
        let next = match self.config.mode {
            Mode::Stop => next.after(NAME),
            Mode::Continue => next,
        };
        match next.serve(&changed, resolver) {
            served if self.config.response.is_empty() => served,
            Served::Ready(answer) => Served::Ready(revert(answer, &self.config.response)),
            pending => {
                let rules = self.config.response.clone();
                pending.map(move |answer| revert(answer, &rules))
            }
        }
    }
}

#[cfg(test)]
mod tests;
