//! The real mediator between real exporters and a real collector, on loopback: a podflow
//! sidecar (TCP) and softflowd (UDP) meter the sample capture into the mediator, which
//! names both ends of every record from a view of the cluster given as a List file and
//! sends to `podflow collect` over TCP. Every record an exporter sent arrives with every
//! field it had, and with each end named as the test's own reading of the view says.
//! Bad exporters (garbage, a stalled message, a template flood) are dropped and counted
//! while a good one's records all arrive.

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Records as `podflow collect` prints them, without what it adds of their message.
fn records(jsonl: &str) -> Vec<serde_json::Map<String, Value>> {
    jsonl
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v.as_object().cloned())
        .filter(|r| r.get("options").is_none())
        .map(|mut r| {
            for k in ["exporter", "sequence", "templateId", "observationDomainId"] {
                r.remove(k);
            }
            r
        })
        .collect()
}

fn address(r: &serde_json::Map<String, Value>, v4: &str, v6: &str) -> Option<IpAddr> {
    r.get(v4).or(r.get(v6))?.as_str()?.parse().ok()
}

/// The test's view: node `n<k>` holds 10.244.<k>.0/24, nodes 0 and 1 in zone a, node 2 in
/// zone b (region r1), node 3 in region r2; a pod for each 10.244 address of `seen`;
/// kube-dns at 10.96.0.10 (its port 53/UDP named "dns"); the Services' range is the
/// cluster's.
fn view(seen: &[IpAddr]) -> Value {
    let mut items = Vec::new();
    for (k, zone, region) in [
        (0, "a", "r1"),
        (1, "a", "r1"),
        (2, "b", "r1"),
        (3, "c", "r2"),
    ] {
        items.push(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("n{k}"), "labels": {
                "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": region}},
            "spec": {"podCIDRs": [format!("10.244.{k}.0/24")]},
            "status": {"addresses": [{"type": "InternalIP", "address": format!("192.168.77.{k}")}]}}));
    }
    for ip in seen {
        let IpAddr::V4(v4) = ip else { continue };
        let o = v4.octets();
        if o[0] != 10 || o[1] != 244 {
            continue;
        }
        items.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name(ip), "namespace": "shop", "uid": format!("uid-{ip}"),
                "labels": {"app": "shop"}},
            "spec": {"nodeName": format!("n{}", o[2]), "containers": []},
            "status": {"phase": "Running", "podIP": ip.to_string(), "podIPs": [{"ip": ip.to_string()}],
                "startTime": "2023-01-01T00:00:00Z"}}));
    }
    items.push(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "uid": "svc-dns"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}}));
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

fn pod_name(ip: &IpAddr) -> String {
    format!("pod-{}", ip.to_string().replace('.', "-"))
}

/// What the test expects of one end: pod name, node, zone, Service.
fn expected_end(ip: Option<IpAddr>, port: u64, proto: u64) -> (String, String, String, String) {
    let Some(IpAddr::V4(v4)) = ip else {
        return Default::default();
    };
    let o = v4.octets();
    if o[0] == 10 && o[1] == 244 && o[2] <= 3 {
        let zone = ["a", "a", "b", "c"][o[2] as usize];
        return (
            pod_name(&IpAddr::V4(v4)),
            format!("n{}", o[2]),
            zone.into(),
            String::new(),
        );
    }
    if v4.to_string() == "10.96.0.10" && port == 53 && proto == 17 {
        return (
            String::new(),
            String::new(),
            String::new(),
            "kube-dns".into(),
        );
    }
    Default::default()
}

/// What the test's view holds at an address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    /// A pod on node k.
    Pod(u8),
    /// kube-dns's address and port.
    Dns,
    /// The Services' range, or a pod range, with nothing there.
    Cluster,
    World,
}

fn held(ip: Option<IpAddr>, port: u64, proto: u64) -> Held {
    let Some(IpAddr::V4(v4)) = ip else {
        return Held::World;
    };
    let o = v4.octets();
    match (o[0], o[1], o[2]) {
        (10, 244, k) if k <= 3 => Held::Pod(k),
        (10, 96, _) if v4.to_string() == "10.96.0.10" && port == 53 && proto == 17 => Held::Dns,
        (10, 96..=111, _) => Held::Cluster,
        _ => Held::World,
    }
}

