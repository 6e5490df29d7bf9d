//! The system calls of a TPACKET_V3 receive ring, and nothing else: the ring's socket
//! options, its memory mapping, the kernel's statistics, a classic BPF filter and fanout.
//! Each unsafe block is one libc call on a descriptor this module owns or borrows, with
//! buffers whose size is passed alongside, or a read or write of the mapped ring through
//! a pointer the mapping keeps valid. The layout constants are those of
//! `<linux/if_packet.h>` on every Linux ABI (the structures have fixed-size fields only).
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::capture::live::sys::{check, get, set};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// `PACKET_VERSION` value of TPACKET_V3 (`enum tpacket_versions`).
const TPACKET_V3: libc::c_int = 2;
/// `tpacket_block_desc.hdr.bh1.block_status`: the block belongs to user space.
pub const TP_STATUS_USER: u32 = 1;
/// ... or to the kernel.
pub const TP_STATUS_KERNEL: u32 = 0;
/// `tpacket3_hdr.tp_status`: `tp_vlan_tci` holds the tag the device took off the frame.
pub const TP_STATUS_VLAN_VALID: u32 = 1 << 4;

/// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then `tpacket_hdr_v1`).
pub const BLOCK_STATUS: usize = 8;
pub const BLOCK_NUM_PKTS: usize = 12;
pub const BLOCK_FIRST_PKT: usize = 16;
/// Offsets in `struct tpacket3_hdr`.
pub const PKT_NEXT: usize = 0;
pub const PKT_SEC: usize = 4;
pub const PKT_NSEC: usize = 8;
pub const PKT_SNAPLEN: usize = 12;
pub const PKT_LEN: usize = 16;
pub const PKT_STATUS: usize = 20;
pub const PKT_MAC: usize = 24;
pub const PKT_VLAN_TCI: usize = 32;

/// `struct tpacket_req3`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RingRequest {
    pub block_size: u32,
    pub block_nr: u32,
    pub frame_size: u32,
    pub frame_nr: u32,
    /// Milliseconds after which the kernel hands over a block that is not full.
    pub retire_blk_tov: u32,
    pub sizeof_priv: u32,
    pub feature_req_word: u32,
}

/// `struct tpacket_stats_v3`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct StatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// Selects TPACKET_V3 frames on a packet socket that has no ring yet.
pub fn set_v3(fd: BorrowedFd<'_>) -> io::Result<()> {
    set(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3)
}

/// Asks the kernel for the receive ring `req` describes (it allocates the blocks).
pub fn set_rx_ring(fd: BorrowedFd<'_>, req: &RingRequest) -> io::Result<()> {
    set(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, req)
}

/// Joins fanout group `group` with mode `mode` (`PACKET_FANOUT_*`); the socket must be
/// bound with a protocol.
pub fn join_fanout(fd: BorrowedFd<'_>, group: u16, mode: u16) -> io::Result<()> {
    let arg: u32 = u32::from(group) | u32::from(mode) << 16;
    set(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)
}

/// `PACKET_FANOUT_FLAG_UNIQUEID`: the kernel picks an unused group id.
const FANOUT_FLAG_UNIQUEID: u16 = 0x2000;
/// `PACKET_FANOUT_FLAG_IGNORE_OUTGOING`: the group does not get what this host sends.
pub const FANOUT_FLAG_IGNORE_OUTGOING: u16 = 0x4000;

/// Starts a new fanout group of mode `mode` with an id the kernel picks, and returns it.
pub fn new_fanout_group(fd: BorrowedFd<'_>, mode: u16) -> io::Result<u16> {
    join_fanout(fd, 0, mode | FANOUT_FLAG_UNIQUEID)?;
    let arg: u32 = get(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, 0)?;
    Ok((arg & 0xffff) as u16)
}

/// One instruction of a classic BPF program (`struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Fprog {
    len: libc::c_ushort,
    filter: *const BpfInsn,
}

