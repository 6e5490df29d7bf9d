//! The ring's geometry, and a ring on loopback when the process may open packet sockets
//! (root or CAP_NET_RAW; otherwise those tests have nothing to look at and pass).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use super::*;

fn options(ring_bytes: usize, snap: u32) -> RingOptions {
    RingOptions {
        ring_bytes,
        snap_bytes: snap,
        program: Arc::new(Program::snap_only(snap)),
        fanout: None,
    }
}

/// A ring on loopback (index 1 in every namespace), or `None` without the permission.
/// As root, the test's thread gets a network namespace of its own first, so that no other
/// test's loopback traffic fills or reaches its rings.
fn loopback(opts: &RingOptions) -> Option<Ring> {
    if rustix::process::geteuid().is_root() {
        private_network();
    }
    match Ring::open("lo", 1, opts) {
        Ok(r) => Some(r),
        Err(OpenError::Socket(e)) if e.kind() == io::ErrorKind::PermissionDenied => None,
        Err(e) => panic!("{e}"),
    }
}

/// Moves the calling thread (a test's own) into a new network namespace with its
/// loopback up; other threads of the process stay where they are.
#[allow(unsafe_code)] // unshare(2), which rustix marks unsafe: some flags break what std assumes
fn private_network() {
    // SAFETY: a new network namespace only changes where this thread's new sockets and
    // children are made; no memory or descriptor the program holds is touched.
    let unshared = unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) };
    if unshared.is_err() {
        return; // no namespaces here: the host's loopback, shared
    }
    // A child started from this thread is in its namespace.
    let up = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("cannot run ip");
    assert!(up.success(), "ip link set lo up: {up}");
}

/// Frames read from `ring` until `want` were seen or two seconds passed: (data length,
/// wire length) of each UDP frame to `port`.
fn read_udp(ring: &mut Ring, port: u16, want: usize) -> Vec<(usize, u32)> {
    let mut seen = Vec::new();
    let until = Instant::now() + Duration::from_secs(2);
    while seen.len() < want && Instant::now() < until {
        while let Some(block) = ring.next_block() {
            for f in block {
                if let Ok(p) = crate::capture::decode_frame(ring_link(), f.data, f.wire_len) {
                    if p.key.dst_port == port {
                        seen.push((f.data.len(), f.wire_len));
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

fn ring_link() -> LinkType {
    LinkType::Ethernet
}

#[test]
fn blocks_are_a_power_of_two_and_hold_a_frame() {
    assert_eq!(geometry(4 << 20, 512), (512 * 1024, 8));
    assert_eq!(geometry(512 * 1024, 512), (64 * 1024, 8));
    // Small rings keep blocks of at least 32 KiB, and two of them.
    assert_eq!(geometry(64 * 1024, 512), (32 * 1024, 2));
    // A block holds the longest frame whatever the ring size.
    let (block, count) = geometry(256 * 1024, 65535);
    assert!(block >= 65535 + FRAME_OVERHEAD && block.is_power_of_two());
    assert_eq!(count, 2);
    // Large rings have blocks of at most 1 MiB.
    assert_eq!(geometry(64 << 20, 512), (1 << 20, 64));
    // A size that is not a power of two rounds down.
    assert_eq!(geometry(3 << 20, 512).0, 256 * 1024);
}

#[test]
fn frames_are_cut_to_the_snap_length_and_keep_their_wire_length() {
    let Some(mut ring) = loopback(&options(256 * 1024, 128)) else {
        return;
    };
    assert_eq!(ring.link(), LinkType::Ethernet);
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for size in [10usize, 1000, 8000] {
        tx.send_to(&vec![7u8; size], ("127.0.0.1", port)).unwrap();
    }
    let seen = read_udp(&mut ring, port, 3);
    // Ethernet 14 + IPv4 20 + UDP 8 + payload; cut at 128.
    let expect: Vec<(usize, u32)> = [10u32, 1000, 8000]
        .iter()
        .map(|&n| (((42 + n) as usize).min(128), 42 + n))
        .collect();
    assert_eq!(seen, expect);
}

#[test]
fn a_full_ring_counts_its_drops() {
    let Some(mut ring) = loopback(&options(64 * 1024, 128)) else {
        return;
    };
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Two 32 KiB blocks hold a few hundred frames of 200 bytes; nothing reads them.
    for _ in 0..3000 {
        tx.send_to(&[0u8; 64], ("127.0.0.1", port)).unwrap();
    }
    let drops = ring.take_drops().unwrap();
    let read = read_udp(&mut ring, port, 3000).len() as u64;
    assert!(drops > 1000, "{drops} drops, {read} read");
    // Every frame sent is either read or dropped.
    assert!(read + drops >= 3000, "{read} read + {drops} dropped < 3000");
}

#[test]
fn a_fanout_group_spreads_flows_over_its_rings() {
    let opts = options(256 * 1024, 128);
    let Some(mut first) = loopback(&opts) else {
        return;
    };
    let group = first.fanout_group().unwrap();
    let mut second = Ring::open(
        "lo",
        1,
        &RingOptions {
            fanout: Some(group),
            ..opts
        },
    )
    .unwrap();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    // 64 flows (one source port each), 4 datagrams apiece.
    let senders: Vec<UdpSocket> = (0..64)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for _ in 0..4 {
        for s in &senders {
            s.send_to(&[1; 20], ("127.0.0.1", port)).unwrap();
        }
    }
    let a = read_udp(&mut first, port, 256).len();
    let b = read_udp(&mut second, port, 256 - a).len();
    // Every datagram went to exactly one ring of the group, and both rings got flows.
    assert_eq!(a + b, 256, "{a} + {b}");
    assert!(a > 0 && b > 0, "{a} + {b}");
    assert_eq!(a % 4, 0, "a flow stays on one ring: {a}");
}
