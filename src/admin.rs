//! The small HTTP servers of `health` (`GET /health`) and `ready` (`GET /ready`): one server
//! per address, shared by every directive that names it, as in CoreDNS.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::metrics::ServerMetrics;
use crate::plugin::Chain;

/// What `/ready` reports: the plugins not ready yet, or "shutting down".
#[derive(Default)]
pub struct Readiness {
    /// The running config's chains (replaced on reload).
    chains: RwLock<Vec<Arc<Chain>>>,
    /// Set once every plugin was ready: `/ready` then stays 200 (CoreDNS latches it), until
    /// shutdown, unless `monitor continuously`.
    latched: AtomicBool,
    /// `ready { monitor continuously }`: never latch.
    continuously: AtomicBool,
    shutting_down: AtomicBool,
}

impl Readiness {
    /// Readiness over these chains' plugins.
    pub fn new(chains: Vec<Arc<Chain>>) -> Readiness {
        Readiness {
            chains: RwLock::new(chains),
            latched: AtomicBool::new(false),
            continuously: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// The names of the plugins that are not ready (empty: ready).
    pub fn not_ready(&self) -> Vec<&'static str> {
        if self.shutting_down.load(Ordering::Acquire) {
            return vec!["shutting down"];
        }
        if self.latched.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut names: Vec<&'static str> = match self.chains.read() {
            Ok(chains) => chains.iter().flat_map(|c| c.not_ready()).collect(),
            Err(_) => vec!["readiness state poisoned"],
        };
        names.sort_unstable();
        names.dedup();
        if names.is_empty() && !self.continuously.load(Ordering::Acquire) {
            self.latched.store(true, Ordering::Release);
        }
        names
    }

    /// Report on these chains from now on (a reload); `continuously` (`ready { monitor
    /// continuously }`) asks them on every request even after they were all ready. Once
    /// latched, `/ready` stays 200: a reload only swaps in chains that are ready, or keeps the
    /// old ones.
    pub fn set_chains(&self, chains: Vec<Arc<Chain>>, continuously: bool) {
        if let Ok(mut current) = self.chains.write() {
            *current = chains;
        }
        self.continuously.store(continuously, Ordering::Release);
        if continuously {
            self.latched.store(false, Ordering::Release);
        }
    }

    /// From now on `/ready` says 503 (lameduck).
    pub fn start_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }
}

/// Which endpoints an address serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// `/health`.
    pub health: bool,
    /// `/ready`.
    pub ready: bool,
    /// `/metrics`.
    pub metrics: bool,
}

/// The endpoints of a running HTTP server, changed in place on reload.
#[derive(Debug, Default)]
pub struct SharedEndpoints(AtomicU8);

impl SharedEndpoints {
    /// Serving `endpoints`.
    pub fn new(endpoints: Endpoints) -> SharedEndpoints {
        let shared = SharedEndpoints::default();
        shared.set(endpoints);
        shared
    }

    /// The endpoints served now.
    pub fn get(&self) -> Endpoints {
        let bits = self.0.load(Ordering::Acquire);
        Endpoints {
            health: bits & 1 != 0,
            ready: bits & 2 != 0,
            metrics: bits & 4 != 0,
        }
    }

