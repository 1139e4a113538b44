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
use tokio::time::{Instant, timeout};

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
    /// Answers waiting (on an upstream) for one connection before it stops reading; answers
    /// ready at once are written before the next read.
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
            // An IPv4 client of the dual-stack `[::]` listener arrives v4-mapped: it is an IPv4
            // client (metrics' family, logs, `acl`, per-address caps), as on the UDP socket.
            Ok((stream, peer)) => (
                stream,
                SocketAddr::new(peer.ip().to_canonical(), peer.port()),
            ),
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

/// What one connection waits for next.
enum Event {
    /// Bytes arrived (0: the client closed its side).
    Read(io::Result<usize>),
    /// An answer that waited is ready.
    Late(Option<(Vec<u8>, PendingPermit)>),
    /// Stop reading: shutdown, closed to make room, or a timeout.
    StopReading,
}

/// The bytes a connection has read: whole frames are taken from the front; a frame cut by the
/// end of a read waits for the rest. Starts small and grows only to the frame being read.
struct Input {
    bytes: Vec<u8>,
    filled: usize,
}

/// What an idle connection keeps for its next frames.
const INITIAL_INPUT: usize = 4096;

impl Input {
    fn new() -> Input {
        Input {
            bytes: vec![0u8; INITIAL_INPUT],
            filled: 0,
        }
    }

    /// The length the frame at `offset` declares, once its 2-byte prefix is in.
    fn declared_from(&self, offset: usize) -> Option<usize> {
        (self.filled >= offset + 2).then(|| {
            usize::from(u16::from_be_bytes([
                self.bytes[offset],
                self.bytes[offset + 1],
            ]))
        })
    }

    /// Whether part of a frame is in (its read timeout runs).
    fn partial(&self) -> bool {
        self.filled > 0
    }

    /// Room to read into, grown to hold the whole frame at the front.
    fn room(&mut self) -> &mut [u8] {
        let needed = self
            .declared_from(0)
            .map_or(INITIAL_INPUT, |len| (2 + len).max(INITIAL_INPUT));
        if self.bytes.len() < needed {
            self.bytes.resize(needed, 0);
        }
        &mut self.bytes[self.filled..]
    }

    /// Drop the first `consumed` octets, keeping the rest at the front; give back what a large
    /// frame grew once nothing is left.
    fn consume(&mut self, consumed: usize) {
        self.bytes.copy_within(consumed..self.filled, 0);
        self.filled -= consumed;
        if self.filled == 0 && self.bytes.len() > INITIAL_INPUT {
            self.bytes.truncate(INITIAL_INPUT);
            self.bytes.shrink_to_fit();
        }
    }
}

/// Append `answer` to `output` as one frame; `false` for an answer not to be sent (`acl`'s
/// drop, or too long, which cannot happen).
fn frame(output: &mut Vec<u8>, answer: &[u8]) -> bool {
    let Some(len) = u16::try_from(answer.len()).ok().filter(|len| *len > 0) else {
        return false;
    };
    output.extend_from_slice(&len.to_be_bytes());
    output.extend_from_slice(answer);
    true
}

/// Serve one connection: read what the client sent, answer every whole frame in it (the
/// answers of one read go out in one write), send answers that waited as they come, and close
/// on the idle or read timeout, at shutdown, or when the client closes, after the last answer
/// owed is written.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    router: SharedRouter,
    limits: TcpLimits,
    pending: PendingLimit,
    tracked: Arc<Tracked>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (late_tx, mut late_rx) = mpsc::channel::<(Vec<u8>, PendingPermit)>(limits.max_in_flight);
    let mut late_in_flight = 0usize;
    let mut input = Input::new();
    let mut output: Vec<u8> = Vec::new();
    let mut reading = true;
    // Answers in `output` not written yet, and the permits of those that waited.
    let mut owed = 0usize;
    let mut permits: Vec<PendingPermit> = Vec::new();
    // The idle timeout runs from the last whole frame; the read timeout from a frame's first
    // octets until its last.
    let mut idle_since = Instant::now();
    let mut frame_started = idle_since;
    loop {
        // Answer every whole frame read so far.
        let mut consumed = 0;
        while let Some(len) = input.declared_from(consumed) {
            // docs/bad-input.md row 21: a frame that cannot hold a header ends the connection
            // (RFC 7766).
            if len < 12 {
                reading = false;
                consumed = input.filled;
                break;
            }
            if input.filled - consumed < 2 + len {
                break;
            }
            let query = &input.bytes[consumed + 2..consumed + 2 + len];
            consumed += 2 + len;
            tracked.frame_read();
            match handle(&router.load(), &pending, query, peer, Transport::Tcp) {
                Handled::Nothing => tracked.answered(),
                Handled::Reply(bytes) => {
                    if frame(&mut output, &bytes) {
                        owed += 1;
                    } else {
                        tracked.answered();
                    }
                }
                Handled::Later(later) => {
                    late_in_flight += 1;
                    let tx = late_tx.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(later.finish().await).await;
                    });
                }
            }
        }
        if consumed > 0 {
            input.consume(consumed);
            idle_since = Instant::now();
            // What is left is the start of the next frame.
            frame_started = idle_since;
        }
        if !output.is_empty() {
            let result = timeout(limits.write_timeout, stream.write_all(&output)).await;
            for _ in 0..owed {
                tracked.answered();
            }
            owed = 0;
            output.clear();
            permits.clear();
            if !matches!(result, Ok(Ok(()))) {
                return;
            }
        }
        if !reading && late_in_flight == 0 {
            break;
        }
        let can_read = reading && late_in_flight < limits.max_in_flight;
        let deadline = if input.partial() {
            frame_started + limits.read_timeout
        } else {
            idle_since + limits.idle_timeout
        };
        let event = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop), if reading => Event::StopReading,
            // Closed to make room for another connection while idle.
            _ = tracked.closed(), if reading => Event::StopReading,
            late = late_rx.recv(), if late_in_flight > 0 => Event::Late(late),
            _ = tokio::time::sleep_until(deadline), if can_read => Event::StopReading,
            read = stream.read(input.room()), if can_read => Event::Read(read),
        };
        match event {
            Event::StopReading | Event::Read(Ok(0) | Err(_)) => reading = false,
            Event::Read(Ok(n)) => {
                if !input.partial() {
                    frame_started = Instant::now();
                }
                input.filled += n;
            }
            // Cannot happen while this function holds a sender.
            Event::Late(None) => late_in_flight = 0,
            Event::Late(Some((bytes, permit))) => {
                late_in_flight -= 1;
                if frame(&mut output, &bytes) {
                    owed += 1;
                    permits.push(permit);
                } else {
                    tracked.answered();
                }
            }
        }
    }
    let _ = stream.shutdown().await;
}
