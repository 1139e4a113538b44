//! The UDP receive loop: one `SO_REUSEPORT` socket per worker, so the kernel spreads
//! datagrams over workers. Each loop takes up to `BATCH` datagrams per `recvmmsg(2)`, answers
//! what it can at once and sends those answers with one `sendmmsg(2)`: under load this halves
//! the system calls per query. No task is spawned per packet; only answers that must wait get
//! a task of their own.
//!
//! A socket bound to every address (`[::]`, `0.0.0.0`) asks the kernel for each datagram's
//! destination address (`IPV6_RECVPKTINFO`, `IP_PKTINFO`) and sends the answer from that
//! address, as CoreDNS does: on a host with several addresses the kernel would otherwise pick
//! the source by route, and a client that asked another address drops the answer.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use nix::libc;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg,
    sendmmsg, sendmsg, setsockopt, sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::SharedRouter;
use super::handle::{Handled, handle};
use super::pending::PendingLimit;
use crate::plugin::Transport;

/// Datagrams taken per system call.
const BATCH: usize = 16;

/// The receive buffer of each datagram of a batch. A query never comes near it (the largest
/// question is 259 octets; an OPT with options adds a few hundred); a datagram the kernel had to
/// cut to fit is dropped as malformed (docs/bad-input.md row 25).
const DATAGRAM_BUFFER: usize = 4096;

/// Bind one UDP socket to `addr` with `SO_REUSEPORT` (dual-stack when `addr` is `[::]`).
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_port(true)?;
    if addr.ip().is_unspecified() {
        if addr.is_ipv6() {
            // Also reports IPv4 datagrams of the dual-stack socket, as v4-mapped addresses.
            setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
        } else {
            setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
        }
    }
    // A larger kernel queue absorbs bursts; the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// The address a datagram was sent to (from its packet info), which its answer leaves from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Destination {
    V4([u8; 4]),
    /// Also an IPv4 destination of a dual-stack socket, v4-mapped.
    V6([u8; 16]),
}

/// Space for one packet-info control message of either family.
fn packet_info_space() -> Vec<u8> {
    nix::cmsg_space!(libc::in6_pktinfo)
}

/// The packet info that makes the kernel send from `destination`. Holds the C structure the
/// control message points to.
enum SourceInfo {
    V4(libc::in_pktinfo),
    V6(libc::in6_pktinfo),
}

impl SourceInfo {
    fn new(destination: Destination) -> SourceInfo {
        match destination {
            Destination::V4(octets) => SourceInfo::V4(libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from_ne_bytes(octets),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            }),
            Destination::V6(octets) => SourceInfo::V6(libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr { s6_addr: octets },
                ipi6_ifindex: 0,
            }),
        }
    }

    fn message(&self) -> ControlMessage<'_> {
        match self {
            SourceInfo::V4(info) => ControlMessage::Ipv4PacketInfo(info),
            SourceInfo::V6(info) => ControlMessage::Ipv6PacketInfo(info),
        }
    }

    fn space(&self) -> Vec<u8> {
        match self {
            SourceInfo::V4(_) => nix::cmsg_space!(libc::in_pktinfo),
            SourceInfo::V6(_) => nix::cmsg_space!(libc::in6_pktinfo),
        }
    }
}

/// One received datagram: its length, source, destination (wildcard sockets only), and
/// whether the kernel cut it.
struct Received {
    len: usize,
    source: SockaddrStorage,
    destination: Option<Destination>,
    truncated: bool,
}

/// An answer ready to go: bytes, to whom, and from which address (wildcard sockets only).
type Reply = (Vec<u8>, SockaddrStorage, Option<Destination>);

fn socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    storage
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

/// Take up to `buffers.len()` datagrams with one `recvmmsg`, without blocking; with
/// `packet_info`, also each one's destination address.
fn receive_batch(
    fd: RawFd,
    packet_info: bool,
    buffers: &mut [Vec<u8>],
    received: &mut Vec<Received>,
) -> io::Result<()> {
    received.clear();
    let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers
        .iter_mut()
        .map(|b| [IoSliceMut::new(b.as_mut_slice())])
        .collect();
    let control = packet_info.then(packet_info_space);
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(slices.len(), control);
    let results = recvmmsg(fd, &mut headers, slices.iter_mut(), MsgFlags::empty(), None)
        .map_err(io::Error::from)?;
    for message in results {
        let destination = if packet_info {
            message.cmsgs().ok().and_then(|mut cmsgs| {
                cmsgs.find_map(|cmsg| match cmsg {
                    ControlMessageOwned::Ipv6PacketInfo(info) => {
                        Some(Destination::V6(info.ipi6_addr.s6_addr))
                    }
                    ControlMessageOwned::Ipv4PacketInfo(info) => {
                        Some(Destination::V4(info.ipi_addr.s_addr.to_ne_bytes()))
                    }
                    _ => None,
                })
            })
        } else {
            None
        };
        if let Some(source) = message.address {
            received.push(Received {
                len: message.bytes,
                source,
                destination,
                truncated: message.flags.contains(MsgFlags::MSG_TRUNC),
            });
        }
    }
    Ok(())
}

