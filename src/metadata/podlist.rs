//! The static pod source: a PodList JSON file, as `kubectl get pods -A -o json` prints it,
//! read into a [`PodIndex`]. For tests and for machines without an API server.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod as ApiPod;
use serde::Deserialize;

use super::index::{IdentityRules, PodIndex, TrimmedPod};

/// A PodList file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PodListError {
    #[error("cannot read PodList file {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("PodList file {} is not a PodList (kubectl get pods -A -o json): {error}", path.display())]
    Parse {
        path: PathBuf,
        error: serde_json::Error,
    },
}

/// The part of a `v1/List` or `v1/PodList` the index reads.
#[derive(Deserialize)]
struct PodList {
    items: Vec<ApiPod>,
}

/// The trimmed pods of a PodList's JSON text.
pub fn parse_pod_list(text: &str) -> Result<Vec<TrimmedPod>, serde_json::Error> {
    let list: PodList = serde_json::from_str(text)?;
    Ok(list.items.iter().map(TrimmedPod::from_api).collect())
}

/// Reads the PodList file at `path` into an index.
pub fn load_pod_list(path: &Path, rules: IdentityRules) -> Result<PodIndex, PodListError> {
    let text = std::fs::read_to_string(path).map_err(|error| PodListError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let pods = parse_pod_list(&text).map_err(|error| PodListError::Parse {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(PodIndex::from_pods(rules, pods))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"{
      "apiVersion": "v1",
      "kind": "List",
      "metadata": {"resourceVersion": ""},
      "items": [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "web-0", "namespace": "shop", "uid": "u1",
           "creationTimestamp": "2026-01-01T10:00:00Z", "resourceVersion": "7",
           "labels": {"app": "web"},
           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
             "uid": "s1", "controller": true, "blockOwnerDeletion": true}],
           "managedFields": []},
         "spec": {"nodeName": "node-1", "containers": [{"name": "web"}]},
         "status": {"phase": "Running", "hostIP": "192.168.1.10", "podIP": "10.0.0.5",
           "podIPs": [{"ip": "10.0.0.5"}]}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "kube-proxy-x7k2p", "namespace": "kube-system", "uid": "u2"},
         "spec": {"nodeName": "node-1", "hostNetwork": true, "containers": [{"name": "p"}]},
         "status": {"podIP": "192.168.1.10", "podIPs": [{"ip": "192.168.1.10"}]}}
      ]
    }"#;

    #[test]
    fn kubectl_output_to_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pods.json");
        std::fs::write(&path, LIST).unwrap();
        let index = load_pod_list(&path, IdentityRules::default()).unwrap();
        assert_eq!(
            index.names(),
            ["kube-system/kube-proxy-x7k2p", "shop/web-0"]
        );
        let peer = index.peer(&"10.0.0.5".parse().unwrap()).unwrap();
        assert_eq!(
            (peer.workload_name.as_str(), peer.workload_kind.as_str()),
            ("web", "StatefulSet")
        );
        assert!(index.peer(&"192.168.1.10".parse().unwrap()).is_none());
        assert_eq!(index.on_node("node-1").len(), 2);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pods.json");
        let e = load_pod_list(&path, IdentityRules::default()).unwrap_err();
        assert!(matches!(e, PodListError::Read { .. }));
        assert!(e.to_string().contains("pods.json"), "{e}");
        std::fs::write(&path, r#"{"items": [{"metadata": {"name": 3}}]}"#).unwrap();
        let e = load_pod_list(&path, IdentityRules::default()).unwrap_err();
        assert!(matches!(e, PodListError::Parse { .. }));
        assert!(e.to_string().contains("pods.json"), "{e}");
    }
}
