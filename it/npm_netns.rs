//! Network performance and application fields against tshark, live, in network namespaces
//! the test makes (needs root): a client namespace (the pod, where the sidecar captures
//! eth0), a router and a server namespace, with a wire of known delays, losses and
//! reordering between them (`npm_netns/lab.rs`). The client asks DNS, HTTP and TLS
//! servers, uploads and downloads, meets a closed window, while tcpdump records its eth0;
//! tshark's analysis of that capture (`npm_netns/oracle.rs`) is the oracle the records are
//! held against, conversation by conversation (5-tuple), as `npm_netns/records.rs` says.
//! Four sidecars meter the same traffic: as shipped, without `flow.npm`, without
//! `flow.l7`, without both. A connection opened before they start is seen from its middle.

mod common;
#[path = "npm_netns/ja4.rs"]
mod ja4;
#[path = "npm_netns/lab.rs"]
mod lab;
#[path = "common/netns.rs"]
mod netns;
#[path = "npm_netns/oracle.rs"]
mod oracle;
#[path = "npm_netns/records.rs"]
mod records;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;
use lab::*;
use netns::PodNet;
use oracle::{Conversation, End, Oracle};
use records::{check_counts, check_fields, expected_keys, group_keys, record_of, Kind};

/// What the client did, and the ends of the conversation it made.
struct Conn {
    what: &'static str,
    kind: Kind,
    client: End,
    server: End,
}

fn client_end(port: u16) -> End {
    (CLIENT_V4.parse().unwrap(), port)
}

fn server_end(port: u16) -> End {
    (SERVER_V4.parse().unwrap(), port)
}

/// The sidecar in the client namespace, capturing eth0 and exporting over TCP to a
/// `podflow collect` beside it, which writes the records as JSON lines.
struct Probe {
    child: Option<Child>,
    log: Option<Log>,
    collect: Option<Background>,
    records: PathBuf,
}

impl Probe {
    fn start(ns: &str, work: &Path, n: u16, env: &[(&str, &str)]) -> Probe {
        let records = work.join(format!("records-{n}.jsonl"));
        let listen = format!("tcp://127.0.0.1:{}", 4739 + n);
        let collect = PodNet::exec(
            ns,
            assert_cmd::cargo::cargo_bin("podflow").to_str().unwrap(),
        )
        .args(["collect", "--listen", &listen])
        .stdout(std::fs::File::create(&records).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let collect = Background(collect);
        let telemetry = format!("127.0.0.1:{}", 9477 + n);
        let mut cmd = netns::sidecar(ns, &telemetry);
        cmd.env("PODFLOW_EXPORT__COLLECTOR", &listen)
            .envs(env.iter().copied());
        let mut child = cmd.spawn().unwrap();
        let log = Log::of(child.stderr.take().unwrap());
        let probe = Probe {
            child: Some(child),
            log: Some(log),
            collect: Some(collect),
            records,
        };
        netns::wait_ready(ns, &telemetry, || probe.log.as_ref().unwrap().now());
        probe
    }

    /// SIGTERM (every flow still open ends and is exported), then the flow records the
    /// collector received.
    fn stop(mut self) -> Vec<Value> {
        let mut child = self.child.take().unwrap();
        assert!(Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "podflow still runs after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = self.log.take().unwrap().wait();
        assert!(status.success(), "{status}: {log}");
        assert_eq!(export_total(&log, "not_sent"), 0, "{log}");
        std::thread::sleep(Duration::from_millis(300));
        drop(self.collect.take());
        std::fs::read_to_string(&self.records)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r.get("options").is_none())
            .collect()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            drop(Background(child));
        }
    }
}

