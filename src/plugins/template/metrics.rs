//! The `template` plugin's metric families (`coredns_template_*`), with CoreDNS's names and
//! labels. Series are created when a template first matches or fails.

use std::any::Any;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MatchLabels {
    server: String,
    zone: String,
    view: String,
    class: String,
    #[prometheus(flatten)]
    kind: TypeLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    server: String,
    zone: String,
    view: String,
    class: String,
    #[prometheus(flatten)]
    kind: TypeLabel,
    section: String,
    template: String,
}

/// `coredns_template_matches_total`, `_template_failures_total`, `_rr_failures_total`.
#[derive(Debug, Default)]
pub struct TemplateFamilies {
    matches: Family<MatchLabels, Counter>,
    template_failures: Family<FailureLabels, Counter>,
    rr_failures: Family<FailureLabels, Counter>,
}

/// Create and register the families.
pub fn register(registry: &mut Registry) -> Arc<dyn Any + Send + Sync> {
    let families = TemplateFamilies::default();
    let template = registry.sub_registry_with_prefix("template");
    template.register(
        "matches",
        "Counter of template regex matches.",
        families.matches.clone(),
    );
    template.register(
        "template_failures",
        "Counter of go template failures.",
        families.template_failures.clone(),
    );
    template.register(
        "rr_failures",
        "Counter of mis-templated RRs.",
        families.rr_failures.clone(),
    );
    Arc::new(families)
}

/// What a template's counts are about: the listener, the zone matched and the question's class
/// and type (the template's own where the question asked ANY).
#[derive(Clone, Copy, Debug)]
pub struct Labels<'a> {
    /// The `server` label of the listener.
    pub server: &'a str,
    /// The zone matched.
    pub zone: &'a str,
    /// Class name.
    pub class: &'a str,
    /// Type name.
    pub qtype: &'a str,
}

/// Why a record template failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Rendering failed (`template_failures`).
    Render,
    /// The rendered text is not a resource record (`rr_failures`).
    Record,
}

impl TemplateFamilies {
    /// Count a match.
    pub fn matched(&self, labels: Labels<'_>) {
        self.matches
            .get_or_create(&MatchLabels {
                server: labels.server.into(),
                zone: labels.zone.into(),
                view: String::new(),
                class: labels.class.into(),
                kind: TypeLabel {
                    r#type: labels.qtype.into(),
                },
            })
            .inc();
    }

    /// Count a failure of the template `source` of `section`.
    pub fn failed(&self, failure: Failure, labels: Labels<'_>, section: &str, source: &str) {
        let family = match failure {
            Failure::Render => &self.template_failures,
            Failure::Record => &self.rr_failures,
        };
        family
            .get_or_create(&FailureLabels {
                server: labels.server.into(),
                zone: labels.zone.into(),
                view: String::new(),
                class: labels.class.into(),
                kind: TypeLabel {
                    r#type: labels.qtype.into(),
                },
                section: section.into(),
                template: source.into(),
            })
            .inc();
    }
}