    /// Serve `endpoints` from now on.
    pub fn set(&self, endpoints: Endpoints) {
        let bits = u8::from(endpoints.health)
            | u8::from(endpoints.ready) << 1
            | u8::from(endpoints.metrics) << 2;
        self.0.store(bits, Ordering::Release);
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

fn respond(
    path: &str,
    endpoints: Endpoints,
    readiness: &Readiness,
    metrics: &ServerMetrics,
) -> Response<Full<Bytes>> {
    match path {
        "/metrics" if endpoints.metrics => {
            let mut body = String::new();
            match prometheus_client::encoding::text::encode(&mut body, metrics.registry()) {
                Ok(()) => {
                    let mut response = text(StatusCode::OK, body);
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                    );
                    response
                }
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
            }
        }
        "/health" if endpoints.health => text(StatusCode::OK, "OK".into()),
        "/ready" if endpoints.ready => {
            let not_ready = readiness.not_ready();
            if not_ready.is_empty() {
                text(StatusCode::OK, "OK".into())
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{}\n", not_ready.join("\n")),
                )
            }
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n".into()),
    }
}

/// Bind `addr` (before anything is served, so a taken port stops start-up or a reload).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, (SocketAddr, std::io::Error)> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        // No IPv6 on this host: every IPv4 address instead.
        Err(e) if crate::server::no_ipv6(addr, &e) => {
            let v4 = SocketAddr::from(([0, 0, 0, 0], addr.port()));
            TcpListener::bind(v4).await.map_err(|e| (v4, e))
        }
        Err(e) => Err((addr, e)),
    }
}

/// Serve `listener` on `tasks` until `shutdown` turns true.
pub fn spawn(
    listener: TcpListener,
    endpoints: Arc<SharedEndpoints>,
    readiness: Arc<Readiness>,
    metrics: Arc<ServerMetrics>,
    tasks: &mut JoinSet<()>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Ok(addr) = listener.local_addr() {
        let now = endpoints.get();
        let paths: Vec<&str> = [
            (now.health, "/health"),
            (now.ready, "/ready"),
            (now.metrics, "/metrics"),
        ]
        .into_iter()
        .filter_map(|(on, path)| on.then_some(path))
        .collect();
        tracing::info!("serving {} on http://{addr}", paths.join(" "));
        let serving = endpoints.clone();
        tasks.spawn(crate::plugins::health::self_check(
            addr,
            move || serving.get().health,
            metrics.families(),
            shutdown.clone(),
        ));
    }
    tasks.spawn(async move {
        loop {
            let accepted = tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _)) = accepted else { continue };
            let (readiness, metrics) = (readiness.clone(), metrics.clone());
            let endpoints = endpoints.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let response =
                            respond(request.uri().path(), endpoints.get(), &readiness, &metrics);
                        async move { Ok::<_, Infallible>(response) }
                    });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let _ = tokio::time::timeout(Duration::from_secs(30), connection).await;
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_endpoints_round_trip() {
        for bits in 0..8u8 {
            let endpoints = Endpoints {
                health: bits & 1 != 0,
                ready: bits & 2 != 0,
                metrics: bits & 4 != 0,
            };
            assert_eq!(SharedEndpoints::new(endpoints).get(), endpoints);
        }
    }

    /// A plugin whose readiness the test sets.
    struct Flag(Arc<AtomicBool>);

    impl crate::plugin::Plugin for Flag {
        fn name(&self) -> &'static str {
            "flag"
        }

        fn serve(
            &self,
            request: &crate::plugin::Request,
            next: crate::plugin::Next<'_>,
            resolver: &dyn crate::plugin::Resolve,
        ) -> crate::plugin::Served {
            next.serve(request, resolver)
        }

        fn ready(&self) -> bool {
            self.0.load(Ordering::Acquire)
        }
    }

    #[test]
    fn until_ready_latches_and_continuously_follows_the_plugins() {
        for (continuously, after) in [(false, Vec::<&str>::new()), (true, vec!["flag"])] {
            let flag = Arc::new(AtomicBool::new(true));
            let chain = Arc::new(Chain::new(vec![Arc::new(Flag(flag.clone()))]));
            let readiness = Readiness::new(Vec::new());
            readiness.set_chains(vec![chain], continuously);
            assert!(readiness.not_ready().is_empty());
            flag.store(false, Ordering::Release);
            assert_eq!(readiness.not_ready(), after, "continuously: {continuously}");
        }
    }

    #[test]
    fn ready_latches_and_shutdown_unreadies() {
        let readiness = Readiness::new(Vec::new());
        assert!(readiness.not_ready().is_empty());
        readiness.start_shutdown();
        assert_eq!(readiness.not_ready(), vec!["shutting down"]);
    }
}
