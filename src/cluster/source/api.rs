//! The API server source: lists and watches Namespaces, Services, discovery.k8s.io/v1
//! EndpointSlices (and Pods for `pods verified`) with kube's `watcher`, and writes each object,
//! stripped as it arrives, into the [`ClusterIndex`].
//!
//! No reflector store is kept: a re-list (after 410 Gone or a reconnect) upserts objects page by
//! page as they arrive and, when the list is complete, removes the ones it did not contain. Names
//! that exist before and after never answer NXDOMAIN, and the peak holds one page of API objects
//! plus the keys seen, not two full copies of the cluster.
//!
//! The watcher retries forever with kube's default backoff (exponential with jitter, capped);
//! errors are logged once per change of state, and the index keeps serving the last data. A
//! watch line longer than [`MAX_WATCH_LINE`] ends the connection ([`super::line_cap`]), and the
//! watcher watches again.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::line_cap::{LineCapLayer, LineTooLong, MAX_WATCH_LINE};
use super::rest_metrics::RestMetricsLayer;
use crate::cluster::metrics::RestClientMetrics;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kube::api::{Api, WatchEvent};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::SourceFilter;
use super::lite::PodLite;
use crate::cluster::index::{ClusterIndex, service_key};
use crate::cluster::objects::{EndpointSlice, Namespace, ObjectError, Pod, Service};
use crate::fuzzing::{WatchKind, WatchStep};

/// How to reach the API server (the `endpoint`, `tls` and `kubeconfig` options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// `endpoint URL`, with `tls CERT KEY CACERT` for https.
    Endpoint {
        /// The API server's URL.
        url: String,
        /// Client certificate, key and CA bundle files.
        tls: Option<TlsFiles>,
    },
    /// `kubeconfig PATH [CONTEXT]`.
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// The context to use (default: the file's current context).
        context: Option<String>,
    },
    /// Neither: the in-cluster service account, then `$KUBECONFIG` (CoreDNS's order).
    Default,
}

/// The files of `tls CERT KEY CACERT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// Client certificate (PEM).
    pub cert: PathBuf,
    /// Client key (PEM).
    pub key: PathBuf,
    /// CA bundle that signed the API server's certificate (PEM).
    pub ca: PathBuf,
}

impl TlsFiles {
    /// Whether the files hold what the client will load (a certificate, a private key, at
    /// least one CA certificate), so that `-validate` and start-up say which file is wrong
    /// instead of the TLS library failing at the first connection.
    pub fn check(&self) -> Result<(), String> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let read = |path: &std::path::Path| {
            crate::config::read_bytes(path, true).map_err(|e| format!("{}: {e}", path.display()))
        };
        let certificates = |path: &std::path::Path| -> Result<(), String> {
            let pem = read(path)?;
            let mut count = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                cert.map_err(|e| format!("{}: {e}", path.display()))?;
                count += 1;
            }
            if count == 0 {
                return Err(format!("{}: no PEM certificate in it", path.display()));
            }
            Ok(())
        };
        certificates(&self.cert)?;
        PrivateKeyDer::from_pem_slice(&read(&self.key)?)
            .map_err(|e| format!("{}: no PEM private key in it ({e})", self.key.display()))?;
        certificates(&self.ca)
    }
}

/// Why no API client could be built. These stop start-up: they are configuration errors, not
/// outages.
#[derive(Debug, Error)]
pub enum ConnectError {
    /// The kubeconfig file does not load.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The endpoint is not a URL.
    #[error("endpoint {url:?}: {reason}")]
    Endpoint {
        /// The URL as written.
        url: String,
        /// Why.
        reason: String,
    },
    /// Not in a cluster and no `$KUBECONFIG`.
    #[error(
        "no Kubernetes API configuration: not running in a cluster ({incluster}) and $KUBECONFIG is not set; use `endpoint`, `kubeconfig` or `manifests`"
    )]
    NoConfig {
        /// Why the in-cluster configuration failed.
        incluster: String,
    },
    /// The client could not be built from the configuration.
    #[error("building the API client: {0}")]
    Client(#[from] kube::Error),
}

