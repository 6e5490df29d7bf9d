//! `podflow collect` against the real exporter: an IPFIX file read with `-f` gives the
//! flows python-ipfix reads in it; UDP and TCP listeners get every record of a run; a TLS
//! listener that requires a client certificate takes a probe that has one and refuses one
//! that has none, and names the Kubernetes elements of an exporter with another PEN from
//! its RFC 5610 type records alone.

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Stdio};

use common::*;
use serde_json::Value;

const POD: &str = "shop-web-1";

/// `podflow collect` running with `args`: the process, the address it listens on, its
/// stderr as it comes, and the file its stdout goes to.
struct Collect {
    child: Child,
    addr: String,
    log: Option<Log>,
    out: std::path::PathBuf,
}

impl Collect {
    fn start(dir: &Path, args: &[&str]) -> Collect {
        let out = dir.join("collect.jsonl");
        let mut child = podflow_process()
            .arg("collect")
            .args(args)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .split_once("listening on ")
            .unwrap_or_else(|| panic!("no address: {line}"))
            .1
            .split_once("://")
            .unwrap()
            .1
            .to_owned();
        Collect {
            child,
            addr,
            log: Some(Log::of(err)),
            out,
        }
    }

    fn port(&self) -> u16 {
        self.addr.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    /// SIGTERM, then its JSON lines and its stderr.
    fn stop(mut self) -> (Vec<Value>, String) {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        assert!(self.child.wait().unwrap().success());
        let err = self.log.take().unwrap().wait();
        (json_lines(&std::fs::read(&self.out).unwrap()), err)
    }
}

impl Drop for Collect {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The flow records of `lines` (options records left out).
fn flows(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l.get("options").is_none())
        .collect()
}

/// Packets of `flows`, forward and reverse.
fn packets(flows: &[&Value]) -> u64 {
    flows
        .iter()
        .map(|f| {
            f["packetDeltaCount"].as_u64().unwrap_or(0)
                + f["reversePacketDeltaCount"].as_u64().unwrap_or(0)
        })
        .sum()
}

/// The sample's biflows and IP packets, from its ground truth.
fn sample_truth() -> (usize, u64) {
    let t = truth();
    let n = |k: &str| t[k].as_u64().unwrap();
    (n("bi_flows") as usize, n("frames") - n("non_ip_frames"))
}

/// Every flow names the sample's pod under `k8sPodName`.
fn assert_pod_named(flows: &[&Value]) {
    for f in flows {
        assert_eq!(f["k8sPodName"], POD, "{f}");
    }
}

fn meter_sample(collector: &str, env: &[(&str, &str)]) -> String {
    let mut all = vec![
        ("PODFLOW_EXPORT__COLLECTOR", collector),
        ("PODFLOW_K8S__POD_NAME", POD),
    ];
    all.extend_from_slice(env);
    let out = meter(&fixture("sample-1k.pcap"), &all);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_file_read_with_f_agrees_with_python_ipfix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flows.ipfix");
    meter_sample(&format!("file:{}", file.display()), &[]);
    let want = python_ipfix_summary(&file);

    let out = podflow()
        .args(["collect", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert_success(&out);
    let lines = json_lines(&out.stdout);
    let flows = flows(&lines);
    assert_eq!(Some(flows.len() as u64), want["flows"].as_u64());
    assert_eq!(Some(packets(&flows)), want["packets"].as_u64());
    assert_pod_named(&flows);
    let options: Vec<&Value> = lines.iter().filter(|l| l["options"] == true).collect();
    assert!(!options.is_empty());
    assert!(options.iter().any(|o| o["notSentFlowTotalCount"] == 0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{} data records", flows.len())),
        "{err}"
    );
    assert!(err.contains(" 0 errors"), "{err}");
}

#[test]
fn udp_and_tcp_listeners_get_every_record() {
    for scheme in ["udp", "tcp"] {
        let dir = tempfile::tempdir().unwrap();
        let collect = Collect::start(
            dir.path(),
            &["--listen", &format!("{scheme}://127.0.0.1:0")],
        );
        let err = meter_sample(&format!("{scheme}://{}", collect.addr), &[]);
        assert!(err.contains("not_sent=0"), "{scheme}: {err}");
        // UDP datagrams may still be in the socket's queue.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let (lines, log) = collect.stop();
        let flows = flows(&lines);
        let (want_flows, want_packets) = sample_truth();
        assert_eq!(flows.len(), want_flows, "{scheme}: {log}");
        assert_eq!(packets(&flows), want_packets, "{scheme}");
        assert_pod_named(&flows);
        assert!(
            log.contains(&format!("{want_flows} data records")),
            "{scheme}: {log}"
        );
    }
}

#[test]
fn a_tls_listener_requires_the_client_certificate_and_reads_type_records() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, clients) = (tls::Ca::new("collector CA"), tls::Ca::new("client CA"));
    let server = ca.server(&["localhost"]);
    let client = clients.client("podflow");
    let path = |name: &str| dir.path().join(name).display().to_string();
    for (name, text) in [
        ("server.crt", &server.cert),
        ("server.key", &server.key),
        ("ca.crt", &ca.pem),
        ("client-ca.crt", &clients.pem),
        ("client.crt", &client.cert),
        ("client.key", &client.key),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let collect = Collect::start(
        dir.path(),
        &[
            "--listen",
            "tls://127.0.0.1:0",
            "--tls-cert",
            &path("server.crt"),
            "--tls-key",
            &path("server.key"),
            "--tls-client-ca",
            &path("client-ca.crt"),
        ],
    );
    let url = format!("tls://localhost:{}", collect.port());
    // An exporter with a PEN podflow collect has no table for: only the type records it
    // sends can name its elements.
    let (ca_file, cert, key) = (path("ca.crt"), path("client.crt"), path("client.key"));
    let err = meter_sample(
        &url,
        &[
            ("PODFLOW_IPFIX__ENTERPRISE_NUMBER", "55555"),
            ("PODFLOW_EXPORT__TLS_CA", &ca_file),
            ("PODFLOW_EXPORT__TLS_CERT", &cert),
            ("PODFLOW_EXPORT__TLS_KEY", &key),
        ],
    );
    assert!(err.contains("not_sent=0"), "{err}");
    // Without a client certificate: refused, nothing received.
    let err = meter_sample(
        &url,
        &[
            ("PODFLOW_EXPORT__TLS_CA", &ca_file),
            ("PODFLOW_EXPORT__WRITE_TIMEOUT_SECS", "2"),
        ],
    );
    let (want_flows, want_packets) = sample_truth();
    assert!(err.contains(&format!("not_sent={want_flows}")), "{err}");
    assert!(!err.contains("connect_failures=0"), "{err}");

    let (lines, log) = collect.stop();
    let flows = flows(&lines);
    assert_eq!(flows.len(), want_flows, "{log}");
    assert_eq!(packets(&flows), want_packets);
    assert_pod_named(&flows);
    let unnamed: Vec<&String> = flows[0]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("55555/"))
        .collect();
    assert!(unnamed.is_empty(), "not named: {unnamed:?}");
    assert!(log.contains(&format!("{want_flows} data records")), "{log}");
}
