//! The real `podflow --mode sidecar` in network namespaces made here, when it cannot
//! capture and when it can only thanks to its file capability. Needs root (namespaces,
//! setpriv, setcap): every test says so in its name.
//!
//! - Without NET_RAW (bounding set without it, or a non-root UID and a binary without the
//!   file capability) the sidecar stays up, says why on `/readyz` and in one error line,
//!   passes `/startupz` after its grace, retries, and exits 0 on SIGTERM.
//! - Started with nothing to capture, it starts capturing when an interface appears.
//! - As UID 65532 with only `cap_net_raw+p` on its binary, it raises NET_RAW and captures
//!   exactly the packets sent.

mod common;
#[path = "common/netns.rs"]
mod netns;
#[path = "sidecar_resilience/sidecar.rs"]
mod sidecar;

use std::process::Command;
use std::time::Duration;

use common::*;
use netns::PodNet;
use serde_json::Value;
use sidecar::{podflow_copy, Sidecar};

const TELEMETRY: &str = "127.0.0.1:9477";
/// What the error line says when capture cannot run.
const DOWN: &str = "capture is not running; podflow stays up and keeps trying";
/// What the debug line of a retry that failed the same way says.
const STILL_DOWN: &str = "capture is still not running";

/// As the kubelet runs a non-root sidecar, without setuid tricks: a fresh UID and group,
/// no supplementary groups.
const AS_NONROOT: [&str; 4] = ["--reuid=65532", "--regid=65532", "--clear-groups", "--"];

/// One situation where the sidecar cannot capture: how it is run and what its message
/// must say (and must not).
struct Refused {
    prefix: Vec<&'static str>,
    says: &'static [&'static str],
    never: &'static [&'static str],
}

fn stays_up_without_net_raw(tag: u8, refused: Refused) {
    let net = PodNet::new(tag);
    let dir = tempfile::tempdir().unwrap();
    let program = podflow_copy(dir.path(), None);
    let mut sidecar = Sidecar::start(
        &net.pod,
        &refused.prefix,
        &program,
        &[("PODFLOW_TELEMETRY__STARTUP_GRACE_SECS", "3")],
        dir.path(),
    );

    // Before the grace: alive, not ready, not started, and each says why.
    let (status, body) = sidecar.get("/startupz");
    assert!(
        sidecar.started.elapsed() < Duration::from_secs(3),
        "too slow to check the grace"
    );
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("starting: capture is not running yet: cannot open a packet socket: "),
        "{body}"
    );
    let (status, body) = sidecar.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready: capture is not running: cannot open a packet socket: Operation not permitted"), "{body}");
    for fragment in refused.says {
        assert!(body.contains(fragment), "{fragment:?} not in {body}");
    }
    for fragment in refused.never {
        assert!(!body.contains(fragment), "{fragment:?} in {body}");
    }
    assert_eq!(sidecar.get("/healthz"), (200, "ok".to_owned()));
    assert_eq!(sidecar.metric("podflow_capture_up"), 0.0);
    assert_eq!(sidecar.metric("podflow_capture_interfaces"), 0.0);

    // After the grace: started, still not capturing, and saying so.
    sidecar.sleep_until(3.5);
    let (status, startup) = sidecar.get("/startupz");
    assert_eq!(status, 200, "{startup}");
    assert!(startup.starts_with("started after the startup grace, but capture is not running: cannot open a packet socket: "), "{startup}");

    // Retries at 1, 3 and 7 s: one error, then debug lines only.
    sidecar.sleep_until(8.0);
    assert!(sidecar.alive(), "podflow exited:\n{}", sidecar.log());
    assert_eq!(sidecar.get("/healthz").0, 200);
    assert_eq!(sidecar.get("/readyz").0, 503);
    let errors = sidecar.logged(DOWN);
    assert_eq!(errors.len(), 1, "{}", sidecar.log());
    assert_eq!(errors[0]["level"], "ERROR");
    let cause = errors[0]["cause"].as_str().unwrap();
    assert!(
        body.ends_with(cause),
        "the error names the cause /readyz gives: {cause}"
    );
    let retries = sidecar.logged(STILL_DOWN).len();
    assert!(
        (2..=4).contains(&retries),
        "{retries} retries in 8 s:\n{}",
        sidecar.log()
    );
    assert!(sidecar.logged("capture started").is_empty());

    let (status, records) = sidecar.terminate();
    let log = std::fs::read_to_string(dir.path().join("podflow.log")).unwrap();
    assert!(status.success(), "{status}: {log}");
    assert!(records.is_empty());
    assert!(log.contains("\"message\":\"done\""), "{log}");
}

