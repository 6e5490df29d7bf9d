//! IPFIX over TLS against a real TLS endpoint: OpenSSL behind socat's OPENSSL-LISTEN,
//! requiring a client certificate, what it decrypts read by python-ipfix (with the
//! shipped specs, and again with none, from the RFC 5610 type records alone); a wrong CA,
//! an expired certificate, a wrong name and a missing client certificate each one clear
//! error, counted, and nothing written; certificate files that do not parse or do not
//! match named and retried, then followed through a Secret volume's `..data` swap with
//! the templates withdrawn from the session they end; a collector that speaks something
//! else. Needs socat and the python venv (scripts/test.sh installs both).

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use podflow::ipfix::{split_messages, Session};
use tls::*;

/// The sample capture's pod, as the tests name it.
const POD: &str = "shop-web-1";

/// A directory with the collector's certificate (`server.crt`, `server.key`), the CA
/// that signed it (`ca.crt`) and a client CA (`client-ca.crt`).
struct Setup {
    dir: tempfile::TempDir,
    ca: Ca,
    clients: Ca,
}

impl Setup {
    fn new(server: impl FnOnce(&Ca) -> Pair) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (ca, clients) = (Ca::new("collector CA"), Ca::new("client CA"));
        let pair = server(&ca);
        std::fs::write(dir.path().join("server.crt"), pair.cert).unwrap();
        std::fs::write(dir.path().join("server.key"), pair.key).unwrap();
        std::fs::write(dir.path().join("ca.crt"), &ca.pem).unwrap();
        std::fs::write(dir.path().join("client-ca.crt"), &clients.pem).unwrap();
        Setup { dir, ca, clients }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// OpenSSL behind socat with this certificate, requiring a client certificate of the
    /// client CA: its port, the directory of what it received, the process.
    fn collector(&self) -> (u16, std::path::PathBuf, Background) {
        self.collector_with("")
    }

    /// The same with more OPENSSL-LISTEN `options`.
    fn collector_with(&self, options: &str) -> (u16, std::path::PathBuf, Background) {
        let port = free_tcp_port();
        let out = self.dir.path().join("received");
        let ca = self.dir.path().join("client-ca.crt");
        let socat = socat_tls(port, self.dir.path(), Some(&ca), &out, options);
        (port, out, socat)
    }

    /// A client certificate the collector trusts, written as `client.crt`/`client.key`.
    fn client(&self) {
        let pair = self.clients.client("podflow");
        std::fs::write(self.dir.path().join("client.crt"), pair.cert).unwrap();
        std::fs::write(self.dir.path().join("client.key"), pair.key).unwrap();
    }
}

