//! A "pod" and a "peer" network namespace joined by a veth pair, as a test fixture. The
//! namespaces are deleted when the value is dropped, also when the test fails. Needs root.
//! Traffic stays between the addresses made here (10.251.<tag>.0/24, fd00:251:<tag>::/64).
#![allow(dead_code)]

use std::process::{Command, Stdio};

use crate::common::Background;

pub struct PodNet {
    /// Namespace of the pod: its interface is `eth0`, as in a real pod.
    pub pod: String,
    /// Namespace of the other end: interface `peer0`.
    pub peer: String,
    pub pod_v4: String,
    pub peer_v4: String,
    pub pod_v6: String,
    pub peer_v6: String,
}

/// Runs `ip` (iproute2) with these arguments, to success.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2) runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PodNet {
    /// Makes the pair; `tag` (1..=250) keeps concurrent tests apart.
    pub fn new(tag: u8) -> PodNet {
        let id = std::process::id();
        let net = PodNet {
            pod: format!("pf-pod-{id}-{tag}"),
            peer: format!("pf-peer-{id}-{tag}"),
            pod_v4: format!("10.251.{tag}.1"),
            peer_v4: format!("10.251.{tag}.2"),
            pod_v6: format!("fd00:251:{tag}::1"),
            peer_v6: format!("fd00:251:{tag}::2"),
        };
        for ns in [&net.pod, &net.peer] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
            ip(&["netns", "add", ns]);
        }
        ip(&[
            "link", "add", "eth0", "netns", &net.pod, "type", "veth", "peer", "name", "peer0",
            "netns", &net.peer,
        ]);
        for (ns, dev, v4, v6) in [
            (&net.pod, "eth0", &net.pod_v4, &net.pod_v6),
            (&net.peer, "peer0", &net.peer_v4, &net.peer_v6),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        net
    }

    /// A command run inside namespace `ns`.
    pub fn exec(ns: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]);
        cmd
    }
}

impl Drop for PodNet {
    fn drop(&mut self) {
        // Deleting a namespace also removes its end of the veth pair.
        for ns in [&self.pod, &self.peer] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// tcpdump writing every frame of `iface` in namespace `ns` to `file`, `filter` applied
/// (tcpdump's words), once it says it listens. Its buffer is 64 MiB and frames are handed
/// over at once, so that bursts do not overflow it and SIGTERM finds none still waiting.
pub fn tcpdump(ns: &str, iface: &str, file: &std::path::Path, filter: &[&str]) -> Background {
    use std::io::BufRead;
    let mut cmd = PodNet::exec(ns, "tcpdump");
    cmd.args([
        "-Z",
        "root",
        "-i",
        iface,
        "-B",
        "65536",
        "--immediate-mode",
        "-U",
    ])
    .args(["-s", "0", "-w"])
    .arg(file)
    .args(filter)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("tcpdump runs");
    let mut said = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert!(said.contains("listening"), "tcpdump: {said}");
    Background(child)
}

/// `podflow --mode sidecar` in namespace `ns` capturing its `eth0`, telemetry on
/// `telemetry`, logging text to a piped stderr, without Downward-API files.
pub fn sidecar(ns: &str, telemetry: &str) -> Command {
    let mut cmd = crate::common::podflow_in_netns(ns);
    cmd.args(["--mode", "sidecar"])
        .env("PODFLOW_CAPTURE__INTERFACES", "[eth0]")
        .env("PODFLOW_TELEMETRY__LISTEN", telemetry)
        .env("PODFLOW_LOG__FORMAT", "text")
        .env("PODFLOW_K8S__LABELS_FILE", "/nonexistent")
        .env("PODFLOW_K8S__ANNOTATIONS_FILE", "/nonexistent")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Waits until the podflow whose telemetry listens on `listen` in namespace `ns` says it
/// is ready; `log` tells what it said when it never does.
pub fn wait_ready(ns: &str, listen: &str, log: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ready = PodNet::exec(ns, "curl")
            .args(["-sf", &format!("http://{listen}/readyz")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        if ready {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "not ready: {}", log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
