//! Pods under a real container runtime: containerd 1.6 through its CRI, driven as a kubelet
//! drives it (it/cri). Needs root, containerd, runc, the CNI plugins and busybox-static.
//!
//! - A busybox pod with a native sidecar gated by its startupProbe, an init container and
//!   an application container (Downward-API env and volume, configMap, emptyDir, `$(VAR)`
//!   expansion, resources, a locked-down securityContext), plus a host-network pod: each
//!   answers HTTP from the node's namespace, logs in the CRI format, runs with the
//!   capabilities, no_new_privs, seccomp mode and cgroup limits its spec asks for, stops on
//!   StopContainer, and teardown leaves nothing behind.
//! - The podflow sidecar exactly as the webhook injects it into the Deployment pod of
//!   it/fixtures/admission, exporting to a UDP collector on the node: it keeps running and
//!   exports one record per connection made to the application.

mod common;
mod cri;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use cri::images;
use cri::kubelet::fieldpath::format_map;
use cri::kubelet::Objects;
use cri::node::Node;
use cri::probe::http_get;
use cri::runner::{node_info, run_pod, PodRun};
use k8s_openapi::api::core::v1::Pod;
use podflow::node::cri::ContainerState;
use serde_json::json;

const SITE: &str = "served from the site configMap\n";

fn hex(text: &str) -> u64 {
    u64::from_str_radix(text, 16).unwrap()
}

/// A cgroup v1 file of a container: `<hierarchy>/<pod cgroup>/<container id>/<file>`.
fn cgroup_file(run: &PodRun, hierarchy: &str, container: &str, file: &str) -> String {
    let pod_cgroup = run
        .sandbox_config
        .linux
        .as_ref()
        .unwrap()
        .cgroup_parent
        .clone();
    let path = format!(
        "/sys/fs/cgroup/{hierarchy}{pod_cgroup}/{}/{file}",
        run.id(container)
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

fn web_pod(node_name: &str) -> Pod {
    let busybox = images::BUSYBOX;
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-0",
            "namespace": "shop",
            "uid": "2b0f6c1e-8d1a-4c3e-9a57-61f1c6a0e001",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": "say \"hi\"\tthen leave"}
        },
        "spec": {
            "nodeName": node_name,
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 5,
            "securityContext": {"runAsUser": 1000, "runAsNonRoot": true},
            "volumes": [
                {"name": "podinfo", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}
                ]}},
                {"name": "site", "configMap": {"name": "site"}},
                {"name": "www", "emptyDir": {}}
            ],
            "initContainers": [
                {
                    "name": "helper",
                    "image": busybox,
                    "restartPolicy": "Always",
                    "command": ["/bin/sh", "-c", "sleep 1; trap 'exit 0' TERM; httpd -f -p 8081 -h /site & wait"],
                    "ports": [{"name": "helper-http", "containerPort": 8081}],
                    "startupProbe": {
                        "httpGet": {"path": "/index.html", "port": "helper-http"},
                        "periodSeconds": 1,
                        "failureThreshold": 20
                    },
                    "securityContext": {"runAsUser": 0, "runAsNonRoot": false},
                    "volumeMounts": [{"name": "site", "mountPath": "/site", "readOnly": true}]
                },
                {
                    "name": "prepare",
                    "image": busybox,
                    "command": ["/bin/sh", "-c", "cp /site/index.html /www/index.html && echo prepared"],
                    "securityContext": {"runAsUser": 0, "runAsNonRoot": false},
                    "volumeMounts": [
                        {"name": "site", "mountPath": "/site", "readOnly": true},
                        {"name": "www", "mountPath": "/www"}
                    ]
                }
            ],
            "containers": [{
                "name": "web",
                "image": busybox,
                "command": ["/bin/sh", "-c"],
                "args": [concat!(
                    "echo \"greeting=$GREETING\"; echo \"literal=$LITERAL\"; echo \"tier=$TIER\"; ",
                    "echo \"arg=$(POD_NAME)\"; cat /etc/podinfo/labels; echo; echo to-stderr >&2; ",
                    "touch /rootfs-probe 2>/dev/null && echo rootfs=writable || echo rootfs=read-only; ",
                    "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"
                )],
                "env": [
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "GREETING", "value": "hello from $(POD_NAME) at $(POD_IP)"},
                    {"name": "LITERAL", "value": "$$(POD_NAME) $(UNSET) $("},
                    {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}}
                ],
                "resources": {
                    "requests": {"cpu": "250m", "memory": "32Mi"},
                    "limits": {"cpu": "500m", "memory": "64Mi"}
                },
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                    "seccompProfile": {"type": "RuntimeDefault"}
                },
                "terminationMessagePath": "/dev/termination-log",
                "volumeMounts": [
                    {"name": "www", "mountPath": "/www", "readOnly": true},
                    {"name": "podinfo", "mountPath": "/etc/podinfo", "readOnly": true}
                ]
            }]
        }
    }))
    .unwrap()
}

