//! Sandbox configurations, the order containers start in, the annotations of admission.

use super::*;

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
