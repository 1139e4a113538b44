//! `prometheus`: CoreDNS's metric names, labels and buckets on `/metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::fake_upstream::FakeUpstream;
use crate::support::{TestServer, decode, free_port, metric, query_bytes, raw_udp};
use hickory_proto::rr::RecordType;

/// The `/metrics` body, if it answered 200.
fn scrape(addr: SocketAddr) -> Option<String> {
    crate::support::http_get(addr, "/metrics")
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
}

#[test]
fn dns_metrics_use_coredns_names_and_labels() {
    let port = free_port();
    let manifests = "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.0.0.1}\n";
    let server = TestServer::start(
        &format!(
            "cluster.local:{{PORT}} {{\n  bind 127.0.0.1\n  prometheus 127.0.0.1:{port}\n  kubernetes {{\n    manifests manifests\n  }}\n}}\n"
        ),
        &[("cluster.yaml", manifests)],
    );
    for _ in 0..2 {
        raw_udp(
            server.addr,
            &query_bytes("web.default.svc.cluster.local.", RecordType::A, 1),
            Duration::from_secs(2),
        )
        .expect("reply");
    }
    raw_udp(
        server.addr,
        &query_bytes("nope.default.svc.cluster.local.", RecordType::AAAA, 2),
        Duration::from_secs(2),
    )
    .expect("reply");
    // Outside every zone: REFUSED, counted under zone "dropped" as CoreDNS does.
    raw_udp(
        server.addr,
        &query_bytes("example.org.", RecordType::A, 3),
        Duration::from_secs(2),
    )
    .expect("reply");
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server_label = format!("server=\"dns://127.0.0.1:{}\"", server.addr.port());
    let expected = [
        format!(
            "coredns_dns_requests_total{{{server_label},zone=\"cluster.local.\",view=\"\",proto=\"udp\",family=\"1\",type=\"A\"}} 2"
        ),
        format!(
            "coredns_dns_requests_total{{{server_label},zone=\"cluster.local.\",view=\"\",proto=\"udp\",family=\"1\",type=\"AAAA\"}} 1"
        ),
        format!(
            "coredns_dns_responses_total{{{server_label},zone=\"cluster.local.\",view=\"\",rcode=\"NOERROR\",plugin=\"kubernetes\"}} 2"
        ),
        format!(
            "coredns_dns_responses_total{{{server_label},zone=\"cluster.local.\",view=\"\",rcode=\"NXDOMAIN\",plugin=\"kubernetes\"}} 1"
        ),
        format!(
            "coredns_dns_requests_total{{{server_label},zone=\"dropped\",view=\"\",proto=\"udp\",family=\"1\",type=\"A\"}} 1"
        ),
        format!(
            "coredns_dns_responses_total{{{server_label},zone=\"dropped\",view=\"\",rcode=\"REFUSED\",plugin=\"\"}} 1"
        ),
        format!(
            "coredns_dns_request_duration_seconds_bucket{{le=\"0.00025\",{server_label},zone=\"cluster.local.\",view=\"\",type=\"A\"}}"
        ),
        format!(
            "coredns_dns_request_duration_seconds_count{{{server_label},zone=\"cluster.local.\",view=\"\",type=\"A\"}} 2"
        ),
        format!(
            "coredns_dns_response_size_bytes_bucket{{le=\"511.0\",{server_label},zone=\"cluster.local.\",view=\"\",proto=\"udp\"}} 3"
        ),
        format!(
            "coredns_plugin_enabled{{{server_label},zone=\"cluster.local.\",view=\"\",name=\"kubernetes\"}} 1"
        ),
        "coredns_panics_total 0".to_string(),
        "coredns_build_info{version=".to_string(),
    ];
    // The server counts after replying: poll until the last query is in.
    let mut last = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        last = scrape(metrics_addr).unwrap_or_default();
        if expected.iter().all(|line| last.contains(line.as_str())) {
            // Series exist once counted, as in CoreDNS: none for rcodes, types or protocols
            // that no query had.
            let series: Vec<&str> = last.lines().filter(|l| !l.starts_with('#')).collect();
            assert!(
                !last.contains("RCODE11")
                    && !last.contains("type=\"MX\"")
                    && !last.contains("proto=\"tcp\"")
                    && !last.contains("dns_programming_duration_seconds_count"),
                "{last}"
            );
            assert!(series.len() < 400, "{} lines:\n{last}", series.len());
            let rustc = std::process::Command::new("rustc")
                .arg("--version")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            let compiler = rustc.split_whitespace().nth(1).unwrap_or("?");
            assert!(
                last.contains(&format!("goversion=\"rust {compiler}\"")),
                "the compiler that built it ({compiler}):\n{last}"
            );
            // In a git checkout, the commit it was built from (build.rs reads it for the
            // binary and this test alike).
            let revision = env!("CLUSTERDNS_GIT_REVISION");
            let in_git = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".git")
                .exists();
            assert!(!in_git || revision.len() == 7, "revision {revision:?}");
            assert!(
                last.contains(&format!("revision=\"{revision}\"")),
                "revision {revision}:\n{last}"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let missing: Vec<&String> = expected
        .iter()
        .filter(|line| !last.contains(line.as_str()))
        .collect();
    panic!("missing {missing:#?} in\n{last}");
}

#[test]
fn cache_forward_and_health_families_count_exactly() {
    let upstream = FakeUpstream::start([10, 9, 0, 1]);
    let (metrics_port, health_port) = (free_port(), free_port());
    let server = TestServer::start(
        &format!(
            ".:{{PORT}} {{\n  bind 127.0.0.1\n  prometheus 127.0.0.1:{metrics_port}\n  health 127.0.0.1:{health_port}\n  cache 30\n  forward . {}\n}}\n",
            upstream.addr
        ),
        &[],
    );
    for name in ["a.example.", "a.example.", "b.example."] {
        let reply = raw_udp(
            server.addr,
            &query_bytes(name, RecordType::A, 1),
            Duration::from_secs(2),
        )
        .expect("reply");
        assert_eq!(decode(&reply).answers.len(), 1, "{name}");
    }
    let server_label = format!("dns://127.0.0.1:{}", server.addr.port());
    let to = upstream.addr.to_string();
    let expected = [
        (
            format!(
                "coredns_cache_requests_total{{server=\"{server_label}\",zones=\".\",view=\"\"}}"
            ),
            3.0,
        ),
        (
            format!(
                "coredns_cache_hits_total{{server=\"{server_label}\",type=\"success\",zones=\".\",view=\"\"}}"
            ),
            1.0,
        ),
        (
            format!(
                "coredns_cache_misses_total{{server=\"{server_label}\",zones=\".\",view=\"\"}}"
            ),
            2.0,
        ),
        (
            format!(
                "coredns_cache_entries{{server=\"{server_label}\",type=\"success\",zones=\".\",view=\"\"}}"
            ),
            2.0,
        ),
        (
            format!(
                "coredns_cache_entries{{server=\"{server_label}\",type=\"denial\",zones=\".\",view=\"\"}}"
            ),
            0.0,
        ),
        (
            format!(
                "coredns_proxy_request_duration_seconds_count{{proxy_name=\"forward\",to=\"{to}\",rcode=\"NOERROR\"}}"
            ),
            2.0,
        ),
        (
            format!(
                "coredns_proxy_conn_cache_misses_total{{proxy_name=\"forward\",to=\"{to}\",proto=\"udp\"}}"
            ),
            2.0,
        ),
        ("coredns_forward_healthcheck_broken_total".to_string(), 0.0),
        (
            "coredns_forward_max_concurrent_rejects_total".to_string(),
            0.0,
        ),
        (
            format!(
                "coredns_dns_responses_total{{server=\"{server_label}\",zone=\".\",view=\"\",rcode=\"NOERROR\",plugin=\"cache\"}}"
            ),
            1.0,
        ),
        (
            format!(
                "coredns_dns_responses_total{{server=\"{server_label}\",zone=\".\",view=\"\",rcode=\"NOERROR\",plugin=\"forward\"}}"
            ),
            2.0,
        ),
        ("coredns_reload_failed_total".to_string(), 0.0),
    ];
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let mut body = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        body = scrape(metrics_addr).unwrap_or_default();
        if expected
            .iter()
            .all(|(series, value)| metric(&body, series) == Some(*value))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for (series, value) in &expected {
        assert_eq!(metric(&body, series), Some(*value), "{series} in\n{body}");
    }
    // Series that nothing counted do not exist, as in CoreDNS: no health-check failure, no
    // TCP or TLS connection, no eviction, no prefetch.
    for absent in [
        "coredns_proxy_healthcheck_failures_total{",
        "proto=\"tcp\"",
        "proto=\"tcp-tls\"",
        "coredns_cache_evictions_total{",
        "coredns_cache_prefetch_total{",
        "coredns_cache_hits_total{server=\"{server_label}\",type=\"denial\"",
    ] {
        let absent = absent.replace("{server_label}", &server_label);
        assert!(!body.contains(&absent), "{absent} in\n{body}");
    }
    assert_eq!(
        upstream.udp_queries(),
        2,
        "the hit did not reach the upstream"
    );
    // The health self-check runs once a second and records its duration.
    crate::support::wait_for(Duration::from_secs(5), "a health self-check", || {
        metric(
            &scrape(metrics_addr).unwrap_or_default(),
            "coredns_health_request_duration_seconds_count",
        )
        .is_some_and(|count| count >= 1.0)
    });
}