fn host_pod(node_name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "agent-x1", "namespace": "kube-system", "uid": "2b0f6c1e-8d1a-4c3e-9a57-61f1c6a0e002"},
        "spec": {
            "nodeName": node_name,
            "hostNetwork": true,
            "hostPID": true,
            "terminationGracePeriodSeconds": 5,
            "containers": [{
                "name": "agent",
                "image": images::BUSYBOX,
                "command": ["/bin/sh", "-c", "hostname; trap 'exit 0' TERM; httpd -f -p 18080 -h /www & wait"]
            }]
        }
    }))
    .unwrap()
}

/// GET `path` from a server that may have been started a moment ago: a refused connection
/// is tried again for up to 5 s (StartContainer returns before the process listens).
fn get(node: &Node, ip: IpAddr, port: u16, path: &str) -> (u16, String) {
    let addr = SocketAddr::new(ip, port);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match node.in_netns(|| http_get(addr, path, Duration::from_secs(5))) {
            Ok(answer) => return answer,
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("GET http://{addr}{path}: {e}"),
        }
    }
}

#[test]
fn busybox_pods_under_containerd_root() {
    let begin = Instant::now();
    let node = Node::start(1, &[&images::pause(), &images::busybox()]);
    let started = begin.elapsed();
    let info = node_info(&node, BTreeMap::new());
    let objects = Objects {
        config_maps: BTreeMap::from([(
            "site".to_string(),
            BTreeMap::from([("index.html".to_string(), SITE.to_string())]),
        )]),
        ..Default::default()
    };
    let run = run_pod(&node, web_pod(&info.name), info.clone(), &objects);
    let pod_ip: IpAddr = run.pod_ips[0].parse().unwrap();
    assert!(
        node.pod_subnet
            .starts_with(&run.pod_ips[0][..run.pod_ips[0].rfind('.').unwrap()]),
        "{} not in {}",
        run.pod_ips[0],
        node.pod_subnet
    );
    let names: Vec<&str> = run.containers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["helper", "prepare", "web"], "the kubelet's order");
    let probe = &run.probes[0];
    assert!(probe.succeeded && probe.container == "helper", "{probe:?}");
    // The helper sleeps a second before serving: the first attempt fails, a later one passes.
    assert!(probe.attempts >= 2, "{probe:?}");
    assert_eq!(run.state("prepare"), (ContainerState::ContainerExited, 0));

    // HTTP from the node's namespace: the app serves what the init container copied.
    assert_eq!(get(&node, pod_ip, 8080, "/"), (200, SITE.to_string()));
    assert_eq!(
        get(&node, pod_ip, 8081, "/index.html"),
        (200, SITE.to_string())
    );

    // Logs in the CRI format, with the environment as the kubelet expanded it.
    let log = run.wait_log("web", "rootfs=", Duration::from_secs(10));
    let lines: Vec<(&str, &str)> = log
        .lines()
        .map(|l| {
            let mut parts = l.splitn(4, ' ');
            let time = parts.next().unwrap();
            assert!(time.contains('T') && time.ends_with('Z'), "{l}");
            let stream = parts.next().unwrap();
            assert_eq!(parts.next(), Some("F"), "{l}");
            (stream, parts.next().unwrap_or(""))
        })
        .collect();
    let stdout: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| *s == "stdout")
        .map(|(_, l)| *l)
        .collect();
    let greeting = format!("greeting=hello from web-0 at {pod_ip}");
    assert_eq!(
        stdout,
        [
            greeting.as_str(),
            "literal=$(POD_NAME) $(UNSET) $(",
            "tier=front",
            "arg=web-0",
            "app=\"web\"",
            "tier=\"front\"",
            "rootfs=read-only",
        ],
        "{log}"
    );
    assert!(lines.contains(&("stderr", "to-stderr")), "{log}");
    assert!(run.log("prepare").contains(" stdout F prepared"));

    // The Downward-API volume as the atomic writer leaves it.
    let podinfo = cri::kubelet::volumes::pod_dir(&run.pod, &info)
        .join("volumes/kubernetes.io~downward-api/podinfo");
    let data = std::fs::read_link(podinfo.join("..data")).unwrap();
    let data = data.to_str().unwrap();
    assert!(data.starts_with("..") && data.len() > 22, "{data}");
    assert_eq!(
        std::fs::read_link(podinfo.join("labels")).unwrap(),
        std::path::Path::new("..data/labels")
    );
    let annotations = std::fs::read_to_string(podinfo.join("annotations")).unwrap();
    assert_eq!(
        annotations,
        format_map(run.pod.metadata.annotations.as_ref().unwrap()),
    );
    assert!(
        annotations.ends_with("\nnote=\"say \\\"hi\\\"\\tthen leave\""),
        "{annotations}"
    );

    // Each container's process as the runtime made it.
    let web = run.process_status("web");
    assert_eq!(web["Uid"].split_whitespace().next(), Some("1000"));
    assert_eq!(hex(&web["CapEff"]), 0, "{web:?}");
    assert_eq!(hex(&web["CapPrm"]), 0);
    assert_eq!(hex(&web["CapBnd"]), 1 << 10, "NET_BIND_SERVICE only");
    assert_eq!(web["NoNewPrivs"], "1");
    assert_eq!(web["Seccomp"], "2", "RuntimeDefault is a filter");
    let helper = run.process_status("helper");
    assert_eq!(helper["Uid"].split_whitespace().next(), Some("0"));
    assert_eq!(
        hex(&helper["CapEff"]),
        0xa80425fb,
        "containerd's 14 defaults"
    );
    assert_eq!(helper["NoNewPrivs"], "0");
    assert_eq!(helper["Seccomp"], "0", "Unconfined without seccompDefault");
    assert_eq!(
        cgroup_file(&run, "memory", "web", "memory.limit_in_bytes"),
        "67108864"
    );
    assert_eq!(cgroup_file(&run, "cpu", "web", "cpu.shares"), "256");
    assert_eq!(cgroup_file(&run, "cpu", "web", "cpu.cfs_quota_us"), "50000");
    assert_eq!(
        cgroup_file(&run, "cpu", "web", "cpu.cfs_period_us"),
        "100000"
    );

    // A host-network, host-PID pod: the node's namespace and address, an empty hostname
    // (the node's).
    let host = run_pod(
        &node,
        host_pod(&info.name),
        info.clone(),
        &Objects::default(),
    );
    assert_eq!(host.pod_ips, [node.address.to_string()]);
    let (code, body) = get(&node, node.address.into(), 18080, "/");
    assert_eq!((code, body.as_str()), (200, images::BUSYBOX_INDEX));
    let agent = host.pid("agent");
    let netns = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let node_netns = std::fs::metadata(format!("/run/netns/{}", node.name))
        .unwrap()
        .ino();
    let node_netns = std::path::PathBuf::from(format!("net:[{node_netns}]"));
    assert_eq!(
        netns(agent),
        node_netns,
        "host network is the node's namespace"
    );
    assert_ne!(
        netns(run.pid("web")),
        node_netns,
        "a pod network is the pod's own"
    );
    let pidns = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_eq!(
        pidns(agent),
        pidns(std::process::id()),
        "host PID namespace"
    );
    let hostname = host.wait_log("agent", "stdout", Duration::from_secs(10));
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        hostname.contains(&format!(" stdout F {}", machine.trim())),
        "{hostname}"
    );

    // StopContainer: SIGTERM, the shell's trap, exit 0 well within the grace period.
    let stopping = run.stop_container("web");
    assert_eq!(run.state("web"), (ContainerState::ContainerExited, 0));
    assert!(stopping < Duration::from_secs(4), "{stopping:?}");
    host.stop();
    run.stop();
    let (web_start, host_start) = (run.start_time, host.start_time);
    let probe = probe.clone();
    drop((run, host));

    let left = node.shut_down();
    assert!(left.is_empty(), "left behind: {left:#?}");
    println!(
        "containerd ready in {started:?}; web pod started in {web_start:?} (startup probe \
         {:?}, {} attempts); host pod in {host_start:?}; StopContainer {stopping:?}; \
         start to teardown {:?}",
        probe.elapsed,
        probe.attempts,
        begin.elapsed()
    );
}
