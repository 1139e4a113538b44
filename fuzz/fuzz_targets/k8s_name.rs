//! The kubernetes plugin's name grammar: the labels of a name under the cluster zone → service,
//! namespace, port, protocol, endpoint or pod. The input is the labels, dot-separated. The
//! parse must give back exactly the labels it was given; a dashed IP must survive a round trip;
//! and the same labels as a query under `cluster.local` go through the plugin and the encoder.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use clusterdns::plugin::Transport;
use clusterdns::plugins::kubernetes::name::{ClusterName, dashed_ip, parse, parse_dashed_ip};
use clusterdns::server::Router;
use clusterdns_fuzz::{demo_snapshot, exchange, index_of, kubernetes_router, query};
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;

fn router() -> &'static Arc<Router> {
    static ROUTER: OnceLock<Arc<Router>> = OnceLock::new();
    ROUTER.get_or_init(|| kubernetes_router(index_of(demo_snapshot())))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let labels: Vec<&str> = if text.is_empty() {
        Vec::new()
    } else {
        text.split('.').collect()
    };
    let parsed = parse(&labels);
    let kind = |k: &str| k == "svc" || k == "pod";
    match parsed {
        ClusterName::Apex => assert!(labels.is_empty()),
        ClusterName::DnsVersion => assert_eq!(labels, ["dns-version"]),
        ClusterName::Dns => assert_eq!(labels, ["dns"]),
        ClusterName::NsDns => assert_eq!(labels, ["ns", "dns"]),
        ClusterName::KindRoot => assert!(labels.len() == 1 && kind(labels[0])),
        ClusterName::Namespace(namespace) => {
            assert!(labels.len() == 2 && labels[0] == namespace && kind(labels[1]))
        }
        ClusterName::Service { namespace, service } => {
            assert_eq!(labels, [service, namespace, "svc"])
        }
        ClusterName::Endpoint {
            namespace,
            service,
            hostname,
        } => assert_eq!(labels, [hostname, service, namespace, "svc"]),
        ClusterName::Port {
            namespace,
            service,
            port,
            protocol,
        } => {
            assert!(!port.is_empty() && !protocol.is_empty());
            assert_eq!(
                labels,
                [
                    format!("_{port}").as_str(),
                    &format!("_{protocol}"),
                    service,
                    namespace,
                    "svc"
                ]
            )
        }
        ClusterName::Pod { namespace, ip } => {
            assert_eq!(labels.len(), 3);
            assert_eq!([labels[1], labels[2]], [namespace, "pod"]);
            assert_eq!(ip, parse_dashed_ip(labels[0]));
        }
        ClusterName::Unknown => {}
    }
    for label in &labels {
        if let Some(ip) = parse_dashed_ip(label) {
            assert_eq!(parse_dashed_ip(&dashed_ip(&ip)), Some(ip), "{label} → {ip}");
        }
    }
    // The same labels as a question: the plugin's own label checks, answer and encoder.
    let Ok(relative) = Name::from_labels(labels.iter().map(|l| l.as_bytes())) else {
        return;
    };
    let zone = Name::from_ascii("cluster.local.").expect("zone");
    let Ok(name) = relative.append_domain(&zone) else {
        return;
    };
    let qtype = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::SRV,
        RecordType::ANY,
    ][data.len() % 4];
    let source = SocketAddr::from(([127, 0, 0, 1], 40000));
    exchange(
        router(),
        &query(7, name, qtype, None),
        source,
        Transport::Udp,
    );
});
