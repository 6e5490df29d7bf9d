//! The namespaces of the node test: a node, its pods joined by veth pairs and routed as
//! Calico does it, a remote pod behind the node's uplink, and the PodList that names them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::common::{root, run};

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

/// A node namespace, its pods and a remote namespace; all deleted on drop.
pub struct Cluster {
    pub node: String,
    pub remote: String,
    /// Namespace name of pod `i` (1-based).
    pub pods: BTreeMap<u8, String>,
    /// What podflow is told to watch (`node.netns_dirs`): links to the pods' namespaces.
    pub netns_dir: PathBuf,
}

pub const REMOTE: &str = "10.254.9.2";
pub const NODE: &str = "10.254.9.1";

pub fn pod_ip(i: u8) -> String {
    format!("10.254.1.{i}")
}

impl Cluster {
    pub fn new(dir: &Path) -> Cluster {
        let id = std::process::id();
        let c = Cluster {
            node: format!("pf-node-{id}"),
            remote: format!("pf-remote-{id}"),
            pods: BTreeMap::new(),
            netns_dir: dir.join("netns"),
        };
        std::fs::create_dir(&c.netns_dir).unwrap();
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

    /// Adds pod `i`: its namespace, `eth0` with a /32, the host end `vethp<i>`; linked
    /// into the watched directory when `watched`.
    pub fn add_pod(&mut self, i: u8, watched: bool) {
        let ns = format!("pf-pod{i}-{}", std::process::id());
        ip(&["netns", "add", &ns]);
        self.pods.insert(i, ns.clone());
        let veth = format!("vethp{i}");
        ip(&[
            "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &veth, "netns",
            &self.node,
        ]);
        let addr = pod_ip(i);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/32"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&[
            "-n",
            &ns,
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
            &ns,
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
        ip(&[
            "-n",
            &self.node,
            "route",
            "add",
            &format!("{addr}/32"),
            "dev",
            &veth,
        ]);
        if watched {
            self.watch(i);
        }
    }

    pub fn watch(&self, i: u8) {
        let ns = &self.pods[&i];
        std::os::unix::fs::symlink(
            Path::new("/var/run/netns").join(ns),
            self.netns_dir.join(ns),
        )
        .unwrap();
    }

    /// Removes pod `i` as the runtime does: the bind mount goes, the namespace with it.
    pub fn remove_pod(&mut self, i: u8) {
        let ns = self.pods.remove(&i).unwrap();
        std::fs::remove_file(self.netns_dir.join(&ns)).unwrap();
        ip(&["netns", "del", &ns]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for ns in self.pods.values().chain([&self.node, &self.remote]) {
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
