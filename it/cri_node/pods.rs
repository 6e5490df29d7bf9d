//! The pods of the node-mode test: the application pods, the node pod the chart renders
//! as the cluster would admit it, and the PodList that stands for the API server.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use crate::common::fixture;
use crate::cri::images;
use crate::cri::kubelet::status::listed_pod;
use crate::cri::node::Node;
use crate::cri::runner::PodRun;
use crate::helm;

pub const RELEASE: &str = "pf";
pub const NAMESPACE: &str = "flows";
/// The DaemonSet, its ConfigMap and its pods' name prefix.
pub const DAEMONSET: &str = "pf-podflow-node";
/// Where the busybox image serves HTTP.
pub const APP_PORT: u16 = 8080;

/// An application pod: name, namespace, owner (kind, name), then the workload podflow must
/// derive from it (name, kind).
pub struct App {
    pub name: &'static str,
    pub namespace: &'static str,
    pub owner: Option<(&'static str, &'static str)>,
    pub labels: &'static [(&'static str, &'static str)],
    pub workload: (&'static str, &'static str),
}

/// Two replicas of a Deployment, a StatefulSet's pod, and a bare pod started later that the
/// PodList does not name.
pub const APPS: [App; 4] = [
    App {
        name: "web-7c9d8f6b5-x2x9k",
        namespace: "shop",
        owner: Some(("ReplicaSet", "web-7c9d8f6b5")),
        labels: &[("app", "web"), ("pod-template-hash", "7c9d8f6b5")],
        workload: ("web", "Deployment"),
    },
    App {
        name: "web-7c9d8f6b5-q8w4z",
        namespace: "shop",
        owner: Some(("ReplicaSet", "web-7c9d8f6b5")),
        labels: &[("app", "web"), ("pod-template-hash", "7c9d8f6b5")],
        workload: ("web", "Deployment"),
    },
    App {
        name: "cache-0",
        namespace: "ops",
        owner: Some(("StatefulSet", "cache")),
        labels: &[
            ("app", "cache"),
            ("controller-revision-hash", "cache-5d8f9c"),
        ],
        workload: ("cache", "StatefulSet"),
    },
    App {
        name: "debug-shell",
        namespace: "ops",
        owner: None,
        labels: &[],
        workload: ("debug-shell", "Pod"),
    },
];

/// Pod `i` of [`APPS`] on `node_name`: the busybox image serving HTTP.
pub fn app_pod(i: usize, node_name: &str) -> Pod {
    let app = &APPS[i];
    let owners: Vec<Value> = app
        .owner
        .iter()
        .map(|(kind, name)| {
            json!({"apiVersion": "apps/v1", "kind": kind, "name": name,
               "uid": format!("uid-{name}"), "controller": true, "blockOwnerDeletion": true})
        })
        .collect();
    let labels: BTreeMap<&str, &str> = app.labels.iter().copied().collect();
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": app.name,
            "namespace": app.namespace,
            "uid": format!("7e57c0de-0000-4000-8000-00000000000{i}"),
            "labels": labels,
            "ownerReferences": owners
        },
        "spec": {
            "nodeName": node_name,
            "terminationGracePeriodSeconds": 5,
            "containers": [{
                "name": "web",
                "image": images::BUSYBOX,
                "ports": [{"containerPort": APP_PORT}]
            }]
        }
    }))
    .unwrap()
}

/// The DaemonSet's pod template and its ConfigMap's data, as the chart renders them.
pub fn render_chart(collector: Ipv4Addr) -> (Value, BTreeMap<String, String>) {
    let values = fixture("chart/node-cri.yaml");
    let collector = format!("collector.address={collector}");
    let args = [
        "--namespace".as_ref(),
        NAMESPACE.as_ref(),
        "--kube-version".as_ref(),
        "1.33.0".as_ref(),
        "--values".as_ref(),
        values.as_os_str(),
        "--set".as_ref(),
        collector.as_ref(),
    ];
    let objects: Vec<Value> = helm::template(RELEASE, args).unwrap_or_else(|e| panic!("{e}"));
    let named = |kind: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == DAEMONSET)
            .unwrap_or_else(|| panic!("no {kind} {DAEMONSET} rendered"))
            .clone()
    };
    let config = serde_json::from_value(named("ConfigMap")["data"].clone()).unwrap();
    (named("DaemonSet")["spec"]["template"].clone(), config)
}

/// The pod that the DaemonSet controller (name, labels, owner, node affinity), the API
/// server (UID, defaults, the service-account token volume) and the scheduler (node) make
/// of the template.
pub fn daemonset_pod(template: &Value, node_name: &str) -> Pod {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template["metadata"],
        "spec": template["spec"]
    });
    let md = &mut pod["metadata"];
    md["name"] = json!(format!("{DAEMONSET}-q7x4m"));
    md["generateName"] = json!(format!("{DAEMONSET}-"));
    md["namespace"] = json!(NAMESPACE);
    md["uid"] = json!("7e57c0de-0000-4000-8000-0000000000d5");
    md["labels"]["controller-revision-hash"] = json!("6d4b8c7f9");
    md["labels"]["pod-template-generation"] = json!("1");
    md["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "DaemonSet",
        "name": DAEMONSET, "uid": "uid-daemonset", "controller": true, "blockOwnerDeletion": true}]);
    let spec = &mut pod["spec"];
    spec["nodeName"] = json!(node_name);
    spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}}});
    spec["volumes"].as_array_mut().unwrap().push(json!({
        "name": "kube-api-access-m4n2v",
        "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
        ]}
    }));
    for c in spec["containers"].as_array_mut().unwrap() {
        c["volumeMounts"].as_array_mut().unwrap().push(json!({
            "name": "kube-api-access-m4n2v", "readOnly": true,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"
        }));
        let c = c.as_object_mut().unwrap();
        c.entry("terminationMessagePath")
            .or_insert(json!("/dev/termination-log"));
        c.entry("terminationMessagePolicy").or_insert(json!("File"));
    }
    serde_json::from_value(pod).unwrap()
}

