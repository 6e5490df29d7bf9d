//! The notes printed after install say what was installed and how to inject.

use super::*;

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// NOTES.txt as `helm install` would print it: `helm template` leaves NOTES out, so a copy
/// of the chart renders it into a ConfigMap with `tpl`.
fn notes(values: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("podflow");
    copy_dir(&chart_dir(), &chart);
    std::fs::copy(chart.join("templates/NOTES.txt"), chart.join("notes.txt")).unwrap();
    std::fs::write(
        chart.join("templates/zz-notes.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n\
         data:\n  notes: {{ tpl (.Files.Get \"notes.txt\") . | quote }}\n",
    )
    .unwrap();
    let out = Command::new(helm())
        .args(["template", RELEASE])
        .arg(&chart)
        .args(["--namespace", NAMESPACE, "--kube-version", KUBE_VERSION])
        .arg("--values")
        .arg(fixture(&format!("chart/{values}")))
        .args(["--show-only", "templates/zz-notes.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "NOTES.txt with {values}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let map: Value = serde_norway::from_slice(&out.stdout).unwrap();
    map["data"]["notes"].as_str().unwrap().to_string()
}

#[test]
fn notes_say_what_was_installed_and_how_to_inject() {
    let text = notes("defaults.yaml");
    for expected in [
        &format!("Deployment/{FULLNAME} (2 replicas)"),
        "udp://collector.monitoring:4739",
        "when they\n  are annotated podflow.io/inject: \"true\".",
        "podflow.io/inject=disabled",
        &format!("kube-system and {NAMESPACE} are never touched"),
        "securityProfile default: as UID 65532 with drop ALL, add NET_RAW",
        "set sidecar.securityProfile=root",
        "pod-security.kubernetes.io/enforce=baseline or restricted are left out",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }
    let text = notes("tcp-match.yaml");
    for expected in [
        "tcp://ipfix.collectors.svc.cluster.local:4740",
        "carry the labels app.kubernetes.io/part-of=shop, tier=1\n  and\n  belong to one of the Deployments shop-web, payments/checkout",
        "failurePolicy Fail",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }
    assert!(
        text.contains("securityProfile root: as UID 0 with drop ALL, add NET_RAW"),
        "{text}"
    );
    assert!(!text.contains("set sidecar.securityProfile=root"), "{text}");
}

#[test]
fn notes_say_what_node_mode_installed() {
    let text = notes("node.yaml");
    for expected in [
        &format!("Deployment/{FULLNAME} (2 replicas)"),
        &format!("DaemonSet/{NODE_NAME} (a pod on every node)"),
        &format!("ConfigMap/{NODE_NAME} (podflow.yaml)"),
        &format!("ClusterRole/{NODE_NAME} (get, list and watch on pods,\n    nothing else)"),
        "in the node's network namespace, with NET_RAW and SYS_ADMIN",
        "every pod sandbox that the container runtime at\nunix:///run/containerd/containerd.sock reports (opened in /var/run/netns), attributed to the pod that owns it, and on the node's own interfaces",
        "exports to udp://collector.monitoring:4739",
        "Pods that also got the sidecar are observed by both.",
        &format!(
            "kubectl label namespace {NAMESPACE} pod-security.kubernetes.io/enforce=privileged"
        ),
        &format!("kubectl -n {NAMESPACE} logs daemonset/{NODE_NAME}"),
        "curl -s http://NODE_IP:9477/metrics",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }

    let text = notes("node-only.yaml");
    for expected in [
        &format!("DaemonSet/{NODE_NAME}"),
        &format!("Service/{NODE_NAME} (headless) and ServiceMonitor/{NODE_NAME}"),
        "exports to tcp://ipfix.collectors.svc.cluster.local:4740",
        "curl -s http://NODE_IP:19477/metrics",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }
    for absent in [
        "admission webhook",
        "get the sidecar",
        "securityProfile",
        "observed by both",
        &format!("deployment/{FULLNAME}"),
    ] {
        assert!(
            !text.contains(absent),
            "NOTES without the webhook mention {absent:?}:\n{text}"
        );
    }

    let text = notes("node-privileged.yaml");
    assert!(text.contains("privileged (node.privileged)"), "{text}");
    assert!(
        text.contains("root in the node's network namespace, privileged"),
        "{text}"
    );
    assert!(!text.contains("SYS_ADMIN"), "{text}");

    let text = notes("node-cri.yaml");
    for expected in [
        "root in the node's network namespace, with NET_RAW and SYS_ADMIN.",
        "(opened in /var/run/netns), attributed to the pod that owns it, and on the node's own interfaces",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }
    assert!(!text.contains("SYS_PTRACE"), "{text}");
}

#[test]
fn notes_say_what_the_mediator_installed_and_where_the_probes_send() {
    let text = notes("mediator.yaml");
    for expected in [
        "Deployment/pf-podflow-mediator (2 replicas), Service/pf-podflow-mediator\n    (tcp from the probes, port 4739), which names both ends of every\n    record and sends it on to tls://collector.monitoring:4739",
        "pods, services, nodes and endpointslices, nothing else",
        "New pods get the sidecar, which exports IPFIX to tcp://pf-podflow-mediator.flows.svc:4739",
        "exports to tcp://pf-podflow-mediator.flows.svc:4739",
    ] {
        assert!(text.contains(expected), "NOTES lacks {expected:?}:\n{text}");
    }
}
