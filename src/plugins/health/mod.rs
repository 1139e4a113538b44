//! `health [ADDR] { lameduck DURATION }`: where `GET /health` is served (the HTTP server is
//! [`crate::admin`]'s), how long to keep serving after SIGTERM, and CoreDNS's self-check that
//! times `/health` once a second. It takes no part in answering queries.

pub mod metrics;
pub mod setup;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use setup::HealthConfig;

use crate::plugin::{
    BlockSettings, Definition, HttpEndpoint, Setup, StartContext, StartFuture, no_plugin,
};

/// `health` in the plugin registry.
pub const DEFINITION: Definition = Definition {
    parse: setup::parse,
    metrics: Some(metrics::register),
    repeatable: false,
    requires: None,
};

impl Setup for HealthConfig {
    fn configure(&self, block: &mut BlockSettings) {
        block.http.push((HttpEndpoint::Health, self.listen.clone()));
        block.lameduck = block.lameduck.max(self.lameduck);
    }

    fn start(self: Box<Self>, _context: &StartContext) -> StartFuture<'_> {
        no_plugin()
    }
}

/// CoreDNS's health self-check (`plugin/health/overloaded.go`): while `serving()` says this
/// address serves `/health`, ask it once a second and record how long it took
/// (`coredns_health_request_duration_seconds`) or that it failed
/// (`coredns_health_request_failures_total`): a slow answer means an overloaded process.
pub async fn self_check(
    addr: SocketAddr,
    serving: impl Fn() -> bool,
    families: Option<Arc<metrics::HealthFamilies>>,
    mut shutdown: watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = ticks.tick() => {}
        }
        if !serving() {
            continue;
        }
        let started = std::time::Instant::now();
        let check = async {
            let mut stream = tokio::net::TcpStream::connect(target).await?;
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await?;
            Ok::<bool, std::io::Error>(response.starts_with(b"HTTP/1.1 200"))
        };
        let outcome = tokio::time::timeout(Duration::from_secs(3), check).await;
        let Some(families) = &families else { continue };
        match outcome {
            Ok(Ok(true)) => families.duration.observe(started.elapsed().as_secs_f64()),
            _ => {
                families.failures.inc();
            }
        }
    }
}
