//! `reload` and the reload signals: a good Corefile changes answers, a bad one changes nothing
//! and is counted, all while a client keeps querying; ports move without dropping the others;
//! a storm of signals ends in one consistent config; queries already under way finish on the
//! chain they started on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support::fake_upstream::{Behaviour, FakeUpstream};
use crate::support::{
    TestServer, decode, free_port, http_get, metric, query_bytes, raw_udp, send_signal, wait_for,
};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

/// A block answering `a.example.` with `address` from inline hosts entries, with metrics.
fn hosts_corefile(port: &str, metrics: u16, address: &str, extra: &str) -> String {
    format!(
        "example:{port} {{\n  bind 127.0.0.1\n  prometheus 127.0.0.1:{metrics}\n  {extra}\n  hosts /dev/null {{\n    {address} a.example\n  }}\n}}\n"
    )
}

/// The A addresses of `a.example.` from `addr`, or None without a NOERROR reply.
fn a_record(addr: SocketAddr, name: &str) -> Option<Vec<Ipv4Addr>> {
    let reply = raw_udp(
        addr,
        &query_bytes(name, RecordType::A, 7),
        Duration::from_secs(1),
    )?;
    let message = decode(&reply);
    (message.metadata.response_code == ResponseCode::NoError).then(|| {
        message
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    })
}

/// A client that asks `a.example.` in a loop until stopped, keeping every outcome.
struct QueryLoop {
    stop: Arc<AtomicBool>,
    asked: Arc<AtomicUsize>,
    thread: JoinHandle<Vec<Option<Vec<Ipv4Addr>>>>,
}

impl QueryLoop {
    fn start(addr: SocketAddr) -> QueryLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let asked = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (stop.clone(), asked.clone());
        let thread = std::thread::spawn(move || {
            let mut outcomes = Vec::new();
            while !flag.load(Ordering::Acquire) {
                outcomes.push(a_record(addr, "a.example."));
                count.fetch_add(1, Ordering::AcqRel);
            }
            outcomes
        });
        let running = QueryLoop {
            stop,
            asked,
            thread,
        };
        running.more(20);
        running
    }

    /// Wait until `n` more queries were answered (or not).
    fn more(&self, n: usize) {
        let target = self.asked.load(Ordering::Acquire) + n;
        wait_for(Duration::from_secs(10), "queries to flow", || {
            self.asked.load(Ordering::Acquire) >= target
        });
    }

    /// Stop, and return (queries asked, outcomes that were not a NOERROR answer in `allowed`).
    fn finish(self, allowed: &[Ipv4Addr]) -> (usize, Vec<Option<Vec<Ipv4Addr>>>) {
        self.more(20);
        self.stop.store(true, Ordering::Release);
        let outcomes = self.thread.join().expect("query loop");
        let total = outcomes.len();
        let bad = outcomes
            .into_iter()
            .filter(|o| !matches!(o, Some(ips) if ips.len() == 1 && allowed.contains(&ips[0])))
            .collect();
        (total, bad)
    }
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().expect("ip")
}

