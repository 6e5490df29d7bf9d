//! Node mode beside the webhook: the DaemonSet, its RBAC, its configuration accepted by
//! podflow, and what it may read of the node.

use super::*;

/// The node DaemonSet's pod spec and its one container.
pub(super) fn node_pod(objects: &[Value]) -> (&Value, &Value) {
    let daemonset = named(objects, "DaemonSet", NODE_NAME);
    let pod = &daemonset["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    (pod, &containers[0])
}

/// Whether `selector` (matchLabels) selects an object with `labels`.
pub(super) fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .unwrap()
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
}

fn field_ref<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| &e["valueFrom"]["fieldRef"]["fieldPath"])
}

/// A podflow failure that is about the configuration itself: the loader names the key
/// ("invalid configuration: ... key ...") or the file it could not parse.
fn assert_no_config_error(stderr: &str, what: &str) {
    assert!(
        !stderr.contains("invalid configuration") && !stderr.contains("cannot parse config file"),
        "{what}: podflow refused the chart's node configuration:\n{stderr}"
    );
}

/// The rendered node configuration through podflow's strict loader (every key known,
/// every value good), started as the DaemonSet starts it. Node mode reads its pods from a
/// file that does not exist, so it must stop at that file (exit 2) rather than at a key.
pub(super) fn assert_node_config_loads(config_text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("podflow.yaml");
    std::fs::write(&path, config_text).unwrap();

    let out = podflow()
        .args(["--mode", "node", "--config"])
        .arg(&path)
        .env("PODFLOW_K8S__SOURCE", "file:/nonexistent/pods.json")
        .env("PODFLOW_TELEMETRY__LISTEN", "")
        .env("PODFLOW_K8S__NODE_NAME", "node-1")
        .env("PODFLOW_K8S__NODE_IP", "192.0.2.10")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("podflow --mode node exits by itself");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "--mode node:\n{stderr}");
    assert_no_config_error(&stderr, "--mode node");
    assert!(
        stderr.contains("/nonexistent/pods.json"),
        "--mode node did not stop at its pod list:\n{stderr}"
    );
}

/// What the process scan costs, and only the process scan: the node's PID namespace and
/// SYS_PTRACE, on top of NET_RAW and SYS_ADMIN (drop ALL first).
pub(super) fn assert_process_scan_access(objects: &[Value], scan: bool) {
    let (pod, c) = node_pod(objects);
    assert_eq!(pod["hostNetwork"], true);
    if scan {
        assert_eq!(pod["hostPID"], true);
    } else {
        assert!(pod.get("hostPID").is_none(), "no host PID without the scan");
    }
    let capabilities = &c["securityContext"]["capabilities"];
    assert_eq!(capabilities["drop"], json!(["ALL"]));
    let mut expected = vec!["NET_RAW", "SYS_ADMIN"];
    if scan {
        expected.push("SYS_PTRACE");
    }
    assert_eq!(
        capabilities["add"],
        json!(expected),
        "exactly these capabilities"
    );
    let (_, config) = config_of(objects, NODE_NAME);
    assert_eq!(config["node"]["scan_processes"], scan);
}

/// The directory of the container runtime's socket: a read-only hostPath mount at the
/// same path (`None`: no runtime endpoint, no such mount).
pub(super) fn assert_runtime_mount(objects: &[Value], dir: Option<&str>) {
    let (pod, c) = node_pod(objects);
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "runtime");
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "runtime");
    match dir {
        Some(dir) => {
            let volume = volume.expect("a runtime volume");
            assert_eq!(
                volume["hostPath"],
                json!({"path": dir, "type": "Directory"})
            );
            assert_eq!(
                mount,
                Some(&json!({"name": "runtime", "mountPath": dir, "readOnly": true}))
            );
        }
        None => assert_eq!((volume, mount), (None, None)),
    }
}

