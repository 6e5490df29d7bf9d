//! The kubelet's translation of a pod into CRI requests (it/cri/kubelet), on its own: no
//! runtime, no root.

// This binary uses the translation alone: some of what the runner needs stays unused.
#[allow(dead_code)]
#[path = "cri/kubelet/mod.rs"]
mod kubelet;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod};
use kubelet::expand::expand;
use kubelet::fieldpath::{format_map, go_quote, PodAddresses};
use kubelet::resources::{
    milli_cpu_to_quota, milli_cpu_to_shares, oom_score_adj, qos, Qos, Quantity,
};
use kubelet::security::{linux_security_context, verify_run_as_non_root, ImageUser};
use kubelet::volumes::{self, write_atomic, File, Setup};
use kubelet::{ContainerContext, NodeInfo, Objects, Start, TranslateError};
use podflow::node::cri::security_profile::ProfileType;
use podflow::node::cri::{MountPropagation, NamespaceMode};
use serde_json::json;

fn pod(value: serde_json::Value) -> Pod {
    serde_json::from_value(value).unwrap()
}

fn container(pod: &Pod, name: &str) -> Container {
    let spec = pod.spec.as_ref().unwrap();
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .unwrap()
        .clone()
}

fn node() -> NodeInfo {
    NodeInfo {
        name: "node-a".into(),
        addresses: vec!["10.0.0.7".into()],
        cgroup_parent: "/test".into(),
        pods_dir: "/var/lib/kubelet/pods".into(),
        logs_dir: "/var/log/pods".into(),
        memory_capacity_bytes: 1 << 30,
        cpu_capacity_millis: 2000,
        host_paths: BTreeMap::from([("/var/run/netns".into(), PathBuf::from("/node/netns"))]),
    }
}

fn addresses() -> PodAddresses {
    PodAddresses {
        pod_ips: vec!["10.88.1.5".into(), "fd00::5".into()],
    }
}

// The subjects.
#[path = "cri_kubelet/containers.rs"]
mod containers;
#[path = "cri_kubelet/downward.rs"]
mod downward;
#[path = "cri_kubelet/resources.rs"]
mod resources;
#[path = "cri_kubelet/sandbox.rs"]
mod sandbox;
#[path = "cri_kubelet/security.rs"]
mod security;
#[path = "cri_kubelet/volume_layout.rs"]
mod volume_layout;