/// Send `replies`, which all leave from `from`, with one `sendmmsg`, without blocking;
/// returns how many went out.
fn send_batch(fd: RawFd, replies: &[Reply], from: Option<Destination>) -> io::Result<usize> {
    let slices: Vec<[IoSlice<'_>; 1]> = replies
        .iter()
        .map(|(bytes, _, _)| [IoSlice::new(bytes)])
        .collect();
    let addresses: Vec<Option<SockaddrStorage>> =
        replies.iter().map(|(_, to, _)| Some(*to)).collect();
    let info = from.map(SourceInfo::new);
    let control: Vec<ControlMessage<'_>> = info.iter().map(SourceInfo::message).collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(
        replies.len(),
        info.as_ref().map(SourceInfo::space),
    );
    let sent = sendmmsg(
        fd,
        &mut headers,
        slices.iter(),
        &addresses,
        control,
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    Ok(sent.count())
}

/// Send one reply, without blocking.
fn send_one(
    fd: RawFd,
    bytes: &[u8],
    to: &SockaddrStorage,
    from: Option<Destination>,
) -> io::Result<()> {
    let info = from.map(SourceInfo::new);
    let control: Vec<ControlMessage<'_>> = info.iter().map(SourceInfo::message).collect();
    sendmsg(
        fd,
        &[IoSlice::new(bytes)],
        &control,
        MsgFlags::empty(),
        Some(to),
    )
    .map(|_| ())
    .map_err(io::Error::from)
}

/// Send `replies`: each run of replies leaving from one address with one `sendmmsg`; what the
/// kernel does not take at once (a full send buffer) goes out one by one, waiting for room.
async fn send_replies(socket: &UdpSocket, replies: &mut Vec<Reply>) {
    let fd = socket.as_raw_fd();
    let mut start = 0;
    while start < replies.len() {
        let from = replies[start].2;
        let end = replies[start..]
            .iter()
            .position(|r| r.2 != from)
            .map_or(replies.len(), |n| start + n);
        let sent = socket
            .try_io(Interest::WRITABLE, || {
                send_batch(fd, &replies[start..end], from)
            })
            .unwrap_or(0);
        start += sent;
        if start < end {
            break;
        }
    }
    for (bytes, to, from) in replies.drain(..).skip(start) {
        send(socket, &bytes, &to, from).await;
    }
}

/// Serve `socket` until `shutdown` turns true.
pub async fn serve(
    socket: UdpSocket,
    router: SharedRouter,
    pending: PendingLimit,
    mut shutdown: watch::Receiver<bool>,
) {
    let socket = Arc::new(socket);
    let fd = socket.as_raw_fd();
    let packet_info = socket
        .local_addr()
        .is_ok_and(|addr| addr.ip().is_unspecified());
    let mut buffers: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; DATAGRAM_BUFFER]).collect();
    let mut received = Vec::with_capacity(BATCH);
    let mut replies: Vec<Reply> = Vec::with_capacity(BATCH);
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
            receive_batch(fd, packet_info, &mut buffers, &mut received)
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
            match handle(
                &current,
                &pending,
                &buffer[..datagram.len],
                source,
                Transport::Udp,
            ) {
                Handled::Nothing => {}
                Handled::Reply(bytes) => {
                    replies.push((bytes, datagram.source, datagram.destination));
                }
                Handled::Later(later) => {
                    let socket = socket.clone();
                    let (to, from) = (datagram.source, datagram.destination);
                    tokio::spawn(async move {
                        let (bytes, permit) = later.finish().await;
                        // Nothing to send for an answer that is dropped (`acl`).
                        if !bytes.is_empty() {
                            send(&socket, &bytes, &to, from).await;
                        }
                        drop(permit);
                    });
                }
            }
        }
        drop(current);
        if !replies.is_empty() {
            send_replies(&socket, &mut replies).await;
        }
    }
}

/// Send one reply, waiting for room in the send buffer.
async fn send(socket: &UdpSocket, bytes: &[u8], to: &SockaddrStorage, from: Option<Destination>) {
    let fd = socket.as_raw_fd();
    let result = socket
        .async_io(Interest::WRITABLE, || send_one(fd, bytes, to, from))
        .await;
    if let Err(e) = result {
        tracing::debug!("udp send to {to}: {e}");
    }
}
