//! A memory-mapped TPACKET_V3 receive ring on one interface: the kernel writes frames
//! into blocks of a ring shared with podflow and hands a block over when it is full or
//! after [`BLOCK_TIMEOUT_MS`]; podflow reads every frame of the block in place and hands
//! it back. One wake-up per block instead of a system call per frame. Frames are cut to
//! the snap length by the classic BPF program attached to the socket (which also runs
//! `capture.filter`); each frame keeps its length on the wire, so octets never come from
//! what was captured. The system calls are in `sys`; this is the safe surface.
//!
//! Why not libpcap (the `pcap` crate), which reads the same ring: node mode polls the
//! rings of every pod namespace from one epoll set per capture thread, each ring opened
//! inside its namespace with its own size and fanout group, and the image carries no C
//! library it does not need. Measured on the same replay, this ring costs no more CPU per
//! frame than `tcpdump -w /dev/null`, libpcap's own ring loop (scripts/capture-bench.sh).

mod filter;
pub mod pool;
mod sys;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

pub use filter::{compile, FilterError, Program};
pub(crate) use sys::attach_filter;
pub use sys::BpfInsn;
use sys::Mapping;

use super::live::{link_type, packet_socket_on, OpenError};
use super::LinkType;
use crate::flow::{Nanos, NANOS_PER_SEC};

/// How long the kernel keeps a block that is not full before handing it over: the
/// longest a frame waits to be metered when traffic is slow.
pub const BLOCK_TIMEOUT_MS: u32 = 100;
/// Room in a block for the frame headers the kernel puts before the frame (tpacket3_hdr,
/// sockaddr_ll, alignment).
const FRAME_OVERHEAD: usize = 128;
/// Smallest and largest block.
const MIN_BLOCK: usize = 32 * 1024;
const MAX_BLOCK: usize = 1 << 20;
/// The ring is split into at least this many blocks when its size allows.
const BLOCKS: usize = 8;
/// The kernel's frame slot size; with TPACKET_V3 only a divisor of the block size.
const FRAME_SLOT: usize = 2048;

/// How a ring is set up.
#[derive(Clone, Debug)]
pub struct RingOptions {
    /// Bytes of ring memory (rounded down to whole blocks, at least two).
    pub ring_bytes: usize,
    /// Bytes kept of each frame.
    pub snap_bytes: u32,
    /// The classic BPF program run by the kernel on each frame (filter and snap length).
    pub program: Arc<Program>,
    /// Join this fanout group (`PACKET_FANOUT_HASH`): the interface's frames are spread
    /// over the group's sockets, each flow to one.
    pub fanout: Option<u16>,
}

/// The block geometry of a ring of `ring_bytes` for frames of up to `snap` bytes: block
/// size (a power of two, at least a page) and block count. Pure.
pub fn geometry(ring_bytes: usize, snap: u32) -> (usize, usize) {
    let need = (snap as usize + FRAME_OVERHEAD)
        .next_power_of_two()
        .max(MIN_BLOCK);
    let share = (ring_bytes / BLOCKS).max(1);
    let below = if share.is_power_of_two() {
        share
    } else {
        share.next_power_of_two() / 2
    };
    let block = below.clamp(MIN_BLOCK, MAX_BLOCK).max(need);
    (block, (ring_bytes / block).max(2))
}

/// The fanout mode of an interface of `hardware` type: by flow hash, and on loopback
/// without the frames this host sends (a group ignores PACKET_IGNORE_OUTGOING of its
/// sockets; every loopback frame would be seen twice).
fn fanout_mode(hardware: u16) -> u16 {
    let hash = libc::PACKET_FANOUT_HASH as u16;
    if hardware == libc::ARPHRD_LOOPBACK {
        hash | sys::FANOUT_FLAG_IGNORE_OUTGOING
    } else {
        hash
    }
}

/// An open ring. Dropping it closes the socket and unmaps the ring.
pub struct Ring {
    // Field order: the mapping goes before the socket.
    map: Mapping,
    socket: OwnedFd,
    link: LinkType,
    /// The mode of a fanout group this ring starts.
    fanout_mode: u16,
    block_size: usize,
    blocks: usize,
    /// The next block to read.
    next: usize,
}

/// One frame in a block, borrowed until the block is handed back.
#[derive(Clone, Copy, Debug)]
pub struct RingFrame<'a> {
    /// The captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub wire_len: u32,
    /// Kernel receive time, nanoseconds since the Unix epoch.
    pub ts: Nanos,
    /// The VLAN id the device took off the frame, if any.
    pub vlan: Option<u16>,
}

