//! The real `podflow --mode node` in a "node" network namespace, as the DaemonSet runs it
//! with hostNetwork: three "pod" namespaces joined to the node by veth pairs and routed
//! the way Calico does it (a /32 per pod, proxy ARP on the host ends), a "remote" namespace
//! behind the node's uplink standing for a pod on another node, pod identities from a
//! PodList file. Real TCP between every pair of pods, to and from the remote pod, and from
//! the node; a fourth pod namespace appears after start and disappears while a connection
//! is open. The pods' sandboxes are known to a CRI on a unix socket (`node_netns/runtime.rs`,
//! answering as containerd does); a namespace that no sandbox owns claims pod 1's address
//! and sends traffic, which no record may attribute to pod 1. IPFIX goes over UDP to a
//! collector on the node's loopback. Needs root; every namespace and mount is removed when
//! the test ends, however it ends.

#[path = "node_netns/cluster.rs"]
mod cluster;
mod common;
#[path = "node_netns/records.rs"]
mod records;
#[path = "node_netns/runtime.rs"]
mod runtime;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster::{exec, ip, pod_ip, pod_list, python_in, Cluster, NODE, REMOTE};
use common::*;
use podflow::ipfix::DataRecord;
use records::{converse, counts, observed_in, of, s, u, who, Conversation};
use serde_json::json;