/// Build the API client for `connection`, counting its requests in `metrics`. Reads files,
/// opens no connection.
pub async fn client(
    connection: &Connection,
    metrics: Option<RestClientMetrics>,
) -> Result<kube::Client, ConnectError> {
    let config = match connection {
        Connection::Endpoint { url, tls } => {
            let uri: http::Uri =
                url.parse()
                    .map_err(|e: http::uri::InvalidUri| ConnectError::Endpoint {
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) {
                return Err(ConnectError::Endpoint {
                    url: url.clone(),
                    reason: "the scheme must be http or https".into(),
                });
            }
            let mut config = kube::Config::new(uri);
            if let Some(tls) = tls {
                config.root_cert_file = Some(tls.ca.clone());
                config.auth_info.client_certificate = Some(tls.cert.display().to_string());
                config.auth_info.client_key = Some(tls.key.display().to_string());
            }
            config
        }
        Connection::Kubeconfig { path, context } => {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|source| ConnectError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?;
            let options = KubeConfigOptions {
                context: context.clone(),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|source| ConnectError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?
        }
        Connection::Default => match kube::Config::incluster() {
            Ok(config) => config,
            Err(incluster) => match std::env::var_os("KUBECONFIG") {
                Some(path) => {
                    let path = PathBuf::from(path);
                    let kubeconfig = Kubeconfig::read_from(&path).map_err(|source| {
                        ConnectError::Kubeconfig {
                            path: path.clone(),
                            source,
                        }
                    })?;
                    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                        .await
                        .map_err(|source| ConnectError::Kubeconfig { path, source })?
                }
                None => {
                    return Err(ConnectError::NoConfig {
                        incluster: incluster.to_string(),
                    });
                }
            },
        },
    };
    let mut config = config;
    // kube's client would retry 429/503/504 itself, up to 15 times with delays growing to many
    // minutes, hiding an outage and delaying recovery. The watcher's own backoff (exponential
    // with jitter, capped at 30 s, retried forever) is the one retry loop.
    config.default_retry = false;
    let host = config
        .cluster_url
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let builder = kube::client::ClientBuilder::try_from(config)?.with_layer(&LineCapLayer {
        max: MAX_WATCH_LINE,
    });
    Ok(match metrics {
        Some(metrics) => builder
            .with_layer(&RestMetricsLayer { metrics, host })
            .build(),
        None => builder.build(),
    })
}

/// The field selector CoreDNS uses for `pods verified`: finished pods never answer.
const LIVE_PODS: &str = "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown";

/// Start one watcher per kind that `filter` needs. The index is marked synced when every kind
/// has completed its first list.
pub fn spawn(
    client: kube::Client,
    filter: &SourceFilter,
    index: Arc<ClusterIndex>,
) -> tokio::task::JoinHandle<()> {
    let labels = filter.labels.as_ref().map(|s| s.as_str().to_string());
    let namespace_labels = filter
        .namespace_labels
        .as_ref()
        .map(|s| s.as_str().to_string());
    let config = |labels: &Option<String>| {
        let config = watcher::Config::default();
        match labels {
            Some(selector) => config.labels(selector),
            None => config,
        }
    };
    let kinds = 2 + usize::from(filter.endpoints) + usize::from(filter.pods);
    let pending = Arc::new(AtomicUsize::new(kinds));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(watch::<core::Namespace>(
        Api::all(client.clone()),
        config(&namespace_labels),
        filter.clone(),
        index.clone(),
        pending.clone(),
    ));
    tasks.spawn(watch::<core::Service>(
        Api::all(client.clone()),
        config(&labels),
        filter.clone(),
        index.clone(),
        pending.clone(),
    ));
    if filter.endpoints {
        tasks.spawn(watch::<discovery::EndpointSlice>(
            Api::all(client.clone()),
            config(&labels),
            filter.clone(),
            index.clone(),
            pending.clone(),
        ));
    }
    if filter.pods {
        tasks.spawn(watch::<PodLite>(
            Api::all(client),
            config(&labels).fields(LIVE_PODS),
            filter.clone(),
            index,
            pending,
        ));
    }
    tokio::spawn(async move {
        // The watchers end only when aborted (dropping this task's JoinSet aborts them).
        while tasks.join_next().await.is_some() {}
    })
}

/// One kind of watched object: how to key, store and remove its stripped form.
trait Watched:
    kube::Resource<DynamicType = ()>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The kind, for logs.
    const KIND: &'static str;
    /// The index key (`"name.namespace"`, or the name for namespaces).
    fn index_key(&self) -> Option<Arc<str>> {
        let meta = self.meta();
        let name = meta.name.as_deref()?;
        Some(match &meta.namespace {
            Some(ns) => service_key(name, ns),
            None => Arc::from(name),
        })
    }
    /// Strip (as `filter` asks) and store; bad parts are described in `skipped`.
    fn store(
        &self,
        index: &ClusterIndex,
        filter: &SourceFilter,
        skipped: &mut Vec<String>,
    ) -> Result<(), ObjectError>;
    /// Remove.
    fn remove(&self, index: &ClusterIndex);
    /// Remove every object of this kind whose key `keep` refuses.
    fn sweep(index: &ClusterIndex, keep: impl Fn(&str) -> bool);
}

fn meta_name<K: kube::Resource>(object: &K) -> (&str, &str) {
    let meta = object.meta();
    (
        meta.name.as_deref().unwrap_or_default(),
        meta.namespace.as_deref().unwrap_or("default"),
    )
}

impl Watched for core::Namespace {
    const KIND: &'static str = "Namespace";
    fn store(
        &self,
        index: &ClusterIndex,
        _: &SourceFilter,
        _: &mut Vec<String>,
    ) -> Result<(), ObjectError> {
        index.upsert_namespace(Namespace::from_api(self)?);
        Ok(())
    }
    fn remove(&self, index: &ClusterIndex) {
        index.delete_namespace(meta_name(self).0);
    }
    fn sweep(index: &ClusterIndex, keep: impl Fn(&str) -> bool) {
        index.retain_namespaces(keep);
    }
}

impl Watched for core::Service {
    const KIND: &'static str = "Service";
    fn store(
        &self,
        index: &ClusterIndex,
        _filter: &SourceFilter,
        skipped: &mut Vec<String>,
    ) -> Result<(), ObjectError> {
        index.upsert_service(Service::from_api(self, skipped)?);
        Ok(())
    }
    fn remove(&self, index: &ClusterIndex) {
        let (name, ns) = meta_name(self);
        index.delete_service(name, ns);
    }
    fn sweep(index: &ClusterIndex, keep: impl Fn(&str) -> bool) {
        index.retain_services(keep);
    }
}

impl Watched for discovery::EndpointSlice {
    const KIND: &'static str = "EndpointSlice";
    fn store(
        &self,
        index: &ClusterIndex,
        _filter: &SourceFilter,
        skipped: &mut Vec<String>,
    ) -> Result<(), ObjectError> {
        if self.address_type == "FQDN" {
            return Ok(());
        }
        let mut slice = EndpointSlice::from_api(self, skipped)?;
        _filter.trim(&mut slice);
        index.upsert_slice(slice);
        Ok(())
    }
    fn remove(&self, index: &ClusterIndex) {
        let (name, ns) = meta_name(self);
        index.delete_slice(name, ns);
    }
    fn sweep(index: &ClusterIndex, keep: impl Fn(&str) -> bool) {
        index.retain_slices(keep);
    }
}

impl Watched for PodLite {
    const KIND: &'static str = "Pod";
    fn store(
        &self,
        index: &ClusterIndex,
        _filter: &SourceFilter,
        skipped: &mut Vec<String>,
    ) -> Result<(), ObjectError> {
        index.upsert_pod(Pod::from_lite(self, skipped)?);
        Ok(())
    }
    fn remove(&self, index: &ClusterIndex) {
        let (name, ns) = meta_name(self);
        index.delete_pod(name, ns);
    }
    fn sweep(index: &ClusterIndex, keep: impl Fn(&str) -> bool) {
        index.retain_pods(keep);
    }
}

/// What one kind's watch events do to the index: the state the stream's loop keeps between
/// events (the keys of a re-list in progress, whether the first list is done, which objects'
/// bad parts were logged).
struct Follower<K> {
    index: Arc<ClusterIndex>,
    filter: SourceFilter,
    /// Kinds whose first list is not complete yet; the last one marks the index synced.
    pending: Arc<AtomicUsize>,
    /// Keys seen during a re-list, as keyed 64-bit hashes: 8 bytes per object instead of a copy
    /// of its name (a collision could only keep a deleted object until the next re-list).
    hasher: std::collections::hash_map::RandomState,
    relisting: Option<HashSet<u64>>,
    first_sync: bool,
    /// Objects whose bad parts were already logged: log once, not on every re-list.
    reported: HashSet<Arc<str>>,
    kind: std::marker::PhantomData<fn(K)>,
}

impl<K: Watched> Follower<K> {
    fn new(filter: SourceFilter, index: Arc<ClusterIndex>, pending: Arc<AtomicUsize>) -> Self {
        Follower {
            index,
            filter,
            pending,
            hasher: std::collections::hash_map::RandomState::new(),
            relisting: None,
            first_sync: true,
            reported: HashSet::new(),
            kind: std::marker::PhantomData,
        }
    }

    /// Strip and store `object`, logging its bad parts once; returns its key.
    fn store(&mut self, object: &K) -> Arc<str> {
        let mut skipped = Vec::new();
        let result = object.store(&self.index, &self.filter, &mut skipped);
        let key = object.index_key().unwrap_or_else(|| Arc::from(""));
        if (result.is_err() || !skipped.is_empty()) && self.reported.insert(key.clone()) {
            match result {
                Err(e) => tracing::debug!(kind = K::KIND, object = %key, "skipped: {e}"),
                Ok(()) => tracing::debug!(
                    kind = K::KIND,
                    object = %key,
                    "parts skipped: {}",
                    skipped.join("; ")
                ),
            }
        }
        key
    }

    /// Apply one event of the watcher to the index.
    fn apply(&mut self, event: Event<K>) {
        match event {
            Event::Init => self.relisting = Some(HashSet::new()),
            Event::InitApply(object) => {
                let key = self.store(&object);
                if let Some(seen) = self.relisting.as_mut() {
                    seen.insert(self.hasher.hash_one(&*key));
                }
            }
            Event::InitDone => {
                if let Some(seen) = self.relisting.take() {
                    K::sweep(&self.index, |key| seen.contains(&self.hasher.hash_one(key)));
                    tracing::debug!(kind = K::KIND, objects = seen.len(), "listed");
                }
                if self.first_sync {
                    self.first_sync = false;
                    if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                        self.index.mark_synced();
                        tracing::info!("Kubernetes API synced");
                    }
                }
            }
            Event::Apply(object) => {
                self.store(&object);
            }
            Event::Delete(object) => {
                if let Some(key) = object.index_key() {
                    self.reported.remove(&key);
                }
                object.remove(&self.index);
            }
        }
    }
}

