//! Responses on the wire: header flags, the echoed question, our OPT record, and truncation
//! to the client's size at an RRset boundary (RFC 1035 §4.2.1, RFC 2181 §9).

use hickory_proto::op::{Edns, MessageType, Metadata, Query, ResponseCode, emit_message_parts};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::BinEncoder;

use super::edns::{MAX_UDP_PAYLOAD, ResponseEdns};
use crate::plugin::{Answer, Request, Transport, records_could_fit};

/// The message, or `None` when it does not fit 65,535 octets: hickory's encoder then stops at
/// the record that overflows, wherever it is in its RRset, and sets TC=1, which must never be
/// sent as it is (RFC 2181 §9).
fn emit(
    meta: &Metadata,
    question: Option<&Query>,
    answers: &[Record],
    authority: &[Record],
    additional: &[Record],
    edns: Option<&Edns>,
) -> Option<Vec<u8>> {
    let mut buffer = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut buffer);
    let result = emit_message_parts(
        meta,
        &mut question.into_iter(),
        &mut answers.iter(),
        &mut authority.iter(),
        &mut additional.iter(),
        edns,
        None,
        &mut encoder,
    );
    match result {
        Ok(_) => {
            // ANCOUNT, NSCOUNT and ARCOUNT as written.
            let count = |at: usize| {
                let bytes = buffer.get(at..at + 2)?;
                Some(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])))
            };
            let whole = count(6) == Some(answers.len())
                && count(8) == Some(authority.len())
                && count(10) == Some(additional.len() + usize::from(edns.is_some()));
            whole.then_some(buffer)
        }
        Err(e) => {
            // Records that cannot be encoded (only a bug in a plugin could build them):
            // answer SERVFAIL rather than nothing.
            tracing::error!("cannot encode response {}: {e}", meta.id);
            let mut fallback = *meta;
            fallback.response_code = ResponseCode::ServFail;
            fallback.authoritative = false;
            let mut buffer = Vec::with_capacity(64);
            let mut encoder = BinEncoder::new(&mut buffer);
            let _ = emit_message_parts(
                &fallback,
                &mut question.into_iter(),
                &mut std::iter::empty::<&Record>(),
                &mut std::iter::empty::<&Record>(),
                &mut std::iter::empty::<&Record>(),
                edns,
                None,
                &mut encoder,
            );
            Some(buffer)
        }
    }
}

/// An error response (FORMERR, NOTIMP, REFUSED, BADVERS…) with no records.
pub fn encode_error(
    request: &Metadata,
    question: Option<&Query>,
    rcode: ResponseCode,
    edns: Option<ResponseEdns>,
) -> Vec<u8> {
    let mut meta = Metadata::new(request.id, MessageType::Response, request.op_code);
    meta.recursion_desired = request.recursion_desired;
    meta.checking_disabled = request.checking_disabled;
    meta.response_code = rcode;
    let opt = edns.and_then(ResponseEdns::opt);
    // No records: always whole.
    emit(&meta, question, &[], &[], &[], opt.as_ref()).unwrap_or_default()
}

/// The end of each RRset in `records` (consecutive records of one name and type).
fn rrset_ends(records: &[Record]) -> Vec<usize> {
    let mut ends = Vec::new();
    for i in 1..=records.len() {
        let boundary = i == records.len()
            || records[i].record_type() != records[i - 1].record_type()
            || records[i].name != records[i - 1].name;
        if boundary {
            ends.push(i);
        }
    }
    ends
}