/// The netns directories: each a read-only hostPath mount at the same path, with
/// HostToContainer propagation, and nothing else from the host but these and the
/// runtime's socket directory.
pub(super) fn assert_netns_mounts(objects: &[Value], dirs: &[&str]) {
    let (pod, c) = node_pod(objects);
    let volumes = pod["volumes"].as_array().unwrap();
    let host_paths: Vec<&Value> = volumes
        .iter()
        .filter(|v| v.get("hostPath").is_some() && v["name"] != "runtime")
        .collect();
    assert_eq!(
        host_paths.len(),
        dirs.len(),
        "hostPath volumes: {volumes:?}"
    );
    for dir in dirs {
        let volume = host_paths
            .iter()
            .find(|v| v["hostPath"]["path"] == *dir)
            .unwrap_or_else(|| panic!("no hostPath volume for {dir}: {volumes:?}"));
        assert_eq!(volume["hostPath"]["type"], "DirectoryOrCreate");
        let mounts: Vec<&Value> = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["name"] == volume["name"])
            .collect();
        assert_eq!(mounts.len(), 1, "{dir} is mounted once");
        assert_eq!(mounts[0]["mountPath"], *dir);
        assert_eq!(mounts[0]["mountPropagation"], "HostToContainer", "{dir}");
        assert_eq!(mounts[0]["readOnly"], true, "{dir}");
    }
}

/// The ClusterRole of the node pods grants get, list and watch on pods and nothing else;
/// the binding gives it to the node ServiceAccount of the release namespace, and only to
/// it.
pub(super) fn assert_node_rbac(objects: &[Value]) {
    let role = one(objects, "ClusterRole");
    assert_eq!(role["metadata"]["name"], NODE_NAME);
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}])
    );
    assert!(role.get("aggregationRule").is_none());
    let binding = one(objects, "ClusterRoleBinding");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NODE_NAME})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": NODE_NAME, "namespace": NAMESPACE}])
    );
    assert!(all(objects, "Role").is_empty() && all(objects, "RoleBinding").is_empty());
    let account = named(objects, "ServiceAccount", NODE_NAME);
    assert_eq!(account["metadata"]["namespace"], NAMESPACE);
    assert_eq!(account["automountServiceAccountToken"], true);
    let (pod, _) = node_pod(objects);
    assert_eq!(pod["serviceAccountName"], NODE_NAME);
    assert_eq!(pod["automountServiceAccountToken"], true);
}

