//! The namespaces of the node test: a node, its pods joined by veth pairs and routed as
//! Calico does it, a remote pod behind the node's uplink, and the PodList that names them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::common::{root, run};
use crate::runtime::{FakeRuntime, FakeSandbox};

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn exec(ns: &str, program: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]);
    cmd
}

pub fn python_in(ns: &str, args: &[&str]) -> Command {
    let mut cmd = exec(ns, "python3");
    cmd.arg(root().join("it/py/traffic.py")).args(args);
    cmd
}

/// A node namespace, its pods and a remote namespace, and the container runtime that knows
/// the pods; all deleted on drop.
pub struct Cluster {
    /// Told apart from other clusters of the process in every name.
    id: String,
    pub node: String,
    pub remote: String,
    /// Namespace name of pod `i` (1-based).
    pub pods: BTreeMap<u8, String>,
    /// Namespaces that are no pod's (made by a process of a pod, say).
    pub others: Vec<String>,
    /// What podflow is told to watch (`node.netns_dirs`): bind mounts of the pods'
    /// namespaces, as containerd makes them.
    pub netns_dir: PathBuf,
    /// The CRI that says which sandbox owns which namespace.
    pub runtime: FakeRuntime,
}

/// Where the runtime says it keeps the namespaces: a path of its own that podflow does not
/// see, as in a container where the node's directory is mounted elsewhere.
const RUNTIME_NETNS_DIR: &str = "/run/fake-containerd/netns";

/// Name and namespace of pod `i`, as in [`pod_list`].
pub fn pod_meta(i: u8) -> (&'static str, &'static str) {
    match i {
        1 => ("web-7c9d8f6b5-x2x9k", "shop"),
        2 => ("db-0", "shop"),
        3 => ("debug", "ops"),
        4 => ("report-29400480-abcde", "ops"),
        _ => unreachable!(),
    }
}

pub const REMOTE: &str = "10.254.9.2";
pub const NODE: &str = "10.254.9.1";

pub fn pod_ip(i: u8) -> String {
    format!("10.254.1.{i}")
}

