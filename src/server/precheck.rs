//! The checks every request passes before any plugin sees it (docs/bad-input.md). Each
//! rejection is a named early return with its basis in a comment.

use std::net::SocketAddr;
use std::time::Instant;

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::edns::ResponseEdns;
use super::response::encode_error;
use crate::plugin::{Request, Transport};

/// What to do with a datagram or TCP frame.
#[derive(Debug)]
pub enum Checked {
    /// No reply at all.
    Drop,
    /// Reply with these bytes (an error response) without running any plugin.
    Reply(Vec<u8>),
    /// A valid query for the plugins.
    Query(Box<Request>, ResponseEdns),
}

/// Why the question name is unusable.
#[derive(Debug, PartialEq, Eq)]
enum NameProblem {
    /// The packet ends inside the name.
    Truncated,
    /// A bad label type, or a pointer that is not strictly backwards into the message body.
    Malformed,
}

/// Walk the wire name at `start` without decoding it: only backward pointers that land after
/// the header (RFC 9267 §2), label types 00 and 11 only, at most 255 octets (RFC 1035 §3.1).
fn scan_name(bytes: &[u8], start: usize) -> Result<(), NameProblem> {
    let mut pos = start;
    let mut total = 1usize;
    let mut lowest_pointer_origin = start;
    loop {
        let Some(&len) = bytes.get(pos) else {
            return Err(NameProblem::Truncated);
        };
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    return Ok(());
                }
                total += usize::from(len) + 1;
                if total > 255 {
                    return Err(NameProblem::Malformed);
                }
                pos += usize::from(len) + 1;
                if pos > bytes.len() {
                    return Err(NameProblem::Truncated);
                }
            }
            0xC0 => {
                let Some(&low) = bytes.get(pos + 1) else {
                    return Err(NameProblem::Truncated);
                };
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                // Strictly backwards from the earliest place we have been: no loops, no
                // forward references, and never into the 12-byte header.
                if target < 12 || target >= lowest_pointer_origin.min(pos) {
                    return Err(NameProblem::Malformed);
                }
                lowest_pointer_origin = target;
                pos = target;
            }
            // 0b01 (extended labels, RFC 6891 §5) and 0b10 are not allowed.
            _ => return Err(NameProblem::Malformed),
        }
    }
}

/// Check `bytes` from `source`, received over `transport`.
pub fn check(bytes: &[u8], source: SocketAddr, transport: Transport) -> Checked {
    // Row 1: no full header, nothing to address a reply to.
    if bytes.len() < 12 {
        return Checked::Drop;
    }
    // Row 3: a reply to port 0 or an unspecified/broadcast address would go nowhere or
    // everywhere (hickory's sanitize_src_address).
    if source.port() == 0 || source.ip().is_unspecified() || is_broadcast(&source) {
        return Checked::Drop;
    }
    let mut decoder = BinDecoder::new(bytes);
    let Ok(header) = hickory_proto::op::Header::read(&mut decoder) else {
        return Checked::Drop;
    };
    let meta = header.metadata;
    // Row 2: QR=1 is a response; answering it would make us a reflector or a loop.
    if meta.message_type == MessageType::Response {
        return Checked::Drop;
    }
    let counts = header.counts;

    // Row 4: only QUERY is implemented: NOTIMP, echoing the question and OPT if parseable
    // (RFC 1035 §4.1.1, RFC 8906 §8.1.4).
    if meta.op_code != OpCode::Query {
        let parsed = Message::from_vec(bytes).ok();
        let question = parsed.as_ref().and_then(|m| m.queries.first().cloned());
        let edns = parsed
            .as_ref()
            .and_then(|m| m.edns.as_ref())
            .map(ResponseEdns::for_request);
        return Checked::Reply(encode_error(
            &meta,
            question.as_ref(),
            ResponseCode::NotImp,
            edns,
        ));
    }
    // Rows 5 and 6: exactly one question (RFC 1035; RFC 9619). CoreDNS answers SERVFAIL to an
    // empty question; FORMERR is what the RFCs ask for.
    if counts.queries != 1 {
        return Checked::Reply(encode_error(&meta, None, ResponseCode::FormErr, None));
    }
    // Rows 7-9: the question name must be well formed; a packet cut inside it cannot be
    // answered sensibly and is dropped.
    match scan_name(bytes, 12) {
        Ok(()) => {}
        Err(NameProblem::Truncated) => return Checked::Drop,
        Err(NameProblem::Malformed) => {
            return Checked::Reply(encode_error(&meta, None, ResponseCode::FormErr, None));
        }
    }
    let query = match Query::read(&mut decoder) {
        Ok(q) => q,
        Err(_) => return Checked::Drop,
    };
    // Rows 7, 8, 18: the other sections (a query may carry an OPT, and rarely more). Any decode
    // error there, a second OPT or an OPT outside the additional section is FORMERR.
    let mut edns: Option<Edns> = None;
    for (count, additional) in [
        (counts.answers, false),
        (counts.authorities, false),
        (counts.additionals, true),
    ] {
        match Message::read_records(&mut decoder, usize::from(count), additional, meta.op_code) {
            Ok((_, found, _)) => {
                if found.is_some() {
                    edns = found;
                }
            }
            Err(_) => {
                return Checked::Reply(encode_error(
                    &meta,
                    Some(&query),
                    ResponseCode::FormErr,
                    None,
                ));
            }
        }
    }
    // Row 26: trailing bytes after the counted records are ignored.

    let response_edns = edns.as_ref().map(ResponseEdns::for_request);
    // Row 17: only EDNS version 0 exists: BADVERS with our OPT (version 0), no answer
    // (RFC 6891 §6.1.3).
    if let Some(e) = &edns
        && e.version() > 0
    {
        return Checked::Reply(encode_error(
            &meta,
            Some(&query),
            ResponseCode::BADVERS,
            response_edns,
        ));
    }
    // Row 13: a class other than IN goes on to the router, which REFUSES it unless a plugin of
    // the zone's block serves that class (`chaos`, `template`).
    let request = Request {
        id: meta.id,
        qclass: query.query_class(),
        qtype: query.query_type(),
        name: query.name().clone(),
        recursion_desired: meta.recursion_desired,
        checking_disabled: meta.checking_disabled,
        dnssec_ok: edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
        edns_udp_size: edns.as_ref().map(Edns::max_payload),
        // An IPv4 client of a dual-stack socket arrives as `::ffff:a.b.c.d`: plugins, logs and
        // metrics see it as the IPv4 client it is (CoreDNS prints `127.0.0.1:50752`).
        source: SocketAddr::new(source.ip().to_canonical(), source.port()),
        transport,
        wire_size: bytes.len(),
        received_at: Instant::now(),
        aliases: Vec::new(),
    };
    Checked::Query(
        Box::new(request),
        response_edns.unwrap_or(ResponseEdns::Absent),
    )
}

