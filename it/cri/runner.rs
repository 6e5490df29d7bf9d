//! The kubelet's sync of one pod on a [`Node`], once: sandbox, volumes, then each container
//! in the kubelet's order (init containers to completion, native sidecars until started,
//! startupProbe included, then the regular containers), through the CRI; and the kubelet's
//! termination order (regular containers, then sidecars in reverse, then the sandbox).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use podflow::node::cri::{ContainerState, Mount, PodSandboxConfig};

use super::kubelet::fieldpath::PodAddresses;
use super::kubelet::security::ImageUser;
use super::kubelet::{self, volumes, ContainerContext, NodeInfo, Objects, Start};
use super::node::Node;
use super::probe::{run_startup_probe, ProbeReport};

/// The node as its kubelet sees it; `host_paths` maps hostPath volumes to node directories.
pub fn node_info(node: &Node, host_paths: BTreeMap<String, PathBuf>) -> NodeInfo {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: i64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    NodeInfo {
        name: format!("node-{}", node.name),
        addresses: vec![node.address.to_string()],
        cgroup_parent: node.cgroup_parent.clone(),
        pods_dir: node.pods_dir(),
        logs_dir: node.logs_dir(),
        memory_capacity_bytes: mem_kib * 1024,
        cpu_capacity_millis: cpus * 1000,
        host_paths,
    }
}

/// A pod the runner started.
pub struct PodRun<'n> {
    node: &'n Node,
    pub pod: Pod,
    pub info: NodeInfo,
    pub sandbox_id: String,
    pub sandbox_config: PodSandboxConfig,
    /// The pod's addresses (the node's for host network).
    pub pod_ips: Vec<String>,
    /// Container ids by name, in start order.
    pub containers: Vec<(String, String)>,
    pub probes: Vec<ProbeReport>,
    /// From RunPodSandbox to the last container started.
    pub start_time: Duration,
}

const POLL: Duration = Duration::from_millis(50);

/// The kubelet's timestamp format for `kubernetes.io/config.seen`.
fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now();
    let d = now.duration_since(std::time::UNIX_EPOCH).unwrap();
    let name = volumes::payload_dir_name(now, 0);
    // "..YYYY_MM_DD_HH_MM_SS.0" -> "YYYY-MM-DDTHH:MM:SS"
    let t = &name[2..21];
    format!(
        "{}-{}-{}T{}:{}:{}.{:09}Z",
        &t[0..4],
        &t[5..7],
        &t[8..10],
        &t[11..13],
        &t[14..16],
        &t[17..19],
        d.subsec_nanos()
    )
}

/// Runs `pod` on `node` as its kubelet would; panics naming the step that failed.
pub fn run_pod<'n>(node: &'n Node, mut pod: Pod, info: NodeInfo, objects: &Objects) -> PodRun<'n> {
    kubelet::admit(&mut pod, &now_rfc3339());
    let cri = node.cri();
    let begin = Instant::now();
    let sandbox_config = kubelet::sandbox_config(&pod, &info, 0);
    std::fs::create_dir_all(&sandbox_config.log_directory).unwrap();
    let sandbox_id = cri
        .run_pod_sandbox(sandbox_config.clone())
        .unwrap_or_else(|e| panic!("{e}\n{}", node.log_tail()));
    let status = cri.pod_sandbox_status(&sandbox_id).unwrap();
    let network = status.status.and_then(|s| s.network);
    let pod_ips: Vec<String> = if kubelet::host_network(&pod) {
        info.addresses.clone()
    } else {
        let network = network.expect("a pod-network sandbox has an address");
        std::iter::once(network.ip)
            .chain(network.additional_ips.into_iter().map(|ip| ip.ip))
            .collect()
    };
    let addresses = PodAddresses {
        pod_ips: pod_ips.clone(),
    };
    let volumes = volumes::plan(&pod, &info, &addresses, objects).unwrap();
    for volume in volumes.values() {
        volumes::set_up(volume)
            .unwrap_or_else(|e| panic!("setting up {}: {e}", volume.path.display()));
    }
    let pod_dir = volumes::pod_dir(&pod, &info);
    let hosts = pod_dir.join("etc-hosts");
    let node_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let host_network = kubelet::host_network(&pod).then_some(node_hosts.as_str());
    std::fs::create_dir_all(&pod_dir).unwrap();
    std::fs::write(
        &hosts,
        volumes::etc_hosts(&pod_ips, &kubelet::hostname(&pod), host_network),
    )
    .unwrap();
    let mut run = PodRun {
        node,
        pod: pod.clone(),
        info: info.clone(),
        sandbox_id,
        sandbox_config,
        pod_ips,
        containers: Vec::new(),
        probes: Vec::new(),
        start_time: Duration::ZERO,
    };
    let pod_ip: IpAddr = run.pod_ips[0].parse().unwrap();
    for (start, container) in kubelet::start_order(&pod) {
        let image_ref = container.image.clone().unwrap_or_default();
        let image = cri
            .image_status(&image_ref)
            .unwrap()
            .unwrap_or_else(|| panic!("image {image_ref} is not on the node"));
        let user = ImageUser {
            uid: image.uid.map(|u| u.value),
            username: image.username,
        };
        let mut extra = vec![Mount {
            container_path: "/etc/hosts".into(),
            host_path: hosts.display().to_string(),
            ..Default::default()
        }];
        if let Some(path) = container
            .termination_message_path
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            let dir = pod_dir.join("containers").join(&container.name);
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("{:08x}", rand_u32()));
            std::fs::write(&file, b"").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
            extra.push(Mount {
                container_path: path.into(),
                host_path: file.display().to_string(),
                ..Default::default()
            });
        }
        let ctx = ContainerContext {
            node: &info,
            addresses: &addresses,
            objects,
            image: user,
            volumes: &volumes,
            extra_mounts: extra,
            attempt: 0,
        };
        let config = kubelet::container_config(&pod, container, &ctx)
            .unwrap_or_else(|e| panic!("container {}: {e}", container.name));
        let id = cri
            .create_container(&run.sandbox_id, config, &run.sandbox_config)
            .unwrap_or_else(|e| panic!("{e}\n{}", node.log_tail()));
        cri.start_container(&id)
            .unwrap_or_else(|e| panic!("{e}\n{}", node.log_tail()));
        let started = Instant::now();
        run.containers.push((container.name.clone(), id));
        match start {
            Start::RunToCompletion => {
                let code = run.wait_exited(&container.name, Duration::from_secs(60));
                assert_eq!(
                    code,
                    0,
                    "init container {} failed; its log:\n{}",
                    container.name,
                    run.log(&container.name)
                );
            }
            Start::Started => match &container.startup_probe {
                Some(probe) => {
                    let report = run_startup_probe(node, container, probe, pod_ip, started);
                    assert!(
                        report.succeeded,
                        "startup probe of {} failed: {report:?}; its log:\n{}",
                        container.name,
                        run.log(&container.name)
                    );
                    run.probes.push(report);
                }
                None => run.wait_running(&container.name),
            },
            Start::Regular => {}
        }
    }
    for (start, c) in kubelet::start_order(&pod) {
        if start == Start::Regular {
            run.wait_running(&c.name);
        }
    }
    run.start_time = begin.elapsed();
    run
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(7)
        })
}