/// What went wrong, in words for an operator: the API server's status (code, reason, message:
/// a 403 names the missing permission) or the connection's failure and its causes, never the
/// Rust debug text kube's own messages carry.
fn describe(error: &watcher::Error) -> String {
    let (action, client) = match error {
        watcher::Error::InitialListFailed(e) => ("list", e),
        watcher::Error::WatchStartFailed(e) => ("watch", e),
        watcher::Error::WatchFailed(e) => ("watch stream", e),
        watcher::Error::WatchError(status) => return format!("watch: {}", status_words(status)),
        watcher::Error::NoResourceVersion => {
            return "the API server sent a list without metadata.resourceVersion".to_string();
        }
    };
    let what = match client {
        kube::Error::Api(status) => status_words(status),
        kube::Error::HyperError(e) => format!("connection failed: {}", causes(e)),
        kube::Error::Service(e) => format!("connection failed: {}", causes(e.as_ref())),
        kube::Error::ReadEvents(e) => format!("reading the stream failed: {}", causes(e)),
        other => causes(other),
    };
    format!("{action}: {what}")
}

/// `403 Forbidden: pods is forbidden: …`.
fn status_words(status: &kube::core::Status) -> String {
    let reason = if status.reason.is_empty() {
        "error"
    } else {
        status.reason.as_str()
    };
    if status.message.is_empty() {
        format!("{} {reason}", status.code)
    } else {
        format!("{} {reason}: {}", status.code, status.message)
    }
}

