//! What live capture keeps: `capture.filter` and the export traffic left out, with the
//! real binary in a "pod" namespace exporting to a collector in a "peer" namespace (needs
//! root); the filter compiler against tcpdump on the sample capture (needs tcpdump); and
//! octets of frames cut by a capture's snap length.

mod common;
#[path = "common/netns.rs"]
mod netns;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{fixture, flow_records, pcap_header, read_ipfix_file, start, Background};
use netns::PodNet;
use podflow::capture::ring::compile;
use podflow::capture::PcapReader;
use podflow::ipfix::DataRecord;
use serde_json::Value;

const COLLECTOR_PORT: u16 = 4739;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn python_in(ns: &str, script: &str, args: &[&str]) -> Command {
    let mut cmd = PodNet::exec(ns, "python3");
    cmd.arg(common::root().join("it/py").join(script))
        .args(args);
    cmd
}

/// Runs the sidecar in the pod namespace with `env`, exporting over UDP to a collector in
/// the peer namespace, while `traffic` runs; stops it with SIGTERM (every flow is ended
/// and exported) and returns the records the collector received.
fn sidecar_records(
    tag: u8,
    env: &[(&str, &str)],
    traffic: impl FnOnce(&PodNet),
) -> Vec<DataRecord> {
    let net = PodNet::new(tag);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("collector.ipfix");
    let port = COLLECTOR_PORT.to_string();
    let (_collector, said) = start(python_in(
        &net.peer,
        "udp_sink.py",
        &[&net.peer_v4, &port, file.to_str().unwrap()],
    ));
    assert_eq!(said.trim(), "listening");
    let mut cmd = PodNet::exec(
        &net.pod,
        assert_cmd::cargo::cargo_bin("podflow").to_str().unwrap(),
    );
    for (k, _) in std::env::vars() {
        if k.starts_with("PODFLOW_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.args(["--mode", "sidecar"])
        .env(
            "PODFLOW_EXPORT__COLLECTOR",
            format!("udp://{}:{port}", net.peer_v4),
        )
        .env("PODFLOW_CAPTURE__INTERFACES", "[\"eth0\"]")
        .env("PODFLOW_TELEMETRY__LISTEN", "")
        .env("PODFLOW_LOG__FORMAT", "json")
        .env("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut sidecar = Background(cmd.spawn().unwrap());
    // Capture runs once its first line about an interface is logged.
    let stderr = sidecar.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("podflow says it captures eth0");
        if line.contains("capture started") {
            break;
        }
    }
    traffic(&net);
    // Flows end after 1 s idle and are exported at the next sweep, while capture runs.
    std::thread::sleep(Duration::from_millis(2500));
    let pid = sidecar.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = sidecar.0.wait().unwrap();
    assert!(status.success(), "podflow exited with {status}");
    let log: Vec<String> = rx.try_iter().collect();
    assert!(
        log.iter().any(|l| l.contains("\"not_sent\":0")),
        "{}",
        log.join("\n")
    );
    // The collector writes each datagram as it comes.
    std::thread::sleep(Duration::from_millis(300));
    flow_records(&read_ipfix_file(&file))
}

/// Runs `cmd` to its end; it must succeed.
fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ping(net: &PodNet, count: &str) {
    run_ok(PodNet::exec(&net.pod, "ping").args([
        "-n",
        "-q",
        "-c",
        count,
        "-i",
        "0.2",
        &net.peer_v4,
    ]));
}

fn udp_to(net: &PodNet, port: u16, n: usize) {
    let code = format!(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for _ in range({n}):\n    s.sendto(b'x' * 100, ('{}', {port}))\n",
        net.peer_v4
    );
    run_ok(PodNet::exec(&net.pod, "python3").args(["-c", &code]));
}

fn field(r: &DataRecord, name: &str) -> u64 {
    r.get_u64(name).unwrap_or(0)
}

fn to_port(records: &[DataRecord], port: u16) -> Vec<&DataRecord> {
    records
        .iter()
        .filter(|r| {
            field(r, "protocolIdentifier") == 17
                && (field(r, "destinationTransportPort") == u64::from(port)
                    || field(r, "sourceTransportPort") == u64::from(port))
        })
        .collect()
}

#[test]
fn the_sidecar_leaves_its_export_out_unless_told_root() {
    if !is_root() {
        eprintln!("skipped: needs root to make network namespaces");
        return;
    }
    let left_out = sidecar_records(73, &[], |net| ping(net, "3"));
    assert!(
        left_out.iter().any(|r| field(r, "protocolIdentifier") == 1),
        "the pings are metered: {left_out:?}"
    );
    assert!(
        to_port(&left_out, COLLECTOR_PORT).is_empty(),
        "no record of the export traffic: {:?}",
        to_port(&left_out, COLLECTOR_PORT)
    );

    let metered = sidecar_records(74, &[("PODFLOW_CAPTURE__EXCLUDE_EXPORT", "false")], |net| {
        ping(net, "3")
    });
    let export = to_port(&metered, COLLECTOR_PORT);
    // The records of the pings went to the collector while capture ran.
    assert!(
        !export.is_empty(),
        "a record of the export flow: {metered:?}"
    );
}

#[test]
fn a_capture_filter_keeps_only_what_it_names_root() {
    if !is_root() {
        eprintln!("skipped: needs root to make network namespaces");
        return;
    }
    let records = sidecar_records(
        75,
        &[("PODFLOW_CAPTURE__FILTER", "udp and dst port 9999")],
        |net| {
            ping(net, "2");
            udp_to(net, 9999, 5);
            udp_to(net, 9998, 5);
        },
    );
    let kept: Vec<_> = records
        .iter()
        .map(|r| {
            (
                field(r, "protocolIdentifier"),
                field(r, "destinationTransportPort"),
            )
        })
        .collect();
    assert_eq!(kept, [(17, 9999)], "{records:?}");
    assert_eq!(field(&records[0], "packetDeltaCount"), 5);
    // Frames are cut to the snap length; octets are still the IP length: 5 x (28 + 100).
    assert_eq!(field(&records[0], "octetDeltaCount"), 5 * 128);
}

/// Frames of `pcap` that tcpdump keeps with `expr`.
fn tcpdump_count(pcap: &Path, expr: &str) -> usize {
    let out = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(pcap)
        .arg(expr)
        .stderr(Stdio::null())
        .output()
        .expect("tcpdump runs");
    assert!(out.status.success(), "tcpdump refused {expr:?}");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn the_filter_compiler_agrees_with_tcpdump() {
    if Command::new("tcpdump").arg("--version").output().is_err() {
        eprintln!("skipped: no tcpdump (apt-get install tcpdump)");
        return;
    }
    let pcap = fixture("sample-1k.pcap");
    for expr in [
        "tcp",
        "udp",
        "icmp",
        "icmp6",
        "ip6",
        "arp",
        "not ip",
        "tcp port 443",
        "udp port 53 or 443",
        "src port 443",
        "dst portrange 1-1023",
        "net 10.244.0.0/16",
        "src net 10.0.0.0/8 and not dst net 10.0.0.0/8",
        "host 10.244.0.245",
        "ip6 and tcp",
        "greater 1000",
        "less 100",
        "proto 17",
        "tcp and (port 80 or port 8080) and not src net 10.244.0.0/16",
    ] {
        let program = compile(expr, 65535).unwrap();
        let mut reader = PcapReader::open(&pcap).unwrap();
        let mut ours = 0;
        while let Some(f) = reader.next_frame().unwrap() {
            ours += usize::from(program.matches(f.link, f.data, f.orig_len));
        }
        assert_eq!(ours, tcpdump_count(&pcap, expr), "{expr}");
    }
}

/// A classic pcap record whose frame was cut to `data` from `orig_len` bytes.
fn cut_record(ts: u32, data: &[u8], orig_len: u32) -> Vec<u8> {
    let mut r = Vec::new();
    for v in [ts, 0, data.len() as u32, orig_len] {
        r.extend_from_slice(&v.to_le_bytes());
    }
    r.extend_from_slice(data);
    r
}

fn ipv4_tcp(total_len: u16, payload: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total_len.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&443u16.to_be_bytes());
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend(std::iter::repeat_n(0u8, payload));
    f
}

#[test]
fn a_capture_cut_by_its_snap_length_counts_wire_octets() {
    let work = tempfile::tempdir().unwrap();
    let pcap = work.path().join("cut.pcap");
    let mut bytes = pcap_header(1);
    bytes[16..20].copy_from_slice(&128u32.to_le_bytes());
    // A BIG TCP packet (IPv4 total length 0) of 80,000 IP bytes, cut to 128.
    let big = ipv4_tcp(0, 200);
    bytes.extend(cut_record(1_700_000_000, &big[..128], 14 + 80_000));
    // An ordinary 1,440-byte packet, cut to 128: its total length says.
    let normal = ipv4_tcp(1440, 1400);
    bytes.extend(cut_record(
        1_700_000_001,
        &normal[..128],
        normal.len() as u32,
    ));
    std::fs::write(&pcap, bytes).unwrap();
    let out = common::meter(&pcap, &[]);
    common::assert_success(&out);
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["packetDeltaCount"], 2);
    assert_eq!(records[0]["octetDeltaCount"], 80_000 + 1440);
}