fn is_broadcast(source: &SocketAddr) -> bool {
    match source {
        SocketAddr::V4(v4) => v4.ip().is_broadcast(),
        SocketAddr::V6(_) => false,
    }
}

/// The metadata of a response to `request`.
pub fn response_metadata(request: &Request) -> Metadata {
    let mut meta = Metadata::new(request.id, MessageType::Response, OpCode::Query);
    meta.recursion_desired = request.recursion_desired;
    meta.checking_disabled = request.checking_disabled;
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(qd: u16) -> Vec<u8> {
        let mut b = vec![0x12, 0x34, 0x01, 0x00, 0, qd as u8, 0, 0, 0, 0, 0, 0];
        b[4] = (qd >> 8) as u8;
        b
    }

    #[test]
    fn pointers_must_go_strictly_backwards_past_the_header() {
        let mut b = header(1);
        b.extend_from_slice(&[0xC0, 0x05]); // into the header
        assert_eq!(scan_name(&b, 12), Err(NameProblem::Malformed));
        let mut b = header(1);
        b.extend_from_slice(&[0xC0, 12]); // to itself: a loop
        assert_eq!(scan_name(&b, 12), Err(NameProblem::Malformed));
        let mut b = header(1);
        b.extend_from_slice(&[1, b'a', 0xC0, 20, 0, 0]); // forward
        assert_eq!(scan_name(&b, 12), Err(NameProblem::Malformed));
    }

    #[test]
    fn label_types_and_lengths() {
        let mut b = header(1);
        b.extend_from_slice(&[0x41, b'a', 0]); // extended label type 0b01
        assert_eq!(scan_name(&b, 12), Err(NameProblem::Malformed));
        let mut b = header(1);
        for _ in 0..5 {
            b.push(63);
            b.extend_from_slice(&[b'a'; 63]);
        }
        b.push(0);
        assert_eq!(
            scan_name(&b, 12),
            Err(NameProblem::Malformed),
            "name > 255 octets"
        );
        let mut b = header(1);
        b.extend_from_slice(&[3, b'a', b'b']);
        assert_eq!(scan_name(&b, 12), Err(NameProblem::Truncated));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever arrives, the checks return without panicking, and every reply they build
        /// decodes and carries the request's ID.
        #[test]
        fn any_bytes_get_a_clear_outcome(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let source = SocketAddr::from(([127, 0, 0, 1], 5353));
            if let Checked::Reply(reply) = check(&bytes, source, Transport::Udp) {
                let decoded = Message::from_vec(&reply).expect("our replies decode");
                prop_assert_eq!(decoded.metadata.id, u16::from_be_bytes([bytes[0], bytes[1]]));
            }
        }
    }

    #[test]
    fn source_port_zero_and_broadcast_sources_are_dropped() {
        let query = {
            let mut m = Message::query();
            m.add_query(Query::query(
                hickory_proto::rr::Name::root(),
                hickory_proto::rr::RecordType::NS,
            ));
            m.to_vec().expect("encode")
        };
        for source in ["127.0.0.1:0", "0.0.0.0:53", "255.255.255.255:53"] {
            let source: SocketAddr = source.parse().expect("addr");
            assert!(
                matches!(check(&query, source, Transport::Udp), Checked::Drop),
                "{source}"
            );
        }
    }
}
