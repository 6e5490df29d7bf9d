//! What podflow does when the collector or stdout cannot keep up: a capture file read to
//! a stdout that blocks ends when every line is written; one that ends flows far faster
//! than the sweeper runs stays within its bounds in memory; a TCP collector that accepts
//! and never reads ends the run with what it missed counted, and exactly the records
//! podflow counts as sent are in its socket; over UDP no message exceeds the budget, the
//! metadata cut counted; a UDP collector's name that moves is followed (needs root, for
//! a mount namespace of its own /etc/hosts).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use podflow::ipfix::{split_messages, Session};

/// A capture of `n` TCP SYNs, each its own flow (10.x.y.z:port -> 10.200.0.1:80), a
/// millisecond apart.
fn syn_flood(path: &Path, n: u32) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(&pcap_header(1)).unwrap();
    for i in 0..n {
        let src = 0x0a00_0000 | (i >> 8);
        let sport = 1024 + (i & 0xff) as u16;
        let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src.to_be_bytes());
        f.extend_from_slice(&[10, 200, 0, 1]);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&80u16.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        let t = 1_700_000_000 + i / 1000;
        let mut rec = pcap_record(t, &f);
        rec[4..8].copy_from_slice(&((i % 1000) * 1000).to_le_bytes());
        out.write_all(&rec).unwrap();
    }
}

/// The `key=value` of the totals line.
fn total(err: &str, key: &str) -> u64 {
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

/// podflow reading `pcap` to stdout with small bounds (a 1,000-record queue, a
/// 5,000-flow table), so that the queue fills, the reader waits and the table evicts;
/// `env` adds settings. The process and its stderr.
fn to_stdout(pcap: &Path, env: &[(&str, &str)]) -> (std::process::Child, Log) {
    let mut cmd = podflow_process();
    cmd.args(["--mode", "sidecar"])
        .env("PODFLOW_CAPTURE__PCAP", pcap)
        .env("PODFLOW_K8S__LABELS_FILE", "/nonexistent")
        .env("PODFLOW_K8S__ANNOTATIONS_FILE", "/nonexistent")
        .env("PODFLOW_EXPORT__QUEUE_RECORDS", "1000")
        .env("PODFLOW_FLOW__MAX_FLOWS", "5000")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let log = Log::of(child.stderr.take().unwrap());
    (child, log)
}

#[test]
fn a_capture_file_to_a_blocked_stdout_ends_when_every_line_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("syn.pcap");
    let n = 60_000;
    syn_flood(&pcap, n);
    let (mut child, log) = to_stdout(
        &pcap,
        &[
            ("PODFLOW_EXPORT__DRAIN_TIMEOUT_SECS", "1"),
            ("PODFLOW_EXPORT__WRITE_TIMEOUT_SECS", "1"),
            ("PODFLOW_FLOW__SWEEP_INTERVAL_MS", "100"),
        ],
    );
    // Nobody reads stdout for longer than every timeout: the pipe fills and blocks.
    std::thread::sleep(Duration::from_secs(4));
    let mut lines = 0u32;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert!(v["sourceIPv4Address"].is_string());
        lines += 1;
    }
    assert!(child.wait().unwrap().success());
    let err = log.wait();
    assert_eq!(lines, n, "{err}");
    assert_eq!(total(&err, "records"), u64::from(n), "{err}");
    assert_eq!(total(&err, "not_sent"), 0, "{err}");
    assert!(total(&err, "evicted") > 0, "the table was full: {err}");
}

/// Peak RSS of a running process in KiB, 0 once it is gone.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_capture_file_that_ends_flows_faster_than_the_sweeper_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("syn.pcap");
    let n = 300_000;
    syn_flood(&pcap, n);
    // The default sweep interval: the file is read in far less than a sweep, and every
    // new flow ends an old one to make room.
    let (mut child, log) = to_stdout(&pcap, &[]);
    let pid = child.id();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watch = {
        let peak = peak.clone();
        std::thread::spawn(move || loop {
            let kib = peak_rss_kib(pid);
            if kib == 0 {
                return;
            }
            peak.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        })
    };
    let lines = BufReader::new(child.stdout.take().unwrap()).lines().count();
    assert!(child.wait().unwrap().success());
    watch.join().unwrap();
    let err = log.wait();
    assert_eq!(lines, n as usize, "{err}");
    assert_eq!(total(&err, "records"), u64::from(n), "{err}");
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    // Every ended record held until the next sweep would be some 300 MiB.
    assert!(peak > 0 && peak < 96 * 1024, "peak RSS {peak} KiB:\n{err}");
}

#[test]
fn a_tcp_collector_that_never_reads_ends_the_run_with_what_it_missed_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("syn.pcap");
    let n = 60_000; // some 9 MB of IPFIX: more than the sockets hold
    syn_flood(&pcap, n);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::<TcpStream>::new()));
    let holder = held.clone();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            holder.lock().unwrap().push(c);
        }
    });
    let started = Instant::now();
    let out = meter(
        &pcap,
        &[
            (
                "PODFLOW_EXPORT__COLLECTOR",
                &format!("tcp://127.0.0.1:{port}"),
            ),
            ("PODFLOW_EXPORT__WRITE_TIMEOUT_SECS", "1"),
            ("PODFLOW_EXPORT__BUFFER_RECORDS", "20000"),
            ("PODFLOW_EXPORT__RECONNECT_MAX_BACKOFF_SECS", "1"),
        ],
    );
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(took < Duration::from_secs(60), "{took:?}");
    let (sent, lost) = (total(&err, "records"), total(&err, "not_sent"));
    assert!(lost > 0, "{err}");
    assert_eq!(
        sent + lost,
        u64::from(n),
        "every record sent or counted: {err}"
    );

    // What podflow counts as sent is in the sockets: read it all now.
    let streams = std::mem::take(&mut *held.lock().unwrap());
    assert!(!streams.is_empty());
    let mut received = 0u64;
    let mut options_not_sent = None;
    for mut s in streams {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut bytes = Vec::new();
        let _ = s.read_to_end(&mut bytes);
        let mut session = Session::new(PEN);
        // A message cut by a deadline ends the stream; collectors drop it.
        for m in split_messages(&bytes).map_while(Result::ok) {
            let m = session.decode(m).unwrap();
            for r in &m.records {
                if r.is_options() {
                    if let Some(n) = r.get_u64("notSentFlowTotalCount") {
                        options_not_sent = Some(n);
                    }
                } else {
                    received += 1;
                }
            }
        }
    }
    assert_eq!(
        received, sent,
        "the collector has exactly what podflow counts as sent"
    );
    assert!(options_not_sent.is_some(), "options records reached it");
}