impl Cluster {
    pub fn new(dir: &Path) -> Cluster {
        // Tests of one process run at once: each cluster names its namespaces apart.
        static CLUSTERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}-{n}", std::process::id());
        let c = Cluster {
            node: format!("pf-node-{id}"),
            remote: format!("pf-remote-{id}"),
            id: id.clone(),
            pods: BTreeMap::new(),
            others: Vec::new(),
            netns_dir: dir.join("netns"),
            runtime: FakeRuntime::start(&dir.join("cri.sock")),
        };
        std::fs::create_dir(&c.netns_dir).unwrap();
        // A shared mount, as /var/run/netns is: namespaces mounted in it after podflow
        // started (in the mount namespace of its `ip netns exec`) show up there too.
        // Private first: a bind mount joins the peer group of the mount it is made in, and
        // each pod's mount would then be made twice, once hidden beneath this one.
        for how in ["--bind", "--make-private", "--make-shared"] {
            let mut mount = Command::new("mount");
            mount.arg(how);
            if how == "--bind" {
                mount.arg(&c.netns_dir);
            }
            run(mount.arg(&c.netns_dir));
        }
        for ns in [&c.node, &c.remote] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let (node, remote) = (c.node.as_str(), c.remote.as_str());
        ip(&[
            "link", "add", "eth0", "netns", node, "type", "veth", "peer", "name", "eth0", "netns",
            remote,
        ]);
        ip(&[
            "-n",
            node,
            "addr",
            "add",
            &format!("{NODE}/24"),
            "dev",
            "eth0",
        ]);
        ip(&[
            "-n",
            remote,
            "addr",
            "add",
            &format!("{REMOTE}/24"),
            "dev",
            "eth0",
        ]);
        for ns in [node, remote] {
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
        }
        ip(&["-n", remote, "route", "add", "10.254.1.0/24", "via", NODE]);
        // The node routes between its pods and the uplink; proxy ARP on the pods' veths
        // needs a route for the pods' gateway address, which the default route gives.
        ip(&["-n", node, "route", "add", "default", "via", REMOTE]);
        run(exec(node, "sysctl").args(["-qw", "net.ipv4.ip_forward=1"]));
        c
    }

    /// Adds pod `i`: its namespace, `eth0` with a /32, the host end `vethp<i>`; mounted
    /// into the watched directory and known to the runtime when `watched`.
    pub fn add_pod(&mut self, i: u8, watched: bool) {
        let ns = format!("pf-pod{i}-{}", self.id);
        self.pods.insert(i, ns.clone());
        self.plug(&ns, &format!("vethp{i}"), &pod_ip(i), true);
        if watched {
            self.watch(i);
        }
    }

    /// A namespace that no sandbox owns, made as a pod's process could (`unshare -n`),
    /// whose `eth0` claims pod `i`'s address; mounted into the watched directory beside the
    /// pods'. Its name.
    pub fn add_impostor(&mut self, i: u8) -> String {
        let ns = format!("pf-impostor-{}", self.id);
        self.others.push(ns.clone());
        // No route to it on the node: the address's route stays pod i's.
        self.plug(&ns, "vethimp", &pod_ip(i), false);
        // Its packets leave by the uplink although the route back to its address is pod
        // i's: no reverse-path filter on the node.
        for conf in ["all", "vethimp"] {
            let key = format!("net.ipv4.conf.{conf}.rp_filter=0");
            run(exec(&self.node, "sysctl").args(["-qw", &key]));
        }
        self.mount_in_dir(&ns);
        ns
    }

    /// Namespace `ns` joined to the node by a veth pair (`host_end` on the node), with
    /// `addr`/32 on its `eth0`, routed the Calico way (the node's route to `addr` only
    /// with `route`).
    fn plug(&self, ns: &str, host_end: &str, addr: &str, route: bool) {
        ip(&["netns", "add", ns]);
        let veth = host_end.to_string();
        ip(&[
            "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", &veth, "netns",
            &self.node,
        ]);
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/32"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        ip(&["-n", ns, "link", "set", "eth0", "up"]);
        ip(&[
            "-n",
            ns,
            "route",
            "add",
            "169.254.1.1",
            "dev",
            "eth0",
            "scope",
            "link",
        ]);
        ip(&[
            "-n",
            ns,
            "route",
            "add",
            "default",
            "via",
            "169.254.1.1",
            "dev",
            "eth0",
        ]);
        ip(&["-n", &self.node, "link", "set", &veth, "up"]);
        run(exec(&self.node, "sysctl").args(["-qw", &format!("net.ipv4.conf.{veth}.proxy_arp=1")]));
        // Proxy ARP answers at once (by default after up to 0.8 s, while the first
        // packets wait in a queue that a burst overflows).
        run(exec(&self.node, "sysctl")
            .args(["-qw", &format!("net.ipv4.neigh.{veth}.proxy_delay=0")]));
        if route {
            ip(&[
                "-n",
                &self.node,
                "route",
                "add",
                &format!("{addr}/32"),
                "dev",
                &veth,
            ]);
        }
    }

    /// Pod `i`'s sandbox runs: its namespace bind-mounted into the watched directory, and
    /// the runtime knows it.
    pub fn watch(&self, i: u8) {
        self.mount_in_dir(&self.pods[&i]);
        self.register(i);
    }

    /// The runtime names pod `i`'s sandbox (as RunPodSandbox returns, after the CNI step).
    pub fn register(&self, i: u8) {
        let ns = &self.pods[&i];
        let (name, namespace) = pod_meta(i);
        self.runtime.add(FakeSandbox {
            id: format!("sandbox-{i}"),
            name: name.into(),
            namespace: namespace.into(),
            uid: format!("uid-{name}"),
            netns: Path::new(RUNTIME_NETNS_DIR).join(ns),
        });
    }

    pub fn mount_in_dir(&self, ns: &str) {
        let at = self.netns_dir.join(ns);
        std::fs::write(&at, "").unwrap();
        let from = Path::new("/var/run/netns").join(ns);
        run(Command::new("mount").arg("--bind").arg(from).arg(&at));
    }

    /// Lazily, as containerd does (MNT_DETACH): podflow holds the namespace open.
    fn unmount_from_dir(&self, ns: &str) {
        let at = self.netns_dir.join(ns);
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&at)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&at);
    }

    /// Removes pod `i` as the runtime does: the sandbox and its bind mount go, the
    /// namespace with them.
    pub fn remove_pod(&mut self, i: u8) {
        let ns = self.pods.remove(&i).unwrap();
        self.runtime.remove(&format!("sandbox-{i}"));
        self.unmount_from_dir(&ns);
        ip(&["netns", "del", &ns]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for ns in self.pods.values().chain(&self.others) {
            self.unmount_from_dir(ns);
        }
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.netns_dir)
            .stderr(Stdio::null())
            .status();
        for ns in self
            .pods
            .values()
            .chain(&self.others)
            .chain([&self.node, &self.remote])
        {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The PodList podflow reads: the four local pods, the remote one on node-2, and a pod
/// that has no address yet.
pub fn pod_list() -> serde_json::Value {
    let pod = |name: &str,
               ns: &str,
               ip: Option<&str>,
               node: &str,
               owner: serde_json::Value,
               labels: serde_json::Value| {
        let mut status = json!({"phase": "Running", "hostIP": NODE});
        if let Some(ip) = ip {
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        } else {
            status["phase"] = json!("Pending");
        }
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": name, "namespace": ns, "uid": format!("uid-{name}"),
                "creationTimestamp": "2026-11-26T08:00:00Z",
                "labels": labels, "ownerReferences": owner,
                "managedFields": [{"manager": "kubelet", "operation": "Update"}]
            },
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app"}]},
            "status": status
        })
    };
    let controller = |kind: &str, name: &str| json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "owner", "controller": true}]);
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [
        pod("web-7c9d8f6b5-x2x9k", "shop", Some(&pod_ip(1)), "node-1",
            controller("ReplicaSet", "web-7c9d8f6b5"), json!({"app": "web", "pod-template-hash": "7c9d8f6b5"})),
        pod("db-0", "shop", Some(&pod_ip(2)), "node-1", controller("StatefulSet", "db"), json!({"app": "db"})),
        pod("debug", "ops", Some(&pod_ip(3)), "node-1", json!([]), json!({})),
        pod("report-29400480-abcde", "ops", Some(&pod_ip(4)), "node-1",
            controller("Job", "report-29400480"), json!({"job-name": "report-29400480"})),
        pod("api-0", "shop", Some(REMOTE), "node-2", controller("StatefulSet", "api"), json!({"app": "api"})),
        pod("waiting", "shop", None, "node-1", json!([]), json!({})),
    ]})
}
