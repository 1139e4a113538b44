//! DNS over TCP (RFC 7766): 2-byte length framing, pipelined queries answered as they are
//! ready, a read timeout per frame and an idle timeout between frames (slowloris,
//! CVE-2017-15133), and a cap on connections.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::timeout;

use super::SharedRouter;
use super::handle::{Handled, handle};
use super::pending::PendingLimit;
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
    /// Connections open at once; more are closed on accept.
    pub max_connections: usize,
    /// Responses queued on one connection before reading pauses.
    pub max_in_flight: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            read_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(5),
            max_connections: 1024,
            max_in_flight: 64,
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
    let permits = Arc::new(Semaphore::new(limits.max_connections));
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
        // Over the cap the new connection is closed at once (docs/bad-input.md row 23).
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!("tcp: connection cap reached, closing {peer}");
            continue;
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        let pending = pending.clone();
        tokio::spawn(async move {
            connection(stream, peer, router, limits, pending, shutdown).await;
            drop(permit);
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: SharedRouter,
    limits: TcpLimits,
    pending: PendingLimit,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(limits.max_in_flight);
    let write_timeout = limits.write_timeout;
    let writer_task = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            let Ok(len) = u16::try_from(bytes.len()) else {
                continue;
            };
            let mut frame = Vec::with_capacity(bytes.len() + 2);
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(&bytes);
            match timeout(write_timeout, writer.write_all(&frame)).await {
                Ok(Ok(())) => {}
                _ => return,
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
        match handle(
            &router.load(),
            &pending,
            &buffer[..len],
            peer,
            Transport::Tcp,
        ) {
            Handled::Nothing => {}
            Handled::Reply(bytes) => {
                if tx.send(bytes).await.is_err() {
                    break;
                }
            }
            Handled::Later(later) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(later.finish().await).await;
                });
            }
        }
    }
    drop(tx);
    let _ = writer_task.await;
}