/// The class the test expects from its own reading of the view.
fn expected_class(r: &serde_json::Map<String, Value>) -> u64 {
    let n = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
    let proto = n("protocolIdentifier");
    let src = address(r, "sourceIPv4Address", "sourceIPv6Address");
    let dst = address(r, "destinationIPv4Address", "destinationIPv6Address");
    let zone = |k: u8| ["a", "a", "b", "c"][k as usize];
    let region = |k: u8| if k == 3 { "r2" } else { "r1" };
    match (
        held(src, n("sourceTransportPort"), proto),
        held(dst, n("destinationTransportPort"), proto),
    ) {
        (Held::Pod(_), Held::Pod(_)) if src == dst => 1,
        (Held::Pod(a), Held::Pod(b)) if a == b => 2,
        (Held::Pod(a), Held::Pod(b)) if zone(a) == zone(b) => 3,
        (Held::Pod(a), Held::Pod(b)) if region(a) != region(b) => 5,
        (Held::Pod(_), Held::Pod(_)) => 4,
        (Held::Pod(_), Held::World) => 6,
        (Held::World, Held::Pod(_)) => 7,
        (Held::Pod(_), Held::Dns) | (Held::Dns, Held::Pod(_)) => 9,
        _ => 0,
    }
}

struct Running {
    child: Child,
    log: Option<Log>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let log = Log::of(child.stderr.take().unwrap());
        Running {
            child,
            log: Some(log),
        }
    }

    fn wait_for(&self, what: &str) {
        let t0 = Instant::now();
        while !self.log.as_ref().unwrap().now().contains(what) {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "no {what:?} in {}",
                self.log.as_ref().unwrap().now()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, exit 0, and the log.
    fn stop(mut self) -> String {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = self.child.wait().unwrap();
        let log = self.log.take().unwrap().wait();
        assert!(status.success(), "{status}: {log}");
        log
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mediator(dir: &Path, listen: &str, collector: &str, extra: &[(&str, &str)]) -> Running {
    let mut cmd = podflow_process();
    cmd.args(["--mode", "mediator"])
        .env(
            "PODFLOW_MEDIATOR__SOURCE",
            format!("file:{}", dir.join("view.json").display()),
        )
        .env("PODFLOW_MEDIATOR__LISTEN", listen)
        .env("PODFLOW_MEDIATOR__CLUSTER_CIDRS", "[\"10.96.0.0/12\"]")
        .env("PODFLOW_EXPORT__COLLECTOR", collector)
        .env("PODFLOW_TELEMETRY__LISTEN", "")
        .envs(extra.iter().copied())
        .stdout(Stdio::null());
    let m = Running::start(cmd);
    m.wait_for("mediator running");
    m
}

fn collector(port: u16, out: &Path) -> Running {
    let mut cmd = podflow_process();
    cmd.args(["collect", "--listen", &format!("tcp://127.0.0.1:{port}")])
        .stdout(std::fs::File::create(out).unwrap());
    let c = Running::start(cmd);
    c.wait_for("listening");
    c
}

const HUGE: &str = "100000000";

/// A capture of one UDP datagram from 10.244.0.5 to each of 10.244.0.5 (itself),
/// 10.244.0.6 (the same node), 10.244.1.5 (another node of its zone), 10.244.2.5 (another
/// zone) and 10.244.3.5 (another region): the paths the sample does not take.
fn pod_to_pod(path: &Path) {
    let mut pcap = pcap_header(1);
    let dsts = [
        [10, 244, 0, 5],
        [10, 244, 0, 6],
        [10, 244, 1, 5],
        [10, 244, 2, 5],
        [10, 244, 3, 5],
    ];
    for (i, dst) in dsts.into_iter().enumerate() {
        let payload = b"hello";
        let mut ip = vec![
            0x45,
            0,
            0,
            (20 + 8 + payload.len()) as u8,
            0,
            1,
            0,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(&[10, 244, 0, 5]);
        ip.extend_from_slice(&dst);
        let sum = !ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .fold(0u32, |a, w| {
                let s = a + w;
                (s & 0xffff) + (s >> 16)
            }) as u16;
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&(40000 + i as u16).to_be_bytes());
        ip.extend_from_slice(&7000u16.to_be_bytes());
        ip.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(payload);
        let mut frame = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
        frame.extend_from_slice(&ip);
        pcap.extend_from_slice(&pcap_record(1_700_000_000 + i as u32, &frame));
    }
    std::fs::write(path, pcap).unwrap();
}

fn sidecar(collector: &str) -> Command {
    sidecar_of(&fixture("sample-1k.pcap"), "sample", collector)
}

fn sidecar_of(pcap: &Path, pod: &str, collector: &str) -> Command {
    let mut cmd = podflow_process();
    cmd.args(["--mode", "sidecar"])
        .env("PODFLOW_CAPTURE__PCAP", pcap)
        .env("PODFLOW_EXPORT__COLLECTOR", collector)
        .env("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", HUGE)
        .env("PODFLOW_FLOW__ACTIVE_TIMEOUT_SECS", HUGE)
        .env("PODFLOW_K8S__POD_NAME", pod)
        .env("PODFLOW_K8S__LABELS_FILE", "/nonexistent")
        .env("PODFLOW_K8S__ANNOTATIONS_FILE", "/nonexistent")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn every_record_of_every_exporter_arrives_whole_with_both_ends_named() {
    let dir = tempfile::tempdir().unwrap();
    // What the sidecar sends, straight into a file: the truth of its records.
    let truth_file = dir.path().join("truth.ipfix");
    let out = sidecar(&format!("file:{}", truth_file.display()))
        .output()
        .unwrap();
    assert_success(&out);
    let truth_json = podflow()
        .args(["collect", "-f"])
        .arg(&truth_file)
        .output()
        .unwrap();
    let truth = records(&String::from_utf8_lossy(&truth_json.stdout));
    assert_eq!(truth.len(), 101);
    let seen: Vec<IpAddr> = truth
        .iter()
        .flat_map(|r| {
            [
                address(r, "sourceIPv4Address", "sourceIPv6Address"),
                address(r, "destinationIPv4Address", "destinationIPv6Address"),
            ]
        })
        .flatten()
        .collect();
    let mut seen = seen;
    seen.extend(
        [
            "10.244.0.5",
            "10.244.0.6",
            "10.244.1.5",
            "10.244.2.5",
            "10.244.3.5",
        ]
        .map(|a| a.parse::<IpAddr>().unwrap()),
    );
    std::fs::write(dir.path().join("view.json"), view(&seen).to_string()).unwrap();

    let (out_port, in_port) = (free_tcp_port(), free_tcp_port());
    let collected = dir.path().join("collected.jsonl");
    let collect = collector(out_port, &collected);
    let m = mediator(
        dir.path(),
        &format!("[\"udp://127.0.0.1:{in_port}\", \"tcp://127.0.0.1:{in_port}\"]"),
        &format!("tcp://127.0.0.1:{out_port}"),
        &[],
    );
    let sent = sidecar(&format!("tcp://127.0.0.1:{in_port}"))
        .output()
        .unwrap();
    assert_success(&sent);
    let paths = dir.path().join("paths.pcap");
    pod_to_pod(&paths);
    let sent = sidecar_of(&paths, "paths", &format!("udp://127.0.0.1:{in_port}"))
        .output()
        .unwrap();
    assert_success(&sent);
    let softflowd = Command::new("softflowd")
        .args(softflowd_replay_args(
            &fixture("sample-1k.pcap"),
            &format!("127.0.0.1:{in_port}"),
            &dir.path().join("softflowd.pid"),
        ))
        .output()
        .unwrap();
    assert_success(&softflowd);
    // Everything received is passed on before the totals line.
    std::thread::sleep(Duration::from_millis(500));
    let log = m.stop();
    std::thread::sleep(Duration::from_millis(300));
    collect.stop();
    let total = |key: &str| export_total(&log, key);
    assert_eq!(total("not_sent"), 0, "{log}");
    assert_eq!(total("records"), total("records_in"), "{log}");
    assert_eq!(total("exporter_errors"), 0, "{log}");

    let got = records(&std::fs::read_to_string(&collected).unwrap());
    let from = |pod: Option<&str>| {
        got.iter()
            .filter(move |r| r.get("k8sPodName").and_then(Value::as_str) == pod)
            .filter(|r| r.contains_key("flowEndMilliseconds"))
            .collect::<Vec<_>>()
    };
    let (ours, paths, theirs) = (from(Some("sample")), from(Some("paths")), from(None));
    assert_eq!(paths.len(), 5);
    // The sidecar's records: every field as it sent it.
    assert_eq!(ours.len(), truth.len());
    let key = |r: &serde_json::Map<String, Value>| {
        [
            "sourceIPv4Address",
            "sourceIPv6Address",
            "destinationIPv4Address",
            "destinationIPv6Address",
            "sourceTransportPort",
            "destinationTransportPort",
            "protocolIdentifier",
            "flowStartMilliseconds",
        ]
        .map(|k| r.get(k).map(Value::to_string).unwrap_or_default())
    };
    let by_key: HashMap<_, _> = ours.iter().map(|r| (key(r), *r)).collect();
    for t in &truth {
        let r = by_key
            .get(&key(t))
            .unwrap_or_else(|| panic!("no record for {t:?}"));
        for (k, v) in t {
            assert_eq!(r.get(k), Some(v), "{k} of {t:?}");
        }
        assert_eq!(r["originalExporterIPv4Address"], "127.0.0.1");
    }
    // softflowd's: one per direction (196), its own fields too (its unnamed ones kept).
    assert_eq!(theirs.len(), 196, "softflowd's records");
    assert!(
        theirs.iter().all(|r| r.contains_key("0/10")),
        "softflowd's fields kept"
    );
    // Each end as the test reads the view, for every record of both exporters.
    let mut classes = BTreeMap::new();
    for r in ours.iter().chain(&paths).chain(&theirs) {
        let (src, dst) = (
            address(r, "sourceIPv4Address", "sourceIPv6Address"),
            address(r, "destinationIPv4Address", "destinationIPv6Address"),
        );
        let n = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
        let (sport, dport, proto) = (
            n("sourceTransportPort"),
            n("destinationTransportPort"),
            n("protocolIdentifier"),
        );
        for (side, ip, port) in [("Source", src, sport), ("Destination", dst, dport)] {
            let (pod, node, zone, service) = expected_end(ip, port, proto);
            let s = |e: &str| r[&format!("k8s{side}{e}")].as_str().unwrap().to_string();
            assert_eq!(
                (s("PodName"), s("NodeName"), s("Zone"), s("ServiceName")),
                (pod, node, zone, service),
                "{side} of {r:?}"
            );
        }
        let class = r["k8sTrafficClass"].as_u64().unwrap();
        assert_eq!(class, expected_class(r), "{r:?}");
        *classes.entry(class).or_insert(0) += 1;
    }
    eprintln!("records by traffic class: {classes:?}");
    for class in 1..=7 {
        assert!(
            classes.contains_key(&class),
            "no record of class {class}: {classes:?}"
        );
    }
}

/// A message of `sets` as an exporter would send it.
fn message(sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut msg = vec![0, 10, 0, 0, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 0, 0, 0, 0, 9];
    for (id, body) in sets {
        msg.extend_from_slice(&id.to_be_bytes());
        msg.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        msg.extend_from_slice(body);
    }
    let len = msg.len() as u16;
    msg[2..4].copy_from_slice(&len.to_be_bytes());
    msg
}

#[test]
fn bad_exporters_are_dropped_and_counted_while_a_good_one_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("view.json"), view(&[]).to_string()).unwrap();
    let (out_port, in_port) = (free_tcp_port(), free_tcp_port());
    let collected = dir.path().join("collected.jsonl");
    let collect = collector(out_port, &collected);
    let m = mediator(
        dir.path(),
        &format!("[\"tcp://127.0.0.1:{in_port}\"]"),
        &format!("tcp://127.0.0.1:{out_port}"),
        &[("PODFLOW_MEDIATOR__MESSAGE_TIMEOUT_SECS", "1")],
    );
    let addr = format!("127.0.0.1:{in_port}");
    // A web client at the IPFIX port.
    let mut garbage = TcpStream::connect(&addr).unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // A session that starts a message and says no more.
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled.write_all(&[0, 10, 0, 200, 0]).unwrap();
    // 300 templates in one session: more than the 256 a session may hold.
    let mut flood = TcpStream::connect(&addr).unwrap();
    for batch in 0..3u16 {
        let mut set = Vec::new();
        for i in 0..100u16 {
            set.extend_from_slice(&(256 + batch * 100 + i).to_be_bytes());
            set.extend_from_slice(&1u16.to_be_bytes());
            set.extend_from_slice(&[0, 8, 0, 4]);
        }
        flood.write_all(&message(&[(2, set)])).unwrap();
    }
    // Meanwhile a good exporter.
    let good = sidecar(&format!("tcp://{addr}")).output().unwrap();
    assert_success(&good);
    let sent = export_total(&String::from_utf8_lossy(&good.stderr), "records");
    std::thread::sleep(Duration::from_millis(1500));
    drop((garbage, stalled, flood));
    let log = m.stop();
    std::thread::sleep(Duration::from_millis(300));
    collect.stop();
    let got = records(&std::fs::read_to_string(&collected).unwrap());
    let flows = got
        .iter()
        .filter(|r| r.contains_key("flowEndMilliseconds"))
        .count() as u64;
    assert_eq!(flows, 101);
    assert!(sent >= 101, "the sidecar's totals: {sent}");
    assert_eq!(export_total(&log, "not_sent"), 0, "{log}");
    assert_eq!(export_total(&log, "templates_refused"), 300 - 256, "{log}");
    assert_eq!(
        export_total(&log, "exporter_errors"),
        2,
        "garbage and a stall: {log}"
    );
    for said in [
        "what is not IPFIX",
        "stalled in the middle of a message",
        "more templates than it may",
    ] {
        assert_eq!(log.matches(said).count(), 1, "{said:?} once: {log}");
    }
}

/// A pod as the API server gives it: its sandbox's network ready at `ready` (RFC 3339).
fn api_pod(name: &str, ip: &str, ready: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
            "creationTimestamp": ready, "labels": {"app": name}},
        "spec": {"nodeName": "n0", "containers": [{"name": "app", "image": "app"}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": ready,
            "conditions": [{"type": "PodReadyToStartContainers", "status": "True",
                "lastTransitionTime": ready}]}})
}