/// `error` and each error it wraps, joined by ": ", a message that repeats its cause's once.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        next = cause.source();
    }
    text
}

/// Consume one kind's watch stream forever.
async fn watch<K: Watched>(
    api: Api<K>,
    config: watcher::Config,
    filter: SourceFilter,
    index: Arc<ClusterIndex>,
    pending: Arc<AtomicUsize>,
) {
    let stream = watcher::watcher(api, config).default_backoff();
    futures_util::pin_mut!(stream);
    let mut follower = Follower::<K>::new(filter, index.clone(), pending);
    let mut failing = false;
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(event) => event,
            Err(e) => {
                let expired =
                    matches!(&e, watcher::Error::WatchError(status) if status.code == 410);
                if expired {
                    tracing::info!(
                        kind = K::KIND,
                        "watch: resource version expired (410 Gone), re-listing"
                    );
                } else if LineTooLong::is_cause_of(&e) {
                    tracing::warn!(
                        kind = K::KIND,
                        "watch: the API server sent more than {MAX_WATCH_LINE} bytes without a newline; dropped the connection, serving the last data and watching again"
                    );
                } else if !failing {
                    let serving = if index.is_synced() {
                        "serving the last data"
                    } else {
                        "no data yet"
                    };
                    tracing::warn!(
                        kind = K::KIND,
                        "Kubernetes API unavailable, {serving}; retrying with backoff: {}",
                        describe(&e)
                    );
                    failing = true;
                } else {
                    tracing::debug!(kind = K::KIND, "still failing: {}", describe(&e));
                }
                continue;
            }
        };
        // `Init` is emitted before the list request is made: only data proves the API is back.
        if failing && !matches!(event, Event::Init) {
            tracing::info!(kind = K::KIND, "Kubernetes API reachable again");
            failing = false;
        }
        follower.apply(event);
    }
}

