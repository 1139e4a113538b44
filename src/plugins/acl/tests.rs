//! ACL rules in a chain whose last plugin answers from "next" (what got through shows).

use std::path::Path;

use hickory_proto::rr::RecordType;

use super::*;
use crate::config::Corefile;
use crate::metrics::ServerMetrics;
use crate::plugin::Chain;
use crate::plugin::testing::{NoResolver, Through, answer, request};

fn chain(text: &str, metrics: &Arc<ServerMetrics>) -> Chain {
    let core = Corefile::parse("Corefile", &format!(".:53 {{\n{text}\n}}\n"), Path::new("."))
        .expect("syntax");
    let mut plugins: Vec<Arc<dyn Plugin>> = core.blocks[0]
        .directives
        .iter()
        .map(|d| {
            Arc::new(Acl {
                config: setup::config(d, &[Name::root()]).expect("valid"),
                families: metrics.families::<AclFamilies>(),
                server: "dns://:53".into(),
            }) as Arc<dyn Plugin>
        })
        .collect();
    plugins.push(Arc::new(Through));
    Chain::new(plugins)
}

fn ask(chain: &Chain, name: &str, qtype: RecordType, source: &str) -> Answer {
    let mut request = request(name, qtype);
    request.source = source.parse().expect("address");
    answer(chain, &request, &NoResolver)
}

#[test]
fn the_first_matching_policy_decides() {
    let metrics = Arc::new(ServerMetrics::new(&[register]));
    let chain = chain(
        "acl {\n  allow net 192.168.1.0/24\n  filter type AAAA net 192.168.0.0/16\n  drop type ANY\n  block net 192.168.0.0/16\n}",
        &metrics,
    );
    let allowed = ask(&chain, "a.example.", RecordType::A, "192.168.1.5:1000");
    assert_eq!(allowed.plugin, "next");
    let filtered = ask(&chain, "a.example.", RecordType::AAAA, "192.168.2.5:1000");
    assert_eq!((filtered.rcode, filtered.plugin), (ResponseCode::NoError, "acl"));
    assert!(filtered.answers.is_empty());
    let dropped = ask(&chain, "a.example.", RecordType::ANY, "10.0.0.1:1000");
    assert!(dropped.drop);
    let blocked = ask(&chain, "a.example.", RecordType::A, "[::ffff:192.168.2.5]:1000");
    assert_eq!(blocked.rcode, ResponseCode::Refused);
    let other = ask(&chain, "a.example.", RecordType::A, "10.0.0.1:1000");
    assert_eq!(other.plugin, "next", "no policy matched: allowed");
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, metrics.registry()).expect("encode");
    for line in [
        "coredns_acl_blocked_requests_total{server=\"dns://:53\",zone=\".\",view=\"\"} 1",
        "coredns_acl_filtered_requests_total{server=\"dns://:53\",zone=\".\",view=\"\"} 1",
        "coredns_acl_dropped_requests_total{server=\"dns://:53\",zone=\".\",view=\"\"} 1",
        "coredns_acl_allowed_requests_total{server=\"dns://:53\",view=\"\"} 2",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

#[test]
fn rules_in_turn_and_allow_skips_the_later_ones() {
    let metrics = Arc::new(ServerMetrics::new(&[register]));
    let chain = chain(
        "acl example.org {\n  allow net 10.0.0.0/8\n}\nacl {\n  block\n}",
        &metrics,
    );
    let allowed = ask(&chain, "a.example.org.", RecordType::A, "10.1.2.3:1000");
    assert_eq!(allowed.plugin, "next", "the first rule allowed it: the second is skipped");
    let blocked = ask(&chain, "a.example.org.", RecordType::A, "192.0.2.1:1000");
    assert_eq!(blocked.rcode, ResponseCode::Refused, "undecided by the first, blocked by the second");
    let other_zone = ask(&chain, "a.example.com.", RecordType::A, "10.1.2.3:1000");
    assert_eq!(other_zone.rcode, ResponseCode::Refused);
}
