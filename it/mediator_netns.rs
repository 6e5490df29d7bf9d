//! The mediator among real exporters in network namespaces, as a cluster runs it: a node
//! with three pods routed the Calico way and kube-proxy's DNAT for three Services (a
//! ClusterIP with a named port, one with an unnamed UDP port, a node port), a remote pod
//! on a second node of another zone, and an address of the world. Two podflow sidecars
//! (one over UDP, one over TCP), a node pod capturing the third pod's namespace, and
//! softflowd on the remote node (metering a capture of its uplink) all export to one
//! mediator on the node, which exports to nfcapd. What went over the wire is read by nfdump, tshark, python-ipfix with the shipped
//! specs and `podflow collect`, and every record's two ends and traffic class are checked
//! against the test's own reading of the cluster. Needs root; every namespace goes when
//! the test ends, however it ends.

#[allow(dead_code)]
#[path = "node_netns/cluster.rs"]
mod cluster;
mod common;
#[path = "common/netns.rs"]
mod netns;
#[allow(dead_code)]
#[path = "node_netns/runtime.rs"]
mod runtime;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster::{exec, ip, pod_list, python_in, Cluster, NODE, REMOTE};
use common::*;
use serde_json::{json, Map, Value};

/// The world: an address outside every range of the cluster, on the remote's loopback.
const WORLD: &str = "203.0.113.5";
/// The mediator, on the node's address (hostNetwork), and nfcapd on the node's loopback.
const MEDIATOR_PORT: u16 = 4739;
const NFCAPD_PORT: u16 = 9995;

type Fields = Map<String, Value>;

/// A pod of the test's cluster, as the List names it.
struct Pod {
    name: &'static str,
    namespace: &'static str,
    workload: (&'static str, &'static str),
    node: &'static str,
    /// Its labels as the List has them, in JSON with the keys sorted.
    labels: &'static str,
}

fn pods() -> HashMap<&'static str, Pod> {
    let pod = |name, namespace, workload, node, labels| Pod {
        name,
        namespace,
        workload,
        node,
        labels,
    };
    HashMap::from([
        (
            "10.254.1.1",
            pod(
                "web-7c9d8f6b5-x2x9k",
                "shop",
                ("web", "Deployment"),
                "node-1",
                r#"{"app":"web","pod-template-hash":"7c9d8f6b5"}"#,
            ),
        ),
        (
            "10.254.1.2",
            pod(
                "db-0",
                "shop",
                ("db", "StatefulSet"),
                "node-1",
                r#"{"app":"db"}"#,
            ),
        ),
        (
            "10.254.1.3",
            pod("debug", "ops", ("debug", "Pod"), "node-1", "{}"),
        ),
        (
            REMOTE,
            pod(
                "api-0",
                "shop",
                ("api", "StatefulSet"),
                "node-2",
                r#"{"app":"api"}"#,
            ),
        ),
    ])
}

/// Zone and region of each node.
fn zone_of(node: &str) -> (&'static str, &'static str) {
    match node {
        "node-1" => ("a", "r1"),
        "node-2" => ("b", "r1"),
        _ => unreachable!(),
    }
}

