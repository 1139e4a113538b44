//! `forward . tls://…`: DNS over TLS to an upstream whose certificate is checked against the
//! configured CA and `tls_servername`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{TestServer, decode, query_bytes, raw_udp};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA, and a server certificate for `dns.test` signed by it, as PEM files in `dir`.
fn certificates(dir: &std::path::Path) -> (String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let server_key = KeyPair::generate().expect("key");
    let server = CertificateParams::new(vec!["dns.test".to_string()])
        .expect("params")
        .signed_by(&server_key, &ca)
        .expect("server cert");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
    (server.pem(), server_key.serialize_pem())
}

/// A DNS-over-TLS upstream answering A 192.0.2.53, on its own thread.
fn dot_upstream(cert_pem: String, key_pem: String) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let queries = Arc::new(AtomicUsize::new(0));
    let counter = queries.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        runtime.block_on(async move {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .expect("certs");
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    while let Ok(len) = stream.read_u16().await {
                        let mut body = vec![0u8; usize::from(len)];
                        if stream.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let Ok(query) = Message::from_vec(&body) else {
                            return;
                        };
                        counter.fetch_add(1, Ordering::AcqRel);
                        let mut reply = Message::new(
                            query.metadata.id,
                            MessageType::Response,
                            query.metadata.op_code,
                        );
                        reply.metadata.recursion_available = true;
                        reply.queries = query.queries.clone();
                        if let Some(q) = query.queries.first() {
                            reply.add_answer(Record::from_rdata(
                                q.name().clone(),
                                60,
                                RData::A(A::new(192, 0, 2, 53)),
                            ));
                        }
                        let bytes = reply.to_vec().expect("encode");
                        let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
                        frame.extend_from_slice(&bytes);
                        if stream.write_all(&frame).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    (addr, queries)
}

fn corefile(upstream: SocketAddr, ca: &std::path::Path, server_name: &str) -> String {
    format!(
        ".:{{PORT}} {{\n  bind 127.0.0.1\n  forward . tls://{upstream} {{\n    tls_servername {server_name}\n    tls {}\n    read_timeout 500ms\n  }}\n}}\n",
        ca.display()
    )
}

#[test]
fn queries_go_over_tls_to_a_verified_upstream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = certificates(dir.path());
    let (upstream, queries) = dot_upstream(cert, key);
    let server = TestServer::start(
        &corefile(upstream, &dir.path().join("ca.pem"), "dns.test"),
        &[],
    );
    let reply = raw_udp(
        server.addr,
        &query_bytes("www.example.org.", RecordType::A, 1),
        Duration::from_secs(5),
    )
    .expect("reply");
    let m = decode(&reply);
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "{}",
        server.log()
    );
    assert_eq!(m.answers[0].data.to_string(), "192.0.2.53");
    assert_eq!(queries.load(Ordering::Acquire), 1);
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = certificates(dir.path());
    let (upstream, queries) = dot_upstream(cert, key);
    let server = TestServer::start(
        &corefile(upstream, &dir.path().join("ca.pem"), "other.test"),
        &[],
    );
    let reply = raw_udp(
        server.addr,
        &query_bytes("www.example.org.", RecordType::A, 1),
        Duration::from_secs(6),
    )
    .expect("reply");
    assert_eq!(
        decode(&reply).metadata.response_code,
        ResponseCode::ServFail
    );
    assert_eq!(
        queries.load(Ordering::Acquire),
        0,
        "no query is sent to an unverified upstream"
    );
}
