//! Node mode alone and in its variants: a ServiceMonitor, privileged, another netns
//! directory, a PodList file without the process scan, AppArmor before Kubernetes 1.30.

use super::node::{
    assert_netns_mounts, assert_node_config_loads, assert_node_rbac, assert_process_scan_access,
    assert_runtime_mount, node_pod, selects,
};
use super::*;

#[test]
fn node_mode_alone_with_its_service_monitor() {
    let objects = rendered(&["node-only.yaml"]);
    assert_eq!(
        kinds(&objects),
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "DaemonSet",
            "Service",
            "ServiceAccount",
            "ServiceMonitor"
        ]),
        "no webhook object with webhook.enabled=false"
    );
    assert_eq!(objects.len(), kinds(&objects).len(), "one of each");
    for o in &objects {
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/component"], "node",
            "{} belongs to node mode",
            o["kind"]
        );
        assert_eq!(o["metadata"]["name"], NODE_NAME, "{}", o["kind"]);
    }
    assert_node_rbac(&objects);

    let daemonset = one(&objects, "DaemonSet");
    assert_eq!(
        daemonset["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"],
        "10%"
    );
    let template = &daemonset["spec"]["template"];
    assert_eq!(template["metadata"]["labels"]["team"], "netops");
    assert_eq!(
        template["metadata"]["annotations"]["example.com/team"],
        "netops"
    );
    let (pod, c) = node_pod(&objects);
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "dedicated", "operator": "Equal", "value": "flows", "effect": "NoSchedule"}])
    );
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(
        c["env"].as_array().unwrap()[2],
        json!({"name": "PODFLOW_FLOW__BIFLOW", "value": "false"}),
        "node.env after the Downward API"
    );
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": 2, "memory": "1Gi"}})
    );
    assert_eq!(c["ports"][0]["containerPort"], 19477);

    // The headless Service selects the node pods on their metrics port, and the
    // ServiceMonitor selects that Service.
    let service = one(&objects, "Service");
    assert_eq!(service["spec"]["clusterIP"], "None");
    assert_eq!(
        service["spec"]["selector"],
        daemonset["spec"]["selector"]["matchLabels"]
    );
    assert!(selects(
        &service["spec"]["selector"],
        &template["metadata"]["labels"]
    ));
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "podflow-metrics", "port": 19477, "targetPort": "podflow-metrics", "protocol": "TCP"}])
    );
    let monitor = one(&objects, "ServiceMonitor");
    assert!(selects(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    ));
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "podflow-metrics");
    assert_eq!(
        monitor["spec"]["namespaceSelector"]["matchNames"],
        json!([NAMESPACE])
    );

    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        config["export"]["collector"],
        "tcp://ipfix.collectors.svc.cluster.local:4740"
    );
    assert_eq!(config["ipfix"]["enterprise_number"], 64512);
    assert_eq!(
        config["k8s"],
        json!({"source": "kube", "cluster_name": "prod-eu-1"})
    );
    assert_eq!(config["telemetry"]["listen"], "0.0.0.0:19477");
    assert_eq!(
        config["log"],
        json!({"format": "text", "level": "podflow=debug"})
    );
    assert_eq!(config["node"]["rescan_secs"], 10);
    assert_eq!(config["node"]["pod_interfaces"], json!(["eth0"]));
    assert_eq!(config["node"]["host_interfaces"], json!(["ens5", "bond0"]));
    assert_eq!(config["node"]["host_pod_veths"], true);
    assert_node_config_loads(&text);
}

#[test]
fn node_mode_privileged() {
    let objects = rendered(&["node-privileged.yaml"]);
    let (_, c) = node_pod(&objects);
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], true);
    assert!(
        sc.get("capabilities").is_none(),
        "privileged replaces the capability set: {sc}"
    );
    assert!(sc.get("allowPrivilegeEscalation").is_none());
    assert!(
        sc.get("appArmorProfile").is_none(),
        "node.appArmorUnconfined=false: {sc}"
    );
    assert_eq!(sc["runAsUser"], 0);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    // Privileged holds every capability, but not the node's PID namespace: only the
    // process scan asks for it.
    assert!(node_pod(&objects).0.get("hostPID").is_none());
    assert_netns_mounts(&objects, &["/var/run/netns"]);
    assert_node_config_loads(&config_of(&objects, NODE_NAME).0);
    let objects = render(&["node-privileged.yaml"], &["node.scanProcesses=true"])
        .unwrap_or_else(|e| panic!("node.scanProcesses=true:\n{e}"));
    validate(&objects);
    assert_eq!(node_pod(&objects).0["hostPID"], true);
}

