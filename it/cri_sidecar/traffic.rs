//! The test's traffic to an injected pod and its ground truth: HTTP to the application,
//! UDP datagrams to an echo service in the pod's network namespace, pings; a tcpdump on
//! the pod's host-side veth in the node's namespace records them, and the records the
//! sidecar exported must carry exactly what it saw.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use podflow::ipfix::DataRecord;

use crate::common::{root, run, start, Background};
use crate::cri::node::Node;
use crate::pod::APP_PORT;
use crate::truth::{key_of, per_direction, truth_from_pcap, Key, Truth};

/// The echo service's UDP port in the pod.
pub const UDP_PORT: u16 = 5353;

/// What tcpdump keeps: the test's traffic, not the probes, the telemetry or the export.
fn filter() -> String {
    format!("tcp port {APP_PORT} or udp port {UDP_PORT} or icmp")
}

/// Whether a conversation belongs to the test's traffic with the pod at `pod_ip`.
fn is_test_traffic(key: &Key, pod_ip: IpAddr) -> bool {
    let (src, dst, proto, sport, dport) = *key;
    let ports = |port: u16| sport == port || dport == port;
    (src == pod_ip || dst == pod_ip)
        && match proto {
            6 => ports(APP_PORT),
            17 => ports(UDP_PORT),
            1 => true,
            _ => false,
        }
}

/// The records of the test's traffic with the pod at `pod_ip`.
pub fn test_records(records: &[DataRecord], pod_ip: IpAddr) -> Vec<&DataRecord> {
    records
        .iter()
        .filter(|r| is_test_traffic(&key_of(r), pod_ip))
        .collect()
}

/// Whether a record is one of a TCP connection (or attempt) to the application.
pub fn is_http(r: &DataRecord) -> bool {
    r.get_u64("protocolIdentifier") == Some(6)
        && r.get_u64("destinationTransportPort") == Some(APP_PORT.into())
}

/// How many records are of HTTP connections that the application answered and that
/// ended (TCP end, then the linger): an attempt refused before it listened has 1
/// packet back, an answered connection a handshake, an answer and a FIN.
pub fn answered_http<'a>(records: impl IntoIterator<Item = &'a DataRecord>) -> usize {
    records
        .into_iter()
        .filter(|r| {
            is_http(r)
                && r.get_u64("flowEndReason") == Some(3)
                && r.get_u64("reversePacketDeltaCount").unwrap_or(0) >= 3
        })
        .count()
}

/// Asserts that `records` (the test's traffic) carry, per direction of each
/// conversation, exactly the packets and IP bytes tcpdump saw; returns the packets.
pub fn assert_exact(what: &str, records: &[&DataRecord], truth: &WireTruth, pod_ip: IpAddr) -> u64 {
    let wire: Truth = truth
        .packets
        .iter()
        .filter(|(key, _)| is_test_traffic(key, pod_ip))
        .map(|(k, v)| (*k, *v))
        .collect();
    assert!(
        !wire.is_empty(),
        "{what}: tcpdump saw none of the test's traffic"
    );
    let metered = per_direction(records.iter().copied());
    let mut diff: Vec<String> = wire
        .keys()
        .chain(metered.keys())
        .filter(|k| wire.get(k) != metered.get(k))
        .map(|k| {
            format!(
                "{k:?}: wire {:?}, records {:?}",
                wire.get(k),
                metered.get(k)
            )
        })
        .collect();
    diff.sort();
    diff.dedup();
    assert!(
        diff.is_empty(),
        "{what}: records and wire differ (packets, IP bytes), {} packets passed tcpdump's \
         filter after it stopped reading:\n{}",
        truth.unread,
        diff.join("\n")
    );
    wire.values().map(|(packets, _)| packets).sum()
}

/// What tcpdump saw.
pub struct WireTruth {
    /// Per direction of each 5-tuple.
    pub packets: Truth,
    /// Packets that passed its filter after it stopped reading, so not in `packets`: a
    /// record that counts more than the wire may have counted one of them.
    pub unread: u64,
}

/// tcpdump on the host-side veth of a pod, in the node's network namespace.
pub struct Wire {
    tcpdump: Option<Background>,
    pcap: PathBuf,
    /// tcpdump's standard error: when it listens, and what it captured and lost.
    said: PathBuf,
    _dir: tempfile::TempDir,
}

