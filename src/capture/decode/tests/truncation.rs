//! Frames cut by a snap length: octets from the IP length, or from the length on the
//! wire where the IP length is 0, never from what was captured.

use super::*;

/// An Ethernet header before `ip`.
fn ether(ethertype: u16, ip: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend(be16(ethertype));
    f.extend(ip);
    f
}

#[test]
fn a_cut_frame_counts_its_ip_length() {
    let frame = ether(
        0x0800,
        &ipv4(PROTO_TCP, &[tcp(1, 2, ACK), vec![0; 1400]].concat()),
    );
    let p = decode_frame(LinkType::Ethernet, &frame[..128], frame.len() as u32).unwrap();
    assert_eq!(
        (p.octets, p.key.src_port, p.tcp_flags),
        (20 + 20 + 1400, 1, ACK)
    );
}

#[test]
fn big_tcp_counts_the_wire_length_not_the_capture() {
    // IPv4 BIG TCP: total length 0, an 80 KB packet cut to 128 bytes.
    let mut v4 = V4::new(PROTO_TCP);
    v4.total_len = Some(0);
    let frame = ether(0x0800, &v4.build(&tcp(1, 2, ACK)));
    let wire = 14 + 80_000;
    let p = decode_frame(LinkType::Ethernet, &frame, wire).unwrap();
    assert_eq!((p.octets, p.key.dst_port), (80_000, 2));
    // IPv6 BIG TCP (payload length 0, as the kernel sends it without a jumbo option).
    let mut ip6 = ipv6(PROTO_TCP, &[tcp(1, 2, ACK), vec![0; 200]].concat());
    ip6[4..6].copy_from_slice(&[0, 0]);
    let frame = ether(0x86dd, &ip6);
    let p = decode_frame(LinkType::Ethernet, &frame[..128], 14 + 185_000).unwrap();
    assert_eq!((p.octets, p.key.src_port), (185_000, 1));
    // A VLAN tag is part of the link header, not of the packet.
    let mut tagged = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0, 0, 7];
    tagged.extend(be16(0x0800));
    tagged.extend(v4.build(&tcp(1, 2, ACK)));
    let p = decode_frame(LinkType::Ethernet, &tagged, 18 + 70_000).unwrap();
    assert_eq!((p.octets, p.key.vlan), (70_000, 7));
    // A wire length below what was captured (a bad record) counts what was captured.
    let p = decode_frame(LinkType::RawIpv4, &v4.build(&tcp(1, 2, ACK)), 10).unwrap();
    assert_eq!(p.octets, 40);
}

#[test]
fn eight_extension_headers_keep_the_ports() {
    let mut chain = tcp(443, 50000, SYN);
    let mut next = PROTO_TCP;
    for _ in 0..8 {
        chain = ext(next, 0, &chain);
        next = 60;
    }
    let p = ok(LinkType::RawIpv6, &ipv6(60, &chain));
    assert_eq!(
        (p.key.proto, p.key.src_port, p.key.dst_port, p.tcp_flags),
        (PROTO_TCP, 443, 50000, SYN)
    );
    // A ninth is past the walk: the protocol is known, its ports are not looked for.
    let p = ok(LinkType::RawIpv6, &ipv6(60, &ext(60, 0, &chain)));
    assert_eq!((p.key.proto, p.key.src_port), (PROTO_TCP, 0));
}
