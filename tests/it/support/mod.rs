//! Shared test machinery: a launcher for the real binary on a free loopback port, DNS clients
//! (hickory's over UDP and TCP, and raw bytes), and polling helpers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_clusterdns");

/// A running clusterdns with its own temporary directory (Corefile, manifests).
pub struct TestServer {
    child: Child,
    /// The address it answers on.
    pub addr: SocketAddr,
    /// The temporary directory holding `Corefile` and `manifests/`.
    pub dir: tempfile::TempDir,
    log: PathBuf,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what its server said (its port and its last lines).
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!("clusterdns on {} logged:\n{tail}", self.addr);
        }
    }
}

/// A port that was free a moment ago, for UDP and TCP.
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The Corefile block most tests use: the cluster zone and reverse zones from `manifests/`.
pub fn cluster_corefile(options: &str) -> String {
    format!(
        "cluster.local:{{PORT}} in-addr.arpa:{{PORT}} ip6.arpa:{{PORT}} {{\n  bind 127.0.0.1\n  errors\n  log\n  kubernetes cluster.local in-addr.arpa ip6.arpa {{\n    manifests manifests\n    {options}\n  }}\n}}\n"
    )
}

impl TestServer {
    /// Write `manifests` (file name, contents) and `corefile` (`{PORT}` replaced by a free port)
    /// into a fresh directory and start the binary on it; wait until it answers.
    pub fn start(corefile: &str, manifests: &[(&str, &str)]) -> TestServer {
        TestServer::start_with_flags(corefile, manifests, &[])
    }

    /// [`TestServer::start`] with extra command-line `flags`.
    pub fn start_with_flags(
        corefile: &str,
        manifests: &[(&str, &str)],
        flags: &[&str],
    ) -> TestServer {
        TestServer::launch(corefile, manifests, &[], flags)
    }

    /// [`TestServer::start`] with `files` (name, contents) beside the Corefile.
    pub fn start_with_files(corefile: &str, files: &[(&str, &str)]) -> TestServer {
        TestServer::launch(corefile, &[], files, &[])
    }

    fn launch(
        corefile: &str,
        manifests: &[(&str, &str)],
        files: &[(&str, &str)],
        flags: &[&str],
    ) -> TestServer {
        let mut last_log = String::new();
        // A port picked free may be taken before we bind it: try a few.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::create_dir(dir.path().join("manifests")).expect("mkdir");
            for (name, text) in manifests {
                std::fs::write(dir.path().join("manifests").join(name), text)
                    .expect("write manifest");
            }
            for (name, text) in files {
                std::fs::write(dir.path().join(name), text).expect("write file");
            }
            let port = free_port();
            std::fs::write(
                dir.path().join("Corefile"),
                corefile.replace("{PORT}", &port.to_string()),
            )
            .expect("write Corefile");
            let log = dir.path().join("clusterdns.log");
            let file = std::fs::File::create(&log).expect("log file");
            let mut command = Command::new(BINARY);
            command.env_remove("RUST_LOG");
            // CLUSTERDNS_TEST_LOG=debug (for example) raises the server's log level in tests.
            if let Ok(filter) = std::env::var("CLUSTERDNS_TEST_LOG") {
                command.env("RUST_LOG", filter);
            }
            let child = command
                .args(["-conf", "Corefile", "-quiet"])
                .args(flags)
                .current_dir(dir.path())
                .stdout(Stdio::from(file.try_clone().expect("clone")))
                .stderr(Stdio::from(file))
                .spawn()
                .expect("spawn clusterdns");
            let mut server = TestServer {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                dir,
                log,
            };
            if server.wait_until_answering() {
                return server;
            }
            last_log = server.log();
        }
        panic!("clusterdns did not start; last log:\n{last_log}");
    }

    fn wait_until_answering(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        // Opcode STATUS: answered NOTIMP by the server's own checks before any plugin runs or
        // anything is counted, so the probe is answered at once whatever the Corefile (no
        // forwarding, no waiting for a sync) and leaves the metrics alone.
        let mut probe = query_bytes("clusterdns-probe.invalid.", RecordType::A, 1);
        probe[2] |= 2 << 3;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if raw_udp(self.addr, &probe, Duration::from_millis(100)).is_some() {
                return true;
            }
        }
        false
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The folder of the Corefile.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The manifests directory.
    pub fn manifests(&self) -> PathBuf {
        self.dir.path().join("manifests")
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send SIGTERM and wait for the exit status (at most `limit`).
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait_exit(limit)
    }

    /// Wait for the exit status (at most `limit`).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Run the binary on `corefile` (with `files` beside it) until it exits, as start-up error
