//! The `manifests DIR` source: Namespaces, Services, EndpointSlices and Pods read from the
//! `*.yaml`, `*.yml` and `*.json` files of one directory (not recursive), in the form
//! `kubectl get -o yaml` prints (single objects, several documents, or a `v1 List`).
//!
//! A document that does not parse is reported as `FILE: document N: reason` and skipped; the
//! rest is served. The directory is watched and every change re-reads it and swaps the result
//! in with [`ClusterIndex::replace_all`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use serde_norway::Value;
use thiserror::Error;
use tokio::sync::Notify;

use super::SourceFilter;
use super::list_split::{ListParts, split_list};
use crate::cluster::index::{ClusterIndex, Snapshot};
use crate::cluster::objects::{EndpointSlice, Namespace, ObjectError, Pod, Service};

/// The directory cannot be read at all.
#[derive(Debug, Error)]
#[error("manifests directory {dir}: {source}")]
pub struct ManifestsError {
    dir: PathBuf,
    #[source]
    source: std::io::Error,
}

/// The result of reading a directory: the objects, and one line per skipped document.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The objects found.
    pub snapshot: Snapshot,
    /// `FILE: document N: reason` for each document that was skipped.
    pub problems: Vec<String>,
}

fn is_manifest(path: &Path) -> bool {
    path.is_file()
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        )
}

/// Read every manifest file of `dir`.
pub fn load_dir(dir: &Path, filter: &SourceFilter) -> Result<Loaded, ManifestsError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ManifestsError {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_manifest(p))
        .collect();
    files.sort();
    let mut loaded = Loaded::default();
    let mut seen = HashMap::new();
    for file in files {
        let name = file.display().to_string();
        let s = &loaded.snapshot;
        let from = [
            s.namespaces.len(),
            s.services.len(),
            s.slices.len(),
            s.pods.len(),
        ];
        match std::fs::read_to_string(&file) {
            Ok(text) => load_text(&name, &text, filter, &mut loaded),
            Err(e) => loaded.problems.push(format!("{name}: {e}")),
        }
        report_duplicates(&name, from, &mut loaded, &mut seen);
    }
    Ok(loaded)
}

/// Report each object that `file` added to `loaded` (those from index `from` on, kind by kind)
/// and that an earlier file, or this one, already had: the index keeps the last one read.
/// `seen` maps `KIND NAMESPACE/NAME` to the file it was first read from.
fn report_duplicates(
    file: &str,
    from: [usize; 4],
    loaded: &mut Loaded,
    seen: &mut HashMap<String, String>,
) {
    let s = &loaded.snapshot;
    let keys = s
        .namespaces
        .iter()
        .skip(from[0])
        .map(|o| format!("Namespace {}", o.name))
        .chain(
            s.services
                .iter()
                .skip(from[1])
                .map(|o| format!("Service {}/{}", o.namespace, o.name)),
        )
        .chain(
            s.slices
                .iter()
                .skip(from[2])
                .map(|o| format!("EndpointSlice {}/{}", o.namespace, o.name)),
        )
        .chain(
            s.pods
                .iter()
                .skip(from[3])
                .map(|o| format!("Pod {}/{}", o.namespace, o.name)),
        );
    for key in keys {
        let Some(first) = seen.insert(key.clone(), file.to_string()) else {
            continue;
        };
        loaded.problems.push(if first == file {
            format!("{file}: {key} is there more than once; the last one wins")
        } else {
            format!("{file}: {key} is also in {first}; the last file read wins")
        });
    }
}

/// Read the documents of one file's `text` into `loaded`.
pub fn load_text(file: &str, text: &str, filter: &SourceFilter, loaded: &mut Loaded) {
    if let Some(parts) = split_list(text)
        && load_list_parts(file, &parts, filter, loaded)
    {
        return;
    }
    for (n, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let number = n + 1;
        let value = match <Value as serde::Deserialize>::deserialize(document) {
            Ok(Value::Null) => continue,
            Ok(value) => value,
            Err(e) => {
                loaded
                    .problems
                    .push(format!("{file}: document {number}: {e}"));
                // After a syntax error the YAML stream cannot be resumed.
                break;
            }
        };
        let mut skipped = Vec::new();
        if let Err(reason) = add_object(value, filter, &mut loaded.snapshot, &mut skipped) {
            loaded
                .problems
                .push(format!("{file}: document {number}: {reason}"));
        }
        loaded.problems.extend(
            skipped
                .into_iter()
                .map(|s| format!("{file}: document {number}: {s}")),
        );
    }
}

