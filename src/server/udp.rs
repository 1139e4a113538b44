//! The UDP receive loop: one `SO_REUSEPORT` socket per worker, so the kernel spreads
//! datagrams over workers. Each loop takes up to [`BATCH`] datagrams per `recvmmsg(2)`, answers
//! what it can at once and sends those answers with one `sendmmsg(2)`: under load this halves
//! the system calls per query. No task is spawned per packet; only answers that must wait get
//! a task of their own.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::SharedRouter;
use super::handle::{Handled, handle};
use crate::plugin::Transport;

/// Datagrams taken per system call.
const BATCH: usize = 16;

/// The receive buffer of each datagram of a batch. A query never comes near it (the largest
/// question is 259 octets; an OPT with options adds a few hundred); a datagram the kernel had to
/// cut to fit is dropped as malformed (reliability §6a row 25).
const DATAGRAM_BUFFER: usize = 4096;

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

/// One received datagram: its length, source, and whether the kernel cut it.
struct Received {
    len: usize,
    source: SockaddrStorage,
    truncated: bool,
}

fn socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    storage
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

/// Take up to `buffers.len()` datagrams with one `recvmmsg`, without blocking.
fn receive_batch(
    fd: RawFd,
    buffers: &mut [Vec<u8>],
    received: &mut Vec<Received>,
) -> io::Result<()> {
    received.clear();
    let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers
        .iter_mut()
        .map(|b| [IoSliceMut::new(b.as_mut_slice())])
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(slices.len(), None);
    let results = recvmmsg(fd, &mut headers, slices.iter_mut(), MsgFlags::empty(), None)
        .map_err(io::Error::from)?;
    for message in results {
        if let Some(source) = message.address {
            received.push(Received {
                len: message.bytes,
                source,
                truncated: message.flags.contains(MsgFlags::MSG_TRUNC),
            });
        }
    }
    Ok(())
}

/// Send `replies` with one `sendmmsg`, without blocking; returns how many went out.
fn send_batch(fd: RawFd, replies: &[(Vec<u8>, SockaddrStorage)]) -> io::Result<usize> {
    let slices: Vec<[IoSlice<'_>; 1]> = replies
        .iter()
        .map(|(bytes, _)| [IoSlice::new(bytes)])
        .collect();
    let addresses: Vec<Option<SockaddrStorage>> = replies.iter().map(|(_, to)| Some(*to)).collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(replies.len(), None);
    let sent = sendmmsg(
        fd,
        &mut headers,
        slices.iter(),
        &addresses,
        [] as [ControlMessage<'_>; 0],
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    Ok(sent.count())
}

/// Serve `socket` until `shutdown` turns true.
pub async fn serve(socket: UdpSocket, router: SharedRouter, mut shutdown: watch::Receiver<bool>) {
    let socket = Arc::new(socket);
    let fd = socket.as_raw_fd();
    let mut buffers: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; DATAGRAM_BUFFER]).collect();
    let mut received = Vec::with_capacity(BATCH);
    let mut replies: Vec<(Vec<u8>, SockaddrStorage)> = Vec::with_capacity(BATCH);
    loop {
        let ready = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return,
            ready = socket.readable() => ready,
        };
        if let Err(e) = ready {
            tracing::debug!("udp readiness: {e}");
            continue;
        }
        match socket.try_io(Interest::READABLE, || {
            receive_batch(fd, &mut buffers, &mut received)
        }) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                // ICMP errors from earlier sends surface here on Linux; they are not fatal.
                tracing::debug!("udp receive: {e}");
                continue;
            }
        }
        let current = router.load();
        for (datagram, buffer) in received.iter().zip(&buffers) {
            let Some(source) = socket_addr(&datagram.source) else {
                continue;
            };
            if datagram.truncated {
                tracing::debug!(
                    "udp: datagram from {source} larger than {DATAGRAM_BUFFER} octets dropped"
                );
                continue;
            }
            match handle(&current, &buffer[..datagram.len], source, Transport::Udp) {
                Handled::Nothing => {}
                Handled::Reply(bytes) => replies.push((bytes, datagram.source)),
                Handled::Later(later) => {
                    let socket = socket.clone();
                    tokio::spawn(async move {
                        let bytes = later.finish().await;
                        send(&socket, &bytes, source).await;
                    });
                }
            }
        }
        drop(current);
        if replies.is_empty() {
            continue;
        }
        let sent = socket
            .try_io(Interest::WRITABLE, || send_batch(fd, &replies))
            .unwrap_or(0);
        // What the kernel did not take at once (a full send buffer) goes out one by one.
        for (bytes, to) in replies.drain(..).skip(sent) {
            if let Some(to) = socket_addr(&to) {
                send(&socket, &bytes, to).await;
            }
        }
    }
}

async fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = socket.send_to(bytes, to).await {
        tracing::debug!("udp send to {to}: {e}");
    }
}
