//! What a node leaves on the machine and how teardown finds and removes it: its
//! containers through the CRI, its processes, its mounts and its cgroups. Nothing here
//! panics: it runs from `Drop`, also while a failed test unwinds.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::client::Cri;

/// Runs a command during teardown: failures are reported, never panicked on.
pub fn try_run(program: &str, args: &[&str]) -> bool {
    match Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!(
                "teardown: {program} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("teardown: {program}: {e}");
            false
        }
    }
}

/// Stops and removes every container and sandbox; returns the sandboxes' ids.
pub fn remove_everything(cri: &Cri) -> Vec<String> {
    match cri.list_containers() {
        Ok(containers) => {
            for c in containers {
                if let Err(e) = cri.stop_container(&c.id, 0) {
                    eprintln!("teardown: {e}");
                }
                if let Err(e) = cri.remove_container(&c.id) {
                    eprintln!("teardown: {e}");
                }
            }
        }
        Err(e) => eprintln!("teardown: {e}"),
    }
    let mut ids = Vec::new();
    match cri.list_pod_sandboxes() {
        Ok(sandboxes) => {
            for s in sandboxes {
                if let Err(e) = cri.stop_pod_sandbox(&s.id) {
                    eprintln!("teardown: {e}");
                }
                if let Err(e) = cri.remove_pod_sandbox(&s.id) {
                    eprintln!("teardown: {e}");
                }
                ids.push(s.id);
            }
        }
        Err(e) => eprintln!("teardown: {e}"),
    }
    ids
}

/// SIGTERM, then SIGKILL after 10 s.
pub fn stop_process(child: &mut Child) {
    try_run("kill", &["-TERM", &child.id().to_string()]);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// (mount point, filesystem type) of every mount of this process's mount namespace.
pub fn mountinfo() -> Vec<(String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let fstype = right.split(' ').next()?;
            Some((unescape_octal(point), fstype.to_string()))
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'\\')
            .then(|| bytes.get(i + 1..i + 4))
            .flatten()
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .and_then(|d| {
                let n = d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0'));
                u8::try_from(n).ok()
            });
        match escaped {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn collect_cgroup_procs(dir: &Path, pids: &mut Vec<u32>) {
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        pids.extend(procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_cgroup_procs(&entry.path(), pids);
        }
    }
}

/// Removes a cgroup directory and its children, deepest first (cgroups go with rmdir).
pub fn remove_cgroup(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&entry.path());
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        eprintln!("teardown: rmdir {}: {e}", dir.display());
    }
}

/// sha256 of `data` as hex, through coreutils' sha256sum; empty if it cannot run.
pub fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    let Ok(mut child) = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    else {
        return String::new();
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(data);
    }
    let out = child
        .wait_with_output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().next().unwrap_or("").to_string()
}
