//! `podflow --mode webhook` end to end over HTTPS: the real binary, a test CA, and a
//! rustls client that trusts only that CA: `/mutate`, the `/healthz` and `/readyz` the
//! chart's probes use, refused requests, certificate renewal, SIGTERM. No root needed;
//! everything is on loopback.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned, SupportedProtocolVersion,
};

/// A pod CREATE as the API server sends it for a Deployment's pod: `generateName`, a
/// ReplicaSet owner, the namespace in the request and not in the object.
const POD_CREATE: &str = r#"{
  "kind": "AdmissionReview",
  "apiVersion": "admission.k8s.io/v1",
  "request": {
    "uid": "0df28fbd-5f5f-11e8-bc74-36e6bb280816",
    "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "resource": {"group": "", "version": "v1", "resource": "pods"},
    "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
    "requestResource": {"group": "", "version": "v1", "resource": "pods"},
    "namespace": "shop",
    "operation": "CREATE",
    "userInfo": {
      "username": "system:serviceaccount:kube-system:replicaset-controller",
      "uid": "3f2b1a52-7a51-4a50-9a4e-0c1c5d6a2b11",
      "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]
    },
    "object": {
      "kind": "Pod",
      "apiVersion": "v1",
      "metadata": {
        "generateName": "cart-7c9d8f6b5d-",
        "namespace": "shop",
        "creationTimestamp": null,
        "labels": {"app": "cart", "pod-template-hash": "7c9d8f6b5d"},
        "ownerReferences": [{
          "apiVersion": "apps/v1",
          "kind": "ReplicaSet",
          "name": "cart-7c9d8f6b5d",
          "uid": "6a1e7b0c-2f1d-4c55-8a8e-1b2c3d4e5f60",
          "controller": true,
          "blockOwnerDeletion": true
        }]
      },
      "spec": {
        "containers": [{
          "name": "cart",
          "image": "registry.example/shop/cart:1.4.2",
          "ports": [{"containerPort": 8080, "protocol": "TCP"}],
          "resources": {},
          "terminationMessagePath": "/dev/termination-log",
          "terminationMessagePolicy": "File",
          "imagePullPolicy": "IfNotPresent"
        }],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "enableServiceLinks": true,
        "preemptionPolicy": "PreemptLowerPriority"
      },
      "status": {}
    },
    "oldObject": null,
    "dryRun": false,
    "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
  }
}"#;

/// A test CA and the server certificates it signs, written where podflow reads them.
struct Pki {
    dir: tempfile::TempDir,
    ca: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "podflow test CA");
        let key = KeyPair::generate().unwrap();
        let ca_der = params.self_signed(&key).unwrap().der().clone();
        Pki {
            dir: tempfile::tempdir().unwrap(),
            ca: Issuer::new(params, key),
            ca_der,
        }
    }

    fn cert_path(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }

    /// Issues a certificate for localhost and 127.0.0.1 named `cn`, writes it and its key
    /// (each through a rename, as cert-manager does) and returns its DER.
    fn issue(&self, cn: &str) -> CertificateDer<'static> {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        put(&self.key_path(), &key.serialize_pem());
        put(&self.cert_path(), &cert.pem());
        cert.der().clone()
    }

    /// A client that trusts only the test CA and speaks the given TLS versions.
    fn client(&self, versions: &[&'static SupportedProtocolVersion]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        Arc::new(config)
    }
}

