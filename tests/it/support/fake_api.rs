//! A fake Kubernetes API server over real HTTP/1.1, faithful to the list/watch protocol that
//! kube's watcher speaks: lists with `resourceVersion` and `limit`/`continue` paging, watches
//! streaming ADDED/MODIFIED/DELETED/BOOKMARK events as JSON lines, 410 Gone for expired
//! resource versions (as an ERROR event on a watch, as a 410 status on a list), label and field
//! selectors, and faults: 503 for every request, connections dropped, the port closed.
//!
//! It runs on its own thread and runtime, so tests can drive it from synchronous code while
//! polling the DNS server.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use clusterdns::cluster::LabelSelector;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

/// The kinds clusterdns watches, with their API paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// v1 Namespace.
    Namespace,
    /// v1 Service.
    Service,
    /// discovery.k8s.io/v1 EndpointSlice.
    EndpointSlice,
    /// v1 Pod.
    Pod,
}

impl Kind {
    fn from_path(path: &str) -> Option<Kind> {
        match path {
            "/api/v1/namespaces" => Some(Kind::Namespace),
            "/api/v1/services" => Some(Kind::Service),
            "/apis/discovery.k8s.io/v1/endpointslices" => Some(Kind::EndpointSlice),
            "/api/v1/pods" => Some(Kind::Pod),
            _ => None,
        }
    }

    fn of(object: &Value) -> Kind {
        match object["kind"].as_str() {
            Some("Namespace") => Kind::Namespace,
            Some("Service") => Kind::Service,
            Some("EndpointSlice") => Kind::EndpointSlice,
            Some("Pod") => Kind::Pod,
            other => panic!("fake API: unsupported kind {other:?}"),
        }
    }

    fn list_kind(self) -> (&'static str, &'static str) {
        match self {
            Kind::Namespace => ("v1", "NamespaceList"),
            Kind::Service => ("v1", "ServiceList"),
            Kind::EndpointSlice => ("discovery.k8s.io/v1", "EndpointSliceList"),
            Kind::Pod => ("v1", "PodList"),
        }
    }

    fn object_kind(self) -> (&'static str, &'static str) {
        match self {
            Kind::Namespace => ("v1", "Namespace"),
            Kind::Service => ("v1", "Service"),
            Kind::EndpointSlice => ("discovery.k8s.io/v1", "EndpointSlice"),
            Kind::Pod => ("v1", "Pod"),
        }
    }
}

type Key = (Kind, String, String);

#[derive(Default)]
struct State {
    rv: u64,
    /// Resource versions below this are expired: 410 Gone.
    compacted: u64,
    /// The object, and its rendering as a list item (no apiVersion/kind, as the real API server
    /// sends list items), made once when it is stored.
    objects: BTreeMap<Key, (Value, String)>,
    /// (rv, kind, event type, object) for watch replay.
    history: Vec<(u64, Kind, &'static str, Value)>,
    unavailable: bool,
    /// Answer every request with 403, as an API server does to a client without RBAC rights.
    forbidden: bool,
    /// Watches of this kind get one line that never ends (see [`FakeApi::endless_watch_line`]).
    endless: Option<Kind>,
    /// How many watches got it, and how many bytes of it were sent in all.
    endless_watches: usize,
    endless_bytes: u64,
    /// Every request line received, for assertions.
    requests: Vec<String>,
}

enum Control {
    Listen,
    StopListening,
    Close,
    DropConnections,
}

/// A running fake API server.
pub struct FakeApi {
    /// Its address (127.0.0.1 and a free port).
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    changed: broadcast::Sender<()>,
    control: mpsc::UnboundedSender<Control>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Close);
        drop(std::mem::replace(
            &mut self.control,
            mpsc::unbounded_channel().0,
        ));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn list_item(object: &Value) -> String {
    let mut item = object.clone();
    if let Some(map) = item.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    item.to_string()
}

fn with_rv(mut object: Value, rv: u64) -> Value {
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
    object
}

/// The store key of `name` in `namespace` (namespaces themselves have none).
fn object_key(kind: Kind, namespace: &str, name: &str) -> Key {
    let namespace = if kind == Kind::Namespace {
        ""
    } else {
        namespace
    };
    (kind, namespace.to_string(), name.to_string())
}

fn key_of(object: &Value) -> Key {
    let meta = &object["metadata"];
    let ns = match Kind::of(object) {
        Kind::Namespace => String::new(),
        _ => meta["namespace"].as_str().unwrap_or("default").to_string(),
    };
    (
        Kind::of(object),
        ns,
        meta["name"].as_str().expect("object name").to_string(),
    )
}

impl FakeApi {
    /// Start on a free loopback port.
    pub fn start() -> FakeApi {
        FakeApi::start_on("127.0.0.1:0".parse().expect("address"))
    }

