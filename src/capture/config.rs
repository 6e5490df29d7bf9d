//! The `capture` configuration section.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ring::compile;
use crate::section::{Invalid, Section};

/// How live capture reads the interfaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A memory-mapped TPACKET_V3 ring per interface, read a block of frames at a time by
    /// `capture.threads` threads.
    #[default]
    Ring,
    /// A thread per interface reading one frame per system call (pnet); a fallback.
    Pnet,
}

/// What to capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Interfaces to capture live; empty means every non-loopback interface that is up.
    pub interfaces: Vec<String>,
    /// Read this pcap or pcapng file instead of capturing live. Packet timestamps drive
    /// the flow clock; at the end of the file every flow is ended and podflow exits.
    pub pcap: Option<PathBuf>,
    /// `ring` (default) or `pnet`.
    pub backend: Backend,
    /// Bytes kept of each frame. 512 holds the link, IP and transport headers with long
    /// IPv6 extension chains and leaves room for the first bytes of the payload; octets
    /// are counted from the IP length or the length on the wire, never from this.
    pub snap_bytes: u32,
    /// Bytes kept of a TCP segment whose payload starts a TLS handshake record (with
    /// `flow.l7`): room for a whole ClientHello (post-quantum key shares make them about
    /// 1,800 bytes), which gives the server name, ALPN, JA4 and JA3. The other frames
    /// keep `snap_bytes`.
    pub handshake_snap_bytes: u32,
    /// Memory of the receive ring of each interface, in bytes (ring backend). A full ring
    /// drops frames, counted as kernel drops.
    pub ring_bytes: u64,
    /// Threads reading the rings (ring backend); each polls the rings of several
    /// interfaces.
    pub threads: usize,
    /// Sockets per interface in a PACKET_FANOUT group (ring backend): above 1, the
    /// frames of one interface are spread by flow over that many rings and threads,
    /// for an interface that needs more than one core.
    pub fanout: usize,
    /// A capture filter in tcpdump's syntax (`tcp port 443`, `not net 10.0.0.0/8`),
    /// compiled to classic BPF and run by the kernel; empty keeps every frame.
    pub filter: String,
    /// Leave out the traffic between podflow and `export.collector` (UDP and TCP
    /// collectors), so that the sidecar does not meter its own export.
    pub exclude_export: bool,
}

/// Bounds of `snap_bytes`: the headers must fit; a frame cannot be longer.
pub const MIN_SNAP: u32 = 128;
pub const MAX_SNAP: u32 = 65535;
/// Bounds of `ring_bytes`.
pub const MIN_RING: u64 = 64 * 1024;
pub const MAX_RING: u64 = 1 << 30;

impl Default for Config {
    fn default() -> Self {
        Config {
            interfaces: Vec::new(),
            pcap: None,
            backend: Backend::Ring,
            snap_bytes: 512,
            handshake_snap_bytes: 4096,
            // 4 MiB: about 7,000 full-size frames (0.5 s at 14 kpps) or 25,000 small ones.
            ring_bytes: 4 << 20,
            threads: 1,
            fanout: 1,
            filter: String::new(),
            exclude_export: true,
        }
    }
}

impl Section for Config {
    fn check(&self) -> Result<(), Invalid> {
        if !(MIN_SNAP..=MAX_SNAP).contains(&self.snap_bytes) {
            return Err(Invalid::new(
                "snap_bytes",
                format!("must be from {MIN_SNAP} to {MAX_SNAP}"),
            ));
        }
        if !(MIN_SNAP..=MAX_SNAP).contains(&self.handshake_snap_bytes) {
            return Err(Invalid::new(
                "handshake_snap_bytes",
                format!("must be from {MIN_SNAP} to {MAX_SNAP}"),
            ));
        }
        if !(MIN_RING..=MAX_RING).contains(&self.ring_bytes) {
            return Err(Invalid::new(
                "ring_bytes",
                format!("must be from {MIN_RING} (64 KiB) to {MAX_RING} (1 GiB)"),
            ));
        }
        if !(1..=64).contains(&self.threads) {
            return Err(Invalid::new("threads", "must be from 1 to 64"));
        }
        if !(1..=64).contains(&self.fanout) {
            return Err(Invalid::new("fanout", "must be from 1 to 64"));
        }
        compile(&self.filter, self.snap_bytes).map_err(|e| Invalid::new("filter", e.0))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        assert_eq!(Config::default().check(), Ok(()));
        for (c, key) in [
            (
                Config {
                    snap_bytes: 64,
                    ..Config::default()
                },
                "snap_bytes",
            ),
            (
                Config {
                    handshake_snap_bytes: 70_000,
                    ..Config::default()
                },
                "handshake_snap_bytes",
            ),
            (
                Config {
                    ring_bytes: 4096,
                    ..Config::default()
                },
                "ring_bytes",
            ),
            (
                Config {
                    threads: 0,
                    ..Config::default()
                },
                "threads",
            ),
            (
                Config {
                    fanout: 0,
                    ..Config::default()
                },
                "fanout",
            ),
            (
                Config {
                    filter: "port".into(),
                    ..Config::default()
                },
                "filter",
            ),
        ] {
            assert_eq!(c.check().unwrap_err().key, key);
        }
    }
}
