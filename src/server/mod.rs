//! The transport layer: UDP and TCP listeners, the request checks, EDNS and truncation, and
//! dispatch of each query to its zone's chain.
//!
//! - `precheck`: the bad-input table, before any plugin runs.
//! - `edns`: the EDNS state of a response and our UDP size (a leaf).
//! - `response`: encoding, our OPT, truncation; `fast_encode` the direct path for address answers.
//! - `router`: zone → chain, REFUSED, the panic guard.
//! - `handle`: bytes in → bytes out, shared by both transports.
//! - `pending`: the bound on answers in flight per listener.
//! - `udp`, `tcp`: the socket loops; `tcp_conns` the connection caps of a TCP listener.

pub mod edns;
pub mod fast_encode;
pub mod handle;
pub mod pending;
pub mod precheck;
pub mod response;
pub mod router;
pub mod tcp;
pub mod tcp_conns;
pub mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

pub use pending::{DEFAULT_MAX_PENDING, PendingLimit};
pub use router::Router;

/// Whether binding `addr` failed with `error` only because this host has no IPv6: `addr` is
/// the dual-stack wildcard `[::]` and the kernel has no address family for it. The caller then
/// binds `0.0.0.0` instead; any other error (a taken port) stands.
pub fn no_ipv6(addr: SocketAddr, error: &io::Error) -> bool {
    addr.ip().is_unspecified()
        && addr.is_ipv6()
        && (error.kind() == io::ErrorKind::AddrNotAvailable
            || error.raw_os_error() == Some(nix::libc::EAFNOSUPPORT))
}

/// A listener's router, swapped whole on reload; queries already dispatched keep the chain
/// they started on.
pub type SharedRouter = Arc<arc_swap::ArcSwap<Router>>;
pub use tcp::{DEFAULT_MAX_CONNECTIONS, TcpLimits};

/// A bound listener: UDP sockets (one per worker; a wildcard listener one per worker and
/// family) and a TCP listener on one address.
pub struct Listener {
    /// The address.
    pub addr: SocketAddr,
    udp: Vec<std::net::UdpSocket>,
    tcp: tokio::net::TcpListener,
    router: SharedRouter,
}

impl Listener {
    /// Bind `addr` for UDP (`workers` sockets) and TCP. Nothing is served until [`Listener::spawn`].
    pub fn bind(addr: SocketAddr, workers: usize, router: SharedRouter) -> io::Result<Listener> {
        // TCP first: it refuses a port another server holds, which UDP with SO_REUSEPORT
        // would silently share.
        let tcp = tcp::bind(addr)?;
        let addr = tcp.local_addr()?;
        let addrs: Vec<SocketAddr> = std::iter::once(addr)
            .chain(udp::wildcard_pair(addr))
            .collect();
        let udp = addrs
            .iter()
            .flat_map(|addr| (0..workers.max(1)).map(|_| udp::bind(*addr)))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Listener {
            addr,
            udp,
            tcp,
            router,
        })
    }

    /// The router this listener serves with.
    pub fn router(&self) -> SharedRouter {
        self.router.clone()
    }

    /// Serve on `tasks` until `shutdown` turns true, with at most `pending`'s bound of answers
    /// in flight over all its workers and connections.
    pub fn spawn(
        self,
        tasks: &mut JoinSet<()>,
        limits: TcpLimits,
        pending: PendingLimit,
        shutdown: &watch::Receiver<bool>,
    ) {
        for socket in self.udp {
            let worker = match udp::UdpWorker::start(socket, self.router.clone(), pending.clone()) {
                Ok(worker) => worker,
                Err(e) => {
                    tracing::error!("cannot start a UDP worker thread on {}: {e}", self.addr);
                    continue;
                }
            };
            let mut shutdown = shutdown.clone();
            tasks.spawn(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
                worker.stop().await;
            });
        }
        tasks.spawn(tcp::serve(
            self.tcp,
            self.router,
            limits,
            pending,
            shutdown.clone(),
        ));
    }
}
