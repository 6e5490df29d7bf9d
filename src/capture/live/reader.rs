//! One interface's capture: the packet socket (opened here, read through pnet) and the loop
//! its thread runs: receive, timestamp, decode, meter. Per packet it neither allocates,
//! logs nor touches an atomic; counters are published every [`PUBLISH_EVERY`] frames or
//! [`TICK`], and the kernel's drop counter is read every [`DROPS_EVERY`].

use std::io;
use std::os::fd::{AsFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pnet_datalink::{linux, Channel, DataLinkReceiver, NetworkInterface};

use super::sys;
use crate::capture::{decode, CaptureStats, LinkType, LocalStats};
use crate::flow::{wall_now, Meter, Nanos};

/// How long a receive waits for a frame before the loop checks its stop flag.
const READ_TIMEOUT: Duration = Duration::from_millis(100);
/// Publish counters at least this often while frames flow or not.
const TICK: Nanos = 100_000_000;
/// Publish counters after this many frames even within a tick.
const PUBLISH_EVERY: u64 = 4096;
/// Read the kernel's drop counter this often.
const DROPS_EVERY: Nanos = 1_000_000_000;
/// Room for the largest frame: with segmentation offload (GRO/TSO) a frame holds an IP
/// packet of up to 64 KiB, and BIG TCP raises that to 512 KiB, which IPv6 sends with a
/// payload length of 0 so that its size is what was captured. The buffer is allocated
/// zeroed, so pages no frame reached cost no memory.
const READ_BUFFER_BYTES: usize = 512 * 1024 + 256;
/// Receive buffer asked of the kernel: bursts of GRO frames fill the default (~208 KiB) at
/// once. Granted in full with CAP_NET_ADMIN, else up to `net.core.rmem_max`.
pub(crate) const SOCKET_BUFFER_BYTES: usize = 8 << 20;

const ARPHRD_RAWIP: u16 = 519;

/// What header the frames of an `ARPHRD_*` hardware type start with; `None` when podflow
/// cannot decode them.
pub(crate) fn link_type(hardware: u16) -> Option<LinkType> {
    match hardware {
        // Loopback frames carry an Ethernet header with zero addresses.
        libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => Some(LinkType::Ethernet),
        // tun devices, WireGuard, IP-in-IP tunnels: the IP header comes first.
        libc::ARPHRD_NONE | ARPHRD_RAWIP | libc::ARPHRD_TUNNEL | libc::ARPHRD_TUNNEL6 => {
            Some(LinkType::RawIp)
        }
        _ => None,
    }
}

/// Why an interface could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open a packet socket: {0}")]
    Socket(io::Error),
    #[error("cannot bind a packet socket to interface {name} (index {index}): {error}")]
    Bind {
        name: String,
        index: u32,
        error: io::Error,
    },
    #[error("interface {name} has hardware type {hardware}, whose frames podflow cannot decode")]
    Unsupported { name: String, hardware: u16 },
    #[error("cannot set up the receive ring of interface {name}: {error}")]
    Ring { name: String, error: io::Error },
    #[error("pnet cannot set up capture on interface {name}: {error}")]
    Channel { name: String, error: io::Error },
    #[error("cannot start the capture thread of interface {name}: {error}")]
    Thread { name: String, error: io::Error },
    #[error("interface {name} cannot be captured: all 65536 observation points are taken")]
    NoPoint { name: String },
}

/// A packet socket bound to interface `name` (index `index`) that receives nothing yet,
/// and the interface's `ARPHRD_*` hardware type. On loopback it will not see what this
/// host sends (each frame would be seen twice).
pub(crate) fn packet_socket_on(name: &str, index: u32) -> Result<(OwnedFd, u16), OpenError> {
    let fd = sys::packet_socket().map_err(OpenError::Socket)?;
    let hardware =
        sys::bind_and_hardware_type(fd.as_fd(), index).map_err(|error| OpenError::Bind {
            name: name.to_owned(),
            index,
            error,
        })?;
    if hardware == libc::ARPHRD_LOOPBACK {
        sys::ignore_outgoing(fd.as_fd()).map_err(OpenError::Socket)?;
    }
    Ok((fd, hardware))
}

/// An open capture on one interface.
pub struct Source {
    rx: Box<dyn DataLinkReceiver>,
    /// A second descriptor of the same socket, for the socket options pnet does not read.
    socket: OwnedFd,
    link: LinkType,
    /// The receive buffer the kernel granted (bytes, as `SO_RCVBUF` reports it).
    pub receive_buffer: usize,
}

impl Source {
    #[cfg(test)]
    fn open_with_buffer(name: &str, index: u32, buffer: usize) -> Result<Source, OpenError> {
        Source::open_filtered(name, index, buffer, None)
    }

