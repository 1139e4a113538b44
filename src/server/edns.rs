//! The EDNS state of a response and our UDP size: the leaf that the request checks, the
//! response encoder and the direct encoder of address answers all use.

use hickory_proto::op::Edns;

pub use crate::plugin::MAX_UDP_PAYLOAD;

/// The EDNS state of a response: whether the query had an OPT, and what it asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseEdns {
    /// The query had no OPT record: none in the response, 512-byte UDP limit.
    Absent,
    /// The query had one: the response carries ours.
    Present {
        /// The DO bit of the query, echoed (RFC 3225).
        dnssec_ok: bool,
        /// The client's UDP payload size.
        udp_size: u16,
    },
}

impl ResponseEdns {
    /// From the query's OPT. Unknown options and flags are not echoed (RFC 6891 §6.1.2).
    pub fn for_request(edns: &Edns) -> ResponseEdns {
        ResponseEdns::Present {
            dnssec_ok: edns.flags().dnssec_ok,
            udp_size: edns.max_payload(),
        }
    }

    /// Our OPT record for the response, when the query had one.
    pub fn opt(self) -> Option<Edns> {
        match self {
            ResponseEdns::Absent => None,
            ResponseEdns::Present { dnssec_ok, .. } => {
                let mut edns = Edns::new();
                edns.set_max_payload(MAX_UDP_PAYLOAD);
                edns.set_version(0);
                edns.set_dnssec_ok(dnssec_ok);
                Some(edns)
            }
        }
    }

    /// With the client's UDP size lowered to at most `limit` (`bufsize`).
    pub fn limited_to(self, limit: Option<u16>) -> ResponseEdns {
        match (self, limit) {
            (
                ResponseEdns::Present {
                    dnssec_ok,
                    udp_size,
                },
                Some(limit),
            ) => ResponseEdns::Present {
                dnssec_ok,
                udp_size: udp_size.min(limit),
            },
            (edns, _) => edns,
        }
    }

    /// The largest UDP response this client takes: 512 without EDNS; with EDNS its size,
    /// counted as at least 512 and clamped to 1232 (RFC 6891 §6.2.3-6.2.5).
    pub fn udp_limit(self) -> usize {
        match self {
            ResponseEdns::Absent => 512,
            ResponseEdns::Present { udp_size, .. } => {
                usize::from(udp_size.clamp(512, MAX_UDP_PAYLOAD))
            }
        }
    }
}
