//! Node mode as the chart's DaemonSet runs it, under containerd through its CRI (it/cri).
//! Needs root, containerd, runc, the CNI plugins, busybox-static, tcpdump, tshark, helm and
//! the release binary (`scripts/image.sh` makes the image from it).
//!
//! `helm template` renders the chart with `it/fixtures/chart/node-cri.yaml` (node mode
//! alone, no process scan) and the test's collector; the DaemonSet's pod template and its
//! ConfigMap run exactly as rendered (host network, its mounts with HostToContainer
//! propagation, its capabilities, read-only root, seccomp RuntimeDefault), made into the pod
//! that the DaemonSet controller, the API server and the scheduler would make of it (a
//! name, a UID, the controller's labels and owner, the node, the service-account token
//! volume). Beside it, busybox httpd pods of a Deployment and a StatefulSet, started first:
//! their addresses exist only once their sandboxes run.
//!
//! Substitutions, since no API server or registry is reachable:
//! - the pod index is a PodList file instead of a watch on the API server: the application
//!   pods as the kubelet reports them (`it/cri/kubelet/status.rs`, from their CRI status),
//!   on a hostPath volume of the chart's `node.extraVolumes`, selected with
//!   `PODFLOW_K8S__SOURCE=file:...` in `node.env`;
//! - the hostPath `/var/run/netns` is the directory where this containerd bind-mounts its
//!   pods' network namespaces (`netns_mounts_under_state_dir`), made a shared mount as a
//!   node's root is;
//! - the service-account token and CA are placeholders (podflow does not read them here).
//!
//! Which pod owns which namespace comes from containerd's own records, through its CRI
//! socket, whose directory the chart mounts (`node.runtimeEndpoint`; here the hostPath
//! `/run/containerd` is the test's containerd directory).
//!
//! Traffic: HTTP from the node to every pod, and from pod to pod (CRI ExecSync of busybox
//! wget); a fourth pod, not in the PodList, started and stopped while podflow runs (named
//! as the runtime names it). A namespace that is no sandbox, mounted beside the pods' with
//! the first pod's address (`cri_node/impostor.rs`), sends to the node: none of it may be
//! recorded as that pod's. Every connection's records are checked against tcpdump on the
//! pods' host-side veths (`cri_node/records.rs`); the pods are made in `cri_node/pods.rs`.

mod common;
mod cri;
#[path = "common/helm.rs"]
mod helm;
#[path = "cri_node/impostor.rs"]
mod impostor;
#[path = "cri_node/pods.rs"]
mod pods;
#[path = "cri_node/records.rs"]
mod records;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use cri::collector::Collector;
use cri::images;
use cri::kubelet::Objects;
use cri::node::Node;
use cri::probe::http_get;
use cri::runner::{node_info, run_pod, PodRun};
use cri::wire::{interface_to, Tcpdump, SETTLE};
use k8s_openapi::api::core::v1::Pod;
use podflow::ipfix::DataRecord;
use podflow::node::cri::ContainerState;
use pods::{app_pod, daemonset_pod, ipv4, pod_list, render_chart, APPS, APP_PORT, DAEMONSET};
use records::{check_attribution, check_between, check_from_node, decode, http_records};
use records::{link_local, s, u, Observed};
use serde_json::{json, Value};

const TAG: u8 = 3;
const COLLECTOR_PORT: u16 = 4739;
/// The chart's default `node.telemetryPort`, on the node's addresses.
const TELEMETRY_PORT: u16 = 9477;
/// The hostPath volumes of the rendered pod, mapped to the node's directories.
const NETNS_DIR: &str = "/var/run/netns";
const POD_LIST_DIR: &str = "/var/lib/podflow";
/// The directory of the chart's default `node.runtimeEndpoint`.
const RUNTIME_DIR: &str = "/run/containerd";
/// The pcap filter of the captures that the records are checked against.
const HTTP: &str = "tcp port 8080";

