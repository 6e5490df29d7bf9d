//! The real `podflow --mode node` in a "node" network namespace, as the DaemonSet runs it
//! with hostNetwork: three "pod" namespaces joined to the node by veth pairs and routed
//! the way Calico does it (a /32 per pod, proxy ARP on the host ends), a "remote" namespace
//! behind the node's uplink standing for a pod on another node, pod identities from a
//! PodList file. Real TCP between every pair of pods, to and from the remote pod, and from
//! the node; a fourth pod namespace appears after start and disappears while a connection
//! is open. IPFIX goes over UDP to a collector on the node's loopback. Needs root; every
//! namespace is deleted when the test ends, however it ends.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use podflow::ipfix::DataRecord;
use serde_json::json;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn exec(ns: &str, program: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]);
    cmd
}

fn python_in(ns: &str, args: &[&str]) -> Command {
    let mut cmd = exec(ns, "python3");
    cmd.arg(root().join("it/py/traffic.py")).args(args);
    cmd
}

/// A node namespace, its pods and a remote namespace; all deleted on drop.
struct Cluster {
    node: String,
    remote: String,
    /// Namespace name of pod `i` (1-based).
    pods: BTreeMap<u8, String>,
    /// What podflow is told to watch (`node.netns_dirs`): links to the pods' namespaces.
    netns_dir: PathBuf,
}

const REMOTE: &str = "10.254.9.2";
const NODE: &str = "10.254.9.1";

fn pod_ip(i: u8) -> String {
    format!("10.254.1.{i}")
}

impl Cluster {
    fn new(dir: &Path) -> Cluster {
        let id = std::process::id();
        let c = Cluster {
            node: format!("pf-node-{id}"),
            remote: format!("pf-remote-{id}"),
            pods: BTreeMap::new(),
            netns_dir: dir.join("netns"),
        };
        std::fs::create_dir(&c.netns_dir).unwrap();
        for ns in [&c.node, &c.remote] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let (node, remote) = (c.node.as_str(), c.remote.as_str());
        ip(&[
            "link", "add", "eth0", "netns", node, "type", "veth", "peer", "name", "eth0", "netns",
            remote,
        ]);
        ip(&[
            "-n",
            node,
            "addr",
            "add",
            &format!("{NODE}/24"),
            "dev",
            "eth0",
        ]);
        ip(&[
            "-n",
            remote,
            "addr",
            "add",
            &format!("{REMOTE}/24"),
            "dev",
            "eth0",
        ]);
        for ns in [node, remote] {
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
        }
        ip(&["-n", remote, "route", "add", "10.254.1.0/24", "via", NODE]);
        // The node routes between its pods and the uplink; proxy ARP on the pods' veths
        // needs a route for the pods' gateway address, which the default route gives.
        ip(&["-n", node, "route", "add", "default", "via", REMOTE]);
        run(exec(node, "sysctl").args(["-qw", "net.ipv4.ip_forward=1"]));
        c
    }

