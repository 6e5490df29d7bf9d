//! The Kubernetes identity attached to every record of an observed pod, built from the
//! `k8s` configuration and the labels and annotations of the Downward-API files.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::downward::{self, ParseError};
use super::select::{allowed, capped_json};
use super::{workload, Config};
use crate::identity::PodIdentity;

/// A Downward-API file that exists but cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("cannot read Downward-API file {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    #[error("Downward-API file {}, {error}", path.display())]
    Parse { path: PathBuf, error: ParseError },
}

impl MetadataError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            MetadataError::Read { path, .. } | MetadataError::Parse { path, .. } => path,
        }
    }
}

/// An identity and what the size cap left out of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Built {
    pub identity: PodIdentity,
    /// Keys of the labels left out of `labels_json` by `k8s.max_metadata_bytes`.
    pub labels_cut: Vec<String>,
    /// Keys of allowed annotations left out of `annotations_json` by the same cap.
    pub annotations_cut: Vec<String>,
}

/// Builds the identity from the configuration and the labels and annotations as read.
/// Pure: the workload is derived from the pod name and all labels; the annotations pass
/// the allow-list, then both JSON objects are capped.
pub fn build(
    cfg: &Config,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Built {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let pod_name = s(&cfg.pod_name);
    let workload = workload::resolve(
        cfg.workload_name.as_deref(),
        cfg.workload_kind.as_deref(),
        &pod_name,
        labels,
    );
    let labels = capped_json(labels, cfg.max_metadata_bytes);
    let annotations = capped_json(
        &allowed(annotations, &cfg.annotations_allow),
        cfg.max_metadata_bytes,
    );
    Built {
        identity: PodIdentity {
            node_name: s(&cfg.node_name),
            node_ip: cfg.node_ip,
            pod_name,
            pod_namespace: s(&cfg.pod_namespace),
            pod_uid: s(&cfg.pod_uid),
            workload_name: workload.name,
            workload_kind: workload.kind,
            cluster_name: s(&cfg.cluster_name),
            labels_json: labels.json,
            annotations_json: annotations.json,
        },
        labels_cut: labels.cut,
        annotations_cut: annotations.cut,
    }
}

/// The identity of records observed outside any known pod (node mode): the node, named by
/// `k8s.node_name` (else by the host name, with a warning), and the cluster.
pub fn node_identity(cfg: &Config) -> PodIdentity {
    let node_name = cfg.node_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        tracing::warn!(
            hostname = %host,
            "k8s.node_name is not set (the DaemonSet sets PODFLOW_K8S__NODE_NAME from spec.nodeName); using the host name"
        );
        host
    });
    PodIdentity {
        node_name,
        node_ip: cfg.node_ip,
        cluster_name: cfg.cluster_name.clone().unwrap_or_default(),
        ..PodIdentity::default()
    }
}

/// Builds the identity from the configuration and the Downward-API files, read once. A
/// missing file means no labels (or annotations): the pod may simply not mount them.
pub fn from_config(cfg: &Config) -> Result<PodIdentity, MetadataError> {
    let labels = read_map(&cfg.labels_file)?.unwrap_or_default();
    let annotations = read_map(&cfg.annotations_file)?.unwrap_or_default();
    Ok(build(cfg, &labels, &annotations).identity)
}

/// The entries of a Downward-API file; `None` when there is no such file.
fn read_map(path: &Path) -> Result<Option<BTreeMap<String, String>>, MetadataError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_file(path, &text).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(MetadataError::Read {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// Parses the text of the Downward-API file at `path`.
pub fn parse_file(path: &Path, text: &str) -> Result<BTreeMap<String, String>, MetadataError> {
    downward::parse(text).map_err(|error| MetadataError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::entries as map;

    fn cfg() -> Config {
        Config {
            pod_name: Some("shop-web-7c9d8f6b5-x2x9k".into()),
            pod_namespace: Some("shop".into()),
            pod_uid: Some("0b1c6f3e".into()),
            node_name: Some("node-1".into()),
            node_ip: Some("192.168.1.10".parse().unwrap()),
            cluster_name: Some("prod".into()),
            ..Config::default()
        }
    }

    #[test]
    fn identity_from_configuration_and_files() {
        let labels = map(&[("app", "shop"), ("pod-template-hash", "7c9d8f6b5")]);
        let annotations = map(&[
            ("prometheus.io/scrape", "true"),
            ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
        ]);
        let b = build(&cfg(), &labels, &annotations);
        let p = &b.identity;
        assert_eq!(p.pod_name, "shop-web-7c9d8f6b5-x2x9k");
        assert_eq!(p.pod_namespace, "shop");
        assert_eq!(p.pod_uid, "0b1c6f3e");
        assert_eq!(p.node_name, "node-1");
        assert_eq!(p.node_ip, Some("192.168.1.10".parse().unwrap()));
        assert_eq!(p.cluster_name, "prod");
        assert_eq!(
            (p.workload_name.as_str(), p.workload_kind.as_str()),
            ("shop-web", "Deployment")
        );
        assert_eq!(
            p.labels_json,
            r#"{"app":"shop","pod-template-hash":"7c9d8f6b5"}"#
        );
        assert_eq!(p.annotations_json, r#"{"prometheus.io/scrape":"true"}"#);
        assert!(b.labels_cut.is_empty() && b.annotations_cut.is_empty());
    }

    #[test]
    fn allow_list_then_cap() {
        let annotations = map(&[
            ("a.io/big", &"x".repeat(200)),
            ("a.io/small", "1"),
            ("other", "2"),
        ]);
        let c = Config {
            annotations_allow: vec!["a.io/*".into()],
            max_metadata_bytes: 64,
            ..cfg()
        };
        let b = build(&c, &map(&[("app", &"y".repeat(100))]), &annotations);
        assert_eq!(b.identity.annotations_json, r#"{"a.io/small":"1"}"#);
        assert_eq!(b.annotations_cut, ["a.io/big"]);
        assert_eq!(b.identity.labels_json, "{}");
        assert_eq!(b.labels_cut, ["app"]);
    }

    #[test]
    fn nothing_configured() {
        let b = build(&Config::default(), &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(b.identity.labels_json, "{}");
        assert_eq!(b.identity.annotations_json, "{}");
        assert_eq!(b.identity.workload_name, "");
        assert_eq!(b.identity.workload_kind, "");
    }

    #[test]
    fn files_missing_present_and_bad() {
        let dir = tempfile::tempdir().unwrap();
        let labels = dir.path().join("labels");
        std::fs::write(&labels, "app=\"shop\"\ntier=\"web\"").unwrap();
        let c = Config {
            labels_file: labels.clone(),
            annotations_file: dir.path().join("annotations"),
            ..cfg()
        };
        let p = from_config(&c).unwrap();
        assert_eq!(p.labels_json, r#"{"app":"shop","tier":"web"}"#);
        assert_eq!(p.annotations_json, "{}");

        std::fs::write(&labels, "app=\"shop\"\ntier=web\n").unwrap();
        let e = from_config(&c).unwrap_err();
        assert_eq!(e.path(), labels);
        let msg = e.to_string();
        assert!(msg.contains(&labels.display().to_string()), "{msg}");
        assert!(msg.contains("line 2") && msg.contains("tier=web"), "{msg}");

        let c = Config {
            labels_file: dir.path().to_path_buf(),
            ..c
        };
        assert!(matches!(from_config(&c), Err(MetadataError::Read { .. })));
    }
}
