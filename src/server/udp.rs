//! The UDP transport. Each socket is served by a thread of its own that blocks in
//! `recvmmsg(2)` for up to `BATCH` datagrams (returning as soon as one is there), answers what
//! it can at once and sends those answers with one `sendmmsg(2)`: two system calls per wake-up
//! and no readiness polling, the kernel's floor for a UDP server. Answers that must wait (an
//! upstream) are finished on the runtime and sent on the same socket. One `SO_REUSEPORT` socket
//! per worker, so the kernel spreads datagrams over workers.
//!
//! A wildcard listener has a plain IPv4 socket (`0.0.0.0`) beside an IPv6-only one (`[::]`),
//! each asking the kernel for every datagram's destination address (`IP_PKTINFO`,
//! `IPV6_RECVPKTINFO`) and sending the answer from that address, as CoreDNS does: on a host with
//! several addresses the kernel would otherwise pick the source by route, and a client that
//! asked another address drops the answer. A socket bound to one address skips packet info.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, Shutdown, SockaddrStorage,
    recvmmsg, sendmmsg, sendmsg, setsockopt, shutdown, sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::oneshot;

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

/// How long an answer that waited (an upstream) retries while the socket's send buffer is full
/// before it is dropped, as the kernel drops datagrams it has no room for.
const LATE_SEND_PATIENCE: Duration = Duration::from_millis(200);

/// Bind one blocking UDP socket to `addr` with `SO_REUSEPORT`. `[::]` is IPv6 only: a wildcard
/// listener binds `0.0.0.0` beside it ([`wildcard_pair`]).
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    if addr.ip().is_unspecified() {
        if addr.is_ipv6() {
            setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
        } else {
            setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
        }
    }
    // A larger kernel queue absorbs bursts; the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The IPv4 wildcard that serves beside `addr` when `addr` is the IPv6 wildcard `[::]`.
pub fn wildcard_pair(addr: SocketAddr) -> Option<SocketAddr> {
    (addr.is_ipv6() && addr.ip().is_unspecified()).then(|| {
        SocketAddr::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            addr.port(),
        )
    })
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

/// Take up to `buffers.len()` datagrams with one `recvmmsg`, blocking until the first is there;
/// with `packet_info`, also each one's destination address.
fn receive_batch(
    fd: RawFd,
    packet_info: bool,
    buffers: &mut [[u8; DATAGRAM_BUFFER]],
    received: &mut Vec<Received>,
) -> io::Result<()> {
    received.clear();
    let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers
        .iter_mut()
        .map(|b| [IoSliceMut::new(b.as_mut_slice())])
        .collect();
    let control = packet_info.then(packet_info_space);
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(slices.len(), control);
    let results = recvmmsg(
        fd,
        &mut headers,
        slices.iter_mut(),
        MsgFlags::MSG_WAITFORONE,
        None,
    )
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

/// Send `replies`, which all leave from `from`, with one `sendmmsg`; returns how many went out.
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

/// Send one reply without blocking (the socket itself blocks, for its worker thread).
fn send_one(
    fd: RawFd,
    bytes: &[u8],
    to: &SockaddrStorage,
    from: Option<Destination>,
) -> io::Result<()> {
    let info = from.map(SourceInfo::new);
    let control: Vec<ControlMessage<'_>> = info.iter().map(SourceInfo::message).collect();
    let flags = MsgFlags::MSG_DONTWAIT;
    sendmsg(fd, &[IoSlice::new(bytes)], &control, flags, Some(to))
        .map(|_| ())
        .map_err(io::Error::from)
}

/// Send `replies`: each run of replies leaving from one address with one `sendmmsg` (blocking
/// while the send buffer is full); a reply the kernel refuses is dropped, as a datagram is.
fn send_replies(fd: RawFd, replies: &mut Vec<Reply>) {
    let mut start = 0;
    while start < replies.len() {
        let from = replies[start].2;
        let end = replies[start..]
            .iter()
            .position(|r| r.2 != from)
            .map_or(replies.len(), |n| start + n);
        match send_batch(fd, &replies[start..end], from) {
            Ok(0) => start += 1,
            Ok(sent) => start += sent,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // The first reply of the run failed (an unreachable destination): skip it.
                tracing::debug!("udp send: {e}");
                start += 1;
            }
        }
    }
    replies.clear();
}

