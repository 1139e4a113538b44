//! One exchange with one upstream, over UDP or TCP, and the checks a reply must pass before it
//! is used: the source address and port (a connected socket), the ID, and the question
//! (Cure53 DNS-01-003, CVE-2020-25684/85). A reply that fails them is ignored and the wait goes
//! on until the attempt's deadline (CVE-2023-28452: a forged reply must not end the wait).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use super::metrics::{ConnCache, UpstreamMetrics};
use super::setup::TlsSettings;

/// Why an exchange gave no usable reply.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ExchangeError {
    /// No valid reply before the deadline.
    #[error("timeout")]
    Timeout,
    /// A socket error.
    #[error("{0}")]
    Io(String),
    /// The reply did not parse.
    #[error("unparseable reply: {0}")]
    Malformed(String),
}

impl From<std::io::Error> for ExchangeError {
    fn from(e: std::io::Error) -> Self {
        ExchangeError::Io(e.to_string())
    }
}

/// What we send upstream: the client's question and flags, with a fresh random ID.
#[derive(Clone, Debug)]
pub struct OutgoingQuery {
    /// The question, with the client's case.
    pub query: Query,
    /// RD of the client's query.
    pub recursion_desired: bool,
    /// CD of the client's query.
    pub checking_disabled: bool,
    /// DO of the client's query.
    pub dnssec_ok: bool,
}

impl OutgoingQuery {
    /// The wire form with ID `id`.
    pub fn encode(&self, id: u16) -> Result<Vec<u8>, ExchangeError> {
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = self.recursion_desired;
        message.metadata.checking_disabled = self.checking_disabled;
        message.add_query(self.query.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(self.dnssec_ok);
        message.set_edns(edns);
        message
            .to_vec()
            .map_err(|e| ExchangeError::Malformed(format!("cannot encode the query: {e}")))
    }

    /// Whether `reply` answers this query with ID `id`: a response, same ID, same question
    /// (name compared case-insensitively).
    pub fn is_answered_by(&self, id: u16, reply: &Message) -> bool {
        reply.metadata.message_type == MessageType::Response
            && reply.metadata.id == id
            && reply.queries.len() == 1
            && reply.queries[0].query_type() == self.query.query_type()
            && reply.queries[0].query_class() == self.query.query_class()
            && reply.queries[0].name().eq_ignore_root(self.query.name())
    }
}

fn unspecified(addr: &SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// The largest UDP reply read: we offer 1232 octets (EDNS), and an upstream that ignores it
/// gets up to this much; a datagram that fills it may have been cut, so it is asked again over
/// TCP.
const UDP_REPLY_OCTETS: usize = 4096;

/// What one datagram from the upstream was.
enum Datagram {
    /// Our answer.
    Reply(Message),
    /// It filled the buffer: possibly cut, to be asked over TCP.
    TooLarge,
    /// Not ours (wrong ID or question, or garbage without our ID): keep waiting.
    Other,
}

/// Read one waiting datagram into a buffer that exists only while it is read and parsed (a
/// query waiting on a silent upstream holds no buffer).
fn receive(
    socket: &UdpSocket,
    query: &OutgoingQuery,
    id: u16,
) -> Result<Datagram, std::io::Error> {
    let mut buffer = [0u8; UDP_REPLY_OCTETS];
    let len = socket.try_recv(&mut buffer)?;
    if len == buffer.len() {
        return Ok(Datagram::TooLarge);
    }
    Ok(match Message::from_vec(&buffer[..len]) {
        Ok(reply) if query.is_answered_by(id, &reply) => Datagram::Reply(reply),
        Ok(_) => Datagram::Other,
        // Garbage with our ID is the upstream's broken answer.
        Err(e) if len >= 2 && u16::from_be_bytes([buffer[0], buffer[1]]) == id => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e.to_string(),
            ));
        }
        Err(_) => Datagram::Other,
    })
}