#[test]
fn without_net_raw_in_the_bounding_set_the_sidecar_stays_up_needs_root() {
    stays_up_without_net_raw(
        41,
        Refused {
            prefix: vec![
                "setpriv",
                "--bounding-set=-net_raw",
                "--inh-caps=-all",
                "--",
            ],
            says: &[
                "NET_RAW is not in this container's capability bounding set",
                "capabilities.add: [NET_RAW]",
                "\"baseline\"",
            ],
            never: &["UID", "file capability"],
        },
    );
}

#[test]
fn as_non_root_without_the_file_capability_the_sidecar_stays_up_needs_root() {
    let mut prefix = vec!["setpriv"];
    prefix.extend(AS_NONROOT);
    stays_up_without_net_raw(
        42,
        Refused {
            prefix,
            says: &[
                "NET_RAW is granted to the container but not to this process, which runs as UID 65532",
                "bin/podflow carries no cap_net_raw file capability",
                "webhook.sidecar.security_profile \"root\"",
            ],
            never: &["add: [NET_RAW]", "bounding set"],
        },
    );
}

/// A pod namespace with nothing but loopback: the pair of [`PodNet`] with its veth pair
/// taken away (deleting one end deletes both), to be plugged back in later.
fn lonely_pod(tag: u8) -> PodNet {
    let net = PodNet::new(tag);
    ip(&["-n", &net.pod, "link", "del", "eth0"]);
    net
}

/// Gives the pod of [`lonely_pod`] its `eth0` back, joined to the peer's `peer0`, with
/// their IPv4 addresses, both up.
fn plug(net: &PodNet) {
    ip(&[
        "link", "add", "eth0", "netns", &net.pod, "type", "veth", "peer", "name", "peer0", "netns",
        &net.peer,
    ]);
    for (ns, dev, addr) in [
        (&net.pod, "eth0", &net.pod_v4),
        (&net.peer, "peer0", &net.peer_v4),
    ] {
        ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
        ip(&["-n", ns, "link", "set", dev, "up"]);
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn python_in(ns: &str, args: &[&str]) -> Command {
    let mut cmd = PodNet::exec(ns, "python3");
    cmd.arg(root().join("it/py/traffic.py")).args(args);
    cmd
}

/// The one record of the UDP conversation from `sport` to `dport`.
fn udp_record(records: &[Value], sport: u16, dport: u16) -> &Value {
    let mine: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["protocolIdentifier"] == 17
                && r["sourceTransportPort"] == sport
                && r["destinationTransportPort"] == dport
        })
        .collect();
    assert_eq!(mine.len(), 1, "records of {sport} -> {dport}: {records:#?}");
    mine[0]
}

/// Asserts that record `r` counts `n` packets of `ip_bytes` bytes each way.
fn assert_echoed(r: &Value, n: u64, ip_bytes: u64) {
    let counts = |packets: &str, octets: &str| (r[packets].as_u64(), r[octets].as_u64());
    let want = (Some(n), Some(n * ip_bytes));
    assert_eq!(counts("packetDeltaCount", "octetDeltaCount"), want, "{r}");
    assert_eq!(
        counts("reversePacketDeltaCount", "reverseOctetDeltaCount"),
        want,
        "{r}"
    );
}

/// Sends `n` datagrams of `size` bytes from the pod to an echo server on the peer; returns
/// the client's port.
fn udp_exchange(pod: &str, peer: &str, peer_v4: &str, n: u32, size: u32) -> u16 {
    let (_echo, said) = start(python_in(peer, &["udp-echo", peer_v4, "5353"]));
    assert_eq!(said, "listening");
    let port = run(python_in(
        pod,
        &[
            "udp-send",
            peer_v4,
            "5353",
            &n.to_string(),
            &size.to_string(),
        ],
    ));
    // Let the last echoes arrive before the echo server goes.
    std::thread::sleep(Duration::from_millis(300));
    port.parse().unwrap()
}