fn scrape(port: u16) -> String {
    http_get(SocketAddr::from(([127, 0, 0, 1], port)), "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default()
}

fn write_corefile(server: &TestServer, text: &str) {
    let path = server.dir.path().join("Corefile");
    let temporary = server.dir.path().join("Corefile.new");
    std::fs::write(&temporary, text).expect("write");
    std::fs::rename(temporary, path).expect("rename");
}

#[test]
fn sighup_with_a_good_corefile_changes_answers_while_queries_flow() {
    let metrics = free_port();
    let server = TestServer::start(&hosts_corefile("{PORT}", metrics, "10.0.0.1", ""), &[]);
    let port = server.addr.port().to_string();
    assert_eq!(
        a_record(server.addr, "a.example."),
        Some(vec![ip("10.0.0.1")])
    );
    let version_before = scrape(metrics)
        .lines()
        .find(|l| l.starts_with("coredns_reload_version_info"))
        .map(str::to_string)
        .expect("version info");
    let queries = QueryLoop::start(server.addr);
    write_corefile(&server, &hosts_corefile(&port, metrics, "10.0.0.2", ""));
    send_signal(server.pid(), "HUP");
    wait_for(Duration::from_secs(10), "the new answer", || {
        a_record(server.addr, "a.example.") == Some(vec![ip("10.0.0.2")])
    });
    let (total, bad) = queries.finish(&[ip("10.0.0.1"), ip("10.0.0.2")]);
    assert!(
        bad.is_empty(),
        "{} of {total} queries failed: {bad:?}",
        bad.len()
    );
    let body = scrape(metrics);
    assert_eq!(metric(&body, "coredns_reload_failed_total"), Some(0.0));
    assert!(body.contains("coredns_reload_version_info{hash=\"sha512\",value=\""));
    assert!(
        !body.contains(&version_before),
        "the version info follows the new Corefile"
    );
    assert!(
        server
            .log()
            .contains("plugin/reload: Running configuration SHA512 = ")
    );
}

#[test]
fn a_bad_corefile_changes_nothing_and_counts_a_failure() {
    let metrics = free_port();
    let mut server = TestServer::start(&hosts_corefile("{PORT}", metrics, "10.0.0.1", ""), &[]);
    let port = server.addr.port().to_string();
    let queries = QueryLoop::start(server.addr);
    // Line 3 names a directive that does not exist; line 6 an address that is not one.
    write_corefile(
        &server,
        &format!(
            "example:{port} {{\n  bind 127.0.0.1\n  whoareyou\n  prometheus 127.0.0.1:{metrics}\n  hosts /dev/null {{\n    10.0.0.300 a.example\n  }}\n}}\n"
        ),
    );
    send_signal(server.pid(), "HUP");
    wait_for(Duration::from_secs(10), "the failure to be counted", || {
        metric(&scrape(metrics), "coredns_reload_failed_total") == Some(1.0)
    });
    // A port another process holds: the new listener cannot be bound; nothing changes either.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = holder.local_addr().expect("addr").port();
    write_corefile(
        &server,
        &format!(
            "{}example:{taken} {{\n  bind 127.0.0.1\n  hosts /dev/null {{\n    10.0.0.3 a.example\n  }}\n}}\n",
            hosts_corefile(&port, metrics, "10.0.0.2", "")
        ),
    );
    send_signal(server.pid(), "USR1");
    wait_for(Duration::from_secs(10), "the second failure", || {
        metric(&scrape(metrics), "coredns_reload_failed_total") == Some(2.0)
    });
    let (total, bad) = queries.finish(&[ip("10.0.0.1")]);
    assert!(
        bad.is_empty(),
        "{} of {total} queries failed: {bad:?}",
        bad.len()
    );
    assert!(server.is_running());
    let log = server.log();
    assert!(
        log.contains("[ERROR] plugin/reload: Corefile changed but reload failed: Corefile:3: unknown directive \"whoareyou\""),
        "{log}"
    );
    assert!(log.contains("Corefile:6: "), "every error is logged: {log}");
    assert!(log.contains(&format!("127.0.0.1:{taken}")), "{log}");
    // Mended, it loads.
    write_corefile(&server, &hosts_corefile(&port, metrics, "10.0.0.4", ""));
    send_signal(server.pid(), "HUP");
    wait_for(Duration::from_secs(10), "the mended Corefile", || {
        a_record(server.addr, "a.example.") == Some(vec![ip("10.0.0.4")])
    });
    drop(holder);
}

#[test]
fn the_reload_directive_follows_a_configmap_symlink_swap() {
    let metrics = free_port();
    let server = TestServer::start(
        &hosts_corefile("{PORT}", metrics, "10.0.0.1", "reload 2s 1s"),
        &[],
    );
    let port = server.addr.port().to_string();
    // The layout the kubelet gives a ConfigMap volume: Corefile -> ..data/Corefile, and
    // ..data -> a timestamped directory, swapped with one rename.
    let dir = server.dir.path();
    let publish = |version: &str, text: &str| {
        std::fs::create_dir(dir.join(version)).expect("mkdir");
        std::fs::write(dir.join(version).join("Corefile"), text).expect("write");
        std::os::unix::fs::symlink(version, dir.join("..data_tmp")).expect("symlink");
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap");
    };
    publish(
        "..v1",
        &hosts_corefile(&port, metrics, "10.0.0.1", "reload 2s 1s"),
    );
    std::os::unix::fs::symlink("..data/Corefile", dir.join("Corefile.link")).expect("symlink");
    std::fs::rename(dir.join("Corefile.link"), dir.join("Corefile")).expect("link");
    publish(
        "..v2",
        &hosts_corefile(&port, metrics, "10.0.0.2", "reload 2s 1s"),
    );
    wait_for(Duration::from_secs(15), "the swapped Corefile", || {
        a_record(server.addr, "a.example.") == Some(vec![ip("10.0.0.2")])
    });
    assert!(
        server
            .log()
            .contains("plugin/reload: Corefile changed: reloading")
    );
}

#[test]
fn a_changed_port_rebinds_without_dropping_the_others() {
    let metrics = free_port();
    let (old_port, new_port) = (free_port(), free_port());
    let second = |port: u16| {
        format!(
            "other.test:{port} {{\n  bind 127.0.0.1\n  hosts /dev/null {{\n    10.1.1.1 b.other.test\n  }}\n}}\n"
        )
    };
    let server = TestServer::start(
        &format!(
            "{}{}",
            hosts_corefile("{PORT}", metrics, "10.0.0.1", ""),
            second(old_port)
        ),
        &[],
    );
    let port = server.addr.port().to_string();
    let old_addr = SocketAddr::from(([127, 0, 0, 1], old_port));
    let new_addr = SocketAddr::from(([127, 0, 0, 1], new_port));
    assert_eq!(
        a_record(old_addr, "b.other.test."),
        Some(vec![ip("10.1.1.1")])
    );
    let queries = QueryLoop::start(server.addr);
    write_corefile(
        &server,
        &format!(
            "{}{}",
            hosts_corefile(&port, metrics, "10.0.0.1", ""),
            second(new_port)
        ),
    );
    send_signal(server.pid(), "HUP");
    wait_for(Duration::from_secs(10), "the new port", || {
        a_record(new_addr, "b.other.test.") == Some(vec![ip("10.1.1.1")])
    });
    wait_for(Duration::from_secs(10), "the old port to close", || {
        std::net::TcpStream::connect(old_addr).is_err()
    });
    let (total, bad) = queries.finish(&[ip("10.0.0.1")]);
    assert!(
        bad.is_empty(),
        "{} of {total} queries failed: {bad:?}",
        bad.len()
    );
    // The old UDP port is freed too (its sockets close as their loops see the stop).
    wait_for(
        Duration::from_secs(10),
        "the old UDP port to be free",
        || UdpSocket::bind(old_addr).is_ok(),
    );
}

#[test]
fn a_reload_storm_leaves_one_consistent_config() {
    let metrics = free_port();
    let mut server = TestServer::start(&hosts_corefile("{PORT}", metrics, "10.0.0.1", ""), &[]);
    let port = server.addr.port().to_string();
    let queries = QueryLoop::start(server.addr);
    for round in 2..=40 {
        write_corefile(
            &server,
            &hosts_corefile(&port, metrics, &format!("10.0.0.{round}"), ""),
        );
        send_signal(server.pid(), if round % 2 == 0 { "HUP" } else { "USR1" });
    }
    wait_for(Duration::from_secs(20), "the last Corefile", || {
        a_record(server.addr, "a.example.") == Some(vec![ip("10.0.0.40")])
    });
    let allowed: Vec<Ipv4Addr> = (1..=40).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    let (total, bad) = queries.finish(&allowed);
    assert!(
        bad.is_empty(),
        "{} of {total} queries failed: {bad:?}",
        bad.len()
    );
    assert!(server.is_running());
    let body = scrape(metrics);
    assert_eq!(metric(&body, "coredns_reload_failed_total"), Some(0.0));
    assert_eq!(
        body.matches("coredns_reload_version_info{").count(),
        1,
        "one config is running"
    );
    // And it stays that one: nothing else is applied later.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        a_record(server.addr, "a.example."),
        Some(vec![ip("10.0.0.40")])
    );
}

