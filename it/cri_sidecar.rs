//! The podflow sidecar exactly as the webhook injects it, run by containerd through its CRI
//! as a kubelet runs it. Needs root, containerd, runc, the CNI plugins, busybox-static and
//! the release binary (`scripts/image.sh` makes the image from it).
//!
//! The pod is the Deployment pod of `it/fixtures/admission/deployment-pod.json` with
//! `podflow::webhook::Injector::review`'s JSON Patch applied, then what the API server and
//! the scheduler add (a name from generateName, a UID, defaults, the node). Substitutions,
//! since no registry or API server is reachable: the application image
//! `ghcr.io/example/shop-web:1.4.2` is replaced by the busybox httpd image (it serves on
//! the fixture's port 8080), and the projected service-account volume gets a placeholder
//! token and CA certificate.

mod common;
mod cri;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{fixture, flow_records, PEN};
use cri::images;
use cri::kubelet::Objects;
use cri::node::Node;
use cri::probe::http_get;
use cri::runner::{node_info, run_pod};
use k8s_cri::v1::ContainerState;
use podflow::config::Config;
use podflow::ipfix::Session;
use podflow::webhook::{Decision, Injector};
use serde_json::{json, Value};

const COLLECTOR_PORT: u16 = 4739;
const REQUESTS: usize = 12;

