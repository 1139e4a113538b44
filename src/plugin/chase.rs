//! A CNAME answered by a plugin, followed through the whole server: the target's answer
//! appended as CoreDNS's `plugin.A` and its callers do (ExternalName Services, `k8s_external`'s
//! load balancers known by name, `template`'s CNAMEs).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use super::{Answer, Request, Resolve, Served};

/// CNAMEs followed at most in one answer (CoreDNS's `plugin.A` stops after 8).
pub const MAX_CNAME_DEPTH: usize = 8;

/// Whether `request`, which led to a CNAME to `target`, may follow it: `target` was not asked
/// on the way here (a loop) and the chain is not longer than [`MAX_CNAME_DEPTH`].
pub fn may_follow(request: &Request, target: &Name) -> bool {
    !request.has_passed(target) && request.depth() < MAX_CNAME_DEPTH
}

/// `answer`, which ends in a CNAME of the asked name to `target`, with the target's answer from
/// the whole server appended ([`followed`]). RFC 1034 §3.6.2: "CNAME chains should be followed
/// and CNAME loops signalled as an error": a loop ends at the CNAME that closes it, a chain too
/// long at the CNAME past the limit: each CNAME once, then SERVFAIL. (CoreDNS answers NODATA
/// without the CNAMEs: `plugin.A` in `plugin/backend_lookup.go` drops a CNAME whose target it
/// has seen, or when 8 precede it, and every CNAME before it, since a CNAME is kept only with
/// the records it leads to.)
pub fn follow(
    mut answer: Answer,
    target: Name,
    request: &Request,
    resolver: &dyn Resolve,
) -> Served {
    if !may_follow(request, &target) {
        answer.rcode = ResponseCode::ServFail;
        answer.error = Some(format!(
            "CNAME loop or chain of more than {MAX_CNAME_DEPTH} at {}",
            request.name
        ));
        return Served::Ready(answer);
    }
    let owner = request.name.clone();
    resolver
        .resolve(&request.derived(target, request.qtype))
        .map(move |chased| followed(answer, chased, &owner))
}

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
