//! A scripted upstream resolver on loopback (UDP and TCP on one port) for the `forward` tests:
//! it answers, stays silent, sends garbage, a wrong ID or question, truncates, or is slow.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};

/// What the upstream does with each query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer A `address` (three records over TCP when `Truncate`).
    Answer,
    /// Never reply.
    Silent,
    /// Reply with our ID followed by bytes that do not parse.
    Garbage,
    /// First a reply with another ID, then the right one.
    WrongIdFirst,
    /// Reply only with another question.
    WrongQuestion,
    /// Over UDP a TC=1 reply without answers; over TCP the whole answer.
    Truncate,
    /// Answer SERVFAIL.
    ServFail,
    /// Answer after this many milliseconds.
    Slow(u64),
    /// NXDOMAIN with an SOA (TTL 30, MINIMUM 10) in the authority section.
    NxDomain,
    /// Over UDP a TC=1 reply without answers; over TCP this many A records.
    Large(u16),
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    address: Mutex<[u8; 4]>,
    ttl: AtomicUsize,
    udp_queries: AtomicUsize,
    tcp_queries: AtomicUsize,
    tcp_connections: AtomicUsize,
    /// (question name, "udp" or "tcp") of every query, in arrival order.
    asked: Mutex<Vec<(String, &'static str)>>,
    stop: AtomicBool,
}

impl Shared {
    fn record(&self, query: &Message, transport: &'static str) {
        let name = query
            .queries
            .first()
            .map(|q| q.name().to_string().to_ascii_lowercase())
            .unwrap_or_default();
        self.asked.lock().expect("asked").push((name, transport));
    }
}

/// A running fake upstream.
pub struct FakeUpstream {
    /// Its address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if !self.addr.ip().is_loopback() {
            return;
        }
        // Wake the blocking accept and recv.
        let _ = std::net::TcpStream::connect(self.addr);
        let _ = UdpSocket::bind("127.0.0.1:0").and_then(|s| s.send_to(&[0], self.addr));
    }
}

fn reply_for(query: &Message, shared: &Shared, tcp: bool) -> Option<Vec<u8>> {
    let behaviour = *shared.behaviour.lock().expect("behaviour");
    let mut reply = Message::new(
        query.metadata.id,
        MessageType::Response,
        query.metadata.op_code,
    );
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.queries = query.queries.clone();
    let name = query
        .queries
        .first()
        .map(|q| q.name().clone())
        .unwrap_or_else(Name::root);
    let [a, b, c, d] = *shared.address.lock().expect("address");
    let ttl = u32::try_from(shared.ttl.load(Ordering::Acquire)).unwrap_or(60);
    let record = |last: u8| Record::from_rdata(name.clone(), ttl, RData::A(A::new(a, b, c, last)));
    match behaviour {
        Behaviour::Silent => return None,
        Behaviour::Garbage => {
            let mut bytes = query.metadata.id.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 9, 0xff]);
            return Some(bytes);
        }
        Behaviour::WrongQuestion => {
            let mut other = reply.clone();
            other.queries[0].set_name(Name::from_ascii("evil.example.").expect("name"));
            other.add_answer(Record::from_rdata(
                Name::from_ascii("evil.example.").expect("name"),
                60,
                RData::A(A::new(6, 6, 6, 6)),
            ));
            return other.to_vec().ok();
        }
        Behaviour::ServFail => reply.metadata.response_code = ResponseCode::ServFail,
        Behaviour::NxDomain => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            let zone = Name::from_ascii("example.").expect("zone");
            let soa = hickory_proto::rr::rdata::SOA::new(
                Name::from_ascii("ns.example.").expect("name"),
                Name::from_ascii("hostmaster.example.").expect("name"),
                1,
                7200,
                1800,
                86400,
                10,
            );
            reply.add_authority(Record::from_rdata(zone, 30, RData::SOA(soa)));
        }
        Behaviour::Truncate | Behaviour::Large(_) if !tcp => reply.metadata.truncation = true,
        Behaviour::Large(count) => {
            for i in 0..count {
                let [high, low] = i.to_be_bytes();
                reply.add_answer(Record::from_rdata(
                    name.clone(),
                    ttl,
                    RData::A(A::new(a, b, high, low)),
                ));
            }
        }
        Behaviour::Truncate => {
            for last in [d, d + 1, d + 2] {
                reply.add_answer(record(last));
            }
        }
        Behaviour::Slow(ms) => {
            std::thread::sleep(Duration::from_millis(ms));
            reply.add_answer(record(d));
        }
        Behaviour::Answer | Behaviour::WrongIdFirst => {
            reply.add_answer(record(d));
        }
    }
    reply.to_vec().ok()
}

