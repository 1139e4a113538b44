//! The cluster index: stripped Services, EndpointSlices, Namespaces and Pods held in memory,
//! and the sources that feed it.
//!
//! Sources ([`source`]) turn API objects into the stripped forms of [`objects`] and write them
//! into a [`ClusterIndex`]. The `kubernetes` plugin only reads it, through the narrow read API of
//! [`ClusterIndex`], so answers are built without I/O or waiting.

pub mod endpoint_tables;
pub mod index;
pub mod metrics;
pub mod objects;
pub mod one_or_many;
pub mod seen;
pub mod selector;
pub mod source;
pub mod view;

pub use index::{ClusterIndex, ServiceKey};
pub use objects::{
    AddressFamily, Endpoint, EndpointPort, EndpointSlice, Namespace, Pod, PodPhase, Protocol,
    Service, ServiceKind, ServicePort,
};
pub use selector::LabelSelector;
pub use view::ClusterView;
