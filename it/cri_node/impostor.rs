//! A network namespace that is no pod sandbox, in the directory where containerd mounts its
//! pods' (as a process with its own namespace could make one and, with root on the node,
//! mount it there): joined to the node by a veth pair, its `eth0` holding a running pod's
//! address. Removed when dropped, however the test ends.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cri::node::Node;

/// The node's end of the impostor's veth pair.
pub const HOST_END: &str = "vethimp";

pub struct Impostor {
    path: PathBuf,
    node: String,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn in_ns(path: &Path, args: &[&str]) {
    run(Command::new("nsenter")
        .arg(format!("--net={}", path.display()))
        .args(args));
}

impl Impostor {
    /// Makes `dir/name` a new network namespace whose `eth0` holds `claims`.
    pub fn start(node: &Node, dir: &Path, name: &str, claims: Ipv4Addr) -> Impostor {
        let path = dir.join(name);
        std::fs::write(&path, "").unwrap();
        let imp = Impostor {
            path: path.clone(),
            node: node.name.clone(),
        };
        run(Command::new("unshare")
            .arg(format!("--net={}", path.display()))
            .arg("true"));
        in_ns(
            &path,
            &[
                "ip", "link", "add", "eth0", "type", "veth", "peer", "name", HOST_END, "netns",
                &node.name,
            ],
        );
        in_ns(
            &path,
            &["ip", "addr", "add", &format!("{claims}/32"), "dev", "eth0"],
        );
        for dev in ["lo", "eth0"] {
            in_ns(&path, &["ip", "link", "set", dev, "up"]);
        }
        in_ns(&path, &["ip", "route", "add", "default", "dev", "eth0"]);
        run(Command::new("ip").args(["-n", &node.name, "link", "set", HOST_END, "up"]));
        imp
    }

    /// Sends `n` UDP datagrams to `to` from inside; the source port.
    pub fn send(&self, to: SocketAddrV4, n: usize) -> u16 {
        let ns = std::fs::File::open(&self.path).unwrap();
        std::thread::scope(|s| {
            s.spawn(move || {
                use std::os::fd::AsFd;
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .expect("setns into the impostor");
                let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
                for _ in 0..n {
                    socket.send_to(b"as if I were that pod", to).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                socket.local_addr().unwrap().port()
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["-n", &self.node, "link", "del", HOST_END])
            .output();
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
        let _ = std::fs::remove_file(&self.path);
    }
}
