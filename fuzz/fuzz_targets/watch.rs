//! The API source's watch-stream handling. The JSON of a list item or a watch event line
//! (`{"type":"ADDED","object":{...}}`) is decoded by kube's types (`WatchEvent<K>`) over our
//! own Deserialize of Pods (`PodLite`), as kube's client decodes them; then our code turns the
//! objects into index entries, upserts, deletes, and sweeps after a re-list. The first input
//! byte picks the kind (Namespace, Service, EndpointSlice, Pod); the rest is lines: `LIST`
//! starts a (re-)list, `+ JSON` is a list item, `DONE` ends the list, any other line is a watch
//! event. The events apply to the demo cluster, and its Services and the ones the events touched
//! are then asked for through the kubernetes plugin and the encoder.
#![no_main]

use clusterdns::fuzzing::{WatchKind, WatchStep, replay_watch};
use clusterdns_fuzz::{ask_about, demo_snapshot, filter, index_of, kubernetes_router, objects_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, lines)) = data.split_first() else {
        return;
    };
    let kind = [
        WatchKind::Namespace,
        WatchKind::Service,
        WatchKind::EndpointSlice,
        WatchKind::Pod,
    ][usize::from(which % 4)];
    let steps = lines.split(|&b| b == b'\n').map(|line| match line {
        b"LIST" => WatchStep::ListStart,
        b"DONE" => WatchStep::ListDone,
        _ => match line.strip_prefix(b"+ ") {
            Some(item) => WatchStep::ListItem(item),
            None => WatchStep::Watch(line),
        },
    });
    let demo = demo_snapshot();
    // The demo's first Services (kubernetes, kube-dns, frontend, web, docs): the query target
    // asks about the rest.
    let (mut services, pods) = objects_of(&demo);
    services.truncate(5);
    let index = index_of(demo);
    let keys = replay_watch(kind, steps, &filter(), &index);
    if kind == WatchKind::Service {
        // Keys are `name.namespace`; the touched Services first.
        let touched = keys.iter().filter_map(|key| {
            let (name, namespace) = key.split_once('.')?;
            Some((name.to_string(), namespace.to_string()))
        });
        services.splice(0..0, touched);
    }
    let router = kubernetes_router(index.clone());
    let _entered = clusterdns_fuzz::runtime().enter();
    ask_about(&router, &index, &services, &pods, 8);
});
