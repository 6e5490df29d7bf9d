//! The telemetry listener in-process: started on a loopback port inside an actix System,
//! asked over plain HTTP/1.1 on a TCP stream; and the real binary's listener under a flood
//! of idle connections.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use podflow::capture::CaptureStats;
use podflow::export::ExportStats;
use podflow::flow::{FlowTable, FlowTableConfig, NANOS_PER_SEC};
use podflow::telemetry::{self, Health, Registry, Telemetry, TelemetryError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Response {
    status: u16,
    /// Header lines, names lowercased.
    headers: Vec<String>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
async fn request(addr: SocketAddr, method: &str, path: &str, accept: Option<&str>) -> Response {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let accept = accept
            .map(|a| format!("Accept: {a}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.unwrap();
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the listener answers within 10 s");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers = lines
        .map(|l| match l.split_once(':') {
            Some((name, value)) => format!("{}:{value}", name.to_ascii_lowercase()),
            None => l.to_owned(),
        })
        .collect();
    Response {
        status: status.parse().unwrap(),
        headers,
        body: body.to_owned(),
    }
}

struct Probe {
    capture: Arc<CaptureStats>,
    export: Arc<ExportStats>,
    health: Arc<Health>,
    metrics: Registry,
}

fn probe() -> Probe {
    let capture = Arc::new(CaptureStats::default());
    let table = Arc::new(FlowTable::new(FlowTableConfig {
        idle_timeout: 15 * NANOS_PER_SEC,
        active_timeout: 60 * NANOS_PER_SEC,
        tcp_end_linger: NANOS_PER_SEC,
        max_flows: 16,
        max_backlog: usize::MAX,
        biflow: true,
        npm: true,
        l7: true,
    }));
    let export = Arc::new(ExportStats::default());
    let health = Arc::new(Health::capture(export.clone()));
    // What a probe registers.
    let mut metrics = telemetry::registry();
    capture.register(&mut metrics);
    table.register(&mut metrics);
    export.register(&mut metrics);
    health.register(&mut metrics);
    Probe {
        capture,
        export,
        health,
        metrics,
    }
}

#[test]
fn serves_health_readiness_and_metrics_then_stops() {
    let Probe {
        capture,
        export,
        health,
        metrics,
    } = probe();
    actix::System::new().block_on(async move {
        let telemetry = Telemetry::start("127.0.0.1:0", metrics, health.clone())
            .unwrap()
            .expect("a listener for a non-empty address");
        let addr = telemetry.local_addr();
        assert_ne!(addr.port(), 0);

        let r = request(addr, "GET", "/healthz", None).await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));

        let r = request(addr, "GET", "/readyz", None).await;
        assert_eq!(r.status, 503);
        assert!(r.body.contains("capture is not running"), "{}", r.body);
        assert!(r.body.contains("exporter cannot send"), "{}", r.body);

        // Node and webhook modes: started once their main work runs, not before.
        let r = request(addr, "GET", "/startupz", None).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.body, "starting: capture is not running yet");

        health.running.store(true, Relaxed);
        let r = request(addr, "GET", "/readyz", None).await;
        assert_eq!(r.status, 503);
        assert!(!r.body.contains("capture"), "{}", r.body);
        let r = request(addr, "GET", "/startupz", None).await;
        assert_eq!((r.status, r.body.as_str()), (200, "started"));

        export.ready.store(true, Relaxed);
        let r = request(addr, "GET", "/readyz", None).await;
        assert_eq!((r.status, r.body.as_str()), (200, "ready"));

        // Values are read at each scrape.
        capture.frames.store(41, Relaxed);
        export.records.store(7, Relaxed);
        let r = request(addr, "GET", "/metrics", None).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        for line in [
            "podflow_capture_packets_total 41",
            "podflow_export_records_total 7",
            "podflow_live_flows 0",
            "podflow_capture_up 1",
            "podflow_flows_ended_total{reason=\"idle_timeout\"} 0",
        ] {
            assert!(r.body.lines().any(|l| l == line), "{line} in\n{}", r.body);
        }
        capture.frames.store(42, Relaxed);
        let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let r = request(addr, "GET", "/metrics", Some(prometheus_accept)).await;
        assert_eq!(r.status, 200);
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0"));
        assert!(r.body.contains("\npodflow_capture_packets_total 42\n"));
        assert!(r.body.ends_with("# EOF\n"), "{}", r.body);

        let r = request(addr, "GET", "/nothing-here", None).await;
        assert_eq!(r.status, 404);
        let r = request(addr, "POST", "/metrics", None).await;
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET"));
        let r = request(addr, "DELETE", "/healthz", None).await;
        assert_eq!(r.status, 405);

        telemetry.stop().await;
        let refused = tokio::time::timeout(Duration::from_secs(5), async {
            while TcpStream::connect(addr).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(refused.is_ok(), "{addr} still accepts after stop");
    });
}

#[test]
fn a_port_in_use_is_one_error_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    actix::System::new().block_on(async move {
        let err = Telemetry::start(&listen, probe().metrics, probe().health).unwrap_err();
        let TelemetryError::Bind { listen: named, .. } = &err;
        assert_eq!(named, &listen);
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "cannot listen on telemetry.listen = \"{listen}\": "
            )),
            "{msg}"
        );
    });
}

