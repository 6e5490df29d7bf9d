//! Helpers shared by the integration tests: running the real binary and reading what it
//! exported.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Output};

use assert_cmd::Command;
use podflow::ipfix::{split_messages, DataRecord, Message, Session};

pub const PEN: u32 = 32473;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The webhook configuration of the admission tests: pods labelled
/// `app.kubernetes.io/name=shop` (the fixtures' label) get the sidecar, which exports to
/// `collector` (`udp://HOST:PORT`) in cluster `test`.
pub fn shop_webhook_config(collector: &str) -> podflow::config::Config {
    let mut config = podflow::config::Config::default();
    config
        .webhook
        .matching
        .labels
        .insert("app.kubernetes.io/name".into(), "shop".into());
    config.export.collector = collector.parse().unwrap();
    config.k8s.cluster_name = Some("test".into());
    config
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("it/fixtures").join(name)
}

/// The sample capture's ground truth.
pub fn truth() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("sample-1k.pcap.truth.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The podflow binary with a clean environment: no PODFLOW_* or RUST_LOG from outside.
pub fn podflow() -> Command {
    let mut cmd = Command::cargo_bin("podflow").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("PODFLOW_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("CI", "true");
    cmd
}

/// The podflow binary as a plain process, for tests that drive it while it runs.
pub fn podflow_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("podflow"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PODFLOW_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("CI", "true");
    cmd
}

/// The podflow binary run inside network namespace `ns` (`ip netns exec` execs it, so the
/// child's pid is podflow's), with no PODFLOW_ setting of the test's environment.
pub fn podflow_in_netns(ns: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .arg(assert_cmd::cargo::cargo_bin("podflow"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PODFLOW_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("CI", "true");
    cmd
}

/// Peak RSS of a running process in KiB, 0 once it is gone.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM")
}

/// A size field of a running process's `/proc/PID/status` (`VmRSS`, ...) in KiB, 0 once
/// it is gone.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

/// Meters `pcap` in sidecar mode with `env` (PODFLOW_* pairs) and asserts exit 0.
pub fn meter(pcap: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = podflow();
    cmd.args(["--mode", "sidecar"])
        .env("PODFLOW_CAPTURE__PCAP", pcap)
        .env("PODFLOW_K8S__LABELS_FILE", "/nonexistent/labels")
        .env("PODFLOW_K8S__ANNOTATIONS_FILE", "/nonexistent/annotations");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "podflow failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every message of an IPFIX file, decoded.
pub fn read_ipfix_file(path: &Path) -> Vec<Message> {
    let bytes = std::fs::read(path).unwrap();
    decode_stream(&bytes)
}

/// Decodes a byte stream of whole messages (file or TCP), panicking on any error.
pub fn decode_stream(bytes: &[u8]) -> Vec<Message> {
    let mut session = Session::new(PEN);
    split_messages(bytes)
        .map(|m| {
            session
                .decode(m.expect("message framing"))
                .expect("message decodes")
        })
        .collect()
}

/// The flow (non-options) data records of some messages.
pub fn flow_records(msgs: &[Message]) -> Vec<DataRecord> {
    msgs.iter()
        .flat_map(|m| m.records.iter().filter(|r| !r.is_options()).cloned())
        .collect()
}

/// Sum of forward and reverse counts of `name` ("PacketDeltaCount" or "OctetDeltaCount").
pub fn total(records: &[DataRecord], name: &str) -> u64 {
    let fwd = format!("{}{}", name[..1].to_lowercase(), &name[1..]);
    let rev = format!("reverse{name}");
    records
        .iter()
        .map(|r| r.get_u64(&fwd).unwrap_or(0) + r.get_u64(&rev).unwrap_or(0))
        .sum()
}

/// A classic pcap header (microseconds, little endian) with this link type.
pub fn pcap_header(linktype: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&linktype.to_le_bytes());
    h
}

pub fn pcap_record(ts: u32, frame: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&ts.to_le_bytes());
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    r.extend_from_slice(frame);
    r
}

/// Asserts that a finished command succeeded, showing its stderr when it did not.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a long-running helper (a server, a collector) and waits for its first line
/// ("listening", a port, ...).
pub fn start(mut cmd: impl std::borrow::BorrowMut<std::process::Command>) -> (Background, String) {
    use std::io::BufRead;
    let mut child = cmd
        .borrow_mut()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Background(child), line.trim().to_string())
}

/// Runs a helper to completion, asserting it succeeds; returns its first line of output.
pub fn run(mut cmd: impl std::borrow::BorrowMut<std::process::Command>) -> String {
    let out = cmd.borrow_mut().output().unwrap();
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// What python-ipfix (from the venv `scripts/test.sh` makes, or `IPFIX_PYTHON`) reads in
/// IPFIX file `file` with the element specs podflow ships: `it/py/read_ipfix.py`'s summary.
pub fn python_ipfix_summary(file: &Path) -> serde_json::Value {
    let py = std::env::var("IPFIX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/python"));
    assert!(
        py.exists(),
        "{} is missing: run scripts/test.sh, which makes the venv",
        py.display()
    );
    let out = std::process::Command::new(&py)
        .arg(root().join("it/py/read_ipfix.py"))
        .arg(file)
        .arg(root().join("config/ipfix/python-ipfix.specs"))
        .output()
        .unwrap();
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A helper process (collector, server, tcpdump), killed with SIGTERM and reaped when the
/// test ends, however it ends, so it can flush its files.
pub struct Background(pub Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.0.id().to_string())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// Standard base64 with padding (the webhook's JSON Patch, a Secret's data), decoded.
pub fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("not base64 ({e}): {text}"))
}

