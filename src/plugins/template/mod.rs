//! The `template` plugin: answers built from Go templates for the names its regexes match, as
//! CoreDNS's `template` does. Each `template` line is one instance in the chain, in the order
//! written: a question outside its zones, class or type goes on to the next plugin; inside
//! them, the first regex that matches the lower-case name renders the records (AA set, the
//! configured rcode); when none matches, `fallthrough` passes the name on, else NXDOMAIN. A
//! CNAME answered to an A or AAAA question is followed through the server and the target's
//! records appended. A template that fails to render, or renders something that is not a
//! record, answers SERVFAIL, is counted and logged at most once a minute.

pub mod engine;
pub mod metrics;
pub mod setup;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

pub use setup::TemplateConfig;

use self::engine::{Data, TemplateError, Value};
use self::metrics::{Failure, Labels, TemplateFamilies};
use self::setup::{RecordTemplate, Section};
use crate::plugin::chase::may_follow;
use crate::plugin::name_text::with_name_text;
use crate::plugin::{
    Answer, Definition, Next, Plugin, Request, Resolve, Served, Setup, StartContext, StartFuture,
    started,
};

/// `template` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: Some(metrics::register),
    repeatable: true,
    requires: None,
};

const NAME: &str = "template";

/// How often a failing template is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(60);

impl Setup for TemplateConfig {
    fn start(self: Box<Self>, context: &StartContext) -> StartFuture<'_> {
        let logged = self.records.iter().map(|_| Mutex::new(None)).collect();
        started(TemplatePlugin {
            config: *self,
            families: context.metrics.families::<TemplateFamilies>(),
            server: context.server.clone(),
            logged,
        })
    }
}

/// One running `template`.
#[derive(Debug)]
pub struct TemplatePlugin {
    config: TemplateConfig,
    families: Option<Arc<TemplateFamilies>>,
    server: String,
    /// When each record template was last logged failing.
    logged: Vec<Mutex<Option<Instant>>>,
}

/// What one matching question gives the templates.
struct QueryData<'a> {
    request: &'a Request,
    zone: String,
    name: String,
    regex: &'a str,
    matches: Vec<String>,
    groups: Vec<(String, String)>,
    class: String,
    qtype: String,
}

impl Data for QueryData<'_> {
    fn field(&self, field: &str) -> Option<Value> {
        Some(match field {
            "Zone" => Value::Str(self.zone.clone()),
            "Name" => Value::Str(self.name.clone()),
            "Regex" => Value::Str(self.regex.to_string()),
            "Match" => Value::List(self.matches.clone()),
            "Group" => Value::Map(self.groups.clone()),
            "Class" => Value::Str(self.class.clone()),
            "Type" => Value::Str(self.qtype.clone()),
            "Remote" => Value::Str(self.request.source.ip().to_canonical().to_string()),
            "Question" => Value::Str(self.question()),
            "Message" => Value::Str(self.message()),
            _ => return None,
        })
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, TemplateError>> {
        // No `metadata` plugin here: every name is empty, as in CoreDNS without it.
        (name == "Meta").then(|| match args {
            [Value::Str(_)] => Ok(Value::Str(String::new())),
            _ => Err(TemplateError(
                "wrong number of args for Meta: want 1 string".into(),
            )),
        })
    }
}

impl QueryData<'_> {
    /// The question as miekg/dns prints it.
    fn question(&self) -> String {
        format!(
            ";{}\t{}\t {}",
            self.name,
            class_name(self.request.qclass),
            self.request.qtype
        )
    }

    /// The query as miekg/dns prints a message (header, flags, the question).
    fn message(&self) -> String {
        let mut flags = Vec::new();
        if self.request.recursion_desired {
            flags.push("rd");
        }
        if self.request.checking_disabled {
            flags.push("cd");
        }
        format!(
            ";; opcode: QUERY, status: NOERROR, id: {}\n;; flags: {}; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0\n\n;; QUESTION SECTION:\n{}\n",
            self.request.id,
            flags.join(" "),
            self.question()
        )
    }
}

fn class_name(class: DNSClass) -> String {
    match class {
        DNSClass::IN => "IN".into(),
        DNSClass::CH => "CH".into(),
        DNSClass::HS => "HS".into(),
        DNSClass::NONE => "NONE".into(),
        DNSClass::ANY => "ANY".into(),
        other => format!("CLASS{}", u16::from(other)),
    }
}

/// What matching a question gave.
enum Matched<'a> {
    /// Not this template's zone, class or type, or no regex and `fallthrough`: next plugin.
    Pass,
    /// The zone's, but no regex matched and no `fallthrough`.
    NoMatch,
    /// A regex matched.
    Data(Box<QueryData<'a>>),
}

