//! The README's commands as a new user types them: every shell block of its quick start
//! and install sections runs here as written (bash, from the repository, with the release
//! binary and the test's helm first on PATH), or is one of the few that need a cluster or
//! a registry, each named with the reason. A block this test does not know fails it, so a
//! command cannot change without its check. Needs root (the live capture runs in network
//! namespaces the test makes) and the release binary (`scripts/test.sh` builds it).

mod common;
#[path = "common/netns.rs"]
mod netns;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::root;
use netns::PodNet;
use serde_json::Value;

/// The README sections whose commands a new user runs first.
const SECTIONS: [&str; 7] = [
    "## Run it",
    "## The image",
    "## `podflow inject`",
    "## Install with Helm",
    "### Node mode in the chart",
    "### The mediator in the chart",
    "## Kustomize",
];

/// Blocks that need what no test here has, by their first line, and why.
const NOT_OFFLINE: [(&str, &str); 4] = [
    ("helm install ", "installs into a cluster"),
    ("skopeo copy ", "pushes to a registry"),
    (
        "podflow inject -f app.yaml | kubectl apply",
        "applies to a cluster",
    ),
    ("kubectl apply ", "applies to a cluster"),
];

/// One fenced shell block: the heading it is under, its first line number, its text.
struct Block {
    section: String,
    line: usize,
    text: String,
}

fn blocks() -> Vec<Block> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (mut out, mut section, mut open) = (Vec::new(), String::new(), None::<Block>);
    for (i, line) in readme.lines().enumerate() {
        match (&mut open, line) {
            (None, l) if l.starts_with('#') => section = l.to_string(),
            (None, "```sh") => {
                open = Some(Block {
                    section: section.clone(),
                    line: i + 2,
                    text: String::new(),
                })
            }
            (Some(_), "```") => out.push(open.take().unwrap()),
            (Some(block), l) => {
                block.text.push_str(l);
                block.text.push('\n');
            }
            _ => {}
        }
    }
    out.into_iter()
        .filter(|b| SECTIONS.iter().any(|s| b.section.starts_with(s)))
        .collect()
}

