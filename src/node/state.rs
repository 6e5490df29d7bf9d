//! What node mode knows of the network namespaces it captures, shared with the exporter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::metadata::IndexedPod;

/// One captured network namespace, as the exporter reads it once per batch.
#[derive(Clone, Debug, Default)]
pub struct NamespaceView {
    /// The node's own namespace (k8sObservationPoint 3).
    pub host: bool,
    /// Where it was opened (a file under `node.netns_dirs`, the runtime's path, or
    /// `/proc/<pid>/ns/net` of the sandbox's process).
    pub path: PathBuf,
    /// The addresses of its interfaces.
    pub addrs: Vec<IpAddr>,
    /// The pod the container runtime says owns the namespace (its sandbox's metadata).
    pub owner: Option<Owner>,
    /// That pod as the index knows it (labels, workload), once it does. Kept after the pod
    /// leaves the index, so that the namespace's last flows still name it.
    pub pod: Option<Arc<IndexedPod>>,
}

/// A pod as the container runtime records its sandbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: String,
    pub name: String,
    pub namespace: String,
}

/// The namespaces by inode, including those gone for less than the grace period (their
/// last records may still be on their way).
pub type SharedNamespaces = Arc<RwLock<HashMap<u64, NamespaceView>>>;
