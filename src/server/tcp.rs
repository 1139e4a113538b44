//! DNS over TCP (RFC 7766): 2-byte length framing, pipelined queries answered as they are
//! ready, a read timeout per frame and an idle timeout between frames (slowloris,
//! CVE-2017-15133), and caps on connections in all and per client address
//! ([`super::tcp_conns`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

use super::SharedRouter;
use super::handle::{Handled, handle};
use super::pending::{PendingLimit, PendingPermit};
use super::tcp_conns::{Connections, Tracked};
use crate::plugin::Transport;

/// Limits of the TCP transport (CoreDNS's defaults for the timeouts).
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Time to read the rest of a frame once it started (3 s).
    pub read_timeout: Duration,
    /// Time to wait for the next frame on an open connection (10 s).
    pub idle_timeout: Duration,
    /// Time to write one response (5 s).
    pub write_timeout: Duration,
    /// Connections open at once; past it the longest idle one of the address holding the
    /// most is closed to make room, or the new one if none is idle.
    pub max_connections: usize,
    /// Connections open at once from one client address (a quarter of `max_connections`).
    pub max_per_source: usize,
    /// Responses queued on one connection before reading pauses.
    pub max_in_flight: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            read_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(5),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_source: DEFAULT_MAX_CONNECTIONS / 4,
            max_in_flight: 64,
        }
    }
}

/// TCP connections open at once per listener, unless `-max-tcp-connections` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl TcpLimits {
    /// The defaults with at most `max_connections` connections, a quarter of them (at least
    /// one) per client address.
    pub fn with_max_connections(max_connections: usize) -> TcpLimits {
        TcpLimits {
            max_connections,
            max_per_source: (max_connections / 4).max(1),
            ..TcpLimits::default()
        }
    }
}

/// Bind a TCP listener on `addr` (dual-stack when `addr` is `[::]`). No `SO_REUSEPORT`: a
/// second server on the same port fails here instead of silently sharing it.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Accept connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    router: SharedRouter,
    limits: TcpLimits,
    pending: PendingLimit,
    mut shutdown: watch::Receiver<bool>,
) {
    let connections = Connections::new(limits.max_connections, limits.max_per_source);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!("tcp accept: {e}");
                continue;
            }
        };
        // At a cap an idle connection makes room, else the new one is closed at once
        // (docs/bad-input.md row 23).
        let Some(admitted) = connections.admit(peer.ip()) else {
            tracing::debug!("tcp: connection cap reached, closing {peer}");
            continue;
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        let pending = pending.clone();
        tokio::spawn(async move {
            let tracked = admitted.tracked.clone();
            connection(stream, peer, router, limits, pending, tracked, shutdown).await;
            drop(admitted);
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: SharedRouter,
    limits: TcpLimits,
    pending: PendingLimit,
    tracked: Arc<Tracked>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    // An answer, and the permit of one that waited, given back once it is written.
    let (tx, mut rx) = mpsc::channel::<(Vec<u8>, Option<PendingPermit>)>(limits.max_in_flight);
    let write_timeout = limits.write_timeout;
    let written = tracked.clone();
    let writer_task = tokio::spawn(async move {
        while let Some((bytes, _permit)) = rx.recv().await {
            // Nothing to send for an answer that is dropped (`acl`); too long cannot happen.
            let Some(len) = u16::try_from(bytes.len()).ok().filter(|len| *len > 0) else {
                written.answered();
                continue;
            };
            let mut frame = Vec::with_capacity(bytes.len() + 2);
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(&bytes);
            let result = timeout(write_timeout, writer.write_all(&frame)).await;
            written.answered();
            if !matches!(result, Ok(Ok(()))) {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut buffer = vec![0u8; 65535];
    loop {
        let mut length = [0u8; 2];
        let first = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            // Closed to make room for another connection while idle.
            _ = tracked.closed() => break,
            first = timeout(limits.idle_timeout, reader.read_exact(&mut length)) => first,
        };
        if !matches!(first, Ok(Ok(_))) {
            break;
        }
        let len = usize::from(u16::from_be_bytes(length));
        // docs/bad-input.md row 21: a frame that cannot hold a header ends the connection
        // (RFC 7766).
        if len < 12 {
            break;
        }
        match timeout(limits.read_timeout, reader.read_exact(&mut buffer[..len])).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        tracked.frame_read();
        match handle(
            &router.load(),
            &pending,
            &buffer[..len],
            peer,
            Transport::Tcp,
        ) {
            Handled::Nothing => tracked.answered(),
            Handled::Reply(bytes) => {
                if tx.send((bytes, None)).await.is_err() {
                    break;
                }
            }
            Handled::Later(later) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (bytes, permit) = later.finish().await;
                    let _ = tx.send((bytes, Some(permit))).await;
                });
            }
        }
    }
    drop(tx);
    let _ = writer_task.await;
}