    /// Adds pod `i`: its namespace, `eth0` with a /32, the host end `vethp<i>`; linked
    /// into the watched directory when `watched`.
    fn add_pod(&mut self, i: u8, watched: bool) {
        let ns = format!("pf-pod{i}-{}", std::process::id());
        ip(&["netns", "add", &ns]);
        self.pods.insert(i, ns.clone());
        let veth = format!("vethp{i}");
        ip(&[
            "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &veth, "netns",
            &self.node,
        ]);
        let addr = pod_ip(i);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/32"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&[
            "-n",
            &ns,
            "route",
            "add",
            "169.254.1.1",
            "dev",
            "eth0",
            "scope",
            "link",
        ]);
        ip(&[
            "-n",
            &ns,
            "route",
            "add",
            "default",
            "via",
            "169.254.1.1",
            "dev",
            "eth0",
        ]);
        ip(&["-n", &self.node, "link", "set", &veth, "up"]);
        run(exec(&self.node, "sysctl").args(["-qw", &format!("net.ipv4.conf.{veth}.proxy_arp=1")]));
        ip(&[
            "-n",
            &self.node,
            "route",
            "add",
            &format!("{addr}/32"),
            "dev",
            &veth,
        ]);
        if watched {
            self.watch(i);
        }
    }

    fn watch(&self, i: u8) {
        let ns = &self.pods[&i];
        std::os::unix::fs::symlink(
            Path::new("/var/run/netns").join(ns),
            self.netns_dir.join(ns),
        )
        .unwrap();
    }

    /// Removes pod `i` as the runtime does: the bind mount goes, the namespace with it.
    fn remove_pod(&mut self, i: u8) {
        let ns = self.pods.remove(&i).unwrap();
        std::fs::remove_file(self.netns_dir.join(&ns)).unwrap();
        ip(&["netns", "del", &ns]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for ns in self.pods.values().chain([&self.node, &self.remote]) {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The PodList podflow reads: the four local pods, the remote one on node-2, and a pod
/// that has no address yet.
fn pod_list() -> serde_json::Value {
    let pod = |name: &str,
               ns: &str,
               ip: Option<&str>,
               node: &str,
               owner: serde_json::Value,
               labels: serde_json::Value| {
        let mut status = json!({"phase": "Running", "hostIP": NODE});
        if let Some(ip) = ip {
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        } else {
            status["phase"] = json!("Pending");
        }
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": name, "namespace": ns, "uid": format!("uid-{name}"),
                "creationTimestamp": "2026-11-26T08:00:00Z",
                "labels": labels, "ownerReferences": owner,
                "managedFields": [{"manager": "kubelet", "operation": "Update"}]
            },
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app"}]},
            "status": status
        })
    };
    let controller = |kind: &str, name: &str| json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "owner", "controller": true}]);
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [
        pod("web-7c9d8f6b5-x2x9k", "shop", Some(&pod_ip(1)), "node-1",
            controller("ReplicaSet", "web-7c9d8f6b5"), json!({"app": "web", "pod-template-hash": "7c9d8f6b5"})),
        pod("db-0", "shop", Some(&pod_ip(2)), "node-1", controller("StatefulSet", "db"), json!({"app": "db"})),
        pod("debug", "ops", Some(&pod_ip(3)), "node-1", json!([]), json!({})),
        pod("report-29400480-abcde", "ops", Some(&pod_ip(4)), "node-1",
            controller("Job", "report-29400480"), json!({"job-name": "report-29400480"})),
        pod("api-0", "shop", Some(REMOTE), "node-2", controller("StatefulSet", "api"), json!({"app": "api"})),
        pod("waiting", "shop", None, "node-1", json!([]), json!({})),
    ]})
}

/// (name, workload name, workload kind) of pod `i`.
fn who(i: u8) -> (&'static str, &'static str, &'static str) {
    match i {
        1 => ("web-7c9d8f6b5-x2x9k", "web", "Deployment"),
        2 => ("db-0", "db", "StatefulSet"),
        3 => ("debug", "debug", "Pod"),
        4 => ("report-29400480-abcde", "report", "CronJob"),
        _ => unreachable!(),
    }
}

fn metric(node_ns: &str, listen: &str, name: &str) -> Option<u64> {
    let out = exec(node_ns, "curl")
        .args(["-s", &format!("http://{listen}/metrics")])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    t0.elapsed()
}

/// One TCP conversation: who connected where from which port.
struct Conversation {
    client: String,
    port: u16,
    server: String,
    up: u64,
    down: u64,
}

fn converse(from_ns: &str, from_ip: &str, to_ip: &str, up: u64, down: u64) -> Conversation {
    let port = run(&mut python_in(
        from_ns,
        &[
            "tcp-client",
            to_ip,
            "8080",
            &up.to_string(),
            &down.to_string(),
        ],
    ));
    Conversation {
        client: from_ip.to_string(),
        port: port.parse().unwrap(),
        server: to_ip.to_string(),
        up,
        down,
    }
}

fn s<'a>(r: &'a DataRecord, name: &str) -> &'a str {
    r.get_str(name)
        .unwrap_or_else(|| panic!("{name} missing in {r:?}"))
}

fn u(r: &DataRecord, name: &str) -> u64 {
    r.get_u64(name)
        .unwrap_or_else(|| panic!("{name} missing in {r:?}"))
}

