//! The `template` plugin on the query path: CoreDNS's template_test.go cases, AKS's blocks and
//! the AAAA filter, through a chain whose next plugin answers REFUSED (a fall-through shows).

use std::path::Path;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::*;
use crate::config::Corefile;
use crate::metrics::ServerMetrics;
use crate::plugin::Chain;
use crate::plugin::testing::{answer, request};

/// The plugin after the templates: REFUSED, so that a fall-through is seen.
struct Refuser;

impl Plugin for Refuser {
    fn name(&self) -> &'static str {
        "next"
    }

    fn serve(&self, _request: &Request, _next: Next<'_>, _resolver: &dyn Resolve) -> Served {
        Served::Ready(Answer::rcode(ResponseCode::Refused, "next"))
    }
}

/// Answers every A question with 192.0.2.53 (the server, for CNAME chasing).
struct Server;

impl Resolve for Server {
    fn resolve(&self, request: &Request) -> Served {
        let mut answer = Answer::rcode(ResponseCode::NoError, "server");
        answer.answers.push(Record::from_rdata(
            request.name.clone(),
            30,
            RData::A(A::new(192, 0, 2, 53)),
        ));
        Served::Ready(answer)
    }
}

/// The templates of a `test.:53` block (`text`, one directive per `template`), then REFUSED.
fn chain(text: &str, metrics: &Arc<ServerMetrics>) -> Chain {
    let core = Corefile::parse("Corefile", &format!("test.:53 {{\n{text}\n}}\n"), Path::new("."))
        .expect("syntax");
    let zones = vec![Name::from_ascii("test.").expect("zone")];
    let mut plugins: Vec<Arc<dyn Plugin>> = core.blocks[0]
        .directives
        .iter()
        .map(|d| {
            let config = setup::config(d, &zones).expect("valid");
            let families = metrics.families::<TemplateFamilies>();
            let logged = config.records.iter().map(|_| Mutex::new(None)).collect();
            Arc::new(TemplatePlugin {
                config,
                families,
                server: "dns://:53".into(),
                logged,
            }) as Arc<dyn Plugin>
        })
        .collect();
    plugins.push(Arc::new(Refuser));
    Chain::new(plugins)
}

fn ask(chain: &Chain, name: &str, qtype: RecordType, qclass: DNSClass) -> Answer {
    let mut request = request(name, qtype);
    request.qclass = qclass;
    answer(chain, &request, &Server)
}

fn texts(records: &[Record]) -> Vec<String> {
    records.iter().map(ToString::to_string).collect()
}

fn metrics() -> Arc<ServerMetrics> {
    Arc::new(ServerMetrics::new(&[metrics::register]))
}

fn exposition(metrics: &ServerMetrics) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, metrics.registry()).expect("encode");
    text
}

/// CoreDNS's TestMultiSection Corefile.
const MULTI: &str = r#"template IN A {
  rcode REFUSED
}
template IN TXT {
  match "$^"
  rcode SERVFAIL
  fallthrough
}
template CH TXT coredns.invalid {
  answer "{{ .Name }} 60 CH TXT \"test\""
}
template IN A example {
  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
  answer "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
  fallthrough
}
template IN MX example {
  match ^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
  answer "{{ .Name }} 60 IN MX 10 {{ .Name }}"
  additional "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
}
template IN ANY . {
  match ^(www[.])?cnamewitha[.](.*)$
  answer "{{ .Name }} 60 IN CNAME nowana.com."
  fallthrough
}"#;

#[test]
fn coredns_multi_section_cases() {
    let metrics = metrics();
    let chain = chain(MULTI, &metrics);
    let refused = ask(&chain, "some.test.", RecordType::A, DNSClass::IN);
    assert_eq!(refused.rcode, ResponseCode::Refused);
    assert_eq!(refused.plugin, "template", "the template's REFUSED, not the next plugin's");
    let txt = ask(&chain, "some.test.", RecordType::TXT, DNSClass::IN);
    assert_eq!((txt.rcode, txt.plugin), (ResponseCode::Refused, "next"), "fell through");
    let chaos = ask(&chain, "coredns.invalid.", RecordType::TXT, DNSClass::CH);
    assert_eq!(texts(&chaos.answers), ["coredns.invalid. 60 CH TXT test"]);
    assert!(chaos.authoritative);
    let ip = ask(&chain, "ip-10-11-12-13.example.", RecordType::A, DNSClass::IN);
    assert_eq!(texts(&ip.answers), ["ip-10-11-12-13.example. 60 IN A 10.11.12.13"]);
    let mx = ask(&chain, "ip-10-11-12-13.example.", RecordType::MX, DNSClass::IN);
    assert_eq!(
        texts(&mx.answers),
        ["ip-10-11-12-13.example. 60 IN MX 10 ip-10-11-12-13.example."]
    );
    assert_eq!(
        texts(&mx.additional),
        ["ip-10-11-12-13.example. 60 IN A 10.11.12.13"]
    );
    let other = ask(&chain, "something.example.", RecordType::A, DNSClass::IN);
    assert_eq!(other.plugin, "next", "the A template falls through");
    let other_mx = ask(&chain, "something.example.", RecordType::MX, DNSClass::IN);
    assert_eq!(
        (other_mx.rcode, other_mx.plugin),
        (ResponseCode::NXDomain, "template"),
        "the MX template has no fallthrough"
    );
    let cname = ask(&chain, "www.cnamewitha.com.", RecordType::A, DNSClass::IN);
    assert_eq!(
        texts(&cname.answers),
        [
            "www.cnamewitha.com. 60 IN CNAME nowana.com.",
            "nowana.com. 30 IN A 192.0.2.53"
        ],
        "the CNAME's target is resolved through the server"
    );
    let text = exposition(&metrics);
    assert!(
        text.contains(
            r#"coredns_template_matches_total{server="dns://:53",zone="example.",view="",class="IN",type="MX"} 1"#
        ),
        "{text}"
    );
}

