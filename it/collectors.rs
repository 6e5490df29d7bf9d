//! podflow's export read by real collectors and decoders: nfcapd/nfdump, tshark (on a
//! tcpdump capture of the UDP export), python-ipfix with the shipped element specs, and
//! a TCP collector that disappears and comes back. Needs the tools `.ci/run` installs;
//! the tcpdump test needs root.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use podflow::ipfix::{peek_header, Message, Session};

const HUGE: &str = "1000000";

/// A UDP port nobody uses right now.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tool(name: &str) -> Command {
    assert!(
        Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .unwrap()
            .status
            .success(),
        "{name} is not installed: run scripts/test.sh, which installs the test tools"
    );
    Command::new(name)
}

fn start_nfcapd(dir: &Path, port: u16) -> Background {
    let child = tool("nfcapd")
        .args(nfcapd_args(dir, port))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_listener("udp", port);
    Background(child)
}

/// `nfdump -I` statistics of a directory as name -> value.
fn nfdump_stats(dir: &Path) -> std::collections::HashMap<String, u64> {
    let out = tool("nfdump")
        .arg("-R")
        .arg(dir)
        .arg("-I")
        .output()
        .unwrap();
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn export_sample_over_udp(port: u16, extra: &[(&str, &str)]) {
    let collector = format!("udp://127.0.0.1:{port}");
    let mut env = vec![
        ("PODFLOW_EXPORT__COLLECTOR", collector.as_str()),
        ("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", HUGE),
        ("PODFLOW_FLOW__ACTIVE_TIMEOUT_SECS", HUGE),
    ];
    env.extend_from_slice(extra);
    meter(&fixture("sample-1k.pcap"), &env);
    // Let the collector read the last datagrams before it is stopped.
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn nfdump_totals_equal_the_truth() {
    for (biflow, flows) in [("true", 101u64), ("false", 196)] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_port();
        {
            let _nfcapd = start_nfcapd(dir.path(), port);
            export_sample_over_udp(port, &[("PODFLOW_FLOW__BIFLOW", biflow)]);
        }
        let stats = nfdump_stats(dir.path());
        assert_eq!(stats["Flows"], flows, "biflow={biflow}");
        assert_eq!(stats["Packets"], 1110, "biflow={biflow}");
        assert_eq!(stats["Bytes"], 735_719, "biflow={biflow}");
    }
}

#[test]
fn tshark_reads_the_udp_export_cleanly_root() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let pcap = dir.path().join("export.pcap");
    {
        let nf = dir.path().join("nf");
        std::fs::create_dir(&nf).unwrap();
        let _nfcapd = start_nfcapd(&nf, port);
        let mut tcpdump = tool("tcpdump")
            .args(["-i", "lo", "--immediate-mode", "-U", "-s", "0", "-w"])
            .arg(&pcap)
            .args(["udp", "port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // tcpdump says "listening on lo" once its capture is open.
        let mut said = std::io::BufReader::new(tcpdump.stderr.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut said, &mut line).unwrap();
        assert!(line.contains("listening"), "tcpdump: {line}");
        let _tcpdump = Background(tcpdump);
        export_sample_over_udp(port, &[("PODFLOW_IPFIX__OBSERVATION_DOMAIN_ID", "9")]);
    }
    let out = tool("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-d", &format!("udp.port=={port},cflow"), "-V"])
        .output()
        .unwrap();
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Frame 1:"),
        "tcpdump captured nothing: {} bytes, tshark said {}",
        std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("Malformed"),
        "tshark reports a malformed packet"
    );
    assert!(
        !text.contains("Unexpected flow sequence"),
        "tshark complains about sequence numbers"
    );
    assert!(
        !text.contains("Expert Info (Error"),
        "tshark reports an error"
    );
    assert!(text.contains("Observation Domain Id: 9"));
    // The RFC 5610 type records, as tshark's own dissector reads them: each Kubernetes
    // element named under our PEN, with its IANA data type (13 string, 1 unsigned8).
    for (name, id, data_type) in [("k8sPodName", 4, 13), ("k8sObservationPoint", 12, 1)] {
        let record = format!(
            "Private Enterprise Number: {PEN}\n            Information Element Id: {id}\n            Information Element Data Type: {data_type}\n"
        );
        assert!(
            text.contains(&record),
            "no type record of {name} in tshark's output"
        );
        assert!(text.contains(&format!("Information Element Name: {name}\n")));
    }
    // The Kubernetes elements are enterprise-specific, under PEN 32473.
    assert!(text.contains("Example Enterprise Number for Documentation Use"));
    // tshark prints a "Flow N" heading for each data record of a set.
    let flows = text
        .lines()
        .filter(|l| {
            let l = l.trim();
            l.strip_prefix("Flow ")
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .count();
    assert!(flows >= 101 + 2, "tshark saw {flows} records");
}

#[test]
fn python_ipfix_reads_kubernetes_elements_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flows.ipfix");
    let labels = dir.path().join("labels");
    std::fs::write(&labels, "app=\"shop\"\ntier=\"web\"\n").unwrap();
    meter(
        &fixture("sample-1k.pcap"),
        &[
            (
                "PODFLOW_EXPORT__COLLECTOR",
                &format!("file:{}", file.display()),
            ),
            ("PODFLOW_K8S__POD_NAME", "shop-web-1"),
            ("PODFLOW_K8S__POD_NAMESPACE", "shop"),
            ("PODFLOW_K8S__NODE_NAME", "node-7"),
            ("PODFLOW_K8S__NODE_IP", "192.168.7.7"),
            ("PODFLOW_K8S__WORKLOAD_NAME", "shop-web"),
            ("PODFLOW_K8S__WORKLOAD_KIND", "StatefulSet"),
            ("PODFLOW_K8S__CLUSTER_NAME", "lab"),
            ("PODFLOW_K8S__LABELS_FILE", labels.to_str().unwrap()),
        ],
    );
    let v = python_ipfix_summary(&file);
    assert_eq!(v["flows"], 101);
    assert_eq!(v["packets"], 1110);
    assert_eq!(v["octets"], 735_719);
    let k8s = &v["k8s"];
    assert_eq!(k8s["k8sPodName"], serde_json::json!(["shop-web-1"]));
    assert_eq!(k8s["k8sPodNamespace"], serde_json::json!(["shop"]));
    assert_eq!(k8s["k8sNodeName"], serde_json::json!(["node-7"]));
    assert_eq!(
        k8s["k8sNodeIPv4Address"],
        serde_json::json!(["192.168.7.7"])
    );
    assert_eq!(k8s["k8sWorkloadName"], serde_json::json!(["shop-web"]));
    assert_eq!(k8s["k8sWorkloadKind"], serde_json::json!(["StatefulSet"]));
    assert_eq!(k8s["k8sClusterName"], serde_json::json!(["lab"]));
    assert_eq!(
        k8s["k8sPodLabels"],
        serde_json::json!([r#"{"app":"shop","tier":"web"}"#])
    );
    assert_eq!(k8s["k8sObservationPoint"], serde_json::json!(["1"]));
}

// ---- TCP: a collector that is late, then drops the connection ----

/// Reads whole IPFIX messages from a connection until `want` flow records have arrived.
fn read_flows(conn: &mut TcpStream, session: &mut Session, want: usize) -> Vec<Message> {
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = Vec::new();
    let mut msgs = Vec::new();
    let mut flows = 0;
    while flows < want {
        let mut chunk = [0u8; 65536];
        let n = conn
            .read(&mut chunk)
            .expect("the collector got no more data in time");
        assert!(
            n > 0,
            "podflow closed the connection after {flows} of {want} records"
        );
        buf.extend_from_slice(&chunk[..n]);
        while let Some(h) = peek_header(&buf).unwrap() {
            let len = h.length as usize;
            if buf.len() < len {
                break;
            }
            let m = session.decode(&buf[..len]).unwrap();
            flows += m.records.iter().filter(|r| !r.is_options()).count();
            msgs.push(m);
            buf.drain(..len);
        }
    }
    msgs
}

#[test]
fn tcp_collector_late_then_reconnecting() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut child, mut feed) = podflow_on_fifo(
        dir.path(),
        &format!("tcp://127.0.0.1:{port}"),
        &QUICK_FLOWS,
        Stdio::piped(),
    );
    // Three flows, each idle long enough (by packet time) to end before the next.
    let t0 = 1_700_000_000;
    for (i, sport) in [1001u16, 1002, 1003].iter().enumerate() {
        feed.write_all(&pcap_record(t0 + 10 * i as u32, &udp_frame(*sport)))
            .unwrap();
    }
    feed.flush().unwrap();
    // The collector is not there yet: podflow keeps the ended flows and retries.
    std::thread::sleep(Duration::from_millis(1500));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (mut first, _) = listener.accept().unwrap();
    let mut session = Session::new(PEN);
    let msgs = read_flows(&mut first, &mut session, 2);
    assert!(
        !msgs[0].templates.is_empty(),
        "a connection starts with the templates"
    );
    assert_eq!(msgs[0].header.sequence, 0);
    let ports: Vec<u64> = msgs
        .iter()
        .flat_map(|m| &m.records)
        .filter_map(|r| r.get_u64("sourceTransportPort"))
        .collect();
    // Flows ended in the same sweep may come in any order.
    let mut ports = ports;
    ports.sort();
    assert_eq!(ports, vec![1001, 1002]);

    // The collector restarts: the connection drops; the next flows go on a new one.
    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    feed.write_all(&pcap_record(t0 + 40, &udp_frame(1004)))
        .unwrap();
    feed.flush().unwrap();
    let (mut second, _) = listener.accept().unwrap();
    let mut session = Session::new(PEN);
    let msgs = read_flows(&mut second, &mut session, 1);
    assert!(
        !msgs[0].templates.is_empty(),
        "templates again after a reconnect"
    );
    assert_eq!(
        msgs[0].header.sequence, 0,
        "a new connection is a new session"
    );
    let ports: Vec<u64> = msgs
        .iter()
        .flat_map(|m| &m.records)
        .filter_map(|r| r.get_u64("sourceTransportPort"))
        .collect();
    assert_eq!(ports, vec![1003]);

    // End of input: the last flow is forced out on the same connection, then podflow exits.
    drop(feed);
    let msgs = read_flows(&mut second, &mut session, 1);
    let last: Vec<_> = msgs
        .iter()
        .flat_map(|m| &m.records)
        .filter(|r| !r.is_options())
        .collect();
    assert_eq!(last[0].get_u64("sourceTransportPort"), Some(1004));
    assert_eq!(last[0].get_u64("flowEndReason"), Some(4));
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("not_sent=0"), "{err}");
}

