//! The real `podflow --mode sidecar` inside a "pod" network namespace, as a kubelet would
//! run it: identity from env vars, labels and annotations from Downward-API files laid out
//! with the kubelet's `..data` symlink. Real traffic to and from a "peer" namespace; the
//! IPFIX export goes over UDP to a collector in the peer namespace. What the collector
//! received is checked against a tcpdump of the same traffic. Needs root.

mod common;
#[path = "sidecar_netns/downward.rs"]
mod downward;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/truth.rs"]
mod truth;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use downward::DownwardVolume;
use netns::PodNet;
use podflow::ipfix::DataRecord;
use truth::{addr, truth_from_pcap, Key, Truth};

fn python_in(ns: &str, script: &str, args: &[&str]) -> Command {
    let mut cmd = PodNet::exec(ns, "python3");
    cmd.arg(root().join("it/py").join(script)).args(args);
    cmd
}

/// The records of one conversation (initiator first), pieces summed: (fwd pkts, fwd bytes,
/// rev pkts, rev bytes, the records).
fn records_of(records: &[DataRecord], key: Key) -> (u64, u64, u64, u64, Vec<&DataRecord>) {
    let (src, dst, proto, sport, dport) = key;
    let mine: Vec<&DataRecord> = records
        .iter()
        .filter(|r| {
            addr(r, "sourceIPv4Address", "sourceIPv6Address") == src
                && addr(r, "destinationIPv4Address", "destinationIPv6Address") == dst
                && r.get_u64("protocolIdentifier") == Some(proto.into())
                && r.get_u64("sourceTransportPort") == Some(sport.into())
                && (r.get_u64("destinationTransportPort") == Some(dport.into())
                    || r.get_u64("icmpTypeCodeIPv4") == Some(dport.into())
                    || r.get_u64("icmpTypeCodeIPv6") == Some(dport.into()))
        })
        .collect();
    let sum = |name: &str| {
        mine.iter()
            .map(|r| r.get_u64(name).unwrap_or(0))
            .sum::<u64>()
    };
    (
        sum("packetDeltaCount"),
        sum("octetDeltaCount"),
        sum("reversePacketDeltaCount"),
        sum("reverseOctetDeltaCount"),
        mine,
    )
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn sidecar_in_a_pod_namespace_root() {
    let net = PodNet::new(31);
    let work = tempfile::tempdir().unwrap();
    let podinfo = work.path().join("podinfo");
    std::fs::create_dir(&podinfo).unwrap();
    let mut volume = DownwardVolume::new(
        &podinfo,
        "app=\"shop\"\npod-template-hash=\"7c9d8f6b5\"\n",
        "team=\"payments\"\nnote=\"say \\\"hi\\\"\\nbye\"\n",
    );
    let mut peer = Peer::start(&net, work.path());
    // The application in the pod serves connections too (ingress).
    let (_app, _) = start(python_in(
        &net.pod,
        "traffic.py",
        &["tcp-server", &net.pod_v4, "9090"],
    ));
    let sidecar = Sidecar::start(&net, work.path(), &podinfo);

    let traffic = Traffic::make(&net);
    let late_port = relabel_then_send(&net, &mut volume);
    check_metrics(&net);
    let log_text = sidecar.stop();
    let wire = peer.stop_capture();

    let records = flow_records(&read_ipfix_file(&work.path().join("collector.ipfix")));
    let truth = truth_from_pcap(&wire);
    check_conversations(&net, &traffic, &records, &truth);
    check_kubernetes_fields(&net, &traffic, late_port, &records);

    // Nothing was lost on the way out.
    assert!(log_text.contains("\"not_sent\":0"), "{log_text}");
}

/// The peer namespace: a collector writing to `collector.ipfix`, TCP and UDP servers, and
/// tcpdump writing the ground truth to `wire.pcap`.
struct Peer {
    _servers: Vec<Background>,
    tcpdump: Option<Background>,
    wire: PathBuf,
}

impl Peer {
    fn start(net: &PodNet, work: &Path) -> Peer {
        let records_file = work.join("collector.ipfix");
        let wire = work.join("wire.pcap");
        let servers = [
            (
                "udp_sink.py",
                [net.peer_v4.as_str(), "4739", records_file.to_str().unwrap()],
            ),
            ("traffic.py", ["tcp-server", &net.peer_v4, "8080"]),
            ("traffic.py", ["tcp-server", &net.peer_v6, "8080"]),
            ("traffic.py", ["udp-echo", &net.peer_v4, "5353"]),
        ]
        .map(|(script, args)| start(python_in(&net.peer, script, &args)).0);
        let tcpdump = netns::tcpdump(&net.peer, "peer0", &wire, &["not", "udp", "port", "4739"]);
        Peer {
            _servers: servers.into(),
            tcpdump: Some(tcpdump),
            wire,
        }
    }

    /// Stops tcpdump and gives its capture; the collector and servers stay.
    fn stop_capture(&mut self) -> PathBuf {
        std::thread::sleep(Duration::from_millis(300));
        drop(self.tcpdump.take());
        self.wire.clone()
    }
}

/// The sidecar, configured as the injected one is, logging JSON to `podflow.log`.
struct Sidecar {
    child: Option<std::process::Child>,
    log: PathBuf,
}

impl Sidecar {
    /// Starts it and waits until `/readyz` says it is ready.
    fn start(net: &PodNet, work: &Path, podinfo: &Path) -> Sidecar {
        let log = work.join("podflow.log");
        let mut sidecar = PodNet::exec(
            &net.pod,
            assert_cmd::cargo::cargo_bin("podflow").to_str().unwrap(),
        );
        for (k, _) in std::env::vars() {
            if k.starts_with("PODFLOW_") || k == "RUST_LOG" {
                sidecar.env_remove(k);
            }
        }
        sidecar
            .args(["--mode", "sidecar"])
            .env(
                "PODFLOW_EXPORT__COLLECTOR",
                format!("udp://{}:4739", net.peer_v4),
            )
            .env("PODFLOW_K8S__POD_NAME", "shop-web-7c9d8f6b5-x2x9k")
            .env("PODFLOW_K8S__POD_NAMESPACE", "shop")
            .env(
                "PODFLOW_K8S__POD_UID",
                "3f1c6f3e-9a51-4c5e-8a7e-0c2d4b1e7f00",
            )
            .env("PODFLOW_K8S__NODE_NAME", "node-1")
            .env("PODFLOW_K8S__NODE_IP", "192.168.50.10")
            .env("PODFLOW_K8S__CLUSTER_NAME", "lab")
            .env("PODFLOW_K8S__LABELS_FILE", podinfo.join("labels"))
            .env("PODFLOW_K8S__ANNOTATIONS_FILE", podinfo.join("annotations"))
            .env("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "2")
            .env("PODFLOW_FLOW__SWEEP_INTERVAL_MS", "200")
            .env("PODFLOW_TELEMETRY__LISTEN", "127.0.0.1:9477")
            .env("PODFLOW_LOG__FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let sidecar = Sidecar {
            child: Some(sidecar.spawn().unwrap()),
            log,
        };
        wait_until("/readyz", 15, || {
            PodNet::exec(&net.pod, "curl")
                .args(["-sf", "http://127.0.0.1:9477/readyz"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        sidecar
    }

    /// SIGTERM with a connection open (it must come out as a forced end): podflow exits 0.
    /// Gives its log.
    fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        assert!(Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let status = child.wait().unwrap();
        let log_text = std::fs::read_to_string(&self.log).unwrap();
        assert!(status.success(), "podflow exited with {status}: {log_text}");
        log_text
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            drop(Background(child));
        }
    }
}

/// The local ports of the conversations made, to find their records.
struct Traffic {
    egress: u16,
    egress6: u16,
    ingress: u16,
    udp: u16,
    /// A connection still open at shutdown.
    held: u16,
    _held: Background,
}

impl Traffic {
    /// Traffic with known shapes, both directions, v4 and v6; then lets the finished flows
    /// end (idle 2 s, linger 1 s) and reach the collector.
    fn make(net: &PodNet) -> Traffic {
        let c = |ns: &str, args: &[&str]| -> u16 {
            run(python_in(ns, "traffic.py", args)).parse().unwrap()
        };
        let egress = c(
            &net.pod,
            &["tcp-client", &net.peer_v4, "8080", "5000", "200000"],
        );
        let egress6 = c(
            &net.pod,
            &["tcp-client", &net.peer_v6, "8080", "1000", "3000"],
        );
        let ingress = c(
            &net.peer,
            &["tcp-client", &net.pod_v4, "9090", "20000", "100"],
        );
        let udp = c(&net.pod, &["udp-send", &net.peer_v4, "5353", "10", "100"]);
        run({
            let mut p = PodNet::exec(&net.pod, "ping");
            p.args(["-c", "3", "-i", "0.2", &net.peer_v4]);
            p
        });
        run({
            let mut p = PodNet::exec(&net.peer, "ping");
            p.args(["-6", "-c", "3", "-i", "0.2", &net.pod_v6]);
            p
        });
        let (held_process, held) = start(python_in(
            &net.pod,
            "traffic.py",
            &["tcp-hold", &net.peer_v4, "8080"],
        ));
        std::thread::sleep(Duration::from_secs(4));
        Traffic {
            egress,
            egress6,
            ingress,
            udp,
            held: held.parse().unwrap(),
            _held: held_process,
        }
    }
}

/// The labels change: later records carry the new ones. Gives the port of a conversation
/// made after the change.
fn relabel_then_send(net: &PodNet, volume: &mut DownwardVolume) -> u16 {
    volume.update(
        "app=\"shop\"\npod-template-hash=\"7c9d8f6b5\"\nversion=\"v2\"\n",
        "team=\"payments\"\n",
    );
    std::thread::sleep(Duration::from_millis(2500));
    let late_port: u16 = run(python_in(
        &net.pod,
        "traffic.py",
        &["udp-send", &net.peer_v4, "5353", "2", "50"],
    ))
    .parse()
    .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    late_port
}

/// The metrics say what happened so far.
fn check_metrics(net: &PodNet) {
    let metrics = {
        let out = PodNet::exec(&net.pod, "curl")
            .args(["-sf", "http://127.0.0.1:9477/metrics"])
            .output()
            .unwrap();
        assert!(out.status.success(), "GET /metrics failed");
        String::from_utf8(out.stdout).unwrap()
    };
    let metric = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    };
    assert_eq!(metric("podflow_capture_interfaces"), 1.0);
    assert_eq!(metric("podflow_capture_up"), 1.0);
    assert!(metric("podflow_capture_packets_total") > 100.0);
    assert!(metric("podflow_export_records_total") > 0.0);
    assert_eq!(metric("podflow_export_records_not_sent_total"), 0.0);
    assert_eq!(metric("podflow_metadata_identity_changes_total"), 2.0);
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Every conversation: 5-tuple with the initiator as source, direction, counts equal to
/// tcpdump's per direction, end reason.
fn check_conversations(net: &PodNet, traffic: &Traffic, records: &[DataRecord], truth: &Truth) {
    let (pod4, peer4, pod6, peer6) = (
        ip(&net.pod_v4),
        ip(&net.peer_v4),
        ip(&net.pod_v6),
        ip(&net.peer_v6),
    );
    let cases: [(&str, Key, u64, u64); 9] = [
        (
            "tcp egress v4",
            (pod4, peer4, 6, traffic.egress, 8080),
            1,
            3,
        ),
        (
            "tcp egress v6",
            (pod6, peer6, 6, traffic.egress6, 8080),
            1,
            3,
        ),
        ("tcp ingress", (peer4, pod4, 6, traffic.ingress, 9090), 0, 3),
        ("udp egress", (pod4, peer4, 17, traffic.udp, 5353), 1, 1),
        ("ping request", (pod4, peer4, 1, 0, 8 * 256), 1, 1),
        ("ping reply", (peer4, pod4, 1, 0, 0), 0, 1),
        ("ping6 request", (peer6, pod6, 58, 0, 128 * 256), 0, 1),
        ("ping6 reply", (pod6, peer6, 58, 0, 129 * 256), 1, 1),
        (
            "held at shutdown",
            (pod4, peer4, 6, traffic.held, 8080),
            1,
            4,
        ),
    ];
    for (what, key, direction, reason) in cases {
        let (src, dst, proto, sport, dport) = key;
        let (fp, fo, rp, ro, recs) = records_of(records, key);
        assert!(!recs.is_empty(), "{what}: no record");
        let fwd = truth
            .get(&(src, dst, proto, sport, dport))
            .copied()
            .unwrap_or_default();
        let icmp = proto == 1 || proto == 58;
        let rev = if icmp {
            (0, 0)
        } else {
            truth
                .get(&(dst, src, proto, dport, sport))
                .copied()
                .unwrap_or_default()
        };
        assert!(fwd.0 > 0, "{what}: tcpdump saw nothing");
        if reason == 4 {
            // Still sending when podflow stopped; tcpdump went on a little longer.
            assert!(
                fp > 0 && fp <= fwd.0 && rp <= rev.0,
                "{what}: {fp} of {} packets",
                fwd.0
            );
        } else {
            assert_eq!((fp, fo), fwd, "{what}: forward packets and bytes");
            assert_eq!((rp, ro), rev, "{what}: reverse packets and bytes");
        }
        for r in &recs {
            assert_eq!(
                r.get_u64("flowDirection"),
                Some(direction),
                "{what}: direction"
            );
            assert_eq!(r.get_str("interfaceName"), Some("eth0"), "{what}");
        }
        assert_eq!(
            recs.last().unwrap().get_u64("flowEndReason"),
            Some(reason),
            "{what}: end reason"
        );
    }
}

/// The Kubernetes fields, labels and annotations as JSON; the workload derived from the
/// pod name and its pod-template-hash label; the labels of before and after the change.
fn check_kubernetes_fields(
    net: &PodNet,
    traffic: &Traffic,
    late_port: u16,
    records: &[DataRecord],
) {
    let (pod4, peer4) = (ip(&net.pod_v4), ip(&net.peer_v4));
    for r in records {
        assert_eq!(r.get_str("k8sPodName"), Some("shop-web-7c9d8f6b5-x2x9k"));
        assert_eq!(r.get_str("k8sPodNamespace"), Some("shop"));
        assert_eq!(
            r.get_str("k8sPodUid"),
            Some("3f1c6f3e-9a51-4c5e-8a7e-0c2d4b1e7f00")
        );
        assert_eq!(r.get_str("k8sNodeName"), Some("node-1"));
        assert_eq!(r.get_ip("k8sNodeIPv4Address"), Some(ip("192.168.50.10")));
        assert_eq!(r.get_str("k8sClusterName"), Some("lab"));
        assert_eq!(r.get_str("k8sWorkloadName"), Some("shop-web"));
        assert_eq!(r.get_str("k8sWorkloadKind"), Some("Deployment"));
        assert_eq!(r.get_u64("k8sObservationPoint"), Some(1));
    }
    let (.., early) = records_of(records, (pod4, peer4, 17, traffic.udp, 5353));
    assert_eq!(
        early[0].get_str("k8sPodLabels"),
        Some(r#"{"app":"shop","pod-template-hash":"7c9d8f6b5"}"#)
    );
    assert_eq!(
        early[0].get_str("k8sPodAnnotations"),
        Some(r#"{"note":"say \"hi\"\nbye","team":"payments"}"#)
    );
    let (.., late) = records_of(records, (pod4, peer4, 17, late_port, 5353));
    assert_eq!(
        late[0].get_str("k8sPodLabels"),
        Some(r#"{"app":"shop","pod-template-hash":"7c9d8f6b5","version":"v2"}"#)
    );
    assert_eq!(
        late[0].get_str("k8sPodAnnotations"),
        Some(r#"{"team":"payments"}"#)
    );
}
