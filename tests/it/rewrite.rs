//! `rewrite` through the real binary: AKS's documented custom server (names under a company
//! zone answered by the cluster's Services, under the asked name) and Gardener's search-path
//! rewrite, with the kubernetes plugin answering.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::{TestServer, decode, query_bytes, raw_udp};

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  clusterIP: 10.96.0.20\n  ports:\n  - port: 80\n";

fn ask(addr: SocketAddr, name: &str) -> Message {
    decode(
        &raw_udp(
            addr,
            &query_bytes(name, RecordType::A, 4),
            Duration::from_secs(5),
        )
        .expect("a reply"),
    )
}

fn answers(message: &Message) -> Vec<String> {
    message.answers.iter().map(ToString::to_string).collect()
}

#[test]
fn aks_and_gardener_rewrites_answer_under_the_asked_name() {
    let corefile = r".:{PORT} {
    bind 127.0.0.1
    rewrite stop {
        name regex (.*)\.example.com {1}.default.svc.cluster.local
        answer name (.*)\.default\.svc\.cluster\.local {1}.example.com
    }
    rewrite stop {
        name regex (^(?:[^\.]+\.)+)svc\.cluster\.local\.svc\.cluster\.local {1}svc.cluster.local
        answer name (^(?:[^\.]+\.)+)svc\.cluster\.local {1}svc.cluster.local.svc.cluster.local
        answer value (^(?:[^\.]+\.)+)svc\.cluster\.local {1}svc.cluster.local.svc.cluster.local
    }
    kubernetes cluster.local {
        manifests manifests
    }
}
";
    let server = TestServer::start(corefile, &[("web.yaml", SERVICE)]);
    let company = ask(server.addr, "web.example.com.");
    assert_eq!(answers(&company), ["web.example.com. 5 IN A 10.96.0.20"]);
    let walked = ask(
        server.addr,
        "web.default.svc.cluster.local.svc.cluster.local.",
    );
    assert_eq!(
        answers(&walked),
        ["web.default.svc.cluster.local.svc.cluster.local. 5 IN A 10.96.0.20"]
    );
    assert_eq!(
        walked.queries[0].name().to_ascii(),
        "web.default.svc.cluster.local.svc.cluster.local.",
        "the client's own question"
    );
    let plain = ask(server.addr, "web.default.svc.cluster.local.");
    assert_eq!(
        answers(&plain),
        ["web.default.svc.cluster.local. 5 IN A 10.96.0.20"]
    );
    let missing = ask(server.addr, "nothing.example.com.");
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
}