#[test]
fn capture_starts_when_an_interface_appears_needs_root() {
    let net = lonely_pod(43);
    let dir = tempfile::tempdir().unwrap();
    let program = assert_cmd::cargo::cargo_bin("podflow");
    let mut sidecar = Sidecar::start(&net.pod, &[], &program, &[], dir.path());

    let (status, body) = sidecar.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("not ready: capture is not running: no interface is up but loopback"),
        "{body}"
    );
    assert_eq!(sidecar.metric("podflow_capture_up"), 0.0);
    let (status, body) = sidecar.get("/startupz");
    assert_eq!(status, 503, "{body}");

    plug(&net);
    sidecar.wait_for("/readyz to answer 200", 10, |s| s.get("/readyz").0 == 200);
    assert_eq!(sidecar.metric("podflow_capture_up"), 1.0);
    assert_eq!(sidecar.metric("podflow_capture_interfaces"), 1.0);
    assert_eq!(sidecar.get("/startupz"), (200, "started".to_owned()));

    let sport = udp_exchange(&net.pod, &net.peer, &net.peer_v4, 25, 300);
    assert!(sidecar.metric("podflow_capture_packets_total") >= 50.0);
    assert_eq!(sidecar.logged(DOWN).len(), 1, "{}", sidecar.log());
    // Waiting for an interface is no failed retry: nothing logged per look.
    assert!(sidecar.logged(STILL_DOWN).is_empty(), "{}", sidecar.log());
    let started = sidecar.logged("capture started");
    assert_eq!(started.len(), 1, "{}", sidecar.log());
    assert_eq!(started[0]["interfaces"], "[\"eth0\"]");

    let (status, records) = sidecar.terminate();
    assert!(status.success(), "{status}");
    // 25 datagrams each way, 20 + 8 + 300 bytes of IP each.
    let r = udp_record(&records, sport, 5353);
    assert_echoed(r, 25, 328);
    assert_eq!(r["interfaceName"], "eth0");
}

/// The capability masks and effective UID of process `pid`.
fn status_of(pid: u32) -> (String, String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            .trim()
            .to_owned()
    };
    let uid = field("Uid").split_whitespace().nth(1).unwrap().to_owned();
    (uid, field("CapPrm"), field("CapEff"))
}

#[test]
fn a_non_root_sidecar_captures_through_its_file_capability_needs_root() {
    let net = PodNet::new(44);
    let dir = tempfile::tempdir().unwrap();
    let program = podflow_copy(dir.path(), Some("cap_net_raw+p"));
    // Like `capabilities: {drop: [ALL], add: [NET_RAW]}` with runAsUser 65532.
    let mut prefix = vec!["setpriv", "--bounding-set=-all,+net_raw", "--inh-caps=-all"];
    prefix.extend(AS_NONROOT);
    let mut sidecar = Sidecar::start(&net.pod, &prefix, &program, &[], dir.path());
    sidecar.wait_for("/readyz to answer 200", 10, |s| s.get("/readyz").0 == 200);

    // `ip netns exec` and setpriv exec podflow in place: the child is podflow itself, which
    // got NET_RAW permitted from the file and raised it into its effective set.
    let pid = sidecar.child.id();
    assert_eq!(
        status_of(pid),
        (
            "65532".into(),
            "0000000000002000".into(),
            "0000000000002000".into()
        )
    );
    assert!(std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .starts_with(program.to_str().unwrap()));
    assert_eq!(sidecar.metric("podflow_capture_up"), 1.0);
    assert!(sidecar.logged(DOWN).is_empty(), "{}", sidecar.log());

    let sport = udp_exchange(&net.pod, &net.peer, &net.peer_v4, 40, 120);
    let (status, records) = sidecar.terminate();
    assert!(status.success(), "{status}");
    let r = udp_record(&records, sport, 5353);
    assert_echoed(r, 40, 148);
    assert_eq!(r["sourceIPv4Address"], net.pod_v4.as_str());
    assert_eq!(r["flowDirection"], 1);
}
