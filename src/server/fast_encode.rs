//! The responses the cluster zone gives most, written directly: the question, then records of
//! the types the `kubernetes` plugin answers with (A, AAAA, SRV, PTR, CNAME, SOA) in any
//! section, and our OPT. Owner names and the names inside PTR, CNAME and SOA are compressed
//! against the question (every suffix of it: the zone, the namespace, the service); SRV targets
//! are written whole, as RFC 2782 and RFC 3597 §4 ask. The result decodes to exactly the
//! message the general path (`response::emit`, through hickory's encoder) writes, at a
//! fraction of the cost, with or without the additional section by the same rule; anything
//! else (other types, answers over the size limit) returns `None` and takes the general path.

use hickory_proto::op::Metadata;
use hickory_proto::rr::{DNSClass, Name, RData, Record};

use super::edns::ResponseEdns;
use crate::plugin::{Request, records_could_fit};

/// The OPT record's type.
const OPT: u16 = 41;

/// The size of our OPT record: root owner, type, payload size, extended rcode and flags, no
/// options.
const OPT_OCTETS: usize = 11;

/// The most labels a name may have on this path (more takes the general path).
const MAX_LABELS: usize = 10;

/// A name's labels, on the stack.
struct Labels<'a> {
    labels: [&'a [u8]; MAX_LABELS],
    count: usize,
}

impl<'a> Labels<'a> {
    fn of(name: &'a Name) -> Option<Labels<'a>> {
        let mut labels: [&[u8]; MAX_LABELS] = [&[]; MAX_LABELS];
        let mut count = 0;
        for label in name.iter() {
            *labels.get_mut(count)? = label;
            count += 1;
        }
        Some(Labels { labels, count })
    }

    fn as_slice(&self) -> &[&'a [u8]] {
        &self.labels[..self.count]
    }
}

/// The question's name, its labels and where each suffix of it starts in the message.
struct Question<'a> {
    name: &'a Name,
    labels: Labels<'a>,
    offsets: [u16; MAX_LABELS],
}

impl<'a> Question<'a> {
    fn new(name: &'a Name) -> Option<Question<'a>> {
        let labels = Labels::of(name)?;
        let mut offsets = [0u16; MAX_LABELS];
        let mut at = 12u16;
        for (offset, label) in offsets.iter_mut().zip(labels.as_slice()) {
            *offset = at;
            at = at.saturating_add(label.len() as u16 + 1);
        }
        Some(Question {
            name,
            labels,
            offsets,
        })
    }

    /// The offset of the longest suffix of `labels` that is, byte for byte, a suffix of the
    /// question, with how many leading labels of `labels` come before it.
    fn pointer_for(&self, labels: &[&[u8]]) -> Option<(usize, u16)> {
        let question = self.labels.as_slice();
        for start in 0..labels.len() {
            let rest = &labels[start..];
            let Some(k) = question.len().checked_sub(rest.len()) else {
                continue;
            };
            if question[k..] == *rest {
                return Some((start, self.offsets[k]));
            }
        }
        None
    }
}

/// Write `name`, compressed against the question when `compress`.
fn write_name(
    out: &mut Vec<u8>,
    name: &Name,
    question: &Question<'_>,
    compress: bool,
) -> Option<()> {
    // The owner of most answers is the question itself.
    if compress && name.eq_case(question.name) {
        out.extend_from_slice(&[0xC0, 0x0C]);
        return Some(());
    }
    let labels = Labels::of(name)?;
    let labels = labels.as_slice();
    let (plain, pointer) = match question.pointer_for(labels) {
        Some((start, offset)) if compress => (start, Some(offset)),
        _ => (labels.len(), None),
    };
    for label in &labels[..plain] {
        out.push(u8::try_from(label.len()).ok()?);
        out.extend_from_slice(label);
    }
    match pointer {
        Some(offset) if offset < 0x4000 => out.extend_from_slice(&(0xC000 | offset).to_be_bytes()),
        Some(_) => return None,
        None => out.push(0),
    }
    Some(())
}

fn write_record(out: &mut Vec<u8>, record: &Record, question: &Question<'_>) -> Option<()> {
    if record.dns_class != DNSClass::IN {
        return None;
    }
    write_name(out, &record.name, question, true)?;
    out.extend_from_slice(&u16::from(record.record_type()).to_be_bytes());
    out.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
    out.extend_from_slice(&record.ttl.to_be_bytes());
    let length_at = out.len();
    out.extend_from_slice(&[0, 0]);
    match &record.data {
        RData::A(a) => out.extend_from_slice(&a.0.octets()),
        RData::AAAA(aaaa) => out.extend_from_slice(&aaaa.0.octets()),
        RData::PTR(ptr) => write_name(out, &ptr.0, question, true)?,
        RData::CNAME(cname) => write_name(out, &cname.0, question, true)?,
        RData::SRV(srv) => {
            out.extend_from_slice(&srv.priority.to_be_bytes());
            out.extend_from_slice(&srv.weight.to_be_bytes());
            out.extend_from_slice(&srv.port.to_be_bytes());
            write_name(out, &srv.target, question, false)?;
        }
        RData::SOA(soa) => {
            write_name(out, &soa.mname, question, true)?;
            write_name(out, &soa.rname, question, true)?;
            for value in [
                soa.serial,
                soa.refresh as u32,
                soa.retry as u32,
                soa.expire as u32,
                soa.minimum,
            ] {
                out.extend_from_slice(&value.to_be_bytes());
            }
        }
        _ => return None,
    }
    let length = u16::try_from(out.len() - length_at - 2).ok()?;
    out[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
    Some(())
}

/// Encode the response to `request` if every record is of a supported type and the message
/// fits `limit`: whole, or else without its additional section (optional data, so no TC), as
/// the general path does.
pub fn encode(
    request: &Request,
    meta: &Metadata,
    sections: [&[Record]; 3],
    edns: ResponseEdns,
    opt_payload: u16,
    limit: usize,
) -> Option<Vec<u8>> {
    let [answers, authority, additional] = sections;
    if !records_could_fit(answers.len() + authority.len(), limit) {
        return None;
    }
    let question = Question::new(&request.name)?;
    let mut out = Vec::with_capacity(512);
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
    let opt = u16::from(matches!(edns, ResponseEdns::Present { .. }));
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&u16::try_from(answers.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&u16::try_from(authority.len()).ok()?.to_be_bytes());
    out.extend_from_slice(
        &u16::try_from(additional.len())
            .ok()?
            .checked_add(opt)?
            .to_be_bytes(),
    );
    write_name(&mut out, &request.name, &question, false)?;
    out.extend_from_slice(&u16::from(request.qtype).to_be_bytes());
    out.extend_from_slice(&u16::from(request.qclass).to_be_bytes());
    for record in answers.iter().chain(authority) {
        write_record(&mut out, record, &question)?;
        if out.len() > limit {
            return None;
        }
    }
    // The additional section is left out whole if it overflows; our OPT record goes last.
    let room = limit.checked_sub(usize::from(opt) * OPT_OCTETS)?;
    let before_additional = out.len();
    for record in additional {
        write_record(&mut out, record, &question)?;
        if out.len() > room {
            out.truncate(before_additional);
            out.get_mut(10..12)?.copy_from_slice(&opt.to_be_bytes());
            break;
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
    (out.len() <= limit).then_some(out)
}