/// Ethernet + IPv4 + UDP frame from 10.1.0.1:`sport` to 10.2.0.2:53 with 20 payload bytes.
pub fn udp_frame(sport: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total: u16 = 20 + 8 + 20;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&[10, 1, 0, 1, 10, 2, 0, 2]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&28u16.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0xab; 20]);
    f
}

/// podflow reading a pcap from a FIFO, so the test decides when packets arrive and when
/// the input ends; returns the process and the FIFO's writing end, header written.
pub fn podflow_on_fifo(
    dir: &Path,
    collector: &str,
    env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> (Child, std::fs::File) {
    use std::io::Write;
    let fifo = dir.join("live.pcap");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut cmd = podflow_process();
    cmd.args(["--mode", "sidecar"])
        .env("PODFLOW_CAPTURE__PCAP", &fifo)
        .env("PODFLOW_EXPORT__COLLECTOR", collector)
        .env("PODFLOW_K8S__LABELS_FILE", "/nonexistent")
        .env("PODFLOW_K8S__ANNOTATIONS_FILE", "/nonexistent")
        .stdout(std::process::Stdio::null())
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let mut feed = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    feed.write_all(&pcap_header(1)).unwrap();
    (child, feed)
}

/// A TCP port nobody listens on right now.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The stderr of a running process, read as it comes.
pub struct Log {
    text: std::sync::Arc<std::sync::Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Log {
    pub fn of(mut stream: impl std::io::Read + Send + 'static) -> Log {
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let into = text.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                into.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Log { text, reader }
    }

    /// What was written so far.
    pub fn now(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Everything, once the process closed it.
    pub fn wait(self) -> String {
        let Log { text, reader } = self;
        let _ = reader.join();
        let all = text.lock().unwrap().clone();
        all
    }
}

/// A volume as the kubelet's atomic writer lays it out (Downward-API and Secret volumes):
/// each file is a link through `..data`, a link to a timestamped directory that is
/// replaced at every update.
pub struct AtomicVolume {
    pub dir: PathBuf,
    generation: u32,
}

impl AtomicVolume {
    /// The volume in `dir` with these files, as first written.
    pub fn new(dir: &Path, files: &[(&str, &str)]) -> AtomicVolume {
        std::fs::create_dir_all(dir).unwrap();
        let mut v = AtomicVolume {
            dir: dir.to_path_buf(),
            generation: 0,
        };
        v.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        v
    }

    /// Swaps in a new version holding these files.
    pub fn update(&mut self, files: &[(&str, &str)]) {
        self.generation += 1;
        let ts = format!("..2026_11_26_07_00_00.{}", self.generation);
        let data = self.dir.join(&ts);
        std::fs::create_dir(&data).unwrap();
        for (name, text) in files {
            std::fs::write(data.join(name), text).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&ts, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }

    /// The path of file `name`.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// Waits until something listens on `port` of 127.0.0.1 (`udp` or `tcp`), without
/// connecting to it.
pub fn wait_for_listener(proto: &str, port: u16) {
    let flags = if proto == "udp" { "-lun" } else { "-ltn" };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let out = std::process::Command::new("ss")
            .arg(flags)
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains(&format!("127.0.0.1:{port} ")) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens on {proto} port {port}");
}

/// Settings under which a flow fed through a FIFO ends soon after the next packet: an
/// idle timeout of 1 s (packet time) and a sweep every 100 ms.
pub const QUICK_FLOWS: [(&str, &str); 2] = [
    ("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "1"),
    ("PODFLOW_FLOW__SWEEP_INTERVAL_MS", "100"),
];

/// The `key=value` of the totals line a run logs last (`done`, text log format).
pub fn export_total(err: &str, key: &str) -> u64 {
    let line = err
        .lines()
        .rfind(|l| l.contains(" done "))
        .unwrap_or_else(|| panic!("{err}"));
    let at = line
        .find(&format!(" {key}="))
        .unwrap_or_else(|| panic!("{line}"));
    line[at + key.len() + 2..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// nfcapd's arguments for the collector tests: files in `dir`, UDP on 127.0.0.1:`port`,
/// one file an hour (so a test reads one), an 8 MiB socket buffer.
pub fn nfcapd_args(dir: &Path, port: u16) -> Vec<String> {
    [
        "-w".into(),
        dir.display().to_string(),
        "-p".into(),
        port.to_string(),
        "-b".into(),
        "127.0.0.1".into(),
        "-t".into(),
        "3600".into(),
        "-B".into(),
        "8388608".into(),
    ]
    .into()
}

/// softflowd's arguments to meter capture `pcap` once, in the foreground, and export
/// IPFIX (`-v 10`, times in milliseconds) to `to` (HOST:PORT), its pid file at `pid`.
pub fn softflowd_replay_args(pcap: &Path, to: &str, pid: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["-r".into(), pcap.into()];
    args.extend(["-n", to, "-v", "10", "-A", "milli", "-d", "-p"].map(Into::into));
    args.push(pid.into());
    args
}