/// The records of conversation `c`.
fn of<'a>(records: &'a [DataRecord], c: &Conversation) -> Vec<&'a DataRecord> {
    let client: IpAddr = c.client.parse().unwrap();
    let server: IpAddr = c.server.parse().unwrap();
    records
        .iter()
        .filter(|r| {
            r.get_ip("sourceIPv4Address") == Some(client)
                && r.get_ip("destinationIPv4Address") == Some(server)
                && r.get_u64("sourceTransportPort") == Some(c.port.into())
                && r.get_u64("destinationTransportPort") == Some(8080)
        })
        .collect()
}

fn counts(r: &DataRecord) -> [u64; 4] {
    [
        u(r, "packetDeltaCount"),
        u(r, "octetDeltaCount"),
        u(r, "reversePacketDeltaCount"),
        u(r, "reverseOctetDeltaCount"),
    ]
}

/// The record observed in pod `i` (point 2): right pod, direction, peer, interface.
fn observed_in<'a>(recs: &[&'a DataRecord], i: u8, direction: u64, peer: &str) -> &'a DataRecord {
    let (name, workload, kind) = who(i);
    let mine: Vec<_> = recs
        .iter()
        .filter(|r| u(r, "k8sObservationPoint") == 2 && s(r, "k8sPodName") == name)
        .collect();
    assert_eq!(mine.len(), 1, "one record observed in {name}: {recs:?}");
    let r = mine[0];
    assert_eq!(s(r, "k8sWorkloadName"), workload);
    assert_eq!(s(r, "k8sWorkloadKind"), kind);
    assert_eq!(s(r, "k8sPodUid"), format!("uid-{name}"));
    assert_eq!(s(r, "k8sNodeName"), "node-1");
    assert_eq!(s(r, "interfaceName"), "eth0");
    assert_eq!(u(r, "flowDirection"), direction, "{r:?}");
    assert_eq!(s(r, "k8sPeerPodName"), peer, "{r:?}");
    r
}

