//! The Kubernetes identity attached to every record of an observed pod.

use std::collections::BTreeMap;
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
    pub workload_name: String,
    pub workload_kind: String,
    pub cluster_name: String,
    /// JSON object of the labels, keys sorted; `{}` for none.
    pub labels_json: String,
    /// JSON object of the exported annotations, keys sorted; `{}` for none.
    pub annotations_json: String,
}

/// A JSON object with sorted keys, as k8sPodLabels and k8sPodAnnotations carry it.
pub fn json_object(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).expect("a map of strings always serialises")
}