impl Ring {
    /// Opens a ring on interface `name` (index `index`) that receives every frame, in and
    /// out, without promiscuous mode.
    pub fn open(name: &str, index: u32, opts: &RingOptions) -> Result<Ring, OpenError> {
        let (fd, hardware) = packet_socket_on(name, index)?;
        let link = link_type(hardware).ok_or_else(|| OpenError::Unsupported {
            name: name.to_owned(),
            hardware,
        })?;
        let ring_err = |error| OpenError::Ring {
            name: name.to_owned(),
            error,
        };
        let (block_size, blocks) = geometry(opts.ring_bytes, opts.snap_bytes);
        let req = sys::RingRequest {
            block_size: block_size as u32,
            block_nr: blocks as u32,
            frame_size: FRAME_SLOT as u32,
            frame_nr: (block_size / FRAME_SLOT * blocks) as u32,
            retire_blk_tov: BLOCK_TIMEOUT_MS,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        let fd = fd.as_fd();
        sys::attach_filter(fd, opts.program.instructions(link)).map_err(ring_err)?;
        sys::set_v3(fd).map_err(ring_err)?;
        sys::set_rx_ring(fd, &req).map_err(ring_err)?;
        let map = Mapping::new(fd, block_size * blocks).map_err(ring_err)?;
        sys::bind_all(fd, index).map_err(|error| OpenError::Bind {
            name: name.to_owned(),
            index,
            error,
        })?;
        let fanout_mode = fanout_mode(hardware);
        if let Some(group) = opts.fanout {
            sys::join_fanout(fd, group, fanout_mode).map_err(ring_err)?;
        }
        let socket = fd.try_clone_to_owned().map_err(ring_err)?;
        Ok(Ring {
            map,
            socket,
            link,
            fanout_mode,
            block_size,
            blocks,
            next: 0,
        })
    }

    /// What header the frames start with.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The socket, to poll for a block (readable when one is ready).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Bytes of ring memory.
    pub fn bytes(&self) -> usize {
        self.block_size * self.blocks
    }

    /// The next block the kernel has handed over, if any; it goes back to the kernel when
    /// the [`Block`] is dropped.
    pub fn next_block(&mut self) -> Option<Block<'_>> {
        let offset = self.next * self.block_size;
        if self
            .map
            .status(offset)
            .load(std::sync::atomic::Ordering::Acquire)
            & sys::TP_STATUS_USER
            == 0
        {
            return None;
        }
        self.next = (self.next + 1) % self.blocks;
        let data = self.map.block(offset, self.block_size);
        let count = read_u32(data, sys::BLOCK_NUM_PKTS);
        let first = read_u32(data, sys::BLOCK_FIRST_PKT) as usize;
        Some(Block {
            map: &self.map,
            offset,
            data,
            left: count,
            at: first,
        })
    }

    /// Makes this ring the first of a new fanout group (by flow hash, an id the kernel
    /// picks) and returns the group's id, for the other rings to join.
    pub fn fanout_group(&self) -> io::Result<u16> {
        sys::new_fanout_group(self.fd(), self.fanout_mode)
    }

    /// Frames the kernel dropped because the ring was full, since the last call.
    pub fn take_drops(&self) -> io::Result<u64> {
        sys::take_drops(self.fd())
    }
}

/// A block of frames owned by podflow until dropped.
pub struct Block<'a> {
    map: &'a Mapping,
    offset: usize,
    data: &'a [u8],
    left: u32,
    /// Offset of the next frame's header in the block.
    at: usize,
}

impl<'a> Iterator for Block<'a> {
    type Item = RingFrame<'a>;

    #[inline]
    fn next(&mut self) -> Option<RingFrame<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let hdr = self.data.get(self.at..)?;
        let next = read_u32(hdr, sys::PKT_NEXT) as usize;
        let sec = u64::from(read_u32(hdr, sys::PKT_SEC));
        let nsec = u64::from(read_u32(hdr, sys::PKT_NSEC));
        let snap = read_u32(hdr, sys::PKT_SNAPLEN) as usize;
        let status = read_u32(hdr, sys::PKT_STATUS);
        let mac = usize::from(read_u16(hdr, sys::PKT_MAC));
        let vlan = (status & sys::TP_STATUS_VLAN_VALID != 0)
            .then(|| (read_u32(hdr, sys::PKT_VLAN_TCI) & 0x0fff) as u16);
        let frame = RingFrame {
            data: hdr.get(mac..mac + snap).unwrap_or_default(),
            wire_len: read_u32(hdr, sys::PKT_LEN),
            ts: sec * NANOS_PER_SEC + nsec,
            vlan,
        };
        // The last frame has no next; stop there whatever the count says.
        if next == 0 {
            self.left = 0;
        }
        self.at += next;
        Some(frame)
    }
}

impl Drop for Block<'_> {
    fn drop(&mut self) {
        self.map.release(self.offset);
    }
}

#[inline]
fn read_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..)
        .and_then(|b| b.first_chunk::<4>())
        .map_or(0, |v| u32::from_ne_bytes(*v))
}

#[inline]
fn read_u16(b: &[u8], at: usize) -> u16 {
    b.get(at..)
        .and_then(|b| b.first_chunk::<2>())
        .map_or(0, |v| u16::from_ne_bytes(*v))
}

#[cfg(test)]
mod tests;
