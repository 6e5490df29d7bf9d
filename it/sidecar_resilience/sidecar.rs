//! The sidecar under test: the real binary in a namespace, its logs and records in
//! files, its telemetry asked from inside the namespace.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::netns::PodNet;
use crate::TELEMETRY;

/// A running sidecar inside namespace `ns`, its stderr (JSON logs) and stdout (JSON flow
/// records) in files. Killed when dropped, if still running.
pub struct Sidecar {
    pub child: Child,
    ns: String,
    log: PathBuf,
    records: PathBuf,
    pub started: Instant,
}

impl Sidecar {
    /// Runs `prefix` (e.g. setpriv and its options) then `program --mode sidecar` in `ns`.
    pub fn start(
        ns: &str,
        prefix: &[&str],
        program: &Path,
        env: &[(&str, &str)],
        dir: &Path,
    ) -> Sidecar {
        let log = dir.join("podflow.log");
        let records = dir.join("records.json");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(prefix).arg(program);
        for (k, _) in std::env::vars() {
            if k.starts_with("PODFLOW_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.args(["--mode", "sidecar"])
            .env("PODFLOW_TELEMETRY__LISTEN", TELEMETRY)
            .env("PODFLOW_LOG__FORMAT", "json")
            .env("PODFLOW_LOG__LEVEL", "info,podflow=debug")
            .env("PODFLOW_K8S__LABELS_FILE", "/nonexistent/labels")
            .env("PODFLOW_K8S__ANNOTATIONS_FILE", "/nonexistent/annotations")
            .env("PODFLOW_FLOW__SWEEP_INTERVAL_MS", "200")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(File::create(&records).unwrap())
            .stderr(File::create(&log).unwrap());
        let started = Instant::now();
        let child = cmd.spawn().unwrap();
        let mut s = Sidecar {
            child,
            ns: ns.to_owned(),
            log,
            records,
            started,
        };
        s.wait_for("/healthz to answer", 15, |s| s.get("/healthz").0 == 200);
        s
    }

    /// Status and body of `GET path` on the telemetry listener (status 0: no answer).
    pub fn get(&self, path: &str) -> (u16, String) {
        let out = PodNet::exec(&self.ns, "curl")
            .args(["-s", "-m", "2", "-w", "\n%{http_code}"])
            .arg(format!("http://{TELEMETRY}{path}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    /// The value of metric `name` now.
    pub fn metric(&self, name: &str) -> f64 {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{body}"))
    }

    pub fn wait_for(&mut self, what: &str, secs: u64, mut ok: impl FnMut(&Sidecar) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if ok(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "podflow exited ({status}) waiting for {what}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}:\n{}", self.log());
    }

    /// Sleeps until `secs` after the start.
    pub fn sleep_until(&self, secs: f64) {
        let at = self.started + Duration::from_secs_f64(secs);
        if let Some(left) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log entries whose message is `message`.
    pub fn logged(&self, message: &str) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["message"] == message)
            .collect()
    }

    /// SIGTERM, then the exit status (within 15 s) and the flow records printed.
    pub fn terminate(mut self) -> (ExitStatus, Vec<Value>) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let records = std::fs::read_to_string(&self.records)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (status, records)
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A copy of podflow in a directory every user may read, so that UID 65532 can run it;
/// `setcap` (libcap2-bin) puts `caps` on the copy when given.
pub fn podflow_copy(dir: &Path, caps: Option<&str>) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = bin.join("podflow");
    std::fs::copy(assert_cmd::cargo::cargo_bin("podflow"), &copy).unwrap();
    if let Some(caps) = caps {
        let out = Command::new("setcap")
            .arg(caps)
            .arg(&copy)
            .output()
            .unwrap();
        assert_success(&out);
    }
    copy
}
