//! The API source at scale, run by hand: `cargo bench --bench api_sync`.
//!
//! A fake API server (tests/it/support/fake_api.rs, real HTTP) holds 10,000 Services in 100
//! namespaces, 10,000 EndpointSlices carrying 100,000 endpoints, and 100,000 Pods; clusterdns
//! (release build) watches it with `pods verified` and `autopath @kubernetes` (set
//! `API_SYNC_AUTOPATH=0` to leave autopath out and compare). Reported: time from process start to the
//! first full sync, clusterdns's peak RSS (VmHWM), the propagation latency from an API
//! change to the changed DNS answer, p50 and p99 over 1,000 changes, and the peak RSS during
//! a forced re-list (every watch dropped after an etcd compaction, so each resumes with
//! 410 Gone and lists again) against the peak of the first sync.

#![allow(missing_docs)]

// The integration tests' fake API server; the bench uses only its list and watch.
#[allow(dead_code)]
#[path = "../tests/it/support/fake_api.rs"]
mod fake_api;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_api::FakeApi;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use serde_json::{Value, json};

const NAMESPACES: usize = 100;
const SERVICES: usize = 10_000;
const ENDPOINTS_PER_SLICE: usize = 10;
/// Changes to time (CLUSTERDNS_BENCH_CHANGES overrides, e.g. 10 under a profiler).
fn changes() -> usize {
    std::env::var("CLUSTERDNS_BENCH_CHANGES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1_000)
}

fn ip(n: usize) -> String {
    format!("10.{}.{}.{}", 100 + n / 65536, (n / 256) % 256, n % 256)
}

fn pod_ip(n: usize) -> String {
    format!("172.{}.{}.{}", 16 + n / 65536, (n / 256) % 256, n % 256)
}

fn service(i: usize, cluster_ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": format!("svc{i}"), "namespace": format!("ns{}", i % NAMESPACES), "labels": {"app": format!("svc{i}")}},
        "spec": {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "type": "ClusterIP",
                 "selector": {"app": format!("svc{i}")},
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}})
}

fn populate(api: &FakeApi) {
    for n in 0..NAMESPACES {
        api.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("ns{n}")}}));
    }
    for i in 0..SERVICES {
        let ns = format!("ns{}", i % NAMESPACES);
        api.apply(service(i, &ip(i)));
        let mut endpoints = Vec::new();
        for e in 0..ENDPOINTS_PER_SLICE {
            let n = i * ENDPOINTS_PER_SLICE + e;
            let name = format!("svc{i}-{e}");
            endpoints.push(json!({"addresses": [pod_ip(n)], "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": format!("node{}", n % 50), "zone": "z1",
                "targetRef": {"kind": "Pod", "name": name, "namespace": ns, "uid": format!("00000000-0000-0000-0000-{n:012}")}}));
            api.apply(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": {"app": format!("svc{i}")}},
                "spec": {"nodeName": format!("node{}", n % 50), "containers": [{"name": "app", "image": "registry.example/app:1.0"}]},
                "status": {"phase": "Running", "podIP": pod_ip(n), "podIPs": [{"ip": pod_ip(n)}], "hostIP": "192.168.0.1"}}));
        }
        api.apply(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("svc{i}-abcde"), "namespace": ns,
                         "labels": {"kubernetes.io/service-name": format!("svc{i}"), "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}));
    }
    // Forget the creation history, as etcd compaction would: watchers start from the list.
    api.compact();
}

fn query(socket: &UdpSocket, server: SocketAddr, name: &str, id: u16) -> Option<Message> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.add_query(Query::query(
        Name::from_ascii(name).expect("name"),
        RecordType::A,
    ));
    socket
        .send_to(&message.to_vec().expect("encode"), server)
        .ok()?;
    let mut buffer = [0u8; 4096];
    loop {
        let (len, _) = socket.recv_from(&mut buffer).ok()?;
        let reply = Message::from_vec(&buffer[..len]).ok()?;
        if reply.metadata.id == id {
            return Some(reply);
        }
    }
}

/// A `/proc/PID/status` field in KiB (`VmHWM`, `VmRSS`), 0 if unreadable.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Reset the process's peak RSS (VmHWM) to its current RSS (Linux 4.0+, `clear_refs` 5).
fn reset_hwm(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset VmHWM (needs root)");
}