/// A Service end: namespace, name, port name.
type Svc = (&'static str, &'static str, &'static str);

/// The Services addressed by (ClusterIP, protocol, port).
fn by_cluster_ip(addr: &str, proto: u64, port: u64) -> Option<Svc> {
    match (addr, proto, port) {
        ("10.96.0.10", 6, 80) => Some(("shop", "db-http", "http")),
        ("10.96.0.11", 17, 9000) => Some(("shop", "db-metrics", "")),
        ("10.96.0.12", 6, 80) => Some(("ops", "debug-np", "web")),
        _ => None,
    }
}

/// The Services whose EndpointSlices hold (address, protocol, port).
fn by_endpoint(addr: &str, proto: u64, port: u64) -> Option<Svc> {
    match (addr, proto, port) {
        ("10.254.1.2", 6, 5432) => Some(("shop", "db", "postgres")),
        ("10.254.1.2", 6, 8080) => Some(("shop", "db-http", "http")),
        ("10.254.1.2", 17, 9000) => Some(("shop", "db-metrics", "")),
        ("10.254.1.3", 6, 7001) => Some(("ops", "debug-np", "web")),
        _ => None,
    }
}

/// The view the mediator reads: the node test's pods, two nodes, the four Services and
/// their EndpointSlices.
fn view() -> Value {
    let mut items = pod_list()["items"].as_array().unwrap().clone();
    for (name, addr, zone, range) in [
        ("node-1", NODE, "a", "10.254.1.0/24"),
        ("node-2", "10.254.9.3", "b", "10.254.9.2/32"),
    ] {
        items.push(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "r1"}},
            "spec": {"podCIDRs": [range]},
            "status": {"addresses": [{"type": "InternalIP", "address": addr}]}}));
    }
    let service = |ns: &str, name: &str, cluster_ip: &str, ports: Value| {
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "uid": format!("svc-{name}")},
            "spec": {"clusterIP": cluster_ip, "ports": ports}})
    };
    let slice = |ns: &str, name: &str, addr: &str, ports: Value| {
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{name}-x1"), "namespace": ns, "uid": format!("slice-{name}"),
                "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [addr]}],
            "ports": ports})
    };
    items.extend([
        // Headless: no address of its own, its pod's port named.
        service("shop", "db", "None", json!([{"name": "postgres", "port": 5432, "protocol": "TCP"}])),
        slice("shop", "db", "10.254.1.2", json!([{"name": "postgres", "port": 5432, "protocol": "TCP"}])),
        service("shop", "db-http", "10.96.0.10",
            json!([{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}])),
        slice("shop", "db-http", "10.254.1.2", json!([{"name": "http", "port": 8080, "protocol": "TCP"}])),
        // An unnamed port.
        service("shop", "db-metrics", "10.96.0.11", json!([{"port": 9000, "protocol": "UDP"}])),
        slice("shop", "db-metrics", "10.254.1.2", json!([{"port": 9000, "protocol": "UDP"}])),
        service("ops", "debug-np", "10.96.0.12",
            json!([{"name": "web", "port": 80, "targetPort": 7001, "nodePort": 30080, "protocol": "TCP"}])),
        slice("ops", "debug-np", "10.254.1.3", json!([{"name": "web", "port": 7001, "protocol": "TCP"}])),
    ]);
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// What the test expects the mediator to say of one end.
#[derive(Debug, Default)]
struct End {
    pod: Option<&'static str>,
    node: Option<&'static str>,
    node_address: bool,
    service: Option<Svc>,
    world: bool,
}

fn end(addr: &str, port: u64, proto: u64) -> End {
    let pods = pods();
    if let Some(pod) = pods.get(addr) {
        return End {
            pod: Some(pod.name),
            node: Some(pod.node),
            service: by_endpoint(addr, proto, port),
            ..End::default()
        };
    }
    if let Some(service) = by_cluster_ip(addr, proto, port) {
        return End {
            service: Some(service),
            ..End::default()
        };
    }
    let node = match addr {
        NODE => Some("node-1"),
        "10.254.9.3" => Some("node-2"),
        _ => None,
    };
    if node.is_some() {
        let node_port = (proto == 6 && port == 30080).then_some(("ops", "debug-np", "web"));
        return End {
            node,
            node_address: true,
            service: node_port.or(by_endpoint(addr, proto, port)),
            ..End::default()
        };
    }
    // The Services' range (mediator.cluster_cidrs) and the nodes' pod ranges are the
    // cluster's; nothing of them is used here but what is named above.
    End {
        world: !(addr.starts_with("10.96.") || addr.starts_with("10.254.1.") || addr == REMOTE),
        ..End::default()
    }
}

/// The class the test expects, from its own reading of the two ends.
fn class(s: &End, d: &End) -> u64 {
    let named = |e: &End| e.pod.is_some() || e.node.is_some() || e.service.is_some();
    match (s.world, d.world) {
        (true, true) => return 0,
        (false, true) => return if named(s) { 6 } else { 0 },
        (true, false) => return if named(d) { 7 } else { 0 },
        _ => {}
    }
    if s.pod.is_some() && s.pod == d.pod {
        return 1;
    }
    if s.node_address || d.node_address {
        return 8;
    }
    if s.pod.is_none() || d.pod.is_none() {
        let service_only = |e: &End| e.pod.is_none() && e.service.is_some();
        return if service_only(s) || service_only(d) {
            9
        } else {
            0
        };
    }
    let (a, b) = (s.node.unwrap(), d.node.unwrap());
    let ((za, ra), (zb, rb)) = (zone_of(a), zone_of(b));
    if a == b {
        2
    } else if za == zb {
        3
    } else if ra != rb {
        5
    } else {
        4
    }
}