#[test]
fn unreachable_tcp_collector_is_reported_not_hung() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let out = meter(
        &fixture("sample-1k.pcap"),
        &[
            (
                "PODFLOW_EXPORT__COLLECTOR",
                &format!("tcp://127.0.0.1:{port}"),
            ),
            ("PODFLOW_EXPORT__DRAIN_TIMEOUT_SECS", "2"),
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not_sent=101"), "{err}");
    assert!(err.contains("could not be sent"), "{err}");
}

#[test]
fn udp_templates_and_options_are_refreshed() {
    let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
    collector
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = collector.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut feed) = podflow_on_fifo(
        dir.path(),
        &format!("udp://127.0.0.1:{port}"),
        &[("PODFLOW_EXPORT__TEMPLATE_REFRESH_SECS", "1")],
        Stdio::null(),
    );
    feed.write_all(&pcap_record(1_700_000_000, &udp_frame(2001)))
        .unwrap();
    feed.flush().unwrap();
    // Keep the input open for a while: podflow is running, its refresh timer ticks.
    std::thread::sleep(Duration::from_millis(3300));
    drop(feed);
    assert!(child.wait().unwrap().success());

    let mut session = Session::new(PEN);
    let (mut template_msgs, mut options, mut flows) = (0, 0, 0);
    let mut buf = [0u8; 65536];
    while let Ok(n) = collector.recv(&mut buf) {
        let m = session.decode(&buf[..n]).unwrap();
        template_msgs += usize::from(!m.templates.is_empty());
        options += m.records.iter().filter(|r| r.is_options()).count();
        flows += m.records.iter().filter(|r| !r.is_options()).count();
        if flows == 1 && options >= 4 {
            break;
        }
    }
    // At start, about three refreshes, and the final options record at shutdown.
    assert!(template_msgs >= 3, "{template_msgs} template messages");
    assert!(options >= 4, "{options} options records");
    assert_eq!(flows, 1);
}
