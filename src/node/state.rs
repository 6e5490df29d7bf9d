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
    /// Where it was found (a file under `node.netns_dirs` or `/proc/<pid>/ns/net`).
    pub path: PathBuf,
    /// The addresses of its interfaces.
    pub addrs: Vec<IpAddr>,
    /// The pod whose addresses these are, once the index knows it. Kept after the pod
    /// leaves the index, so that the namespace's last flows still name it.
    pub pod: Option<Arc<IndexedPod>>,
}

/// The namespaces by inode, including those gone for less than the grace period (their
/// last records may still be on their way).
pub type SharedNamespaces = Arc<RwLock<HashMap<u64, NamespaceView>>>;
