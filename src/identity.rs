//! Who a flow record belongs to: the Kubernetes identity of the observed pod and of the
//! pod at the other end. Plain values, built by `metadata` (from the Downward API or the pod
//! index), attached by `export`, written by `ipfix`.

use std::net::IpAddr;

/// Who the observed pod is. Labels and annotations are kept as their exported JSON form
/// (keys sorted), computed once when the identity changes rather than per record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodIdentity {
    pub node_name: String,
    pub node_ip: Option<IpAddr>,
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_uid: String,
    /// The pod's top owner, configured or derived (see `workload`).
    pub workload_name: String,
    /// `Deployment`, `StatefulSet`, ... or `Pod`; empty when unknown.
    pub workload_kind: String,
    pub cluster_name: String,
    /// JSON object of the labels, keys sorted, within `k8s.max_metadata_bytes`; `{}` for none.
    pub labels_json: String,
    /// JSON object of the exported annotations, keys sorted; `{}` for none.
    pub annotations_json: String,
}

/// The Kubernetes identity of the other end of a flow, when it is a pod the index knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    pub pod_name: String,
    pub pod_namespace: String,
    pub workload_name: String,
    pub workload_kind: String,
    pub node_name: String,
    /// JSON object of the peer's labels, keys sorted.
    pub labels_json: String,
}