/// Meters the sample capture into `collector` with `env`; its stderr.
fn meter_sample(collector: &str, env: &[(&str, &str)]) -> String {
    let mut all = vec![
        ("PODFLOW_EXPORT__COLLECTOR", collector),
        ("PODFLOW_K8S__POD_NAME", POD),
        ("PODFLOW_EXPORT__WRITE_TIMEOUT_SECS", "2"),
    ];
    all.extend_from_slice(env);
    let out = meter(&fixture("sample-1k.pcap"), &all);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn tls_with_a_client_certificate_through_openssl_read_by_python_ipfix() {
    let s = Setup::new(|ca| ca.server(&["localhost"]));
    s.client();
    let (port, out, socat) = s.collector();
    let tap = Tap::new(port);
    let err = meter_sample(
        &format!("tls://localhost:{}", tap.port),
        &[
            ("PODFLOW_EXPORT__TLS_CA", &s.path("ca.crt")),
            ("PODFLOW_EXPORT__TLS_CERT", &s.path("client.crt")),
            ("PODFLOW_EXPORT__TLS_KEY", &s.path("client.key")),
        ],
    );
    assert!(err.contains("not_sent=0"), "{err}");
    assert!(err.contains("connect_failures=0"), "{err}");
    // socat has written the session out once podflow closed it.
    std::thread::sleep(Duration::from_millis(500));
    drop(socat);
    let sessions = connections(&out);
    assert_eq!(sessions.len(), 1, "one session");
    let file = s.dir.path().join("session.ipfix");
    std::fs::write(&file, &sessions[0]).unwrap();

    // On the wire: a TLS handshake first, and never the pod's name in clear.
    let wire = tap.seen();
    assert_eq!(&wire[..2], [0x16, 0x03], "a TLS handshake record");
    assert!(wire.len() > 10_000);
    assert!(
        !contains(&wire, POD.as_bytes()),
        "the pod name crossed in clear"
    );

    // python-ipfix with the shipped definitions...
    let v = python_ipfix_summary(&file);
    assert_eq!(
        (v["flows"].as_u64(), v["packets"].as_u64()),
        (Some(101), Some(1110))
    );
    assert_eq!(v["octets"], 735_719);
    assert_eq!(v["k8s"]["k8sPodName"], serde_json::json!([POD]));
    // ...and with none: the type records in the stream define the elements.
    let v = python_ipfix_type_records(&file);
    assert_eq!(v["flows"], 101);
    assert_eq!(v["k8s"]["k8sPodName"], serde_json::json!([POD]));
    assert_eq!(v["k8s"]["k8sObservationPoint"], serde_json::json!(["1"]));
    // One per podflow element: Kubernetes identity, network performance, application.
    assert_eq!(v["type_records"].as_array().unwrap().len(), 45);

    // The session ends with the withdrawal of every template.
    let mut session = Session::new(PEN);
    let msgs: Vec<&[u8]> = split_messages(&sessions[0]).map(Result::unwrap).collect();
    for m in &msgs {
        session.decode(m).unwrap();
    }
    let last = msgs.last().unwrap();
    assert_eq!(
        &last[16..20],
        [0, 2, 0, 4 + 4 * 20],
        "a template withdrawal set"
    );
    assert!(session.template(1, 256).is_none() && session.template(1, 259).is_none());
    assert!(
        session.template(1, 264 + 32 + 3).is_none(),
        "the IPv6 TCP template too"
    );
}

#[test]
fn tls_1_2_with_a_collector_that_offers_no_more() {
    let s = Setup::new(|ca| ca.server(&["localhost"]));
    s.client();
    let (port, out, socat) = s.collector_with(",openssl-max-proto-version=TLS1.2");
    let err = meter_sample(
        &format!("tls://localhost:{port}"),
        &[
            ("PODFLOW_EXPORT__TLS_CA", &s.path("ca.crt")),
            ("PODFLOW_EXPORT__TLS_CERT", &s.path("client.crt")),
            ("PODFLOW_EXPORT__TLS_KEY", &s.path("client.key")),
        ],
    );
    assert!(err.contains("not_sent=0"), "{err}");
    std::thread::sleep(Duration::from_millis(500));
    drop(socat);
    let log = std::fs::read_to_string(s.dir.path().join("socat.log")).unwrap();
    assert!(log.contains("SSL proto version used: TLSv1.2"), "{log}");
    assert!(!log.contains("TLSv1.3"), "{log}");
    let sessions = connections(&out);
    assert_eq!(sessions.len(), 1, "one session");
    let flows = flow_records(&decode_stream(&sessions[0]));
    let t = truth();
    assert_eq!(Some(flows.len() as u64), t["bi_flows"].as_u64());
    assert_eq!(
        total(&flows, "PacketDeltaCount"),
        t["frames"].as_u64().unwrap() - t["non_ip_frames"].as_u64().unwrap()
    );
}

/// python-ipfix on `file` with no element definitions but the type records in it.
fn python_ipfix_type_records(file: &Path) -> serde_json::Value {
    let py = std::env::var("IPFIX_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/python"));
    let out = std::process::Command::new(py)
        .arg(root().join("it/py/read_ipfix.py"))
        .arg(file)
        .arg("--type-records")
        .output()
        .unwrap();
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A collector podflow must refuse: what it is, its certificate, whether podflow has a
/// client certificate, and what the error says.
type Refusal = (&'static str, fn(&Ca) -> Pair, bool, &'static str);

#[test]
fn a_collector_that_cannot_be_trusted_gets_nothing_and_one_clear_error() {
    let cases: [Refusal; 4] = [
        (
            "signed by another CA",
            |_| Ca::new("someone else").server(&["localhost"]),
            true,
            "not signed by a CA of export.tls_ca",
        ),
        (
            "expired",
            |ca| ca.expired_server(&["localhost"]),
            true,
            "expired",
        ),
        (
            "for another name",
            |ca| ca.server(&["collector.other.example"]),
            true,
            "not valid for name",
        ),
        (
            "requiring a client certificate podflow does not have",
            |ca| ca.server(&["localhost"]),
            false,
            "refused the connection",
        ),
    ];
    for (case, server, with_client, want) in cases {
        let s = Setup::new(server);
        let mut env = vec![("PODFLOW_EXPORT__TLS_CA", s.path("ca.crt"))];
        if with_client {
            s.client();
            env.push(("PODFLOW_EXPORT__TLS_CERT", s.path("client.crt")));
            env.push(("PODFLOW_EXPORT__TLS_KEY", s.path("client.key")));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (port, out, _socat) = s.collector();
        let err = meter_sample(&format!("tls://localhost:{port}"), &env);
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("TLS handshake"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "{case}: one error, whatever the retries:\n{err}"
        );
        assert!(errors[0].contains(want), "{case}: {}", errors[0]);
        assert!(err.contains("not_sent=101"), "{case}: {err}");
        assert!(
            !err.contains("connect_failures=0"),
            "{case}: counted: {err}"
        );
        let received: usize = connections(&out).iter().map(Vec::len).sum();
        assert_eq!(received, 0, "{case}: socat decrypted something");
    }
}

#[test]
fn certificate_files_are_named_retried_and_followed() {
    let s = Setup::new(|ca| ca.server(&["localhost"]));
    let (port, out, _socat) = s.collector();
    let good = s.clients.client("podflow");
    let secret = |cert: &str, key: &str| {
        [
            ("ca.crt", s.ca.pem.clone()),
            ("tls.crt", cert.to_owned()),
            ("tls.key", key.to_owned()),
        ]
    };
    let mut volume = AtomicVolume::new(
        &s.dir.path().join("collector-tls"),
        &pairs(&secret("not a certificate\n", &good.key)),
    );
    let env = [
        ("PODFLOW_EXPORT__TLS_CA", volume.path("ca.crt")),
        ("PODFLOW_EXPORT__TLS_CERT", volume.path("tls.crt")),
        ("PODFLOW_EXPORT__TLS_KEY", volume.path("tls.key")),
        ("PODFLOW_EXPORT__RECONNECT_MAX_BACKOFF_SECS", "1".into()),
    ];
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend(QUICK_FLOWS);
    let (mut child, mut feed) = podflow_on_fifo(
        s.dir.path(),
        &format!("tls://localhost:{port}"),
        &env,
        Stdio::piped(),
    );
    let log = Log::of(child.stderr.take().unwrap());
    let t0 = 1_700_000_000;
    let send = |feed: &mut std::fs::File, at: u32, sport: u16| {
        feed.write_all(&pcap_record(at, &udp_frame(sport))).unwrap();
        feed.flush().unwrap();
    };
    send(&mut feed, t0, 3001);
    std::thread::sleep(Duration::from_millis(2500));

    // A key that is not the certificate's.
    volume.update(&pairs(&secret(&good.cert, &s.clients.client("other").key)));
    std::thread::sleep(Duration::from_millis(2500));
    // The pair that works: the first flow (ended by the next packet's time) goes out on
    // a new session.
    volume.update(&pairs(&secret(&good.cert, &good.key)));
    send(&mut feed, t0 + 5, 3003);
    wait_until(&log, || connections(&out).iter().any(|c| has_port(c, 3001)));

    // Renewed while connected: that session ends with a withdrawal, the next flow goes
    // on a new one with the new certificate.
    let renewed = s.clients.client("podflow");
    volume.update(&pairs(&secret(&renewed.cert, &renewed.key)));
    std::thread::sleep(Duration::from_millis(3000));
    send(&mut feed, t0 + 10, 3002);
    send(&mut feed, t0 + 15, 3004);
    wait_until(&log, || connections(&out).iter().any(|c| has_port(c, 3002)));
    drop(feed);
    assert!(child.wait().unwrap().success());
    let err = log.wait();

    let cert_errors = err
        .lines()
        .filter(|l| l.contains("no PEM CERTIFICATE block"))
        .count();
    assert_eq!(cert_errors, 1, "the bad certificate named once:\n{err}");
    assert!(
        err.contains(&format!("export.tls_cert = {}", volume.path("tls.crt"))),
        "{err}"
    );
    let key_errors: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("does not match"))
        .collect();
    assert_eq!(key_errors.len(), 1, "{err}");
    assert!(
        key_errors[0].contains("export.tls_key = "),
        "{}",
        key_errors[0]
    );
    assert!(err.contains("collector TLS files changed"), "{err}");
    assert!(err.contains("not_sent=0"), "{err}");

    let sessions = connections(&out);
    let first = sessions.iter().position(|c| has_port(c, 3001)).unwrap();
    let second = sessions.iter().position(|c| has_port(c, 3002)).unwrap();
    assert!(first < second, "the renewal made a new session");
    let msgs: Vec<&[u8]> = split_messages(&sessions[first])
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        &msgs.last().unwrap()[16..20],
        // A template set withdrawing the 20 data templates: the base ones and one per
        // family and group of network performance and application fields.
        [0, 2, 0, 4 + 4 * 20],
        "withdrawn at renewal"
    );
    let msgs: Vec<&[u8]> = split_messages(&sessions[second])
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        &msgs[0][8..12],
        [0, 0, 0, 0],
        "a new session starts at sequence 0"
    );
}

