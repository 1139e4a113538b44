//! A cached answer in wire form: its three sections encoded one after the other as they would
//! travel in a message, a record's owner a compression pointer to the previous record's when
//! they are the same name (hickory's encoder stops compressing after 120 names). An answer of
//! 500 A records takes about 8 KB this way, against about 135 KB as hickory `Record` objects,
//! and the cache's byte bound counts the memory it really holds.

use hickory_proto::op::ResponseCode;
use hickory_proto::ProtoError;
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

use crate::plugin::Answer;

/// An [`Answer`] without its records' objects: flags, and the records as wire octets.
#[derive(Debug)]
pub struct CompactAnswer {
    rcode: ResponseCode,
    authoritative: bool,
    recursion_available: bool,
    plugin: &'static str,
    /// Records in the answer, authority and additional sections.
    counts: [u16; 3],
    wire: Box<[u8]>,
}

impl CompactAnswer {
    /// `answer` in wire form, if its records encode in at most `max_octets` octets (and at
    /// most 65,535, the largest message). The `error` text is not kept.
    pub fn encode(answer: &Answer, max_octets: usize) -> Option<CompactAnswer> {
        let sections = [&answer.answers, &answer.authority, &answer.additional];
        let mut counts = [0u16; 3];
        let mut wire = Vec::new();
        let mut encoder = BinEncoder::new(&mut wire);
        encoder.set_max_size(u16::try_from(max_octets).unwrap_or(u16::MAX));
        let mut previous: Option<(&Name, usize)> = None;
        for (count, records) in counts.iter_mut().zip(sections) {
            *count = u16::try_from(records.len()).ok()?;
            for record in records.iter() {
                previous = Some(emit(record, previous, &mut encoder).ok()?);
            }
        }
        Some(CompactAnswer {
            rcode: answer.rcode,
            authoritative: answer.authoritative,
            recursion_available: answer.recursion_available,
            plugin: answer.plugin,
            counts,
            wire: wire.into_boxed_slice(),
        })
    }

    /// The answer again, records decoded; `None` only if the octets do not decode, which
    /// [`CompactAnswer::encode`] never writes.
    pub fn decode(&self) -> Option<Answer> {
        let mut decoder = BinDecoder::new(&self.wire);
        let mut sections: [Vec<Record>; 3] = Default::default();
        for (records, count) in sections.iter_mut().zip(self.counts) {
            records.reserve_exact(usize::from(count));
            for _ in 0..count {
                records.push(Record::read(&mut decoder).ok()?);
            }
        }
        let [answers, authority, additional] = sections;
        Some(Answer {
            rcode: self.rcode,
            authoritative: self.authoritative,
            recursion_available: self.recursion_available,
            answers,
            authority,
            additional,
            plugin: self.plugin,
            error: None,
            drop: false,
        })
    }

    /// Octets held on the heap and inline.
    pub fn size(&self) -> usize {
        std::mem::size_of::<CompactAnswer>() + self.wire.len()
    }
}

/// Write `record` as [`Record::emit`] does, but its owner as a pointer to the `previous`
/// record's owner (its offset) when they are the same name. Returns its owner and offset.
fn emit<'r>(
    record: &'r Record,
    previous: Option<(&Name, usize)>,
    encoder: &mut BinEncoder<'_>,
) -> Result<(&'r Name, usize), ProtoError> {
    let offset = encoder.offset();
    let owner = match previous {
        Some((name, at)) if name.eq_case(&record.name) && at < 0x3FFF => {
            encoder.emit_u16(0xC000 | u16::try_from(at).unwrap_or(0))?;
            (&record.name, at)
        }
        _ => {
            record.name.emit(encoder)?;
            (&record.name, offset)
        }
    };
    record.record_type().emit(encoder)?;
    record.dns_class.emit(encoder)?;
    encoder.emit_u32(record.ttl)?;
    let place = encoder.place::<u16>()?;
    record.data.emit(encoder)?;
    let len = u16::try_from(encoder.len_since_place(&place))
        .map_err(|_| ProtoError::from("record data longer than 65,535 octets"))?;
    place.replace(encoder, len)?;
    Ok(owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME, SOA};
    use hickory_proto::rr::{Name, RData};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).expect("name")
    }

    #[test]
    fn an_answer_round_trips_and_takes_about_its_wire_size() {
        let owner = name("Big.Example.");
        let mut answer = Answer::rcode(ResponseCode::NoError, "forward");
        answer.recursion_available = true;
        answer.answers.push(Record::from_rdata(
            owner.clone(),
            60,
            RData::CNAME(CNAME(name("target.example."))),
        ));
        for i in 0..500u32 {
            let address = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            // One owner in another case: kept as written, not pointed at the first.
            let owner = if i == 250 { "TARGET.example." } else { "target.example." };
            answer.answers.push(Record::from_rdata(
                name(owner),
                30,
                RData::A(A(address)),
            ));
        }
        answer.authority.push(Record::from_rdata(
            name("example."),
            300,
            RData::SOA(SOA::new(
                name("ns.example."),
                name("hostmaster.example."),
                1,
                2,
                3,
                4,
                5,
            )),
        ));
        let compact = CompactAnswer::encode(&answer, 65_535).expect("fits");
        assert!(
            compact.size() < 500 * 16 + 200,
            "compressed: {} octets",
            compact.size()
        );
        let back = compact.decode().expect("decodes");
        assert_eq!(back.answers, answer.answers, "order kept");
        for (back, before) in back.answers.iter().zip(&answer.answers) {
            assert!(back.name.eq_case(&before.name), "case kept: {}", back.name);
        }
        assert_eq!(back.authority, answer.authority);
        assert!(back.additional.is_empty());
        assert_eq!(back.rcode, ResponseCode::NoError);
        assert!(back.recursion_available && !back.authoritative);
        assert_eq!(back.plugin, "forward");
    }

    #[test]
    fn an_answer_over_the_size_is_not_encoded() {
        let mut answer = Answer::rcode(ResponseCode::NoError, "forward");
        for i in 0..100u32 {
            answer.answers.push(Record::from_rdata(
                name("a.example."),
                30,
                RData::A(A(std::net::Ipv4Addr::from(i))),
            ));
        }
        assert!(CompactAnswer::encode(&answer, 1000).is_none());
        assert!(CompactAnswer::encode(&answer, 2000).is_some());
    }
}
