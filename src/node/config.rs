//! The `node` configuration section: what node mode captures besides the pod identities
//! (those come from `k8s.source`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::section::{at_least_one, Invalid, Section};

/// Where node mode finds the pods' network namespaces, and which interfaces it captures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directories of bind-mounted network namespaces (containerd and CRI-O keep the pods'
    /// in `/var/run/netns`; Docker in `/var/run/docker/netns`). Watched with inotify.
    pub netns_dirs: Vec<PathBuf>,
    /// Also find namespaces through the processes in `proc_dir` (`/proc/<pid>/ns/net`);
    /// needs the host's PID namespace (`hostPID: true`).
    pub scan_processes: bool,
    /// Mount point of the host's proc filesystem.
    pub proc_dir: PathBuf,
    /// Look for new and vanished namespaces this often (seconds), besides inotify.
    pub rescan_secs: u64,
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
}

/// Most capture threads node mode starts by itself.
const AUTO_THREADS: usize = 4;

impl Default for Config {
    fn default() -> Self {
        Config {
            netns_dirs: vec![PathBuf::from("/var/run/netns")],
            scan_processes: true,
            proc_dir: PathBuf::from("/proc"),
            rescan_secs: 5,
            pod_interfaces: Vec::new(),
            capture_host: true,
            host_interfaces: Vec::new(),
            host_pod_veths: false,
            capture_threads: 0,
            ring_bytes: 512 * 1024,
        }
    }
}

impl Config {
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
    }
}