/// bash running `text` from the repository, as a user's shell would, in its own process
/// group (so that a Ctrl-C reaches everything it started), in network namespace `ns` if
/// given.
fn shell(text: &str, ns: Option<&str>) -> Command {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "bash"]);
            c
        }
        None => Command::new("bash"),
    };
    let helm = std::env::var("HELM").unwrap_or_else(|_| "helm".into());
    let helm_dir = Path::new(&helm).parent().unwrap_or(Path::new(""));
    let path = format!(
        "{}:{}:{}",
        root().join("target/release").display(),
        helm_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.args(["-e", "-o", "pipefail", "-c", text])
        .current_dir(root())
        .env("PATH", path)
        .env("CI", "true")
        .process_group(0);
    // A user's shell: nothing of podflow's settings, nor what cargo sets for a test (ring's
    // build script reads CARGO_PKG_NAME and OUT_DIR: either changed, the block's cargo
    // would build everything again, and the next plain build after it too).
    for (k, _) in std::env::vars() {
        let cargo_set = (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || ["CARGO", "OUT_DIR", "LD_LIBRARY_PATH"].contains(&k.as_str());
        if k.starts_with("PODFLOW_") || k == "RUST_LOG" || cargo_set {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn run(block: &Block, ns: Option<&str>) -> Output {
    let out = shell(&block.text, ns).output().unwrap();
    assert!(
        out.status.success(),
        "README line {}: {}\n{}\nstderr: {}",
        block.line,
        out.status,
        block.text,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The first block, live capture until Ctrl-C: run in a pod namespace while the peer
/// pings it, then interrupted as a terminal's Ctrl-C does (SIGINT to the whole group).
fn live(block: &Block) {
    let net = PodNet::new(171);
    let mut child = shell(&block.text, Some(&net.pod))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = common::Log::of(child.stderr.take().unwrap());
    let stdout = common::Log::of(child.stdout.take().unwrap());
    // Building is done (scripts/test.sh built the release binary): wait for capture.
    let t0 = Instant::now();
    while !stderr.now().contains("capturing") {
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "README line {}: not capturing: {}",
            block.line,
            stderr.now()
        );
        assert!(child.try_wait().unwrap().is_none(), "{}", stderr.now());
        std::thread::sleep(Duration::from_millis(100));
    }
    let ping = PodNet::exec(&net.peer, "ping")
        .args(["-c", "3", "-i", "0.2", &net.pod_v4])
        .output()
        .unwrap();
    assert!(ping.status.success());
    // `ip netns exec` execs bash, the leader of the group.
    let group = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process_group(group, rustix::process::Signal::INT).unwrap();
    let status = child.wait().unwrap();
    let (err, out) = (stderr.wait(), stdout.wait());
    assert!(
        status.success(),
        "README line {}: exit after Ctrl-C: {status}\n{err}",
        block.line
    );
    let flows = json_lines(out.as_bytes());
    let echo = flows.iter().find(|f| {
        f["protocolIdentifier"] == 1
            && f["sourceIPv4Address"] == net.peer_v4.as_str()
            && f["packetDeltaCount"] == 3
    });
    assert!(echo.is_some(), "the pings' flow in {flows:?}\n{err}");
}

/// The capture-file block: the sample's 101 flows.
fn capture_file(block: &Block) {
    let out = run(block, None);
    let flows = json_lines(&out.stdout);
    assert_eq!(flows.len(), 101, "README line {}", block.line);
}

/// The UDP collector block: `podflow collect` listens where it points, in a namespace of
/// the test's own, and gets the sample's 101 flows with the pod's name.
fn udp_collector(block: &Block) {
    let net = PodNet::new(172);
    let collect = common::podflow_in_netns(&net.pod)
        .args(["collect", "--listen", "udp://127.0.0.1:4739"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut collect = common::Background(collect);
    let records = common::Log::of(collect.0.stdout.take().unwrap());
    let t0 = Instant::now();
    while !String::from_utf8_lossy(
        &PodNet::exec(&net.pod, "ss")
            .arg("-lun")
            .output()
            .unwrap()
            .stdout,
    )
    .contains("127.0.0.1:4739 ")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "podflow collect is not listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    run(block, Some(&net.pod));
    let t0 = Instant::now();
    while records
        .now()
        .lines()
        .filter(|l| l.contains("k8sPodName"))
        .count()
        < 101
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "README line {}: records at the collector: {}",
            block.line,
            records.now()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(collect);
    let flows: Vec<Value> = json_lines(records.wait().as_bytes())
        .into_iter()
        .filter(|r| r.get("k8sPodName").is_some())
        .collect();
    assert_eq!(flows.len(), 101);
    assert!(flows.iter().all(|f| f["k8sPodNamespace"] == "shop"));
}

/// The image block: the archive it writes, removed after.
fn image(block: &Block) {
    let archive = root().join("podflow.tar");
    let _ = std::fs::remove_file(&archive);
    run(block, None);
    let size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&archive);
    assert!(size > 1_000_000, "README line {}: podflow.tar", block.line);
}

/// Blocks that print manifests: each must print documents of these kinds, holding these
/// texts.
fn manifests(block: &Block, kinds: &[&str], holding: &[&str]) {
    let out = run(block, None);
    let text = String::from_utf8_lossy(&out.stdout);
    let kinds = kinds.iter().map(|kind| format!("kind: {kind}"));
    for wanted in kinds.chain(holding.iter().map(|h| h.to_string())) {
        assert!(
            text.contains(&wanted),
            "README line {}: no {wanted:?} in\n{text}",
            block.line
        );
    }
}

#[test]
fn every_quick_start_and_install_command_works_as_written_root() {
    let blocks = blocks();
    assert!(blocks.len() >= 8, "the README's blocks: {}", blocks.len());
    let mut ran = Vec::new();
    for block in &blocks {
        let first = block.text.lines().next().unwrap_or("");
        if let Some((_, why)) = NOT_OFFLINE.iter().find(|(p, _)| first.starts_with(p)) {
            eprintln!("README line {}: not run here: {why}", block.line);
            continue;
        }
        let started = Instant::now();
        match first {
            l if l
                .starts_with("cargo build --release && target/release/podflow --mode sidecar") =>
            {
                live(block)
            }
            l if l.starts_with("PODFLOW_CAPTURE__PCAP=it/fixtures/sample-1k.pcap cargo run") => {
                capture_file(block)
            }
            l if l.starts_with("PODFLOW_CAPTURE__PCAP=it/fixtures/sample-1k.pcap \\") => {
                udp_collector(block)
            }
            l if l.starts_with("cargo build --release --locked && scripts/image.sh") => {
                image(block)
            }
            l if l.starts_with("helm template ") && block.text.contains("node.enabled=true") => {
                manifests(
                    block,
                    &["DaemonSet", "ConfigMap"],
                    &["\"--mode\", \"node\""],
                )
            }
            l if l.starts_with("helm template ") => manifests(
                block,
                &["MutatingWebhookConfiguration", "Deployment", "ConfigMap"],
                &["udp://10.0.0.5:4739"],
            ),
            l if l.contains("podflow inject -f config/kustomize/example/") => {
                manifests(block, &["Deployment"], &["podflow.io/status: injected"])
            }
            l if l.starts_with("kubectl kustomize ") => manifests(
                block,
                &["Deployment", "ConfigMap"],
                &["podflow.io/status: injected"],
            ),
            _ => panic!(
                "README line {} ({}): a command this test does not know; say here how it is \
                 checked, or why it cannot run offline:\n{}",
                block.line, block.section, block.text
            ),
        }
        eprintln!(
            "README line {}: ran in {:.1?}",
            block.line,
            started.elapsed()
        );
        ran.push(block.line);
    }
    eprintln!("ran the README blocks at lines {ran:?}");
}