    /// Start on `bind` (from a thread inside a network namespace to serve there).
    pub fn start_on(bind: std::net::SocketAddr) -> FakeApi {
        let std_listener = std::net::TcpListener::bind(bind).expect("bind fake API");
        let addr = std_listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            rv: 1,
            ..State::default()
        }));
        let (changed, _) = broadcast::channel(1024);
        let (control, mut control_rx) = mpsc::unbounded_channel();
        let (thread_state, thread_changed) = (state.clone(), changed.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                std_listener.set_nonblocking(true).expect("nonblocking");
                let mut listener = Some(tokio::net::TcpListener::from_std(std_listener).expect("listener"));
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        command = control_rx.recv() => match command {
                            None | Some(Control::Close) => {
                                connections.abort_all();
                                return;
                            }
                            Some(Control::DropConnections) => connections.abort_all(),
                            Some(Control::StopListening) => {
                                listener = None;
                                connections.abort_all();
                            }
                            Some(Control::Listen) => {
                                if listener.is_none() {
                                    // The port was ours a moment ago; retry briefly if the
                                    // kernel still holds it.
                                    for _ in 0..100 {
                                        if let Ok(l) = tokio::net::TcpListener::bind(addr).await {
                                            listener = Some(l);
                                            break;
                                        }
                                        tokio::time::sleep(Duration::from_millis(20)).await;
                                    }
                                }
                            }
                        },
                        accepted = async { listener.as_ref().expect("listening").accept().await }, if listener.is_some() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let (state, changed) = (thread_state.clone(), thread_changed.clone());
                            connections.spawn(async move {
                                let service = hyper::service::service_fn(move |req| {
                                    let (state, changed) = (state.clone(), changed.clone());
                                    async move { Ok::<_, Infallible>(handle(req, state, changed).await) }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                    .await;
                            });
                        }
                        Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    }
                }
            });
        });
        FakeApi {
            addr,
            state,
            changed,
            control,
            thread: Some(thread),
        }
    }

    /// The `endpoint` URL for the Corefile.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake API state")
    }

    /// Create or replace an object (its `kind` says which); watchers get ADDED or MODIFIED.
    pub fn apply(&self, object: Value) {
        let key = key_of(&object);
        {
            let mut state = self.state();
            state.rv += 1;
            let rv = state.rv;
            let object = with_rv(object, rv);
            let event = if state.objects.contains_key(&key) {
                "MODIFIED"
            } else {
                "ADDED"
            };
            let item = list_item(&object);
            state.objects.insert(key.clone(), (object.clone(), item));
            state.history.push((rv, key.0, event, object));
        }
        let _ = self.changed.send(());
    }

    /// Delete an object; watchers get DELETED.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) {
        let key = object_key(kind, namespace, name);
        {
            let mut state = self.state();
            let Some((object, _)) = state.objects.remove(&key) else {
                return;
            };
            state.rv += 1;
            let rv = state.rv;
            state
                .history
                .push((rv, kind, "DELETED", with_rv(object, rv)));
        }
        let _ = self.changed.send(());
    }

    /// Delete an object without telling anyone (as if the events were compacted away while
    /// the client was disconnected).
    pub fn delete_silently(&self, kind: Kind, namespace: &str, name: &str) {
        let key = object_key(kind, namespace, name);
        self.state().objects.remove(&key);
    }

    /// Expire every resource version issued so far: the next watch or continued list from one
    /// of them gets 410 Gone, and history before now is forgotten.
    pub fn compact(&self) {
        let mut state = self.state();
        state.rv += 1;
        state.compacted = state.rv;
        state.history.clear();
    }

    /// Close every open connection (watches end mid-stream).
    pub fn drop_connections(&self) {
        let _ = self.control.send(Control::DropConnections);
    }

    /// Answer every request with 503 (and end open watches), or stop doing so.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.state().unavailable = unavailable;
        if unavailable {
            self.drop_connections();
        }
        let _ = self.changed.send(());
    }

    /// Answer every request with 403 Forbidden (a service account without the ClusterRole), or
    /// stop doing so.
    pub fn set_forbidden(&self, forbidden: bool) {
        self.state().forbidden = forbidden;
        let _ = self.changed.send(());
    }

    /// Close the port: connections are refused until [`FakeApi::listen`].
    pub fn refuse_connections(&self) {
        let _ = self.control.send(Control::StopListening);
    }

    /// Open the port again after [`FakeApi::refuse_connections`].
    pub fn listen(&self) {
        let _ = self.control.send(Control::Listen);
    }

    /// From now on, every watch of `kind` (None: none) answers with a line that never ends:
    /// the start of an event, then 1 MiB after 1 MiB with no newline, until the client hangs up
    /// or 256 MiB were sent.
    pub fn endless_watch_line(&self, kind: Option<Kind>) {
        self.state().endless = kind;
    }

    /// (watches that got an endless line, bytes of it sent in all).
    pub fn endless_sent(&self) -> (usize, u64) {
        let s = self.state();
        (s.endless_watches, s.endless_bytes)
    }

    /// Every request line received so far (method, path and query).
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }
}