/// The client's DNS queries, requests, transfers and the connection with a closed window.
fn traffic(lab: &Lab, site: &Site) -> Vec<Conn> {
    let c = &lab.client;
    let mut conns = Vec::new();
    for (what, name, port, status) in [
        ("dns", DNS_NAME, 40053, "NOERROR"),
        ("dns nxdomain", MISSING_NAME, 40054, "NXDOMAIN"),
    ] {
        let out = lab.run(
            c,
            "dig",
            &[
                &format!("@{SERVER_V4}"),
                "-b",
                &format!("{CLIENT_V4}#{port}"),
                "+tries=1",
                "+time=10",
                name,
                "A",
            ],
        );
        assert!(out.contains(&format!("status: {status}")), "{out}");
        conns.push(Conn {
            what,
            kind: Kind::Dns,
            client: client_end(port),
            server: server_end(53),
        });
    }
    let curl = |url_path: &str, port: u16, extra: &[&str]| -> (u16, String) {
        let scheme = if port == TLS_PORT { "https" } else { "http" };
        let resolve = format!("{DNS_NAME}:{port}:{SERVER_V4}");
        let mut args = vec![
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{local_port} %{http_code} %{size_download}",
            "--resolve",
            &resolve,
        ];
        args.extend_from_slice(extra);
        let url = format!("{scheme}://{DNS_NAME}:{port}{url_path}");
        args.push(&url);
        let out = lab.run(c, "curl", &args);
        let (port, rest) = out.split_once(' ').unwrap();
        (port.parse().unwrap(), rest.to_string())
    };
    let ca = site.ca.display().to_string();
    let upload = format!("@{}", site.upload.display());
    let mut http = |what, path: &str, port, extra: &[&str], want: &str| {
        let (local, got) = curl(path, port, extra);
        assert_eq!(got, want, "{what}");
        conns.push(Conn {
            what,
            kind: if port == TLS_PORT {
                Kind::Tls
            } else {
                Kind::Http
            },
            client: client_end(local),
            server: server_end(port),
        });
    };
    http("page", "/hello.txt", HTTP_PORT, &[], "200 20");
    http("missing page", "/missing", HTTP_PORT, &[], "404 10");
    http("tls", "/hello.txt", TLS_PORT, &["--cacert", &ca], "200 20");
    // An MTU of 512 leaves 460 bytes of payload a segment: the ClientHello (about 520)
    // spans two. The capture sees what the stack hands the interface, so segmentation
    // offload is cut to one segment a packet meanwhile, or the two would come as one
    // frame.
    let link = |mtu: &str, segs: &str| {
        lab.run(
            c,
            "ip",
            &["link", "set", "eth0", "mtu", mtu, "gso_max_segs", segs],
        );
    };
    link("512", "1");
    http(
        "tls split",
        "/hello.txt",
        TLS_PORT,
        &["--cacert", &ca],
        "200 20",
    );
    link("1500", "65535");
    http(
        "upload",
        "/upload",
        HTTP_PORT,
        &["-H", "Expect:", "--data-binary", &upload],
        "200 8",
    );
    http(
        "download",
        &format!("/{DOWNLOAD}"),
        HTTP_PORT,
        &[],
        "200 1000000",
    );
    let slow = lab.run(
        c,
        "python3",
        &[
            root().join("it/py/traffic.py").to_str().unwrap(),
            "tcp-client",
            SERVER_V4,
            &SLOW_PORT.to_string(),
            "60000",
            "0",
        ],
    );
    conns.push(Conn {
        what: "zero window",
        kind: Kind::Tcp,
        client: client_end(slow.trim().parse().unwrap()),
        server: server_end(SLOW_PORT),
    });
    conns
}

fn find<'a>(conns: &'a [Conn], what: &str) -> &'a Conn {
    conns.iter().find(|c| c.what == what).unwrap()
}

/// What tshark must find in the capture of the traffic made, given the wire: the oracle
/// is checked before anything is held against it.
fn check_oracle(oracle: &Oracle, conns: &[Conn]) -> Vec<Conversation> {
    let round_trip_us = (TO_SERVER_MS + TO_CLIENT_MS) * 1000;
    let mut found = Vec::new();
    for conn in conns {
        let c = oracle
            .between(conn.client, conn.server)
            .unwrap_or_else(|| panic!("{}: not in the capture", conn.what));
        if conn.kind == Kind::TcpMidway {
            assert!(c.handshake.is_none(), "{c:?}");
        } else {
            assert_eq!(c.initiator, conn.client, "{}", conn.what);
        }
        if c.proto == 6 && conn.kind != Kind::TcpMidway {
            let h = c
                .handshake
                .unwrap_or_else(|| panic!("{}: no handshake", conn.what));
            assert!(h.ack > 0, "{}: {h:?}", conn.what);
            // The SYN went the whole wire and back before the SYN/ACK came.
            assert!(h.server_delay_us() >= round_trip_us, "{}: {h:?}", conn.what);
            // tshark's initial RTT is the sum of the two.
            let sum = h.server_delay_us() + h.client_delay_us();
            assert!(h.initial_rtt_us.abs_diff(sum) <= 1, "{}: {h:?}", conn.what);
        }
        found.push(c.clone());
    }
    let get = |what| {
        let conn = find(conns, what);
        oracle.between(conn.client, conn.server).unwrap()
    };
    let dns = get("dns").dns.clone().unwrap();
    assert_eq!(
        (dns.name.as_str(), dns.qtype, dns.rcode, dns.answers),
        (DNS_NAME, 1, Some(0), Some(1))
    );
    assert!(dns.time_us.unwrap() >= round_trip_us, "{dns:?}");
    let nx = get("dns nxdomain").dns.clone().unwrap();
    assert_eq!(
        (nx.name.as_str(), nx.qtype, nx.rcode, nx.answers),
        (MISSING_NAME, 1, Some(3), Some(0))
    );
    let host = format!("{DNS_NAME}:{HTTP_PORT}");
    for (what, method, uri, status) in [
        ("page", "GET", "/hello.txt", 200),
        ("missing page", "GET", "/missing", 404),
        ("upload", "POST", "/upload", 200),
        ("download", "GET", "/down.bin", 200),
    ] {
        let http = get(what).http.clone().unwrap();
        assert_eq!(
            (
                http.host.as_str(),
                http.method.as_str(),
                http.uri.as_str(),
                http.status
            ),
            (host.as_str(), method, uri, Some(status)),
            "{what}"
        );
    }
    for what in ["tls", "tls split"] {
        let c = get(what);
        let tls = c.tls.clone().unwrap();
        assert_eq!(tls.server_name.as_deref(), Some(DNS_NAME), "{what}");
        assert_eq!(tls.alpn, ["h2", "http/1.1"], "{what}");
        assert_eq!((tls.client_version, tls.version), (0x0304, Some(0x0304)));
        // TLS 1.3, a domain, h2 offered first.
        assert!(
            tls.ja4.starts_with("t13d") && tls.ja4.get(8..10) == Some("h2"),
            "{tls:?}"
        );
        assert_eq!(tls.ja3.len(), 32, "{tls:?}");
        // One ClientHello in one segment, the other in two.
        let want = if what == "tls" { 1 } else { 2 };
        assert_eq!(c.request_frames, want, "{what}");
    }
    // The upload lost segments and sent them again; the download's late segments came
    // after later ones; the slow reader closed its window.
    let upload = get("upload");
    let resent = upload.sent_by(upload.initiator);
    assert!(
        resent.retransmission + resent.out_of_order > 0,
        "{resent:?}"
    );
    let download = get("download");
    assert!(download.sent_by(download.responder).out_of_order > 0);
    let slow = get("zero window");
    assert!(slow.sent_by(slow.responder).zero_window > 0);
    found
}

