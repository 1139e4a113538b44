//! Rewrite rules in a chain: the next plugin answers the name it is asked (A 10.0.0.1, and a
//! CNAME for `alias.` names), so what reached it and what came back both show.

use std::path::Path;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::*;
use crate::config::Corefile;
use crate::plugin::Chain;
use crate::plugin::testing::{NoResolver, answer, request};

/// Answers every question with its own name: A 10.0.0.1 (a CNAME to `target.<zone>` first
/// for names starting with `alias.`), NXDOMAIN for names starting with `none.`; the type and
/// class it was asked go in a TXT-free way into `error`.
struct Echo;

impl Plugin for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn serves_class(&self, _class: DNSClass) -> bool {
        true
    }

    fn serve(&self, request: &Request, _next: Next<'_>, _resolver: &dyn Resolve) -> Served {
        let text = request.name.to_ascii();
        if text.starts_with("none.") {
            return Served::Ready(Answer::rcode(ResponseCode::NXDomain, "echo"));
        }
        let mut answer = Answer::rcode(ResponseCode::NoError, "echo");
        let mut owner = request.name.clone();
        if let Some(rest) = text.strip_prefix("alias.") {
            let target = Name::from_ascii(format!("target.{rest}")).expect("name");
            answer.answers.push(Record::from_rdata(
                owner.clone(),
                5,
                RData::CNAME(CNAME(target.clone())),
            ));
            owner = target;
        }
        answer
            .answers
            .push(Record::from_rdata(owner, 5, RData::A(A::new(10, 0, 0, 1))));
        answer.error = Some(format!("{} {:?}", request.qtype, request.qclass));
        Served::Ready(answer)
    }
}

fn rules(text: &str) -> Chain {
    let core = Corefile::parse("Corefile", &format!(".:53 {{\n{text}\n}}\n"), Path::new("."))
        .expect("syntax");
    let mut plugins: Vec<Arc<dyn Plugin>> = core.blocks[0]
        .directives
        .iter()
        .map(|d| {
            Arc::new(Rewrite {
                config: setup::config(d).expect("valid"),
            }) as Arc<dyn Plugin>
        })
        .collect();
    plugins.push(Arc::new(Echo));
    Chain::new(plugins)
}

fn ask_class(chain: &Chain, name: &str, qtype: RecordType, qclass: DNSClass) -> Answer {
    let mut request = request(name, qtype);
    request.qclass = qclass;
    answer(chain, &request, &NoResolver)
}

fn ask(chain: &Chain, name: &str) -> Answer {
    ask_class(chain, name, RecordType::A, DNSClass::IN)
}

fn texts(answer: &Answer) -> Vec<String> {
    answer.answers.iter().map(ToString::to_string).collect()
}

#[test]
fn aks_custom_rewrite_answers_under_the_asked_name() {
    let chain = rules(
        "rewrite stop {\n  name regex (.*)\\.example.com {1}.default.svc.cluster.local\n  answer name (.*)\\.default\\.svc\\.cluster\\.local {1}.example.com\n}",
    );
    assert_eq!(
        texts(&ask(&chain, "web.example.com.")),
        ["web.example.com. 5 IN A 10.0.0.1"]
    );
    assert_eq!(
        texts(&ask(&chain, "web.example.org.")),
        ["web.example.org. 5 IN A 10.0.0.1"],
        "not matched: untouched"
    );
}

#[test]
fn gardener_search_path_rewrite_reverts_names_and_values() {
    let chain = rules(
        "rewrite stop {\n  name regex (^(?:[^\\.]+\\.)+)svc\\.cluster\\.local\\.svc\\.cluster\\.local {1}svc.cluster.local\n  answer name (^(?:[^\\.]+\\.)+)svc\\.cluster\\.local {1}svc.cluster.local.svc.cluster.local\n  answer value (^(?:[^\\.]+\\.)+)svc\\.cluster\\.local {1}svc.cluster.local.svc.cluster.local\n}",
    );
    assert_eq!(
        texts(&ask(
            &chain,
            "alias.default.svc.cluster.local.svc.cluster.local."
        )),
        [
            "alias.default.svc.cluster.local.svc.cluster.local. 5 IN CNAME target.default.svc.cluster.local.svc.cluster.local.",
            "target.default.svc.cluster.local.svc.cluster.local. 5 IN A 10.0.0.1"
        ]
    );
}

