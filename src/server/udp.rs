//! The UDP receive loop: one `SO_REUSEPORT` socket per worker, so the kernel spreads
//! datagrams over workers; each loop answers what it can at once from the same loop, with no
//! task spawned per packet. Only answers that must wait get a task of their own.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::SharedRouter;
use super::handle::{Handled, handle};
use crate::plugin::Transport;

/// A receive buffer as large as any datagram: the kernel never truncates silently (§6a row 25).
const RECV_BUFFER: usize = 65535;

/// Bind one UDP socket to `addr` with `SO_REUSEPORT` (dual-stack when `addr` is `[::]`).
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_port(true)?;
    // A larger kernel queue absorbs bursts; the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Serve `socket` until `shutdown` turns true.
pub async fn serve(socket: UdpSocket, router: SharedRouter, mut shutdown: watch::Receiver<bool>) {
    let socket = Arc::new(socket);
    let mut buffer = vec![0u8; RECV_BUFFER];
    loop {
        let received = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        let (len, source) = match received {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors from earlier sends surface here on Linux; they are not fatal.
                tracing::debug!("udp receive: {e}");
                continue;
            }
        };
        match handle(&router.load(), &buffer[..len], source, Transport::Udp) {
            Handled::Nothing => {}
            Handled::Reply(bytes) => send(&socket, &bytes, source).await,
            Handled::Later(later) => {
                let socket = socket.clone();
                tokio::spawn(async move {
                    let bytes = later.finish().await;
                    send(&socket, &bytes, source).await;
                });
            }
        }
    }
}

async fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = socket.send_to(bytes, to).await {
        tracing::debug!("udp send to {to}: {e}");
    }
}
