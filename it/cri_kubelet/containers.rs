//! The environment, the command and the container configuration the kubelet sends.

use super::*;

fn env_pod() -> Pod {
    pod(json!({
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u3", "labels": {"app": "web", "tier": "front"}, "annotations": {"a": "1"}},
        "spec": {
            "nodeName": "node-a",
            "serviceAccountName": "robot",
            "containers": [{
                "name": "web",
                "command": ["/bin/app", "--name=$(NAME)"],
                "args": ["$(GREETING)", "$$(GREETING)", "$(MISSING)"],
                "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
                "env": [
                    {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                    {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
                    {"name": "NOPE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['nope']"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                    {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                    {"name": "IPS_LIST", "value": "[$(POD_IPS)]"},
                    {"name": "GREETING", "value": "hi $(NAME) from $(CFG_COLOR) $(LATER)"},
                    {"name": "LATER", "value": "late"},
                    {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                    {"name": "CPU_REQ_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                    {"name": "NAME", "value": "again"}
                ],
                "resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "64Mi"}}
            }]
        }
    }))
}

#[test]
fn environment_and_command_as_the_kubelet_builds_them() {
    let p = env_pod();
    let objects = Objects {
        config_maps: BTreeMap::from([(
            "settings".to_string(),
            BTreeMap::from([("COLOR".to_string(), "blue".to_string())]),
        )]),
        ..Default::default()
    };
    let c = container(&p, "web");
    let env = kubelet::env::environment(&p, &c, &node(), &addresses(), &objects).unwrap();
    let got: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        got,
        [
            ("CFG_COLOR", "blue"),
            ("NAME", "again"),
            ("NS", "shop"),
            ("UID", "u3"),
            ("TIER", "front"),
            ("NOPE", ""),
            ("NODE", "node-a"),
            ("SA", "robot"),
            ("HOST_IP", "10.0.0.7"),
            ("POD_IP", "10.88.1.5"),
            ("POD_IPS", "10.88.1.5,fd00::5"),
            ("IPS_LIST", "[10.88.1.5,fd00::5]"),
            ("GREETING", "hi web-1 from blue $(LATER)"),
            ("LATER", "late"),
            ("MEM_MI", "64"),
            ("CPU_LIMIT", "2"),
            ("CPU_REQ_M", "250"),
        ]
    );
    let (command, args) = kubelet::env::command_and_args(&c, &env).unwrap();
    assert_eq!(command, ["/bin/app", "--name=again"]);
    assert_eq!(
        args,
        ["hi web-1 from blue $(LATER)", "$(GREETING)", "$(MISSING)"]
    );

    let missing = kubelet::env::environment(&p, &c, &node(), &addresses(), &Objects::default());
    assert!(matches!(missing, Err(TranslateError::Missing(name)) if name == "settings"));
}

#[test]
fn container_config_carries_what_the_kubelet_sends() {
    let p = env_pod();
    let objects = Objects {
        config_maps: BTreeMap::from([("settings".to_string(), BTreeMap::new())]),
        ..Default::default()
    };
    let volumes = BTreeMap::new();
    let ctx = ContainerContext {
        node: &node(),
        addresses: &addresses(),
        objects: &objects,
        image: ImageUser::default(),
        volumes: &volumes,
        extra_mounts: Vec::new(),
        attempt: 3,
    };
    let c = container(&p, "web");
    let config = kubelet::container_config(&p, &c, &ctx).unwrap();
    assert_eq!(config.metadata.as_ref().unwrap().attempt, 3);
    assert_eq!(config.log_path, "web/3.log");
    assert_eq!(config.labels["io.kubernetes.container.name"], "web");
    assert_eq!(config.labels["io.kubernetes.pod.uid"], "u3");
    assert_eq!(
        config.annotations["io.kubernetes.container.restartCount"],
        "3"
    );
    assert_eq!(
        config
            .envs
            .iter()
            .find(|kv| kv.key == "NODE")
            .unwrap()
            .value,
        "node-a"
    );
    let r = config.linux.unwrap().resources.unwrap();
    assert_eq!(
        (
            r.cpu_shares,
            r.cpu_quota,
            r.cpu_period,
            r.memory_limit_in_bytes
        ),
        (256, 0, 100_000, 64 << 20)
    );
}
