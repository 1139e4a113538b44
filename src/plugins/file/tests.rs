//! Zone lookups as CoreDNS's `file` answers them, on the zone of RFC 4592 §2.2.1 (wildcards,
//! empty non-terminals, a delegation with glue) plus CNAMEs inside and outside the zone.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

use super::zone::Zone;

const ZONE: &str = "$ORIGIN example.
$TTL 3600
@                 IN SOA   ns.example.com. hostmaster.example.com. ( 1 2h 1h 14d 1h )
                  IN NS    ns.example.com.
                  IN NS    ns.example.net.
*                 IN TXT   \"this is a wildcard\"
*                 IN MX    10 host1.example.
sub.*             IN TXT   \"this is not a wildcard\"
host1             IN A     192.0.2.1
_ssh._tcp.host1   IN SRV   0 0 22 host1.example.
_ssh._tcp.host2   IN SRV   0 0 22 host2.example.
subdel            IN NS    ns.example.com.
                  IN NS    ns.subdel.example.
ns.subdel         IN A     192.0.2.53
www               IN CNAME host1
out               IN CNAME www.example.org.
dangling          IN CNAME gone.host1
";

fn zone() -> Zone {
    Zone::parse("example.db", ZONE, &Name::from_ascii("example.").expect("origin"))
        .expect("the zone parses")
}

fn texts(records: &[Record]) -> Vec<String> {
    records.iter().map(ToString::to_string).collect()
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("name")
}

#[test]
fn rfc_4592_wildcard_examples() {
    let zone = zone();
    // §2.2.1: these are synthesized from `*.example.`.
    for owner in ["host3.example.", "foo.bar.example."] {
        let found = zone.lookup(&name(owner), RecordType::MX);
        assert_eq!(found.rcode, ResponseCode::NoError, "{owner}");
        assert_eq!(texts(&found.answers), [format!("{owner} 3600 IN MX 10 host1.example.")]);
        assert_eq!(
            texts(&found.additional),
            ["host1.example. 3600 IN A 192.0.2.1"],
            "the exchange's address"
        );
    }
    // The wildcard does not cover names that exist, nor empty non-terminals.
    let host1 = zone.lookup(&name("host1.example."), RecordType::MX);
    assert_eq!(host1.rcode, ResponseCode::NoError);
    assert!(host1.answers.is_empty() && texts(&host1.authority)[0].contains("SOA"));
    let ent = zone.lookup(&name("_tcp.host1.example."), RecordType::TXT);
    assert_eq!(ent.rcode, ResponseCode::NoError, "an empty non-terminal is NODATA");
    let under_ent = zone.lookup(&name("_telnet._tcp.host1.example."), RecordType::SRV);
    assert_eq!(under_ent.rcode, ResponseCode::NXDomain, "its closest encloser has no wildcard");
    let star_sub = zone.lookup(&name("host.sub.*.example."), RecordType::TXT);
    assert_eq!(star_sub.rcode, ResponseCode::NXDomain);
    let literal = zone.lookup(&name("sub.*.example."), RecordType::TXT);
    assert_eq!(texts(&literal.answers), ["sub.*.example. 3600 IN TXT this is not a wildcard"]);
}

#[test]
fn positive_answers_carry_the_apex_ns_records() {
    let found = zone().lookup(&name("HOST1.example."), RecordType::A);
    assert!(found.authoritative);
    assert_eq!(texts(&found.answers), ["HOST1.example. 3600 IN A 192.0.2.1"]);
    assert_eq!(
        texts(&found.authority),
        ["example. 3600 IN NS ns.example.com.", "example. 3600 IN NS ns.example.net."]
    );
}

#[test]
fn delegations_are_referrals_with_glue() {
    let found = zone().lookup(&name("www.subdel.example."), RecordType::A);
    assert!(!found.authoritative);
    assert_eq!(found.rcode, ResponseCode::NoError);
    assert!(found.answers.is_empty());
    assert_eq!(found.authority.len(), 2);
    assert_eq!(texts(&found.additional), ["ns.subdel.example. 3600 IN A 192.0.2.53"]);
}

#[test]
fn a_cname_to_a_name_the_zone_lacks_is_nxdomain_with_the_cname() {
    // RFC 6604 §3: the rcode is that of the last name of the chain; CoreDNS answers the same.
    let found = zone().lookup(&name("dangling.example."), RecordType::A);
    assert_eq!(found.rcode, ResponseCode::NXDomain);
    assert_eq!(
        texts(&found.answers),
        ["dangling.example. 3600 IN CNAME gone.host1.example."]
    );
    assert_eq!(found.authority.len(), 1);
    assert_eq!(found.authority[0].record_type(), RecordType::SOA);
}

#[test]
fn cnames_are_followed_inside_and_handed_out_outside() {
    let zone = zone();
    let inside = zone.lookup(&name("www.example."), RecordType::A);
    assert_eq!(
        texts(&inside.answers),
        ["www.example. 3600 IN CNAME host1.example.", "host1.example. 3600 IN A 192.0.2.1"]
    );
    let outside = zone.lookup(&name("out.example."), RecordType::A);
    assert_eq!(texts(&outside.answers), ["out.example. 3600 IN CNAME www.example.org."]);
    assert_eq!(outside.outside, Some(name("www.example.org.")));
    let cname = zone.lookup(&name("www.example."), RecordType::CNAME);
    assert_eq!(texts(&cname.answers), ["www.example. 3600 IN CNAME host1.example."]);
}

#[test]
fn a_zone_file_error_names_its_line() {
    let origin = name("example.");
    let bad = "$ORIGIN example.\n@ IN SOA ns admin ( 1\n 2 3 4 5 )\nok IN A 192.0.2.1\nbad IN A 192.0.2.300\nlater IN A 192.0.2.2\n";
    let error = Zone::parse("bad.db", bad, &origin).unwrap_err().to_string();
    assert!(error.starts_with("bad.db:5: "), "{error}");
    let none = Zone::parse("none.db", "$ORIGIN example.\nwww IN A 192.0.2.1\n", &origin)
        .unwrap_err()
        .to_string();
    assert!(none.contains("no SOA record"), "{none}");
}
