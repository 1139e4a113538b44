//! The integration tests, one crate: the real binary over real sockets, the real kube client
//! against a fake API server that speaks the list/watch protocol, network namespaces as pods.
//! One crate links the library once instead of once per file; the shared machinery is in
//! `support/`.

mod acl;
mod api_source;
mod autopath;
mod cache;
mod classes_and_bufsize;
mod cluster_zone;
mod deploy;
mod dns64;
mod e2e;
mod file;
mod forward;
mod forward_options;
mod forward_tls;
mod health_ready;
mod hosts_and_stubs;
mod k8s_external;
mod logs;
mod loop_and_balance;
mod manifests_live;
mod metrics;
mod node_local;
mod pending;
mod readme;
mod reload;
mod rewrite;
mod startup;
mod stock_corefiles;
mod support;
mod tcp_connections;
mod template;
mod udp_source_address;
mod whoami;
mod wild_corefiles;
mod wire_malformed;