/// The node pod's metrics, one value by name.
fn metrics(node: &Node) -> BTreeMap<String, u64> {
    let addr = SocketAddr::new(node.address.into(), TELEMETRY_PORT);
    let (_, body) = node
        .in_netns(|| http_get(addr, "/metrics", Duration::from_secs(2)))
        .unwrap_or_default();
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Waits until `ok` holds for the node pod's metrics; how long that took.
fn wait_metrics(node: &Node, what: &str, ok: impl Fn(&BTreeMap<String, u64>) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let m = metrics(node);
        if ok(&m) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no {what}: {m:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP GET of the busybox index, from the node's namespace.
fn get_from_node(node: &Node, ip: Ipv4Addr) {
    let addr = SocketAddr::new(ip.into(), APP_PORT);
    let answer = node.in_netns(|| http_get(addr, "/", Duration::from_secs(5)));
    let (code, body) = answer.unwrap_or_else(|e| panic!("GET {addr}: {e}"));
    assert_eq!((code, body.as_str()), (200, images::BUSYBOX_INDEX));
}

/// busybox wget in `from`'s container against `to`, through the CRI's ExecSync.
fn get_from_pod(node: &Node, from: &PodRun, to: Ipv4Addr) {
    let url = format!("http://{to}:{APP_PORT}/");
    let cmd = ["/bin/busybox", "wget", "-q", "-O", "-", &url];
    let out = node.cri().exec_sync(from.id("web"), &cmd, 10).unwrap();
    assert_eq!(
        (out.exit_code, String::from_utf8_lossy(&out.stdout).as_ref()),
        (0, images::BUSYBOX_INDEX),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The mount at `point` in the process's mount namespace: its options and optional fields
/// (propagation).
fn mount_of(pid: u32, point: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap()
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(point))
        .unwrap_or_else(|| panic!("nothing mounted at {point} in process {pid}"))
        .to_string()
}

/// The node pod's JSON log lines (after the CRI log prefix).
fn log_lines(run: &PodRun) -> Vec<Value> {
    run.log("podflow")
        .lines()
        .filter_map(|l| l.splitn(4, ' ').nth(3))
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect()
}

/// The node pod's process as the runtime made it: root with NET_RAW and SYS_ADMIN and
/// nothing else, seccomp filtering, the node's network but a PID namespace of its own, a
/// read-only root, and the netns directory a slave of the node's (HostToContainer). Its
/// capability sets.
fn assert_node_process(node: &Node, run: &PodRun) -> [u64; 3] {
    let pid = run.pid("podflow");
    let status = run.process_status("podflow");
    let caps = ["CapEff", "CapPrm", "CapBnd"].map(|k| u64::from_str_radix(&status[k], 16).unwrap());
    const NET_RAW: u64 = 1 << 13;
    const SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(caps, [NET_RAW | SYS_ADMIN; 3], "{status:?}");
    assert_eq!(status["Uid"].split_whitespace().next(), Some("0"));
    assert_eq!(status["Seccomp"], "2", "RuntimeDefault is a filter");
    assert_eq!(status["NoNewPrivs"], "0");
    let ns = |pid: u32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    let test = std::process::id();
    assert_ne!(ns(pid, "pid"), ns(test, "pid"), "not the node's PIDs");
    let node_net = node.in_netns(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap());
    assert_eq!(ns(pid, "net"), node_net, "host network: the node's");
    let root = mount_of(pid, "/");
    assert!(root.contains(" ro,"), "{root}");
    let netns = mount_of(pid, NETNS_DIR);
    assert!(netns.contains(" master:"), "HostToContainer: {netns}");
    caps
}

/// The node pod's log: each pod's namespace named once (the late one as the runtime names
/// it), the impostor's refused once, no error, and at the end as many records exported as
/// the collector got, none unsent.
fn assert_log(run: &PodRun, exported: usize) {
    let lines = log_lines(run);
    let message = |m: &str| lines.iter().filter(|l| l["message"] == m).count();
    assert_eq!(message("capturing pod namespace"), 4, "{lines:#?}");
    let late = lines
        .iter()
        .find(|l| l["message"] == "capturing pod namespace" && l["pod"] == "ops/debug-shell");
    assert_eq!(late.expect("the late pod")["in_index"], false);
    let unknown =
        "not capturing a network namespace that no pod sandbox of the container runtime owns";
    assert_eq!(message(unknown), 1, "{lines:#?}");
    assert!(lines.iter().all(|l| l["level"] != "ERROR"), "{lines:#?}");
    let done = lines.iter().find(|l| l["message"] == "done");
    let done = done.expect("the last line");
    assert_eq!(done["records"], exported, "{done}");
    assert_eq!(done["not_sent"], 0, "{done}");
    assert_eq!(done["kernel_drops"], 0, "{done}");
}

#[test]
fn node_daemonset_under_containerd_root() {
    let begin = Instant::now();
    let podflow = images::podflow();
    let node = Node::start(TAG, &[&images::pause(), &images::busybox(), &podflow]);
    let netns = node.share_netns_dir();
    let pod_list_dir = node.dir.join("pod-list");
    std::fs::create_dir(&pod_list_dir).unwrap();
    let host_paths = [
        (NETNS_DIR, netns.clone()),
        (POD_LIST_DIR, pod_list_dir.clone()),
        (RUNTIME_DIR, node.dir.clone()),
    ];
    let info = node_info(&node, host_paths.map(|(k, v)| (k.to_string(), v)).into());
    let collector = Collector::start(&node, COLLECTOR_PORT);

    // The application pods first: their addresses exist once their sandboxes run.
    let apps: Vec<(Pod, PodRun)> = (0..3)
        .map(|i| {
            let pod = app_pod(i, &info.name);
            let run = run_pod(&node, pod.clone(), info.clone(), &Objects::default());
            (pod, run)
        })
        .collect();
    let list = pod_list(&node, &apps);
    for (item, (_, run)) in list["items"].as_array().unwrap().iter().zip(&apps) {
        assert_eq!(item["status"]["phase"], "Running", "{item}");
        assert_eq!(item["status"]["podIPs"], json!([{"ip": run.pod_ips[0]}]));
        assert_eq!(item["status"]["hostIP"], node.address.to_string());
    }
    let text = serde_json::to_vec_pretty(&list).unwrap();
    std::fs::write(pod_list_dir.join("pods.json"), text).unwrap();
    // What crosses a pod's eth0 crosses its veth's host end, in the node's namespace.
    let capture = |run: &PodRun, file: &str| {
        let veth = interface_to(&node, ipv4(run));
        Tcpdump::start(&node, &veth, HTTP, &node.dir.join(file))
    };
    let dumps: Vec<Tcpdump> = apps
        .iter()
        .enumerate()
        .map(|(i, (_, run))| capture(run, &format!("pod-{i}.pcap")))
        .collect();

    // A namespace that is no sandbox, beside the pods', claiming the first pod's address.
    let impostor = impostor::Impostor::start(&node, &netns, "cni-impostor", ipv4(&apps[0].1));

    // The node pod, as rendered.
    let (template, config) = render_chart(node.address);
    let pod = daemonset_pod(&template, &info.name);
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.host_network, Some(true));
    assert_eq!(spec.host_pid, None, "no process scan, no host PIDs");
    let image = spec.containers[0].image.as_deref();
    assert_eq!(image, Some(podflow.reference.as_str()));
    let ca = BTreeMap::from([("ca.crt".to_string(), "placeholder CA\n".to_string())]);
    let objects = Objects {
        config_maps: BTreeMap::from([
            (DAEMONSET.to_string(), config),
            ("kube-root-ca.crt".to_string(), ca),
        ]),
        service_account_token: Some("placeholder-token".into()),
        ..Default::default()
    };
    // run_pod's first call to the runtime is RunPodSandbox.
    let sandbox_start = Instant::now();
    let agent = run_pod(&node, pod, info.clone(), &objects);
    let started = sandbox_start.elapsed();
    let caps = assert_node_process(&node, &agent);
    println!(
        "node pod capabilities: CapEff {:016x} CapPrm {:016x} CapBnd {:016x}",
        caps[0], caps[1], caps[2]
    );

    let readyz = SocketAddr::new(node.address.into(), TELEMETRY_PORT);
    loop {
        let answer = node.in_netns(|| http_get(readyz, "/readyz", Duration::from_secs(1)));
        if matches!(answer, Ok((200, _))) {
            break;
        }
        let log = agent.log("podflow");
        let waited = sandbox_start.elapsed();
        assert!(
            waited < Duration::from_secs(30),
            "not ready: {answer:?}; its log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let ready = sandbox_start.elapsed();
    // Three pods' eth0; on the node only the impostor's veth end (the node's other
    // interfaces are loopback and the pods' veth host ends, whose packets are counted
    // inside the pods). The impostor is found, and not captured.
    wait_metrics(&node, "three pod namespaces", |m| {
        m.get("podflow_node_namespaces_with_pod") == Some(&3)
            && m.get("podflow_node_namespaces") == Some(&3)
            && m.get("podflow_node_interfaces") == Some(&4)
            && m.get("podflow_node_namespaces_unknown") == Some(&1)
            && m.get("podflow_node_runtime_up") == Some(&1)
    });
    let capturing = sandbox_start.elapsed();

    // From the node: one, two and three connections to the three pods; then pod to pod,
    // around the ring.
    for (i, (_, run)) in apps.iter().enumerate() {
        for _ in 0..=i {
            get_from_node(&node, ipv4(run));
        }
    }
    let ring = [(0, 1), (1, 2), (2, 0)];
    for (a, b) in ring {
        get_from_pod(&node, &apps[a].1, ipv4(&apps[b].1));
    }
    let impostor_port = impostor.send(SocketAddrV4::new(node.address, 9), 10);

    // A pod that starts now is found under the runtime too (inotify on the mounted
    // directory); the PodList does not name it, so it is captured with the node's identity.
    let late_start = Instant::now();
    let late_spec = app_pod(3, &info.name);
    let late = run_pod(&node, late_spec.clone(), info.clone(), &Objects::default());
    wait_metrics(&node, "the fourth namespace", |m| {
        m.get("podflow_node_namespaces") == Some(&4) && m.get("podflow_node_interfaces") == Some(&5)
    });
    let found_late = late_start.elapsed();
    let late_dump = capture(&late, "pod-late.pcap");
    get_from_node(&node, ipv4(&late));
    let late_link = link_local(&node, &late);
    std::thread::sleep(SETTLE);
    // Named as the runtime names it: name, namespace and UID, no workload.
    let late_pod = Observed {
        app: Some(&APPS[3]),
        listed: false,
        uid: late_spec.metadata.uid.clone().unwrap(),
        ip: ipv4(&late),
        link: late_link,
        wire: late_dump.stop(),
    };
    late.stop();
    node.cri().remove_pod_sandbox(&late.sandbox_id).unwrap();
    wait_metrics(&node, "the fourth namespace gone", |m| {
        m.get("podflow_node_namespaces") == Some(&3)
            && m.get("podflow_node_namespaces_removed_total") == Some(&1)
    });
    // Long after the ring's traffic: no packet is still held in a block of tcpdump's.
    let mut pods: Vec<Observed> = apps
        .iter()
        .zip(dumps)
        .zip(&APPS)
        .map(|(((pod, run), dump), app)| Observed {
            app: Some(app),
            listed: true,
            uid: pod.metadata.uid.clone().unwrap(),
            ip: ipv4(run),
            link: link_local(&node, run),
            wire: dump.stop(),
        })
        .collect();

    // StopContainer: SIGTERM; every live flow is ended and exported, exit 0.
    let stopping = agent.stop_container("podflow");
    let log = agent.log("podflow");
    let state = agent.state("podflow");
    assert_eq!(
        state,
        (ContainerState::ContainerExited, 0),
        "its log:\n{log}"
    );
    let received = collector.wait_quiet(Duration::from_secs(2), Duration::from_secs(30));
    let (records, first_message, first_record) = decode(&received);
    // What crossed the impostor's veth (its datagrams, its neighbour discovery): only on
    // the node's end, as the node's; nothing of it inside a pod.
    let (spoofed, records): (Vec<DataRecord>, Vec<DataRecord>) = records
        .into_iter()
        .partition(|r| r.get_str("interfaceName") == Some(impostor::HOST_END));
    let port = Some(u64::from(impostor_port));
    assert!(
        spoofed
            .iter()
            .any(|r| r.get_u64("sourceTransportPort") == port),
        "the node's end saw the impostor's datagrams: {spoofed:#?}"
    );
    assert!(!records
        .iter()
        .any(|r| r.get_u64("sourceTransportPort") == port));
    for r in &spoofed {
        assert_eq!(u(r, "k8sObservationPoint"), 3, "{r:?}");
        assert_eq!(s(r, "k8sPodName"), "", "{r:?}");
    }
    let http = http_records(&records);
    assert_eq!(http.len(), 6 + 2 * ring.len() + 1, "{http:#?}");
    for r in &http {
        assert_eq!(u(r, "k8sObservationPoint"), 2, "inside a pod: {r:?}");
        assert_eq!(s(r, "interfaceName"), "eth0");
        assert_eq!(s(r, "k8sNodeName"), info.name);
        assert_eq!(s(r, "k8sClusterName"), "lab");
    }
    for (i, pod) in pods.iter().enumerate() {
        check_from_node(&http, pod, &pods, i + 1);
    }
    for (a, b) in ring {
        check_between(&http, &pods[a], &pods[b], &info.name);
    }
    pods.push(late_pod);
    check_from_node(&http, &pods[3], &pods, 1);
    check_attribution(&records, &pods);
    assert_log(&agent, records.len() + spoofed.len());

    for run in apps.iter().map(|(_, run)| run).chain([&agent]) {
        run.stop();
    }
    drop((apps, agent, late, collector, impostor));
    let left = node.shut_down();
    assert!(left.is_empty(), "left behind: {left:#?}");
    let since = |at: Option<Instant>| at.map(|t| t.duration_since(sandbox_start));
    println!(
        "node pod: RunPodSandbox to running {started:?}, to /readyz 200 {ready:?}, to three \
         pods captured {capturing:?}, to the first IPFIX message {:?}, to the first flow \
         record {:?}; a new pod's namespace captured {found_late:?} after its RunPodSandbox; \
         StopContainer {stopping:?}; {} flow records; start to teardown {:?}",
        since(first_message),
        since(first_record),
        records.len(),
        begin.elapsed()
    );
}