fn metric(node_ns: &str, listen: &str, name: &str) -> Option<u64> {
    let out = exec(node_ns, "curl")
        .args(["-s", &format!("http://{listen}/metrics")])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The UDP collector on the node's loopback, writing what it gets to `ipfix`.
fn collector(cluster: &Cluster, ipfix: &Path) -> Background {
    let mut c = exec(&cluster.node, "python3");
    c.arg(root().join("it/py/udp_sink.py"))
        .args(["127.0.0.1", "4739"])
        .arg(ipfix);
    start(c).0
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    t0.elapsed()
}

#[test]
fn node_mode_attributes_every_flow_to_its_pod_and_peer() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path());
    for i in 1..=3 {
        cluster.add_pod(i, true);
    }
    // Neither is a namespace, though the runtime names them as its sandboxes': a link to
    // another kind of namespace and a FIFO (which would block an open without O_NONBLOCK).
    let bogus = cluster.netns_dir.join("bogus");
    std::os::unix::fs::symlink("/proc/self/ns/uts", &bogus).unwrap();
    let fifo = cluster.netns_dir.join("cni-fifo");
    run(Command::new("mkfifo").arg(&fifo));
    for (id, path) in [("bogus", &bogus), ("fifo", &fifo)] {
        cluster.runtime.add(runtime::FakeSandbox {
            id: id.into(),
            name: id.into(),
            namespace: "ops".into(),
            uid: format!("uid-{id}"),
            netns: path.clone(),
        });
    }
    // A namespace no sandbox owns, claiming pod 1's address.
    let impostor = cluster.add_impostor(1);
    // Pod 3 with more interfaces than node.max_interfaces_per_namespace (3).
    // Four more: two veth pairs with both ends inside (this kernel has no dummy driver).
    for d in 0..2 {
        let (a, b) = (format!("xa{d}"), format!("xb{d}"));
        ip(&[
            "-n",
            &cluster.pods[&3],
            "link",
            "add",
            &a,
            "type",
            "veth",
            "peer",
            "name",
            &b,
        ]);
        for name in [&a, &b] {
            ip(&["-n", &cluster.pods[&3], "link", "set", name, "up"]);
        }
    }
    let mut servers: Vec<Background> = cluster
        .pods
        .values()
        .chain([&cluster.remote])
        .map(|ns| start(python_in(ns, &["tcp-server", "0.0.0.0", "8080"])).0)
        .collect();
    let ipfix = dir.path().join("collector.ipfix");
    let _collector = collector(&cluster, &ipfix);
    let probe = NodeProbe::start(&cluster, dir.path());
    let caps = probe.capabilities();

    let talks = Talks::make(&cluster);
    // The impostor sends to the remote pod as pod 1 would.
    let impostor_port: u64 = run(&mut python_in(
        &impostor,
        &["udp-send", REMOTE, "9999", "20", "300"],
    ))
    .parse()
    .unwrap();
    let picked = a_pod_comes_and_goes(&mut cluster, &mut servers, &probe, &ipfix);
    for (name, value) in [
        ("podflow_node_namespace_errors_total", 0),
        ("podflow_node_namespaces_unknown", 1),
        ("podflow_node_namespaces_refused_total", 1),
        ("podflow_node_interface_limit_hits_total", 1),
        ("podflow_node_runtime_up", 1),
    ] {
        let log = probe.log_text();
        assert_eq!(
            probe.metric(name),
            Some(value),
            "{name}; podflow's log:\n{log}"
        );
    }
    // Pods 1 and 2's eth0, pod 3's eth0 and two more; on the node its eth0, the impostor's
    // veth end (the impostor is not captured, so its veth is the node's), and pod 4's: its
    // server still holds the namespace that `ip netns del` only unnamed.
    assert_eq!(probe.metric("podflow_node_interfaces"), Some(2 + 3 + 3));
    let text = probe.stop();
    drop(servers);
    std::thread::sleep(Duration::from_millis(300));

    let bytes = std::fs::read(&ipfix).unwrap();
    let records = flow_records(&decode_stream(&bytes));
    assert!(text.contains("capturing pod namespace"), "{text}");
    assert!(!text.contains("ERROR"), "{text}");
    assert!(
        !text.contains("cannot enter the network namespace"),
        "{text}"
    );
    let refused = "not capturing a network namespace that no pod sandbox";
    assert_eq!(text.matches(refused).count(), 1, "{text}");
    assert_eq!(text.matches("too many interfaces").count(), 1, "{text}");
    // Only what node mode uses, out of a root test's every capability.
    const NET_ADMIN: u64 = 1 << 12;
    const NET_RAW: u64 = 1 << 13;
    const SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(
        caps,
        [NET_ADMIN | NET_RAW | SYS_ADMIN; 3],
        "CapEff, CapPrm, CapBnd"
    );
    // The impostor's packets are no pod's: never observed in a pod namespace, and on the
    // node's uplink the node's own, with the remote pod as the peer.
    let spoofed: Vec<&DataRecord> = records
        .iter()
        .filter(|r| r.get_u64("sourceTransportPort") == Some(impostor_port))
        .collect();
    assert!(!spoofed.is_empty(), "the uplink saw the impostor's packets");
    for r in &spoofed {
        assert_eq!(u(r, "k8sObservationPoint"), 3, "{r:?}");
        assert_eq!(s(r, "k8sPodName"), "", "{r:?}");
        assert_eq!(s(r, "k8sPeerPodName"), "api-0", "{r:?}");
    }
    check_east_west(&records, &talks.east_west);
    check_north_south(&records, &talks);
    check_decoded_by_name(&ipfix);
    eprintln!("fourth namespace captured {picked:?} after it appeared");
}

/// The real binary behind `ip netns exec`: it runs in the node namespace, as with
/// hostNetwork, with a clean environment, logging to `podflow.log`.
struct NodeProbe {
    process: Background,
    node: String,
    listen: &'static str,
    log: PathBuf,
}

impl NodeProbe {
    /// Starts it on a PodList of the cluster's pods and waits until it captures the
    /// three pod namespaces.
    fn start(cluster: &Cluster, dir: &Path) -> NodeProbe {
        NodeProbe::start_with(cluster, dir, 3, &[])
    }