/// Load a List file item by item (see [`split_list`]). Returns `false`, having added nothing, if
/// the header is not a `v1 List` or an item does not parse on its own: the caller then parses
/// the file whole, which gives the same objects or the parser's own error.
fn load_list_parts(
    file: &str,
    parts: &ListParts<'_>,
    filter: &SourceFilter,
    loaded: &mut Loaded,
) -> bool {
    let Ok(header) = serde_norway::from_str::<Value>(&parts.header) else {
        return false;
    };
    if !is_v1_list(&header) {
        return false;
    }
    let mut snapshot = Snapshot::default();
    let mut problems = Vec::new();
    for (n, text) in parts.items.iter().enumerate() {
        let item = match serde_norway::from_str::<Vec<Value>>(text) {
            Ok(mut one) if one.len() == 1 => one.pop(),
            _ => None,
        };
        let Some(item) = item else {
            return false;
        };
        add_item(n + 1, item, filter, &mut snapshot, &mut problems);
    }
    let out = &mut loaded.snapshot;
    out.namespaces.append(&mut snapshot.namespaces);
    out.services.append(&mut snapshot.services);
    out.slices.append(&mut snapshot.slices);
    out.pods.append(&mut snapshot.pods);
    loaded.problems.extend(
        problems
            .into_iter()
            .map(|p| format!("{file}: document 1: {p}")),
    );
    true
}

fn is_v1_list(value: &Value) -> bool {
    value.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && value.get("kind").and_then(Value::as_str) == Some("List")
}

/// Add item `number` of a List; an item that is skipped is reported and the rest kept.
fn add_item(
    number: usize,
    item: Value,
    filter: &SourceFilter,
    out: &mut Snapshot,
    problems: &mut Vec<String>,
) {
    let mut skipped = Vec::new();
    if let Err(reason) = add_object(item, filter, out, &mut skipped) {
        problems.push(format!("item {number}: {reason}"));
    }
    problems.extend(skipped.into_iter().map(|s| format!("item {number}: {s}")));
}

/// Why one document was skipped.
#[derive(Debug, Error)]
enum DocumentError {
    #[error("not a Kubernetes object (no apiVersion/kind)")]
    NotAnObject,
    #[error("{kind}: {source}")]
    Decode {
        kind: String,
        #[source]
        source: serde_norway::Error,
    },
    #[error("{kind} {name}: {source}")]
    Object {
        kind: String,
        name: String,
        #[source]
        source: ObjectError,
    },
}

fn decode<T: serde::de::DeserializeOwned>(kind: &str, value: Value) -> Result<T, DocumentError> {
    serde_norway::from_value(value).map_err(|source| DocumentError::Decode {
        kind: kind.to_string(),
        source,
    })
}

/// Strip one object with `convert`; parts it skipped are reported as problems of the document.
fn stripped<A, T>(
    kind: &str,
    name: Option<&String>,
    object: &A,
    convert: fn(&A, &mut Vec<String>) -> Result<T, ObjectError>,
    problems: &mut Vec<String>,
) -> Result<T, DocumentError> {
    let mut skipped = Vec::new();
    let result = convert(object, &mut skipped);
    let name = name.cloned().unwrap_or_default();
    if result.is_ok() {
        problems.extend(skipped.into_iter().map(|s| format!("{kind} {name}: {s}")));
    }
    result.map_err(|source| DocumentError::Object {
        kind: kind.to_string(),
        name,
        source,
    })
}

fn add_object(
    value: Value,
    filter: &SourceFilter,
    out: &mut Snapshot,
    problems: &mut Vec<String>,
) -> Result<(), DocumentError> {
    if is_v1_list(&value) {
        let items = match value {
            Value::Mapping(mut map) => map.remove("items"),
            _ => None,
        };
        if let Some(Value::Sequence(items)) = items {
            for (n, item) in items.into_iter().enumerate() {
                add_item(n + 1, item, filter, out, problems);
            }
        }
        return Ok(());
    }
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(DocumentError::NotAnObject)?
        .to_string();
    let labels_ok = |labels: &Option<std::collections::BTreeMap<String, String>>| {
        filter
            .labels
            .as_ref()
            .is_none_or(|s| s.matches(labels.as_ref().unwrap_or(&Default::default())))
    };
    match (api_version, kind.as_str()) {
        ("v1", "Namespace") => {
            let ns: core::Namespace = decode(&kind, value)?;
            let keep = filter.namespace_labels.as_ref().is_none_or(|s| {
                s.matches(ns.metadata.labels.as_ref().unwrap_or(&Default::default()))
            });
            if keep {
                out.namespaces.push(stripped(
                    &kind,
                    ns.metadata.name.as_ref(),
                    &ns,
                    |ns, _| Namespace::from_api(ns),
                    problems,
                )?);
            }
        }
        ("v1", "Service") => {
            let svc: core::Service = decode(&kind, value)?;
            if labels_ok(&svc.metadata.labels) {
                out.services.push(stripped(
                    &kind,
                    svc.metadata.name.as_ref(),
                    &svc,
                    Service::from_api,
                    problems,
                )?);
            }
        }
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            let slice: discovery::EndpointSlice = decode(&kind, value)?;
            if filter.endpoints && labels_ok(&slice.metadata.labels) {
                if slice.address_type == "FQDN" {
                    return Ok(());
                }
                let mut stripped = stripped(
                    &kind,
                    slice.metadata.name.as_ref(),
                    &slice,
                    EndpointSlice::from_api,
                    problems,
                )?;
                filter.trim(&mut stripped);
                out.slices.push(stripped);
            }
        }
        ("v1", "Pod") => {
            let pod: core::Pod = decode(&kind, value)?;
            if filter.pods && labels_ok(&pod.metadata.labels) {
                out.pods.push(stripped(
                    &kind,
                    pod.metadata.name.as_ref(),
                    &pod,
                    Pod::from_api,
                    problems,
                )?);
            }
        }
        (api_version, kind) => {
            tracing::debug!(
                api_version,
                kind,
                "manifests: ignoring object of another kind"
            );
        }
    }
    Ok(())
}

