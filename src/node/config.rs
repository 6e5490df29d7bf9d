//! The `node` configuration section: what node mode captures besides the pod identities
//! (those come from `k8s.source`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::section::{at_least_one, Invalid, Section};

/// Where node mode finds the pods' network namespaces, and which interfaces it captures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The container runtime's CRI socket (`unix:///PATH`): which pod owns which network
    /// namespace comes from its pod sandboxes, nothing else. Empty: no runtime, and then no
    /// pod namespace is captured (only the node's own interfaces).
    pub runtime_endpoint: String,
    /// Directories of bind-mounted network namespaces (containerd and CRI-O keep the pods'
    /// in `/var/run/netns`): where a sandbox's namespace file is opened (by its file name)
    /// and what is watched with inotify for new pods.
    pub netns_dirs: Vec<PathBuf>,
    /// Also reach a sandbox's namespace through its process (`/proc/<pid>/ns/net` of the pid
    /// the runtime reports) when no directory holds it, and count the namespaces of the
    /// node's processes that no sandbox owns; needs the host's PID namespace
    /// (`hostPID: true`) and SYS_PTRACE. Off: the runtime's records and `netns_dirs` do.
    pub scan_processes: bool,
    /// Mount point of the host's proc filesystem.
    pub proc_dir: PathBuf,
    /// Look for new and vanished namespaces this often (seconds), besides inotify.
    pub rescan_secs: u64,
    /// How long a namespace that no pod sandbox owns yet is waited for, asking the
    /// runtime again every 100 ms, before it is called unowned (logged and counted): the
    /// runtime makes a sandbox's namespace before RunPodSandbox returns, and the CNI step
    /// in between takes seconds on real clusters. Also while the runtime does not answer,
    /// new namespaces wait rather than being called unowned.
    pub unowned_after_secs: u64,
    /// Interfaces captured inside each pod namespace; empty = every interface that is up,
    /// loopback aside.
    pub pod_interfaces: Vec<String>,
    /// Capture the node's own interfaces too (k8sObservationPoint 3).
    pub capture_host: bool,
    /// Host interfaces to capture; empty = every interface that is up, loopback and the
    /// host ends of pod veth pairs aside.
    pub host_interfaces: Vec<String>,
    /// Capture the host ends of the veth pairs whose other end is in a captured pod
    /// namespace. Off by default: their packets are already counted inside the pod.
    pub host_pod_veths: bool,
    /// Threads reading the rings of every namespace (ring backend); 0 = one per core, at
    /// most 4.
    pub capture_threads: usize,
    /// Memory of the receive ring of each pod interface, in bytes (the node's own
    /// interfaces get `capture.ring_bytes`). 512 KiB hold about 850 frames cut to the
    /// default snap length, and 110 pods take 55 MiB of ring.
    pub ring_bytes: u64,
    /// Interfaces captured in one pod namespace at most: each costs a socket and a ring,
    /// and a pod that owns its namespace can add dummy interfaces at will. The rest are
    /// left out, counted and logged once per namespace.
    pub max_interfaces_per_namespace: usize,
    /// Live flows of one pod namespace at most (its share of `flow.max_flows`); new flows
    /// past it are not metered until some of its flows end, counted and logged once per
    /// namespace, so that one pod's flood cannot have the others' flows ended early.
    /// 0 = a quarter of `flow.max_flows`.
    pub max_flows_per_namespace: usize,
}

/// Most capture threads node mode starts by itself.
const AUTO_THREADS: usize = 4;

impl Default for Config {
    fn default() -> Self {
        Config {
            runtime_endpoint: "unix:///run/containerd/containerd.sock".into(),
            netns_dirs: vec![PathBuf::from("/var/run/netns")],
            scan_processes: false,
            proc_dir: PathBuf::from("/proc"),
            rescan_secs: 5,
            unowned_after_secs: 10,
            pod_interfaces: Vec::new(),
            capture_host: true,
            host_interfaces: Vec::new(),
            host_pod_veths: false,
            capture_threads: 0,
            ring_bytes: 512 * 1024,
            // A pod has eth0, sometimes a few more (Multus): 8 is room for those, and caps
            // one namespace's rings at 4 MiB with the default ring_bytes.
            max_interfaces_per_namespace: 8,
            max_flows_per_namespace: 0,
        }
    }
}

impl Config {
    /// The live flows one pod namespace may hold, out of a table of `max_flows`.
    pub fn flow_share(&self, max_flows: usize) -> usize {
        match self.max_flows_per_namespace {
            0 => (max_flows / 4).max(1),
            n => n,
        }
    }

    /// The capture threads to start: `capture_threads`, or one per core up to 4.
    pub fn threads(&self) -> usize {
        match self.capture_threads {
            0 => std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(AUTO_THREADS),
            n => n,
        }
    }
}

impl Section for Config {
    fn check(&self) -> Result<(), Invalid> {
        at_least_one("rescan_secs", self.rescan_secs)?;
        at_least_one("unowned_after_secs", self.unowned_after_secs)?;
        at_least_one(
            "max_interfaces_per_namespace",
            self.max_interfaces_per_namespace as u64,
        )?;
        if !self.runtime_endpoint.is_empty() {
            super::runtime::socket_path(&self.runtime_endpoint)
                .map_err(|e| Invalid::new("runtime_endpoint", e.to_string()))?;
        }
        if self.capture_threads > 64 {
            return Err(Invalid::new(
                "capture_threads",
                "must be from 0 (auto) to 64",
            ));
        }
        let (min, max) = (crate::capture::MIN_RING, crate::capture::MAX_RING);
        if !(min..=max).contains(&self.ring_bytes) {
            return Err(Invalid::new(
                "ring_bytes",
                format!("must be from {min} (64 KiB) to {max} (1 GiB)"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescans_need_an_interval() {
        assert_eq!(Config::default().check(), Ok(()));
        let c = Config {
            rescan_secs: 0,
            ..Config::default()
        };
        assert_eq!(c.check().unwrap_err().key, "rescan_secs");
        let c = Config {
            runtime_endpoint: "tcp://10.0.0.1:1".into(),
            ..Config::default()
        };
        assert_eq!(c.check().unwrap_err().key, "runtime_endpoint");
        let c = Config {
            runtime_endpoint: String::new(),
            ..Config::default()
        };
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.flow_share(262_144), 65_536);
        let c = Config {
            max_flows_per_namespace: 1000,
            ..Config::default()
        };
        assert_eq!(c.flow_share(262_144), 1000);
    }
}
