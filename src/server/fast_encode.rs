//! The common response written directly: address records (A, AAAA) owned by the question
//! name, nothing in authority or additional, optionally our OPT. Each answer's owner is a
//! compression pointer to the question (offset 12). The bytes are exactly those of the general
//! path (`response::emit`, through hickory's encoder), at a fraction of its cost; anything
//! else returns `None` and takes the general path.

use hickory_proto::op::Metadata;
use hickory_proto::rr::{DNSClass, RData, Record};

use super::response::ResponseEdns;
use crate::plugin::Request;

/// The OPT record's type.
const OPT: u16 = 41;

/// Encode `answers` for `request` if they fit the fast path and `limit`.
pub fn encode(
    request: &Request,
    meta: &Metadata,
    answers: &[Record],
    edns: ResponseEdns,
    opt_payload: u16,
    limit: usize,
) -> Option<Vec<u8>> {
    let mut size = 12 + request.name.len() + 1 + 4;
    for record in answers {
        if record.dns_class != DNSClass::IN || !record.name.eq_case(&request.name) {
            return None;
        }
        size += 12
            + match &record.data {
                RData::A(_) => 4,
                RData::AAAA(_) => 16,
                _ => return None,
            };
    }
    if matches!(edns, ResponseEdns::Present { .. }) {
        size += 11;
    }
    // The pointer to the question must fit in 14 bits; a name never gets near that.
    if size > limit || request.name.len() > 255 {
        return None;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&meta.id.to_be_bytes());
    let mut flags = 0x80 | (u8::from(meta.op_code) << 3);
    if meta.authoritative {
        flags |= 0x04;
    }
    if meta.truncation {
        flags |= 0x02;
    }
    if meta.recursion_desired {
        flags |= 0x01;
    }
    out.push(flags);
    let mut flags = meta.response_code.low();
    if meta.recursion_available {
        flags |= 0x80;
    }
    if meta.authentic_data {
        flags |= 0x20;
    }
    if meta.checking_disabled {
        flags |= 0x10;
    }
    out.push(flags);
    let answer_count = u16::try_from(answers.len()).ok()?;
    let additional = u16::from(matches!(edns, ResponseEdns::Present { .. }));
    for count in [1, answer_count, 0, additional] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    for label in request.name.iter() {
        out.push(u8::try_from(label.len()).ok()?);
        out.extend_from_slice(label);
    }
    out.push(0);
    out.extend_from_slice(&u16::from(request.qtype).to_be_bytes());
    out.extend_from_slice(&u16::from(request.qclass).to_be_bytes());
    for record in answers {
        out.extend_from_slice(&[0xC0, 0x0C]);
        out.extend_from_slice(&u16::from(record.record_type()).to_be_bytes());
        out.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
        out.extend_from_slice(&record.ttl.to_be_bytes());
        match &record.data {
            RData::A(a) => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&a.0.octets());
            }
            RData::AAAA(aaaa) => {
                out.extend_from_slice(&16u16.to_be_bytes());
                out.extend_from_slice(&aaaa.0.octets());
            }
            _ => return None,
        }
    }
    if let ResponseEdns::Present { dnssec_ok, .. } = edns {
        out.push(0);
        out.extend_from_slice(&OPT.to_be_bytes());
        out.extend_from_slice(&opt_payload.to_be_bytes());
        // Extended rcode 0, version 0, then the flags: DO is the top bit.
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(if dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
    }
    Some(out)
}
