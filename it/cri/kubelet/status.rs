//! What the kubelet reports to the API server about a pod it runs, made from what the
//! runtime says of the sandbox and its containers: the phase, the host's and the pod's
//! addresses, the start time and one status per container. With the pod as the API server
//! handed it over, that is the object `kubectl get pods -o json` lists.
//!
//! Not modelled: restarts (a pod whose containers all exited is Succeeded or Failed, as
//! with `restartPolicy: Never`), readiness probes (a running container is ready) and the
//! pod's conditions.

use k8s_openapi::api::core::v1::{
    ContainerState as ApiState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use podflow::node::cri::{ContainerState, ContainerStatus as CriContainer, PodSandboxStatus};

use super::{host_network, NodeInfo};

/// A CRI timestamp (nanoseconds since 1970) as an API time.
fn time(nanos: i64) -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_nanosecond(i128::from(nanos))
        .ok()
        .map(Time)
}

fn api_state(c: &CriContainer) -> ApiState {
    match ContainerState::try_from(c.state).unwrap_or(ContainerState::ContainerUnknown) {
        ContainerState::ContainerRunning => ApiState {
            running: Some(ContainerStateRunning {
                started_at: time(c.started_at),
            }),
            ..Default::default()
        },
        ContainerState::ContainerExited => ApiState {
            terminated: Some(ContainerStateTerminated {
                container_id: Some(format!("containerd://{}", c.id)),
                exit_code: c.exit_code,
                reason: Some(c.reason.clone()).filter(|r| !r.is_empty()),
                started_at: time(c.started_at),
                finished_at: time(c.finished_at),
                ..Default::default()
            }),
            ..Default::default()
        },
        _ => ApiState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ContainerCreating".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

/// The status of `pod` on `node`, from its sandbox's and its containers' CRI statuses.
pub fn pod_status(
    pod: &Pod,
    node: &NodeInfo,
    sandbox: &PodSandboxStatus,
    containers: &[CriContainer],
) -> PodStatus {
    let spec_containers = pod.spec.as_ref().map(|s| s.containers.as_slice());
    let statuses: Vec<ContainerStatus> = spec_containers
        .into_iter()
        .flatten()
        .map(|spec| {
            let cri = containers
                .iter()
                .find(|c| c.metadata.as_ref().is_some_and(|m| m.name == spec.name));
            let state = cri.map(api_state).unwrap_or_else(|| ApiState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some("ContainerCreating".into()),
                    ..Default::default()
                }),
                ..Default::default()
            });
            let running = state.running.is_some();
            ContainerStatus {
                name: spec.name.clone(),
                container_id: cri.map(|c| format!("containerd://{}", c.id)),
                image: spec.image.clone().unwrap_or_default(),
                image_id: cri.map(|c| c.image_ref.clone()).unwrap_or_default(),
                ready: running,
                started: Some(running),
                restart_count: 0,
                state: Some(state),
                ..Default::default()
            }
        })
        .collect();
    let phase = if statuses
        .iter()
        .any(|s| s.state.as_ref().is_some_and(|st| st.waiting.is_some()))
    {
        "Pending"
    } else if statuses
        .iter()
        .any(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()))
    {
        "Running"
    } else if statuses.iter().all(|s| {
        s.state
            .as_ref()
            .and_then(|st| st.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0)
    }) {
        "Succeeded"
    } else {
        "Failed"
    };
    let pod_ips: Vec<String> = if host_network(pod) {
        node.addresses.clone()
    } else {
        sandbox
            .network
            .iter()
            .flat_map(|n| {
                std::iter::once(n.ip.clone()).chain(n.additional_ips.iter().map(|i| i.ip.clone()))
            })
            .filter(|ip| !ip.is_empty())
            .collect()
    };
    PodStatus {
        phase: Some(phase.into()),
        host_ip: node.addresses.first().cloned(),
        host_ips: Some(
            node.addresses
                .iter()
                .map(|ip| HostIP { ip: ip.clone() })
                .collect(),
        ),
        pod_ip: pod_ips.first().cloned(),
        pod_ips: Some(pod_ips.into_iter().map(|ip| PodIP { ip }).collect()),
        start_time: time(sandbox.created_at),
        container_statuses: Some(statuses),
        ..Default::default()
    }
}

/// The pod as the API server lists it once the kubelet reported on it: `pod` with its
/// identity and labels as the sandbox carries them (the runtime's own `io.kubernetes.*`
/// labels aside) and its status. A pod without `creationTimestamp` (the tests' pods are
/// not created through an API server) gets its sandbox's creation time.
pub fn listed_pod(
    pod: &Pod,
    node: &NodeInfo,
    sandbox: &PodSandboxStatus,
    containers: &[CriContainer],
) -> Pod {
    let mut listed = pod.clone();
    let md = &mut listed.metadata;
    if let Some(m) = &sandbox.metadata {
        md.name = Some(m.name.clone());
        md.namespace = Some(m.namespace.clone());
        md.uid = Some(m.uid.clone());
    }
    let labels: std::collections::BTreeMap<String, String> = sandbox
        .labels
        .iter()
        .filter(|(k, _)| !k.starts_with("io.kubernetes."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    md.labels = Some(labels).filter(|l| !l.is_empty());
    if md.creation_timestamp.is_none() {
        md.creation_timestamp = time(sandbox.created_at);
    }
    listed.status = Some(pod_status(pod, node, sandbox, containers));
    listed
}