/// Load `dir` into `index` once, reporting skipped documents.
pub fn sync_once(
    dir: &Path,
    filter: &SourceFilter,
    index: &ClusterIndex,
) -> Result<(), ManifestsError> {
    let loaded = load_dir(dir, filter)?;
    for problem in &loaded.problems {
        tracing::warn!("manifests: {problem}");
    }
    let s = &loaded.snapshot;
    tracing::debug!(
        namespaces = s.namespaces.len(),
        services = s.services.len(),
        endpointslices = s.slices.len(),
        pods = s.pods.len(),
        "manifests: loaded {}",
        dir.display()
    );
    index.replace_all(loaded.snapshot);
    index.mark_synced();
    Ok(())
}

/// How long to wait for a burst of file events to settle before re-reading.
const SETTLE: Duration = Duration::from_millis(50);

/// Whether a file event changes what the directory holds: a file created, written (and
/// closed), renamed or removed, or the `..data` symlink of a ConfigMap mount swapped. Opening,
/// reading and closing a file unwritten (as every reload does) is not a change.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// Watch `dir` and re-read it on every change, until the returned task is dropped or aborted.
/// The first load must already have happened ([`sync_once`]). A burst of changes is one
/// reload: events only set a flag, and the loop re-reads once the burst has settled.
pub fn watch(
    dir: PathBuf,
    filter: SourceFilter,
    index: Arc<ClusterIndex>,
) -> Result<tokio::task::JoinHandle<()>, notify::Error> {
    let changed = Arc::new(Notify::new());
    let notifier = changed.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| is_change(&e.kind)) {
            notifier.notify_one();
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(tokio::spawn(async move {
        let _watcher = watcher;
        loop {
            changed.notified().await;
            // Let the burst settle; changes during the wait are folded into this reload, and
            // changes during the reload into the next one.
            tokio::time::sleep(SETTLE).await;
            // What arrived during the wait is read by this reload.
            while changed.notified().now_or_never().is_some() {}
            let (dir, filter, index) = (dir.clone(), filter.clone(), index.clone());
            let result =
                tokio::task::spawn_blocking(move || sync_once(&dir, &filter, &index)).await;
            match result {
                Ok(Ok(())) => tracing::info!("manifests: reloaded"),
                Ok(Err(e)) => tracing::warn!("manifests: keeping the last good data: {e}"),
                Err(e) => tracing::error!("manifests: reload task failed: {e}"),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> SourceFilter {
        SourceFilter {
            endpoints: true,
            pods: true,
            ..SourceFilter::default()
        }
    }

    #[test]
    fn reading_a_file_is_not_a_change_writing_renaming_and_removing_are() {
        use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind, RenameMode};
        let changes = [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Remove(RemoveKind::File),
        ];
        let reads = [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Read),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
            EventKind::Any,
        ];
        assert!(changes.iter().all(is_change));
        assert!(!reads.iter().any(is_change));
    }

    #[test]
    fn a_bad_document_is_reported_with_its_number_and_the_rest_is_kept() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.0.0.1}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {clusterIP: not-an-ip}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n";
        let mut loaded = Loaded::default();
        load_text("x.yaml", text, &filter(), &mut loaded);
        assert_eq!(loaded.snapshot.services.len(), 1);
        assert_eq!(loaded.snapshot.namespaces.len(), 1);
        assert_eq!(loaded.problems.len(), 1);
        assert!(
            loaded.problems[0].starts_with("x.yaml: document 2: Service b:"),
            "{}",
            loaded.problems[0]
        );
    }

    #[test]
    fn v1_list_items_and_other_kinds() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: shop}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web}\n";
        let mut loaded = Loaded::default();
        load_text("l.yaml", text, &filter(), &mut loaded);
        assert_eq!(loaded.snapshot.namespaces.len(), 1);
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    }

    /// A kubectl-style List of `n` Services, item 7 with a bad clusterIP.
    fn big_list(n: usize) -> String {
        let mut text = String::from("apiVersion: v1\nitems:\n");
        for i in 0..n {
            let ip = if i == 6 {
                "bad".to_string()
            } else {
                format!("10.0.{}.{}", i / 256, i % 256)
            };
            text.push_str(&format!(
                "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s{i}\n    namespace: ns{}\n  spec:\n    clusterIP: {ip}\n    ports:\n    - name: http\n      port: 80\n",
                i % 7
            ));
        }
        text.push_str("kind: List\nmetadata:\n  resourceVersion: \"\"\n");
        text
    }

    #[test]
    fn a_list_read_item_by_item_gives_what_the_whole_document_gives() {
        let text = big_list(300);
        assert!(split_list(&text).is_some(), "the fast path is taken");
        let mut by_item = Loaded::default();
        load_text("l.yaml", &text, &filter(), &mut by_item);
        // The same text with a second (empty) document is parsed whole.
        let mut whole = Loaded::default();
        load_text("l.yaml", &format!("{text}---\n"), &filter(), &mut whole);
        assert_eq!(by_item.snapshot.services.len(), 299);
        assert_eq!(by_item.snapshot.services, whole.snapshot.services);
        assert_eq!(by_item.problems, whole.problems);
        assert_eq!(by_item.problems.len(), 1, "{:?}", by_item.problems);
        assert!(
            by_item.problems[0].starts_with("l.yaml: document 1: item 7: Service s6:"),
            "{}",
            by_item.problems[0]
        );
    }

    #[test]
    fn an_item_that_needs_another_item_falls_back_to_the_whole_document() {
        let mut text = big_list(100);
        text = text.replacen("port: 80", "port: &p 80", 1);
        text = text.replacen("port: 80\n", "port: *p\n", 1);
        let mut loaded = Loaded::default();
        load_text("a.yaml", &text, &filter(), &mut loaded);
        assert_eq!(loaded.snapshot.services.len(), 99);
        assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
    }

    #[test]
    fn label_selector_filters_services() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a, labels: {team: x}}\nspec: {clusterIP: 10.0.0.1}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {clusterIP: 10.0.0.2}\n";
        let filter = SourceFilter {
            labels: Some(crate::cluster::LabelSelector::parse("team=x").expect("valid")),
            ..filter()
        };
        let mut loaded = Loaded::default();
        load_text("s.yaml", text, &filter, &mut loaded);
        assert_eq!(loaded.snapshot.services.len(), 1);
        assert_eq!(&*loaded.snapshot.services[0].name, "a");
    }

    #[test]
    fn an_object_in_two_files_is_reported_naming_both() {
        let dir = tempfile::tempdir().expect("tempdir");
        let service = |ip: &str| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: shop}}\nspec: {{clusterIP: {ip}}}\n"
            )
        };
        std::fs::write(dir.path().join("a.yaml"), service("10.0.0.1")).expect("write");
        let b = format!(
            "{}---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n",
            service("10.0.0.2")
        );
        std::fs::write(dir.path().join("b.yaml"), b).expect("write");
        // The same name as a Namespace, or in another namespace, is another object; twice in
        // one file is reported too.
        std::fs::write(
            dir.path().join("c.yaml"),
            "apiVersion: v1\nkind: Service\nmetadata: {name: shop, namespace: other}\nspec: {clusterIP: 10.0.0.3}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\n",
        )
        .expect("write");
        let loaded = load_dir(dir.path(), &filter()).expect("loads");
        let [a, b, c] = ["a.yaml", "b.yaml", "c.yaml"].map(|f| dir.path().join(f));
        assert_eq!(
            loaded.problems,
            vec![
                format!(
                    "{}: Service shop/web is also in {}; the last file read wins",
                    b.display(),
                    a.display()
                ),
                format!(
                    "{}: Pod shop/p is there more than once; the last one wins",
                    c.display()
                )
            ]
        );
        assert_eq!(loaded.snapshot.services.len(), 3);
    }

    #[test]
    fn yaml_syntax_error_is_reported() {
        let mut loaded = Loaded::default();
        load_text(
            "bad.yaml",
            "apiVersion: v1\nkind: [unclosed\n",
            &filter(),
            &mut loaded,
        );
        assert_eq!(loaded.problems.len(), 1);
        assert!(loaded.problems[0].starts_with("bad.yaml: document 1:"));
    }
}