/// The veths in the network namespace `netns`.
fn veths(netns: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-n", netns, "-o", "link", "show", "type", "veth"])
        .output()
        .expect("ip (iproute2) runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap().to_string())
        .collect()
}

impl Wire {
    /// Starts tcpdump on `interface` of namespace `netns`; returns once it listens.
    fn start(netns: &str, interface: &str) -> Wire {
        let dir = tempfile::tempdir().unwrap();
        let pcap = dir.path().join("wire.pcap");
        let said = dir.path().join("tcpdump.err");
        let child = Command::new("ip")
            .args([
                "netns", "exec", netns, "tcpdump", "-Z", "root", "-i", interface,
            ])
            // Headers are enough (IP total length is a header field); a small snapshot and
            // a large buffer keep bursts from overflowing tcpdump's ring.
            .args(["--immediate-mode", "-U", "-s", "128", "-B", "16384", "-w"])
            .arg(&pcap)
            .arg(filter())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&said).unwrap())
            .spawn()
            .expect("tcpdump runs");
        let wire = Wire {
            tcpdump: Some(Background(child)),
            pcap,
            said,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let said = || std::fs::read_to_string(&wire.said).unwrap_or_default();
        while !said().contains("listening on") {
            assert!(
                Instant::now() < deadline,
                "tcpdump does not listen on {interface}: {}",
                said()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        wire
    }

    /// Watches the node for the veth of the next pod (one that does not exist yet) and
    /// starts tcpdump on it as soon as it appears, while the pod starts.
    pub fn next_pod(node: &Node) -> PendingWire {
        let netns = node.name.clone();
        let before = veths(&netns);
        let cancel = Arc::new(AtomicBool::new(false));
        let thread = {
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !cancel.load(Ordering::Relaxed) && Instant::now() < deadline {
                    if let Some(veth) = veths(&netns).into_iter().find(|v| !before.contains(v)) {
                        return Some(Wire::start(&netns, &veth));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                None
            })
        };
        PendingWire {
            thread: Some(thread),
            cancel,
        }
    }

    /// Stops tcpdump once it has written everything it read (its file has not grown for
    /// half a second); what it saw. Stop it while the pod's veth still exists: when the
    /// veth goes, tcpdump leaves without what it had not read yet. Fails when tcpdump's
    /// buffer overflowed.
    pub fn truth(mut self) -> WireTruth {
        let size = || std::fs::metadata(&self.pcap).map_or(0, |m| m.len());
        let mut seen = size();
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = size();
            if now == seen {
                break;
            }
            seen = now;
        }
        drop(self.tcpdump.take());
        let said = std::fs::read_to_string(&self.said).unwrap_or_default();
        let count = |what: &str| {
            said.lines()
                .find_map(|l| l.strip_suffix(what)?.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("tcpdump's summary has no {what:?}: {said}"))
        };
        assert_eq!(
            count(" packets dropped by kernel"),
            0,
            "tcpdump's buffer overflowed, the ground truth is incomplete: {said}"
        );
        WireTruth {
            packets: truth_from_pcap(&self.pcap),
            unread: count(" packets received by filter").saturating_sub(count(" packets captured")),
        }
    }
}

/// A [`Wire`] waiting for its pod's veth; dropping it stops the watch and any tcpdump.
pub struct PendingWire {
    thread: Option<JoinHandle<Option<Wire>>>,
    cancel: Arc<AtomicBool>,
}

impl PendingWire {
    /// The running tcpdump, once the pod's veth appeared.
    pub fn ready(mut self) -> Wire {
        let thread = self.thread.take().unwrap();
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            .expect("the pod's veth appeared on the node")
    }
}

impl Drop for PendingWire {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn traffic_py() -> PathBuf {
    root().join("it/py/traffic.py")
}

/// A UDP echo service in the network namespace of process `pid` (a container of the
/// pod), on `pod_ip`; it stops when dropped.
pub fn udp_echo(pid: u32, pod_ip: IpAddr) -> Background {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/proc/{pid}/ns/net"))
        .arg("python3")
        .arg(traffic_py())
        .args(["udp-echo", &pod_ip.to_string(), &UDP_PORT.to_string()]);
    start(cmd).0
}

/// Sends `count` datagrams of `size` bytes from the node to the echo service, each once
/// the echo of the one before is back.
pub fn udp_exchange(node: &Node, pod_ip: IpAddr, count: u32, size: u32) {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &node.name, "python3"])
        .arg(traffic_py())
        .args(["udp-ask", &pod_ip.to_string(), &UDP_PORT.to_string()])
        .args([count.to_string(), size.to_string()]);
    run(cmd);
}

/// `count` pings from the node to the pod, 0.2 s apart.
pub fn ping(node: &Node, pod_ip: IpAddr, count: u32) {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns", "exec", &node.name, "ping", "-q", "-i", "0.2", "-W", "2",
    ])
    .args(["-c", &count.to_string(), &pod_ip.to_string()]);
    run(cmd);
}