    /// Starts it with `extra` environment and waits until it captures `pods` namespaces.
    fn start_with(cluster: &Cluster, dir: &Path, pods: u64, extra: &[(&str, &str)]) -> NodeProbe {
        let pods_file = dir.join("pods.json");
        std::fs::write(&pods_file, pod_list().to_string()).unwrap();
        let listen = "127.0.0.1:9478";
        let log = dir.join("podflow.log");
        let podflow_bin = podflow_process().get_program().to_owned();
        let mut cmd = exec(&cluster.node, "env");
        cmd.arg("-i")
            .arg(format!(
                "PATH={}",
                std::env::var("PATH").unwrap_or_default()
            ))
            .args(
                podflow_envs(&pods_file, cluster, listen)
                    .iter()
                    .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
                    .map(|(k, v)| format!("{k}={v}")),
            )
            .args(extra.iter().map(|(k, v)| format!("{k}={v}")))
            .arg(&podflow_bin);
        let process = Background(
            cmd.stderr(std::fs::File::create(&log).unwrap())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let probe = NodeProbe {
            process,
            node: cluster.node.clone(),
            listen,
            log,
        };
        let t0 = Instant::now();
        while probe.metric("podflow_node_namespaces_with_pod") != Some(pods) {
            let log = probe.log_text();
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{pods} pod namespaces not captured; podflow's log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        probe
    }

    fn metric(&self, name: &str) -> Option<u64> {
        metric(&self.node, self.listen, name)
    }

    /// CapEff, CapPrm and CapBnd of the running process.
    fn capabilities(&self) -> [u64; 3] {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.process.0.id())).unwrap();
        ["CapEff", "CapPrm", "CapBnd"].map(|k| {
            let line = status
                .lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix(":"));
            u64::from_str_radix(line.unwrap().trim(), 16).unwrap()
        })
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM: podflow exits 0. Gives its log.
    fn stop(mut self) -> String {
        run(Command::new("kill").args(["-TERM", &self.process.0.id().to_string()]));
        let status = self.process.0.wait().unwrap();
        assert!(
            status.success(),
            "podflow exited with {status:?}: {}",
            self.log_text()
        );
        self.log_text()
    }
}

/// The conversations made while podflow runs.
struct Talks {
    /// Every ordered pair of pods: (client pod, server pod, conversation).
    east_west: Vec<(u8, u8, Conversation)>,
    /// Every pod to the remote pod.
    outbound: Vec<(u8, Conversation)>,
    /// The remote pod to every pod.
    inbound: Vec<(u8, Conversation)>,
    /// The node to pod 1.
    from_node: Conversation,
}

impl Talks {
    fn make(cluster: &Cluster) -> Talks {
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
        Talks {
            east_west,
            outbound,
            inbound,
            from_node,
        }
    }
}

