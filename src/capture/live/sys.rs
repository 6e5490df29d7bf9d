//! The `AF_PACKET` socket calls both backends share, and those pnet does not offer: open
//! the socket before it is bound, size its receive buffer, learn the interface's hardware
//! type, set and read socket options (the ring's too), and read the kernel's drop counter.
//! Each unsafe block is one libc call on a descriptor this module owns or borrows, with
//! buffers whose size is passed alongside; nothing else here.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Outcome of a libc call that returns -1 and sets errno on failure.
pub(crate) fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A raw packet socket that receives nothing yet: with protocol 0 the kernel delivers no
/// frame until a bind names a protocol, so no frame of another interface slips in before
/// the socket is bound to its own. Fails with `PermissionDenied` without CAP_NET_RAW.
pub fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments; it returns a new descriptor or -1.
    let fd =
        check(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets an integer socket option.
fn set_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    set(fd, level, name, &value)
}

/// Sets a socket option whose value is the plain-data `value`.
pub(crate) fn set<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` is a live `T` and its exact size is passed with it.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Reads a socket option into a plain-data value `T`; the kernel writes at most `size_of::<T>()`.
pub(crate) fn get<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    zero: T,
) -> io::Result<T> {
    let mut value = zero;
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is a live, writable `T` and `len` tells the kernel its size.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// Asks for a receive buffer of `bytes`: `SO_RCVBUFFORCE` (CAP_NET_ADMIN, past
/// `net.core.rmem_max`) when allowed, else `SO_RCVBUF` (capped at `rmem_max`). Returns the
/// size the kernel granted (it reports twice what is usable for data, as it counts overhead).
pub fn set_receive_buffer(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<usize> {
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    if set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want).is_err() {
        set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, want)?;
    }
    let got: libc::c_int = get(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 0)?;
    Ok(usize::try_from(got).unwrap_or(0))
}

/// Binds the socket to interface `ifindex` without a protocol (so still receiving nothing)
/// and returns the interface's `ARPHRD_*` hardware type, which says what header its frames
/// start with.
pub fn bind_and_hardware_type(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<u16> {
    // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
    addr.sll_family = libc::AF_PACKET as libc::c_ushort;
    addr.sll_ifindex =
        libc::c_int::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is a live sockaddr_ll and `len` its size.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            len,
        )
    })?;
    // SAFETY: the kernel writes at most `len` bytes into `addr`, and updates `len`.
    check(unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut addr as *mut libc::sockaddr_ll).cast(),
            &mut len,
        )
    })?;
    Ok(addr.sll_hatype)
}

/// Stops the delivery of frames this host sends (`PACKET_IGNORE_OUTGOING`, Linux 4.20).
/// On loopback every frame is both sent and received: without this it is seen twice.
pub fn ignore_outgoing(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int(fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
}

/// Frames the kernel dropped since the previous call because the socket's receive buffer
/// was full (`PACKET_STATISTICS`: reading resets the counters).
pub fn take_drops(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let zero = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let stats = get(fd, libc::SOL_PACKET, libc::PACKET_STATISTICS, zero)?;
    Ok(u64::from(stats.tp_drops))
}

/// Takes (and clears) the socket's pending error, such as `ENETDOWN` after its interface
/// went down. Left pending, it keeps `poll` returning at once.
pub fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let code: libc::c_int = get(fd, libc::SOL_SOCKET, libc::SO_ERROR, 0)?;
    Ok((code != 0).then(|| io::Error::from_raw_os_error(code)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn socket_options_on_loopback_when_permitted() {
        let Ok(fd) = packet_socket() else {
            return; // no CAP_NET_RAW here: nothing to check
        };
        let fd = fd.as_fd();
        assert!(set_receive_buffer(fd, 1 << 20).unwrap() > 0);
        // Loopback is ifindex 1 in every network namespace.
        assert_eq!(
            bind_and_hardware_type(fd, 1).unwrap(),
            libc::ARPHRD_LOOPBACK
        );
        assert_eq!(take_drops(fd).unwrap(), 0);
        assert!(take_error(fd).unwrap().is_none());
    }
}