/// Encode `answer` to `request`. Returns the bytes and whether TC was set.
///
/// When the whole answer does not fit the client's limit, the additional section goes first
/// (no TC needed: it is optional data); if the rest still does not fit, TC=1 and as many whole
/// answer RRsets as fit are kept, with no authority or additional data.
pub fn encode_answer(request: &Request, answer: &Answer, edns: ResponseEdns) -> (Vec<u8>, bool) {
    let mut meta = Metadata::new(
        request.id,
        MessageType::Response,
        hickory_proto::op::OpCode::Query,
    );
    meta.recursion_desired = request.recursion_desired;
    meta.checking_disabled = request.checking_disabled;
    meta.authoritative = answer.authoritative;
    meta.recursion_available = answer.recursion_available;
    meta.response_code = answer.rcode;
    let limit = match request.transport {
        Transport::Udp => edns.udp_limit(),
        Transport::Tcp => usize::from(u16::MAX),
    };
    // The answers of the cluster zone, written directly when they fit the client's limit.
    if let Some(bytes) = super::fast_encode::encode(
        request,
        &meta,
        [&answer.answers, &answer.authority, &answer.additional],
        edns,
        MAX_UDP_PAYLOAD,
        limit,
    ) {
        return (bytes, false);
    }
    let mut question = Query::query(request.name.clone(), request.qtype);
    question.set_query_class(request.qclass);
    let opt = edns.opt();
    // Sections with more records than could fit are not encoded to find it out (a headless
    // Service with thousands of endpoints).
    if !records_could_fit(answer.answers.len() + answer.authority.len(), limit) {
        meta.truncation = true;
        return (
            truncated(&meta, &question, &answer.answers, opt.as_ref(), limit),
            true,
        );
    }
    let fits = |bytes: &Vec<u8>| bytes.len() <= limit;
    let full = emit(
        &meta,
        Some(&question),
        &answer.answers,
        &answer.authority,
        &answer.additional,
        opt.as_ref(),
    );
    if let Some(full) = full.filter(fits) {
        return (full, false);
    }
    if !answer.additional.is_empty() {
        let without_additional = emit(
            &meta,
            Some(&question),
            &answer.answers,
            &answer.authority,
            &[],
            opt.as_ref(),
        );
        if let Some(without_additional) = without_additional.filter(fits) {
            return (without_additional, false);
        }
    }
    meta.truncation = true;
    (
        truncated(&meta, &question, &answer.answers, opt.as_ref(), limit),
        true,
    )
}