#[test]
fn network_performance_and_application_fields_match_tshark_root() {
    let work = tempfile::tempdir().unwrap();
    let mut lab = Lab::new(1);
    let site = Site::make(work.path());
    lab.serve(&site);
    // A connection open before the probes start: they see it from its middle.
    let (held_client, held_port) = start({
        let mut cmd = PodNet::exec(&lab.client, "python3");
        cmd.arg(root().join("it/py/traffic.py")).args([
            "tcp-hold",
            SERVER_V4,
            &SINK_PORT.to_string(),
        ]);
        cmd
    });
    std::thread::sleep(Duration::from_millis(1200));
    let wire = work.path().join("wire.pcap");
    let tcpdump = netns::tcpdump(&lab.client, "eth0", &wire, &[]);
    // One probe as shipped, and one without each group of fields and without both: the
    // same traffic through all four.
    let settings = [(true, true), (false, true), (true, false), (false, false)];
    let probes: Vec<Probe> = (0u16..)
        .zip(settings)
        .map(|(n, (npm, l7))| {
            let env = [
                ("PODFLOW_FLOW__NPM", npm.to_string()),
                ("PODFLOW_FLOW__L7", l7.to_string()),
            ];
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Probe::start(&lab.client, work.path(), n, &env)
        })
        .collect();

    let mut conns = traffic(&lab, &site);
    conns.push(Conn {
        what: "held",
        kind: Kind::TcpMidway,
        client: client_end(held_port.parse().unwrap()),
        server: server_end(SINK_PORT),
    });
    // The last FINs and ACKs cross the wire; the held connection ends.
    std::thread::sleep(Duration::from_millis(1000));
    drop(held_client);
    std::thread::sleep(Duration::from_millis(1000));
    drop(tcpdump);
    let records: Vec<Vec<Value>> = probes.into_iter().map(Probe::stop).collect();

    let oracle = Oracle::read(&wire);
    let truth = check_oracle(&oracle, &conns);
    for (conn, c) in conns.iter().zip(&truth) {
        eprintln!("{}: {c}", conn.what);
    }
    for ((npm, l7), records) in settings.into_iter().zip(&records) {
        for (conn, c) in conns.iter().zip(&truth) {
            let what = format!("{} (npm {npm}, l7 {l7})", conn.what);
            let record = record_of(records, &what, conn.client, conn.server);
            if conn.kind != Kind::TcpMidway {
                check_counts(record, c, &what);
            }
            assert_eq!(
                group_keys(record),
                expected_keys(conn.kind, npm, l7),
                "{what}: {record}"
            );
            check_fields(record, c, &what);
        }
    }
    // Without either group the records are the base template's, the same fields as the
    // shipped probe's but the groups'.
    let (full, bare) = (&records[0], &records[3]);
    for r in bare {
        assert!(group_keys(r).is_empty(), "{r}");
        assert_eq!(
            r["templateId"].as_u64(),
            Some(podflow::ipfix::TEMPLATE_ID_IPV4.into()),
            "{r}"
        );
    }
    let names = |r: &Value| -> Vec<String> {
        let groups = records::all_group_keys();
        let obj = r.as_object().unwrap();
        obj.keys()
            .filter(|k| !groups.contains(k.as_str()))
            .cloned()
            .collect()
    };
    for conn in &conns {
        let (f, b) = (
            record_of(full, conn.what, conn.client, conn.server),
            record_of(bare, conn.what, conn.client, conn.server),
        );
        assert_eq!(names(f), names(b), "{}", conn.what);
    }
}