impl PodRun<'_> {
    pub fn id(&self, container: &str) -> &str {
        self.containers
            .iter()
            .find(|(n, _)| n == container)
            .map(|(_, id)| id.as_str())
            .unwrap_or_else(|| panic!("no container {container}"))
    }

    /// The container's state and exit code.
    pub fn state(&self, container: &str) -> (ContainerState, i32) {
        let status = self
            .node
            .cri()
            .container_status(self.id(container), false)
            .unwrap()
            .status
            .unwrap();
        (
            ContainerState::try_from(status.state).unwrap_or(ContainerState::ContainerUnknown),
            status.exit_code,
        )
    }

    /// The PID of the container's first process (containerd's verbose status).
    pub fn pid(&self, container: &str) -> u32 {
        let status = self
            .node
            .cri()
            .container_status(self.id(container), true)
            .unwrap();
        let info: serde_json::Value = serde_json::from_str(&status.info["info"]).unwrap();
        info["pid"].as_u64().expect("pid in the verbose info") as u32
    }

    /// The `/proc/<pid>/status` fields of the container's first process (its UID, its
    /// capability sets, NoNewPrivs, Seccomp, ...).
    pub fn process_status(&self, container: &str) -> BTreeMap<String, String> {
        let pid = self.pid(container);
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|e| panic!("{container}'s process {pid}: {e}"))
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect()
    }

    /// The container's log file as written (CRI format).
    pub fn log(&self, container: &str) -> String {
        let path = PathBuf::from(&self.sandbox_config.log_directory)
            .join(container)
            .join("0.log");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Waits until the container's log holds `needle`.
    pub fn wait_log(&self, container: &str, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let log = self.log(container);
            if log.contains(needle) {
                return log;
            }
            assert!(
                start.elapsed() < limit,
                "{container} logged no {needle:?} in {limit:?}:\n{log}"
            );
            std::thread::sleep(POLL);
        }
    }

    pub fn wait_running(&self, container: &str) {
        let start = Instant::now();
        loop {
            let (state, code) = self.state(container);
            match state {
                ContainerState::ContainerRunning => return,
                ContainerState::ContainerExited => panic!(
                    "{container} exited ({code}) instead of running; its log:\n{}",
                    self.log(container)
                ),
                _ => {}
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{container} never ran"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits for the container to exit; its exit code.
    pub fn wait_exited(&self, container: &str, limit: Duration) -> i32 {
        let start = Instant::now();
        loop {
            let (state, code) = self.state(container);
            if state == ContainerState::ContainerExited {
                return code;
            }
            assert!(
                start.elapsed() < limit,
                "{container} still {state:?} after {limit:?}; its log:\n{}",
                self.log(container)
            );
            std::thread::sleep(POLL);
        }
    }

    /// StopContainer with the pod's grace period; how long it took.
    pub fn stop_container(&self, container: &str) -> Duration {
        let grace = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30);
        let start = Instant::now();
        self.node
            .cri()
            .stop_container(self.id(container), grace)
            .unwrap();
        start.elapsed()
    }

    /// The kubelet's termination: regular containers, then native sidecars in reverse
    /// order, then the sandbox.
    pub fn stop(&self) {
        self.stop_containers();
        self.node.cri().stop_pod_sandbox(&self.sandbox_id).unwrap();
    }

    /// The kubelet's termination of the containers alone (regular ones, then native
    /// sidecars in reverse order), the sandbox and its network left up.
    pub fn stop_containers(&self) {
        let order = kubelet::start_order(&self.pod);
        let running = |name: &str| self.containers.iter().any(|(n, _)| n == name);
        for (start, c) in &order {
            if *start == Start::Regular && running(&c.name) {
                self.stop_container(&c.name);
            }
        }
        for (start, c) in order.iter().rev() {
            if *start == Start::Started && running(&c.name) {
                self.stop_container(&c.name);
            }
        }
    }
}
