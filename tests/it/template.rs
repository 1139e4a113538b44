//! `template` through the real binary: AKS's default blocks, the AAAA filter users add, and a
//! CNAME template followed through `forward`, against a fake upstream on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::fake_upstream::FakeUpstream;
use crate::support::{TestServer, decode, free_port, http_get, metric, query_bytes, raw_udp};

fn ask(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    decode(&raw_udp(addr, &query_bytes(name, qtype, 9), Duration::from_secs(5)).expect("a reply"))
}

fn answers(message: &Message) -> Vec<String> {
    message.answers.iter().map(ToString::to_string).collect()
}

#[test]
fn aks_blocks_the_aaaa_filter_and_a_followed_cname() {
    let up = FakeUpstream::start([192, 0, 2, 7]);
    let metrics_port = free_port();
    let corefile = format!(
        r#".:{{PORT}} {{
    bind 127.0.0.1
    prometheus 127.0.0.1:{metrics_port}
    forward . {upstream}
    template ANY ANY internal.cloudapp.net {{
      match "^(?:[^.]+\.){{4,}}internal\.cloudapp\.net\.$"
      rcode NXDOMAIN
      fallthrough
    }}
    template ANY ANY reddog.microsoft.com {{
      rcode NXDOMAIN
    }}
    template IN AAAA {{
      rcode NOERROR
    }}
    template IN A alias.test {{
      answer "{{{{ .Name }}}} 60 IN CNAME target.example."
    }}
}}
"#,
        upstream = up.addr
    );
    let server = TestServer::start(&corefile, &[]);

    let deep = ask(server.addr, "a.b.c.d.internal.cloudapp.net.", RecordType::A);
    assert_eq!(deep.metadata.response_code, ResponseCode::NXDomain);
    assert!(
        up.asked("a.b.c.d.internal.cloudapp.net.").is_empty(),
        "never forwarded"
    );

    let vm = ask(server.addr, "vm1.internal.cloudapp.net.", RecordType::A);
    assert_eq!(
        answers(&vm),
        ["vm1.internal.cloudapp.net. 60 IN A 192.0.2.7"]
    );
    assert_eq!(
        up.asked("vm1.internal.cloudapp.net."),
        ["udp"],
        "fell through to forward"
    );

    let reddog = ask(server.addr, "Host.Reddog.Microsoft.com.", RecordType::TXT);
    assert_eq!(reddog.metadata.response_code, ResponseCode::NXDomain);

    let aaaa = ask(server.addr, "www.example.org.", RecordType::AAAA);
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
    assert!(aaaa.answers.is_empty() && aaaa.metadata.authoritative);
    assert!(
        up.asked("www.example.org.").is_empty(),
        "AAAA never forwarded"
    );

    let alias = ask(server.addr, "web.alias.test.", RecordType::A);
    assert_eq!(
        answers(&alias),
        [
            "web.alias.test. 60 IN CNAME target.example.",
            "target.example. 60 IN A 192.0.2.7"
        ]
    );

    let (_, body) =
        http_get(SocketAddr::from(([127, 0, 0, 1], metrics_port)), "/metrics").expect("metrics");
    let zone = format!("dns://127.0.0.1:{}", server.addr.port());
    assert_eq!(
        metric(
            &body,
            &format!(
                r#"coredns_template_matches_total{{server="{zone}",zone="internal.cloudapp.net.",view="",class="IN",type="A"}}"#
            )
        ),
        Some(1.0),
        "{body}"
    );
}

#[test]
fn a_template_that_renders_no_record_answers_servfail() {
    let server = TestServer::start(
        ".:{PORT} {\n  bind 127.0.0.1\n  errors\n  template IN TXT example {\n    answer \"{{ .Name }}\"\n  }\n}\n",
        &[],
    );
    for _ in 0..3 {
        let reply = ask(server.addr, "x.example.", RecordType::TXT);
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    }
    let log = server.log();
    assert_eq!(
        log.matches("plugin/template: answer template").count(),
        1,
        "logged once a minute, not per query:\n{log}"
    );
}
