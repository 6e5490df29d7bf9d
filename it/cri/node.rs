//! A "node": containerd with its CRI plugin, started by the test inside a network namespace
//! of the test's, with its own root, state, socket, CNI network and cgroup parent under a
//! temporary directory. Dropping the value tears everything down, also when the test panics;
//! [`Node::shut_down`] does the same and reports whatever survived. Needs root.
//!
//! containerd is started with `nsenter --net` rather than `ip netns exec`: the latter also
//! gives the process a private mount namespace with a fresh /sys, which hides
//! /sys/fs/cgroup from runc. The node's mounts (overlay roots, the pods' namespace files)
//! therefore land in the test's mount namespace, where teardown unmounts them.

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cleanup::{
    collect_cgroup_procs, mountinfo, remove_cgroup, remove_everything, sha256_hex, stop_process,
    try_run,
};
use super::client::Cri;
use super::images::Image;

/// containerd's CRI plugin keeps the pods' network namespace files here, under its state
/// directory (`netns_mounts_under_state_dir`).
const CRI_STATE: &str = "state/io.containerd.grpc.v1.cri";
/// The directory of shim sockets, fixed in containerd 1.6 whatever its state directory.
const SHIM_SOCKETS: &str = "/run/containerd/s";
/// Where libcni caches each attachment's result, fixed in containerd 1.6.
const CNI_RESULTS: &str = "/var/lib/cni/results";

/// One containerd instance and what it owns.
pub struct Node {
    /// Name of the network namespace, the CNI network and the cgroup parent.
    pub name: String,
    /// The node's own address (on loopback in its namespace): `status.hostIP`, and
    /// where host-network pods listen.
    pub address: Ipv4Addr,
    /// The pods' subnet; the first address is each pod's gateway on the node side.
    pub pod_subnet: String,
    /// Absolute cgroup path under which pods get their own (`<parent>/pod<uid>`).
    pub cgroup_parent: String,
    /// Everything of this instance lives under here.
    pub dir: PathBuf,
    /// containerd's gRPC socket.
    pub socket: PathBuf,
    temp: Option<tempfile::TempDir>,
    containerd: Option<Child>,
    cri: Option<Cri>,
    /// Sandboxes seen at teardown, for their shim sockets.
    sandboxes: Vec<String>,
    torn_down: bool,
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Node {
    /// Starts a node; `tag` (1..=250) keeps concurrent nodes of one test process apart.
    /// `images` are imported before the first sandbox; the first is the sandbox (pause) image.
    pub fn start(tag: u8, images: &[&Image]) -> Node {
        let name = format!("pf-cri-{}-{tag}", std::process::id());
        let temp = tempfile::Builder::new()
            .prefix("pf-cri-")
            .tempdir_in("/tmp")
            .expect("a temporary directory");
        let dir = temp.path().to_path_buf();
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        run("ip", &["netns", "add", &name]);
        let mut node = Node {
            address: Ipv4Addr::new(10, 89, tag, 1),
            pod_subnet: format!("10.88.{tag}.0/24"),
            cgroup_parent: format!("/{name}"),
            socket: dir.join("containerd.sock"),
            dir,
            name,
            temp: Some(temp),
            containerd: None,
            cri: None,
            sandboxes: Vec::new(),
            torn_down: false,
        };
        let ns = node.name.clone();
        run("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        // On loopback: the machine may lack the dummy interface module, and an address on
        // `lo` is as much the node's own for pods routed to it.
        let address = format!("{}/32", node.address);
        run("ip", &["-n", &ns, "addr", "add", &address, "dev", "lo"]);
        for sub in ["cni", "logs", "pods", "root", "state"] {
            std::fs::create_dir_all(node.dir.join(sub)).unwrap();
        }
        std::fs::write(
            node.dir.join("cni/10-podflow-test.conflist"),
            node.cni_config(),
        )
        .unwrap();
        let config = node.dir.join("containerd.toml");
        let pause = images.first().expect("a sandbox image");
        std::fs::write(&config, node.containerd_config(&pause.reference)).unwrap();

        let log = std::fs::File::create(node.dir.join("containerd.log")).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", node.name))
            .arg("--")
            .arg("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd (Debian package containerd) starts");
        node.containerd = Some(child);
        node.wait_for("containerd's socket", Duration::from_secs(20), |n| {
            n.socket.exists()
        });
        node.cri = Some(Cri::connect(&node.socket).unwrap_or_else(|e| node.fail(&e.to_string())));
        // The socket answers before the CRI plugin has initialised ("server is not
        // initialized yet"), the longer the busier the machine.
        node.wait_for("the CRI service", Duration::from_secs(20), |n| {
            n.cri().version().is_ok()
        });
        let version = node.cri().version().unwrap();
        assert_eq!(version.runtime_api_version, "v1", "{version:?}");
        for image in images {
            node.import(image);
        }
        node.wait_for(
            "NetworkReady (CNI config loaded)",
            Duration::from_secs(20),
            |n| n.cri().network_ready().unwrap_or(false),
        );
        node
    }

    /// The CNI network: ptp veths with host-local addresses, no masquerade, the IPAM state
    /// in the node's directory.
    fn cni_config(&self) -> String {
        serde_json::json!({
            "cniVersion": "0.4.0",
            "name": self.name,
            "plugins": [{
                "type": "ptp",
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": self.pod_subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": self.dir.join("cni-ipam"),
                }
            }]
        })
        .to_string()
    }

    fn containerd_config(&self, sandbox_image: &str) -> String {
        let d = self.dir.display();
        // Plugins that would touch the machine outside the node's directory (opt installs
        // into /opt) or that cannot work here are left out.
        format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{sock}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  # Root here lacks CAP_SYS_RESOURCE: containers may not lower their OOM score below ours.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{d}/runc"
"#,
            sock = self.socket.display()
        )
    }