/// The fields the mediator appends for one end (`Source` or `Destination`), as expected.
fn expected_fields(side: &str, e: &End) -> BTreeMap<String, Value> {
    let pods = pods();
    let pod = e
        .pod
        .and_then(|name| pods.values().find(|p| p.name == name));
    let (zone, region) = e.node.map(zone_of).unwrap_or_default();
    let (sns, sname, sport) = e.service.unwrap_or_default();
    [
        ("PodName", pod.map_or("", |p| p.name).to_string()),
        ("PodNamespace", pod.map_or("", |p| p.namespace).to_string()),
        (
            "PodUid",
            pod.map_or(String::new(), |p| format!("uid-{}", p.name)),
        ),
        ("WorkloadName", pod.map_or("", |p| p.workload.0).to_string()),
        ("WorkloadKind", pod.map_or("", |p| p.workload.1).to_string()),
        ("PodLabels", pod.map_or("", |p| p.labels).to_string()),
        ("NodeName", e.node.unwrap_or("").to_string()),
        ("Zone", zone.to_string()),
        ("Region", region.to_string()),
        ("ServiceNamespace", sns.to_string()),
        ("ServiceName", sname.to_string()),
        ("ServicePortName", sport.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("k8s{side}{k}"), json!(v)))
    .collect()
}