fn query_params(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Label and field selectors of a request.
struct Filter {
    labels: Option<LabelSelector>,
    /// `field!=value` terms (the only form clusterdns sends: the pod phase).
    not_fields: Vec<(String, String)>,
}

impl Filter {
    fn from(params: &BTreeMap<String, String>) -> Filter {
        let labels = params
            .get("labelSelector")
            .filter(|s| !s.is_empty())
            .map(|s| LabelSelector::parse(s).expect("fake API: label selector"));
        let not_fields = params
            .get("fieldSelector")
            .map(|s| {
                s.split(',')
                    .filter_map(|term| term.split_once("!="))
                    .map(|(f, v)| (f.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Filter { labels, not_fields }
    }

    fn matches(&self, object: &Value) -> bool {
        let labels: BTreeMap<String, String> = object["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let labels_ok = self.labels.as_ref().is_none_or(|s| s.matches(&labels));
        let fields_ok = self.not_fields.iter().all(|(field, value)| {
            let mut v = object;
            for part in field.split('.') {
                v = &v[part];
            }
            v.as_str() != Some(value.as_str())
        });
        labels_ok && fields_ok
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn json_response(status: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .expect("response")
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    changed: broadcast::Sender<()>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let params = query_params(req.uri().query());
    {
        let mut s = state.lock().expect("state");
        s.requests.push(format!("{} {}", req.method(), req.uri()));
        if s.unavailable {
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                status(503, "ServiceUnavailable", "the API server is down"),
            );
        }
        if s.forbidden {
            let resource = path.rsplit('/').next().unwrap_or_default().to_string();
            return json_response(
                StatusCode::FORBIDDEN,
                status(
                    403,
                    "Forbidden",
                    &format!(
                        "{resource} is forbidden: User \"system:serviceaccount:kube-system:coredns\" cannot list resource \"{resource}\" at the cluster scope"
                    ),
                ),
            );
        }
    }
    let Some(kind) = Kind::from_path(&path) else {
        return json_response(
            StatusCode::NOT_FOUND,
            status(404, "NotFound", "no such resource"),
        );
    };
    let filter = Filter::from(&params);
    if params.get("watch").is_some_and(|w| w == "true" || w == "1") {
        watch(kind, filter, &params, state, changed)
    } else {
        list(kind, filter, &params, &state)
    }
}

fn list(
    kind: Kind,
    filter: Filter,
    params: &BTreeMap<String, String>,
    state: &Mutex<State>,
) -> Response<Body> {
    let s = state.lock().expect("state");
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    // The continue token carries the list's resource version and the last key served.
    let (list_rv, after) = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let (rv, rest) = token.split_once(':').expect("fake API continue token");
            let (ns, name) = rest.split_once('/').expect("fake API continue token");
            (
                rv.parse::<u64>().expect("rv"),
                Some((ns.to_string(), name.to_string())),
            )
        }
        None => (s.rv, None),
    };
    if list_rv < s.compacted {
        return json_response(
            StatusCode::GONE,
            status(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result.",
            ),
        );
    }
    let start = match after {
        Some((ns, name)) => std::ops::Bound::Excluded((kind, ns, name)),
        None => std::ops::Bound::Included((kind, String::new(), String::new())),
    };
    let mut page: Vec<&str> = Vec::new();
    let mut last_key = None;
    let mut more = false;
    for (key, (object, item)) in s.objects.range((start, std::ops::Bound::Unbounded)) {
        if key.0 != kind {
            break;
        }
        if !filter.matches(object) {
            continue;
        }
        if page.len() == limit {
            more = true;
            break;
        }
        page.push(item);
        last_key = Some(key.clone());
    }
    let continue_token = match (more, last_key) {
        (true, Some((_, ns, name))) => format!("{list_rv}:{ns}/{name}"),
        _ => String::new(),
    };
    let (api_version, list_kind) = kind.list_kind();
    let head = json!({"apiVersion": api_version, "kind": list_kind,
                      "metadata": {"resourceVersion": list_rv.to_string(), "continue": continue_token}})
    .to_string();
    let body = format!(
        "{},\"items\":[{}]}}",
        &head[..head.len() - 1],
        page.join(",")
    );
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("response")
}

fn watch(
    kind: Kind,
    filter: Filter,
    params: &BTreeMap<String, String>,
    state: Arc<Mutex<State>>,
    changed: broadcast::Sender<()>,
) -> Response<Body> {
    let from: u64 = params
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bookmarks = params
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let timeout = Duration::from_secs(
        params
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .unwrap_or(290),
    );
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    let mut wake = changed.subscribe();
    let endless = {
        let mut s = state.lock().expect("state");
        let endless = s.endless == Some(kind);
        s.endless_watches += usize::from(endless);
        endless
    };
    if endless {
        tokio::spawn(endless_line(tx, state));
        return streaming(rx);
    }
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut cursor = from;
        loop {
            let (lines, expired, rv) = {
                let s = state.lock().expect("state");
                if s.unavailable {
                    return;
                }
                if cursor < s.compacted {
                    (Vec::new(), true, s.rv)
                } else {
                    // History is in resource-version order: start after the cursor.
                    let start = s.history.partition_point(|(rv, ..)| *rv <= cursor);
                    let lines: Vec<String> = s.history[start..]
                        .iter()
                        .filter(|(rv, k, _, object)| {
                            *rv > cursor && *k == kind && filter.matches(object)
                        })
                        .map(|(_, _, event, object)| {
                            json!({"type": event, "object": object}).to_string()
                        })
                        .collect();
                    (lines, false, s.rv)
                }
            };
            if expired {
                let line = json!({"type": "ERROR", "object": status(410, "Expired", &format!("too old resource version: {cursor}"))});
                let _ = tx
                    .send(Ok(Frame::data(Bytes::from(format!("{line}\n")))))
                    .await;
                return;
            }
            cursor = rv;
            for line in lines {
                if tx
                    .send(Ok(Frame::data(Bytes::from(format!("{line}\n")))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            tokio::select! {
                _ = wake.recv() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    if bookmarks {
                        let (api_version, object_kind) = kind.object_kind();
                        let line = json!({"type": "BOOKMARK", "object": {"apiVersion": api_version, "kind": object_kind,
                            "metadata": {"resourceVersion": cursor.to_string()}}});
                        if tx.send(Ok(Frame::data(Bytes::from(format!("{line}\n"))))).await.is_err() {
                            return;
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    });
    streaming(rx)
}

/// A 200 response whose body is the frames `rx` receives.
fn streaming(rx: mpsc::Receiver<Result<Frame<Bytes>, Infallible>>) -> Response<Body> {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(StreamBody::new(stream).boxed())
        .expect("response")
}

/// Send the start of an event, then 1 MiB chunks without a newline, until the client hangs up
/// or 256 MiB were sent (then hold the connection open).
async fn endless_line(
    tx: mpsc::Sender<Result<Frame<Bytes>, Infallible>>,
    state: Arc<Mutex<State>>,
) {
    let chunk = Bytes::from(vec![b'a'; 1 << 20]);
    let start = Bytes::from_static(
        br#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Service","metadata":{"name":""#,
    );
    if tx.send(Ok(Frame::data(start))).await.is_err() {
        return;
    }
    for _ in 0..256 {
        if tx.send(Ok(Frame::data(chunk.clone()))).await.is_err() {
            return;
        }
        state.lock().expect("state").endless_bytes += chunk.len() as u64;
    }
    tx.closed().await;
}