/// Wait until every kind was listed again and watched after that list: the re-list is done.
fn wait_relisted(api: &FakeApi, from: usize) {
    let kinds = ["/namespaces?", "/services?", "/endpointslices?", "/pods?"];
    let started = Instant::now();
    loop {
        let requests = api.requests();
        let done = kinds.iter().all(|kind| {
            let mine: Vec<&String> = requests[from..]
                .iter()
                .filter(|r| r.contains(kind))
                .collect();
            mine.iter()
                .position(|r| !r.contains("watch=true"))
                .is_some_and(|list| mine[list..].iter().any(|r| r.contains("watch=true")))
        });
        if done {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no re-list within 300 s: {:?}",
            &requests[from..]
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    // `cargo bench` passes --bench; there is nothing to filter.
    let api = FakeApi::start();
    let started = Instant::now();
    populate(&api);
    println!(
        "fake API: {NAMESPACES} namespaces, {SERVICES} services, {SERVICES} endpointslices, {} endpoints, {} pods (built in {:.1?})",
        SERVICES * ENDPOINTS_PER_SLICE,
        SERVICES * ENDPOINTS_PER_SLICE,
        started.elapsed()
    );

    let port = {
        let s = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        s.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let autopath = if std::env::var("API_SYNC_AUTOPATH").as_deref() == Ok("0") {
        ""
    } else {
        "  autopath @kubernetes\n"
    };
    println!(
        "Corefile: pods verified{}",
        if autopath.is_empty() {
            ""
        } else {
            ", autopath @kubernetes"
        }
    );
    std::fs::write(
        dir.path().join("Corefile"),
        format!(
            "cluster.local:{port} {{\n  bind 127.0.0.1\n  kubernetes cluster.local {{\n    endpoint {}\n    pods verified\n    startup_timeout 0s\n  }}\n{autopath}}}\n",
            api.url()
        ),
    )
    .expect("Corefile");
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");

    let spawned = Instant::now();
    // CLUSTERDNS_BENCH_WRAP runs clusterdns under a profiler, e.g.
    // "valgrind --tool=massif --massif-out-file=/tmp/massif.out".
    let wrapper = std::env::var("CLUSTERDNS_BENCH_WRAP").unwrap_or_default();
    let mut words: Vec<String> = wrapper.split_whitespace().map(String::from).collect();
    words.push(env!("CARGO_BIN_EXE_clusterdns").to_string());
    let mut child = Command::new(&words[0])
        .args(&words[1..])
        .args(["-conf", "Corefile", "-quiet"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn clusterdns");
    let pid = child.id();
    // Synced when a name error is NXDOMAIN (before the sync it is SERVFAIL).
    let mut id = 0u16;
    let sync_time = loop {
        id = id.wrapping_add(1);
        if let Some(reply) = query(&socket, server, "nope.ns0.svc.cluster.local.", id)
            && reply.metadata.response_code == ResponseCode::NXDomain
        {
            break spawned.elapsed();
        }
        assert!(
            spawned.elapsed() < Duration::from_secs(600),
            "no sync within 600 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let last = format!(
        "svc{}.ns{}.svc.cluster.local.",
        SERVICES - 1,
        (SERVICES - 1) % NAMESPACES
    );
    let answer = query(&socket, server, &last, 1).expect("answer");
    assert_eq!(answer.answers.len(), 1, "the last service is served");
    let pod = format!("{}.ns0.pod.cluster.local.", pod_ip(0).replace('.', "-"));
    let answer = query(&socket, server, &pod, 2).expect("answer");
    assert_eq!(
        answer.answers.len(),
        1,
        "pods verified: the first pod is served"
    );
    let rss_after_sync = status_kib(pid, "VmHWM");
    let cpu_at_sync = cpu_seconds(pid);

    let changes = changes();
    let mut latencies = Vec::with_capacity(changes);
    for change in 0..changes {
        let i = change % SERVICES;
        let new_ip = ip(SERVICES + change + 1);
        let name = format!("svc{i}.ns{}.svc.cluster.local.", i % NAMESPACES);
        let changed_at = Instant::now();
        api.apply(service(i, &new_ip));
        loop {
            id = id.wrapping_add(1);
            let seen = query(&socket, server, &name, id)
                .and_then(|m| m.answers.first().map(|r| r.data.to_string()))
                .is_some_and(|a| a == new_ip);
            if seen {
                latencies.push(changed_at.elapsed());
                break;
            }
            assert!(
                changed_at.elapsed() < Duration::from_secs(10),
                "change {change} never arrived"
            );
        }
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let rss_peak = status_kib(pid, "VmHWM");

    // A forced re-list: compaction, then every watch cut; each resumes from a compacted
    // version, gets 410 Gone and lists everything again.
    let rss_before_relist = status_kib(pid, "VmRSS");
    reset_hwm(pid);
    let before = api.requests().len();
    let relist_started = Instant::now();
    api.compact();
    api.drop_connections();
    wait_relisted(&api, before);
    let relist_time = relist_started.elapsed();
    let rss_relist_peak = status_kib(pid, "VmHWM");
    let marker = ip(SERVICES * 3);
    api.apply(service(0, &marker));
    let name = "svc0.ns0.svc.cluster.local.";
    let served_after = Instant::now();
    loop {
        id = id.wrapping_add(1);
        if query(&socket, server, name, id)
            .and_then(|m| m.answers.first().map(|r| r.data.to_string()))
            .is_some_and(|a| a == marker)
        {
            break;
        }
        assert!(
            served_after.elapsed() < Duration::from_secs(30),
            "no change served after the re-list"
        );
    }
    // SIGTERM, so a profiler wrapping the process can write its report.
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();

    let objects = SERVICES + SERVICES * ENDPOINTS_PER_SLICE;
    let coredns_mb = objects as f64 / 250.0 + 56.0;
    println!(
        "first full sync: {:.2} s after process start ({cpu_at_sync:.2} s of clusterdns CPU)",
        sync_time.as_secs_f64()
    );
    println!(
        "peak RSS (VmHWM): {:.1} MB after the sync, {:.1} MB after {changes} changes (CoreDNS sizing for (pods+services)/250+56 MB: {coredns_mb:.0} MB, ratio {:.2})",
        rss_after_sync as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        rss_peak as f64 / 1024.0 / coredns_mb
    );
    println!(
        "forced re-list (410 Gone) of every kind: done in {:.2} s; RSS {:.1} MB before it, peak {:.1} MB during it (peak of the first sync {:.1} MB, ratio {:.2})",
        relist_time.as_secs_f64(),
        rss_before_relist as f64 / 1024.0,
        rss_relist_peak as f64 / 1024.0,
        rss_after_sync as f64 / 1024.0,
        rss_relist_peak as f64 / rss_after_sync as f64
    );
    println!(
        "propagation API change → answer over {changes} changes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        p(0.50).as_secs_f64() * 1000.0,
        p(0.99).as_secs_f64() * 1000.0,
        latencies[latencies.len() - 1].as_secs_f64() * 1000.0
    );
}