impl TemplatePlugin {
    fn matching<'a>(&'a self, request: &'a Request) -> Matched<'a> {
        let config = &self.config;
        let Some(zone) = config
            .zones
            .iter()
            .filter(|z| z.zone_of(&request.name))
            .max_by_key(|z| z.num_labels())
        else {
            return Matched::Pass;
        };
        let class_matches = config.class == DNSClass::ANY
            || request.qclass == DNSClass::ANY
            || request.qclass == config.class;
        let type_matches = config.qtype == RecordType::ANY
            || request.qtype == RecordType::ANY
            || request.qtype == config.qtype;
        if !class_matches || !type_matches {
            return Matched::Pass;
        }
        // CoreDNS matches `state.Name()`: the lower-case name with its final dot. The first
        // regex that matches wins; nothing is allocated before one does.
        let found = with_name_text(&request.name, |name| {
            config.regexes.iter().find_map(|regex| {
                if !regex.is_match(name) {
                    return None;
                }
                let matches: Vec<String> = regex
                    .captures(name)?
                    .iter()
                    .map(|m| m.map_or_else(String::new, |m| m.as_str().to_string()))
                    .collect();
                Some((regex, name.to_string(), matches))
            })
        });
        let Some((regex, name, matches)) = found else {
            return if config.fallthrough.covers(&request.name) {
                Matched::Pass
            } else {
                Matched::NoMatch
            };
        };
        let mut groups: Vec<(String, String)> = matches
            .iter()
            .enumerate()
            .map(|(i, m)| (i.to_string(), m.clone()))
            .collect();
        for (i, group) in regex.capture_names().enumerate() {
            if let (Some(group), Some(m)) = (group, matches.get(i)) {
                groups.push((group.to_string(), m.clone()));
            }
        }
        let class = if request.qclass == DNSClass::ANY {
            config.class
        } else {
            request.qclass
        };
        let qtype = if request.qtype == RecordType::ANY {
            config.qtype
        } else {
            request.qtype
        };
        Matched::Data(Box::new(QueryData {
            request,
            zone: zone.to_string(),
            name,
            regex: regex.as_str(),
            matches,
            groups,
            class: class_name(class),
            qtype: qtype.to_string(),
        }))
    }

    /// Render record template `index`, counting and logging a failure.
    fn record(&self, index: usize, data: &QueryData<'_>) -> Option<Record> {
        let record = &self.config.records[index];
        let labels = Labels {
            server: &self.server,
            zone: &data.zone,
            class: &data.class,
            qtype: &data.qtype,
        };
        let (failure, why) = match record.template.render(data) {
            Ok(text) => match parse_record(&text) {
                Ok(parsed) => return Some(parsed),
                Err(why) => (Failure::Record, format!("{text:?} is not a resource record: {why}")),
            },
            Err(e) => (Failure::Render, e.to_string()),
        };
        if let Some(families) = &self.families {
            families.failed(failure, labels, record.section.as_str(), &record.source);
        }
        self.log_failure(index, record, &why);
        None
    }

    fn log_failure(&self, index: usize, record: &RecordTemplate, why: &str) {
        let Some(slot) = self.logged.get(index) else {
            return;
        };
        let now = Instant::now();
        let mut last = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
            return;
        }
        *last = Some(now);
        tracing::error!(
            "plugin/template: {} template {:?}: {why}",
            record.section.as_str(),
            record.source
        );
    }
}

/// The single resource record of `text`, read as a zone-file line relative to the root (as
/// miekg/dns's NewRR: TTL 3600 and class IN when not written). Only a record: no `$`
/// directive, no second line.
fn parse_record(text: &str) -> Result<Record, String> {
    let line = text.trim();
    if line.contains(['\n', '\r']) || line.starts_with('$') {
        return Err("not a single record".into());
    }
    let zone = format!("$TTL 3600\n{line}\n");
    let (_, sets) = Parser::new(zone, None, Some(Name::root()))
        .parse()
        .map_err(|e| e.to_string())?;
    let mut records = sets.into_values().flat_map(|set| {
        set.records_without_rrsigs()
            .cloned()
            .collect::<Vec<Record>>()
    });
    match (records.next(), records.next()) {
        (Some(record), None) => Ok(record),
        _ => Err("not a single record".into()),
    }
}

impl Plugin for TemplatePlugin {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves_class(&self, class: DNSClass) -> bool {
        self.config.class == DNSClass::ANY || class == DNSClass::ANY || class == self.config.class
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let data = match self.matching(request) {
            Matched::Pass => return next.serve(request, resolver),
            Matched::NoMatch => {
                return Served::Ready(Answer::rcode(ResponseCode::NXDomain, NAME));
            }
            Matched::Data(data) => data,
        };
        if let Some(families) = &self.families {
            families.matched(Labels {
                server: &self.server,
                zone: &data.zone,
                class: &data.class,
                qtype: &data.qtype,
            });
        }
        if self.config.rcode == ResponseCode::ServFail {
            return Served::Ready(Answer::rcode(ResponseCode::ServFail, NAME));
        }
        let mut answer = Answer::rcode(self.config.rcode, NAME);
        answer.authoritative = true;
        let mut targets = Vec::new();
        for (index, template) in self.config.records.iter().enumerate() {
            let Some(record) = self.record(index, &data) else {
                return Served::Ready(Answer::rcode(ResponseCode::ServFail, NAME));
            };
            match template.section {
                Section::Answer => {
                    if let (RData::CNAME(target), RecordType::A | RecordType::AAAA) =
                        (&record.data, request.qtype)
                    {
                        targets.push(target.0.clone());
                    }
                    answer.answers.push(record);
                }
                Section::Additional => answer.additional.push(record),
                Section::Authority => answer.authority.push(record),
            }
        }
        chase(answer, targets, request, resolver)
    }
}

/// Append to `answer` what the server answers for each CNAME target (CoreDNS appends the
/// upstream's answer section, whatever its rcode).
fn chase(answer: Answer, targets: Vec<Name>, request: &Request, resolver: &dyn Resolve) -> Served {
    let mut served = Served::Ready(answer);
    for target in targets {
        if !may_follow(request, &target) {
            continue;
        }
        let chased = resolver.resolve(&request.derived(target, request.qtype));
        served = match (served, chased) {
            (Served::Ready(mut answer), Served::Ready(found)) => {
                answer.answers.extend(found.answers);
                Served::Ready(answer)
            }
            (served, chased) => Served::Pending(Box::pin(async move {
                let mut answer = settle(served).await;
                answer.answers.extend(settle(chased).await.answers);
                answer
            })),
        };
    }
    served
}

async fn settle(served: Served) -> Answer {
    match served {
        Served::Ready(answer) => answer,
        Served::Pending(pending) => pending.await,
    }
}

#[cfg(test)]
mod tests;