/// tests need.
pub fn run_to_exit(corefile: &str, files: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    std::fs::write(dir.path().join("Corefile"), corefile).expect("write");
    Command::new(BINARY)
        .args(["-conf", "Corefile"])
        .current_dir(dir.path())
        .output()
        .expect("run")
}

/// A query message as bytes (no EDNS).
pub fn query_bytes(name: &str, qtype: RecordType, id: u16) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    message.to_vec().expect("encode")
}

/// Send `bytes` over UDP and wait up to `wait` for one reply.
pub fn raw_udp(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    raw_udp_from("127.0.0.1", addr, bytes, wait)
}

/// [`raw_udp`] from the loopback address `source` (a client standing for a pod, say).
pub fn raw_udp_from(
    source: &str,
    addr: SocketAddr,
    bytes: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((source, 0)).expect("bind");
    socket.set_read_timeout(Some(wait)).expect("timeout");
    socket.send_to(bytes, addr).expect("send");
    let mut buffer = vec![0u8; 65535];
    match socket.recv_from(&mut buffer) {
        Ok((len, _)) => Some(buffer[..len].to_vec()),
        Err(_) => None,
    }
}

/// Ask `name`/`qtype` at `addr` over UDP, waiting up to 6 s: the rcode and the answers' data.
pub fn ask_udp(
    addr: SocketAddr,
    name: &str,
    qtype: RecordType,
) -> Option<(ResponseCode, Vec<String>)> {
    let reply = raw_udp(addr, &query_bytes(name, qtype, 5), Duration::from_secs(6))?;
    let message = decode(&reply);
    Some((
        message.metadata.response_code,
        message.answers.iter().map(|r| r.data.to_string()).collect(),
    ))
}

/// Open a TCP connection to `addr`.
pub fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
}

/// Write one length-prefixed frame.
pub fn tcp_send(stream: &mut TcpStream, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).expect("frame size");
    stream.write_all(&len.to_be_bytes()).expect("write");
    stream.write_all(bytes).expect("write");
}

/// Read one length-prefixed frame, or `None` when the server closed the connection.
pub fn tcp_receive(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

/// Decode a reply.
pub fn decode(bytes: &[u8]) -> Message {
    Message::from_vec(bytes).expect("a well-formed reply")
}

/// Which transport a hickory client uses.
#[derive(Clone, Copy, Debug)]
pub enum Via {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

/// Ask `addr` for `name`/`qtype` with hickory's client.
pub async fn ask(addr: SocketAddr, via: Via, name: &str, qtype: RecordType) -> Message {
    let provider = TokioRuntimeProvider::default();
    let name = Name::from_ascii(name).expect("name");
    let mut client = match via {
        Via::Udp => {
            let stream = UdpClientStream::builder(addr, provider).build();
            let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
            tokio::spawn(bg);
            client
        }
        Via::Tcp => {
            let (future, sender) = TcpClientStream::new(addr, None, None, provider);
            let (client, bg) =
                Client::<TokioRuntimeProvider>::new(future.await.expect("tcp connect"), sender);
            tokio::spawn(bg);
            client
        }
    };
    let response = client
        .query(name, DNSClass::IN, qtype)
        .await
        .expect("a response");
    response.into_message()
}

/// Poll `check` until it returns true, failing after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("gave up after {limit:?} waiting for {what}");
}

/// (status code, body) of an HTTP/1.1 `GET path`, or None when nothing answers.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((status, body))
}

/// The value of the sample `series` (name and labels exactly as exposed) in a `/metrics` body.
pub fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Open file descriptors of process `pid`.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count()
}

/// Send `signal` (`HUP`, `TERM`, …) to `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Where test manifests live in the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}
pub mod fake_api;
pub mod fake_upstream;
pub mod netns;

/// Services of namespace `default`: ExternalNames that loop (`self` → `self`, `ping` → `pong` →
/// `ping`) and a chain of `hops` (`hop-1` → … → `hop-<hops>` → `end`, ClusterIP 10.96.7.7).
pub fn external_name_chains(hops: u32) -> String {
    let external = |name: &str, target: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec: {{type: ExternalName, externalName: {target}.default.svc.cluster.local}}\n---\n"
        )
    };
    let mut yaml = external("self", "self") + &external("ping", "pong") + &external("pong", "ping");
    for hop in 1..=hops {
        let next = if hop == hops {
            "end".to_string()
        } else {
            format!("hop-{}", hop + 1)
        };
        yaml += &external(&format!("hop-{hop}"), &next);
    }
    yaml + "apiVersion: v1\nkind: Service\nmetadata: {name: end, namespace: default}\nspec: {clusterIP: 10.96.7.7}\n"
}