#[test]
fn node_mode_second_netns_dir() {
    let objects = rendered(&["node-netns-dirs.yaml"]);
    assert_netns_mounts(&objects, &["/var/run/netns", "/var/run/docker/netns"]);
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        config["node"]["netns_dirs"],
        json!(["/var/run/netns", "/var/run/docker/netns"])
    );
    assert_process_scan_access(&objects, false);
    assert_node_config_loads(&text);

    // No directory at all: the sandboxes' namespaces are reached through their processes.
    let objects = render(
        &["node.yaml"],
        &["node.netnsDirs=null", "node.scanProcesses=true"],
    )
    .unwrap_or_else(|e| panic!("node.netnsDirs=null:\n{e}"));
    validate(&objects);
    assert_netns_mounts(&objects, &[]);
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(config["node"]["netns_dirs"], json!([]));
    assert_process_scan_access(&objects, true);
    assert_node_config_loads(&text);
}

/// The values `it/cri_node.rs` runs under containerd: no process scan, and the pod index
/// from a PodList file that an extra hostPath volume brings in.
#[test]
fn node_mode_with_a_pod_list_file_and_no_process_scan() {
    let objects = rendered(&["node-cri.yaml"]);
    assert_eq!(
        kinds(&objects),
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "DaemonSet",
            "ServiceAccount"
        ])
    );
    assert_process_scan_access(&objects, false);
    let (pod, c) = node_pod(&objects);
    // From the host: the namespace directory, the runtime's socket directory, and the
    // extra volume after the chart's own.
    let volumes = pod["volumes"].as_array().unwrap();
    let host_paths: Vec<&Value> = volumes.iter().map(|v| &v["hostPath"]["path"]).collect();
    assert_eq!(
        host_paths,
        [
            &Value::Null,
            &json!("/var/run/netns"),
            &json!("/run/containerd"),
            &json!("/var/lib/podflow")
        ]
    );
    assert_eq!(
        volumes.last().unwrap(),
        &json!({"name": "pod-list", "hostPath": {"path": "/var/lib/podflow", "type": "Directory"}})
    );
    assert_eq!(
        c["volumeMounts"].as_array().unwrap().last().unwrap(),
        &json!({"name": "pod-list", "mountPath": "/var/lib/podflow", "readOnly": true})
    );
    assert_eq!(
        c["env"].as_array().unwrap()[2],
        json!({"name": "PODFLOW_K8S__SOURCE", "value": "file:/var/lib/podflow/pods.json"})
    );
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        config["k8s"],
        json!({"source": "kube", "cluster_name": "lab"}),
        "node.env overrides the file's source"
    );
    assert_node_config_loads(&text);
}

#[test]
fn node_mode_app_armor_annotation_before_1_30() {
    let objects = render_for("1.29.0", &["node.yaml"], &[])
        .unwrap_or_else(|e| panic!("helm template for 1.29:\n{e}"));
    validate(&objects);
    let daemonset = named(&objects, "DaemonSet", NODE_NAME);
    assert_eq!(
        daemonset["spec"]["template"]["metadata"]["annotations"]
            ["container.apparmor.security.beta.kubernetes.io/podflow"],
        "unconfined"
    );
    let (_, c) = node_pod(&objects);
    assert_eq!(c["name"], "podflow");
    assert!(c["securityContext"].get("appArmorProfile").is_none());
}

#[test]
fn node_mode_runtime_endpoint() {
    // CRI-O's socket: its directory is mounted instead of containerd's.
    let objects = render(
        &["node.yaml"],
        &["node.runtimeEndpoint=unix:///var/run/crio/crio.sock"],
    )
    .unwrap_or_else(|e| panic!("CRI-O:\n{e}"));
    validate(&objects);
    assert_runtime_mount(&objects, Some("/var/run/crio"));
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        config["node"]["runtime_endpoint"],
        "unix:///var/run/crio/crio.sock"
    );
    assert_node_config_loads(&text);
    // None: no mount, and podflow takes the empty endpoint.
    let objects = render(&["node.yaml"], &["node.runtimeEndpoint="])
        .unwrap_or_else(|e| panic!("no runtime:\n{e}"));
    assert_runtime_mount(&objects, None);
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(config["node"]["runtime_endpoint"], "");
    assert_node_config_loads(&text);
    // Not a unix socket, or no interface at all: refused with the value named.
    for (set, says) in [
        (
            "node.runtimeEndpoint=tcp://10.0.0.1:10010",
            "node.runtimeEndpoint=\"tcp://10.0.0.1:10010\" must be the runtime's CRI socket",
        ),
        (
            "node.maxInterfacesPerNamespace=0",
            "node.maxInterfacesPerNamespace=0 must be a whole number, 1 or more",
        ),
    ] {
        let e = render(&["node.yaml"], &[set]).unwrap_err();
        assert!(e.contains(says), "{set}: {e}");
    }
}
