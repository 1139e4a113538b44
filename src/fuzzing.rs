//! The ways in that the fuzz targets of `fuzz/` need and the public API does not offer. Not a
//! stable API: hidden from the documentation, and changed with the targets.

pub use crate::cluster::source::SourceFilter;

use std::sync::Arc;

use crate::cluster::ClusterIndex;

/// The kinds the API source watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchKind {
    /// v1 Namespace.
    Namespace,
    /// v1 Service.
    Service,
    /// discovery.k8s.io/v1 EndpointSlice.
    EndpointSlice,
    /// v1 Pod, read as `pods verified` reads it.
    Pod,
}

/// One step of what the API server sends a watcher, as bytes off the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchStep<'a> {
    /// A (re-)list starts.
    ListStart,
    /// One item of a list page: a JSON object of the kind.
    ListItem(&'a [u8]),
    /// The list is complete: objects it did not hold are removed.
    ListDone,
    /// One line of a watch response: `{"type":"ADDED","object":{...}}` (also `MODIFIED`,
    /// `DELETED`, `BOOKMARK`, `ERROR`).
    Watch(&'a [u8]),
}

/// Decode `steps` of one `kind` as kube's client does, and apply them to `index` with the API
/// source's own watch-event handling. Returns the index keys (`name.namespace`, or the name of
/// a Namespace) of the objects stored or deleted.
pub fn replay_watch<'a>(
    kind: WatchKind,
    steps: impl IntoIterator<Item = WatchStep<'a>>,
    filter: &SourceFilter,
    index: &Arc<ClusterIndex>,
) -> Vec<Arc<str>> {
    crate::cluster::source::api::replay(kind, steps, filter, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"shop"},"spec":{"clusterIP":"10.96.0.5","ports":[{"name":"http","port":80}]}}"#;

    #[test]
    fn watch_events_and_a_relist_reach_the_index() {
        let index = Arc::new(ClusterIndex::new());
        let added = format!(r#"{{"type":"ADDED","object":{WEB}}}"#);
        let keys = replay_watch(
            WatchKind::Service,
            [
                WatchStep::ListStart,
                WatchStep::ListDone,
                WatchStep::Watch(added.as_bytes()),
                WatchStep::Watch(b"not json"),
            ],
            &SourceFilter::default(),
            &index,
        );
        assert_eq!(keys, [Arc::from("web.shop")]);
        assert!(index.is_synced());
        assert!(index.service("web.shop").is_some());
        // A re-list that no longer holds it removes it.
        replay_watch(
            WatchKind::Service,
            [WatchStep::ListStart, WatchStep::ListDone],
            &SourceFilter::default(),
            &index,
        );
        assert!(index.service("web.shop").is_none());
    }
}