/// The fixture's pod after admission: patched by the webhook, named, given a UID and the
/// defaults the API server fills in, scheduled on `node_name`, its application image
/// replaced by the local busybox image.
fn admitted_pod(config: &Config, node_name: &str) -> Value {
    let body = std::fs::read(fixture("admission/deployment-pod.json")).unwrap();
    let reviewed = Injector::new(config).review(&body).unwrap();
    assert_eq!(reviewed.decision, Decision::Injected);
    let response: Value = serde_json::from_slice(&reviewed.body).unwrap();
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let request: Value = serde_json::from_slice(&body).unwrap();
    let mut pod = request["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).unwrap();

    let prefix = pod["metadata"]["generateName"]
        .as_str()
        .unwrap()
        .to_string();
    pod["metadata"]["name"] = json!(format!("{prefix}x2x9k"));
    pod["metadata"]["uid"] = json!("0d5cf0b4-3f6e-4a3b-8d0e-4c1f5e2a7b01");
    pod["spec"]["nodeName"] = json!(node_name);
    for list in ["initContainers", "containers"] {
        for c in pod["spec"][list].as_array_mut().into_iter().flatten() {
            let c = c.as_object_mut().unwrap();
            c.entry("terminationMessagePath")
                .or_insert(json!("/dev/termination-log"));
            c.entry("terminationMessagePolicy").or_insert(json!("File"));
            if c["name"] == "web" {
                c.insert("image".into(), json!(images::BUSYBOX));
            }
        }
    }
    pod
}

/// Every datagram the collector receives until it has been quiet for 2 s.
fn drain(collector: &UdpSocket, limit: Duration) -> Vec<Vec<u8>> {
    collector
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let start = Instant::now();
    let mut datagrams = Vec::new();
    let mut buf = vec![0u8; 65536];
    while start.elapsed() < limit {
        match collector.recv(&mut buf) {
            Ok(n) => datagrams.push(buf[..n].to_vec()),
            Err(_) => break,
        }
    }
    datagrams
}

#[test]
fn injected_sidecar_under_containerd_root() {
    let begin = Instant::now();
    let podflow = images::podflow();
    let node = Node::start(2, &[&images::pause(), &images::busybox(), &podflow]);
    let collector = node.in_netns(|| UdpSocket::bind((node.address, COLLECTOR_PORT)).unwrap());
    let info = node_info(&node, BTreeMap::new());

    let mut config = Config::default();
    config
        .webhook
        .matching
        .labels
        .insert("app.kubernetes.io/name".into(), "shop".into());
    config.export.collector = format!("udp://{}:{COLLECTOR_PORT}", node.address)
        .parse()
        .unwrap();
    config.k8s.cluster_name = Some("test".into());
    let pod = admitted_pod(&config, &info.name);
    let sidecar = &pod["spec"]["initContainers"][0];
    assert_eq!(sidecar["name"], "podflow");
    assert_eq!(sidecar["image"], podflow.reference);
    let uid = sidecar["securityContext"]["runAsUser"]
        .as_i64()
        .unwrap()
        .to_string();
    let objects = Objects {
        config_maps: BTreeMap::from([(
            "kube-root-ca.crt".to_string(),
            BTreeMap::from([("ca.crt".to_string(), "placeholder CA\n".to_string())]),
        )]),
        service_account_token: Some("placeholder-token".into()),
        ..Default::default()
    };
    let run = run_pod(&node, serde_json::from_value(pod).unwrap(), info, &objects);
    let name = run.pod.metadata.name.clone().unwrap();
    let names: Vec<&str> = run.containers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["podflow", "web"], "the sidecar starts first");
    let pod_ip: IpAddr = run.pod_ips[0].parse().unwrap();

    // The sidecar as the runtime made it: the injected UID (65532 by default), NET_RAW
    // permitted (through the image's file capability when not root) and bounded to it, no
    // privilege escalation.
    let status = std::fs::read_to_string(format!("/proc/{}/status", run.pid("podflow")))
        .unwrap_or_else(|e| {
            panic!(
                "the sidecar must keep running, but its process is gone ({e}): {:?}; its log:\n{}",
                run.state("podflow"),
                run.log("podflow")
            )
        });
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(field("Uid").split_whitespace().next(), Some(uid.as_str()));
    assert_eq!(u64::from_str_radix(&field("CapPrm"), 16).unwrap(), 1 << 13);
    assert_eq!(u64::from_str_radix(&field("CapBnd"), 16).unwrap(), 1 << 13);
    assert_eq!(field("NoNewPrivs"), "1");

    // Ready: capture threads run and the exporter can send.
    let readyz = SocketAddr::new(pod_ip, 9477);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = node.in_netns(|| http_get(readyz, "/readyz", Duration::from_secs(2)));
        if matches!(answer, Ok((200, _))) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sidecar not ready: {answer:?}; its log:\n{}",
            run.log("podflow")
        );
        assert_eq!(
            run.state("podflow").0,
            ContainerState::ContainerRunning,
            "the sidecar must keep running; its log:\n{}",
            run.log("podflow")
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let app = SocketAddr::new(pod_ip, 8080);
    for _ in 0..REQUESTS {
        let (code, body) = node
            .in_netns(|| http_get(app, "/", Duration::from_secs(5)))
            .unwrap();
        assert_eq!((code, body.as_str()), (200, images::BUSYBOX_INDEX));
    }
    // The kubelet's termination: the app, then the sidecar (SIGTERM: every flow is ended
    // and exported).
    run.stop();
    assert_eq!(
        run.state("podflow"),
        (ContainerState::ContainerExited, 0),
        "its log:\n{}",
        run.log("podflow")
    );

    let mut session = Session::new(PEN);
    let messages: Vec<_> = drain(&collector, Duration::from_secs(30))
        .iter()
        .map(|d| session.decode(d).expect("an IPFIX message"))
        .collect();
    let records = flow_records(&messages);
    let http: Vec<_> = records
        .iter()
        .filter(|r| {
            r.get_u64("protocolIdentifier") == Some(6)
                && (r.get_u64("sourceTransportPort") == Some(8080)
                    || r.get_u64("destinationTransportPort") == Some(8080))
        })
        .collect();
    assert_eq!(
        http.len(),
        REQUESTS,
        "one biflow per connection; all records: {records:#?}"
    );
    for r in &http {
        assert_eq!(r.get_str("k8sPodName"), Some(name.as_str()));
        assert_eq!(r.get_str("k8sPodNamespace"), Some("shop"));
        assert_eq!(r.get_str("k8sWorkloadName"), Some("shop-web"));
        assert_eq!(r.get_str("k8sClusterName"), Some("test"));
        assert!(r.get_u64("packetDeltaCount").unwrap_or(0) >= 4, "{r:?}");
        assert!(
            r.get_u64("reversePacketDeltaCount").unwrap_or(0) >= 4,
            "{r:?}"
        );
    }
    drop(run);
    let left = node.shut_down();
    assert!(left.is_empty(), "left behind: {left:#?}");
    println!(
        "podflow sidecar: {} records of {REQUESTS} connections; start to teardown {:?}",
        http.len(),
        begin.elapsed()
    );
}
