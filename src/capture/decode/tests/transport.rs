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

/// A TCP header with sequence and acknowledgement numbers, a window and `options` bytes
/// of options, followed by `payload`.
fn tcp_segment(seq: u32, ack: u32, window: u16, options: usize, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(be16(40000));
    b.extend(be16(443));
    b.extend(seq.to_be_bytes());
    b.extend(ack.to_be_bytes());
    let words = ((20 + options) / 4) as u16;
    b.extend(be16(words << 12 | ACK));
    b.extend(be16(window));
    b.extend([0, 0, 0, 0]);
    b.resize(20 + options, 1);
    b.extend(payload);
    b
}

#[test]
fn tcp_sequence_window_and_payload_where_they_are() {
    let payload = b"\x16\x03\x01hello";
    for (link, frame, at) in [
        (
            LinkType::Ethernet,
            eth(
                0x0800,
                &ipv4(PROTO_TCP, &tcp_segment(7, 9, 512, 12, payload)),
            ),
            14 + 20 + 32,
        ),
        (
            LinkType::RawIpv6,
            ipv6(0, &ext(PROTO_TCP, 0, &tcp_segment(7, 9, 512, 12, payload))),
            40 + 8 + 32,
        ),
    ] {
        let p = ok(link, &frame);
        assert_eq!((p.tcp.seq, p.tcp.ack, p.tcp.window), (7, 9, 512));
        assert_eq!(usize::from(p.payload_at), at);
        assert_eq!(p.payload_len, payload.len() as u16);
        assert_eq!(p.payload(&frame), payload);
    }
}

#[test]
fn the_payload_is_what_the_ip_length_says_never_the_padding_and_never_past_the_capture() {
    // A 60-byte Ethernet frame: a bare ACK and 6 bytes of padding.
    let mut frame = eth(0x0800, &ipv4(PROTO_TCP, &tcp_segment(1, 2, 3, 0, &[])));
    frame.resize(60, 0);
    let p = ok(LinkType::Ethernet, &frame);
    assert_eq!((p.payload_len, p.payload_at), (0, 0));
    assert!(p.payload(&frame).is_empty());

    // Cut by the snap length: 1000 bytes on the wire, 10 of them captured.
    let whole = ipv4(PROTO_UDP, &ports(5353, 53, 992));
    let cut = &whole[..20 + 8 + 10];
    let p = decode_frame(LinkType::RawIpv4, cut, whole.len() as u32).unwrap();
    assert_eq!(p.payload_len, 992);
    assert_eq!(p.payload(cut).len(), 10);

    // A TCP data offset below five words is no header at all.
    let mut bad = tcp_segment(1, 2, 3, 0, b"data");
    bad[12] = 0x40;
    let p = ok(LinkType::RawIpv4, &ipv4(PROTO_TCP, &bad));
    assert_eq!((p.payload_len, p.payload_at), (0, 0));
}