    /// Opens a capture of every frame on interface `name` (index `index`), in and out,
    /// without promiscuous mode, with a receive buffer of `buffer` bytes and `program`
    /// (`capture.filter`) run on each frame by the kernel.
    pub fn open_filtered(
        name: &str,
        index: u32,
        buffer: usize,
        program: Option<&crate::capture::ring::Program>,
    ) -> Result<Source, OpenError> {
        let (fd, hardware) = packet_socket_on(name, index)?;
        let receive_buffer =
            sys::set_receive_buffer(fd.as_fd(), buffer).map_err(OpenError::Socket)?;
        let link = link_type(hardware).ok_or_else(|| OpenError::Unsupported {
            name: name.to_owned(),
            hardware,
        })?;
        if let Some(program) = program {
            crate::capture::ring::attach_filter(fd.as_fd(), program.instructions(link))
                .map_err(OpenError::Socket)?;
        }
        let socket = fd.try_clone().map_err(OpenError::Socket)?;
        let iface = NetworkInterface {
            name: name.to_owned(),
            description: String::new(),
            index,
            mac: None,
            ips: Vec::new(),
            flags: 0,
        };
        // pnet binds the socket to the interface for every protocol (which starts the
        // delivery), makes it non-blocking and owns the descriptor from here on; it reads
        // with poll + recvfrom and keeps frames of every direction.
        let cfg = linux::Config {
            read_buffer_size: READ_BUFFER_BYTES,
            write_buffer_size: 0,
            read_timeout: Some(READ_TIMEOUT),
            promiscuous: false,
            socket_fd: Some(fd.into_raw_fd()),
            ..linux::Config::default()
        };
        let channel_err = |error| OpenError::Channel {
            name: name.to_owned(),
            error,
        };
        let rx = match linux::channel(&iface, cfg).map_err(channel_err)? {
            Channel::Ethernet(_tx, rx) => rx,
            _ => {
                return Err(channel_err(io::Error::other(
                    "not an Ethernet-style channel",
                )))
            }
        };
        Ok(Source {
            rx,
            socket,
            link,
            receive_buffer,
        })
    }

    /// Runs until `stop` is set: meters every frame, publishes counters to `stats` as it
    /// goes and once more at the end. `on_error` hears about the first error of each run of
    /// failed receives (an interface that went down, for instance).
    pub fn run(
        mut self,
        meter: &mut Meter,
        stats: &CaptureStats,
        stop: &AtomicBool,
        mut on_error: impl FnMut(&io::Error),
    ) {
        let mut local = LocalStats::default();
        let mut next_tick = wall_now() + TICK;
        let mut next_drops = wall_now() + DROPS_EVERY;
        let mut failing = false;
        loop {
            let now = match self.rx.next() {
                Ok(frame) => {
                    let now = wall_now();
                    local.frames += 1;
                    match decode(self.link, frame) {
                        Ok(pkt) => {
                            local.metered += 1;
                            meter.observe(pkt, now, frame);
                        }
                        Err(_) => local.ignored += 1,
                    }
                    failing = false;
                    if local.frames < PUBLISH_EVERY && now < next_tick {
                        continue;
                    }
                    now
                }
                Err(e) if is_quiet(&e) => wall_now(),
                Err(e) => {
                    // A pending socket error (ENETDOWN) makes poll return at once: take it,
                    // and pause so that a lasting failure does not spin.
                    let pending = sys::take_error(self.socket.as_fd()).ok().flatten();
                    if !failing {
                        on_error(pending.as_ref().unwrap_or(&e));
                        failing = true;
                    }
                    std::thread::sleep(READ_TIMEOUT);
                    wall_now()
                }
            };
            if local.frames > 0 {
                local.publish(stats);
            }
            if now >= next_drops {
                self.publish_drops(stats);
                next_drops = now + DROPS_EVERY;
            }
            next_tick = now + TICK;
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        local.publish(stats);
        self.publish_drops(stats);
    }

    fn publish_drops(&self, stats: &CaptureStats) {
        if let Ok(drops) = sys::take_drops(self.socket.as_fd()) {
            if drops > 0 {
                stats.kernel_drops.fetch_add(drops, Ordering::Relaxed);
            }
        }
    }
}

/// Receive outcomes that are no failure: nothing arrived within the timeout.
fn is_quiet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_types() {
        assert_eq!(link_type(1), Some(LinkType::Ethernet));
        assert_eq!(link_type(772), Some(LinkType::Ethernet));
        assert_eq!(link_type(65534), Some(LinkType::RawIp));
        assert_eq!(link_type(519), Some(LinkType::RawIp));
        assert_eq!(link_type(32), None); // InfiniBand
    }

    #[test]
    fn a_full_socket_buffer_shows_as_kernel_drops() {
        // Loopback is index 1 in every namespace; without CAP_NET_RAW there is nothing to see.
        let source = match Source::open_with_buffer("lo", 1, 16 * 1024) {
            Ok(s) => s,
            Err(OpenError::Socket(e)) if e.kind() == io::ErrorKind::PermissionDenied => return,
            Err(e) => panic!("{e}"),
        };
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..2000 {
            tx.send_to(&[0; 32], sink.local_addr().unwrap()).unwrap();
        }
        let stats = CaptureStats::default();
        source.publish_drops(&stats);
        assert!(stats.kernel_drops.load(Ordering::Relaxed) > 1000);
    }
}
