//! The kubelet's translation of a Kubernetes Pod into CRI requests, as pure functions of
//! the pod (as the API server hands it to the kubelet) and of what the node knows: the
//! sandbox config, each container's config in the kubelet's start order, environment,
//! volumes and mounts, resources and security context; and the pod's status as the kubelet
//! reports it back ([`status`]).

pub mod env;
pub mod expand;
pub mod fieldpath;
pub mod resources;
pub mod security;
pub mod status;
pub mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod};
use podflow::node::cri::{
    ContainerConfig, ContainerMetadata, ImageSpec, KeyValue, LinuxContainerConfig,
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, Mount, PodSandboxConfig,
    PodSandboxMetadata,
};

use fieldpath::PodAddresses;
use security::ImageUser;
use volumes::PodVolume;

/// Why a pod or container cannot be translated (the kubelet would refuse it too).
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("unsupported field path {0:?}")]
    FieldPath(String),
    #[error("bad quantity {0:?}")]
    Quantity(String),
    #[error("container {container}: {why}")]
    NonRoot { container: String, why: String },
    #[error("{0} not found")]
    Missing(String),
    #[error("hostPath {0} is not in the node's path map")]
    HostPath(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Expansion(#[from] expand::InvalidUtf8),
}

pub type Result<T> = std::result::Result<T, TranslateError>;

/// What the kubelet knows of its node.
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    /// `spec.nodeName` of its pods.
    pub name: String,
    /// The node's addresses (`status.hostIP(s)`), first is primary.
    pub addresses: Vec<String>,
    /// The cgroup under which each pod gets `pod<uid>`.
    pub cgroup_parent: String,
    /// The kubelet's pods directory (volumes, etc-hosts, termination logs).
    pub pods_dir: PathBuf,
    /// The root of the pods' log directories.
    pub logs_dir: PathBuf,
    pub memory_capacity_bytes: i64,
    pub cpu_capacity_millis: i64,
    /// hostPath volume paths and the node directories that stand for them.
    pub host_paths: BTreeMap<String, PathBuf>,
}

/// API objects the kubelet would fetch for the pod: ConfigMaps and Secrets by name (key to
/// value), and the token of a projected serviceAccountToken.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    pub service_account_token: Option<String>,
}

/// What the kubelet's pod configuration adds to every pod it receives from the API server:
/// its source and when it was first seen (`seen` as the kubelet formats it, RFC 3339 with
/// nanoseconds). Both reach the sandbox and the Downward-API annotations.
pub fn admit(pod: &mut Pod, seen: &str) {
    let annotations = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert("kubernetes.io/config.source".into(), "api".into());
    annotations
        .entry("kubernetes.io/config.seen".into())
        .or_insert_with(|| seen.to_string());
}

fn spec_flag(pod: &Pod, f: impl Fn(&k8s_openapi::api::core::v1::PodSpec) -> Option<bool>) -> bool {
    pod.spec.as_ref().and_then(f).unwrap_or(false)
}

pub fn host_network(pod: &Pod) -> bool {
    spec_flag(pod, |s| s.host_network)
}

/// A native sidecar: an init container with `restartPolicy: Always`.
pub fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

/// How the kubelet waits on a container before it starts the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// An init container: it must exit 0.
    RunToCompletion,
    /// A native sidecar: started (its startupProbe passed, or running without one).
    Started,
    /// A regular container: started with the others, not waited for.
    Regular,
}

/// The containers in the kubelet's order: init containers (native sidecars among them,
/// in place), then the regular containers.
pub fn start_order(pod: &Pod) -> Vec<(Start, &Container)> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let init = spec.init_containers.iter().flatten().map(|c| {
        let start = if is_sidecar(c) {
            Start::Started
        } else {
            Start::RunToCompletion
        };
        (start, c)
    });
    init.chain(spec.containers.iter().map(|c| (Start::Regular, c)))
        .collect()
}

/// The pod's hostname: `spec.hostname` or its name, cut to 63 characters without a
/// trailing `-` or `.`; empty for host network (the node's UTS namespace is not ours).
pub fn hostname(pod: &Pod) -> String {
    if host_network(pod) {
        return String::new();
    }
    let name = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    if name.len() <= 63 {
        return name;
    }
    name[..63].trim_end_matches(['-', '.']).to_string()
}

fn meta(pod: &Pod) -> (&str, &str, &str) {
    let m = &pod.metadata;
    (
        m.name.as_deref().unwrap_or_default(),
        m.namespace.as_deref().unwrap_or("default"),
        m.uid.as_deref().unwrap_or_default(),
    )
}

/// The pod's log directory: `<logs>/<namespace>_<name>_<uid>`.
pub fn log_directory(pod: &Pod, node: &NodeInfo) -> PathBuf {
    let (name, namespace, uid) = meta(pod);
    node.logs_dir.join(format!("{namespace}_{name}_{uid}"))
}

/// The pod's cgroup: `<parent>/pod<uid>`.
pub fn cgroup_parent(pod: &Pod, node: &NodeInfo) -> String {
    format!("{}/pod{}", node.cgroup_parent, meta(pod).2)
}