#[test]
fn node_mode_next_to_the_webhook() {
    let objects = rendered(&["node.yaml"]);
    let mut kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "ConfigMap",
            "DaemonSet",
            "Deployment",
            "MutatingWebhookConfiguration",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount",
            "ServiceAccount"
        ],
        "the webhook's objects, and the node's; no node Service without a ServiceMonitor"
    );
    for o in &objects {
        if ![
            "MutatingWebhookConfiguration",
            "ClusterRole",
            "ClusterRoleBinding",
        ]
        .contains(&o["kind"].as_str().unwrap())
        {
            assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{}", o["kind"]);
        }
    }

    // The DaemonSet: the node's network, on every node, one node at a time.
    let daemonset = named(&objects, "DaemonSet", NODE_NAME);
    assert_eq!(
        daemonset["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})
    );
    let (pod, c) = node_pod(&objects);
    assert_eq!(pod["hostNetwork"], true);
    assert!(pod.get("hostPID").is_none(), "no process scan by default");
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]));
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(
        pod["securityContext"]["seccompProfile"],
        json!({"type": "RuntimeDefault"})
    );
    for absent in [
        "priorityClassName",
        "nodeSelector",
        "affinity",
        "imagePullSecrets",
    ] {
        assert!(pod.get(absent).is_none(), "{absent} by default: {pod}");
    }

    // The container: node mode with the rendered configuration, and the node's identity.
    assert_eq!(c["image"], "ghcr.io/podflow/podflow:0.1.0");
    assert_eq!(
        c["args"],
        json!(["--mode", "node", "--config", "/etc/podflow/podflow.yaml"])
    );
    assert_eq!(
        field_ref(c, "PODFLOW_K8S__NODE_NAME"),
        Some(&json!("spec.nodeName"))
    );
    assert_eq!(
        field_ref(c, "PODFLOW_K8S__NODE_IP"),
        Some(&json!("status.hostIP"))
    );
    assert_eq!(c["env"].as_array().unwrap().len(), 2);
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsUser"], 0);
    assert_eq!(sc["runAsNonRoot"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_process_scan_access(&objects, false);
    assert!(
        sc.get("allowPrivilegeEscalation").is_none(),
        "Kubernetes refuses allowPrivilegeEscalation: false with SYS_ADMIN: {sc}"
    );
    assert!(sc.get("privileged").is_none(), "not privileged: {sc}");
    assert_eq!(sc["appArmorProfile"], json!({"type": "Unconfined"}));
    let annotations = daemonset["spec"]["template"]["metadata"]["annotations"]
        .as_object()
        .unwrap();
    assert!(
        annotations.keys().all(|k| !k.contains("apparmor")),
        "the field, not the annotation, on 1.33: {annotations:?}"
    );
    assert!(annotations.contains_key("checksum/config"));
    assert_eq!(
        c["ports"],
        json!([{"name": "podflow-metrics", "containerPort": 9477, "protocol": "TCP"}])
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["httpGet"]["port"], "podflow-metrics");
    }
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}),
        "no CPU limit by default"
    );
    assert_netns_mounts(&objects, &["/var/run/netns"]);
    assert_runtime_mount(&objects, Some("/run/containerd"));
    assert!(c["volumeMounts"].as_array().unwrap().contains(&json!({
        "name": "config", "mountPath": "/etc/podflow/podflow.yaml",
        "subPath": "podflow.yaml", "readOnly": true
    })));
    let config_volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap();
    assert_eq!(config_volume["configMap"]["name"], NODE_NAME);

    // Webhook and node selectors never select each other's pods.
    let node_selector = &daemonset["spec"]["selector"]["matchLabels"];
    let node_labels = &daemonset["spec"]["template"]["metadata"]["labels"];
    assert_eq!(node_selector["app.kubernetes.io/component"], "node");
    assert!(selects(node_selector, node_labels));
    let deployment = one(&objects, "Deployment");
    let webhook_selector = &deployment["spec"]["selector"]["matchLabels"];
    let webhook_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert!(!selects(webhook_selector, node_labels));
    assert!(!selects(node_selector, webhook_labels));
    for kind in ["Service", "PodDisruptionBudget"] {
        let o = one(&objects, kind);
        let selector = o["spec"]["selector"]
            .get("matchLabels")
            .unwrap_or(&o["spec"]["selector"]);
        assert!(!selects(selector, node_labels), "the webhook's {kind}");
    }

    // RBAC: pods, read-only; the webhook keeps its token-less account.
    assert_node_rbac(&objects);
    assert_eq!(
        named(&objects, "ServiceAccount", FULLNAME)["automountServiceAccountToken"],
        false
    );
    assert_eq!(
        one(&objects, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );

    // The node configuration: the sidecars' collector, the node defaults, and podflow
    // loads it; the webhook's is still its own.
    let (text, config) = config_of(&objects, NODE_NAME);
    assert_eq!(
        config,
        json!({
            "export": {"collector": "udp://collector.monitoring:4739"},
            "ipfix": {"enterprise_number": 32473},
            "k8s": {"source": "kube"},
            "telemetry": {"listen": "0.0.0.0:9477"},
            "node": {
                "runtime_endpoint": "unix:///run/containerd/containerd.sock",
                "max_interfaces_per_namespace": 8,
                "netns_dirs": ["/var/run/netns"], "scan_processes": false, "proc_dir": "/proc",
                "rescan_secs": 5, "pod_interfaces": [], "capture_host": true,
                "host_interfaces": [], "host_pod_veths": false
            },
            "log": {"format": "json", "level": "info"}
        })
    );
    assert_node_config_loads(&text);
    let (webhook_text, webhook_config) = podflow_config(&objects);
    assert!(webhook_config.get("node").is_none());
    inject_with(&webhook_text);
}
