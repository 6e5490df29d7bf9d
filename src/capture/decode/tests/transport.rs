//! Transport headers: ICMP type and code, ports, a cut-off transport header, lengths
//! from the IP header.

use super::*;

#[test]
fn icmp_type_and_code() {
    let p = ok(LinkType::RawIpv4, &ipv4(PROTO_ICMP, &icmp(8, 0)));
    assert_eq!((p.key.src_port, p.key.dst_port), (0, 0x0800));
    let p = ok(LinkType::RawIpv4, &ipv4(PROTO_ICMP, &icmp(3, 13)));
    assert_eq!(p.key.dst_port, 3 * 256 + 13);
    assert!(p.key.is_icmp());

    let p = ok(LinkType::RawIpv6, &ipv6(PROTO_ICMPV6, &icmp(128, 0)));
    assert_eq!((p.key.src_port, p.key.dst_port), (0, 128 * 256));
    let p = ok(
        LinkType::RawIpv6,
        &ipv6(0, &ext(PROTO_ICMPV6, 0, &icmp(135, 0))),
    );
    assert_eq!((p.key.proto, p.key.dst_port), (PROTO_ICMPV6, 135 * 256));

    // Each ICMP belongs to its own IP version.
    let p = ok(LinkType::RawIpv6, &ipv6(PROTO_ICMP, &icmp(8, 0)));
    assert_eq!((p.key.proto, p.key.dst_port), (PROTO_ICMP, 0));
    let p = ok(LinkType::RawIpv4, &ipv4(PROTO_ICMPV6, &icmp(128, 0)));
    assert_eq!((p.key.proto, p.key.dst_port), (PROTO_ICMPV6, 0));
}

#[test]
fn port_protocols_and_others() {
    for proto in [PROTO_SCTP, PROTO_UDPLITE, PROTO_DCCP] {
        let p = ok(LinkType::RawIpv4, &ipv4(proto, &ports(36412, 38412, 20)));
        assert_eq!(
            (p.key.proto, p.key.src_port, p.key.dst_port),
            (proto, 36412, 38412)
        );
        assert_eq!(p.tcp_flags, 0);
    }
    let p = ok(LinkType::RawIpv6, &ipv6(PROTO_SCTP, &ports(9, 10, 20)));
    assert_eq!((p.key.src_port, p.key.dst_port), (9, 10));

    // GRE, ESP, OSPF: no ports.
    for proto in [47, 50, 89] {
        let p = ok(LinkType::RawIpv4, &ipv4(proto, &ports(1, 2, 20)));
        assert_eq!((p.key.proto, p.key.src_port, p.key.dst_port), (proto, 0, 0));
    }
}

#[test]
fn truncated_transport_is_metered() {
    let frame = eth(0x0800, &ipv4(PROTO_TCP, &tcp(1234, 80, SYN)));
    // Ports but no flags.
    let p = ok(LinkType::Ethernet, &frame[..14 + 20 + 8]);
    assert_eq!((p.key.src_port, p.key.dst_port, p.tcp_flags), (1234, 80, 0));
    assert_eq!(p.octets, 40);
    // Not even the ports.
    let p = ok(LinkType::Ethernet, &frame[..14 + 20 + 3]);
    assert_eq!(
        (p.key.proto, p.key.src_port, p.key.dst_port),
        (PROTO_TCP, 0, 0)
    );
    assert_eq!(p.octets, 40);

    let big = ipv4(PROTO_UDP, &ports(53, 5353, 1400));
    let p = ok(LinkType::RawIpv4, &big[..68]);
    assert_eq!((p.octets, p.key.src_port), (1428, 53));

    let big6 = ipv6(PROTO_UDP, &ports(53, 5353, 1400));
    let p = ok(LinkType::RawIpv6, &big6[..41]);
    assert_eq!((p.octets, p.key.src_port), (1448, 0));
}

#[test]
fn lengths_come_from_the_ip_header() {
    // Ethernet padding after a short packet is not counted, nor read as transport.
    let mut frame = eth(0x0800, &ipv4(PROTO_UDP, &ports(7, 8, 0)));
    frame.resize(60, 0xee);
    let p = ok(LinkType::Ethernet, &frame);
    assert_eq!((p.octets, p.key.dst_port), (28, 8));

    // A total length that stops inside the transport header hides the ports.
    let mut short = V4::new(PROTO_UDP);
    short.total_len = Some(22);
    let p = ok(LinkType::RawIpv4, &short.build(&ports(7, 8, 0)));
    assert_eq!((p.octets, p.key.src_port), (22, 0));

    // Total length 0 (segmentation offload) and IPv6 jumbograms: the captured length.
    let mut offload = V4::new(PROTO_TCP);
    offload.total_len = Some(0);
    let frame = offload.build(&tcp(1, 2, ACK));
    let p = ok(LinkType::RawIpv4, &frame);
    assert_eq!((p.octets, p.tcp_flags), (40, ACK));
    let mut jumbo = ipv6(PROTO_TCP, &tcp(1, 2, ACK));
    jumbo[4..6].copy_from_slice(&[0, 0]);
    let p = ok(LinkType::RawIpv6, &jumbo);
    assert_eq!((p.octets, p.key.dst_port), (60, 2));
}
