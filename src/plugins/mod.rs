//! The plugin registry: every directive of CoreDNS's `plugin.cfg`, in its order, and the
//! [`Definition`] of those this build implements. One folder per directive
//! (`mod.rs` the plugin, `setup.rs` its Corefile lines → a typed config, `README.md` the
//! operator's manual) and one line in [`REGISTRY`]: nothing else names a directive.
//!
//! Adding a directive `NAME`:
//! 1. `NAME/setup.rs`: its typed config, `config(d, …)` that reads its Corefile lines with
//!    [`crate::config::Args`], and `parse`, the registry's entry point
//!    ([`crate::plugin::parsed`] of `config`);
//! 2. `NAME/mod.rs`: `pub const DEFINITION` (parse, and its metric families if it has any, in
//!    `NAME/metrics.rs`), `impl Setup` for the config (what it sets on the block, what it
//!    starts) and the [`crate::plugin::Plugin`] that joins the chain;
//! 3. `NAME/README.md`: Name, Description, Syntax, Examples, Metrics, Differences from CoreDNS;
//! 4. in [`REGISTRY`], `"NAME"` becomes `"NAME" => NAME`.
//!
//! Plugins run in the order of [`REGISTRY`], whatever the order they are written in: order is
//! a security property (CoreDNS 1.14.2 fixed CVE-2026-26017, an `acl` bypass, by moving
//! `rewrite` before `acl` in `plugin.cfg`). A directive the registry does not build is a
//! start-up error that names the ones it does.

use crate::metrics::RegisterFamilies;
use crate::plugin::Definition;

/// One directive of CoreDNS's `plugin.cfg`.
#[derive(Clone, Copy)]
pub struct Entry {
    /// Its name in the Corefile.
    pub name: &'static str,
    /// How it is parsed and started; `None` when this build does not implement it.
    pub definition: Option<Definition>,
}

/// Declares the registry: `"name"` for a directive of CoreDNS's `plugin.cfg` this build does
/// not implement (it keeps its place in the order), `"name" => module` for one it does (the
/// module is its folder, and its `DEFINITION` the entry).
macro_rules! registry {
    ($($name:literal $(=> $module:ident)?,)*) => {
        $($(pub mod $module;)?)*

        /// CoreDNS's `plugin.cfg` (1.14.2), in execution order.
        pub const REGISTRY: &[Entry] = &[
            $(Entry { name: $name, definition: registry!(@definition $($module)?) },)*
        ];
    };
    (@definition) => { None };
    (@definition $module:ident) => { Some($module::DEFINITION) };
}

registry! {
    "root",
    "metadata",
    "geoip",
    "cancel",
    "tls",
    "proxyproto",
    "quic",
    "grpc_server",
    "https",
    "https3",
    "timeouts",
    "multisocket",
    "reload" => reload,
    "nsid",
    "bufsize" => bufsize,
    "bind" => bind,
    "debug",
    "trace",
    "ready" => ready,
    "health" => health,
    "pprof",
    "prometheus" => prometheus,
    "errors" => errors,
    "log" => log,
    "dnstap",
    "local",
    "dns64" => dns64,
    "rewrite" => rewrite,
    "acl" => acl,
    "any" => any,
    "chaos" => chaos,
    "loadbalance" => loadbalance,
    "tsig",
    "cache" => cache,
    "header",
    "dnssec",
    "autopath" => autopath,
    "minimal",
    "template" => template,
    "transfer",
    "hosts" => hosts,
    "route53",
    "azure",
    "clouddns",
    "k8s_external" => k8s_external,
    "kubernetes" => kubernetes,
    "file" => file,
    "auto",
    "secondary",
    "etcd",
    "loop" => r#loop,
    "forward" => forward,
    "grpc",
    "erratic",
    "whoami" => whoami,
    "on",
    "sign",
    "view",
    "nomad",
}

/// The directive `name`, if this build implements it: its position in the execution order and
/// its definition.
pub fn lookup(name: &str) -> Option<(usize, Definition)> {
    REGISTRY
        .iter()
        .enumerate()
        .find(|(_, entry)| entry.name == name)
        .and_then(|(position, entry)| entry.definition.map(|d| (position, d)))
}