/// `(name, text)` pairs of files, as a volume takes them.
fn pairs<'a>(files: &'a [(&'static str, String); 3]) -> [(&'static str, &'a str); 3] {
    [
        (files[0].0, files[0].1.as_str()),
        (files[1].0, files[1].1.as_str()),
        (files[2].0, files[2].1.as_str()),
    ]
}

/// Whether the IPFIX stream `bytes` holds a flow from source port `port`.
fn has_port(bytes: &[u8], port: u64) -> bool {
    let mut session = Session::new(PEN);
    split_messages(bytes)
        .filter_map(Result::ok)
        .filter_map(|m| session.decode(m).ok())
        .flat_map(|m| m.records)
        .any(|r| r.get_u64("sourceTransportPort") == Some(port))
}

/// Waits for `done`, showing podflow's log when it does not come.
fn wait_until(log: &Log, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "not within 20 s:\n{}", log.now());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_collector_that_speaks_something_else_is_named() {
    // A plain TCP server that answers like a web server: not a TLS endpoint.
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = http.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in http.incoming().flatten() {
            let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let s = Setup::new(|ca| ca.server(&["localhost"]));
    let err = meter_sample(
        &format!("tls://localhost:{port}"),
        &[("PODFLOW_EXPORT__TLS_CA", &s.path("ca.crt"))],
    );
    let line = err
        .lines()
        .find(|l| l.contains("TLS handshake"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(&format!("localhost:{port}")), "{line}");
    assert!(line.contains("is it a TLS endpoint?"), "{line}");
    assert!(err.contains("not_sent=101"), "{err}");

    // A TCP "collector" that greets like an SSH server.
    let ssh = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = ssh.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for mut c in ssh.incoming().flatten() {
            let _ = c.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
            open.push(c);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut feed) = podflow_on_fifo(
        dir.path(),
        &format!("tcp://127.0.0.1:{port}"),
        &QUICK_FLOWS,
        Stdio::piped(),
    );
    std::thread::sleep(Duration::from_millis(500));
    feed.write_all(&pcap_record(1_700_000_000, &udp_frame(4001)))
        .unwrap();
    feed.flush().unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    drop(feed);
    let err = Log::of(child.stderr.take().unwrap()).wait();
    assert!(child.wait().unwrap().success());
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("the collector sent data"))
        .collect();
    assert_eq!(lines.len(), 1, "one error, whatever the retries:\n{err}");
    assert!(lines[0].contains("SSH-2.0-OpenSSH_9.2"), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("127.0.0.1:{port}")),
        "{}",
        lines[0]
    );
    assert!(!err.contains("connect_failures=0"), "counted: {err}");
    assert!(err.contains("not_sent=1"), "nothing written to it: {err}");
}