/// An exporter over UDP to the mediator on `in_port`: each call sends one flow record of
/// 10.244.0.7 ending at `end_ms`.
fn pod_flow_sender(in_port: u16) -> impl Fn(u64) {
    let exporter = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    move |end_ms| {
        exporter
            .send_to(
                &flow_message([10, 244, 0, 7], end_ms),
                ("127.0.0.1", in_port),
            )
            .unwrap();
    }
}

/// One IPFIX message of an exporter of the test's own: a template of addresses, ports,
/// protocol and flowEndMilliseconds, and one record from `src` at `end_ms`.
fn flow_message(src: [u8; 4], end_ms: u64) -> Vec<u8> {
    let mut t = vec![1, 44, 0, 6];
    for (id, len) in [(8u16, 4u16), (12, 4), (7, 2), (11, 2), (4, 1), (153, 8)] {
        t.extend_from_slice(&id.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
    }
    let mut r = src.to_vec();
    r.extend_from_slice(&[93, 184, 216, 34]);
    r.extend_from_slice(&40000u16.to_be_bytes());
    r.extend_from_slice(&443u16.to_be_bytes());
    r.push(6);
    r.extend_from_slice(&end_ms.to_be_bytes());
    message(&[(2, t), (300, r)])
}

fn post(port: u16, path: &str, body: &Value) {
    let out = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
        ])
        .arg(body.to_string())
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    assert_success(&out);
}