fn put(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The running webhook; killed when dropped, whatever the test did.
struct Webhook {
    child: Child,
    addr: SocketAddr,
    telemetry: SocketAddr,
    client: Arc<ClientConfig>,
}

impl Webhook {
    fn start(pki: &Pki) -> Webhook {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let telemetry: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = common::podflow_process()
            .args(["--mode", "webhook"])
            .env("PODFLOW_WEBHOOK__LISTEN", addr.to_string())
            .env("PODFLOW_WEBHOOK__TLS_CERT", pki.cert_path())
            .env("PODFLOW_WEBHOOK__TLS_KEY", pki.key_path())
            .env("PODFLOW_TELEMETRY__LISTEN", telemetry.to_string())
            .env("PODFLOW_WEBHOOK__MATCH__LABELS__APP", "cart")
            .env(
                "PODFLOW_EXPORT__COLLECTOR",
                "udp://ipfix-collector.monitoring:4739",
            )
            .env("PODFLOW_LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut webhook = Webhook {
            child,
            addr,
            telemetry,
            client: pki.client(rustls::ALL_VERSIONS),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while webhook.tls().is_err() {
            if let Some(status) = webhook.child.try_wait().unwrap() {
                panic!("podflow --mode webhook exited: {status}");
            }
            assert!(Instant::now() < deadline, "the webhook did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        webhook
    }

    /// A completed TLS handshake with the listener.
    fn tls(&self) -> io::Result<StreamOwned<ClientConnection, TcpStream>> {
        let tcp = TcpStream::connect(self.addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(self.client.clone(), name).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(stream)
    }

    /// The leaf certificate a new connection gets.
    fn served_cert(&self) -> CertificateDer<'static> {
        let stream = self.tls().unwrap();
        stream.conn.peer_certificates().unwrap()[0]
            .clone()
            .into_owned()
    }

    /// One HTTPS request on a new connection: (status, body).
    fn https(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut stream = self.tls().unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        // The server may answer (413) and close before it has read the whole body.
        let _ = stream.write_all(body).and_then(|()| stream.flush());
        parse(&read_all(&mut stream))
    }

    /// A plain-HTTP GET on the telemetry listener: (status, body).
    fn telemetry(&self, path: &str) -> (u16, String) {
        let mut tcp = TcpStream::connect(self.telemetry).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        parse(&read_all(&mut tcp))
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit 15 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until the peer closes; a TLS peer that closes without close_notify ends it too.
fn read_all(stream: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return out,
        }
    }
}

/// Status and body of an HTTP/1.1 response.
fn parse(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    (status, body.to_owned())
}

#[test]
fn mutate_over_https_with_every_answer_shape() {
    let pki = Pki::new();
    pki.issue("podflow-webhook.podflow.svc");
    let webhook = Webhook::start(&pki);

    let (status, body) = webhook.https("POST", "/mutate", POD_CREATE.as_bytes());
    assert_eq!(status, 200, "{body}");
    let review: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(review["kind"], "AdmissionReview");
    let response = &review["response"];
    assert_eq!(response["uid"], "0df28fbd-5f5f-11e8-bc74-36e6bb280816");
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    assert!(response["patch"].as_str().is_some_and(|p| p.len() > 100));

    let update = POD_CREATE.replace("\"CREATE\"", "\"UPDATE\"");
    let (status, body) = webhook.https("POST", "/mutate", update.as_bytes());
    assert_eq!(status, 200, "{body}");
    let review: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(review["response"]["allowed"], true);
    assert!(review["response"].get("patch").is_none(), "{body}");

    let (status, body) = webhook.https("POST", "/mutate", b"this is not json");
    assert_eq!(status, 400, "{body}");
    assert!(!body.trim().is_empty(), "a 400 says why");

    let big = vec![b' '; 2 << 20];
    let (status, body) = webhook.https("POST", "/mutate", &big);
    assert_eq!(status, 413, "{body}");

    let (status, _) = webhook.https("GET", "/mutate", b"");
    assert_eq!(status, 405);
    let (status, _) = webhook.https("POST", "/nope", b"{}");
    assert_eq!(status, 404);
    // The kubelet's probes go through the HTTPS listener too.
    let (status, body) = webhook.https("GET", "/healthz", b"");
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = webhook.https("GET", "/readyz", b"");
    assert_eq!((status, body.trim()), (200, "ready"));
    let (status, _) = webhook.https("POST", "/readyz", b"{}");
    assert_eq!(status, 405);

    let (status, body) = webhook.telemetry("/readyz");
    assert_eq!((status, body.as_str()), (200, "ready"));
    let (status, metrics) = webhook.telemetry("/metrics");
    assert_eq!(status, 200);
    for line in [
        "podflow_webhook_requests_total{outcome=\"injected\"} 1",
        "podflow_webhook_requests_total{outcome=\"not_applicable\"} 1",
        "podflow_webhook_requests_total{outcome=\"too_large\"} 1",
        "podflow_webhook_mutate_duration_seconds_count ",
        "podflow_webhook_certificate_reloads_total 0",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }
    let bad: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("podflow_webhook_requests_total{outcome=\"bad_request\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(bad >= 1, "{metrics}");
    // The webhook captures nothing: no probe families to confuse a dashboard.
    assert!(!metrics.contains("podflow_capture_"), "{metrics}");
}

#[test]
fn a_body_streamed_past_the_limit_gets_413() {
    let pki = Pki::new();
    pki.issue("podflow-webhook");
    let webhook = Webhook::start(&pki);
    let mut stream = webhook.tls().unwrap();
    stream
        .write_all(
            b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
              Connection: close\r\n\r\n",
        )
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, " ".repeat(64 << 10));
    for _ in 0..32 {
        if stream.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let (status, body) = parse(&read_all(&mut stream));
    assert_eq!(status, 413, "{body}");
}

#[test]
fn plaintext_and_old_tls_are_refused() {
    let pki = Pki::new();
    pki.issue("podflow-webhook");
    let webhook = Webhook::start(&pki);

    let mut tcp = TcpStream::connect(webhook.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap();
    let answer = read_all(&mut tcp);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plaintext got an HTTP answer: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // A TLS 1.1 ClientHello (no supported_versions extension) gets a fatal alert, no
    // ServerHello.
    let mut tcp = TcpStream::connect(webhook.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(&tls11_client_hello()).unwrap();
    let answer = read_all(&mut tcp);
    assert!(answer.len() >= 7, "{answer:?}");
    assert_eq!(answer[0], 0x15, "an alert record: {answer:?}");
    assert_eq!(answer[5], 2, "a fatal alert: {answer:?}");

    // TLS 1.2 alone is accepted.
    let tls12 = pki.client(&[&rustls::version::TLS12]);
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(tls12, name).unwrap();
    let mut tcp = TcpStream::connect(webhook.addr).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).unwrap();
    }
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

/// The bytes of a ClientHello that offers only TLS 1.1 and two of its cipher suites.
fn tls11_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02];
    hello.extend_from_slice(&[0x5a; 32]);
    hello.push(0);
    hello.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x2f]);
    hello.extend_from_slice(&[0x01, 0x00, 0x00, 0x00]);
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&(hello.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[test]
fn a_renewed_certificate_is_served_to_new_connections() {
    let pki = Pki::new();
    let first = pki.issue("podflow-webhook-1");
    let webhook = Webhook::start(&pki);
    assert_eq!(webhook.served_cert(), first);

    let second = pki.issue("podflow-webhook-2");
    assert_ne!(first, second);
    let deadline = Instant::now() + Duration::from_secs(10);
    while webhook.served_cert() != second {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is not served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = webhook.https("POST", "/mutate", b"{}");
    assert_eq!(status, 400);

    // A broken renewal is not served; the previous certificate stays.
    put(
        &pki.cert_path(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(webhook.served_cert(), second);
    let (status, _) = webhook.https("GET", "/readyz", b"");
    assert_eq!(status, 200, "still serving with the previous certificate");
    let (_, metrics) = webhook.telemetry("/metrics");
    assert!(
        metrics.contains("podflow_webhook_certificate_reloads_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("podflow_webhook_certificate_rejected_total 1"),
        "{metrics}"
    );
}

#[test]
fn sigterm_stops_it_with_exit_0() {
    let pki = Pki::new();
    pki.issue("podflow-webhook");
    let mut webhook = Webhook::start(&pki);
    let status = webhook.terminate();
    assert_eq!(status.code(), Some(0), "{status}");
}
