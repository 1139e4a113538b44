//! The `loop` plugin: at start-up, sends `<random>.<random>.<zone> HINFO` through this server
//! to itself. If one of those queries reaches us a second time, it went out and came back: our
//! upstream forwards to us (a node's resolv.conf pointing at this server, or at 127.0.0.53 seen
//! from the host network). clusterdns then stops with exit status 1 and a message that explains
//! the fix, as CoreDNS does: the plugin reports a fatal event, and the run loop shuts the
//! server down in order and exits. Once a probe is answered without looping, the plugin does nothing
//! more.
//!
//! CoreDNS waits for a third arrival; our `forward` joins identical questions in flight, so a
//! loop shows as exactly two arrivals of one name (the second waits on the first). Each probe
//! attempt uses a new first label, so a retry is never mistaken for a loop.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

pub mod setup;

pub use setup::LoopConfig;

use crate::plugin::{
    Answer, Definition, FatalSender, Next, Plugin, Request, Resolve, Served, Setup, StartContext,
    StartFuture, started,
};

/// `loop` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: None,
    repeatable: false,
    requires: None,
};

impl Setup for LoopConfig {
    fn start(self: Box<Self>, context: &StartContext) -> StartFuture<'_> {
        started(LoopDetect::new(&self.zone, context.fatal.clone()))
    }
}

/// How long the start-up probe keeps trying (CoreDNS: 30 s).
const PROBE_FOR: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct State {
    /// `<random>.<zone>`: every probe name is `<random>.` under it.
    suffix: Name,
    /// Arrivals per probe name.
    seen: Mutex<HashMap<Name, u32>>,
    done: AtomicBool,
    /// Where the loop is reported: it stops the server.
    fatal: FatalSender,
}

/// The running plugin.
#[derive(Debug)]
pub struct LoopDetect {
    state: Arc<State>,
}

fn random_label() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl LoopDetect {
    /// A detector probing under `zone` with a name from a CSPRNG (CVE-2026-26018: a guessable
    /// probe name lets anyone trigger the exit).
    /// A loop is reported to `fatal`.
    pub fn new(zone: &Name, fatal: FatalSender) -> LoopDetect {
        let suffix = Name::from_ascii(format!("{}.", random_label()))
            .and_then(|n| n.append_domain(zone))
            .unwrap_or_else(|_| zone.clone());
        LoopDetect {
            state: Arc::new(State {
                suffix,
                seen: Mutex::new(HashMap::new()),
                done: AtomicBool::new(false),
                fatal,
            }),
        }
    }
}

impl Plugin for LoopDetect {
    fn name(&self) -> &'static str {
        "loop"
    }

    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served {
        let state = &self.state;
        if !state.done.load(Ordering::Acquire)
            && request.qtype == RecordType::HINFO
            && request.name.num_labels() == state.suffix.num_labels() + 1
            && state.suffix.zone_of(&request.name)
        {
            let seen = {
                let mut seen = state.seen.lock().unwrap_or_else(|p| p.into_inner());
                let count = seen.entry(request.name.to_lowercase()).or_insert(0);
                *count += 1;
                *count
            };
            if seen >= 2 {
                tracing::error!(
                    "plugin/loop: Loop ({} -> {}) detected for zone {:?}: the query {} HINFO came back {seen} times. \
                     The upstream of `forward` sends queries back to this server. Forward to a real resolver instead \
                     (for example `forward . 8.8.8.8`), or point the kubelet at a resolv.conf that does not name this \
                     server or a local stub such as 127.0.0.53 (kubelet --resolv-conf=/run/systemd/resolve/resolv.conf). \
                     See https://coredns.io/plugins/loop#troubleshooting",
                    request.source,
                    request.name,
                    state.suffix.base_name().to_string(),
                    request.name
                );
                state.done.store(true, Ordering::Release);
                state.fatal.report(format!(
                    "plugin/loop: forwarding loop detected for {}; see the log above",
                    request.name
                ));
                // Not forwarded again: the looping query ends here while the server stops.
                return Served::Ready(Answer::server_failure("loop", "forwarding loop detected"));
            }
        }
        next.serve(request, resolver)
    }

    fn on_listening(&self, addresses: &[SocketAddr]) {
        let Some(target) = addresses.first().map(|a| {
            let ip = match a.ip() {
                IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            SocketAddr::new(ip, a.port())
        }) else {
            return;
        };
        let state = self.state.clone();
        // Blocking sends from a thread of their own: this runs once, at start-up.
        std::thread::spawn(move || probe(&state, target));
    }
}

fn probe(state: &State, target: SocketAddr) {
    let started = Instant::now();
    let bind = if target.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let Ok(socket) = UdpSocket::bind(bind) else {
        return;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_secs(2)));
    while started.elapsed() < PROBE_FOR && !state.done.load(Ordering::Acquire) {
        let Ok(name) = Name::from_ascii(format!("{}.", random_label()))
            .and_then(|n| n.append_domain(&state.suffix))
        else {
            return;
        };
        let mut message = Message::query();
        message.metadata.id = rand::random();
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(name, RecordType::HINFO));
        let Ok(bytes) = message.to_vec() else { return };
        if socket.send_to(&bytes, target).is_err() {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        let mut buffer = [0u8; 4096];
        if socket.recv_from(&mut buffer).is_ok() {
            // Answered (whatever the rcode) without looping: nothing to detect any more.
            state.done.store(true, Ordering::Release);
        }
    }
    state.done.store(true, Ordering::Release);
}