#[test]
fn aks_templates_and_the_aaaa_filter() {
    let aks = r#"template ANY ANY internal.cloudapp.net {
  match "^(?:[^.]+\.){4,}internal\.cloudapp\.net\.$"
  rcode NXDOMAIN
  fallthrough
}
template ANY ANY reddog.microsoft.com {
  rcode NXDOMAIN
}
template IN AAAA {
  rcode NOERROR
}"#;
    let chain = chain(aks, &metrics());
    let deep = ask(
        &chain,
        "a.b.c.d.internal.cloudapp.net.",
        RecordType::A,
        DNSClass::IN,
    );
    assert_eq!((deep.rcode, deep.plugin), (ResponseCode::NXDomain, "template"));
    let shallow = ask(&chain, "vm1.internal.cloudapp.net.", RecordType::A, DNSClass::IN);
    assert_eq!(shallow.plugin, "next", "fewer than four labels fall through");
    let reddog = ask(&chain, "x.reddog.microsoft.com.", RecordType::A, DNSClass::IN);
    assert_eq!(reddog.rcode, ResponseCode::NXDomain);
    // The AAAA filter of a block serving test.: NODATA for AAAA, A untouched.
    let aaaa = ask(&chain, "web.test.", RecordType::AAAA, DNSClass::IN);
    assert_eq!((aaaa.rcode, aaaa.plugin), (ResponseCode::NoError, "template"));
    assert!(aaaa.answers.is_empty() && aaaa.authoritative);
    let a = ask(&chain, "web.test.", RecordType::A, DNSClass::IN);
    assert_eq!(a.plugin, "next");
}

#[test]
fn a_broken_template_answers_servfail_and_is_counted() {
    let metrics = metrics();
    let chain = chain(
        r#"template IN ANY example {
  answer "{{ .Name }} 60 IN TXT \"{{ index .Match 2 }}\""
}
template IN ANY other {
  answer "{{ .Name }}"
}"#,
        &metrics,
    );
    let broken = ask(&chain, "x.example.", RecordType::TXT, DNSClass::IN);
    assert_eq!(broken.rcode, ResponseCode::ServFail);
    let not_a_record = ask(&chain, "x.other.", RecordType::TXT, DNSClass::IN);
    assert_eq!(not_a_record.rcode, ResponseCode::ServFail);
    let text = exposition(&metrics);
    assert!(
        text.contains(r#"coredns_template_template_failures_total{server="dns://:53",zone="example.",view="",class="IN",type="TXT",section="answer",template="{{ .Name }} 60 IN TXT \"{{ index .Match 2 }}\""} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"coredns_template_rr_failures_total{server="dns://:53",zone="other.",view="",class="IN",type="TXT",section="answer",template="{{ .Name }}"} 1"#),
        "{text}"
    );
}

#[test]
fn template_data_as_coredns_gives_it() {
    let chain = chain(
        r#"template ANY ANY example {
  match "^(?P<host>[a-z]+)[.]example[.]$"
  answer "{{ .Name }} 0 IN TXT \"{{ .Zone }}|{{ .Class }}|{{ .Type }}|{{ .Remote }}|{{ .Group.host }}|{{ .Group.1 }}|{{ .Meta \"kubernetes/client-namespace\" }}\""
  authority "example. 60 IN NS ns.example."
}"#,
        &metrics(),
    );
    let answer = ask(&chain, "WWW.Example.", RecordType::ANY, DNSClass::IN);
    assert_eq!(
        texts(&answer.answers),
        ["www.example. 0 IN TXT example.|IN|ANY|10.0.0.9|www|www|"],
        "the lower-case name; the template's type where the question asked ANY"
    );
    assert_eq!(texts(&answer.authority), ["example. 60 IN NS ns.example."]);
}

#[test]
fn rendered_text_is_one_record_or_a_failure() {
    assert_eq!(
        parse_record("example. IN NS ns0.example.com.")
            .expect("record")
            .to_string(),
        "example. 3600 IN NS ns0.example.com.",
        "TTL 3600 when not written, as miekg/dns"
    );
    assert_eq!(
        parse_record("invalid. 60 IN SOA a.invalid. b.invalid. (1 60 60 60 60)")
            .expect("record")
            .to_string(),
        "invalid. 60 IN SOA a.invalid. b.invalid. 1 60 60 60 60"
    );
    assert_eq!(
        parse_record("foogle.com 60 IN CNAME google.com")
            .expect("record")
            .to_string(),
        "foogle.com. 60 IN CNAME google.com.",
        "relative to the root"
    );
    for bad in [
        "x.example.",
        "$INCLUDE /etc/passwd",
        "a. 60 IN A 192.0.2.1\nb. 60 IN A 192.0.2.2",
        "a. 60 IN A 300.1.1.1",
        "",
    ] {
        assert!(parse_record(bad).is_err(), "{bad:?}");
    }
}