#[test]
fn queries_under_way_finish_on_the_chain_they_started_on() {
    let slow = FakeUpstream::start([10, 9, 0, 1]);
    slow.set(Behaviour::Slow(1500));
    let fast = FakeUpstream::start([10, 9, 0, 2]);
    let corefile = |upstream: SocketAddr| {
        format!("example:{{PORT}} {{\n  bind 127.0.0.1\n  forward . {upstream}\n}}\n")
    };
    let server = TestServer::start(&corefile(slow.addr), &[]);
    let addr = server.addr;
    let under_way = Arc::new(Mutex::new(None));
    let result = under_way.clone();
    let thread = std::thread::spawn(move || {
        let reply = raw_udp(
            addr,
            &query_bytes("x.example.", RecordType::A, 9),
            Duration::from_secs(5),
        );
        *result.lock().expect("lock") = Some(reply);
    });
    wait_for(
        Duration::from_secs(5),
        "the slow upstream to be asked",
        || slow.udp_queries() >= 1,
    );
    write_corefile(
        &server,
        &corefile(fast.addr).replace("{PORT}", &addr.port().to_string()),
    );
    send_signal(server.pid(), "HUP");
    wait_for(Duration::from_secs(10), "the new upstream", || {
        a_record(addr, "y.example.") == Some(vec![ip("10.9.0.2")])
    });
    thread.join().expect("query");
    let reply = under_way
        .lock()
        .expect("lock")
        .take()
        .flatten()
        .expect("the first query was answered");
    let answers: Vec<IpAddr> = decode(&reply)
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![IpAddr::V4(ip("10.9.0.1"))],
        "answered by the old chain's upstream"
    );
}

