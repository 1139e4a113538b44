//! The whole in-process query path: bytes → request checks → router → plugins (`loadbalance`,
//! `hosts`, `kubernetes` over the demo cluster, `whoami`) → encoded response, as the UDP and TCP
//! loops call it. The first input byte picks the transport (bit 0: TCP) and the source
//! (bit 1: IPv6); the rest is the DNS message.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use clusterdns::plugin::Transport;
use clusterdns::server::Router;
use clusterdns_fuzz::{demo_snapshot, exchange, full_router, index_of};
use libfuzzer_sys::fuzz_target;

fn router() -> &'static Arc<Router> {
    static ROUTER: OnceLock<Arc<Router>> = OnceLock::new();
    ROUTER.get_or_init(|| full_router(index_of(demo_snapshot())))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, message)) = data.split_first() else {
        return;
    };
    let transport = if flags & 1 == 0 {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let source = if flags & 2 == 0 {
        SocketAddr::from(([10, 0, 0, 7], 40000))
    } else {
        SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, 7], 40000))
    };
    let _entered = clusterdns_fuzz::runtime().enter();
    exchange(router(), message, source, transport);
});
