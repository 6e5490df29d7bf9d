//! A "pod" and a "peer" network namespace joined by a veth pair, as a test fixture. The
//! namespaces are deleted when the value is dropped, also when the test fails. Needs root.
//! Traffic stays between the addresses made here (10.251.<tag>.0/24, fd00:251:<tag>::/64).
#![allow(dead_code)]

use std::process::{Command, Stdio};

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

fn ip(args: &[&str]) {
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
