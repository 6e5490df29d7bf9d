//! The `k8s` configuration section: the observed pod's identity in sidecar mode.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::section::{Invalid, Section};

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
    /// Where node mode learns the cluster's pods: `kube` (a watch on the API server) or
    /// `file:PATH` (a PodList JSON, as `kubectl get pods -A -o json` prints it). Unused in
    /// sidecar mode.
    pub source: PodSource,
    /// Node mode beside the mediator: watch only this node's pods (`k8s.node_name`, a
    /// `spec.nodeName` field selector) and leave naming the other end of each flow to the
    /// mediator. The API server then sends one node's pods to each node pod, not the
    /// cluster's.
    pub own_node_only: bool,
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
            source: PodSource::Kube,
            own_node_only: false,
        }
    }
}

/// A parsed `k8s.source` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodSource {
    /// A watch on every pod of the cluster through the API server.
    Kube,
    /// A PodList JSON file, read once.
    File(PathBuf),
}

impl Section for Config {
    fn check(&self) -> Result<(), Invalid> {
        if self.max_metadata_bytes < 2 {
            return Err(Invalid::new(
                "max_metadata_bytes",
                "must be at least 2 (room for {})",
            ));
        }
        Ok(())
    }
}

impl FromStr for PodSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "kube" {
            return Ok(PodSource::Kube);
        }
        match s.strip_prefix("file:") {
            Some("") => Err("file: needs the path of a PodList JSON file".into()),
            Some(path) => Ok(PodSource::File(PathBuf::from(path))),
            None => Err("expected kube or file:PATH".into()),
        }
    }
}

impl fmt::Display for PodSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PodSource::Kube => f.write_str("kube"),
            PodSource::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl Serialize for PodSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::section::as_str::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for PodSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::section::as_str::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_cap_leaves_room_for_an_empty_object() {
        let mut c = Config::default();
        assert_eq!(c.check(), Ok(()));
        c.max_metadata_bytes = 2;
        assert_eq!(c.check(), Ok(()));
        c.max_metadata_bytes = 1;
        assert_eq!(c.check().unwrap_err().key, "max_metadata_bytes");
    }

    #[test]
    fn source_forms() {
        assert_eq!("kube".parse(), Ok(PodSource::Kube));
        assert_eq!(
            "file:/etc/pods.json".parse(),
            Ok(PodSource::File("/etc/pods.json".into()))
        );
        for bad in ["file:", "Kube", "/etc/pods.json", ""] {
            assert!(bad.parse::<PodSource>().is_err(), "{bad} should not parse");
        }
        let e = serde_json::from_str::<Config>(r#"{"source": "api"}"#).unwrap_err();
        assert!(e.to_string().contains("kube or file:PATH"), "{e}");
        assert_eq!(PodSource::File("/x".into()).to_string(), "file:/x");
    }
}
