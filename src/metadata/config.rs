//! The `k8s` configuration section: the observed pod's identity in sidecar mode.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The pod's identity. The injected sidecar sets these from the Downward API as
/// `PODFLOW_K8S__POD_NAME` and so on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `metadata.name`; also what the workload is derived from when not configured.
    pub pod_name: Option<String>,
    /// `metadata.namespace`.
    pub pod_namespace: Option<String>,
    /// `metadata.uid`.
    pub pod_uid: Option<String>,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
    /// `status.hostIP`.
    pub node_ip: Option<IpAddr>,
    /// The pod's top owner (Deployment, StatefulSet, ...); derived from the pod name and
    /// labels when unset.
    pub workload_name: Option<String>,
    /// Kind of the top owner (`Deployment`, ...); derived when unset.
    pub workload_kind: Option<String>,
    /// Name of the cluster, which Kubernetes does not expose to a pod.
    pub cluster_name: Option<String>,
    /// The pod's own addresses: they decide flowDirection (egress when the pod initiated).
    pub pod_ips: Vec<IpAddr>,
    /// Downward-API file of the pod's labels (`key="value"` lines).
    pub labels_file: PathBuf,
    /// Downward-API file of the pod's annotations.
    pub annotations_file: PathBuf,
    /// Glob patterns of the annotation keys to export; `*` matches any run of characters,
    /// `?` one. `kubectl.kubernetes.io/last-applied-configuration` is exported only when a
    /// pattern names it exactly.
    pub annotations_allow: Vec<String>,
    /// Cap on the JSON of the exported annotations (and of the labels); entries past it are
    /// left out, whole, and counted.
    pub max_metadata_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pod_name: None,
            pod_namespace: None,
            pod_uid: None,
            node_name: None,
            node_ip: None,
            workload_name: None,
            workload_kind: None,
            cluster_name: None,
            pod_ips: Vec::new(),
            labels_file: PathBuf::from("/etc/podinfo/labels"),
            annotations_file: PathBuf::from("/etc/podinfo/annotations"),
            annotations_allow: vec!["*".to_string()],
            max_metadata_bytes: 4096,
        }
    }
}
