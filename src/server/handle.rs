//! From bytes to bytes: precheck, dispatch, encode, observe. Shared by UDP and TCP.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;

use super::edns::ResponseEdns;
use super::pending::{PendingLimit, PendingPermit};
use super::precheck::{Checked, check};
use super::response::encode_answer;
use super::router::Router;
use crate::metrics::{Exchange, ZoneMetrics};
use crate::plugin::{Answer, Chain, PendingAnswer, Request, ResponseSummary, Served, Transport};

/// The outcome of one received message.
pub enum Handled {
    /// Send nothing.
    Nothing,
    /// Send these bytes now.
    Reply(Vec<u8>),
    /// The answer is being awaited: run [`Handled::Later`]'s future, then send its bytes.
    Later(LaterReply),
}

/// An answer still to come, with what is needed to encode it.
pub struct LaterReply {
    request: Box<Request>,
    edns: ResponseEdns,
    chain: Option<Arc<Chain>>,
    metrics: Option<Arc<ZoneMetrics>>,
    future: PendingAnswer,
    /// Held until the answer is sent: the listener's bound on answers in flight.
    _permit: PendingPermit,
}

impl LaterReply {
    /// Wait for the answer and encode it (no bytes for an answer that is dropped). The permit
    /// comes back with the bytes, to be dropped once they are sent: a shutdown waits for every
    /// permit, so no answer is lost.
    pub async fn finish(self) -> (Vec<u8>, PendingPermit) {
        let answer = self.future.await;
        if answer.drop {
            return (Vec::new(), self._permit);
        }
        let (chain, metrics) = (self.chain.as_deref(), self.metrics.as_deref());
        let bytes = finish(&self.request, self.edns, chain, metrics, &answer);
        (bytes, self._permit)
    }
}

fn finish(
    request: &Request,
    edns: ResponseEdns,
    chain: Option<&Chain>,
    metrics: Option<&ZoneMetrics>,
    answer: &Answer,
) -> Vec<u8> {
    let (bytes, truncated) = encode_answer(request, answer, edns);
    let summary = ResponseSummary {
        answer,
        wire_size: bytes.len(),
        truncated,
    };
    if let Some(metrics) = metrics {
        metrics.observe(&Exchange {
            tcp: request.transport == Transport::Tcp,
            ipv6: request.source.is_ipv6(),
            qtype: request.qtype,
            dnssec_ok: request.dnssec_ok,
            seconds: request.received_at.elapsed().as_secs_f64(),
            request_size: match request.transport {
                Transport::Tcp => 65535,
                Transport::Udp => request.edns_udp_size.map_or(512, |s| s.max(512)),
            },
            response_size: summary.wire_size,
            rcode: answer.rcode,
            plugin: answer.plugin,
        });
    }
    if let Some(chain) = chain {
        chain.observe(request, &summary);
    }
    bytes
}

/// Handle one message from `source`. An answer that must wait takes a permit of `pending`;
/// without one it is REFUSED at once.
pub fn handle(
    router: &Arc<Router>,
    pending: &PendingLimit,
    bytes: &[u8],
    source: SocketAddr,
    transport: Transport,
) -> Handled {
    match check(bytes, source, transport) {
        Checked::Drop => Handled::Nothing,
        Checked::Reply(reply) => Handled::Reply(reply),
        Checked::Query(mut request, edns) => {
            let dispatched = router.dispatch(&mut request);
            // `bufsize` may have lowered the size the client's answer is cut to.
            let edns = edns.limited_to(request.edns_udp_size);
            match dispatched.served {
                Served::Ready(answer) if answer.drop => Handled::Nothing,
                Served::Ready(answer) => {
                    let (chain, metrics) =
                        (dispatched.chain.as_deref(), dispatched.metrics.as_deref());
                    Handled::Reply(finish(&request, edns, chain, metrics, &answer))
                }
                Served::Pending(future) => match pending.try_acquire() {
                    Some(permit) => Handled::Later(LaterReply {
                        request,
                        edns,
                        chain: dispatched.chain,
                        metrics: dispatched.metrics,
                        future,
                        _permit: permit,
                    }),
                    None => {
                        let refused = Answer::rcode(ResponseCode::Refused, "server");
                        let (chain, metrics) =
                            (dispatched.chain.as_deref(), dispatched.metrics.as_deref());
                        Handled::Reply(finish(&request, edns, chain, metrics, &refused))
                    }
                },
            }
        }
    }
}