/// The longest prefix of whole RRsets of `answers` that fits `limit` with the question, and
/// nothing else: TC=1 is set in `meta` (RFC 2181 §9).
fn truncated(
    meta: &Metadata,
    question: &Query,
    answers: &[Record],
    opt: Option<&Edns>,
    limit: usize,
) -> Vec<u8> {
    let ends = rrset_ends(answers);
    let prefixes = ends.iter().rev().skip(1).chain(std::iter::once(&0));
    for &end in prefixes.filter(|end| records_could_fit(**end, limit)) {
        let bytes = emit(meta, Some(question), &answers[..end], &[], &[], opt);
        if let Some(bytes) = bytes.filter(|b| b.len() <= limit) {
            return bytes;
        }
    }
    // Not even the question fits (a 255-octet name in 512 bytes always fits, so this is only
    // reachable with absurd limits): send the header alone.
    emit(meta, None, &[], &[], &[], opt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, RecordType};
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn request_for(name: &Name, qtype: RecordType, udp: bool, rd: bool, cd: bool) -> Request {
        Request {
            id: 0xBEEF,
            name: name.clone(),
            qtype,
            qclass: hickory_proto::rr::DNSClass::IN,
            recursion_desired: rd,
            checking_disabled: cd,
            dnssec_ok: false,
            edns_udp_size: None,
            source: "127.0.0.1:5353".parse().expect("addr"),
            transport: if udp { Transport::Udp } else { Transport::Tcp },
            wire_size: 40,
            received_at: std::time::Instant::now(),
            aliases: Vec::new(),
        }
    }

    /// What a decoded message says, with names in their case (hickory's `Name` equality
    /// ignores case).
    fn described(bytes: &[u8]) -> String {
        let m = hickory_proto::op::Message::from_vec(bytes).expect("decodes");
        let mut out = format!("{:?} {:?} {:?}\n", m.metadata, m.queries, m.edns);
        for (section, records) in [
            ("an", &m.answers),
            ("ns", &m.authorities),
            ("ar", &m.additionals),
        ] {
            for r in records.iter() {
                out.push_str(&format!(
                    "{section} {} {} {:?} {}\n",
                    r.name, r.ttl, r.dns_class, r.data
                ));
            }
        }
        out
    }

    fn random_name(labels: &[String], under: &Name) -> Name {
        Name::from_labels(labels.iter().map(|l| l.as_bytes()))
            .and_then(|n| n.append_domain(under))
            .expect("name")
    }

    proptest! {
        /// The direct encoding decodes to exactly the message of hickory's encoder, for every
        /// record type it takes, in every section, with names sharing suffixes with the
        /// question or not.
        #[test]
        fn fast_path_matches_the_general_encoder(
            labels in proptest::collection::vec("[a-zA-Z0-9_-]{1,12}", 1..6),
            records in proptest::collection::vec((0u8..6, any::<u32>(), proptest::collection::vec("[a-zA-Z0-9-]{1,8}", 0..3), 0usize..6), 0..30),
            soa in proptest::option::of((0usize..6, any::<(u32, i32, i32, i32, u32)>())),
            extra in proptest::collection::vec((any::<u32>(), proptest::collection::vec("[a-z0-9-]{1,8}", 1..3), 0usize..6), 0..5),
            ttl in any::<u32>(),
            flags in any::<(bool, bool, bool, bool, bool)>(),
            rcode in 0u16..6,
            edns in proptest::option::of((any::<bool>(), any::<u16>())),
        ) {
            let name = Name::from_labels(labels.iter().map(|l| l.as_bytes())).expect("name");
            // A suffix of the question (the zone, the namespace...), by how many labels to drop.
            let suffix = |drop: usize| name.trim_to(name.num_labels().saturating_sub(drop.min(usize::from(name.num_labels())) as u8) as usize);
            let (udp, rd, cd, aa, ra) = flags;
            let request = request_for(&name, RecordType::A, udp, rd, cd);
            let mut answer = Answer::rcode(ResponseCode::from(0, rcode as u8), "test");
            answer.authoritative = aa;
            answer.recursion_available = ra;
            answer.answers = records
                .iter()
                .map(|(kind, value, target, drop)| {
                    let target = random_name(target, &suffix(*drop));
                    let data = match kind {
                        0 => RData::A(A(Ipv4Addr::from(*value))),
                        1 => RData::AAAA(hickory_proto::rr::rdata::AAAA(std::net::Ipv6Addr::from(u128::from(*value)))),
                        2 => RData::SRV(hickory_proto::rr::rdata::SRV::new(*value as u16, (*value >> 16) as u16, 80, target)),
                        3 => RData::PTR(hickory_proto::rr::rdata::PTR(target)),
                        4 => RData::CNAME(hickory_proto::rr::rdata::CNAME(target)),
                        _ => RData::A(A(Ipv4Addr::from(value.rotate_left(7)))),
                    };
                    Record::from_rdata(name.clone(), ttl, data)
                })
                .collect();
            if let Some((drop, (serial, refresh, retry, expire, minimum))) = soa {
                let zone = suffix(drop);
                let mname = random_name(&["ns".to_string(), "dns".to_string()], &zone);
                let rname = random_name(&["hostmaster".to_string()], &zone);
                answer.authority.push(Record::from_rdata(
                    zone.clone(),
                    ttl,
                    RData::SOA(hickory_proto::rr::rdata::SOA::new(mname, rname, serial, refresh, retry, expire, minimum)),
                ));
            }
            answer.additional = extra
                .iter()
                .map(|(ip, owner, drop)| Record::from_rdata(random_name(owner, &suffix(*drop)), ttl, RData::A(A(Ipv4Addr::from(*ip)))))
                .collect();
            let edns = match edns {
                None => ResponseEdns::Absent,
                Some((dnssec_ok, udp_size)) => ResponseEdns::Present { dnssec_ok, udp_size },
            };
            let (bytes, truncated) = encode_answer(&request, &answer, edns);
            // The general path on the same message.
            let mut meta = Metadata::new(request.id, MessageType::Response, hickory_proto::op::OpCode::Query);
            meta.recursion_desired = rd;
            meta.checking_disabled = cd;
            meta.authoritative = aa;
            meta.recursion_available = ra;
            meta.response_code = answer.rcode;
            let mut question = Query::query(name.clone(), RecordType::A);
            question.set_query_class(hickory_proto::rr::DNSClass::IN);
            let general = emit(&meta, Some(&question), &answer.answers, &answer.authority, &answer.additional, edns.opt().as_ref()).expect("a few records fit 65,535 octets");
            let without_additional = emit(&meta, Some(&question), &answer.answers, &answer.authority, &[], edns.opt().as_ref()).expect("a few records fit 65,535 octets");
            let limit = if udp { edns.udp_limit() } else { 65535 };
            let direct = crate::server::fast_encode::encode(
                &request,
                &meta,
                [&answer.answers, &answer.authority, &answer.additional],
                edns,
                MAX_UDP_PAYLOAD,
                limit,
            );
            if without_additional.len() <= limit {
                // Only optional data is left out: no TC.
                prop_assert!(!truncated);
            }
            if general.len() <= limit {
                // It fits either way: the direct path takes it, and says the same.
                let direct = direct.expect("the direct path takes what fits");
                prop_assert!(direct.len() <= general.len() + 2 * (answer.answers.len() + 2));
                prop_assert_eq!(described(&direct), described(&general));
                prop_assert_eq!(described(&bytes), described(&general));
            } else if let Some(direct) = direct {
                // Compressed harder than hickory's, it may fit where hickory's does not; if it
                // does not, it leaves the additional section out whole, as the general path.
                prop_assert!(direct.len() <= limit);
                let whole = hickory_proto::op::Message::from_vec(&direct).expect("decodes").additionals.len() == answer.additional.len();
                let expected = if whole { &general } else { &without_additional };
                prop_assert_eq!(described(&direct), described(expected));
            }
        }
    }

    /// `count` SRV records of `name` with long targets (about 60 octets each), and as many
    /// glue records.
    fn srv_answer(name: &Name, count: u32) -> Answer {
        let mut answer = Answer::rcode(ResponseCode::NoError, "test");
        for i in 0..count {
            let target = Name::from_ascii(format!(
                "endpoint-{i:05}.a-long-service-name.namespace.svc.cluster.local."
            ))
            .expect("name");
            let srv = hickory_proto::rr::rdata::SRV::new(0, 1, 80, target.clone());
            answer
                .answers
                .push(Record::from_rdata(name.clone(), 5, RData::SRV(srv)));
            let glue = A(Ipv4Addr::from(0x0a00_0000 + i));
            answer
                .additional
                .push(Record::from_rdata(target, 5, RData::A(glue)));
        }
        answer
    }

    fn counts(bytes: &[u8]) -> (bool, usize, usize) {
        let m = hickory_proto::op::Message::from_vec(bytes).expect("decodes");
        (m.metadata.truncation, m.answers.len(), m.additionals.len())
    }

    #[test]
    fn a_tcp_answer_over_65535_octets_is_cut_at_an_rrset_boundary() {
        let name = Name::from_ascii("_http._tcp.big.ns.svc.cluster.local.").expect("name");
        let request = request_for(&name, RecordType::SRV, false, true, false);
        // 2,000 SRV records (fast path) or TXT records (hickory's encoder, which alone would
        // stop mid-RRset at 65,535 octets): the RRset is left out whole, with TC=1.
        let srv = srv_answer(&name, 2_000);
        let mut txt = Answer::rcode(ResponseCode::NoError, "test");
        txt.answers = (0..2_000)
            .map(|i| {
                let text = hickory_proto::rr::rdata::TXT::new(vec![format!("{i:040}")]);
                Record::from_rdata(name.clone(), 5, RData::TXT(text))
            })
            .collect();
        for answer in [&srv, &txt] {
            let (bytes, truncated) = encode_answer(&request, answer, ResponseEdns::Absent);
            assert!(truncated);
            assert_eq!(counts(&bytes), (true, 0, 0));
        }
        // 600 SRV records fit, their glue does not: the additional section goes whole, no TC.
        for edns in [
            ResponseEdns::Absent,
            ResponseEdns::Present {
                dnssec_ok: false,
                udp_size: 1232,
            },
        ] {
            let (bytes, truncated) = encode_answer(&request, &srv_answer(&name, 600), edns);
            assert!(!truncated);
            assert!(bytes.len() <= 65535);
            assert_eq!(counts(&bytes), (false, 600, 0));
        }
    }

    #[test]
    fn rrsets_end_where_name_or_type_changes() {
        let a = Name::from_ascii("a.").expect("name");
        let b = Name::from_ascii("b.").expect("name");
        let rec = |n: &Name, i: u8| {
            Record::from_rdata(n.clone(), 5, RData::A(A(Ipv4Addr::new(10, 0, 0, i))))
        };
        let records = vec![rec(&a, 1), rec(&a, 2), rec(&b, 3)];
        assert_eq!(rrset_ends(&records), vec![2, 3]);
        assert!(rrset_ends(&[]).is_empty());
        let _ = RecordType::A;
    }

    #[test]
    fn udp_limit_is_clamped() {
        let e = |udp_size| ResponseEdns::Present {
            dnssec_ok: false,
            udp_size,
        };
        assert_eq!(e(65535).udp_limit(), 1232);
        assert_eq!(e(100).udp_limit(), 512);
        assert_eq!(e(1000).udp_limit(), 1000);
        assert_eq!(ResponseEdns::Absent.udp_limit(), 512);
    }
}
