//! Malformed and random frames: refused, never a panic.

use super::*;

#[test]
fn malformed_frames() {
    let good4 = ipv4(PROTO_TCP, &tcp(1, 2, SYN));
    let good6 = ipv6(PROTO_TCP, &tcp(1, 2, SYN));

    let mut ihl4 = good4.clone();
    ihl4[0] = 0x44;
    assert_eq!(decode(LinkType::RawIpv4, &ihl4), Err(Ignored::Malformed));
    // IHL larger than the frame.
    let mut ihl15 = good4.clone();
    ihl15[0] = 0x4f;
    assert_eq!(decode(LinkType::RawIpv4, &ihl15), Err(Ignored::Malformed));
    // Total length shorter than the header.
    let mut tiny = good4.clone();
    tiny[2..4].copy_from_slice(&be16(19));
    assert_eq!(decode(LinkType::RawIpv4, &tiny), Err(Ignored::Malformed));

    // The version must match what the link layer announced.
    assert_eq!(decode(LinkType::RawIpv4, &good6), Err(Ignored::Malformed));
    assert_eq!(decode(LinkType::RawIpv6, &good4), Err(Ignored::Malformed));
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x0800, &good6)),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x86dd, &good4)),
        Err(Ignored::Malformed)
    );
    let mut v5 = good4.clone();
    v5[0] = 0x55;
    assert_eq!(decode(LinkType::RawIp, &v5), Err(Ignored::Malformed));

    // Short frames.
    assert_eq!(
        decode(LinkType::RawIpv4, &good4[..19]),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::RawIpv6, &good6[..39]),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::Ethernet, &[0; 13]),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::LinuxSll, &[0; 15]),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::LinuxSll2, &[0; 19]),
        Err(Ignored::Malformed)
    );
    assert_eq!(decode(LinkType::Null, &[2, 0, 0]), Err(Ignored::Malformed));
    assert_eq!(decode(LinkType::Loop, &[]), Err(Ignored::Malformed));
    assert_eq!(decode(LinkType::RawIp, &[]), Err(Ignored::Malformed));
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x8100, &[0, 5])),
        Err(Ignored::Malformed)
    );
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x0800, &[])),
        Err(Ignored::Malformed)
    );
}

/// Xorshift: deterministic bytes without a dependency.
struct Noise(u64);

impl Noise {
    fn byte(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }
}

const ALL_LINKS: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
    LinkType::RawIpv4,
    LinkType::RawIpv6,
    LinkType::Null,
    LinkType::Loop,
];

#[test]
fn garbage_never_panics() {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut buf = [0u8; 200];
    for len in 0..200 {
        for round in 0..64 {
            for b in buf[..len].iter_mut() {
                *b = noise.byte();
            }
            // Steer some rounds past the link layer so the IP paths see garbage too.
            if len > 14 && round % 4 == 0 {
                buf[12..14].copy_from_slice(&be16(if round % 8 == 0 { 0x0800 } else { 0x86dd }));
            }
            if len > 14 && round % 4 == 1 {
                buf[0] = if round % 8 == 1 { 0x45 } else { 0x60 };
                buf[12] = 0x81;
                buf[13] = 0x00;
            }
            for link in ALL_LINKS {
                let _ = decode(link, &buf[..len]);
            }
        }
    }
}

#[test]
fn every_prefix_of_a_valid_frame_decodes_or_is_refused() {
    let udp = ports(547, 546, 30);
    let frames = [
        eth(
            0x88a8,
            &tag(
                1,
                0x8100,
                &tag(
                    2,
                    0x86dd,
                    &ipv6(
                        0,
                        &ext(60, 0, &ext(44, 0, &frag6(PROTO_UDP, 0, true, 1, &udp))),
                    ),
                ),
            ),
        ),
        eth(0x0800, &ipv4(PROTO_TCP, &tcp(1, 2, SYN))),
        sll2(0x8100, &tag(3, 0x0800, &ipv4(PROTO_ICMP, &icmp(8, 0)))),
    ];
    for frame in &frames {
        for len in 0..=frame.len() {
            if let Ok(p) = decode(LinkType::Ethernet, &frame[..len]) {
                assert!(p.octets > 0);
            }
            let _ = decode(LinkType::LinuxSll2, &frame[..len]);
        }
    }
}