/// Attaches a classic BPF program: the kernel runs it on every frame before the ring,
/// keeps the frame when it returns more than 0 and truncates it to what it returns.
pub fn attach_filter(fd: BorrowedFd<'_>, program: &[BpfInsn]) -> io::Result<()> {
    let len = libc::c_ushort::try_from(program.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?;
    let prog = Fprog {
        len,
        filter: program.as_ptr(),
    };
    // The kernel copies the program during the call; `program` outlives it.
    set(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
}

/// Frames the kernel dropped (ring full) since the previous call; reading resets them.
pub fn take_drops(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let stats: StatsV3 = get(
        fd,
        libc::SOL_PACKET,
        libc::PACKET_STATISTICS,
        StatsV3::default(),
    )?;
    Ok(u64::from(stats.drops))
}

/// Binds the socket to interface `ifindex` for every protocol: frames start to arrive.
pub fn bind_all(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as libc::c_ushort;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex =
        libc::c_int::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `addr` is a live sockaddr_ll and its size is passed with it.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// The ring's memory, mapped from the socket; unmapped when dropped.
pub struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

// The mapping is plain memory shared with the kernel; the ring that owns it decides who
// reads which block, whatever thread it runs on.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps the ring of `fd`, `len` bytes.
    pub fn new(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh shared mapping of the socket's ring; the kernel checks `len`
        // against the ring it allocated. Nothing else aliases the new address range.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Mapping { base, len })
    }

    /// The status word of the block at `offset` (a multiple of the block size, so 8-byte
    /// aligned), shared with the kernel.
    pub fn status(&self, offset: usize) -> &AtomicU32 {
        assert!(offset + BLOCK_STATUS + 4 <= self.len);
        // SAFETY: in bounds (checked above) and 4-byte aligned (the mapping is page
        // aligned, block offsets are multiples of a page); the kernel and this process
        // only access the word atomically (the kernel with a write barrier before it).
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset + BLOCK_STATUS).cast()) }
    }

    /// The bytes of the block at `offset`, `len` long. Only for a block whose status says
    /// it belongs to user space: the kernel does not write it until it is handed back.
    pub fn block(&self, offset: usize, len: usize) -> &[u8] {
        assert!(offset + len <= self.len);
        // SAFETY: in bounds (checked above); the caller has seen TP_STATUS_USER with
        // acquire ordering, so the kernel's writes to the block are visible and it makes
        // no more until the status is set back to TP_STATUS_KERNEL, which needs `&self`
        // to outlive the slice.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(offset), len) }
    }

    /// Hands the block at `offset` back to the kernel.
    pub fn release(&self, offset: usize) {
        self.status(offset)
            .store(TP_STATUS_KERNEL, Ordering::Release);
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base` and `len` are exactly what mmap returned and took; no slice of
        // the mapping outlives `self`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// An epoll instance and the readiness of the descriptors registered with it.
pub struct Epoll {
    fd: std::os::fd::OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall; returns a new descriptor or -1.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(Epoll {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 64],
        })
    }

    /// Watches `fd` for input (level-triggered), reporting it as `token`.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a live epoll_event; both descriptors are open.
        check(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        })?;
        Ok(())
    }

    /// Stops watching `fd`.
    pub fn remove(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`; the event is ignored but must be non-null on old kernels.
        check(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd.as_raw_fd(),
                &mut ev,
            )
        })?;
        Ok(())
    }

    /// Waits up to `timeout_ms` and returns the tokens of the descriptors that are ready
    /// (with whether an error or hang-up is pending).
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<impl Iterator<Item = (u64, bool)> + '_> {
        // SAFETY: the kernel writes at most `events.len()` entries into `events`.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                libc::c_int::try_from(self.events.len()).unwrap_or(64),
                timeout_ms,
            )
        };
        let n = match check(n) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        let failed = (libc::EPOLLERR | libc::EPOLLHUP) as u32;
        Ok(self.events[..n].iter().map(move |e| {
            let events = e.events;
            let token = e.u64;
            (token, events & failed != 0)
        }))
    }
}

/// An eventfd that wakes an epoll wait from another thread.
pub struct Waker {
    fd: std::os::fd::OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        // SAFETY: plain syscall; returns a new descriptor or -1.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(Waker { fd })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.fd)
    }

    /// Makes the descriptor readable.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`; a full counter (EAGAIN) is fine to ignore,
        // the descriptor is readable then anyway.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Makes it unreadable again.
    pub fn clear(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads at most 8 bytes into `value`; EAGAIN (nothing pending) is fine.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel_headers() {
        assert_eq!(size_of::<RingRequest>(), 28);
        assert_eq!(size_of::<StatsV3>(), 12);
        assert_eq!(size_of::<BpfInsn>(), 8);
        assert_eq!(size_of::<Fprog>(), size_of::<libc::sock_fprog>());
    }

    #[test]
    fn a_waker_wakes_an_epoll_wait() {
        let mut epoll = Epoll::new().unwrap();
        let waker = Waker::new().unwrap();
        epoll.add(waker.fd(), 7).unwrap();
        assert_eq!(epoll.wait(0).unwrap().count(), 0);
        waker.wake();
        let ready: Vec<_> = epoll.wait(1000).unwrap().collect();
        assert_eq!(ready, [(7, false)]);
        waker.clear();
        assert_eq!(epoll.wait(0).unwrap().count(), 0);
        epoll.remove(waker.fd()).unwrap();
    }
}
