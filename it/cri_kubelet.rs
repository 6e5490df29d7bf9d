//! The kubelet's translation of a pod into CRI requests (it/cri/kubelet), on its own: no
//! runtime, no root.

// This binary uses the translation alone: some of what the runner needs stays unused.
#[allow(dead_code)]
#[path = "cri/kubelet/mod.rs"]
mod kubelet;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_cri::v1::security_profile::ProfileType;
use k8s_cri::v1::{MountPropagation, NamespaceMode};
use k8s_openapi::api::core::v1::{Container, Pod};
use kubelet::expand::expand;
use kubelet::fieldpath::{format_map, go_quote, PodAddresses};
use kubelet::resources::{
    milli_cpu_to_quota, milli_cpu_to_shares, oom_score_adj, qos, Qos, Quantity,
};
use kubelet::security::{linux_security_context, verify_run_as_non_root, ImageUser};
use kubelet::volumes::{self, write_atomic, File, Setup};
use kubelet::{ContainerContext, NodeInfo, Objects, Start, TranslateError};
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

#[test]
fn expansion_follows_the_kubelet() {
    let vars = HashMap::from([
        ("A".to_string(), "alpha".to_string()),
        ("B".to_string(), "$(A)".to_string()),
    ]);
    for (input, want) in [
        ("$(A)", "alpha"),
        ("x$(A)y$(A)", "xalphayalpha"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$alpha"),
        ("$(UNSET)", "$(UNSET)"),
        ("$(B)", "$(A)"),
        ("$(A", "$(A"),
        ("$(A$(A)", "$(A$(A)"),
        ("$()", "$()"),
        ("$", "$"),
        ("a$", "a$"),
        ("$$", "$"),
        ("$x$(A)", "$xalpha"),
        ("$ (A)", "$ (A)"),
        ("no variables", "no variables"),
        ("", ""),
    ] {
        assert_eq!(expand(input, &vars).unwrap(), want, "{input:?}");
    }
    // The byte after a lone `$` is written as a Latin-1 character: invalid UTF-8 here.
    assert!(expand("$é", &vars).is_err());
    assert_eq!(expand("é$(A)é", &vars).unwrap(), "éalphaé");
}

#[test]
fn labels_and_annotations_are_written_as_go_quotes_them() {
    assert_eq!(go_quote("plain"), r#""plain""#);
    assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(go_quote("\n\t\r\x07\x08\x0b\x0c"), r#""\n\t\r\a\b\v\f""#);
    assert_eq!(go_quote("\x00\x1f\x7f"), r#""\x00\x1f\x7f""#);
    assert_eq!(go_quote("é ü 日本 ✓"), "\"é ü 日本 ✓\"");
    assert_eq!(
        go_quote("\u{a0}\u{200b}\u{feff}"),
        r#""\u00a0\u200b\ufeff""#
    );
    assert_eq!(go_quote("\u{e000}\u{10fffd}"), r#""\ue000\U0010fffd""#);
    let map = BTreeMap::from([
        ("b".to_string(), "two".to_string()),
        ("a/x".to_string(), "one \"1\"".to_string()),
        ("c".to_string(), String::new()),
    ]);
    assert_eq!(format_map(&map), "a/x=\"one \\\"1\\\"\"\nb=\"two\"\nc=\"\"");
    assert_eq!(format_map(&BTreeMap::new()), "");
}

#[test]
fn quantities_parse_exactly() {
    let q = |t: &str| Quantity::parse(t).unwrap();
    assert_eq!(q("100m").milli(), 100);
    assert_eq!(q("1.5").milli(), 1500);
    assert_eq!(q("0.1").milli(), 100);
    assert_eq!(q("2").milli(), 2000);
    assert_eq!(q("64Mi").value(), 64 << 20);
    assert_eq!(q("1Gi").value(), 1 << 30);
    assert_eq!(q("1.5Ki").value(), 1536);
    assert_eq!(q("2k").value(), 2000);
    assert_eq!(q("1M").value(), 1_000_000);
    assert_eq!(q("1e3").value(), 1000);
    assert_eq!(q("15E-1").milli(), 1500);
    assert_eq!(q("1n").value(), 1, "values round up");
    assert_eq!(q("1n").milli(), 1);
    assert_eq!(q("250u").milli(), 1);
    assert_eq!(q("+5").value(), 5);
    assert_eq!(q("-5").value(), -5);
    for bad in ["", "abc", "1.2.3", "5X", "Mi", "1e"] {
        assert!(Quantity::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn cpu_shares_and_quota() {
    assert_eq!(milli_cpu_to_shares(0), 2);
    assert_eq!(milli_cpu_to_shares(1), 2);
    assert_eq!(milli_cpu_to_shares(250), 256);
    assert_eq!(milli_cpu_to_shares(1000), 1024);
    assert_eq!(milli_cpu_to_shares(1_000_000), 262_144);
    assert_eq!(milli_cpu_to_quota(0, 100_000), 0);
    assert_eq!(milli_cpu_to_quota(1, 100_000), 1000);
    assert_eq!(milli_cpu_to_quota(500, 100_000), 50_000);
}

fn resources_pod(web: serde_json::Value, sidecar: serde_json::Value) -> Pod {
    pod(json!({
        "metadata": {"name": "p", "uid": "u"},
        "spec": {
            "initContainers": [{"name": "side", "restartPolicy": "Always", "resources": sidecar}],
            "containers": [{"name": "web", "resources": web}]
        }
    }))
}

#[test]
fn qos_classes_and_oom_scores() {
    let both = json!({"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}});
    let g = resources_pod(both.clone(), both.clone());
    assert_eq!(qos(&g).unwrap(), Qos::Guaranteed);
    assert_eq!(
        oom_score_adj(&g, &container(&g, "web"), &node()).unwrap(),
        -997
    );
    let none = resources_pod(json!({}), json!({}));
    assert_eq!(qos(&none).unwrap(), Qos::BestEffort);
    assert_eq!(
        oom_score_adj(&none, &container(&none, "web"), &node()).unwrap(),
        1000
    );
    // Burstable: 1000 - 1000 * request / capacity (1 GiB here).
    let b = resources_pod(
        json!({"requests": {"memory": "256Mi"}}),
        json!({"requests": {"memory": "512Mi"}}),
    );
    assert_eq!(qos(&b).unwrap(), Qos::Burstable);
    assert_eq!(
        oom_score_adj(&b, &container(&b, "web"), &node()).unwrap(),
        750
    );
    assert_eq!(
        oom_score_adj(&b, &container(&b, "side"), &node()).unwrap(),
        500
    );
    // A sidecar is kept no higher than the smallest regular container.
    let s = resources_pod(json!({"requests": {"memory": "512Mi"}}), json!({}));
    assert_eq!(
        oom_score_adj(&s, &container(&s, "side"), &node()).unwrap(),
        500
    );
    // Limits that do not equal requests: Burstable.
    let l = resources_pod(
        json!({"requests": {"cpu": "1", "memory": "1Mi"}, "limits": {"cpu": "2", "memory": "1Mi"}}),
        both,
    );
    assert_eq!(qos(&l).unwrap(), Qos::Burstable);
    assert_eq!(
        oom_score_adj(&l, &container(&l, "web"), &node()).unwrap(),
        999
    );
}

fn secure_pod() -> Pod {
    pod(json!({
        "metadata": {"name": "p", "uid": "u"},
        "spec": {
            "securityContext": {
                "runAsUser": 1000, "runAsGroup": 3000, "runAsNonRoot": true, "fsGroup": 2000,
                "supplementalGroups": [4000],
                "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}
            },
            "containers": [
                {"name": "inherits"},
                {"name": "locked", "securityContext": {
                    "runAsUser": 65532, "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                    "appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-podflow"}
                }},
                {"name": "root", "securityContext": {"runAsUser": 0}},
                {"name": "image-user", "securityContext": {"runAsNonRoot": false}}
            ]
        }
    }))
}

#[test]
#[allow(deprecated)]
fn security_contexts_merge_as_the_kubelet_merges_them() {
    let p = secure_pod();
    let image = ImageUser::default();
    let inherits = linux_security_context(&p, &container(&p, "inherits"), &image);
    assert_eq!(inherits.run_as_user.unwrap().value, 1000);
    assert_eq!(inherits.run_as_group.unwrap().value, 3000);
    assert_eq!(inherits.supplemental_groups, [2000, 4000]);
    assert!(!inherits.no_new_privs && !inherits.readonly_rootfs && !inherits.privileged);
    assert!(inherits.capabilities.is_none());
    let seccomp = inherits.seccomp.unwrap();
    assert_eq!(seccomp.profile_type, ProfileType::Localhost as i32);
    assert_eq!(seccomp.localhost_ref, "p.json");
    assert!(inherits.apparmor.is_none() && inherits.apparmor_profile.is_empty());
    assert!(inherits.masked_paths.contains(&"/proc/kcore".to_string()));
    assert!(inherits.readonly_paths.contains(&"/proc/sys".to_string()));
    let ns = inherits.namespace_options.unwrap();
    assert_eq!(ns.network, NamespaceMode::Pod as i32);
    assert_eq!(ns.pid, NamespaceMode::Container as i32);

    let locked = linux_security_context(&p, &container(&p, "locked"), &image);
    assert_eq!(locked.run_as_user.unwrap().value, 65532);
    assert_eq!(locked.run_as_group.unwrap().value, 3000, "from the pod");
    assert!(locked.no_new_privs && locked.readonly_rootfs);
    let caps = locked.capabilities.unwrap();
    assert_eq!(
        (caps.add_capabilities, caps.drop_capabilities),
        (vec!["NET_RAW".to_string()], vec!["ALL".to_string()])
    );
    assert!(caps.add_ambient_capabilities.is_empty());
    assert_eq!(
        locked.seccomp.unwrap().profile_type,
        ProfileType::RuntimeDefault as i32
    );
    assert_eq!(locked.apparmor.unwrap().localhost_ref, "k8s-podflow");
    assert_eq!(locked.apparmor_profile, "localhost/k8s-podflow");

    // A pod without any profile is Unconfined (no --seccomp-default).
    let bare = pod(json!({"metadata": {"name": "b"}, "spec": {"containers": [{"name": "c"}]}}));
    let sc = linux_security_context(
        &bare,
        &container(&bare, "c"),
        &ImageUser {
            uid: Some(7),
            username: String::new(),
        },
    );
    assert_eq!(
        sc.seccomp.unwrap().profile_type,
        ProfileType::Unconfined as i32
    );
    assert_eq!(sc.run_as_user.unwrap().value, 7, "the image's user");
}

#[test]
fn run_as_non_root_is_checked_by_the_kubelet() {
    let p = secure_pod();
    let root_image = ImageUser {
        uid: Some(0),
        username: String::new(),
    };
    let check =
        |name: &str, image: &ImageUser| verify_run_as_non_root(&p, &container(&p, name), image);
    assert!(
        check("inherits", &root_image).is_ok(),
        "runAsUser 1000 wins over the image"
    );
    let err = check("root", &root_image).unwrap_err();
    assert!(
        matches!(&err, TranslateError::NonRoot { container, .. } if container == "root"),
        "{err}"
    );
    assert!(err.to_string().contains("runAsUser breaks non-root policy"));
    // runAsNonRoot false on the container lifts the pod's rule.
    assert!(check("image-user", &root_image).is_ok());

    let q = pod(json!({"metadata": {"name": "q"}, "spec": {
        "securityContext": {"runAsNonRoot": true}, "containers": [{"name": "c"}]}}));
    let c = container(&q, "c");
    let err = verify_run_as_non_root(&q, &c, &root_image).unwrap_err();
    assert!(err.to_string().contains("image will run as root"), "{err}");
    let named = ImageUser {
        uid: None,
        username: "nobody".into(),
    };
    assert!(verify_run_as_non_root(&q, &c, &named)
        .unwrap_err()
        .to_string()
        .contains("non-numeric user"));
    assert!(verify_run_as_non_root(
        &q,
        &c,
        &ImageUser {
            uid: Some(65532),
            username: String::new()
        }
    )
    .is_ok());
    // And container_config refuses too.
    let volumes = BTreeMap::new();
    let ctx = ContainerContext {
        node: &node(),
        addresses: &addresses(),
        objects: &Objects::default(),
        image: root_image,
        volumes: &volumes,
        extra_mounts: Vec::new(),
        attempt: 0,
    };
    assert!(kubelet::container_config(&q, &c, &ctx).is_err());
}

#[test]
fn sandbox_configs_for_pod_and_host_network() {
    let long = "x".repeat(62) + "-y";
    let p = pod(json!({
        "metadata": {"name": long, "namespace": "shop", "uid": "u1", "labels": {"app": "a"}, "annotations": {"k": "v"}},
        "spec": {"containers": [{"name": "c", "securityContext": {"privileged": true}}],
                 "securityContext": {"sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]}}
    }));
    let config = kubelet::sandbox_config(&p, &node(), 2);
    let meta = config.metadata.as_ref().unwrap();
    assert_eq!(
        (
            meta.name.as_str(),
            meta.namespace.as_str(),
            meta.uid.as_str(),
            meta.attempt
        ),
        (long.as_str(), "shop", "u1", 2)
    );
    assert_eq!(
        config.hostname,
        "x".repeat(62),
        "63 characters, trailing '-' trimmed"
    );
    assert_eq!(
        config.log_directory,
        format!("/var/log/pods/shop_{long}_u1")
    );
    assert_eq!(config.labels["app"], "a");
    assert_eq!(config.labels["io.kubernetes.pod.name"], long);
    assert_eq!(config.labels["io.kubernetes.pod.namespace"], "shop");
    assert_eq!(config.labels["io.kubernetes.pod.uid"], "u1");
    assert_eq!(config.annotations["k"], "v");
    let linux = config.linux.unwrap();
    assert_eq!(linux.cgroup_parent, "/test/podu1");
    assert_eq!(linux.sysctls["net.ipv4.ip_unprivileged_port_start"], "0");
    let sc = linux.security_context.unwrap();
    assert!(
        sc.privileged,
        "a privileged container makes a privileged sandbox"
    );
    assert_eq!(
        sc.seccomp.unwrap().profile_type,
        ProfileType::RuntimeDefault as i32
    );

    let h = pod(json!({
        "metadata": {"name": "agent", "uid": "u2"},
        "spec": {"hostNetwork": true, "hostPID": true, "hostIPC": true, "containers": [{"name": "c"}]}
    }));
    let config = kubelet::sandbox_config(&h, &node(), 0);
    assert_eq!(config.hostname, "", "the node's UTS namespace");
    assert_eq!(config.metadata.unwrap().namespace, "default");
    let ns = config
        .linux
        .unwrap()
        .security_context
        .unwrap()
        .namespace_options
        .unwrap();
    assert_eq!(
        (ns.network, ns.pid, ns.ipc),
        (
            NamespaceMode::Node as i32,
            NamespaceMode::Node as i32,
            NamespaceMode::Node as i32
        )
    );
    let shared = pod(
        json!({"metadata": {"name": "s"}, "spec": {"shareProcessNamespace": true, "containers": [{"name": "c"}]}}),
    );
    let ns = kubelet::security::namespaces(&shared);
    assert_eq!(ns.pid, NamespaceMode::Pod as i32);
}

#[test]
fn containers_start_in_the_kubelets_order() {
    let p = pod(json!({"metadata": {"name": "p"}, "spec": {
        "initContainers": [{"name": "sidecar", "restartPolicy": "Always"}, {"name": "init"}, {"name": "second-sidecar", "restartPolicy": "Always"}],
        "containers": [{"name": "a"}, {"name": "b"}]
    }}));
    let order: Vec<(Start, &str)> = kubelet::start_order(&p)
        .into_iter()
        .map(|(s, c)| (s, c.name.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (Start::Started, "sidecar"),
            (Start::RunToCompletion, "init"),
            (Start::Started, "second-sidecar"),
            (Start::Regular, "a"),
            (Start::Regular, "b"),
        ]
    );
}

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

fn volume_pod() -> Pod {
    pod(json!({
        "metadata": {"name": "v", "uid": "u4", "labels": {"app": "v"}},
        "spec": {
            "volumes": [
                {"name": "info", "downwardAPI": {"defaultMode": 0o600, "items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "sub/name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o400}
                ]}},
                {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "renamed"}]}},
                {"name": "token", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token"}},
                    {"configMap": {"name": "cfg"}}
                ]}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "netns", "hostPath": {"path": "/var/run/netns"}}
            ],
            "containers": [{"name": "c", "volumeMounts": [
                {"name": "info", "mountPath": "/etc/podinfo", "readOnly": true},
                {"name": "cfg", "mountPath": "/cfg/renamed", "subPath": "renamed"},
                {"name": "netns", "mountPath": "/var/run/netns", "mountPropagation": "HostToContainer"},
                {"name": "scratch", "mountPath": "/tmp"}
            ]}, {"name": "bidi", "volumeMounts": [
                {"name": "netns", "mountPath": "/var/run/netns", "mountPropagation": "Bidirectional"}
            ]}]
        }
    }))
}

#[test]
fn volumes_and_mounts_as_the_kubelet_lays_them_out() {
    let p = volume_pod();
    let objects = Objects {
        config_maps: BTreeMap::from([(
            "cfg".to_string(),
            BTreeMap::from([
                ("a".to_string(), "A".to_string()),
                ("b".to_string(), "B".to_string()),
            ]),
        )]),
        service_account_token: Some("tok".into()),
        ..Default::default()
    };
    let plan = volumes::plan(&p, &node(), &addresses(), &objects).unwrap();
    let pod_dir = Path::new("/var/lib/kubelet/pods/u4/volumes");
    assert_eq!(
        plan["info"].path,
        pod_dir.join("kubernetes.io~downward-api/info")
    );
    assert_eq!(
        plan["cfg"].path,
        pod_dir.join("kubernetes.io~configmap/cfg")
    );
    assert_eq!(
        plan["token"].path,
        pod_dir.join("kubernetes.io~projected/token")
    );
    assert_eq!(
        plan["scratch"],
        volumes::PodVolume {
            path: pod_dir.join("kubernetes.io~empty-dir/scratch"),
            setup: Setup::EmptyDir
        }
    );
    assert_eq!(plan["netns"].path, Path::new("/node/netns"));
    let Setup::Payload(info) = &plan["info"].setup else {
        panic!()
    };
    assert_eq!(
        info["labels"],
        File {
            data: b"app=\"v\"".to_vec(),
            mode: 0o600
        }
    );
    assert_eq!(
        info["sub/name"],
        File {
            data: b"v".to_vec(),
            mode: 0o400
        }
    );
    let Setup::Payload(cfg) = &plan["cfg"].setup else {
        panic!()
    };
    assert_eq!(cfg.keys().collect::<Vec<_>>(), ["renamed"]);
    let Setup::Payload(token) = &plan["token"].setup else {
        panic!()
    };
    assert_eq!(token.keys().collect::<Vec<_>>(), ["a", "b", "token"]);
    assert_eq!(token["token"].mode, 0o644);

    let mounts = volumes::mounts(&container(&p, "c"), &plan, false).unwrap();
    let got: Vec<(&str, &str, bool, i32)> = mounts
        .iter()
        .map(|m| {
            (
                m.container_path.as_str(),
                m.host_path.as_str(),
                m.readonly,
                m.propagation,
            )
        })
        .collect();
    let private = MountPropagation::PropagationPrivate as i32;
    assert_eq!(
        got,
        [
            (
                "/etc/podinfo",
                "/var/lib/kubelet/pods/u4/volumes/kubernetes.io~downward-api/info",
                true,
                private
            ),
            (
                "/cfg/renamed",
                "/var/lib/kubelet/pods/u4/volumes/kubernetes.io~configmap/cfg/renamed",
                false,
                private
            ),
            (
                "/var/run/netns",
                "/node/netns",
                false,
                MountPropagation::PropagationHostToContainer as i32
            ),
            (
                "/tmp",
                "/var/lib/kubelet/pods/u4/volumes/kubernetes.io~empty-dir/scratch",
                false,
                private
            ),
        ]
    );
    assert!(
        volumes::mounts(&container(&p, "bidi"), &plan, false).is_err(),
        "Bidirectional needs privileged"
    );
    let bidi = volumes::mounts(&container(&p, "bidi"), &plan, true).unwrap();
    assert_eq!(
        bidi[0].propagation,
        MountPropagation::PropagationBidirectional as i32
    );

    // A hostPath the node does not map is refused; a missing configMap too.
    let mut other = node();
    other.host_paths.clear();
    assert!(
        matches!(volumes::plan(&p, &other, &addresses(), &objects), Err(TranslateError::HostPath(p)) if p == "/var/run/netns")
    );
    assert!(volumes::plan(&p, &node(), &addresses(), &Objects::default()).is_err());
}

#[test]
fn the_atomic_writer_swaps_payloads() {
    use std::time::{Duration, UNIX_EPOCH};
    // 2024-02-29T13:05:09Z
    let t = UNIX_EPOCH + Duration::from_secs(1_709_211_909);
    assert_eq!(volumes::payload_dir_name(t, 42), "..2024_02_29_13_05_09.42");
    assert_eq!(
        volumes::payload_dir_name(UNIX_EPOCH, 7),
        "..1970_01_01_00_00_00.7"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = |data: &str, mode| File {
        data: data.as_bytes().to_vec(),
        mode,
    };
    let first = BTreeMap::from([
        ("labels".to_string(), file("app=\"a\"", 0o644)),
        ("sub/name".to_string(), file("x", 0o400)),
    ]);
    let name = write_atomic(dir.path(), &first).unwrap();
    assert!(name.starts_with("..") && name.len() > 22, "{name}");
    let d = dir.path();
    assert_eq!(
        std::fs::read_link(d.join("..data")).unwrap(),
        Path::new(&name)
    );
    assert_eq!(
        std::fs::read_link(d.join("labels")).unwrap(),
        Path::new("..data/labels")
    );
    assert_eq!(
        std::fs::read_link(d.join("sub")).unwrap(),
        Path::new("..data/sub")
    );
    assert_eq!(
        std::fs::read_to_string(d.join("labels")).unwrap(),
        "app=\"a\""
    );
    assert_eq!(std::fs::read_to_string(d.join("sub/name")).unwrap(), "x");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.join(&name)), 0o755);
    assert_eq!(mode(&d.join("sub/name")), 0o400);
    assert_eq!(mode(&d.join("labels")), 0o644);

    // A label change: a new payload, `..data` swapped, the old payload and stale links gone.
    let second = BTreeMap::from([("labels".to_string(), file("app=\"b\"", 0o644))]);
    let next = write_atomic(d, &second).unwrap();
    assert_ne!(next, name);
    assert_eq!(
        std::fs::read_to_string(d.join("labels")).unwrap(),
        "app=\"b\""
    );
    assert!(!d.join(&name).exists());
    assert!(std::fs::symlink_metadata(d.join("sub")).is_err());
    let mut entries: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    let mut want = vec!["..data".to_string(), next, "labels".to_string()];
    want.sort();
    assert_eq!(entries, want);
}

#[test]
fn etc_hosts_as_the_kubelet_writes_it() {
    let hosts = volumes::etc_hosts(&["10.88.1.5".into()], "web-0", None);
    assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
    assert!(hosts.ends_with("fe00::2\tip6-allrouters\n10.88.1.5\tweb-0\n"));
    let host = volumes::etc_hosts(&[], "", Some("127.0.0.1 node\n"));
    assert_eq!(
        host,
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1 node\n"
    );
}

#[test]
fn admitted_pods_carry_the_kubelets_annotations() {
    let mut p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}));
    kubelet::admit(&mut p, "2026-01-02T03:04:05.000000006Z");
    let a = p.metadata.annotations.unwrap();
    assert_eq!(a["kubernetes.io/config.source"], "api");
    assert_eq!(
        a["kubernetes.io/config.seen"],
        "2026-01-02T03:04:05.000000006Z"
    );
}