fn pod_labels(pod: &Pod) -> HashMap<String, String> {
    let (name, namespace, uid) = meta(pod);
    let mut labels: HashMap<String, String> = pod
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    labels.insert("io.kubernetes.pod.name".into(), name.into());
    labels.insert("io.kubernetes.pod.namespace".into(), namespace.into());
    labels.insert("io.kubernetes.pod.uid".into(), uid.into());
    labels
}

fn all_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec.iter().flat_map(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(s.containers.iter())
    })
}

/// The RunPodSandbox config of `pod`.
pub fn sandbox_config(pod: &Pod, node: &NodeInfo, attempt: u32) -> PodSandboxConfig {
    let (name, namespace, uid) = meta(pod);
    let pod_sc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let privileged = all_containers(pod).any(|c| {
        c.security_context
            .as_ref()
            .and_then(|s| s.privileged)
            .unwrap_or(false)
    });
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: uid.into(),
            namespace: namespace.into(),
            attempt,
        }),
        hostname: hostname(pod),
        log_directory: log_directory(pod, node).display().to_string(),
        labels: pod_labels(pod),
        annotations: pod
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent(pod, node),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(security::namespaces(pod)),
                run_as_user: pod_sc
                    .run_as_user
                    .map(|value| podflow::node::cri::Int64Value { value }),
                run_as_group: pod_sc
                    .run_as_group
                    .map(|value| podflow::node::cri::Int64Value { value }),
                supplemental_groups: security::supplemental_groups(pod),
                privileged,
                // The kubelet always runs the sandbox itself under the runtime's default.
                seccomp: Some(podflow::node::cri::SecurityProfile {
                    profile_type: podflow::node::cri::security_profile::ProfileType::RuntimeDefault
                        as i32,
                    localhost_ref: String::new(),
                }),
                ..Default::default()
            }),
            sysctls: pod_sc
                .sysctls
                .unwrap_or_default()
                .into_iter()
                .map(|s| (s.name, s.value))
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Everything a container's config depends on besides the pod and the container.
pub struct ContainerContext<'a> {
    pub node: &'a NodeInfo,
    pub addresses: &'a PodAddresses,
    pub objects: &'a Objects,
    /// The image's user, from the runtime's ImageStatus.
    pub image: ImageUser,
    pub volumes: &'a BTreeMap<String, PodVolume>,
    /// Mounts the kubelet adds after the volumes: /etc/hosts, the termination-message file.
    pub extra_mounts: Vec<Mount>,
    pub attempt: u32,
}

/// The CreateContainer config of `container`, after the kubelet's runAsNonRoot check.
pub fn container_config(
    pod: &Pod,
    container: &Container,
    ctx: &ContainerContext,
) -> Result<ContainerConfig> {
    security::verify_run_as_non_root(pod, container, &ctx.image)?;
    let (name, namespace, uid) = meta(pod);
    let env = env::environment(pod, container, ctx.node, ctx.addresses, ctx.objects)?;
    let (command, args) = env::command_and_args(container, &env)?;
    let security = security::linux_security_context(pod, container, &ctx.image);
    let mut mounts = volumes::mounts(container, ctx.volumes, security.privileged)?;
    mounts.extend(ctx.extra_mounts.iter().cloned());
    let image = container.image.clone().unwrap_or_default();
    let labels = HashMap::from([
        (
            "io.kubernetes.container.name".to_string(),
            container.name.clone(),
        ),
        ("io.kubernetes.pod.name".to_string(), name.to_string()),
        (
            "io.kubernetes.pod.namespace".to_string(),
            namespace.to_string(),
        ),
        ("io.kubernetes.pod.uid".to_string(), uid.to_string()),
    ]);
    let grace = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(30);
    let annotations = HashMap::from([
        (
            "io.kubernetes.container.restartCount".to_string(),
            ctx.attempt.to_string(),
        ),
        (
            "io.kubernetes.container.terminationMessagePath".to_string(),
            container
                .termination_message_path
                .clone()
                .unwrap_or_default(),
        ),
        (
            "io.kubernetes.container.terminationMessagePolicy".to_string(),
            container
                .termination_message_policy
                .clone()
                .unwrap_or_default(),
        ),
        (
            "io.kubernetes.pod.terminationGracePeriod".to_string(),
            grace.to_string(),
        ),
    ]);
    Ok(ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: container.name.clone(),
            attempt: ctx.attempt,
        }),
        image: Some(ImageSpec {
            image: image.clone(),
            user_specified_image: image,
            ..Default::default()
        }),
        command,
        args,
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs: env
            .into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect(),
        mounts,
        labels,
        annotations,
        log_path: format!("{}/{}.log", container.name, ctx.attempt),
        stdin: container.stdin.unwrap_or(false),
        stdin_once: container.stdin_once.unwrap_or(false),
        tty: container.tty.unwrap_or(false),
        linux: Some(LinuxContainerConfig {
            resources: Some(resources::linux_resources(pod, container, ctx.node)?),
            security_context: Some(security),
        }),
    })
}