/// A UDP socket served by a thread of its own, until [`UdpWorker::stop`].
pub struct UdpWorker {
    socket: Arc<UdpSocket>,
    stopping: Arc<AtomicBool>,
    stopped: oneshot::Receiver<()>,
}

impl UdpWorker {
    /// Serve `socket` on a new thread. Answers that must wait run on the current runtime.
    pub fn start(
        socket: UdpSocket,
        router: SharedRouter,
        pending: PendingLimit,
    ) -> io::Result<UdpWorker> {
        let runtime = tokio::runtime::Handle::current();
        let socket = Arc::new(socket);
        let stopping = Arc::new(AtomicBool::new(false));
        let (done, stopped) = oneshot::channel();
        let serving = Serving {
            socket: socket.clone(),
            router,
            pending,
            stopping: stopping.clone(),
        };
        std::thread::Builder::new()
            .name("udp".to_string())
            .spawn(move || {
                // Plugins may start timers or tasks while they answer.
                let _runtime = runtime.enter();
                serving.run(&runtime);
                let _ = done.send(());
            })?;
        Ok(UdpWorker {
            socket,
            stopping,
            stopped,
        })
    }

    /// Stop receiving and wait until the thread has sent what it took. Answers still waiting
    /// on the runtime are accounted by the listener's [`PendingLimit`].
    pub async fn stop(self) {
        self.stopping.store(true, Ordering::Release);
        // Wakes the thread out of its blocking receive; from now on a receive never blocks.
        // On an unconnected socket the kernel reports ENOTCONN, and wakes it all the same.
        match shutdown(self.socket.as_raw_fd(), Shutdown::Read) {
            Ok(()) | Err(Errno::ENOTCONN) => {}
            Err(e) => tracing::debug!("udp shutdown: {e}"),
        }
        let _ = self.stopped.await;
    }
}

/// What a worker thread serves with.
struct Serving {
    socket: Arc<UdpSocket>,
    router: SharedRouter,
    pending: PendingLimit,
    stopping: Arc<AtomicBool>,
}

impl Serving {
    /// Receive, answer and send until [`UdpWorker::stop`].
    fn run(&self, runtime: &tokio::runtime::Handle) {
        let fd = self.socket.as_raw_fd();
        let packet_info = self
            .socket
            .local_addr()
            .is_ok_and(|addr| addr.ip().is_unspecified());
        let mut buffers = vec![[0u8; DATAGRAM_BUFFER]; BATCH];
        let mut received = Vec::with_capacity(BATCH);
        let mut replies: Vec<Reply> = Vec::with_capacity(BATCH);
        loop {
            let result = receive_batch(fd, packet_info, &mut buffers, &mut received);
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            if let Err(e) = result {
                // ICMP errors from earlier sends surface here on Linux; they are not fatal.
                tracing::debug!("udp receive: {e}");
                continue;
            }
            let current = self.router.load();
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
                let query = &buffer[..datagram.len];
                match handle(&current, &self.pending, query, source, Transport::Udp) {
                    Handled::Nothing => {}
                    Handled::Reply(bytes) => {
                        replies.push((bytes, datagram.source, datagram.destination));
                    }
                    Handled::Later(later) => {
                        let socket = self.socket.clone();
                        let (to, from) = (datagram.source, datagram.destination);
                        runtime.spawn(async move {
                            let (bytes, permit) = later.finish().await;
                            // Nothing to send for an answer that is dropped (`acl`).
                            if !bytes.is_empty() {
                                send_late(&socket, &bytes, &to, from).await;
                            }
                            drop(permit);
                        });
                    }
                }
            }
            drop(current);
            if !replies.is_empty() {
                send_replies(fd, &mut replies);
            }
        }
    }
}

/// Send an answer that waited, from the runtime: without blocking (the socket belongs to its
/// worker thread), retrying while the send buffer is full, for at most [`LATE_SEND_PATIENCE`].
async fn send_late(
    socket: &UdpSocket,
    bytes: &[u8],
    to: &SockaddrStorage,
    from: Option<Destination>,
) {
    let fd = socket.as_raw_fd();
    let deadline = tokio::time::Instant::now() + LATE_SEND_PATIENCE;
    loop {
        match send_one(fd, bytes, to, from) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if tokio::time::Instant::now() >= deadline {
                    tracing::debug!("udp send to {to}: send buffer full, answer dropped");
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!("udp send to {to}: {e}");
                return;
            }
            Ok(()) => return,
        }
    }
}
