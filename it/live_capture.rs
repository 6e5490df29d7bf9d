//! Live capture end to end, in network namespaces made by the test (needs root): a "pod"
//! namespace with `eth0` and a "peer" one joined by a veth pair. The capture runs in a
//! child process started inside the pod namespace (this same test binary, running the
//! ignored `capture_in_this_namespace`), driven over its stdin; the traffic comes from
//! ping and small Python senders with known packet counts and sizes.

mod common;
#[path = "common/netns.rs"]
mod netns;

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netns::PodNet;
use podflow::capture::{Backend, CaptureStats, Config, LiveCapture};
use podflow::flow::{wall_now, FlowRecord, FlowTable, FlowTableConfig, NANOS_PER_SEC};
use serde_json::{json, Value};

/// Set on the child process so that the inner test runs only when driven.
const INNER_ENV: &str = "PODFLOW_LIVE_CAPTURE_INNER";
/// UDP port the pod listens on (without reading) for the incoming burst.
const BURST_PORT: u16 = 7001;
const ECHO_PORT: u16 = 7002;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The capture process inside the pod namespace.
struct Capturer {
    child: Child,
    input: ChildStdin,
    /// Its `@@ ` lines, read by a thread so that a silent child fails the test instead
    /// of hanging it.
    replies: Receiver<String>,
}

impl Capturer {
    fn start(net: &PodNet, backend: &str) -> Capturer {
        let exe = std::env::current_exe().unwrap();
        let mut child = PodNet::exec(&net.pod, exe.to_str().unwrap())
            .args([
                "--exact",
                "capture_in_this_namespace",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INNER_ENV, backend)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            // The harness starts its own line with the test's name: look past it.
            for line in output.lines().map_while(Result::ok) {
                if let Some(at) = line.find("@@ ") {
                    let _ = tx.send(line[at + 3..].to_owned());
                }
            }
        });
        let mut c = Capturer {
            child,
            input,
            replies,
        };
        assert_eq!(c.reply(), "ready");
        c
    }

    fn reply(&mut self) -> String {
        self.replies
            .recv_timeout(Duration::from_secs(60))
            .expect("an answer from the capture process")
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.input, "{command}").unwrap();
        self.input.flush().unwrap();
        self.reply()
    }
}

impl Drop for Capturer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A background process that is killed when the value is dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn traffic_py() -> String {
    common::root()
        .join("it/py/traffic.py")
        .display()
        .to_string()
}

/// Sends `n` UDP datagrams of `size` bytes to `addr:port` from namespace `ns`, as fast as
/// Python can.
fn udp_burst(ns: &str, addr: &str, port: u16, n: u64, size: usize) {
    let script = "import socket, sys\n\
                  a = (sys.argv[1], int(sys.argv[2]))\n\
                  s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                  b = b'x' * int(sys.argv[4])\n\
                  for _ in range(int(sys.argv[3])):\n    s.sendto(b, a)\n";
    run_ok(PodNet::exec(ns, "python3").args([
        "-c",
        script,
        addr,
        &port.to_string(),
        &n.to_string(),
        &size.to_string(),
    ]));
}

/// UDP datagrams that reached the UDP layer of namespace `ns` (delivered, refused for no
/// port, or dropped for a full buffer), from its /proc/net/snmp: each passed the packet
/// sockets of the interface it came in on first.
fn udp_datagrams_in(ns: &str) -> u64 {
    let snmp = run_ok(PodNet::exec(ns, "cat").arg("/proc/net/snmp"));
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter(|(name, _)| ["InDatagrams", "NoPorts", "InErrors"].contains(name))
        .map(|(_, value)| value.parse::<u64>().unwrap())
        .sum()
}

/// The flow record of the result whose key matches, or a panic listing them all.
fn flow<'a>(result: &'a Value, proto: u64, src: &str, dst: &str, dst_port: u64) -> &'a Value {
    let flows = result["flows"].as_array().unwrap();
    flows
        .iter()
        .find(|f| {
            f["proto"] == proto && f["src"] == src && f["dst"] == dst && f["dst_port"] == dst_port
        })
        .unwrap_or_else(|| panic!("no flow {proto} {src} -> {dst}:{dst_port} in {flows:#?}"))
}

fn counts(f: &Value) -> [u64; 4] {
    ["packets", "octets", "rev_packets", "rev_octets"].map(|k| f[k].as_u64().unwrap())
}

#[test]
fn live_capture_in_netns_needs_root() {
    live_capture_in_netns("ring", 61);
}

/// The same with the fallback backend, pnet.
#[test]
fn live_capture_pnet_in_netns_needs_root() {
    live_capture_in_netns("pnet", 62);
}