/// The directives this build implements, sorted by name (`-plugins`, the unknown-directive
/// error).
pub fn built_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = REGISTRY
        .iter()
        .filter(|entry| entry.definition.is_some())
        .map(|entry| entry.name)
        .collect();
    names.sort_unstable();
    names
}

/// The registration functions of every implemented plugin's metric families.
pub fn metric_families() -> Vec<RegisterFamilies> {
    REGISTRY
        .iter()
        .filter_map(|entry| entry.definition?.metrics)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_built_directive_has_its_folder_and_manual() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/plugins");
        for name in built_names() {
            let folder = root.join(name);
            for file in ["mod.rs", "setup.rs", "README.md"] {
                assert!(
                    folder.join(file).is_file(),
                    "{name}: {} is missing",
                    folder.join(file).display()
                );
            }
            let manual = std::fs::read_to_string(folder.join("README.md")).expect("README");
            for section in [
                "## Name",
                "## Description",
                "## Syntax",
                "## Examples",
                "## Metrics",
                "## Differences from CoreDNS",
            ] {
                assert!(
                    manual.lines().any(|l| l.trim_end() == section),
                    "{name}/README.md has no {section:?} section"
                );
            }
        }
    }

    /// CoreDNS's `plugin.cfg` at 1.14.2 (github.com/coredns/coredns, `plugin.cfg`), the
    /// directive of each `directive:package` line in file order. 1.14.2 carries coredns#7882
    /// (`rewrite` before `acl`, CVE-2026-26017) and coredns#8289 (`acl` before `cache`).
    const COREDNS_PLUGIN_CFG: &[&str] = &[
        "root",
        "metadata",
        "geoip",
        "cancel",
        "tls",
        "proxyproto",
        "quic",
        "grpc_server",
        "https",
        "https3",
        "timeouts",
        "multisocket",
        "reload",
        "nsid",
        "bufsize",
        "bind",
        "debug",
        "trace",
        "ready",
        "health",
        "pprof",
        "prometheus",
        "errors",
        "log",
        "dnstap",
        "local",
        "dns64",
        "rewrite",
        "acl",
        "any",
        "chaos",
        "loadbalance",
        "tsig",
        "cache",
        "header",
        "dnssec",
        "autopath",
        "minimal",
        "template",
        "transfer",
        "hosts",
        "route53",
        "azure",
        "clouddns",
        "k8s_external",
        "kubernetes",
        "file",
        "auto",
        "secondary",
        "etcd",
        "loop",
        "forward",
        "grpc",
        "erratic",
        "whoami",
        "on",
        "sign",
        "view",
        "nomad",
    ];

    #[test]
    fn every_directive_folder_is_built() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/plugins");
        let mut folders: Vec<String> = std::fs::read_dir(&root)
            .expect("src/plugins")
            .filter_map(Result::ok)
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        folders.sort();
        assert_eq!(
            folders,
            built_names(),
            "a folder whose registry line lost its module"
        );
    }

    #[test]
    fn the_order_is_coredns_plugin_cfg() {
        let names: Vec<&str> = REGISTRY.iter().map(|e| e.name).collect();
        assert_eq!(names, COREDNS_PLUGIN_CFG);
    }

    #[test]
    fn lookup_finds_only_what_is_built() {
        let (cache, _) = lookup("cache").expect("cache is built");
        let (forward, _) = lookup("forward").expect("forward is built");
        assert!(cache < forward);
        assert!(lookup("grpc").is_none(), "listed for its order, not built");
        assert!(lookup("nonsense").is_none());
        let metrics = crate::metrics::ServerMetrics::new(&metric_families());
        assert!(
            metrics
                .families::<cache::metrics::CacheFamilies>()
                .is_some()
        );
        assert!(
            metrics
                .families::<forward::metrics::ForwardFamilies>()
                .is_some()
        );
        assert!(
            metrics
                .families::<health::metrics::HealthFamilies>()
                .is_some()
        );
        assert!(
            metrics
                .families::<kubernetes::metrics::KubernetesFamilies>()
                .is_some()
        );
    }
}
