//! A CNAME answered by a plugin, followed through the whole server: the target's answer
//! appended as CoreDNS's `plugin.A` and its callers do (ExternalName Services, `k8s_external`'s
//! load balancers known by name).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use super::Answer;

/// `answer`, the CNAME of `owner`, followed by `chased`, its target's answer. NOERROR and
/// NXDOMAIN are the target's to give. REFUSED means no block of this server serves the target:
/// the CNAME alone is the answer, and the client's resolver follows it. Any other rcode is a
/// failure of the chain: the CNAME, what the target's answer holds, and SERVFAIL (CoreDNS
/// keeps the CNAME and NOERROR: `plugin.A` takes only the answer section of its upstream
/// lookup). A CNAME of `owner` in `chased` (an answer cached from another entry into a loop)
/// closes a loop: the records stop before it, and the answer is SERVFAIL.
pub fn followed(mut answer: Answer, chased: Answer, owner: &Name) -> Answer {
    let loops = chased
        .answers
        .iter()
        .position(|r| r.record_type() == RecordType::CNAME && r.name == *owner);
    match chased.rcode {
        ResponseCode::Refused => return answer,
        ResponseCode::NoError | ResponseCode::NXDomain if loops.is_none() => {
            answer.rcode = chased.rcode;
            answer.authority = chased.authority;
            answer.additional = chased.additional;
        }
        _ => {
            answer.rcode = ResponseCode::ServFail;
            answer.error = match loops {
                Some(_) => Some(format!("CNAME loop at {owner}")),
                None => chased.error,
            };
        }
    }
    let kept = loops.unwrap_or(chased.answers.len());
    answer.answers.extend(chased.answers.into_iter().take(kept));
    answer
}
