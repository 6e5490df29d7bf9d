//! The injected pod of every case: the AdmissionReview fixture patched by the webhook,
//! admitted as the API server would, run on a node by the harness's kubelet, with a UDP
//! collector on the node listening before the pod starts; and what a case asks of it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use base64::Engine;
use podflow::config::Config;
use podflow::node::cri::ContainerState;
use podflow::webhook::{Decision, Injector};
use serde_json::{json, Value};

use crate::common::fixture;
use crate::cri::collector::Collector;
use crate::cri::images;
use crate::cri::kubelet::Objects;
use crate::cri::node::Node;
use crate::cri::probe::http_get;
use crate::cri::runner::{node_info, run_pod, PodRun};

/// The sidecar's telemetry port (`webhook.sidecar.telemetry_port`'s default).
pub const TELEMETRY_PORT: u16 = 9477;
/// The application's HTTP port (the fixture's `http` port, busybox httpd's here).
pub const APP_PORT: u16 = 8080;
/// Port of the IPFIX collectors on the node; pod `n` exports to `COLLECTOR_PORT + n`.
pub const COLLECTOR_PORT: u16 = 4739;
/// How long one HTTP request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// The Deployment pod's AdmissionReview, `it/fixtures/admission/deployment-pod.json`.
pub fn deployment_review() -> Value {
    let body = std::fs::read(fixture("admission/deployment-pod.json")).unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// The fixture's pod after admission: patched by the webhook configured with `config`,
/// named from its generateName with the suffix `x2x9k`, given UID number `n` and the
/// defaults the API server fills in, scheduled on `node_name`, its application image
/// replaced by the local busybox image.
pub fn admitted_pod(config: &Config, review: &Value, node_name: &str, n: u8) -> Value {
    let body = serde_json::to_vec(review).unwrap();
    let reviewed = Injector::new(config).review(&body).unwrap();
    assert_eq!(reviewed.decision, Decision::Injected);
    let response: Value = serde_json::from_slice(&reviewed.body).unwrap();
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut pod = review["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).unwrap();

    let prefix = pod["metadata"]["generateName"]
        .as_str()
        .unwrap()
        .to_string();
    pod["metadata"]["name"] = json!(format!("{prefix}x2x9k"));
    pod["metadata"]["uid"] = json!(format!("0d5cf0b4-3f6e-4a3b-8d0e-4c1f5e2a7b{n:02}"));
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

/// The API objects the fixture's pod refers to: the projected service-account volume's
/// CA certificate and token, placeholders here.
fn objects() -> Objects {
    Objects {
        config_maps: BTreeMap::from([(
            "kube-root-ca.crt".to_string(),
            BTreeMap::from([("ca.crt".to_string(), "placeholder CA\n".to_string())]),
        )]),
        service_account_token: Some("placeholder-token".into()),
        ..Default::default()
    }
}

/// The webhook's configuration in these tests: the fixture's label selects the pod, the
/// sidecar exports to `collector`, the cluster is `test`.
pub fn webhook_config(collector: SocketAddr) -> Config {
    crate::common::shop_webhook_config(&format!("udp://{collector}"))
}

/// An injected pod that runs on a node, and the collector its sidecar exports to.
pub struct Injected<'n> {
    pub node: &'n Node,
    pub run: PodRun<'n>,
    pub name: String,
    pub pod_ip: IpAddr,
    pub collector: Collector,
    /// Just before RunPodSandbox.
    pub began: Instant,
}

impl<'n> Injected<'n> {
    /// Runs pod number `n` (1..=99) of `review` on `node`, patched by the webhook of
    /// [`webhook_config`] changed by `configure`; its collector listens on the node at
    /// `COLLECTOR_PORT + n`. Returns once the kubelet has started every container.
    pub fn start(
        node: &'n Node,
        n: u8,
        review: &Value,
        configure: impl FnOnce(&mut Config),
    ) -> Injected<'n> {
        let collector = Collector::start(node, COLLECTOR_PORT + u16::from(n));
        let mut config = webhook_config(collector.addr);
        configure(&mut config);
        let info = node_info(node, BTreeMap::new());
        let pod = admitted_pod(&config, review, &info.name, n);
        let sidecar = &pod["spec"]["initContainers"][0];
        assert_eq!(sidecar["name"], "podflow");
        assert_eq!(sidecar["image"], config.webhook.sidecar.image());
        let pod = serde_json::from_value(pod).unwrap();
        let began = Instant::now();
        let run = run_pod(node, pod, info, &objects());
        let names: Vec<&str> = run.containers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["podflow", "web"], "the sidecar starts first");
        Injected {
            node,
            name: run.pod.metadata.name.clone().unwrap(),
            pod_ip: run.pod_ips[0].parse().unwrap(),
            run,
            collector,
            began,
        }
    }

    /// One HTTP GET to the pod, from the node.
    pub fn get(&self, port: u16, path: &str) -> std::io::Result<(u16, String)> {
        let addr = SocketAddr::new(self.pod_ip, port);
        self.node.in_netns(|| http_get(addr, path, HTTP_TIMEOUT))
    }

    /// `GET /` of the application, which must answer with busybox's page.
    pub fn request(&self) {
        let answer = self.get(APP_PORT, "/").unwrap();
        assert_eq!(
            (answer.0, answer.1.as_str()),
            (200, images::BUSYBOX_INDEX),
            "the application's answer"
        );
    }

    /// Sends `GET /` to the application until it answers (connections refused before
    /// that are traffic too); when it did.
    pub fn first_answer(&self) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.get(APP_PORT, "/") {
                Ok((200, body)) if body == images::BUSYBOX_INDEX => return Instant::now(),
                answer => assert!(
                    Instant::now() < deadline,
                    "the application does not answer: {answer:?}"
                ),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The sidecar's `/metrics`.
    pub fn metrics(&self) -> String {
        let (code, body) = self.get(TELEMETRY_PORT, "/metrics").unwrap();
        assert_eq!(code, 200, "GET /metrics: {body}");
        body
    }

    /// The value of the metric `name` (without labels) in the sidecar's `/metrics`.
    pub fn metric(&self, name: &str) -> f64 {
        let metrics = self.metrics();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    }

    /// The PID of the sidecar's process; panics with its state and log when it is gone.
    pub fn sidecar_pid(&self) -> u32 {
        self.assert_sidecar_running();
        self.run.pid("podflow")
    }

    pub fn assert_sidecar_running(&self) {
        assert_eq!(
            self.run.state("podflow").0,
            ContainerState::ContainerRunning,
            "the sidecar must keep running; its log:\n{}",
            self.run.log("podflow")
        );
    }

    /// When the runtime started `container` (ContainerStatus `started_at`), in
    /// nanoseconds since 1970.
    pub fn started_at(&self, container: &str) -> i64 {
        let status = self
            .node
            .cri()
            .container_status(self.run.id(container), false)
            .unwrap()
            .status
            .unwrap();
        status.started_at
    }

    /// How long the application was held back: from the sidecar's start to the
    /// application's, as the runtime recorded them.
    pub fn held_back(&self) -> Duration {
        let nanos = self.started_at("web") - self.started_at("podflow");
        Duration::from_nanos(u64::try_from(nanos).expect("the application starts last"))
    }

    /// The kubelet's termination of the pod: [`Injected::stop_containers`], then
    /// StopPodSandbox.
    pub fn stop(&self) {
        self.stop_containers();
        self.stop_sandbox();
    }

    /// The kubelet's termination of the containers (the application, then the sidecar,
    /// each with StopContainer and the pod's grace period); the sidecar must have exited
    /// 0. The sandbox and its network stay.
    pub fn stop_containers(&self) {
        self.run.stop_containers();
        assert_eq!(
            self.run.state("podflow"),
            (ContainerState::ContainerExited, 0),
            "the sidecar's exit; its log:\n{}",
            self.run.log("podflow")
        );
    }

    /// StopPodSandbox, the end of the kubelet's termination.
    pub fn stop_sandbox(&self) {
        self.node
            .cri()
            .stop_pod_sandbox(&self.run.sandbox_id)
            .unwrap();
    }

    /// The lines of the sidecar's CRI log, without the CRI prefix (time, stream, tag).
    pub fn log_lines(&self) -> Vec<String> {
        self.run
            .log("podflow")
            .lines()
            .map(|l| l.splitn(4, ' ').nth(3).unwrap_or("").to_string())
            .collect()
    }
}