/// Decode `steps` as kube's client decodes a list and a watch response of one `kind`, and apply
/// them to `index` as the watch loop does (the fuzz targets' way in: see [`crate::fuzzing`]).
/// Returns the index keys of the objects stored or deleted.
pub(crate) fn replay<'a>(
    kind: WatchKind,
    steps: impl IntoIterator<Item = WatchStep<'a>>,
    filter: &SourceFilter,
    index: &Arc<ClusterIndex>,
) -> Vec<Arc<str>> {
    match kind {
        WatchKind::Namespace => replay_kind::<core::Namespace>(steps, filter, index),
        WatchKind::Service => replay_kind::<core::Service>(steps, filter, index),
        WatchKind::EndpointSlice => replay_kind::<discovery::EndpointSlice>(steps, filter, index),
        WatchKind::Pod => replay_kind::<PodLite>(steps, filter, index),
    }
}

fn replay_kind<'a, K: Watched>(
    steps: impl IntoIterator<Item = WatchStep<'a>>,
    filter: &SourceFilter,
    index: &Arc<ClusterIndex>,
) -> Vec<Arc<str>> {
    let mut follower =
        Follower::<K>::new(filter.clone(), index.clone(), Arc::new(AtomicUsize::new(1)));
    let mut keys = Vec::new();
    for step in steps {
        let event = match step {
            WatchStep::ListStart => Event::Init,
            WatchStep::ListDone => Event::InitDone,
            // A list page's items are decoded one by one, as `ObjectList<K>` does.
            WatchStep::ListItem(json) => match serde_json::from_slice::<K>(json) {
                Ok(object) => Event::InitApply(object),
                Err(_) => continue,
            },
            WatchStep::Watch(line) => match serde_json::from_slice::<WatchEvent<K>>(line) {
                Ok(WatchEvent::Added(object) | WatchEvent::Modified(object)) => {
                    Event::Apply(object)
                }
                Ok(WatchEvent::Deleted(object)) => Event::Delete(object),
                // Bookmarks only move the resource version; errors make the watcher re-list,
                // which the steps spell out themselves.
                Ok(WatchEvent::Bookmark(_) | WatchEvent::Error(_)) | Err(_) => continue,
            },
        };
        if let Event::InitApply(object) | Event::Apply(object) | Event::Delete(object) = &event {
            keys.extend(object.index_key());
        }
        follower.apply(event);
    }
    keys
}