    /// The CRI client of this node.
    pub fn cri(&self) -> &Cri {
        self.cri.as_ref().expect("containerd is running")
    }

    /// Where the kubelet's pod directories (volumes, etc-hosts) go.
    pub fn pods_dir(&self) -> PathBuf {
        self.dir.join("pods")
    }

    /// The root of the pods' log directories.
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Where containerd mounts the pods' network namespaces (a DaemonSet's /var/run/netns).
    pub fn netns_dir(&self) -> PathBuf {
        self.dir.join(CRI_STATE).join("netns")
    }

    /// Imports an image archive into the CRI plugin's namespace.
    pub fn import(&self, image: &Image) {
        let sock = self.socket.display().to_string();
        let archive = image.archive.display().to_string();
        run(
            "ctr",
            &["-a", &sock, "-n", "k8s.io", "images", "import", &archive],
        );
    }

    /// Runs `f` on a thread inside the node's network namespace: sockets it opens stay
    /// there, wherever they are used afterwards.
    pub fn in_netns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let ns = std::fs::File::open(format!("/run/netns/{}", self.name)).unwrap();
        std::thread::scope(|s| {
            s.spawn(move || {
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .expect("setns into the node's network namespace");
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// The last lines of containerd's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn fail(&self, what: &str) -> ! {
        panic!("{what}\ncontainerd log:\n{}", self.log_tail())
    }

    fn wait_for(&mut self, what: &str, limit: Duration, mut ok: impl FnMut(&Node) -> bool) {
        let start = Instant::now();
        while !ok(self) {
            if let Some(status) = self.containerd.as_mut().and_then(|c| c.try_wait().unwrap()) {
                self.fail(&format!("containerd exited ({status}) before {what}"));
            }
            if start.elapsed() > limit {
                self.fail(&format!("no {what} after {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Tears the node down and returns what is left of it (empty when all is gone).
    pub fn shut_down(mut self) -> Vec<String> {
        self.teardown();
        let left = self.leftovers();
        if left.is_empty() {
            if let Some(temp) = self.temp.take() {
                if let Err(e) = temp.close() {
                    return vec![format!("{}: {e}", self.dir.display())];
                }
            }
            if self.dir.exists() {
                return vec![format!("{} still exists", self.dir.display())];
            }
        }
        left
    }

    fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        if let Some(cri) = &self.cri {
            self.sandboxes = remove_everything(cri);
        }
        self.cri = None;
        if let Some(mut child) = self.containerd.take() {
            stop_process(&mut child);
        }
        // Shims, and the containers they ran, when the CRI could not stop them.
        for _ in 0..50 {
            let pids = self.processes();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                try_run("kill", &["-KILL", &pid.to_string()]);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for mount in self.mounts() {
            try_run("umount", &["-l", &mount]);
        }
        for dir in self.cgroup_dirs() {
            remove_cgroup(&dir);
        }
        for file in self.cni_results().into_iter().chain(self.shim_sockets()) {
            if let Err(e) = std::fs::remove_file(&file) {
                eprintln!("teardown: {}: {e}", file.display());
            }
        }
        try_run("ip", &["netns", "del", &self.name]);
    }

    /// What is left of the node: processes, mounts, cgroups, CNI results, shim sockets,
    /// its network namespace.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for pid in self.processes() {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            left.push(format!(
                "process {pid}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
        left.extend(self.mounts().into_iter().map(|m| format!("mount {m}")));
        left.extend(
            self.cgroup_dirs()
                .into_iter()
                .map(|d| format!("cgroup {}", d.display())),
        );
        left.extend(
            self.cni_results()
                .into_iter()
                .chain(self.shim_sockets())
                .map(|f| format!("file {}", f.display())),
        );
        let netns = PathBuf::from("/run/netns").join(&self.name);
        if netns.exists() {
            left.push(format!("network namespace {}", netns.display()));
        }
        left
    }

    /// Processes of this instance: containerd and its shims (their command lines name the
    /// node's directory) and whatever runs in the node's cgroups.
    fn processes(&self) -> Vec<u32> {
        let dir = self.dir.display().to_string();
        let mut pids: Vec<u32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&dir))
            })
            .collect();
        for cgroup in self.cgroup_dirs() {
            collect_cgroup_procs(&cgroup, &mut pids);
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|&pid| pid != std::process::id());
        pids
    }

    /// Mount points under the node's directory, deepest first.
    fn mounts(&self) -> Vec<String> {
        let prefix = format!("{}/", self.dir.display());
        let mut mounts: Vec<String> = mountinfo()
            .into_iter()
            .filter(|(point, _)| point.starts_with(&prefix))
            .map(|(point, _)| point)
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        mounts.dedup();
        mounts
    }

    /// The node's cgroup directory in every hierarchy where it exists.
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = mountinfo()
            .into_iter()
            .filter(|(_, fstype)| fstype == "cgroup" || fstype == "cgroup2")
            .map(|(point, _)| PathBuf::from(point).join(self.cgroup_parent.trim_start_matches('/')))
            .filter(|d| d.exists())
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    fn cni_results(&self) -> Vec<PathBuf> {
        let prefix = format!("{}-", self.name);
        std::fs::read_dir(CNI_RESULTS)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect()
    }

    /// containerd 1.6 names a shim's socket after sha256(<address>/<namespace>/<sandbox>).
    fn shim_sockets(&self) -> Vec<PathBuf> {
        self.sandboxes
            .iter()
            .map(|id| {
                let key = format!("{}/k8s.io/{id}", self.socket.display());
                Path::new(SHIM_SOCKETS).join(sha256_hex(key.as_bytes()))
            })
            .filter(|p| p.exists())
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.teardown();
        let left = self.leftovers();
        if !left.is_empty() {
            // Never remove a directory something may still be mounted in.
            eprintln!("node {}: left behind: {left:#?}", self.name);
            if let Some(temp) = self.temp.take() {
                let _ = temp.keep();
            }
        }
    }
}

impl Node {
    /// Makes the directory of the pods' namespace mounts ([`Node::netns_dir`]) a shared
    /// mount of its own, so that a container's `HostToContainer` mount of it receives the
    /// namespaces mounted after the container started, as on a node whose root is shared
    /// (systemd makes it so; the test machine's may be private, and containerd refuses such
    /// a mount from a private one). Teardown unmounts it with the node's other mounts.
    pub fn share_netns_dir(&self) -> PathBuf {
        let dir = self.netns_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.display().to_string();
        run("mount", &["--bind", &path, &path]);
        run("mount", &["--make-shared", &path]);
        dir
    }
}