#[test]
fn a_reload_restarts_the_kubernetes_plugin_with_its_new_options() {
    let manifests = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.0.0.1}\n";
    let corefile = |ttl: u32| {
        format!(
            "cluster.local:{{PORT}} {{\n  bind 127.0.0.1\n  kubernetes {{\n    manifests manifests\n    ttl {ttl}\n  }}\n}}\n"
        )
    };
    let server = TestServer::start(&corefile(5), &[("cluster.yaml", manifests)]);
    let ttl = || {
        raw_udp(
            server.addr,
            &query_bytes("web.default.svc.cluster.local.", RecordType::A, 3),
            Duration::from_secs(1),
        )
        .map(|reply| {
            decode(&reply)
                .answers
                .iter()
                .map(|r| r.ttl)
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(ttl(), Some(vec![5]));
    write_corefile(
        &server,
        &corefile(30).replace("{PORT}", &server.addr.port().to_string()),
    );
    send_signal(server.pid(), "HUP");
    wait_for(Duration::from_secs(10), "the new TTL", || {
        ttl() == Some(vec![30])
    });
}

#[test]
fn a_corefile_too_big_to_expand_or_nested_too_deep_keeps_the_old_config() {
    let metrics = free_port();
    let mut server = TestServer::start(&hosts_corefile("{PORT}", metrics, "10.0.0.1", ""), &[]);
    let port = server.addr.port().to_string();
    // Ten snippets, each importing the one before ten times: 10^9 `log` lines expanded.
    let mut bomb = String::from("(s0) {\n  log\n}\n");
    for i in 1..10 {
        bomb.push_str(&format!(
            "(s{i}) {{\n{}}}\n",
            format!("  import s{}\n", i - 1).repeat(10)
        ));
    }
    let bomb = bomb + &hosts_corefile(&port, metrics, "10.0.0.2", "import s9");
    // 30,000 nested blocks: a recursive parser overflows its stack.
    let deep = hosts_corefile(
        &port,
        metrics,
        "10.0.0.2",
        &format!("{}{}", "a {\n".repeat(30_000), "}\n".repeat(30_000)),
    );
    for (failures, text) in [(1.0, deep), (2.0, bomb)] {
        write_corefile(&server, &text);
        send_signal(server.pid(), "HUP");
        wait_for(Duration::from_secs(20), "the failure to be counted", || {
            metric(&scrape(metrics), "coredns_reload_failed_total") == Some(failures)
        });
        assert!(server.is_running());
        assert_eq!(
            a_record(server.addr, "a.example."),
            Some(vec![ip("10.0.0.1")])
        );
    }
    let log = server.log();
    assert!(log.contains("blocks nest deeper than 100"), "{log}");
    assert!(
        log.contains("import s9: more than 100000 tokens once snippets and imports are expanded"),
        "{log}"
    );
}