impl FakeUpstream {
    /// Start on a free loopback port, answering A `address`.
    pub fn start(address: [u8; 4]) -> FakeUpstream {
        FakeUpstream::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), address)
    }

    /// Start on `bind` (UDP and TCP on the same port), answering A `address`. Call it from a
    /// thread inside a network namespace to serve there; dropping it then leaves its threads
    /// blocked until the process ends (the wake-up below is only sent on loopback).
    pub fn start_on(bind: SocketAddr, address: [u8; 4]) -> FakeUpstream {
        // UDP and TCP on one port: with port 0 the kernel picks the TCP port, and another test
        // may hold that number for UDP; then the pair is tried again on a new port.
        let (tcp, udp) = (0..100)
            .find_map(|_| {
                let tcp = TcpListener::bind(bind).expect("bind tcp");
                let addr = tcp.local_addr().expect("addr");
                match UdpSocket::bind(addr) {
                    Ok(udp) => Some((tcp, udp)),
                    Err(e) if bind.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => None,
                    Err(e) => panic!("bind udp on {addr}: {e}"),
                }
            })
            .expect("a port free for both UDP and TCP");
        let addr = tcp.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(Behaviour::Answer),
            address: Mutex::new(address),
            ttl: AtomicUsize::new(60),
            udp_queries: AtomicUsize::new(0),
            tcp_queries: AtomicUsize::new(0),
            tcp_connections: AtomicUsize::new(0),
            asked: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let udp_shared = shared.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok((len, from)) = udp.recv_from(&mut buffer) {
                if udp_shared.stop.load(Ordering::Acquire) {
                    return;
                }
                let Ok(query) = Message::from_vec(&buffer[..len]) else {
                    continue;
                };
                udp_shared.udp_queries.fetch_add(1, Ordering::AcqRel);
                udp_shared.record(&query, "udp");
                let (socket, shared) = (udp.try_clone().expect("clone"), udp_shared.clone());
                std::thread::spawn(move || {
                    if *shared.behaviour.lock().expect("behaviour") == Behaviour::WrongIdFirst {
                        let mut wrong = query.clone();
                        wrong.metadata.id = query.metadata.id.wrapping_add(1);
                        wrong.metadata.message_type = MessageType::Response;
                        let _ = socket.send_to(&wrong.to_vec().expect("encode"), from);
                    }
                    if let Some(bytes) = reply_for(&query, &shared, false) {
                        let _ = socket.send_to(&bytes, from);
                    }
                });
            }
        });
        let tcp_shared = shared.clone();
        std::thread::spawn(move || {
            for stream in tcp.incoming() {
                if tcp_shared.stop.load(Ordering::Acquire) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                tcp_shared.tcp_connections.fetch_add(1, Ordering::AcqRel);
                let shared = tcp_shared.clone();
                std::thread::spawn(move || {
                    let mut len = [0u8; 2];
                    while stream.read_exact(&mut len).is_ok() {
                        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
                        if stream.read_exact(&mut body).is_err() {
                            return;
                        }
                        let Ok(query) = Message::from_vec(&body) else {
                            return;
                        };
                        shared.tcp_queries.fetch_add(1, Ordering::AcqRel);
                        shared.record(&query, "tcp");
                        if let Some(bytes) = reply_for(&query, &shared, true) {
                            let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
                            frame.extend_from_slice(&bytes);
                            if stream.write_all(&frame).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        FakeUpstream { addr, shared }
    }

    /// Change what it does.
    pub fn set(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().expect("behaviour") = behaviour;
    }

    /// Answer with this address from now on.
    pub fn set_address(&self, address: [u8; 4]) {
        *self.shared.address.lock().expect("address") = address;
    }

    /// Give answers this TTL (default 60).
    pub fn set_ttl(&self, ttl: u32) {
        self.shared.ttl.store(ttl as usize, Ordering::Release);
    }

    /// TCP connections accepted.
    pub fn tcp_connections(&self) -> usize {
        self.shared.tcp_connections.load(Ordering::Acquire)
    }

    /// Queries received over UDP.
    pub fn udp_queries(&self) -> usize {
        self.shared.udp_queries.load(Ordering::Acquire)
    }

    /// The transports ("udp", "tcp") over which `name` (lower case, with the final dot) was
    /// asked, in order.
    pub fn asked(&self, name: &str) -> Vec<&'static str> {
        self.shared
            .asked
            .lock()
            .expect("asked")
            .iter()
            .filter(|(asked, _)| asked == name)
            .map(|(_, transport)| *transport)
            .collect()
    }

    /// Queries received over TCP.
    pub fn tcp_queries(&self) -> usize {
        self.shared.tcp_queries.load(Ordering::Acquire)
    }
}