/// One UDP exchange from a fresh socket: a random source port chosen by the kernel per query,
/// and `connect` so only datagrams from the upstream's address and port are received. A reply
/// too large for [`UDP_REPLY_OCTETS`] comes back marked truncated, to be asked over TCP.
pub async fn udp(
    upstream: SocketAddr,
    query: &OutgoingQuery,
    deadline: Instant,
) -> Result<Message, ExchangeError> {
    let id: u16 = rand::random();
    let bytes = query.encode(id)?;
    let socket = UdpSocket::bind(unspecified(&upstream)).await?;
    socket.connect(upstream).await?;
    socket.send(&bytes).await?;
    loop {
        match timeout_at(deadline, socket.readable()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(ExchangeError::Timeout),
        }
        match receive(&socket, query, id) {
            Ok(Datagram::Reply(reply)) => return Ok(reply),
            Ok(Datagram::TooLarge) => {
                let mut cut = Message::new(id, MessageType::Response, OpCode::Query);
                cut.metadata.truncation = true;
                return Ok(cut);
            }
            Ok(Datagram::Other) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(ExchangeError::Malformed(e.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Idle connections to one upstream kept for reuse (`expire`), so TCP and TLS queries do not
/// each pay a handshake. A connection serves one query at a time.
#[derive(Debug)]
pub struct Pool {
    tcp: Idle<TcpStream>,
    tls: Idle<tokio_rustls::client::TlsStream<TcpStream>>,
}

impl Pool {
    /// An empty pool keeping at most `limit` idle connections per transport, counting its
    /// reuses (hits) and new connections (misses) in `metrics`.
    pub fn new(metrics: &UpstreamMetrics, limit: usize) -> Pool {
        Pool {
            tcp: Idle::new(metrics.tcp.clone(), limit),
            tls: Idle::new(metrics.tls.clone(), limit),
        }
    }
}

/// The idle connections of one transport, and its connection-cache counts.
#[derive(Debug)]
struct Idle<S> {
    streams: Mutex<Vec<(S, Instant)>>,
    counts: ConnCache,
    /// The most idle connections kept (`max_idle_conns`).
    limit: usize,
}

impl<S> Idle<S> {
    fn new(counts: ConnCache, limit: usize) -> Idle<S> {
        Idle {
            streams: Mutex::default(),
            counts,
            limit,
        }
    }
}

fn take<S>(pool: &Idle<S>, expire: Duration) -> Option<S> {
    let mut idle = pool.streams.lock().unwrap_or_else(|p| p.into_inner());
    while let Some((stream, since)) = idle.pop() {
        if since.elapsed() < expire {
            return Some(stream);
        }
    }
    None
}

fn give_back<S>(pool: &Idle<S>, stream: S) {
    let mut idle = pool.streams.lock().unwrap_or_else(|p| p.into_inner());
    if idle.len() < pool.limit {
        idle.push((stream, Instant::now()));
    }
}

/// One exchange on a stream (TCP or TLS): a length-prefixed query, then replies until ours.
async fn framed<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    query: &OutgoingQuery,
    id: u16,
    bytes: &[u8],
) -> Result<Message, ExchangeError> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| ExchangeError::Malformed("query too long".into()))?;
    let mut frame = Vec::with_capacity(bytes.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(bytes);
    stream.write_all(&frame).await?;
    stream.flush().await?;
    loop {
        let len = usize::from(stream.read_u16().await?);
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await?;
        match Message::from_vec(&body) {
            Ok(reply) if query.is_answered_by(id, &reply) => return Ok(reply),
            Ok(_) => continue,
            Err(e) => return Err(ExchangeError::Malformed(e.to_string())),
        }
    }
}

/// One exchange over a stream transport: on an idle connection of `idle` younger than
/// `expire` if there is one (a connection the upstream closed meanwhile is replaced at once),
/// else on a new one from `connect`; the connection goes back to `idle` afterwards.
async fn pooled<S, C>(
    idle: &Idle<S>,
    expire: Duration,
    connect: C,
    query: &OutgoingQuery,
    deadline: Instant,
) -> Result<Message, ExchangeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Future<Output = Result<S, ExchangeError>>,
{
    let id: u16 = rand::random();
    let bytes = query.encode(id)?;
    let exchange = async {
        if let Some(mut stream) = take(idle, expire) {
            idle.counts.hits.inc();
            if let Ok(reply) = framed(&mut stream, query, id, &bytes).await {
                give_back(idle, stream);
                return Ok(reply);
            }
        }
        idle.counts.misses.inc();
        let mut stream = connect.await?;
        let reply = framed(&mut stream, query, id, &bytes).await?;
        give_back(idle, stream);
        Ok(reply)
    };
    match timeout_at(deadline, exchange).await {
        Ok(result) => result,
        Err(_) => Err(ExchangeError::Timeout),
    }
}

/// One TCP exchange, reusing an idle connection younger than `expire`.
pub async fn tcp(
    upstream: SocketAddr,
    pool: &Pool,
    expire: Duration,
    query: &OutgoingQuery,
    deadline: Instant,
) -> Result<Message, ExchangeError> {
    let connect = async {
        let stream = TcpStream::connect(upstream).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    };
    pooled(&pool.tcp, expire, connect, query, deadline).await
}

/// A DNS-over-TLS client (RFC 7858): rustls with ring, the CA to trust, an optional client
/// certificate, and the name the upstream's certificate must carry.
#[derive(Clone)]
pub struct TlsClient {
    connector: tokio_rustls::TlsConnector,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// Why the `tls` settings of `forward` could not be loaded.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or parsed.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// rustls refused the settings.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    /// `tls_servername` is not a DNS name.
    #[error("tls_servername {name:?}: {source}")]
    ServerName {
        /// The name as written.
        name: String,
        /// Why it is not one.
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },
}

impl TlsError {
    fn file(
        path: &std::path::Path,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> TlsError {
        TlsError::File {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }
}

/// The bytes of a PEM file, read as the Corefile is (a regular file, at most 1 MiB).
fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, TlsError> {
    crate::config::read_bytes(path, true).map_err(|e| TlsError::file(path, e))
}

impl TlsClient {
    /// Build from the `tls` and `tls_servername` options; reads the certificate files.
    pub fn new(settings: &TlsSettings) -> Result<TlsClient, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        match &settings.ca {
            Some(ca) => {
                let pem = read_pem(ca)?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| TlsError::file(ca, e))?;
                    roots.add(cert).map_err(|e| TlsError::file(ca, e))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let config = match &settings.client {
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(&read_pem(cert)?)
                        .collect::<Result<_, _>>()
                        .map_err(|e| TlsError::file(cert, e))?;
                if chain.is_empty() {
                    return Err(TlsError::file(
                        cert,
                        std::io::Error::other("no certificate in the file"),
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(&read_pem(key)?)
                    .map_err(|e| TlsError::file(key, e))?;
                builder.with_client_auth_cert(chain, key)?
            }
            None => builder.with_no_client_auth(),
        };
        let server_name =
            match &settings.server_name {
                Some(name) => Some(ServerName::try_from(name.clone()).map_err(|source| {
                    TlsError::ServerName {
                        name: name.clone(),
                        source,
                    }
                })?),
                None => None,
            };
        Ok(TlsClient {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    fn name_for(&self, upstream: SocketAddr) -> ServerName<'static> {
        self.server_name
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(upstream.ip().into()))
    }
}

/// One DNS-over-TLS exchange, reusing an idle connection as [`tcp`] does.
pub async fn tls(
    upstream: SocketAddr,
    client: &TlsClient,
    pool: &Pool,
    expire: Duration,
    query: &OutgoingQuery,
    deadline: Instant,
) -> Result<Message, ExchangeError> {
    let connect = async {
        let tcp = TcpStream::connect(upstream).await?;
        tcp.set_nodelay(true)?;
        Ok(client
            .connector
            .connect(client.name_for(upstream), tcp)
            .await?)
    };
    pooled(&pool.tls, expire, connect, query, deadline).await
}

/// The read timeout of one attempt, cut to the overall deadline.
pub fn attempt_deadline(read_timeout: Duration, overall: Instant) -> Instant {
    (Instant::now() + read_timeout).min(overall)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{Name, RecordType};

    fn query() -> OutgoingQuery {
        OutgoingQuery {
            query: Query::query(
                Name::from_ascii("Example.ORG.").expect("name"),
                RecordType::A,
            ),
            recursion_desired: true,
            checking_disabled: false,
            dnssec_ok: false,
        }
    }

    #[test]
    fn only_a_response_with_our_id_and_question_is_taken() {
        let q = query();
        let mut reply = Message::new(7, MessageType::Response, OpCode::Query);
        reply.add_query(Query::query(
            Name::from_ascii("example.org.").expect("name"),
            RecordType::A,
        ));
        assert!(
            q.is_answered_by(7, &reply),
            "the name matches case-insensitively"
        );
        assert!(!q.is_answered_by(8, &reply), "wrong ID");
        let mut other = reply.clone();
        other.queries[0] =
            Query::query(Name::from_ascii("evil.org.").expect("name"), RecordType::A);
        assert!(!q.is_answered_by(7, &other), "wrong name");
        let mut aaaa = reply.clone();
        aaaa.queries[0] = Query::query(
            Name::from_ascii("example.org.").expect("name"),
            RecordType::AAAA,
        );
        assert!(!q.is_answered_by(7, &aaaa), "wrong type");
        let mut not_response = reply.clone();
        not_response.metadata.message_type = MessageType::Query;
        assert!(!q.is_answered_by(7, &not_response));
        let mut no_question = reply;
        no_question.queries.clear();
        assert!(!q.is_answered_by(7, &no_question));
    }
}
