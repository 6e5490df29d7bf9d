//! The Kubernetes identity attached to every record of an observed pod.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use super::{downward, Config};

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

/// A Downward-API file that exists but cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("Downward-API file {path}: {why}")]
pub struct MetadataError {
    pub path: String,
    pub why: String,
}

/// Builds the identity from the `k8s` configuration and the Downward-API files. A missing
/// file means no labels (or annotations): the pod may simply not mount them.
pub fn from_config(cfg: &Config) -> Result<PodIdentity, MetadataError> {
    let labels = read_map(&cfg.labels_file)?;
    let annotations = read_map(&cfg.annotations_file)?;
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let pod_name = s(&cfg.pod_name);
    let (workload_name, workload_kind) = match (&cfg.workload_name, &cfg.workload_kind) {
        (Some(n), Some(k)) => (n.clone(), k.clone()),
        (Some(n), None) => (n.clone(), String::new()),
        _ if pod_name.is_empty() => (String::new(), String::new()),
        _ => (pod_name.clone(), "Pod".to_string()),
    };
    Ok(PodIdentity {
        node_name: s(&cfg.node_name),
        node_ip: cfg.node_ip,
        pod_name,
        pod_namespace: s(&cfg.pod_namespace),
        pod_uid: s(&cfg.pod_uid),
        workload_name,
        workload_kind,
        cluster_name: s(&cfg.cluster_name),
        labels_json: json_object(&labels),
        annotations_json: json_object(&annotations),
    })
}

fn read_map(path: &Path) -> Result<BTreeMap<String, String>, MetadataError> {
    let err = |why: String| MetadataError {
        path: path.display().to_string(),
        why,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => downward::parse(&text).map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(err(e.to_string())),
    }
}