#[test]
fn an_empty_address_disables_the_listener() {
    actix::System::new().block_on(async {
        assert!(Telemetry::start("", probe().metrics, probe().health)
            .unwrap()
            .is_none());
    });
}

#[test]
fn an_address_without_a_port_is_refused() {
    actix::System::new().block_on(async {
        let err = Telemetry::start("127.0.0.1", probe().metrics, probe().health).unwrap_err();
        assert!(err.to_string().contains("\"127.0.0.1\""), "{err}");
    });
}

/// The real binary's telemetry listener, flooded with connections that send nothing or
/// half a request line, as a misbehaving neighbour or a port scanner would: the kubelet's
/// probes must still be answered within a second, and the idle connections must be let go.
/// The sidecar is given an interface that does not exist, so it captures nothing and needs
/// neither root nor NET_RAW.
#[test]
fn idle_connections_do_not_starve_the_probes() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream as StdStream;
    use std::process::Stdio;
    use std::time::Instant;

    const IDLE: usize = 500;
    // The flood and podflow (which inherits it) need more descriptors than some defaults.
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if nofile.current.is_some_and(|n| n < 4 * IDLE as u64) {
        let raised = rustix::process::Rlimit {
            current: nofile.maximum,
            maximum: nofile.maximum,
        };
        rustix::process::setrlimit(rustix::process::Resource::Nofile, raised).unwrap();
    }

    let child = common::podflow_process()
        .args(["--mode", "sidecar"])
        .env("PODFLOW_CAPTURE__INTERFACES", "[\"pf-absent0\"]")
        .env("PODFLOW_TELEMETRY__LISTEN", "127.0.0.1:0")
        .env("PODFLOW_LOG__FORMAT", "json")
        .env("PODFLOW_K8S__LABELS_FILE", "/nonexistent/labels")
        .env("PODFLOW_K8S__ANNOTATIONS_FILE", "/nonexistent/annotations")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Stopped(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.0.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["message"] == "serving /healthz, /readyz, /startupz and /metrics" {
                let _ = tx.send(v["addr"].as_str().unwrap().to_owned());
            }
        }
    });
    let addr: SocketAddr = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("podflow serves telemetry")
        .parse()
        .unwrap();

    // One probe as the kubelet sends it: a fresh connection, the request at once; the
    // status and how long the whole exchange took.
    let probe = |path: &str| -> (u16, Duration) {
        let t = Instant::now();
        let mut s = StdStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        let _ = s.read_to_string(&mut raw);
        let status = raw
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, t.elapsed())
    };
    let open = move |n: usize| -> Vec<StdStream> {
        (0..n)
            .map(|i| {
                let mut s = StdStream::connect(addr).unwrap();
                if i % 5 == 0 {
                    s.write_all(b"GET /heal").unwrap();
                }
                s
            })
            .collect()
    };

    // 500 connections held open at once, a fifth of them halfway through a request line.
    let idle = open(IDLE);
    let mut slowest = Duration::ZERO;
    for path in ["/healthz", "/readyz", "/startupz", "/healthz", "/metrics"] {
        let (status, took) = probe(path);
        assert_ne!(
            status, 0,
            "{path}: no answer within {took:?} with {IDLE} idle connections"
        );
        assert!(took < Duration::from_secs(1), "{path} took {took:?}");
        slowest = slowest.max(took);
    }
    assert_eq!(probe("/healthz").0, 200);

    // They are let go: a connection that sent nothing gets 408 and is closed.
    let mut one = idle.into_iter().nth(1).unwrap();
    one.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let mut answer = String::new();
    let _ = one.read_to_string(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "an idle connection held {:?}",
        t.elapsed()
    );

    // A flood that keeps 500 connections open all the time, replacing those closed.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held: std::collections::VecDeque<(Instant, Vec<StdStream>)> =
                Default::default();
            while !stop.load(Relaxed) {
                held.retain(|(at, _)| at.elapsed() < Duration::from_millis(2500));
                let count: usize = held.iter().map(|(_, v)| v.len()).sum();
                if count < IDLE {
                    held.push_back((Instant::now(), open(IDLE - count)));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let until = Instant::now() + Duration::from_secs(6);
    let mut probes = 0;
    while Instant::now() < until {
        let (status, took) = probe("/healthz");
        assert_eq!(status, 200, "no answer within {took:?} under a flood");
        assert!(
            took < Duration::from_secs(1),
            "/healthz took {took:?} under a flood"
        );
        slowest = slowest.max(took);
        probes += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Relaxed);
    flood.join().unwrap();
    eprintln!("{probes} probes under {IDLE} idle connections; slowest {slowest:?}");

    assert!(std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(child.0.wait().unwrap().success());
}

/// A child process killed when the test ends, unless it has exited already.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