#[test]
fn node_mode_attributes_every_flow_to_its_pod_and_peer() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path());
    for i in 1..=3 {
        cluster.add_pod(i, true);
    }
    // Not a network namespace: entering it fails, is logged once and counted.
    std::os::unix::fs::symlink("/proc/self/ns/uts", cluster.netns_dir.join("bogus")).unwrap();
    let pods_file = dir.path().join("pods.json");
    std::fs::write(&pods_file, pod_list().to_string()).unwrap();

    let mut servers = Vec::new();
    for ns in cluster.pods.values().chain([&cluster.remote]) {
        servers.push(start(python_in(ns, &["tcp-server", "0.0.0.0", "8080"])).0);
    }
    let ipfix = dir.path().join("collector.ipfix");
    let (_collector, _) = start({
        let mut c = exec(&cluster.node, "python3");
        c.arg(root().join("it/py/udp_sink.py"))
            .args(["127.0.0.1", "4739"])
            .arg(&ipfix);
        c
    });
    let listen = "127.0.0.1:9478";
    let log = dir.path().join("podflow.log");
    // The real binary behind `ip netns exec`: it runs in the node namespace, as with
    // hostNetwork, with a clean environment.
    let podflow_bin = podflow_process().get_program().to_owned();
    let mut cmd = exec(&cluster.node, "env");
    cmd.arg("-i")
        .arg(format!(
            "PATH={}",
            std::env::var("PATH").unwrap_or_default()
        ))
        .args(
            podflow_envs(&pods_file, &cluster, listen)
                .iter()
                .map(|(k, v)| format!("{k}={v}")),
        )
        .arg(&podflow_bin);
    let mut podflow = Background(
        cmd.stderr(std::fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let node = cluster.node.clone();
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("three pod namespaces", Duration::from_secs(20), || {
        metric(&node, listen, "podflow_node_namespaces_with_pod") == Some(3)
    });

    // Every ordered pair of pods, sizes unique per conversation.
    let mut east_west = Vec::new();
    for a in 1..=3u8 {
        for b in 1..=3u8 {
            if a != b {
                let up = 1000 * u64::from(a) + 100 * u64::from(b);
                east_west.push((
                    a,
                    b,
                    converse(&cluster.pods[&a], &pod_ip(a), &pod_ip(b), up, 3 * up),
                ));
            }
        }
    }
    // North-south: every pod to the remote pod, the remote pod to every pod, the node to one.
    let mut outbound = Vec::new();
    let mut inbound = Vec::new();
    for i in 1..=3u8 {
        outbound.push((
            i,
            converse(
                &cluster.pods[&i],
                &pod_ip(i),
                REMOTE,
                5000 + u64::from(i),
                700,
            ),
        ));
        inbound.push((
            i,
            converse(
                &cluster.remote,
                REMOTE,
                &pod_ip(i),
                600,
                9000 + u64::from(i),
            ),
        ));
    }
    let from_node = converse(&cluster.node, NODE, &pod_ip(1), 4321, 1234);

    // A pod created after start is captured long before the 60 s rescan: inotify.
    cluster.add_pod(4, true);
    let picked = wait_for("the fourth namespace", Duration::from_secs(10), || {
        metric(&node, listen, "podflow_node_namespaces_with_pod") == Some(4)
    });
    servers.push(
        start(python_in(
            &cluster.pods[&4],
            &["tcp-server", "0.0.0.0", "8080"],
        ))
        .0,
    );
    let (hold, hold_port) = start(python_in(&cluster.pods[&4], &["tcp-hold", REMOTE, "8080"]));
    std::thread::sleep(Duration::from_millis(1500));
    // The pod goes away with its connection still open: its flows end now, not at shutdown.
    drop(hold);
    cluster.remove_pod(4);
    let hold_port: u64 = hold_port.parse().unwrap();
    let gone_records = || {
        let bytes = std::fs::read(&ipfix).unwrap_or_default();
        flow_records(&decode_stream(&bytes))
            .into_iter()
            .filter(|r| {
                r.get_u64("sourceTransportPort") == Some(hold_port)
                    && r.get_u64("k8sObservationPoint") == Some(2)
            })
            .collect::<Vec<_>>()
    };
    wait_for("the removed pod's flow", Duration::from_secs(10), || {
        !gone_records().is_empty()
    });
    assert_eq!(
        metric(&node, listen, "podflow_node_namespaces_removed_total"),
        Some(1)
    );
    let gone = gone_records();
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(s(&gone[0], "k8sPodName"), who(4).0);
    assert_eq!(s(&gone[0], "k8sWorkloadKind"), "CronJob");
    assert_eq!(
        u(&gone[0], "flowEndReason"),
        4,
        "forced end when the namespace went away"
    );
    assert_eq!(s(&gone[0], "k8sPeerPodName"), "api-0");

    assert_eq!(
        metric(&node, listen, "podflow_node_namespace_errors_total"),
        Some(1)
    );
    run(Command::new("kill").args(["-TERM", &podflow.0.id().to_string()]));
    let status = podflow.0.wait().unwrap();
    assert!(
        status.success(),
        "podflow exited with {status:?}: {}",
        log_text()
    );
    drop(servers);
    std::thread::sleep(Duration::from_millis(300));

    let bytes = std::fs::read(&ipfix).unwrap();
    let records = flow_records(&decode_stream(&bytes));
    let text = log_text();
    assert!(text.contains("capturing pod namespace"), "{text}");
    assert!(!text.contains("ERROR"), "{text}");
    assert_eq!(
        text.matches("cannot enter the network namespace").count(),
        1,
        "{text}"
    );

    for (a, b, c) in &east_west {
        let recs = of(&records, c);
        // Once per observing pod, none on the host: the pods' veth host ends are skipped.
        assert_eq!(recs.len(), 2, "pod {a} -> pod {b}: {recs:?}");
        let at_a = observed_in(&recs, *a, 1, who(*b).0);
        let at_b = observed_in(&recs, *b, 0, who(*a).0);
        assert_eq!(
            counts(at_a),
            counts(at_b),
            "pod {a} -> pod {b}: both ends count the same"
        );
        assert!(u(at_a, "octetDeltaCount") > c.up && u(at_a, "reverseOctetDeltaCount") > c.down);
        assert_eq!(s(at_a, "k8sPeerWorkloadName"), who(*b).1);
        assert_eq!(s(at_a, "k8sPeerNodeName"), "node-1");
        assert_eq!(s(at_a, "k8sClusterName"), "lab");
    }
    for (i, c) in &outbound {
        let recs = of(&records, c);
        assert_eq!(recs.len(), 2, "pod {i} -> remote: {recs:?}");
        let in_pod = observed_in(&recs, *i, 1, "api-0");
        assert_eq!(s(in_pod, "k8sPeerNodeName"), "node-2");
        assert_eq!(s(in_pod, "k8sPeerWorkloadKind"), "StatefulSet");
        let host = recs
            .iter()
            .find(|r| u(r, "k8sObservationPoint") == 3)
            .unwrap();
        assert_eq!(s(host, "interfaceName"), "eth0");
        assert_eq!(s(host, "k8sNodeName"), "node-1");
        assert_eq!(s(host, "k8sPodName"), "");
        assert_eq!(s(host, "k8sPeerPodName"), "api-0");
        assert_eq!(
            counts(host),
            counts(in_pod),
            "the node's uplink sees what the pod sent"
        );
        assert!(u(in_pod, "octetDeltaCount") > c.up);
    }
    for (i, c) in &inbound {
        let recs = of(&records, c);
        let in_pod = observed_in(&recs, *i, 0, "api-0");
        assert!(u(in_pod, "reverseOctetDeltaCount") > c.down);
        let host = recs
            .iter()
            .find(|r| u(r, "k8sObservationPoint") == 3)
            .unwrap();
        // On the node neither end is the node's: the peer is the destination, the pod.
        assert_eq!(s(host, "k8sPeerPodName"), who(*i).0);
        assert_eq!(counts(host), counts(in_pod));
    }
    let recs = of(&records, &from_node);
    assert_eq!(
        recs.len(),
        1,
        "node -> pod 1 is seen in the pod only: {recs:?}"
    );
    observed_in(&recs, 1, 0, "");

    // A standard decoder reads the peer elements by name with the shipped definitions.
    let v = python_ipfix_summary(&ipfix);
    let peers = v["k8s"]["k8sPeerPodName"].as_array().unwrap();
    for name in ["web-7c9d8f6b5-x2x9k", "db-0", "debug", "api-0"] {
        assert!(peers.contains(&json!(name)), "{name} not among {peers:?}");
    }
    let observed = v["k8s"]["k8sPodName"].as_array().unwrap();
    for i in 1..=4 {
        assert!(
            observed.contains(&json!(who(i).0)),
            "{i} not among {observed:?}"
        );
    }
    assert!(v["k8s"]["k8sObservationPoint"]
        .as_array()
        .unwrap()
        .contains(&json!("3")));
    eprintln!("fourth namespace captured {picked:?} after it appeared");
}

/// The environment of the podflow process under test.
fn podflow_envs(pods: &Path, cluster: &Cluster, listen: &str) -> Vec<(String, String)> {
    [
        ("PODFLOW_MODE", "node".to_string()),
        ("PODFLOW_K8S__SOURCE", format!("file:{}", pods.display())),
        ("PODFLOW_K8S__NODE_NAME", "node-1".into()),
        ("PODFLOW_K8S__NODE_IP", NODE.into()),
        ("PODFLOW_K8S__CLUSTER_NAME", "lab".into()),
        (
            "PODFLOW_NODE__NETNS_DIRS",
            format!("[\"{}\"]", cluster.netns_dir.display()),
        ),
        ("PODFLOW_NODE__SCAN_PROCESSES", "false".into()),
        // Long enough that a namespace seen within a few seconds was seen by inotify.
        ("PODFLOW_NODE__RESCAN_SECS", "60".into()),
        ("PODFLOW_TELEMETRY__LISTEN", listen.into()),
        ("PODFLOW_EXPORT__COLLECTOR", "udp://127.0.0.1:4739".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Without the capabilities it needs, node mode stops at once (exit 2) and names the one
/// that is missing.
#[test]
fn missing_capabilities_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods.json");
    std::fs::write(&pods, pod_list().to_string()).unwrap();
    for (cap, named) in [("-sys_admin", "SYS_ADMIN"), ("-net_raw", "NET_RAW")] {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--bounding-set", cap, "--inh-caps", cap])
            .arg(podflow_process().get_program())
            .args(["--mode", "node"])
            .env("PODFLOW_K8S__SOURCE", format!("file:{}", pods.display()))
            .env("PODFLOW_TELEMETRY__LISTEN", "")
            .env("PODFLOW_NODE__NETNS_DIRS", "[]")
            .env("PODFLOW_NODE__SCAN_PROCESSES", "false");
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cap}: {stderr}");
        assert!(stderr.contains(named), "{cap}: {stderr}");
    }
}
