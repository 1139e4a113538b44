//! `prometheus`: CoreDNS's metric names, labels and buckets on `/metrics`.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use support::{TestServer, free_port, query_bytes, raw_udp};

fn scrape(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.contains(" 200 ").then_some(response)
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
