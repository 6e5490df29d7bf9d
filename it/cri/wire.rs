//! What crossed an interface of the node, as tcpdump saw it: a capture started on one of
//! the node's interfaces (a pod's host-side veth, say) and, once stopped, its TCP/IPv4
//! packets and IP bytes per direction of each connection, read with tshark.
//!
//! libpcap takes packets from the kernel in blocks, and a block that is not full reaches
//! tcpdump only when its timeout (tcpdump's default, 1 s) expires; what a block still holds
//! when tcpdump stops is never written. So a capture is stopped [`SETTLE`] after the last
//! packet, and [`Tcpdump::stop`] checks that tcpdump wrote every packet the kernel gave it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::cleanup::stop_process;
use super::node::Node;

/// How long after the last packet a capture may be stopped.
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(1500);

/// Source address and port, destination address and port.
pub type Direction = (Ipv4Addr, u16, Ipv4Addr, u16);

/// Packets and IP bytes per direction of each TCP connection.
pub type Counts = HashMap<Direction, (u64, u64)>;

/// A running tcpdump; stopping it (or dropping it) ends the capture.
pub struct Tcpdump {
    child: Option<Child>,
    /// Its stderr, where it reports its counts when it stops.
    report: Option<BufReader<std::process::ChildStderr>>,
    pub file: PathBuf,
}

impl Tcpdump {
    /// Captures what `filter` (pcap syntax) selects on `interface` in the node's network
    /// namespace into `file`; returns once tcpdump listens.
    pub fn start(node: &Node, interface: &str, filter: &str, file: &Path) -> Tcpdump {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &node.name, "tcpdump", "-Z", "root", "-i"])
            .arg(interface)
            .args(["-U", "-s", "0", "-w"])
            .arg(file)
            .args(filter.split_whitespace())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump runs");
        let mut report = BufReader::new(child.stderr.take().unwrap());
        let mut said = String::new();
        report.read_line(&mut said).unwrap();
        assert!(
            said.contains("listening on"),
            "tcpdump on {interface}: {said}"
        );
        Tcpdump {
            child: Some(child),
            report: Some(report),
            file: file.to_path_buf(),
        }
    }

    /// Stops the capture ([`SETTLE`] after the last packet) and reads it; fails when
    /// tcpdump did not write every packet the kernel passed it.
    pub fn stop(mut self) -> Counts {
        if let Some(mut child) = self.child.take() {
            stop_process(&mut child);
        }
        let mut report = String::new();
        if let Some(mut r) = self.report.take() {
            std::io::Read::read_to_string(&mut r, &mut report).unwrap();
        }
        let count = |what: &str| {
            report
                .lines()
                .find_map(|l| l.strip_suffix(what)?.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("tcpdump said no {what:?}: {report}"))
        };
        let captured = count("packets captured");
        assert_eq!(
            (captured, count("packets dropped by kernel")),
            (count("packets received by filter"), 0),
            "tcpdump into {} lost packets: {report}",
            self.file.display()
        );
        let counts = tcp_counts(&self.file);
        let read: u64 = counts.values().map(|(packets, _)| packets).sum();
        assert_eq!(read, captured, "tshark read {}", self.file.display());
        counts
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_process(&mut child);
        }
    }
}

/// The TCP/IPv4 packets and IP bytes of a capture file, per direction of each connection.
pub fn tcp_counts(file: &Path) -> Counts {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", "ip && tcp", "-T", "fields", "-E", "separator=,"])
        .args(["-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst"])
        .args(["-e", "tcp.dstport", "-e", "ip.len"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark -r {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counts = Counts::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(',').collect();
        let (Ok(src), Ok(sport), Ok(dst), Ok(dport), Ok(len)) = (
            f[0].parse(),
            f[1].parse(),
            f[2].parse(),
            f[3].parse(),
            f[4].parse::<u64>(),
        ) else {
            panic!("tshark wrote {line:?}");
        };
        let entry = counts.entry((src, sport, dst, dport)).or_default();
        entry.0 += 1;
        entry.1 += len;
    }
    counts
}

/// The node's interface that leads to `ip` (for a pod, the host end of its veth).
pub fn interface_to(node: &Node, ip: Ipv4Addr) -> String {
    let out = Command::new("ip")
        .args(["-n", &node.name, "-o", "route", "get", &ip.to_string()])
        .output()
        .expect("ip runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    words
        .find(|w| *w == "dev")
        .and_then(|_| words.next())
        .unwrap_or_else(|| panic!("no route to {ip} in the node: {text}"))
        .to_string()
}