/// The PodList of the application pods as the kubelet reported them: each pod as it was
/// created, with the identity, labels and status its CRI sandbox and containers give.
pub fn pod_list(node: &Node, runs: &[(Pod, PodRun)]) -> Value {
    let cri = node.cri();
    let items: Vec<Pod> = runs
        .iter()
        .map(|(pod, run)| {
            let sandbox = cri.pod_sandbox_status(&run.sandbox_id).unwrap().status;
            let containers: Vec<_> = run
                .containers
                .iter()
                .map(|(_, id)| cri.container_status(id, false).unwrap().status.unwrap())
                .collect();
            listed_pod(pod, &run.info, &sandbox.unwrap(), &containers)
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})
}

/// A pod's (first) IPv4 address.
pub fn ipv4(run: &PodRun) -> Ipv4Addr {
    run.pod_ips[0].parse().unwrap()
}

/// The status the kubelet reports, from CRI statuses alone: the phase from the containers'
/// states, the pod's addresses from its sandbox (the node's with host network), the
/// sandbox's labels without the runtime's own, its creation time when the pod has none.
#[test]
fn listed_pods_carry_what_the_kubelet_reports() {
    use podflow::node::cri::{
        ContainerMetadata, ContainerState, ContainerStatus, PodIp, PodSandboxMetadata,
        PodSandboxNetworkStatus, PodSandboxStatus,
    };
    let node = crate::cri::kubelet::NodeInfo {
        addresses: vec!["10.89.9.1".into()],
        ..Default::default()
    };
    let mut pod = app_pod(0, "node-1");
    pod.metadata.labels = None;
    let spec = pod.spec.as_mut().unwrap();
    let mut sidecar = spec.containers[0].clone();
    sidecar.name = "sidecar".into();
    spec.containers.push(sidecar);
    let sandbox = PodSandboxStatus {
        metadata: Some(PodSandboxMetadata {
            name: "web-7c9d8f6b5-x2x9k".into(),
            uid: "u-1".into(),
            namespace: "shop".into(),
            attempt: 0,
        }),
        network: Some(PodSandboxNetworkStatus {
            ip: "10.88.9.2".into(),
            additional_ips: vec![PodIp {
                ip: "fd00::2".into(),
            }],
        }),
        labels: [("app", "web"), ("io.kubernetes.pod.uid", "u-1")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        created_at: 1_795_000_000_123_456_789,
        ..Default::default()
    };
    let container = |name: &str, state: ContainerState, exit_code: i32| ContainerStatus {
        id: format!("id-{name}"),
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        state: state as i32,
        exit_code,
        image_ref: "sha256:beef".into(),
        ..Default::default()
    };
    let phase = |pod: &Pod, states: &[(ContainerState, i32)]| {
        let containers: Vec<_> = ["web", "sidecar"]
            .iter()
            .zip(states)
            .map(|(name, (state, code))| container(name, *state, *code))
            .collect();
        let listed = listed_pod(pod, &node, &sandbox, &containers);
        serde_json::to_value(listed).unwrap()
    };
    use ContainerState::*;
    let running = phase(&pod, &[(ContainerRunning, 0), (ContainerRunning, 0)]);
    assert_eq!(running["status"]["phase"], "Running");
    assert_eq!(
        running["status"]["podIPs"],
        json!([{"ip": "10.88.9.2"}, {"ip": "fd00::2"}])
    );
    assert_eq!(running["status"]["hostIP"], "10.89.9.1");
    assert_eq!(running["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(running["metadata"]["uid"], "u-1");
    // In whole seconds, as the API writes times (`date -u -d @1795000000`).
    assert_eq!(
        running["metadata"]["creationTimestamp"],
        "2026-11-18T11:06:40Z"
    );
    let web = &running["status"]["containerStatuses"][0];
    assert_eq!(web["containerID"], "containerd://id-web");
    assert_eq!(web["ready"], true);
    for (states, expected) in [
        (&[(ContainerCreated, 0), (ContainerRunning, 0)], "Pending"),
        (&[(ContainerExited, 0), (ContainerRunning, 0)], "Running"),
        (&[(ContainerExited, 0), (ContainerExited, 0)], "Succeeded"),
        (&[(ContainerExited, 0), (ContainerExited, 137)], "Failed"),
    ] {
        assert_eq!(
            phase(&pod, states)["status"]["phase"],
            expected,
            "{states:?}"
        );
    }
    // Only the first container has a status: the other is still being created.
    let one = listed_pod(
        &pod,
        &node,
        &sandbox,
        &[container("web", ContainerRunning, 0)],
    );
    assert_eq!(one.status.unwrap().phase.as_deref(), Some("Pending"));
    pod.spec.as_mut().unwrap().host_network = Some(true);
    let host = phase(&pod, &[(ContainerRunning, 0), (ContainerRunning, 0)]);
    assert_eq!(host["status"]["podIPs"], json!([{"ip": "10.89.9.1"}]));
}