/// A pod created after start is captured long before the 60 s rescan (inotify); when it
/// goes away with a connection still open, its flows end then, not at shutdown. Gives how
/// long the new namespace took to be captured.
fn a_pod_comes_and_goes(
    cluster: &mut Cluster,
    servers: &mut Vec<Background>,
    probe: &NodeProbe,
    ipfix: &Path,
) -> Duration {
    cluster.add_pod(4, true);
    let picked = wait_for("the fourth namespace", Duration::from_secs(10), || {
        probe.metric("podflow_node_namespaces_with_pod") == Some(4)
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
        let bytes = std::fs::read(ipfix).unwrap_or_default();
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
        probe.metric("podflow_node_namespaces_removed_total"),
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
    picked
}

/// Each conversation between two pods is seen once in each, none on the host (the pods'
/// veth host ends are skipped), and both ends count the same.
fn check_east_west(records: &[DataRecord], east_west: &[(u8, u8, Conversation)]) {
    for (a, b, c) in east_west {
        let recs = of(records, c);
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
}

/// Each conversation with the remote pod is seen in the pod and on the node's uplink,
/// alike; the node's own conversation with a pod only in the pod.
fn check_north_south(records: &[DataRecord], talks: &Talks) {
    for (i, c) in &talks.outbound {
        let recs = of(records, c);
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
    for (i, c) in &talks.inbound {
        let recs = of(records, c);
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
    let recs = of(records, &talks.from_node);
    assert_eq!(
        recs.len(),
        1,
        "node -> pod 1 is seen in the pod only: {recs:?}"
    );
    observed_in(&recs, 1, 0, "");
}

/// A standard decoder reads the peer elements by name with the shipped definitions.
fn check_decoded_by_name(ipfix: &Path) {
    let v = python_ipfix_summary(ipfix);
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
        ("PODFLOW_NODE__RUNTIME_ENDPOINT", cluster.runtime.endpoint()),
        ("PODFLOW_NODE__MAX_INTERFACES_PER_NAMESPACE", "3".into()),
        // Long enough that a namespace seen within a few seconds was seen by inotify.
        ("PODFLOW_NODE__RESCAN_SECS", "60".into()),
        // The impostor is called unowned a second after it is found.
        ("PODFLOW_NODE__UNOWNED_AFTER_SECS", "1".into()),
        ("PODFLOW_TELEMETRY__LISTEN", listen.into()),
        ("PODFLOW_EXPORT__COLLECTOR", "udp://127.0.0.1:4739".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// One pod opens new flows far past its share of the flow table while another pod keeps
/// one flow going: the flood is cut at the share (counted, logged once), nothing is ended
/// early, and the steady flow is exported whole, every packet counted.
#[test]
fn a_pods_flood_leaves_the_other_pods_flows_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path());
    for i in 1..=2 {
        cluster.add_pod(i, true);
    }
    let ipfix = dir.path().join("collector.ipfix");
    let _collector = collector(&cluster, &ipfix);
    let extra = [
        ("PODFLOW_FLOW__MAX_FLOWS", "2000"),
        ("PODFLOW_NODE__MAX_FLOWS_PER_NAMESPACE", "500"),
        ("PODFLOW_NODE__RESCAN_SECS", "1"),
    ];
    // The remote pod takes every datagram and answers none (no ICMP either).
    let sink = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',int(sys.argv[1])))\nprint('ready',flush=True)\nwhile True: s.recv(2048)\n";
    let _sinks: Vec<Background> = ["9997", "9998"]
        .map(|port| start(exec(&cluster.remote, "python3").args(["-c", sink, port])).0)
        .into();
    let probe = NodeProbe::start_with(&cluster, dir.path(), 2, &extra);
    // Pod 2's steady flow: 300 datagrams over some 0.6 s, while pod 1 sends one datagram
    // from each of 5000 sockets (a new flow each) to the remote pod.
    let steady = std::thread::scope(|s| {
        let steady = s.spawn(|| {
            let out = run(&mut python_in(
                &cluster.pods[&2],
                &["udp-send", REMOTE, "9998", "300", "100"],
            ));
            out.parse::<u64>().unwrap()
        });
        let flood = "import socket,sys\nfor _ in range(5000):\n    s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n    s.sendto(b'x',(sys.argv[1],9997))\n    s.close()\n";
        run(exec(&cluster.pods[&1], "python3").args(["-c", flood, REMOTE]));
        steady.join().unwrap()
    });
    let t0 = Instant::now();
    while probe.metric("podflow_node_flow_share_hits_total") != Some(1) {
        let out = exec(&cluster.node, "curl")
            .args(["-s", &format!("http://{}/metrics", probe.listen)])
            .output()
            .unwrap();
        let metrics = String::from_utf8_lossy(&out.stdout).to_string();
        let log = probe.log_text();
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the flood is not counted: {metrics}\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Counted against what podflow read, not what the pods sent: the kernel may drop
    // frames of a flood before the capture reads them, and says how many.
    let refused = probe.metric("podflow_node_flows_refused_total").unwrap();
    let drops = probe
        .metric("podflow_capture_dropped_packets_total")
        .unwrap_or(0);
    assert!(
        refused > 0,
        "the flood's flows past its share refused: got none"
    );
    let evicted = probe.metric("podflow_flows_ended_total{reason=\"lack_of_resources\"}");
    assert_eq!(evicted, Some(0), "nothing ended early");
    let text = probe.stop();
    assert_eq!(
        text.matches("holds its share of the flow table").count(),
        1,
        "{text}"
    );

    let bytes = std::fs::read(&ipfix).unwrap();
    let records = flow_records(&decode_stream(&bytes));
    let in_pod_2: Vec<&DataRecord> = records
        .iter()
        .filter(|r| r.get_u64("sourceTransportPort") == Some(steady))
        .filter(|r| r.get_u64("k8sObservationPoint") == Some(2))
        .collect();
    assert!(!in_pod_2.is_empty(), "pod 2's flow was exported");
    for r in &in_pod_2 {
        assert_eq!(s(r, "k8sPodName"), "db-0", "{r:?}");
    }
    let packets: u64 = in_pod_2.iter().map(|r| u(r, "packetDeltaCount")).sum();
    assert!(
        packets <= 300 && packets + drops >= 300,
        "pod 2's 300 packets, metered or counted as kernel drops: got {packets} metered, \
         {drops} dropped: {in_pod_2:?}"
    );
    // Pod 1's flows in its namespace: its share, none ended before the shutdown; a few are
    // its own neighbour discovery, the rest the flood's.
    let in_pod_1: Vec<&DataRecord> = records
        .iter()
        .filter(|r| r.get_u64("k8sObservationPoint") == Some(2))
        .filter(|r| r.get_str("k8sPodName") == Some("web-7c9d8f6b5-x2x9k"))
        .collect();
    assert_eq!(in_pod_1.len(), 500, "flows of pod 1");
    let flood = in_pod_1
        .iter()
        .filter(|r| r.get_u64("destinationTransportPort") == Some(9997))
        .count();
    assert!(flood >= 490, "{flood} flows of the flood");
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

/// The runtime makes a pod's network namespace before it names the sandbox (its CNI step
/// takes seconds on real clusters): the namespace is pending, asked about again every
/// 0.1 s until the runtime names it, never called unowned, captured once named, and every
/// packet from then on is metered. (Capture starts when the runtime names the sandbox; the
/// kubelet creates and starts the pod's containers after that.)
#[test]
fn a_namespace_the_runtime_names_late_is_captured_once_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path());
    cluster.add_pod(1, true);
    let ipfix = dir.path().join("collector.ipfix");
    let _collector = collector(&cluster, &ipfix);
    let _sink = start(exec(&cluster.remote, "python3").args([
        "-c",
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',9996))\nprint('ready',flush=True)\nwhile True: s.recv(2048)\n",
    ]));
    let probe = NodeProbe::start_with(
        &cluster,
        dir.path(),
        1,
        &[("PODFLOW_NODE__UNOWNED_AFTER_SECS", "10")],
    );
    // Pod 4's namespace appears in the runtime's directory; the runtime names its sandbox
    // 2.5 s later, past what inotify's two looks at a new file cover (0.2 s, 1.7 s).
    cluster.add_pod(4, false);
    cluster.mount_in_dir(&cluster.pods[&4].clone());
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        probe.metric("podflow_node_namespaces_with_pod"),
        Some(1),
        "pod 4's namespace captured before the runtime named it"
    );
    cluster.register(4);
    wait_for("pod 4's namespace", Duration::from_secs(10), || {
        probe.metric("podflow_node_namespaces_with_pod") == Some(2)
    });
    // The pod's application, started once its sandbox is, sends at once.
    let port: u64 = run(&mut python_in(
        &cluster.pods[&4],
        &["udp-send", REMOTE, "9996", "30", "100"],
    ))
    .parse()
    .unwrap();
    assert_eq!(
        probe.metric("podflow_node_namespaces_refused_total"),
        Some(0)
    );
    let drops = probe
        .metric("podflow_capture_dropped_packets_total")
        .unwrap_or(0);
    let log = probe.stop();
    assert!(!log.contains("no pod sandbox"), "called unowned: {log}");
    let records = flow_records(&decode_stream(&std::fs::read(&ipfix).unwrap()));
    let pod4: Vec<&DataRecord> = records
        .iter()
        .filter(|r| r.get_u64("sourceTransportPort") == Some(port))
        .filter(|r| r.get_u64("k8sObservationPoint") == Some(2))
        .collect();
    let packets: u64 = pod4.iter().map(|r| u(r, "packetDeltaCount")).sum();
    assert!(
        packets <= 30 && packets + drops >= 30,
        "pod 4's 30 datagrams, metered or counted as dropped: {packets} metered, {drops} dropped: {pod4:?}"
    );
    assert!(
        pod4.iter()
            .all(|r| s(r, "k8sPodName") == cluster::pod_meta(4).0),
        "{pod4:?}"
    );
}
