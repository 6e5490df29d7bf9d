//! Node mode's pod index at a cluster's scale, measured on the real binary: a fake API
//! server in a process of its own (`it/py/fake_apiserver.py`) makes up thousands of pods
//! with 64 KiB of annotations each and serves them in pages (`limit`, `continue`) and a
//! watch; `podflow --mode node` (no namespaces to capture, the API found through a
//! kubeconfig) lists them all, then lists again after the watch ends with 410 Gone. Its
//! peak resident memory (VmHWM), which counts podflow alone, must stay under a quarter of
//! the chart's memory limit of node pods, 512 MiB.
//!
//! `scripts/pod-index-bench.sh` runs the same at full scale (10,000 pods).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::*;

/// The chart's memory limit of node pods (`node.resources.limits.memory`).
const CHART_LIMIT_KIB: u64 = 512 * 1024;

/// The fake API server; prints its port and serves until the guard kills it.
fn fake_api(pods: u32, annotation_bytes: u32) -> (Background, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("it/py/fake_apiserver.py"))
        .args(["--pods", &pods.to_string()])
        .args(["--annotation-bytes", &annotation_bytes.to_string()])
        .args(["--nodes", "100"]);
    let (server, port) = start(cmd);
    assert!(
        port.parse::<u16>().is_ok(),
        "no port from the server: {port:?}"
    );
    (server, format!("http://127.0.0.1:{port}"))
}

/// A control request to the fake API server, its JSON answer.
fn control(url: &str, method: &str, path: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-sf", "-X", method, &format!("{url}{path}")])
        .output()
        .unwrap();
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A kubeconfig naming the fake API server, as `kubectl` would use it.
fn kubeconfig(dir: &Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
         clusters: [{{name: fake, cluster: {{server: \"{url}\"}}}}]\n\
         users: [{{name: fake, user: {{}}}}]\n\
         contexts: [{{name: fake, context: {{cluster: fake, user: fake}}}}]\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `podflow --mode node` with the pod watch as its only work, its log lines on a channel.
struct Node {
    child: Child,
    lines: Receiver<String>,
    log: Vec<String>,
}

impl Node {
    fn start(kubeconfig: &Path) -> Node {
        let mut child = podflow_process()
            .args(["--mode", "node"])
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("KUBECONFIG", kubeconfig)
            .env("PODFLOW_K8S__NODE_NAME", "node-0")
            // Nothing to capture: no namespace directory, no process scan, no host.
            .env("PODFLOW_NODE__NETNS_DIRS", "[]")
            .env("PODFLOW_NODE__SCAN_PROCESSES", "false")
            .env("PODFLOW_NODE__CAPTURE_HOST", "false")
            .env("PODFLOW_TELEMETRY__LISTEN", "")
            .env("PODFLOW_LOG__FORMAT", "text")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Node {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a log line containing `what`; returns its `pods=` count.
    fn wait_for(&mut self, what: &str, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(what) {
                        return field(&line, "pods")
                            .unwrap_or_else(|| panic!("no pods= in {line}"));
                    }
                }
                Err(e) => panic!(
                    "no \"{what}\" within {within:?} ({e}); log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// (peak, current) resident memory in KiB.
    fn rss_kib(&self) -> (u64, u64) {
        let pid = self.child.id();
        (peak_rss_kib(pid), status_kib(pid, "VmRSS"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `name=` in a log line.
fn field(line: &str, name: &str) -> Option<u64> {
    let at = line.find(&format!(" {name}="))? + name.len() + 2;
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// 4,000 pods of 64 KiB of annotations (268 MB a list, twice): were podflow to hold the
/// list, every pod's annotations or pages of kube's default 500 pods (33 MB, 170 MiB at
/// the peak), it would pass the bound; it holds one page of 100 pods at a time and, of
/// the 40 pods of its node only, the allowed annotations under the size cap.
#[test]
fn pod_index_of_4000_pods_with_64k_annotations_stays_under_a_quarter_of_the_chart_limit() {
    const PODS: u64 = 4_000;
    const ANNOTATIONS: u64 = 64 * 1024;
    let bound_kib = CHART_LIMIT_KIB / 4;
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = fake_api(PODS as u32, ANNOTATIONS as u32);
    let mut node = Node::start(&kubeconfig(dir.path(), &url));

    assert_eq!(
        node.wait_for("pod index synced", Duration::from_secs(60)),
        PODS
    );
    let (synced_peak, synced_now) = node.rss_kib();
    let served = control(&url, "GET", "/control/stats");
    assert_eq!(served["lists"], 1, "{served}");
    assert_eq!(served["pods"], PODS, "{served}");
    let list_bytes = served["bytes"].as_u64().unwrap();
    assert!(list_bytes > PODS * ANNOTATIONS, "{served}");
    assert!(served["pages"].as_u64().unwrap() > 1, "paged: {served}");

    // The API server compacts its history: the watch ends with 410 Gone, podflow lists
    // again, and the pods it already had are replaced one by one.
    control(&url, "POST", "/control/expire");
    assert_eq!(
        node.wait_for("pod index relisted", Duration::from_secs(60)),
        PODS
    );
    let (relisted_peak, relisted_now) = node.rss_kib();
    let served = control(&url, "GET", "/control/stats");
    assert_eq!(served["lists"], 2, "{served}");
    assert_eq!(served["pods"], 2 * PODS, "{served}");
    assert!(served["watches"].as_u64().unwrap() >= 2, "{served}");

    eprintln!(
        "{PODS} pods, {} MB a list: peak RSS {} MiB after the first list ({} MiB now), \
         {} MiB after the relist ({} MiB now); bound {} MiB",
        list_bytes / 1_000_000,
        synced_peak / 1024,
        synced_now / 1024,
        relisted_peak / 1024,
        relisted_now / 1024,
        bound_kib / 1024
    );
    assert!(synced_peak > 0 && relisted_peak >= synced_peak);
    assert!(
        relisted_peak < bound_kib,
        "peak RSS {relisted_peak} KiB, bound {bound_kib} KiB"
    );
    assert!(
        relisted_peak * 1024 < list_bytes,
        "peak RSS {relisted_peak} KiB is not below one list's {list_bytes} bytes"
    );
}
