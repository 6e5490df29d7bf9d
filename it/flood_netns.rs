//! Floods and SIGTERM under load, live, in network namespaces the test makes (needs root):
//! tcpreplay sends a SYN flood at top speed into a pod namespace where the sidecar
//! captures with its ring while a real TCP conversation (socat) runs through it; and a
//! replay at top speed is cut by SIGTERM while a `podflow collect` in the pod takes the
//! records over TCP.

mod common;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/truth.rs"]
mod truth;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use netns::PodNet;
use truth::{key_of, per_direction, truth_from_pcap};

/// Held by each test for as long as it replays at top speed: two floods at once on two
/// cores would measure each other, not podflow.
static TOP_SPEED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn top_speed() -> std::sync::MutexGuard<'static, ()> {
    TOP_SPEED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// "what: expected X, got Y", then podflow's log.
fn failed(what: &str, log: &str) -> String {
    format!("{what}\n--- podflow's log ---\n{log}")
}

/// The sidecar running in `net`'s pod namespace, capturing `eth0` with the ring.
struct Probe {
    child: Child,
    log: Option<Log>,
    peak_kib: Arc<AtomicU64>,
}

impl Probe {
    fn start(net: &PodNet, env: &[(&str, &str)]) -> Probe {
        let mut cmd = netns::sidecar(&net.pod, "127.0.0.1:9477");
        cmd.env("PODFLOW_CAPTURE__BACKEND", "ring")
            .envs(env.iter().copied());
        let mut child = cmd.spawn().unwrap();
        let log = Log::of(child.stderr.take().unwrap());
        // `ip netns exec` execs podflow: the child's pid is podflow's.
        let (pid, peak_kib) = (child.id(), Arc::new(AtomicU64::new(0)));
        let peak = peak_kib.clone();
        std::thread::spawn(move || loop {
            let kib = peak_rss_kib(pid);
            if kib == 0 {
                return;
            }
            peak.fetch_max(kib, Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        });
        let probe = Probe {
            child,
            log: Some(log),
            peak_kib,
        };
        netns::wait_ready(&net.pod, "127.0.0.1:9477", || {
            probe.log.as_ref().unwrap().now()
        });
        probe
    }

    /// SIGTERM; waits for the exit, which must be 0 within `within`. Its stderr.
    fn stop(mut self, within: Duration) -> String {
        let asked = Instant::now();
        assert!(Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if asked.elapsed() > within {
                let log = self.log.as_ref().unwrap().now();
                panic!(
                    "{}",
                    failed(
                        &format!("exit within {within:?} of SIGTERM: still running"),
                        &log
                    )
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = self.log.take().unwrap().wait();
        assert!(
            status.success(),
            "{}",
            failed(&format!("exit 0 after SIGTERM: got {status}"), &log)
        );
        log
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A capture of `syns` distinct unanswered SYNs (scripts/syn-flood.py, no conversation).
fn syn_flood(path: &Path, syns: u32) {
    let out = Command::new("python3")
        .arg(root().join("scripts/syn-flood.py"))
        .arg(path)
        .arg(syns.to_string())
        .arg("0")
        .output()
        .unwrap();
    assert_success(&out);
}

/// tcpreplay of `pcap` at top speed out of the peer's end of the veth, into the pod.
fn replay(net: &PodNet, pcap: &Path, extra: &[&str]) -> Command {
    let mut cmd = PodNet::exec(&net.peer, "tcpreplay");
    cmd.args(["-q", "--topspeed", "-i", "peer0"])
        .args(extra)
        .arg(pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

#[test]
fn a_syn_flood_keeps_the_conversation_whole_and_memory_bounded_root() {
    let _alone = top_speed();
    let net = PodNet::new(141);
    let work = tempfile::tempdir().unwrap();
    let flood = work.path().join("flood.pcap");
    let syns = 200_000;
    syn_flood(&flood, syns);
    let ipfix = work.path().join("flows.ipfix");
    let wire = work.path().join("wire.pcap");
    let max_flows = 8192u64;
    // Timeouts longer than the test: every flow the flood starts ends by eviction, the
    // conversation by its FIN, or at SIGTERM, however fast this machine replays.
    let probe = Probe::start(
        &net,
        &[
            ("PODFLOW_FLOW__MAX_FLOWS", &max_flows.to_string()),
            ("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "3600"),
            ("PODFLOW_FLOW__ACTIVE_TIMEOUT_SECS", "3600"),
            ("PODFLOW_CAPTURE__RING_BYTES", "33554432"),
            (
                "PODFLOW_EXPORT__COLLECTOR",
                &format!("file:{}", ipfix.display()),
            ),
        ],
    );
    // Ground truth: tcpdump in the pod sees the conversation's every packet.
    let tcpdump = Background(
        PodNet::exec(&net.pod, "tcpdump")
            .args(["-i", "eth0", "-U", "-w"])
            .arg(&wire)
            .args(["tcp port 5001"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let server = Background(
        PodNet::exec(&net.peer, "socat")
            .args([
                "-u",
                &format!("TCP-LISTEN:5001,bind={},reuseaddr", net.peer_v4),
                "OPEN:/dev/null",
            ])
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300));
    // A line every 50 ms for 4 s, across the whole flood.
    let mut client = PodNet::exec(&net.pod, "socat")
        .args([
            "-u",
            "EXEC:sh -c 'i=0; while [ $i -lt 80 ]; do echo steady-$i; sleep 0.05; i=$((i+1)); done'",
            &format!("TCP:{}:5001", net.peer_v4),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        assert!(replay(&net, &flood, &[]).status().unwrap().success());
    }
    assert!(client.wait().unwrap().success());
    // The FINs, and the linger after them.
    std::thread::sleep(Duration::from_millis(2500));
    drop(server);
    drop(tcpdump);
    let peak = probe.peak_kib.load(Relaxed);
    let log = probe.stop(Duration::from_secs(15));

    let truth = truth_from_pcap(&wire);
    let records = flow_records(&read_ipfix_file(&ipfix));
    let steady: Vec<_> = records
        .iter()
        .filter(|r| {
            let k = key_of(r);
            k.2 == 6 && (k.3 == 5001 || k.4 == 5001) && k.0.to_string() == net.pod_v4
        })
        .collect();
    let reasons: Vec<_> = steady
        .iter()
        .map(|r| {
            let k = key_of(r);
            (
                k.3,
                k.4,
                r.get_u64("flowEndReason"),
                r.get_u64("packetDeltaCount"),
                r.get_u64("reversePacketDeltaCount"),
                r.get_u64("tcpControlBits"),
                r.get_u64("reverseTcpControlBits"),
            )
        })
        .collect();
    assert!(
        steady.len() == 1,
        "{}",
        failed(
            &format!(
                "one record of the conversation: got {} {reasons:?}",
                steady.len()
            ),
            &log
        )
    );
    assert!(!truth.is_empty(), "tcpdump saw the conversation");
    // What podflow metered of the conversation: all of it, unless the kernel dropped
    // frames from podflow's ring, and then no fewer than tcpdump saw less those drops.
    let drops = export_total(&log, "kernel_drops");
    let metered = per_direction(steady.iter().copied());
    if drops == 0 {
        assert!(
            metered == truth,
            "{}",
            failed(
                &format!("the conversation's packets and bytes per direction with no kernel drop: expected tcpdump's {truth:?}, got {metered:?}"),
                &log
            )
        );
    } else {
        let packets = |counts: &truth::Truth| -> u64 { counts.values().map(|(p, _)| p).sum() };
        let (seen, got) = (packets(&truth), packets(&metered));
        assert!(
            got <= seen && seen - got <= drops,
            "{}",
            failed(
                &format!("the conversation's packets with {drops} kernel drops: expected {} to {seen}, got {got}", seen.saturating_sub(drops)),
                &log
            )
        );
    }
    // Evictions against what podflow itself counted: every flow it started and did not
    // end by eviction is the conversation or still live at SIGTERM, at most max_flows.
    let (flows, evicted) = (export_total(&log, "flows"), export_total(&log, "evicted"));
    assert!(
        flows > max_flows,
        "{}",
        failed(
            &format!("more flows than the table holds: expected over {max_flows}, got {flows} ({drops} kernel drops)"),
            &log
        )
    );
    assert!(
        evicted + max_flows + 1 >= flows,
        "{}",
        failed(
            &format!("evictions: expected at least {} (flows {flows} - max_flows {max_flows} - the conversation), got {evicted}", flows - max_flows - 1),
            &log
        )
    );
    // The stated bound: 32 MiB of ring, 40 MiB for the binary, its threads and the
    // exporter's queue (debug build), 1 KiB per flow of the table.
    let bound = 32 * 1024 + 40 * 1024 + max_flows;
    assert!(
        peak > 0 && peak < bound,
        "{}",
        failed(
            &format!("peak RSS: expected under {bound} KiB, got {peak} KiB"),
            &log
        )
    );
    eprintln!("peak RSS {peak} KiB, bound {bound} KiB, evicted {evicted}");
}

#[test]
fn sigterm_in_the_middle_of_a_replay_exports_every_metered_frame_root() {
    let _alone = top_speed();
    let net = PodNet::new(142);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("collect.jsonl");
    let collect = podflow_in_netns(&net.pod)
        .args(["collect", "--listen", "tcp://127.0.0.1:4739"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let collect = Background(collect);
    let drain_secs = 5;
    let probe = Probe::start(
        &net,
        &[
            ("PODFLOW_EXPORT__COLLECTOR", "tcp://127.0.0.1:4739"),
            (
                "PODFLOW_EXPORT__DRAIN_TIMEOUT_SECS",
                &drain_secs.to_string(),
            ),
        ],
    );
    // The sample, over and over at top speed; SIGTERM lands in the middle.
    let mut replaying = replay(&net, &fixture("sample-1k.pcap"), &["--loop", "100000"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let log = probe.stop(Duration::from_secs(drain_secs + 3));
    let still_replaying = replaying.try_wait().unwrap().is_none();
    let _ = replaying.kill();
    let _ = replaying.wait();
    assert!(still_replaying, "SIGTERM came after the replay ended");
    std::thread::sleep(Duration::from_millis(300));
    drop(collect);

    let metered = export_total(&log, "packets") - export_total(&log, "ignored");
    assert!(
        metered > 0,
        "{}",
        failed("frames metered before SIGTERM: got none", &log)
    );
    let not_sent = export_total(&log, "not_sent");
    assert!(
        not_sent == 0,
        "{}",
        failed(
            &format!("records not sent: expected 0, got {not_sent}"),
            &log
        )
    );
    let collected: u64 = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("options").is_none())
        .map(|f| {
            f["packetDeltaCount"].as_u64().unwrap_or(0)
                + f["reversePacketDeltaCount"].as_u64().unwrap_or(0)
        })
        .sum();
    assert!(
        collected == metered,
        "{}",
        failed(
            &format!(
                "packets in the records collected: expected the {metered} metered, got {collected}"
            ),
            &log
        )
    );
}
