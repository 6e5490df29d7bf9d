//! The telemetry listener in-process: started on a loopback port inside an actix System,
//! asked over plain HTTP/1.1 on a TCP stream.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use podflow::capture::CaptureStats;
use podflow::export::ExportStats;
use podflow::flow::{FlowTable, FlowTableConfig, NANOS_PER_SEC};
use podflow::telemetry::{Health, MetricSources, Telemetry, TelemetryError};
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
    health: Arc<Health>,
    sources: MetricSources,
}

fn probe() -> Probe {
    let capture = Arc::new(CaptureStats::default());
    let table = Arc::new(FlowTable::new(FlowTableConfig {
        idle_timeout: 15 * NANOS_PER_SEC,
        active_timeout: 60 * NANOS_PER_SEC,
        tcp_end_linger: NANOS_PER_SEC,
        max_flows: 16,
        biflow: true,
    }));
    let health = Arc::new(Health::capture(Arc::new(ExportStats::default())));
    let sources = MetricSources::new(capture.clone(), table, health.clone());
    Probe {
        capture,
        health,
        sources,
    }
}

#[test]
fn serves_health_readiness_and_metrics_then_stops() {
    let Probe {
        capture,
        health,
        sources,
    } = probe();
    actix::System::new().block_on(async move {
        let telemetry = Telemetry::start("127.0.0.1:0", sources)
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

        health.running.store(true, Relaxed);
        let r = request(addr, "GET", "/readyz", None).await;
        assert_eq!(r.status, 503);
        assert!(!r.body.contains("capture"), "{}", r.body);

        let export = health.export.as_ref().unwrap();
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
        let err = Telemetry::start(&listen, probe().sources).unwrap_err();
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
        assert!(Telemetry::start("", probe().sources).unwrap().is_none());
    });
}

#[test]
fn an_address_without_a_port_is_refused() {
    actix::System::new().block_on(async {
        let err = Telemetry::start("127.0.0.1", probe().sources).unwrap_err();
        assert!(err.to_string().contains("\"127.0.0.1\""), "{err}");
    });
}