#[test]
fn exact_rules_revert_by_themselves_and_stop_skips_later_rules() {
    let chain = rules("rewrite name red.example. blue.example.\nrewrite name blue.example. green.example.");
    assert_eq!(
        texts(&ask(&chain, "RED.example.")),
        ["red.example. 5 IN A 10.0.0.1"],
        "blue came back as red; the second rule was skipped (stop)"
    );
    let chain = rules(
        "rewrite continue name red.example. blue.example.\nrewrite name blue.example. green.example.",
    );
    assert_eq!(
        texts(&ask(&chain, "red.example.")),
        ["red.example. 5 IN A 10.0.0.1"],
        "with continue both ran, and both reverted"
    );
}

#[test]
fn suffix_with_answer_auto_and_substring() {
    let chain = rules("rewrite name suffix .schmoogle.com. .google.com. answer auto");
    assert_eq!(
        texts(&ask(&chain, "alias.www.schmoogle.com.")),
        [
            "alias.www.schmoogle.com. 5 IN CNAME target.www.schmoogle.com.",
            "target.www.schmoogle.com. 5 IN A 10.0.0.1"
        ]
    );
    let chain = rules("rewrite name substring us-west-1.example.org us-west-1.consul");
    assert_eq!(
        texts(&ask(&chain, "ftp.service.us-west-1.example.org.")),
        ["ftp.service.us-west-1.consul. 5 IN A 10.0.0.1"],
        "no answer rule: the rewritten name shows, as in CoreDNS"
    );
}

#[test]
fn type_class_ttl_and_rcode_rules() {
    let chain = rules("rewrite type ANY HINFO");
    let answer = ask_class(&chain, "x.example.", RecordType::ANY, DNSClass::IN);
    assert_eq!(answer.error.as_deref(), Some("HINFO IN"));
    let chain = rules("rewrite class CH IN");
    let answer = ask_class(&chain, "x.example.", RecordType::A, DNSClass::CH);
    assert_eq!(answer.error.as_deref(), Some("A IN"));
    let chain = rules("rewrite continue {\n  ttl regex (.*)\\.coredns\\.rocks 15\n}");
    assert_eq!(
        texts(&ask(&chain, "a.coredns.rocks.")),
        ["a.coredns.rocks. 15 IN A 10.0.0.1"]
    );
    let chain = rules("rewrite rcode prefix none. NXDOMAIN REFUSED");
    assert_eq!(ask(&chain, "none.example.").rcode, ResponseCode::Refused);
    assert_eq!(ask(&chain, "some.example.").rcode, ResponseCode::NoError);
}

#[test]
fn a_rewrite_to_something_that_is_not_a_name_is_servfail() {
    let chain = rules(&format!(
        "rewrite name regex (.*)\\.long\\. {{1}}.{}.",
        "x".repeat(70)
    ));
    let answer = ask(&chain, "a.long.");
    assert_eq!(answer.rcode, ResponseCode::ServFail);
    assert_eq!(answer.plugin, "rewrite");
}

#[test]
fn idna_names_are_matched_and_rewritten_in_their_ascii_form() {
    let owners = |answer: &Answer| -> Vec<String> {
        answer.answers.iter().map(|r| r.name.to_ascii()).collect()
    };
    // The next plugin is asked the rewritten name (no `answer`: the answer keeps it).
    let chain = rules("rewrite name suffix .example.org. .example.com.");
    let answer = ask(&chain, "xn--bcher-kva.example.org.");
    assert_eq!(answer.rcode, ResponseCode::NoError, "{:?}", answer.error);
    assert_eq!(owners(&answer), ["xn--bcher-kva.example.com."]);
    // `answer auto` rewrites it back to the name asked.
    let chain = rules("rewrite name suffix .example.org. .example.com. answer auto");
    assert_eq!(
        owners(&ask(&chain, "xn--bcher-kva.example.org.")),
        ["xn--bcher-kva.example.org."]
    );
    // A regex sees the ASCII form, in lower case.
    let chain = rules(
        "rewrite name regex ^xn--([a-z0-9-]+)\\.example\\.org\\.$ idn-{1}.example.com.",
    );
    assert_eq!(
        owners(&ask(&chain, "XN--bcher-kva.example.org.")),
        ["idn-bcher-kva.example.com."]
    );
}