/// Rings in a PACKET_FANOUT group of two per interface, read by two threads.
#[test]
fn live_capture_fanout_in_netns_needs_root() {
    live_capture_in_netns("fanout", 63);
}

/// Held by each test for its whole run: the bursts of three tests at once on two cores
/// would measure each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn live_capture_in_netns(backend: &str, net_id: u8) {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !is_root() {
        eprintln!("skipped: needs root to make network namespaces");
        return;
    }
    let net = PodNet::new(net_id);
    let mut cap = Capturer::start(&net, backend);

    // Outgoing requests and incoming replies (IPv4), incoming requests and outgoing
    // replies (IPv6).
    run_ok(PodNet::exec(&net.pod, "ping").args(["-n", "-q", "-c", "5", "-i", "0.2", &net.peer_v4]));
    run_ok(PodNet::exec(&net.peer, "ping").args(["-n", "-q", "-c", "3", "-i", "0.2", &net.pod_v6]));

    // A UDP exchange the pod starts: 100 datagrams out, 100 echoes back.
    let mut echo = Background(
        PodNet::exec(&net.peer, "python3")
            .args([
                &traffic_py(),
                "udp-echo",
                &net.peer_v4,
                &ECHO_PORT.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(echo.0.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "listening");
    let port = run_ok(PodNet::exec(&net.pod, "python3").args([
        &traffic_py(),
        "udp-send",
        &net.peer_v4,
        &ECHO_PORT.to_string(),
        "100",
        "200",
    ]));
    let udp_port: u64 = port.trim().parse().unwrap();

    // A burst into the pod as fast as it can be sent: whatever the capture could not keep
    // up with must show as kernel drops. What reached the pod is counted by the pod's own
    // UDP layer, not taken from what was sent (a busy machine drops some on the way).
    const BURST: u64 = 100_000;
    let before = udp_datagrams_in(&net.pod);
    udp_burst(&net.peer, &net.pod_v4, BURST_PORT, BURST, 32);
    let arrived = udp_datagrams_in(&net.pod) - before;

    // Interfaces that come and go are picked up and let go.
    run_ok(Command::new("ip").args([
        "-n", &net.pod, "link", "add", "extra0", "type", "veth", "peer", "name", "extra1", "netns",
        &net.peer,
    ]));
    run_ok(Command::new("ip").args(["-n", &net.pod, "link", "set", "extra0", "up"]));
    assert_eq!(cap.ask("wait-captured extra0"), "ok");
    run_ok(Command::new("ip").args(["-n", &net.pod, "link", "del", "extra0"]));
    assert_eq!(cap.ask("wait-gone extra0"), "ok");

    std::thread::sleep(Duration::from_millis(300));
    let result: Value = serde_json::from_str(&cap.ask("stop")).unwrap();
    eprintln!("stats: {}", result["stats"]);

    assert_eq!(result["interfaces"], json!(["eth0", "extra0"]));
    let addrs = result["addresses"].as_array().unwrap();
    assert!(addrs.contains(&json!(net.pod_v4)) && addrs.contains(&json!(net.pod_v6)));

    // ICMP: requests and replies are separate flows; 56 data bytes make 84-byte IPv4 and
    // 104-byte IPv6 packets.
    let (pod4, peer4, pod6, peer6) = (&net.pod_v4, &net.peer_v4, &net.pod_v6, &net.peer_v6);
    assert_eq!(
        counts(flow(&result, 1, pod4, peer4, 8 << 8)),
        [5, 5 * 84, 0, 0]
    );
    assert_eq!(counts(flow(&result, 1, peer4, pod4, 0)), [5, 5 * 84, 0, 0]);
    assert_eq!(
        counts(flow(&result, 58, peer6, pod6, 128 << 8)),
        [3, 3 * 104, 0, 0]
    );
    assert_eq!(
        counts(flow(&result, 58, pod6, peer6, 129 << 8)),
        [3, 3 * 104, 0, 0]
    );

    let udp = flow(&result, 17, pod4, peer4, u64::from(ECHO_PORT));
    assert_eq!(udp["src_port"], udp_port);
    assert_eq!(counts(udp), [100, 100 * 228, 100, 100 * 228]);

    let burst = counts(flow(&result, 17, peer4, pod4, u64::from(BURST_PORT)));
    let stats = &result["stats"];
    let drops = stats["kernel_drops"].as_u64().unwrap();
    assert!(burst[0] <= BURST, "{burst:?}");
    assert!(
        burst[0] + drops >= arrived,
        "the burst's datagrams that reached the pod, metered or counted as kernel drops: \
         expected at least {arrived}, got {} metered + {drops} dropped",
        burst[0]
    );
    assert_eq!(burst[1], burst[0] * 60);

    let frames = stats["frames"].as_u64().unwrap();
    assert_eq!(
        frames,
        stats["metered"].as_u64().unwrap() + stats["ignored"].as_u64().unwrap()
    );
    assert!(result["flows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["point"] == 0));
}

/// Runs only inside the pod namespace, started by `live_capture_in_netns_needs_root`.
/// Commands on stdin, answers on stdout as `@@ ...` lines.
#[test]
#[ignore = "started by live_capture_in_netns_needs_root inside its namespace"]
fn capture_in_this_namespace() {
    let Some(backend) = std::env::var_os(INNER_ENV) else {
        return;
    };
    let (backend, fanout) = match backend.to_str() {
        Some("pnet") => (Backend::Pnet, 1),
        Some("fanout") => (Backend::Ring, 2),
        _ => (Backend::Ring, 1),
    };
    // A configured interface that does not exist is waited for, not an error.
    let missing = Config {
        interfaces: vec!["nope0".into()],
        backend,
        ..Config::default()
    };
    let probe = LiveCapture::start(
        &missing,
        Arc::new(FlowTable::new(table_config())),
        Arc::default(),
    )
    .unwrap();
    assert!(!probe.running());
    let idle = probe.idle().expect("a reason to be idle");
    assert!(
        idle.starts_with("none of the interfaces in capture.interfaces (nope0) exists"),
        "{idle}"
    );
    probe.stop();

    let _sink = std::net::UdpSocket::bind(("0.0.0.0", BURST_PORT)).unwrap();
    let table = Arc::new(FlowTable::new(table_config()));
    let stats = Arc::new(CaptureStats::default());
    let every = Config {
        backend,
        fanout,
        threads: fanout,
        ..Config::default()
    };
    let capture = LiveCapture::start(&every, table.clone(), stats.clone()).unwrap();
    assert!(capture.running());
    assert_eq!(capture.captured(), ["eth0"]);
    assert_eq!(capture.idle(), None);
    println!("@@ ready");

    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        let (command, arg) = line.split_once(' ').unwrap_or((&line, ""));
        match command {
            "wait-captured" => answer(wait_for(|| capture.captured().iter().any(|n| n == arg))),
            "wait-gone" => answer(wait_for(|| capture.captured().iter().all(|n| n != arg))),
            "stop" => break,
            other => panic!("unknown command {other}"),
        }
    }
    let registry = capture.interfaces().snapshot();
    let mut points: Vec<_> = registry.iter().collect();
    points.sort_by_key(|(p, _)| **p);
    let interfaces: Vec<&str> = points.iter().map(|(_, i)| i.interface.as_str()).collect();
    let addresses: Vec<String> = capture.addresses().iter().map(IpAddr::to_string).collect();
    capture.stop();
    let mut records = Vec::new();
    table.flush(wall_now(), &mut records);
    let result = json!({
        "interfaces": interfaces,
        "addresses": addresses,
        "stats": {
            "frames": stats.frames.load(Ordering::Relaxed),
            "metered": stats.metered.load(Ordering::Relaxed),
            "ignored": stats.ignored.load(Ordering::Relaxed),
            "kernel_drops": stats.kernel_drops.load(Ordering::Relaxed),
        },
        "flows": records.iter().map(flow_json).collect::<Vec<_>>(),
    });
    println!("@@ {result}");
}

fn answer(ok: bool) {
    println!("@@ {}", if ok { "ok" } else { "timeout" });
}

/// Polls `cond` for up to 15 s (the watcher looks every few seconds).
fn wait_for(cond: impl Fn() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn table_config() -> FlowTableConfig {
    FlowTableConfig {
        idle_timeout: 600 * NANOS_PER_SEC,
        active_timeout: 600 * NANOS_PER_SEC,
        tcp_end_linger: NANOS_PER_SEC,
        max_flows: 1 << 16,
        max_backlog: usize::MAX,
        biflow: true,
        npm: true,
        l7: true,
    }
}

fn flow_json(r: &FlowRecord) -> Value {
    json!({
        "src": r.key.src_addr().to_string(),
        "dst": r.key.dst_addr().to_string(),
        "proto": r.key.proto,
        "src_port": r.key.src_port,
        "dst_port": r.key.dst_port,
        "point": r.key.point,
        "packets": r.forward.packets,
        "octets": r.forward.octets,
        "rev_packets": r.reverse.packets,
        "rev_octets": r.reverse.octets,
    })
}
