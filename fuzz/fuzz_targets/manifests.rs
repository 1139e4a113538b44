//! The manifests reader: a YAML or JSON file of Kubernetes objects (single documents, several,
//! or a `v1 List`) → the stripped objects of the cluster index. The first input byte picks what
//! the source keeps (bit 0: Pods, bit 1: EndpointSlices, bit 2: endpoints' pod names); the rest
//! is the file. The objects read are then served: each Service, its ports, endpoints and Pods
//! are asked for through the kubernetes plugin and the encoder.
#![no_main]

use clusterdns::cluster::source::manifests::{Loaded, load_text};
use clusterdns_fuzz::{ask_about, filter, index_of, kubernetes_router, objects_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(file) else {
        return;
    };
    let mut filter = filter();
    filter.pods = flags & 1 != 0;
    filter.endpoints = flags & 2 == 0;
    filter.pod_names = flags & 4 == 0;
    let mut loaded = Loaded::default();
    load_text("fuzz.yaml", text, &filter, &mut loaded);
    for problem in &loaded.problems {
        assert!(problem.starts_with("fuzz.yaml: "), "{problem}");
    }
    let (services, pods) = objects_of(&loaded.snapshot);
    let index = index_of(loaded.snapshot);
    let router = kubernetes_router(index.clone());
    let _entered = clusterdns_fuzz::runtime().enter();
    ask_about(&router, &index, &services, &pods, 12);
});