/// The flow keys of a record: (source, source port, destination, destination port,
/// protocol); IPv6 ends as their text.
fn keys(r: &Fields) -> (String, u64, String, u64, u64) {
    let addr = |v4: &str, v6: &str| {
        r.get(v4)
            .or(r.get(v6))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let n = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
    (
        addr("sourceIPv4Address", "sourceIPv6Address"),
        n("sourceTransportPort"),
        addr("destinationIPv4Address", "destinationIPv6Address"),
        n("destinationTransportPort"),
        n("protocolIdentifier"),
    )
}

/// Every field the mediator appended, and the class, against the test's expectation.
fn check_named(r: &Fields) {
    let (src, sport, dst, dport, proto) = keys(r);
    let (s, d) = (end(&src, sport, proto), end(&dst, dport, proto));
    let mut want = expected_fields("Source", &s);
    want.extend(expected_fields("Destination", &d));
    want.insert("k8sTrafficClass".into(), json!(class(&s, &d)));
    let got: BTreeMap<String, Value> = want
        .keys()
        .map(|k| (k.clone(), r.get(k).cloned().unwrap_or(Value::Null)))
        .collect();
    assert_eq!(got, want, "{src}:{sport} -> {dst}:{dport}/{proto}: {r:?}");
}

fn is_flow(r: &Fields) -> bool {
    r.contains_key("sourceIPv4Address") || r.contains_key("sourceIPv6Address")
}

/// Whether `records` hold a flow from `exporter` with these keys.
fn has_flow(records: &[Fields], exporter: &str, k: (&str, u64, &str, u64, u64)) -> bool {
    records.iter().any(|r| {
        let (src, sport, dst, dport, proto) = keys(r);
        r.get("originalExporterIPv4Address").and_then(Value::as_str) == Some(exporter)
            && (src.as_str(), sport, dst.as_str(), dport, proto) == k
    })
}

/// A process in namespace `ns` with a clean environment and `envs`, its stderr to `log`.
fn spawn_in(
    ns: &str,
    envs: &[(&str, String)],
    program: &Path,
    args: &[&str],
    log: &Path,
) -> Background {
    let mut cmd = exec(ns, "env");
    cmd.arg("-i")
        .arg(format!(
            "PATH={}",
            std::env::var("PATH").unwrap_or_default()
        ))
        .args(envs.iter().map(|(k, v)| format!("{k}={v}")))
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    Background(cmd.spawn().unwrap())
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

fn wait_for(what: &str, log: &Path, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}; {}:\n{}",
            log.display(),
            read(log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM, and the exit status must be 0; the log.
fn stop(mut process: Background, log: &Path) -> String {
    let pid = rustix::process::Pid::from_raw(process.0.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = process.0.wait().unwrap();
    let text = read(log);
    assert!(status.success(), "{status}: {}:\n{text}", log.display());
    text
}

fn metric(ns: &str, listen: &str, name: &str) -> Option<u64> {
    let out = exec(ns, "curl")
        .args(["-s", &format!("http://{listen}/metrics")])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn listening(ns: &str, proto: &str, port: u16) -> bool {
    let out = exec(ns, "ss")
        .args([if proto == "udp" { "-lun" } else { "-ltn" }])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains(&format!(":{port} "))
}

/// The UDP payloads of a capture, concatenated: the IPFIX messages sent, as a file.
fn udp_payloads(pcap: &Path, port: u16, out: &Path) -> usize {
    let all = run_all(Command::new("tshark").arg("-r").arg(pcap).args([
        "-Y",
        &format!("udp.dstport == {port}"),
        "-T",
        "fields",
        "-e",
        "udp.payload",
    ]));
    let mut bytes = Vec::new();
    let mut messages = 0;
    for line in all.lines() {
        let hex = line.trim().replace(':', "");
        if hex.is_empty() {
            continue;
        }
        messages += 1;
        for i in (0..hex.len()).step_by(2) {
            bytes.push(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
        }
    }
    std::fs::write(out, bytes).unwrap();
    messages
}

/// The whole stdout of a command that must succeed.
fn run_all(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_lines(text: &str) -> Vec<Fields> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Fields>(l).unwrap())
        .collect()
}

#[test]
fn sidecars_a_node_pod_and_softflowd_reach_the_collectors_through_the_mediator_with_both_ends_named(
) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut cluster = Cluster::new(d);
    // Pods 1 and 2 have sidecars; pod 3 is captured by the node pod.
    cluster.add_pod(1, false);
    cluster.add_pod(2, false);
    cluster.add_pod(3, true);
    let (node, remote) = (cluster.node.clone(), cluster.remote.clone());
    let (pod1, pod2, pod3) = (
        cluster.pods[&1].clone(),
        cluster.pods[&2].clone(),
        cluster.pods[&3].clone(),
    );
    ip(&[
        "-n",
        &remote,
        "addr",
        "add",
        &format!("{WORLD}/32"),
        "dev",
        "lo",
    ]);
    // kube-proxy's DNAT on the node: the ClusterIPs and the node port to their pods.
    for rule in [
        "-d 10.96.0.10 -p tcp --dport 80 -j DNAT --to-destination 10.254.1.2:8080",
        "-d 10.96.0.11 -p udp --dport 9000 -j DNAT --to-destination 10.254.1.2:9000",
        "-d 10.254.9.1 -p tcp --dport 30080 -j DNAT --to-destination 10.254.1.3:7001",
    ] {
        run(exec(&node, "iptables")
            .args(["-t", "nat", "-A", "PREROUTING"])
            .args(rule.split(' ')));
    }
    std::fs::write(d.join("view.json"), view().to_string()).unwrap();
    std::fs::write(d.join("pods.json"), pod_list().to_string()).unwrap();
    let bin = podflow_process().get_program().to_owned();
    let bin = Path::new(&bin);

    // nfcapd behind the mediator, and a capture of what reaches it.
    let nfdump_dir = d.join("nfcapd");
    std::fs::create_dir(&nfdump_dir).unwrap();
    let nfcapd_log = d.join("nfcapd.log");
    let nfcapd_args = nfcapd_args(&nfdump_dir, NFCAPD_PORT);
    let _nfcapd = spawn_in(
        &node,
        &[],
        Path::new("/usr/bin/nfcapd"),
        &nfcapd_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &nfcapd_log,
    );
    wait_for("nfcapd", &nfcapd_log, || {
        listening(&node, "udp", NFCAPD_PORT)
    });
    let pcap = d.join("to-collector.pcap");
    let tcpdump = netns::tcpdump(
        &node,
        "lo",
        &pcap,
        &["udp", "port", &NFCAPD_PORT.to_string()],
    );

    let mediator_log = d.join("mediator.log");
    let mediator = spawn_in(
        &node,
        &[
            (
                "PODFLOW_MEDIATOR__SOURCE",
                format!("file:{}", d.join("view.json").display()),
            ),
            (
                "PODFLOW_MEDIATOR__LISTEN",
                format!("[\"udp://0.0.0.0:{MEDIATOR_PORT}\", \"tcp://0.0.0.0:{MEDIATOR_PORT}\"]"),
            ),
            (
                "PODFLOW_MEDIATOR__CLUSTER_CIDRS",
                "[\"10.96.0.0/12\"]".into(),
            ),
            (
                "PODFLOW_EXPORT__COLLECTOR",
                format!("udp://127.0.0.1:{NFCAPD_PORT}"),
            ),
            ("PODFLOW_TELEMETRY__LISTEN", "127.0.0.1:9480".into()),
        ],
        bin,
        &["--mode", "mediator"],
        &mediator_log,
    );
    wait_for("the mediator", &mediator_log, || {
        read(&mediator_log).contains("mediator running")
    });

    let node_log = d.join("node.log");
    let node_pod = spawn_in(
        &node,
        &[
            (
                "PODFLOW_K8S__SOURCE",
                format!("file:{}", d.join("pods.json").display()),
            ),
            ("PODFLOW_K8S__NODE_NAME", "node-1".into()),
            ("PODFLOW_K8S__NODE_IP", NODE.into()),
            ("PODFLOW_K8S__OWN_NODE_ONLY", "true".into()),
            (
                "PODFLOW_NODE__NETNS_DIRS",
                format!("[\"{}\"]", cluster.netns_dir.display()),
            ),
            ("PODFLOW_NODE__SCAN_PROCESSES", "false".into()),
            ("PODFLOW_NODE__RUNTIME_ENDPOINT", cluster.runtime.endpoint()),
            ("PODFLOW_TELEMETRY__LISTEN", "127.0.0.1:9478".into()),
            (
                "PODFLOW_EXPORT__COLLECTOR",
                format!("udp://127.0.0.1:{MEDIATOR_PORT}"),
            ),
        ],
        bin,
        &["--mode", "node"],
        &node_log,
    );
    wait_for("the node pod to capture pod 3", &node_log, || {
        metric(&node, "127.0.0.1:9478", "podflow_node_namespaces_with_pod") == Some(1)
    });

    let sidecar = |ns: &str, i: u8, collector: String, log: &Path| {
        let (name, namespace) = cluster::pod_meta(i);
        spawn_in(
            ns,
            &[
                ("PODFLOW_CAPTURE__INTERFACES", "[eth0]".into()),
                ("PODFLOW_K8S__POD_NAME", name.into()),
                ("PODFLOW_K8S__POD_NAMESPACE", namespace.into()),
                ("PODFLOW_K8S__NODE_NAME", "node-1".into()),
                ("PODFLOW_K8S__LABELS_FILE", "/nonexistent".into()),
                ("PODFLOW_K8S__ANNOTATIONS_FILE", "/nonexistent".into()),
                ("PODFLOW_TELEMETRY__LISTEN", "127.0.0.1:9479".into()),
                ("PODFLOW_EXPORT__COLLECTOR", collector),
            ],
            bin,
            &["--mode", "sidecar"],
            log,
        )
    };
    let (log1, log2) = (d.join("sidecar1.log"), d.join("sidecar2.log"));
    let sidecar1 = sidecar(&pod1, 1, format!("udp://{NODE}:{MEDIATOR_PORT}"), &log1);
    let sidecar2 = sidecar(&pod2, 2, format!("tcp://{NODE}:{MEDIATOR_PORT}"), &log2);
    for (ns, log) in [(&pod1, &log1), (&pod2, &log2)] {
        netns::wait_ready(ns, "127.0.0.1:9479", || read(log));
    }

    // What crosses the remote node's uplink, for softflowd: its live capture would hold
    // packets until a buffer block fills (libpcap's TPACKET_V3 with no timeout), so it
    // reads the capture once the conversations are over.
    let uplink = d.join("remote-uplink.pcap");
    let uplink_capture = netns::tcpdump(&remote, "eth0", &uplink, &["tcp"]);

    // Servers, then the conversations.
    let _servers: Vec<Background> = [
        (&pod2, vec!["tcp-server", "0.0.0.0", "5432"]),
        (&pod2, vec!["tcp-server", "0.0.0.0", "8080"]),
        (&pod2, vec!["udp-echo", "0.0.0.0", "9000"]),
        (&pod3, vec!["tcp-server", "0.0.0.0", "7000"]),
        (&pod3, vec!["tcp-server", "0.0.0.0", "7001"]),
        (&remote, vec!["tcp-server", WORLD, "443"]),
    ]
    .into_iter()
    .map(|(ns, args)| start(python_in(ns, &args)).0)
    .collect();
    let port = |ns: &str, args: &[&str]| -> u64 { run(python_in(ns, args)).parse().unwrap() };
    let direct = port(&pod1, &["tcp-client", "10.254.1.2", "5432", "1000", "2000"]);
    let cluster_ip = port(&pod1, &["tcp-client", "10.96.0.10", "80", "500", "1500"]);
    let unnamed = port(&pod1, &["udp-ask", "10.96.0.11", "9000", "3", "200"]);
    let egress = port(&pod1, &["tcp-client", WORLD, "443", "300", "300"]);
    let cross_zone = port(&remote, &["tcp-client", "10.254.1.3", "7000", "400", "800"]);
    let node_port = port(&remote, &["tcp-client", NODE, "30080", "400", "800"]);

    // The exporters end and flush, softflowd meters the uplink's capture, then the
    // mediator ends.
    std::thread::sleep(Duration::from_millis(300));
    drop(uplink_capture);
    let softflowd = exec(&remote, "softflowd")
        .args(softflowd_replay_args(
            &uplink,
            &format!("{NODE}:{MEDIATOR_PORT}"),
            &d.join("softflowd.pid"),
        ))
        .output()
        .unwrap();
    assert_success(&softflowd);
    let sidecar1_log = stop(sidecar1, &log1);
    let sidecar2_log = stop(sidecar2, &log2);
    let node_text = stop(node_pod, &node_log);
    std::thread::sleep(Duration::from_millis(500));
    let mediator_text = stop(mediator, &mediator_log);
    std::thread::sleep(Duration::from_millis(500));
    drop(tcpdump);
    drop(_nfcapd);

    // The mediator: everything received went out, nothing refused.
    let t = |k: &str| export_total(&mediator_text, k);
    assert_eq!(
        (
            t("not_sent"),
            t("exporter_errors"),
            t("unknown_template_sets"),
            t("templates_refused")
        ),
        (0, 0, 0, 0),
        "{mediator_text}"
    );
    assert_eq!(t("records"), t("records_in"), "{mediator_text}");

    // What reached the collector's port, read by podflow collect and python-ipfix.
    let ipfix = d.join("to-collector.ipfix");
    let messages = udp_payloads(&pcap, NFCAPD_PORT, &ipfix);
    assert!(messages > 0, "nothing captured on the way to nfcapd");
    let collected = Command::new(bin)
        .arg("collect")
        .arg("-f")
        .arg(&ipfix)
        .output()
        .unwrap();
    assert_success(&collected);
    let records = json_lines(&String::from_utf8_lossy(&collected.stdout));
    let relayed: Vec<&Fields> = records
        .iter()
        .filter(|r| r.contains_key("originalObservationDomainId"))
        .collect();
    assert_eq!(relayed.len() as u64, t("records"), "{mediator_text}");
    let flows: Vec<Fields> = relayed
        .iter()
        .filter(|r| is_flow(r))
        .map(|r| (*r).clone())
        .collect();

    // Each podflow exporter's flow records all arrived, from the address it sent from.
    for (exporter, text) in [
        ("10.254.1.1", &sidecar1_log),
        ("10.254.1.2", &sidecar2_log),
        ("127.0.0.1", &node_text),
    ] {
        let got = flows
            .iter()
            .filter(|r| r["originalExporterIPv4Address"] == json!(exporter))
            .count() as u64;
        assert_eq!(
            got,
            export_total(text, "records"),
            "exporter {exporter}: {text}"
        );
    }

    // Every flow of every exporter: both ends and the class as the test reads the cluster.
    for r in &flows {
        check_named(r);
    }
    // The conversations, where each exporter saw them.
    let (web, db, debug) = ("10.254.1.1", "10.254.1.2", "10.254.1.3");
    for (exporter, flow) in [
        ("10.254.1.1", (web, direct, db, 5432, 6)),
        ("10.254.1.1", (web, cluster_ip, "10.96.0.10", 80, 6)),
        ("10.254.1.1", (web, unnamed, "10.96.0.11", 9000, 17)),
        ("10.254.1.1", (web, egress, WORLD, 443, 6)),
        ("10.254.1.2", (web, direct, db, 5432, 6)),
        ("10.254.1.2", (web, cluster_ip, db, 8080, 6)),
        ("10.254.1.2", (web, unnamed, db, 9000, 17)),
        ("127.0.0.1", (REMOTE, cross_zone, debug, 7000, 6)),
        ("127.0.0.1", (REMOTE, node_port, debug, 7001, 6)),
        (REMOTE, (REMOTE, cross_zone, debug, 7000, 6)),
        (REMOTE, (debug, 7000, REMOTE, cross_zone, 6)),
        (REMOTE, (REMOTE, node_port, NODE, 30080, 6)),
    ] {
        let from: Vec<_> = flows
            .iter()
            .filter(|r| r["originalExporterIPv4Address"] == json!(exporter))
            .map(keys)
            .collect();
        assert!(
            has_flow(&flows, exporter, flow),
            "no {flow:?} from {exporter}, among {from:?}"
        );
    }
    let classes: std::collections::BTreeSet<u64> = flows
        .iter()
        .map(|r| r["k8sTrafficClass"].as_u64().unwrap())
        .collect();
    for class in [2, 4, 6, 8, 9] {
        assert!(classes.contains(&class), "class {class} among {classes:?}");
    }

    // python-ipfix, with the element specs podflow ships, reads the same names.
    let py = std::env::var("IPFIX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/python"));
    let read = Command::new(&py)
        .arg(root().join("it/py/read_ipfix.py"))
        .arg(&ipfix)
        .arg(root().join("config/ipfix/python-ipfix.specs"))
        .arg("--records")
        .output()
        .unwrap();
    assert_success(&read);
    let by_python: Vec<Fields> = json_lines(&String::from_utf8_lossy(&read.stdout))
        .into_iter()
        .filter(is_flow)
        .filter(|r| r.contains_key("originalObservationDomainId"))
        .collect();
    assert_eq!(by_python.len(), flows.len());
    for (p, r) in by_python.iter().zip(&flows) {
        for (k, v) in r {
            if k.starts_with("k8sSource")
                || k.starts_with("k8sDestination")
                || k == "k8sTrafficClass"
            {
                assert_eq!(p.get(k), Some(v), "{k} as python-ipfix reads it: {p:?}");
            }
        }
    }

    // nfdump: every flow, its packets and bytes.
    let nfdump = Command::new("nfdump")
        .arg("-R")
        .arg(&nfdump_dir)
        .arg("-I")
        .output()
        .unwrap();
    assert_success(&nfdump);
    let stats: HashMap<String, u64> = String::from_utf8_lossy(&nfdump.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect();
    let sum = |k: &str, rk: &str| -> u64 {
        flows
            .iter()
            .map(|r| {
                r.get(k).and_then(Value::as_u64).unwrap_or(0)
                    + r.get(rk).and_then(Value::as_u64).unwrap_or(0)
            })
            .sum()
    };
    assert_eq!(
        (stats["Flows"], stats["Packets"], stats["Bytes"]),
        (
            flows.len() as u64,
            sum("packetDeltaCount", "reversePacketDeltaCount"),
            sum("octetDeltaCount", "reverseOctetDeltaCount")
        ),
        "nfdump -I: {}",
        String::from_utf8_lossy(&nfdump.stdout)
    );

    // tshark: every message well formed, every record there, the mediator's elements
    // described by its type records.
    let tshark = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-d", &format!("udp.port=={NFCAPD_PORT},cflow"), "-V"])
        // A node pod's template and the mediator's fields make 69; tshark decodes 60 unless
        // told otherwise.
        .args(["-o", "cflow.max_template_fields:128"])
        .output()
        .unwrap();
    assert_success(&tshark);
    let text = String::from_utf8_lossy(&tshark.stdout);
    for bad in [
        "Malformed",
        "Expert Info (Error",
        "Unexpected flow sequence",
    ] {
        if let Some(at) = text.find(bad) {
            let from = text[..at].rfind("Frame ").unwrap_or(0);
            panic!("tshark: {bad}: {}", &text[from..(at + 300).min(text.len())]);
        }
    }
    // Each data set's heading says how many records tshark decoded in it.
    let tshark_records: usize = text
        .lines()
        .filter_map(|l| {
            let (_, n) = l.trim().strip_prefix("Set ")?.split_once("] (")?;
            n.strip_suffix(" flows)")?.parse::<usize>().ok()
        })
        .sum();
    assert_eq!(
        tshark_records,
        records.len(),
        "tshark's records against podflow collect's"
    );
    assert!(text.contains("Information Element Name: k8sTrafficClass\n"));
    assert!(text.contains("Information Element Name: k8sDestinationServicePortName\n"));
}