#[test]
fn over_udp_no_message_exceeds_the_budget_and_cut_metadata_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let annotations = dir.path().join("annotations");
    let mut text = String::new();
    for i in 0..60 {
        text.push_str(&format!("note-{i:02}=\"{}\"\n", "x".repeat(50)));
    }
    std::fs::write(&annotations, text).unwrap();
    let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
    collector
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let port = collector.local_addr().unwrap().port();
    // Read as they come: a burst of datagrams overflows a socket nobody reads.
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = collector.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        got
    });
    let out = meter(
        &fixture("sample-1k.pcap"),
        &[
            (
                "PODFLOW_EXPORT__COLLECTOR",
                &format!("udp://127.0.0.1:{port}"),
            ),
            (
                "PODFLOW_K8S__ANNOTATIONS_FILE",
                annotations.to_str().unwrap(),
            ),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(total(&err, "records_cut"), 101, "{err}");
    let mut session = Session::new(PEN);
    let (mut flows, mut biggest) = (0, 0);
    for datagram in reader.join().unwrap() {
        biggest = biggest.max(datagram.len());
        for r in session.decode(&datagram).unwrap().records {
            if let Some(ann) = r.get_str("k8sPodAnnotations") {
                flows += 1;
                let v: serde_json::Value = serde_json::from_str(ann).unwrap();
                let kept = v.as_object().unwrap();
                assert!(
                    !kept.is_empty() && kept.len() < 60,
                    "{} entries",
                    kept.len()
                );
                assert!(kept.values().all(|v| v.as_str().unwrap().len() == 50));
            }
        }
    }
    // UDP may drop a datagram of the burst; what arrives is all cut to the budget.
    assert!((90..=101).contains(&flows), "{flows} flows arrived");
    assert!(biggest <= 1400, "a datagram of {biggest} bytes");
}

/// Runs `podflow` in a mount namespace of its own whose /etc/hosts is `hosts`.
fn in_own_hosts(hosts: &Path, podflow: &Path) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind {} /etc/hosts && exec {} --mode sidecar",
            hosts.display(),
            podflow.display()
        ));
    cmd
}

#[test]
fn a_udp_collector_that_moves_keeps_receiving_root() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 collector.podflow.test\n").unwrap();
    let old = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = old.local_addr().unwrap().port();
    let new = UdpSocket::bind(("127.0.0.2", port)).unwrap();
    for s in [&old, &new] {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    let fifo = dir.path().join("live.pcap");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut cmd = in_own_hosts(&hosts, &assert_cmd::cargo::cargo_bin("podflow"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PODFLOW_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .env("CI", "true")
        .env("PODFLOW_CAPTURE__PCAP", &fifo)
        .env(
            "PODFLOW_EXPORT__COLLECTOR",
            format!("udp://collector.podflow.test:{port}"),
        )
        .env("PODFLOW_EXPORT__RESOLVE_INTERVAL_SECS", "1")
        .env("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "1")
        .env("PODFLOW_FLOW__SWEEP_INTERVAL_MS", "100")
        .env("PODFLOW_K8S__LABELS_FILE", "/nonexistent")
        .env("PODFLOW_K8S__ANNOTATIONS_FILE", "/nonexistent")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Log::of(child.stderr.take().unwrap());
    let mut feed = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    feed.write_all(&pcap_header(1)).unwrap();
    let t0 = 1_700_000_000;
    let mut send = |at: u32, sport: u16| {
        feed.write_all(&pcap_record(at, &udp_frame(sport))).unwrap();
        feed.flush().unwrap();
    };
    send(t0, 5001);
    send(t0 + 5, 5002);
    let before = flows_from(&old, 1, &log);
    assert_eq!(before, [5001]);

    // The Service moves: the same name, another address. The file is rewritten in place,
    // as the bind mount follows its inode.
    std::fs::write(&hosts, "127.0.0.2 collector.podflow.test\n").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    send(t0 + 10, 5003);
    let after = flows_from(&new, 1, &log);
    assert_eq!(after, [5002], "the next flow reaches the new address");
    drop(feed);
    assert!(child.wait().unwrap().success());
    let err = log.wait();
    assert!(err.contains("collector moved"), "{err}");
}

/// Source ports of the flows `sock` receives until `want` have come; templates must
/// come before them on that socket.
fn flows_from(sock: &UdpSocket, want: usize, log: &Log) -> Vec<u64> {
    let mut session = Session::new(PEN);
    let mut ports = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 65536];
    while ports.len() < want {
        assert!(Instant::now() < deadline, "no flow came:\n{}", log.now());
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let m = session.decode(&buf[..n]).unwrap();
        assert!(m.unknown_sets.is_empty(), "data before its templates");
        ports.extend(
            m.records
                .iter()
                .filter_map(|r| r.get_u64("sourceTransportPort")),
        );
    }
    ports
}