fn metric(port: u16, name: &str) -> Option<u64> {
    let out = Command::new("curl")
        .args(["-sf", &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn until_metric(port: u16, name: &str, want: u64) {
    let t0 = Instant::now();
    while metric(port, name) != Some(want) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{name} never {want}: {:?}",
            metric(port, name)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the test's API server served, per kind.
fn api_stats(port: u16) -> Value {
    let out = Command::new("curl")
        .args(["-sf", &format!("http://127.0.0.1:{port}/control/stats")])
        .output()
        .unwrap();
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The test's API server holding `state`, its port, and a kubeconfig for it in `dir`.
fn fake_api(dir: &Path, state: &Value) -> (Background, u16, String) {
    std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
    let (api, port) = start(
        Command::new("python3")
            .arg(root().join("it/py/fake_cluster_api.py"))
            .arg(dir.join("state.json")),
    );
    let api_port: u16 = port.parse().unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters: [{{name: fake, cluster: {{server: \"http://127.0.0.1:{api_port}\"}}}}]\n\
             users: [{{name: fake, user: {{}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: fake}}}}]\n"
        ),
    )
    .unwrap();
    (api, api_port, kubeconfig.display().to_string())
}

fn node_n0() -> Value {
    json!({"metadata": {"name": "n0", "labels": {"topology.kubernetes.io/zone": "a"}},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.77.1"}]}})
}

#[test]
fn a_recycled_address_names_each_flow_after_the_pod_that_held_it_then() {
    let dir = tempfile::tempdir().unwrap();
    // Pod a holds 10.244.0.7 from 00:00; at 01:00 it is gone and pod b has it.
    let (t0, t1) = ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z");
    let ms = |h: u64, m: u64| 1_767_225_600_000 + (h * 60 + m) * 60_000;
    // And 250 more pods, so that the list comes in pages (kube asks for 100 at a time).
    let mut pods = vec![api_pod("a", "10.244.0.7", t0)];
    pods.extend((1..=250).map(|i| api_pod(&format!("f{i}"), &format!("10.244.1.{i}"), t0)));
    let state = json!({"pods": pods, "nodes": [node_n0()], "services": [], "endpointslices": []});
    let (api, api_port, kubeconfig) = fake_api(dir.path(), &state);

    let (out_port, in_port, telemetry) = (free_tcp_port(), free_tcp_port(), free_tcp_port());
    let collected = dir.path().join("collected.jsonl");
    let collect = collector(out_port, &collected);
    let telemetry_listen = format!("127.0.0.1:{telemetry}");
    let m = mediator(
        dir.path(),
        &format!("[\"udp://127.0.0.1:{in_port}\"]"),
        &format!("tcp://127.0.0.1:{out_port}"),
        &[
            ("PODFLOW_MEDIATOR__SOURCE", "kube"),
            ("KUBECONFIG", &kubeconfig),
            ("PODFLOW_TELEMETRY__LISTEN", &telemetry_listen),
        ],
    );
    m.wait_for("the cluster view is synced");
    let send = pod_flow_sender(in_port);
    // One list of pods, in three pages, every pod in the view.
    let pod_stats = |k: &str| api_stats(api_port)["pods"][k].as_u64().unwrap();
    assert_eq!((pod_stats("lists"), pod_stats("pages")), (1, 3));
    until_metric(telemetry, "podflow_cluster_pods", 251);
    // A flow of pod a while it held the address.
    send(ms(0, 10));
    until_metric(telemetry, "podflow_mediator_records_received_total", 1);
    // Pod a deleted; pod b given its address, its network ready at 01:00.
    let pods = |t: &str, obj: Value| json!({"kind": "pods", "type": t, "object": obj});
    post(
        api_port,
        "/control/apply",
        &pods("DELETED", api_pod("a", "10.244.0.7", t0)),
    );
    post(
        api_port,
        "/control/apply",
        &pods("ADDED", api_pod("b", "10.244.0.7", t1)),
    );
    until_metric(telemetry, "podflow_cluster_pods_gone", 1);
    // A Service changes (the cluster's version moves past the pods' last change), then
    // the history is compacted: the watches get a bookmark at the newest version, end,
    // and resume from it without a list.
    let service = json!({"metadata": {"name": "s", "namespace": "shop", "uid": "svc-s"},
        "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}});
    post(
        api_port,
        "/control/apply",
        &json!({"kind": "services", "type": "ADDED", "object": service}),
    );
    until_metric(telemetry, "podflow_cluster_services", 1);
    post(api_port, "/control/compact", &json!({}));
    let t = Instant::now();
    while pod_stats("watches") < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{}",
            api_stats(api_port)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // What the resumed watch brings, and still the one list.
    post(
        api_port,
        "/control/apply",
        &pods("ADDED", api_pod("c", "10.244.2.1", t1)),
    );
    until_metric(telemetry, "podflow_cluster_pods", 252);
    assert_eq!((pod_stats("bookmarks"), pod_stats("lists")), (1, 1));
    // A late record of pod a's time, then one of pod b's.
    send(ms(0, 20));
    send(ms(1, 10));
    until_metric(telemetry, "podflow_mediator_records_received_total", 3);
    // The watch expires: the relist names only pod b, and nothing moves.
    post(api_port, "/control/expire", &json!({}));
    until_metric(telemetry, "podflow_cluster_pods_lists_total", 2);
    send(ms(0, 30));
    until_metric(telemetry, "podflow_mediator_records_received_total", 4);
    let log = m.stop();
    std::thread::sleep(Duration::from_millis(300));
    collect.stop();
    drop(api);
    assert_eq!(export_total(&log, "not_sent"), 0, "{log}");

    let got = records(&std::fs::read_to_string(&collected).unwrap());
    let named: Vec<(u64, String, String)> = got
        .iter()
        .filter(|r| r.contains_key("flowEndMilliseconds"))
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (
                r["flowEndMilliseconds"].as_u64().unwrap(),
                s("k8sSourcePodName"),
                s("k8sSourceZone"),
            )
        })
        .collect();
    let want = |t: u64, pod: &str| (t, pod.to_string(), "a".to_string());
    assert_eq!(
        named,
        [
            want(ms(0, 10), "a"),
            want(ms(0, 20), "a"),
            want(ms(1, 10), "b"),
            want(ms(0, 30), "a")
        ]
    );
}

#[test]
fn over_mutual_tls_to_json_lines_and_a_probe_without_a_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("view.json"), view(&[]).to_string()).unwrap();
    let ca = tls::Ca::new("podflow test CA");
    let server = ca.server(&["localhost"]);
    let client = ca.client("sidecar");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (ca_pem, cert, key) = (
        file("ca.crt", &ca.pem),
        file("tls.crt", &server.cert),
        file("tls.key", &server.key),
    );
    let (client_cert, client_key) = (
        file("client.crt", &client.cert),
        file("client.key", &client.key),
    );
    let port = free_tcp_port();
    let mut cmd = podflow_process();
    cmd.args(["--mode", "mediator"])
        .env(
            "PODFLOW_MEDIATOR__SOURCE",
            format!("file:{}", dir.path().join("view.json").display()),
        )
        .env(
            "PODFLOW_MEDIATOR__LISTEN",
            format!("[\"tls://127.0.0.1:{port}\"]"),
        )
        .env("PODFLOW_MEDIATOR__TLS_CERT", &cert)
        .env("PODFLOW_MEDIATOR__TLS_KEY", &key)
        .env("PODFLOW_MEDIATOR__TLS_CLIENT_CA", &ca_pem)
        .env("PODFLOW_EXPORT__COLLECTOR", "stdout")
        .env("PODFLOW_TELEMETRY__LISTEN", "")
        .stdout(Stdio::piped());
    let mut m = Running::start(cmd);
    m.wait_for("mediator running");
    let stdout = Log::of(m.child.stdout.take().unwrap());
    let at = format!("tls://localhost:{port}");
    // A sidecar with a client certificate.
    let mut good = sidecar(&at);
    good.env("PODFLOW_EXPORT__TLS_CA", &ca_pem)
        .env("PODFLOW_EXPORT__TLS_CERT", &client_cert)
        .env("PODFLOW_EXPORT__TLS_KEY", &client_key);
    let out = good.output().unwrap();
    assert_success(&out);
    assert_eq!(
        export_total(&String::from_utf8_lossy(&out.stderr), "not_sent"),
        0
    );
    // One without: the handshake fails, nothing of it is taken.
    let mut bad = sidecar(&at);
    bad.env("PODFLOW_EXPORT__TLS_CA", &ca_pem)
        .env("PODFLOW_EXPORT__DRAIN_TIMEOUT_SECS", "2");
    let out = bad.output().unwrap();
    assert_success(&out);
    std::thread::sleep(Duration::from_millis(500));
    let log = m.stop();
    let lines = stdout.wait();
    let flows: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("flowEndMilliseconds").is_some() && v.get("options").is_none())
        .collect();
    assert_eq!(flows.len(), 101, "the good sidecar's flows as JSON lines");
    assert!(flows
        .iter()
        .all(|f| f["originalExporterIPv4Address"] == "127.0.0.1"
            && f.get("k8sTrafficClass").is_some()));
    assert!(log.contains("TLS handshake failed"), "{log}");
    assert_eq!(export_total(&log, "not_sent"), 0, "{log}");
}

#[test]
fn a_collector_away_gets_what_the_buffer_held_and_the_rest_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("view.json"), view(&[]).to_string()).unwrap();
    for (buffer, all_arrive) in [("100000", true), ("20", false)] {
        let (out_port, in_port) = (free_tcp_port(), free_tcp_port());
        let collected = dir.path().join(format!("collected-{buffer}.jsonl"));
        // The collector is not there yet.
        let m = mediator(
            dir.path(),
            &format!("[\"tcp://127.0.0.1:{in_port}\"]"),
            &format!("tcp://127.0.0.1:{out_port}"),
            &[
                ("PODFLOW_EXPORT__BUFFER_RECORDS", buffer),
                ("PODFLOW_EXPORT__RECONNECT_MAX_BACKOFF_SECS", "1"),
            ],
        );
        let sent = sidecar(&format!("tcp://127.0.0.1:{in_port}"))
            .output()
            .unwrap();
        assert_success(&sent);
        let collect = collector(out_port, &collected);
        std::thread::sleep(Duration::from_secs(3));
        let log = m.stop();
        std::thread::sleep(Duration::from_millis(300));
        collect.stop();
        // Every relayed record, flows and the sidecar's own options records alike.
        let data = std::fs::read_to_string(&collected)
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"originalObservationDomainId\""))
            .count() as u64;
        let (records_in, records, not_sent) = (
            export_total(&log, "records_in"),
            export_total(&log, "records"),
            export_total(&log, "not_sent"),
        );
        assert_eq!(
            records + not_sent,
            records_in,
            "every record sent or counted: {log}"
        );
        assert_eq!(
            data, records,
            "the collector has what was counted as sent: {log}"
        );
        if all_arrive {
            assert_eq!(not_sent, 0, "{log}");
        } else {
            assert!(
                not_sent > 0 && records <= 20,
                "a buffer of 20 records: {log}"
            );
        }
    }
}

/// `/readyz` now: its status and body, `None` while nothing answers.
fn readyz(port: u16) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}/readyz"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    let code = code.trim().parse().ok().filter(|c| *c != 0)?;
    Some((code, body.to_string()))
}

fn until_ready(port: u16, want: impl Fn(&(u16, String)) -> bool) -> (u16, String) {
    let t0 = Instant::now();
    loop {
        let now = readyz(port);
        if let Some(r) = now.filter(|r| want(r)) {
            return r;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "/readyz never as wanted: {:?}",
            readyz(port)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn with_the_api_server_away_records_go_out_with_what_is_known_counted_and_readyz_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = "2026-01-01T00:00:00Z";
    let ms = |m: u64| 1_767_225_600_000 + m * 60_000;
    let state = json!({"pods": [api_pod("a", "10.244.0.7", t0)], "nodes": [node_n0()],
        "services": [], "endpointslices": []});
    let (_api, api_port, kubeconfig) = fake_api(dir.path(), &state);
    let outage = |down: bool| post(api_port, "/control/outage", &json!({ "down": down }));
    // The API server is away from the start.
    outage(true);

    let (out_port, in_port, telemetry) = (free_tcp_port(), free_tcp_port(), free_tcp_port());
    let collected = dir.path().join("collected.jsonl");
    let collect = collector(out_port, &collected);
    let telemetry_listen = format!("127.0.0.1:{telemetry}");
    let grace = Duration::from_secs(4);
    let started = Instant::now();
    let m = mediator(
        dir.path(),
        &format!("[\"udp://127.0.0.1:{in_port}\"]"),
        &format!("tcp://127.0.0.1:{out_port}"),
        &[
            ("PODFLOW_MEDIATOR__SOURCE", "kube"),
            ("PODFLOW_MEDIATOR__CLUSTER_CIDRS", "[\"10.244.0.0/16\"]"),
            ("PODFLOW_MEDIATOR__SYNC_GRACE_SECS", "4"),
            ("KUBECONFIG", &kubeconfig),
            ("PODFLOW_TELEMETRY__LISTEN", &telemetry_listen),
        ],
    );
    // Not ready while the grace for the first lists lasts, then ready, saying what is
    // missing. (An answer seen before the grace is over must be a 503; a slow start may
    // see none.)
    let (code, body) = until_ready(telemetry, |(code, body)| {
        assert!(
            *code == 503 || started.elapsed() >= grace,
            "ready before the sync grace was over: {body}"
        );
        if *code == 503 {
            assert!(
                body.contains("the cluster view is not synced (not listed yet: pods, services, endpointslices, nodes"),
                "{body}"
            );
        }
        *code == 200
    });
    assert!(
        body.starts_with("ready, but the cluster view is not current (not listed yet: pods, services, endpointslices, nodes")
            && body.contains("records go out with what it knows"),
        "{code} {body}"
    );
    assert_eq!(metric(telemetry, "podflow_cluster_current"), Some(0));

    let send = pod_flow_sender(in_port);
    // With no view at all, the record goes out at once, its pod end unnamed.
    send(ms(1));
    until_metric(telemetry, "podflow_mediator_records_received_total", 1);
    until_metric(telemetry, "podflow_mediator_records_not_current_total", 1);

    // The API server is back: listed, current, ready without a caveat.
    outage(false);
    until_metric(telemetry, "podflow_cluster_current", 1);
    let (_, body) = until_ready(telemetry, |(code, _)| *code == 200);
    assert_eq!(body, "ready");
    send(ms(2));
    until_metric(telemetry, "podflow_mediator_records_received_total", 2);

    // Away again: the view keeps what it had, and says it is not current.
    outage(true);
    until_metric(telemetry, "podflow_cluster_current", 0);
    let (_, body) = until_ready(telemetry, |(_, body)| body != "ready");
    assert!(
        body.starts_with("ready, but the cluster view is not current (the ")
            && body.contains(
                " failing: the API server answered 503 ServiceUnavailable: the API server is away"
            ),
        "{body}"
    );
    send(ms(3));
    until_metric(telemetry, "podflow_mediator_records_received_total", 3);

    let log = m.stop();
    std::thread::sleep(Duration::from_millis(300));
    collect.stop();
    assert_eq!(export_total(&log, "not_sent"), 0, "{log}");
    assert_eq!(export_total(&log, "not_current"), 2, "{log}");
    assert_eq!(export_total(&log, "unowned_ends"), 1, "{log}");
    assert!(log.contains("watch failing"), "{log}");
    assert!(log.contains("watch recovered"), "{log}");
    let got: Vec<(u64, String)> = records(&std::fs::read_to_string(&collected).unwrap())
        .iter()
        .filter(|r| r.contains_key("flowEndMilliseconds"))
        .map(|r| {
            (
                r["flowEndMilliseconds"].as_u64().unwrap(),
                r["k8sSourcePodName"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (ms(1), String::new()),
            (ms(2), "a".to_string()),
            (ms(3), "a".to_string())
        ]
    );
}
